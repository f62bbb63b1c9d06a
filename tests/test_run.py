"""`tracelet run` end to end: the script runs as under python, the run lands in real MLflow."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from tests import runs  # noqa: E402
from tests.runs import tracelet_run  # noqa: E402
from tracelet.runtime.sidecar import DeliveryState  # noqa: E402

TRAIN = """
import argparse, sys
learning_rate = 3e-4
batch_size = 64

def train(epochs=3, momentum=0.9):
    return epochs

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--fail", default="")
parser.add_argument("--api-key", default="hunter2")
args = parser.parse_args()
train()
if args.fail == "exception":
    raise ValueError("boom")
if args.fail == "exit":
    sys.exit(3)
if args.fail == "hang":
    import time
    print("ready", flush=True)
    time.sleep(60)
print("done")
"""


def only_run(uri: str):
    return runs.only_run(uri, "train")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return tmp_path, env


def test_a_run_lands_in_mlflow_with_its_params_and_status(project) -> None:
    cwd, env = project
    result = tracelet_run(cwd, "train.py", "--seed", "7", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    run = only_run(env["MLFLOW_TRACKING_URI"])
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["learning_rate"] == "0.0003"
    assert params["batch_size"] == "64"
    assert params["seed"] == "7"
    assert params["epochs"] == "3" and params["momentum"] == "0.9"
    assert params["api_key"] == "***"  # secrets are redacted
    assert run.data.tags["tracelet.command"] == "train.py --seed 7"
    assert "mlflow ui --backend-store-uri" in result.stderr


@pytest.mark.parametrize(("fail", "code"), [("exception", 1), ("exit", 3)])
def test_failures_keep_the_exit_code_and_end_the_run_failed(project, fail: str, code: int) -> None:
    cwd, env = project
    result = tracelet_run(cwd, "train.py", "--fail", fail, env=env)
    assert result.returncode == code
    run = only_run(env["MLFLOW_TRACKING_URI"])
    assert run.info.status == "FAILED"
    if fail == "exception":
        assert "ValueError: boom" in run.data.tags["tracelet.traceback"]
        assert "ValueError: boom" in result.stderr


def test_offline_then_sync_delivers_once(project) -> None:
    cwd, env = project
    result = tracelet_run(cwd, "--offline", "train.py", env=env)
    assert result.returncode == 0
    assert "tracelet sync" in result.stderr
    assert not (cwd / "mlflow.db").exists()
    for _ in range(2):
        synced = subprocess.run(
            [sys.executable, "-m", "tracelet", "sync"], cwd=cwd, env=env,
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert synced.returncode == 0, synced.stderr
    assert only_run(env["MLFLOW_TRACKING_URI"]).data.params["seed"] == "1"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_killed_training_process_ends_the_run_killed(project, sig: signal.Signals) -> None:
    cwd, env = project
    process = subprocess.Popen(
        [sys.executable, "-m", "tracelet", "run", "train.py", "--fail", "hang"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline() == "ready\n"
    process.send_signal(sig)
    assert process.wait(timeout=30) == -sig  # as python's own exit
    (run_dir,) = (cwd / ".tracelet" / "runs").iterdir()
    deadline = time.monotonic() + 90  # the sidecar notices the process is gone
    while not DeliveryState.load(run_dir).ended and time.monotonic() < deadline:
        time.sleep(0.5)
    run = only_run(env["MLFLOW_TRACKING_URI"])
    assert run.info.status == "KILLED"
    assert run.data.params["learning_rate"] == "0.0003"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A real `mlflow server` on 127.0.0.1 over a SQLite store; it can be stopped and
    started again on the same port and store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
             f"sqlite:///{self.folder / 'server.db'}", "--artifacts-destination",
             str(self.folder / "artifacts"), "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        pytest.fail("mlflow server did not start")

    def stop(self) -> None:
        """Stop the whole process group (the server runs its workers as children)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def tracking_server(tmp_path: Path):
    server = Server(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(tracking_server: Server) -> str:
    return tracking_server.uri


def test_a_run_reaches_a_real_tracking_server(project, server: str) -> None:
    cwd, env = project
    result = tracelet_run(cwd, "--tracking-uri", server, "train.py", env=env)
    assert result.returncode == 0, result.stderr
    run = only_run(server)
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == "1"


CONFIGURATOR = """
learning_rate = 0.1
batch_size = 32
exec("learning_rate = 0.5")  # a configurator rewriting globals, invisible to the static pass
globals().update(batch_size=64)
print("trained")
"""


def test_values_rewritten_after_their_assignment_are_recorded_at_the_end(project) -> None:
    cwd, env = project
    (cwd / "train.py").write_text(textwrap.dedent(CONFIGURATOR))
    result = tracelet_run(cwd, "train.py", env=env)
    assert result.returncode == 0, result.stderr
    params = only_run(env["MLFLOW_TRACKING_URI"]).data.params
    # no training hook fired: the end of the run is when the values in effect are read
    assert (params["learning_rate"], params["batch_size"]) == ("0.5", "64")


IN_EFFECT = """
import argparse, dataclasses, sys
from tracelet import Experiment

learning_rate = 0.1
batch_size = 32

class Config:
    dropout = 0.1
    num_layers = 2

@dataclasses.dataclass
class TrainingArguments:
    warmup_steps: int = 100
    weight_decay: float = 0.0

exec("learning_rate = 0.5")  # a configurator rewriting globals
globals().update(batch_size=64)
for key, value in {"dropout": 0.3}.items():  # a setattr loop over a config class
    setattr(Config, key, value)
parser = argparse.ArgumentParser()
parser.add_argument("--momentum", type=float, default=0.9)
args, rest = parser.parse_known_args()
vars(args).update({"momentum": 0.5})  # overrides merged into the namespace

def parse_cli(argv):  # a CLI parser building the dataclass with overrides
    return TrainingArguments(warmup_steps=int(argv[0]))

def train(training_args):
    experiment = Experiment("train").start()  # attaches to the run of `tracelet run`
    experiment.log_metric("loss", 1.0)  # training starts: the values in effect are read
    globals()["learning_rate"] = 0.05  # a change after training started is a change

def main():
    training_args = parse_cli(rest)
    train(training_args)

main()
"""


def test_the_params_hold_the_values_in_effect_when_training_starts(project) -> None:
    cwd, env = project
    (cwd / "train.py").write_text(textwrap.dedent(IN_EFFECT))
    result = tracelet_run(cwd, "train.py", "7", env=env)
    assert result.returncode == 0, result.stderr
    run = only_run(env["MLFLOW_TRACKING_URI"])
    params = run.data.params
    assert {k: params.get(k) for k in (
        "learning_rate", "batch_size", "dropout", "num_layers", "momentum", "warmup_steps",
        "weight_decay",
    )} == {
        "learning_rate": "0.5", "batch_size": "64", "dropout": "0.3", "num_layers": "2",
        "momentum": "0.5", "warmup_steps": "7", "weight_decay": "0.0",
    }  # fmt: skip
    history = runs.metric_series(env["MLFLOW_TRACKING_URI"], run.info.run_id, "param/learning_rate")
    assert history == [(0, 0.5), (1, 0.05)]


TWO_HALVES = """
import os, time
from tracelet import Experiment

learning_rate = 3e-4
experiment = Experiment("train").start()  # attaches to the run of `tracelet run`
for step in range(5):
    experiment.log_metric("loss", 1.0 / (step + 1), step)
print("half", flush=True)
while not os.path.exists("go"):
    time.sleep(0.05)
for step in range(5, 10):
    experiment.log_metric("loss", 1.0 / (step + 1), step)
print("done", flush=True)
"""


def test_a_server_killed_mid_run_and_restarted_loses_nothing(
    project, tracking_server: Server
) -> None:
    cwd, env = project
    (cwd / "train.py").write_text(textwrap.dedent(TWO_HALVES))
    env = {**env, "TRACELET_DELIVERY_TIMEOUT": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tracelet", "run", "--quiet", "--tracking-uri",
         tracking_server.uri, "train.py"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline() == "half\n"
    (run_dir,) = (cwd / ".tracelet" / "runs").iterdir()
    deadline = time.monotonic() + 60
    while DeliveryState.load(run_dir).offset == 0 and time.monotonic() < deadline:
        time.sleep(0.2)  # the first half reaches the server
    tracking_server.stop()
    (cwd / "go").touch()  # the second half is spooled while the server is down
    time.sleep(1.0)
    tracking_server.start()
    out, err = process.communicate(timeout=150)
    assert (process.returncode, out) == (0, "done\n"), err
    run = runs.only_run(tracking_server.uri, "train")
    assert run.info.status == "FINISHED"
    assert run.data.params["learning_rate"] == "0.0003"
    series = runs.metric_series(tracking_server.uri, run.info.run_id, "loss")
    assert series == [(step, 1.0 / (step + 1)) for step in range(10)]


def test_the_summary_shows_the_training_metrics_before_system_load(project) -> None:
    cwd, env = project
    (cwd / "train.py").write_text(
        "import time\n"
        "from tracelet import Experiment\n"
        "time.sleep(1.0)  # the monitor's first sample is spooled before any loss\n"
        "experiment = Experiment('train').start()\n"
        "for step in range(3):\n"
        "    experiment.log_metric('loss', 1.0 / (step + 1), step)\n"
    )
    result = tracelet_run(cwd, "train.py", env=env)
    assert result.returncode == 0, result.stderr
    rows = [line.split()[0] for line in result.stderr.splitlines()[2:] if line.strip()]
    assert rows[0] == "loss" and any(row.startswith("system/") for row in rows[1:])
