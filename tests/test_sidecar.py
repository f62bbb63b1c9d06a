"""Delivery from the spool to a real MLflow store: params, metrics with steps, tags, statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracelet.runtime.sidecar import DeliveryState, _status_written, deliver
from tracelet.runtime.spool import (
    SpoolWriter,
    metric_event,
    param_event,
    status_event,
    tag_event,
    train_event,
)

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from tracelet.runtime.backends.mlflow import MlflowBackend  # noqa: E402


def spool(tmp_path: Path, *events: dict, status: str | None = "FINISHED") -> Path:
    writer = SpoolWriter.create(
        tmp_path / ".tracelet", experiment="exp", argv=["train.py", "--lr", "0.1"],
        cwd=str(tmp_path),
    )  # fmt: skip
    for event in events:
        writer.append(event)
    if status:
        writer.append(status_event(status, "Traceback: boom" if status == "FAILED" else None))
    writer.close()
    return writer.run_dir


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_a_finished_run_is_delivered_exactly_once(tmp_path: Path, store: str) -> None:
    run_dir = spool(
        tmp_path,
        param_event("lr", 0.1),
        param_event("hidden", [64, 32]),
        param_event("lr", 0.2),  # before training: the value in effect replaces the literal
        train_event(),  # the held params go out
        param_event("lr", 0.3),  # a changed value: MLflow keeps the param, a tag the news
        *(metric_event("train/loss", 1.0 / (step + 1), step) for step in range(3)),
        tag_event("framework", "torch"),
    )
    backend = MlflowBackend(store)
    state = deliver(run_dir, backend, final=False)
    assert state.ended and state.status == "FINISHED"
    assert (
        deliver(run_dir, backend, final=True).offset == state.offset
    )  # a second pass adds nothing
    run = MlflowClient(store).get_run(state.run_id)
    assert run.data.params == {"lr": "0.2", "hidden": "[64, 32]"}
    assert run.data.tags["param/lr"] == "0.3"
    assert run.data.tags["framework"] == "torch"
    assert run.data.tags["tracelet.command"] == "train.py --lr 0.1"
    assert run.info.status == "FINISHED"
    history = MlflowClient(store).get_metric_history(state.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert MlflowClient(store).get_experiment(run.info.experiment_id).name == "exp"


def test_statuses(tmp_path: Path, store: str) -> None:
    failed = deliver(spool(tmp_path / "a", status="FAILED"), MlflowBackend(store), final=False)
    run = MlflowClient(store).get_run(failed.run_id)
    assert run.info.status == "FAILED" and run.data.tags["tracelet.traceback"] == "Traceback: boom"
    vanished = spool(tmp_path / "b", param_event("lr", 0.1), status=None)
    backend = MlflowBackend(store)
    alive = deliver(vanished, backend, final=False)  # the process still runs: not ended
    assert not alive.ended and MlflowClient(store).get_run(alive.run_id).info.status == "RUNNING"
    killed = deliver(vanished, backend, final=True)  # it is gone without a status: KILLED
    assert MlflowClient(store).get_run(killed.run_id).info.status == "KILLED"


def test_a_dead_server_fails_fast_and_keeps_the_spool(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_dir = spool(tmp_path, param_event("lr", 0.1))
    with pytest.raises(Exception):  # noqa: B017 - whatever MLflow raises, it raises fast
        deliver(run_dir, MlflowBackend(f"http://127.0.0.1:{port}"), final=True)
    assert DeliveryState.load(run_dir).offset == 0
    store = f"sqlite:///{tmp_path / 'later.db'}"
    assert deliver(run_dir, MlflowBackend(store), final=True).ended  # delivered later


def test_sync_command_is_idempotent(tmp_path: Path) -> None:
    run_dir = spool(tmp_path, param_event("lr", 0.1))
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "tracelet", "sync", str(run_dir)]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "ended FINISHED" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert "already delivered" in second.stdout
    runs = MlflowClient(env["MLFLOW_TRACKING_URI"]).search_runs(
        [MlflowClient(env["MLFLOW_TRACKING_URI"]).get_experiment_by_name("exp").experiment_id]
    )
    assert len(runs) == 1


def test_the_end_of_a_run_is_seen_in_the_spool_tail(tmp_path: Path) -> None:
    with SpoolWriter.create(tmp_path) as writer:
        writer.append(metric_event("loss", 1.0, 0))
        assert not _status_written(writer.run_dir)
        writer.append(status_event("FAILED", "\u2192 frame\n" * 1000))  # 8000 characters
    assert _status_written(writer.run_dir)  # the longest traceback a session writes
