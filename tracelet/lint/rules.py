"""The lint rules: codes, what they find, and small examples the tests run (as Fixit's do).

A rule's `invalid` examples each produce exactly one finding of that rule; its
`valid` examples produce none of that rule. docs/rules.md explains each rule for users.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracelet.transforms import classify as C


@dataclass(frozen=True, slots=True)
class LintRule:
    code: str
    name: str  # a short slug, as SARIF and --statistics show it
    summary: str  # one line: what it finds
    kinds: frozenset[str]  # the site kinds it reports
    valid: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    code: str
    name: str  # the hyperparameter ("" for TL999)
    message: str

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "name": self.name,
            "message": self.message,
        }


SYNTAX_ERROR = "TL999"

RULES: tuple[LintRule, ...] = (
    LintRule(
        "TL001",
        "untracked-hyperparameter",
        "a hyperparameter assignment or config-class field whose value reaches no tracker",
        frozenset({C.ASSIGN, C.CLASS_ATTR}),
        valid=(
            "import mlflow\nlearning_rate = 3e-4\nmlflow.log_param('lr', learning_rate)",
            "import wandb\nbatch_size = 64\nconfig = dict(batch_size=batch_size)\n"
            "wandb.init(config=config)",
            "learning_rate = 3e-4  # noqa: TL001",
        ),
        invalid=(
            "learning_rate = 3e-4",
            "import mlflow\nlearning_rate = 3e-4\nepochs = 10\nmlflow.log_param('epochs', epochs)",
        ),
    ),
    LintRule(
        "TL002",
        "unlogged-cli-option",
        "a command-line option (argparse, click, typer, absl) whose value reaches no tracker",
        frozenset({C.ARGPARSE}),
        valid=(
            "import argparse, mlflow\np = argparse.ArgumentParser()\n"
            "p.add_argument('--lr', default=0.1)\nargs = p.parse_args()\n"
            "mlflow.log_params(vars(args))",
            "import argparse, wandb\np = argparse.ArgumentParser()\n"
            "p.add_argument('--lr', default=0.1)\nargs = p.parse_args()\nwandb.config.update(args)",
        ),
        invalid=(
            "import argparse\np = argparse.ArgumentParser()\np.add_argument('--lr', default=0.1)\n"
            "args = p.parse_args()",
        ),
    ),
    LintRule(
        "TL003",
        "unlogged-config",
        "a configuration loaded from a file and never logged",
        frozenset({C.CONFIG_LOAD}),
        valid=(
            "import yaml, mlflow\nwith open('c.yaml') as f:\n    cfg = yaml.safe_load(f)\n"
            "mlflow.log_params(cfg)",
        ),
        invalid=("import yaml\nwith open('c.yaml') as f:\n    cfg = yaml.safe_load(f)",),
    ),
    LintRule(
        "TL004",
        "inline-hyperparameter",
        "a literal hyperparameter written inline in a call, where no tracker can see it",
        frozenset({C.CALL_KWARG}),
        valid=(
            "import mlflow, torch\nlr = 0.1\nmlflow.log_param('lr', lr)\n"
            "opt = torch.optim.SGD([], lr=lr)",
        ),
        invalid=("import torch\nopt = torch.optim.SGD([], lr=0.1)",),
    ),
    LintRule(
        "TL005",
        "unlogged-function-argument",
        "a hyperparameter-like function default whose value reaches no tracker",
        frozenset({C.FUNC_ARG}),
        valid=(
            "import mlflow\ndef train(lr=0.1):\n    mlflow.log_param('lr', lr)",
            "import pytorch_lightning as pl\nclass M(pl.LightningModule):\n"
            "    def __init__(self, lr=0.1):\n        super().__init__()\n"
            "        self.save_hyperparameters()",
        ),
        invalid=("def train(lr=0.1):\n    return lr",),
    ),
    LintRule(
        SYNTAX_ERROR,
        "syntax-error",
        "a file tracelet cannot read or parse: its hyperparameters cannot be checked",
        frozenset(),
        invalid=("learning_rate = (",),
    ),
)

RULES_BY_CODE = {rule.code: rule for rule in RULES}
RULE_FOR_KIND = {kind: rule for rule in RULES for kind in rule.kinds}
