"""The PyTorch hooks with real torch: in-process over a real spool, and end to end in MLflow."""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from tests import runs  # noqa: E402
from tracelet.automagic import AutomagicConfig  # noqa: E402
from tracelet.runtime.capture import Capture  # noqa: E402
from tracelet.runtime.hooks import Hooks  # noqa: E402
from tracelet.runtime.hooks import torch as torch_hooks  # noqa: E402
from tracelet.runtime.spool import SpoolReader, SpoolWriter  # noqa: E402

ORIGINALS = {
    "backward": torch.Tensor.backward,
    "save": torch.save,
    "load": torch.load,
    "clip": torch.nn.utils.clip_grad_norm_,
    "module_init": nn.Module.__init__,
}


class Tracked:
    """Hooks installed over a real spool; what they wrote."""

    def __init__(self, root: Path, **config: Any) -> None:
        self.writer = SpoolWriter.create(root, experiment="test")
        self.capture = Capture(self.writer)
        settings = AutomagicConfig(frameworks=["pytorch"], **config)
        self.hooks = Hooks(self.capture, settings).install()

    def finish(self) -> None:
        self.hooks.finish()

    def events(self) -> list[dict[str, Any]]:
        return list(SpoolReader(self.writer.run_dir).events())

    def series(self, name: str) -> list[tuple[int, float]]:
        return [(e["s"], e["v"]) for e in self.events() if e["e"] == "metric" and e["k"] == name]

    def metric_names(self) -> set[str]:
        return {e["k"] for e in self.events() if e["e"] == "metric"}

    def params(self) -> dict[str, Any]:
        return {e["k"]: e["v"] for e in self.events() if e["e"] == "param"}

    def tags(self) -> dict[str, Any]:
        return {e["k"]: e["v"] for e in self.events() if e["e"] == "tag"}


@pytest.fixture
def tracked(tmp_path: Path) -> Iterator[Any]:
    made: list[Tracked] = []

    def make(**config: Any) -> Tracked:
        made.append(Tracked(tmp_path / str(len(made)), **config))
        return made[-1]

    yield make
    for run in made:
        run.finish()  # idempotent: uninstalls whatever a test left installed
    assert torch.Tensor.backward is ORIGINALS["backward"]
    assert torch.save is ORIGINALS["save"] and torch.load is ORIGINALS["load"]
    assert torch.nn.utils.clip_grad_norm_ is ORIGINALS["clip"]
    assert nn.Module.__init__ is ORIGINALS["module_init"]


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _data(n: int = 12) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(n, 4, generator=generator), torch.randint(0, 3, (n,), generator=generator)


# --- steps, losses, learning rates ------------------------------------------------------


def test_functional_loss_and_lr_at_every_step(tracked: Any) -> None:
    run = tracked()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    expected = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    assert run.hooks.context.step == 5
    assert run.series("train/loss") == []  # buffered: read every FLUSH_STEPS steps
    run.finish()
    assert run.series("train/loss") == list(enumerate(expected))
    assert run.series("train/lr") == [(s, 0.1) for s in range(5)]
    kinds = [e["e"] for e in run.events()]
    assert kinds.index("train") < kinds.index("metric")  # training started at the first step


def test_custom_module_loss_and_accumulation_give_the_mean(tracked: Any) -> None:
    class SmoothL1(nn.Module):
        def forward(self, out: Any, target: Any) -> Any:
            return F.smooth_l1_loss(out, target)

    run = tracked()
    model = _mlp()
    criterion = SmoothL1()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.randn(8, 4)
    target = torch.randn(8, 3)
    expected = []
    for _ in range(3):
        optimizer.zero_grad()
        values = []
        for half in (x[:4], x[4:]):  # two micro-batches, one source line: one series
            loss = criterion(model(half), target[: len(half)])
            loss.backward()
            values.append(loss.item())
        optimizer.step()
        expected.append(sum(values) / 2)
    run.finish()
    got = run.series("train/loss")
    assert [s for s, _ in got] == [0, 1, 2]
    assert [v for _, v in got] == pytest.approx(expected, rel=1e-6)
    assert run.metric_names() == {"train/loss", "train/lr"}


class Generator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4))

    def forward(self, z: Any) -> Any:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 6)
        self.head = nn.Linear(6, 1)

    def forward(self, x: Any) -> Any:
        return self.head(torch.relu(self.body(x)))


def test_gan_two_optimizers_two_series(tracked: Any) -> None:
    run = tracked()
    torch.manual_seed(0)
    gen, disc = Generator(), Discriminator()
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-4)
    real = torch.randn(16, 4)
    ones, zeros = torch.ones(16, 1), torch.zeros(16, 1)
    d_values, g_values = [], []
    for _ in range(4):
        fake = gen(torch.randn(16, 2))
        opt_d.zero_grad()
        d_loss = F.binary_cross_entropy_with_logits(
            disc(real), ones
        ) + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(disc(fake), ones)
        g_loss.backward()
        opt_g.step()
        d_values.append(d_loss.item())
        g_values.append(g_loss.item())
    assert run.hooks.context.step == 4  # the largest per-optimizer step count
    run.finish()
    assert run.series("train/d_loss") == list(enumerate(d_values))
    assert run.series("train/g_loss") == list(enumerate(g_values))
    assert run.series("train/lr") == [(s, 1e-4) for s in range(4)]  # the first to step
    assert run.series("train/lr_2") == [(s, 2e-4) for s in range(4)]
    assert run.params()["optimizer_2.class"] == "Adam"  # named as its LR series
    params = run.params()
    assert params["model.Discriminator.params_total"] == 4 * 6 + 6 + 6 + 1
    assert params["model.Generator.params_total"] == 2 * 8 + 8 + 8 * 4 + 4
    assert params["model.Discriminator.params.head"] == 7
    assert "model.params_total" not in params


def test_schedulers_give_params_and_the_lr_in_effect(tracked: Any) -> None:
    run = tracked()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.8)
    step_lr = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    second = torch.optim.SGD(nn.Linear(4, 1).parameters(), lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(second, factor=0.1, patience=0)
    x, y = _data()
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        step_lr.step()
        plateau.step(1.0)  # never improves after the first: the LR drops each time
    run.finish()
    assert run.series("train/lr") == [(0, 0.8), (1, 0.4), (2, 0.2)]
    params = run.params()
    assert params["scheduler.class"] == "StepLR"
    assert params["scheduler.step_size"] == 1 and params["scheduler.gamma"] == 0.5
    assert params["scheduler_2.class"] == "ReduceLROnPlateau"
    assert params["scheduler_2.factor"] == 0.1 and params["scheduler_2.patience"] == 0
    assert params["scheduler_2.mode"] == "min" and params["scheduler_2.min_lrs"] == [0]
    assert "scheduler_2.best" not in params  # state, not a setting
    assert (params["optimizer.class"], params["optimizer.lr"], params["optimizer.momentum"]) == (
        "SGD", 0.8, 0,
    )  # fmt: skip
    assert "optimizer_2.class" not in params  # `second` never steps: it trains nothing
    assert "optimizer.foreach" not in params  # an implementation choice, not a setting
    assert second.param_groups[0]["lr"] == pytest.approx(0.01)


# --- epochs and data --------------------------------------------------------------------


def test_epochs_from_the_loader_that_feeds_the_steps(tracked: Any) -> None:
    run = tracked(track_data_samples=True)
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train = DataLoader(TensorDataset(*_data(12)), batch_size=4)
    val = DataLoader(TensorDataset(*_data(6)), batch_size=3)
    per_epoch = []
    for _ in range(2):
        values = []
        for x, y in train:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            values.append(loss.item())
        per_epoch.append(sum(values) / len(values))
        with torch.no_grad():
            for x, _ in val:  # no optimizer step: not an epoch
                model(x)
    run.finish()
    assert run.series("epoch") == [(3, 1.0), (6, 2.0)]
    got = run.series("train/loss_epoch")
    assert [s for s, _ in got] == [3, 6]
    assert [v for _, v in got] == pytest.approx(per_epoch, rel=1e-6)
    params = run.params()
    assert params["dataloader.dataset"] == "TensorDataset"
    assert params["dataloader.dataset_size"] == 12
    assert params["dataloader.batch_size"] == 4
    assert params["dataloader.num_workers"] == 0
    assert "dataloader_2.batch_size" not in params
    tags = run.tags()
    assert tags["data/batch_0"] == "(float32[4, 4], int64[4])"
    assert set(tags) >= {"data/batch_1", "data/batch_2"} and "data/batch_3" not in tags


def test_a_loop_that_breaks_out_ends_its_epoch_at_the_next_iteration(tracked: Any) -> None:
    run = tracked()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(*_data(12)), batch_size=2)
    for _ in range(2):
        for i, (x, y) in enumerate(loader):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            if i == 1:
                break
    run.finish()
    assert run.series("epoch") == [(2, 1.0), (4, 2.0)]


# --- model, gradients, checkpoints ------------------------------------------------------


def test_model_counts_and_summary(tracked: Any) -> None:
    run = tracked()
    model = _mlp()
    model[0].weight.requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = _data()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    run.finish()
    params = run.params()
    assert params["model.class"] == "Sequential"
    assert params["model.params_total"] == 4 * 8 + 8 + 8 * 3 + 3
    assert params["model.params_trainable"] == 8 + 8 * 3 + 3
    assert params["model.params.0"] == 40 and params["model.params.2"] == 27
    assert "model.params.1" not in params  # ReLU: nothing to count
    artifacts = [e["k"] for e in run.events() if e["e"] == "artifact"]
    assert len(artifacts) == 1 and artifacts[0].endswith("model_summary.txt")
    text = Path(artifacts[0]).read_text()
    assert "trainable params: 35" in text and "(0): Linear(in_features=4" in text


def test_model_built_before_the_hooks_is_found(tracked: Any) -> None:
    model = _mlp()  # torch imported and the model built before the run starts
    run = tracked()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    run.finish()
    assert run.params()["model.params_total"] == 67


def test_clip_grad_norm_is_recorded_and_norms_sampled(tracked: Any) -> None:
    run = tracked(track_model_gradients=True)
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    clipped = []
    for step in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if step == 0:
            grads = [p.grad for p in model.parameters()]
            sampled = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
        else:  # both names of the function
            clip = (
                torch.nn.utils.clip_grad_norm_
                if step == 1
                else torch.nn.utils.clip_grad.clip_grad_norm_
            )
            clipped.append((step, clip(model.parameters(), 0.01).item()))
        optimizer.step()
    run.finish()
    got = run.series("train/grad_norm")
    assert got[0][0] == 0 and got[0][1] == pytest.approx(sampled, rel=1e-5)
    assert got[1:] == clipped


def test_checkpoints_give_events_and_upload_when_asked(
    tracked: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACELET_UPLOAD_CHECKPOINTS", "true")
    run = tracked()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    path = tmp_path / "ckpt.pt"
    torch.save(model.state_dict(), path)
    torch.serialization.load(str(path))
    torch.save(model.state_dict(), __import__("io").BytesIO())  # a file object: nothing
    run.finish()
    size = path.stat().st_size
    assert run.series("checkpoint/saved_bytes") == [(1, float(size))]
    assert run.series("checkpoint/loaded_bytes") == [(1, float(size))]
    assert run.tags()["checkpoint/last_saved"] == f"{path} ({size} bytes, step 1)"
    artifacts = [e["k"] for e in run.events() if e["e"] == "artifact"]
    assert str(path) in artifacts


def test_switches_turn_features_off(tracked: Any) -> None:
    run = tracked(
        monitor_loss_curves=False, monitor_learning_rate=False, track_model_architecture=False
    )
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    run.finish()
    assert run.metric_names() == set()
    assert not any(k.startswith("model.") for k in run.params())
    assert run.hooks.context.step == 1


# --- costs and failures -----------------------------------------------------------------


def test_values_are_read_once_per_flush(tracked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_hooks, "FLUSH_STEPS", 4)
    reads: list[int] = []
    real_read = torch_hooks.read
    monkeypatch.setattr(torch_hooks, "read", lambda ts: reads.append(len(ts)) or real_read(ts))
    run = tracked()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    for _ in range(10):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert reads == [4, 4]  # one host-device read per 4 steps, none per step
    assert [s for s, _ in run.series("train/loss")] == list(range(8))
    run.finish()
    assert reads == [4, 4, 2]


def test_a_failing_hook_turns_off_once_and_training_goes_on(
    tracked: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> list[str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(torch_hooks.TorchHooks, "_first_step", broken)
    x, y = _data()

    def train() -> Any:
        model = _mlp()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        return model[0].weight.detach().clone()

    untracked = train()
    run = tracked()
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        weights = train()
        run.finish()
    assert torch.equal(weights, untracked)  # the same training, to the bit
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "pytorch step" in warnings[0] and "boom" in warnings[0]
    assert run.hooks.context.step == 0  # the step hook is off after its first failure


# --- end to end -------------------------------------------------------------------------

SCRIPT = """
import json
import torch
import torch.nn.functional as F

lr = 0.05
epochs = 2
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
optimizer = torch.optim.SGD(model.parameters(), lr=lr)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randint(0, 3, (8,)))
loader = torch.utils.data.DataLoader(data, batch_size=4)
losses, lrs = [], []
for epoch in range(epochs):
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        losses.append(loss.item())
    scheduler.step()
print(json.dumps({"losses": losses, "lrs": lrs}))
"""


def _check_mlflow(uri: str, experiment: str, stdout: str) -> None:
    expected = json.loads(stdout.strip().splitlines()[-1])
    run = runs.only_run(uri, experiment)
    params = run.data.params
    assert params["lr"] == "0.05" and params["epochs"] == "2"
    assert params["scheduler.class"] == "StepLR" and params["scheduler.gamma"] == "0.5"
    assert params["model.params_total"] == "67" and params["dataloader.batch_size"] == "4"
    run_id = run.info.run_id
    loss = runs.metric_series(uri, run_id, "train/loss")
    assert [s for s, _ in loss] == list(range(4))
    assert [v for _, v in loss] == pytest.approx(expected["losses"], rel=1e-6)
    assert runs.metric_series(uri, run_id, "train/lr") == list(enumerate(expected["lrs"]))
    assert runs.metric_series(uri, run_id, "epoch") == [(2, 1.0), (4, 2.0)]


def test_under_tracelet_run(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    env = runs.store_env(tmp_path)
    result = runs.tracelet_run(tmp_path, "train.py", env=env)
    assert result.returncode == 0, result.stderr
    _check_mlflow(env["MLFLOW_TRACKING_URI"], "train", result.stdout)


@pytest.mark.parametrize("torch_first", [True, False], ids=["torch-first", "experiment-first"])
def test_under_experiment_automagic(tmp_path: Path, torch_first: bool) -> None:
    start = 'from tracelet import Experiment\nexp = Experiment("exp", automagic=True).start()\n'
    body = SCRIPT.replace("import torch\n", "import torch\n" + start if torch_first else "")
    script = ("" if torch_first else start + "import torch\n") + body + "exp.end()\n"
    (tmp_path / "exp.py").write_text(textwrap.dedent(script))
    env = runs.store_env(tmp_path)
    result = runs.python_run(tmp_path, "exp.py", env=env)
    assert result.returncode == 0, result.stderr
    _check_mlflow(env["MLFLOW_TRACKING_URI"], "exp", result.stdout)
