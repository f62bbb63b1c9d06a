"""`tracelet lint`: rule examples, what counts as tracked, suppressions, the cache, the command."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracelet.lint.check as check
from tracelet.lint.check import LintSettings, lint_file
from tracelet.lint.rules import RULES, Finding
from tracelet.transforms import cache

ROOT = Path(__file__).resolve().parent.parent


def lint(tmp_path: Path, code: str, settings: LintSettings | None = None) -> list[Finding]:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(code))
    return lint_file(path, "train.py", settings or LintSettings(), use_cache=False)


def codes(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.name) for f in findings]


EXAMPLES = [(r.code, snippet, True) for r in RULES for snippet in r.invalid] + [
    (r.code, snippet, False) for r in RULES for snippet in r.valid
]


@pytest.mark.parametrize(("code", "snippet", "fires"), EXAMPLES)
def test_rule_examples(tmp_path: Path, code: str, snippet: str, fires: bool) -> None:
    found = [f for f in lint(tmp_path, snippet) if f.code == code]
    assert len(found) == (1 if fires else 0)


SINKS = {
    "mlflow_params": "import mlflow\nmlflow.log_params({'lr': lr})",
    "mlflow_param": "import mlflow\nmlflow.log_param('lr', lr)",
    "wandb_init": "import wandb\nwandb.init(project='p', config={'lr': lr})",
    "wandb_update": "import wandb\nwandb.config.update({'lr': lr})",
    "wandb_item": "import wandb\nwandb.config['lr'] = lr",
    "tracelet": "from tracelet import Experiment\nexp = Experiment('x')\nexp.log_param('lr', lr)",
    "clearml": "from clearml import Task\ntask = Task.init()\ntask.connect({'lr': lr})",
    "comet": "exp = comet_ml.Experiment()\nexp.log_parameters({'lr': lr})",
    "tensorboard": "writer = SummaryWriter()\nwriter.add_hparams({'lr': lr}, {})",
    "lightning_logger": "logger.log_hyperparams({'lr': lr})",
    "neptune": "import neptune\nrun = neptune.init_run()\nrun['params'] = {'lr': lr}",
    "through_dict_call": "import mlflow\nparams = dict(lr=lr)\nmlflow.log_params(params)",
    "through_names": "import mlflow\na = lr\nb = {'x': a}\nmlflow.log_params(b)",
    "locals": "import mlflow\nmlflow.log_params(locals())",
}


@pytest.mark.parametrize("name", sorted(SINKS))
def test_a_value_reaching_a_sink_is_tracked(tmp_path: Path, name: str) -> None:
    untracked = lint(tmp_path, "lr = 0.1\nepochs = 3\n")
    assert codes(untracked) == [("TL001", "lr"), ("TL001", "epochs")]
    tracked = lint(tmp_path, "lr = 0.1\nepochs = 3\n" + SINKS[name] + "\n")
    assert codes(tracked) == [("TL001", "epochs")] or (name == "locals" and tracked == [])


ARGPARSE = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
"""


@pytest.mark.parametrize(
    ("logging", "untracked"),
    [
        ("", ["lr", "epochs"]),
        ("import mlflow\nmlflow.log_params(vars(args))", []),
        ("import mlflow\nmlflow.log_params(args.__dict__)", []),
        ("import wandb\nwandb.config.update(args)", []),
        ("import mlflow\nmlflow.log_param('lr', args.lr)", ["epochs"]),
    ],
)
def test_argparse_options_are_tracked_whole_or_one_by_one(
    tmp_path: Path, logging: str, untracked: list[str]
) -> None:
    found = lint(tmp_path, ARGPARSE + logging)
    assert [f.name for f in found if f.code == "TL002"] == untracked


def test_dataclass_fields_tracked_through_asdict(tmp_path: Path) -> None:
    code = """
    import dataclasses, mlflow
    @dataclasses.dataclass
    class TrainConfig:
        lr: float = 0.1
        epochs: int = 3
    cfg = TrainConfig()
    """
    assert codes(lint(tmp_path, code)) == [("TL001", "lr"), ("TL001", "epochs")]
    assert lint(tmp_path, code + "mlflow.log_params(dataclasses.asdict(cfg))\n") == []


def test_omegaconf_config_tracked_through_to_container(tmp_path: Path) -> None:
    code = "from omegaconf import OmegaConf\ncfg = OmegaConf.load('c.yaml')\n"
    assert codes(lint(tmp_path, code)) == [("TL003", "cfg")]
    logged = code + "import wandb\nwandb.init(config=OmegaConf.to_container(cfg))\n"
    assert lint(tmp_path, logged) == []


@pytest.mark.parametrize(
    "automagic",
    [
        "from tracelet import Experiment\nExperiment('x', automagic=True).start()\n",
        "# tracelet: automagic\n",
    ],
)
def test_files_under_automagic_are_tracked(tmp_path: Path, automagic: str) -> None:
    assert (
        lint(tmp_path, automagic + "lr = 0.1\nimport torch\nopt = torch.optim.SGD([], lr=0.1)")
        == []
    )


def test_entrypoints_are_tracked(tmp_path: Path) -> None:
    settings = LintSettings(entrypoints=("train.py",))
    assert lint(tmp_path, "lr = 0.1\n", settings) == []
    assert codes(lint(tmp_path, "lr = 0.1\n")) == [("TL001", "lr")]


def test_suppressions(tmp_path: Path) -> None:
    code = """
    lr = 0.1  # noqa: TL001
    momentum = 0.9  # noqa
    epochs = 3  # noqa: TL002
    dropout = 0.5  # tracelet: ignore
    batch_size = 32
    """
    assert [f.name for f in lint(tmp_path, code)] == ["epochs", "batch_size"]


def test_select_ignore_and_per_file_ignores(tmp_path: Path) -> None:
    code = "lr = 0.1\nimport torch\nopt = torch.optim.SGD([], momentum=0.9)\n"
    assert [f.code for f in lint(tmp_path, code)] == ["TL001", "TL004"]
    assert [f.code for f in lint(tmp_path, code, LintSettings(ignore=frozenset({"TL004"})))] == [
        "TL001"
    ]
    selected = LintSettings(select=frozenset({"TL004"}))
    assert [f.code for f in lint(tmp_path, code, selected)] == ["TL004"]
    per_file = LintSettings(per_file_ignores=(("train.py", frozenset({"TL001", "TL004"})),))
    assert lint(tmp_path, code, per_file) == []


def test_settings_from_pyproject_table_and_errors() -> None:
    table = {
        "entrypoints": ["scripts/*.py"],
        "lint": {"ignore": ["tl004"], "per-file-ignores": {"tests/*": ["TL001"]}},
    }
    settings = LintSettings.from_table(table, LintSettings().detect)
    assert settings.enabled("tests/test_x.py") == {"TL002", "TL003", "TL005", "TL999"}
    assert settings.is_entrypoint("scripts/train.py")
    with pytest.raises(check.LintConfigError, match="unknown rule TL123"):
        LintSettings.from_table({"lint": {"select": ["TL123"]}}, settings.detect)
    with pytest.raises(check.LintConfigError, match="unknown key 'colour'"):
        LintSettings.from_table({"lint": {"colour": True}}, settings.detect)


def test_cache_hits_and_is_invalidated_by_config_and_version(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "train.py"
    path.write_text("lr = 0.1\n")
    calls: list[str] = []
    real = check._lint

    def counting(*args):
        calls.append(args[1])
        return real(*args)

    monkeypatch.setattr(check, "_lint", counting)
    first = lint_file(path, "train.py", LintSettings())
    assert lint_file(path, "train.py", LintSettings()) == first
    assert len(calls) == 1  # the second run was a cache hit
    lint_file(path, "train.py", LintSettings(ignore=frozenset({"TL004"})))
    assert len(calls) == 2  # another configuration misses
    monkeypatch.setattr(cache, "__version__", "999.0")
    lint_file(path, "train.py", LintSettings())
    assert len(calls) == 3  # a tracelet upgrade misses
    path.write_text("lr = 0.2\n")
    assert lint_file(path, "train.py", LintSettings())[0].message.endswith("0.2")


def test_fixtures_with_manual_logging(tmp_path: Path) -> None:
    fixture = ROOT / "fixtures" / "mixed_manual_logging.py"
    found = lint_file(fixture, "mixed.py", LintSettings(), use_cache=False)
    names = {f.name for f in found if f.code == "TL001"}
    assert {"weight_decay", "lr_patience", "activation"} <= names
    assert not {"lr", "batch_size", "epochs"} & names
    wandb = lint_file(ROOT / "fixtures" / "wandb_style.py", "w.py", LintSettings(), use_cache=False)
    assert "config" not in {f.name for f in wandb}


def run_lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracelet", "lint", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_command_exit_codes_and_syntax_errors(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("import mlflow\nlr = 0.1\nmlflow.log_param('lr', lr)\n")
    clean = run_lint(tmp_path, "clean.py")
    assert clean.returncode == 0, clean.stderr
    (tmp_path / "broken.py").write_text("lr = (\n")
    (tmp_path / "dirty.py").write_text("epochs = 10\n")
    dirty = run_lint(tmp_path, ".", "--format", "json")
    assert dirty.returncode == 1
    records = json.loads(dirty.stdout)
    assert {(r["file"], r["code"]) for r in records} == {
        ("./broken.py", "TL999"),
        ("./dirty.py", "TL001"),
    }
    assert set(records[0]) == {"file", "line", "col", "code", "name", "message"}
    text = run_lint(tmp_path, "dirty.py")
    assert "dirty.py:1:1: TL001 untracked hyperparameter 'epochs' = 10" in text.stdout
    missing = run_lint(tmp_path, "nope.py")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert run_lint(tmp_path, "--format", "xml").returncode == 2


def test_changed_lints_only_what_git_sees_as_changed(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "old.py").write_text("epochs = 10\n")
    git("add", "old.py")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "old")
    (tmp_path / "new.py").write_text("lr = 0.1\n")
    changed = run_lint(tmp_path, "--changed", "--format", "json")
    assert [r["file"] for r in json.loads(changed.stdout)] == ["new.py"]
    assert changed.returncode == 1
    (tmp_path / "new.py").unlink()
    assert run_lint(tmp_path, "--changed").returncode == 0
