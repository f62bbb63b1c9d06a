"""The library door: `Experiment` in plain python, and attached to a `tracelet run`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

SPEC_BASIC = """
from tracelet import Experiment

experiment = Experiment(name="automagic_experiment", backend=["mlflow"], automagic=True)
experiment.start()

learning_rate = 3e-4
batch_size = 128
epochs = 50
dropout_rate = 0.1
num_layers = 6

experiment.log_params({"model_name": "custom_transformer", "dataset_version": "v2.1"})
for step, loss in enumerate([0.9, 0.5, 0.25]):
    experiment.log_metric("loss", loss, step=step)
with open("notes.txt", "w") as handle:
    handle.write("hello")
experiment.log_artifact("notes.txt")
experiment.log_metrics({"accuracy": 0.75, "f1": 0.5}, step=3)
experiment.end()
"""

SPEC_TORCH = """
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset
from tracelet import Experiment

experiment = Experiment("pytorch_training", automagic=True)
experiment.start()

learning_rate = 0.001
weight_decay = 1e-4
momentum = 0.9
batch_size = 32
epochs = 10
input_size = 784
hidden_size = 128
num_classes = 10

model = nn.Sequential(
    nn.Linear(input_size, hidden_size),
    nn.ReLU(),
    nn.Dropout(0.2),
    nn.Linear(hidden_size, num_classes)
)

optimizer = optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
criterion = nn.CrossEntropyLoss()

train_data = torch.randn(1000, input_size)
train_targets = torch.randint(0, num_classes, (1000,))
train_dataset = TensorDataset(train_data, train_targets)
dataloader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True)

for epoch in range(epochs):
    for batch_idx, (inputs, targets) in enumerate(dataloader):
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if batch_idx >= 2:
            break

experiment.end()
"""

UNDER_RUN = """
from tracelet import Experiment
learning_rate = 0.01
with Experiment("attached") as experiment:
    experiment.log_param("extra", 1)
"""


def run(cwd: Path, *command: str, env: dict[str, str] | None = None):
    environment = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    result = subprocess.run(
        [sys.executable, *command], cwd=cwd, capture_output=True, text=True, timeout=180,
        env={**environment, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return MlflowClient(environment["MLFLOW_TRACKING_URI"])


def runs_of(client: MlflowClient, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def test_spec_basic_example_captures_names_assigned_after_start(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent(SPEC_BASIC))
    client = run(tmp_path, "train.py")
    (only,) = runs_of(client, "automagic_experiment")
    assert only.info.status == "FINISHED"
    assert only.data.params == {
        "learning_rate": "0.0003",
        "batch_size": "128",
        "epochs": "50",
        "dropout_rate": "0.1",
        "num_layers": "6",
        "model_name": "custom_transformer",
        "dataset_version": "v2.1",
    }
    history = client.get_metric_history(only.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    assert [(m.step, m.value) for m in client.get_metric_history(only.info.run_id, "f1")] == [
        (3, 0.5)
    ]
    assert [a.path for a in client.list_artifacts(only.info.run_id)] == ["notes.txt"]


def test_spec_torch_example_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "train.py").write_text(textwrap.dedent(SPEC_TORCH))
    (only,) = runs_of(run(tmp_path, "train.py"), "pytorch_training")
    assert only.info.status == "FINISHED"
    assert only.data.params["learning_rate"] == "0.001"
    assert only.data.params["hidden_size"] == "128"
    assert "model" not in only.data.params and "optimizer" not in only.data.params


def test_under_tracelet_run_an_experiment_attaches_to_the_active_run(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent(UNDER_RUN))
    client = run(tmp_path, "-m", "tracelet", "run", "--quiet", "train.py")
    assert runs_of(client, "attached") == []  # no second run
    (only,) = runs_of(client, "train")
    assert only.data.params == {"learning_rate": "0.01", "extra": "1"}


def test_environment_turns_automagic_on(tmp_path: Path) -> None:
    code = "from tracelet import Experiment\nexp = Experiment('env').start()\n"
    code += "batch_size = 8\nexp.end()\n"
    (tmp_path / "train.py").write_text(code)
    client = run(tmp_path, "train.py", env={"TRACELET_ENABLE_AUTOMAGIC": "true"})
    (only,) = runs_of(client, "env")
    assert only.data.params == {"batch_size": "8"}


def test_logging_before_start_is_an_error() -> None:
    from tracelet import Experiment

    with pytest.raises(RuntimeError, match="not started"):
        Experiment("x").log_param("lr", 0.1)
    with pytest.raises(ValueError, match="unknown backend"):
        Experiment("x", backend=["wandb"])
