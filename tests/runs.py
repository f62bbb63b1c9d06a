"""Helpers for tests that run scripts for real and read what landed in MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tracelet_run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`tracelet run ARGS` in `cwd`, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "tracelet", "run", *args],
        cwd=cwd, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip


def python_run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in `cwd`."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env
    )


def store_env(folder: Path) -> dict[str, str]:
    """The environment with MLflow pointed at a SQLite store in `folder`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELET_")}
    return {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}


def only_run(uri: str, experiment: str):
    """The one run of `experiment` in the store at `uri`."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id])
    assert len(runs) == 1, f"{len(runs)} runs in {experiment!r}"
    return runs[0]


def metric_series(uri: str, run_id: str, name: str) -> list[tuple[int, float]]:
    """(step, value) of every point of a metric, in step order."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient(uri).get_metric_history(run_id, name)
    return sorted((m.step, m.value) for m in history)
