"""Deliver spooled events to MLflow: its SQLite default, or a tracking server.

Runs in the sidecar process (or `tracelet sync`), never in the training process:
`import mlflow` costs about a second and 170 MiB. MLflow's HTTP client retries for
minutes against a dead server by default; the sidecar sets small limits before
importing mlflow and retries on its own schedule instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Fail fast: the sidecar owns retries (see sidecar.RETRY_DELAYS).
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
MAX_PARAMS_AND_TAGS = 100  # per log_batch call
MAX_METRICS = 1000


def tracking_uri(meta: dict[str, Any]) -> str:
    """The run's URI: given, else MLFLOW_TRACKING_URI, else `mlflow.db` where the run ran."""
    given = meta.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    if given:
        return str(given)
    return "sqlite:///" + str(Path(meta.get("cwd") or ".").resolve() / "mlflow.db")


def experiment_name(meta: dict[str, Any]) -> str:
    """`--experiment`, else the script's stem, as `tracelet run` promises."""
    if meta.get("experiment"):
        return str(meta["experiment"])
    argv = meta.get("argv") or []
    return Path(argv[0]).stem if argv and argv[0] else "Default"


def client_class() -> type:
    """MLflow's client class, imported (~1.5 s of CPU) with the HTTP limits set first."""
    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)
    from mlflow.tracking import MlflowClient

    return MlflowClient


class MlflowBackend:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.client = client_class()(tracking_uri=uri)

    def start_run(self, meta: dict[str, Any], tags: dict[str, str]) -> str:
        name = experiment_name(meta)
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        run = self.client.create_run(
            experiment_id,
            start_time=meta.get("start_time"),
            tags=tags,
            run_name=meta.get("run_name") or None,
        )
        return run.info.run_id

    def log(
        self,
        run_id: str,
        params: Iterable[tuple[str, str]],
        metrics: Iterable[tuple[str, float, int, int]],
        tags: Iterable[tuple[str, str]],
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        params = [Param(k, v) for k, v in params]
        tags = [RunTag(k, v) for k, v in tags]
        metrics = [Metric(k, v, t, s) for k, v, t, s in metrics]
        while params or tags or metrics:
            room = MAX_PARAMS_AND_TAGS
            batch_params, params = params[:room], params[room:]
            room -= len(batch_params)
            batch_tags, tags = tags[:room], tags[room:]
            batch_metrics, metrics = metrics[:MAX_METRICS], metrics[MAX_METRICS:]
            self.client.log_batch(
                run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags
            )

    def log_artifact(self, run_id: str, path: str) -> None:
        self.client.log_artifact(run_id, path)

    def end(self, run_id: str, status: str, end_time: int | None) -> None:
        self.client.set_terminated(run_id, status=status, end_time=end_time)
