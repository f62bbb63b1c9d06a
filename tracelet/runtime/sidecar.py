"""The sidecar: tail a run's spool, deliver it in batches, end the run with its status.

Started with the run as its own process (`python -m tracelet.runtime.sidecar RUN_DIR
--pid PID`), so that the training process never imports mlflow nor waits on it.
What has been delivered is kept in `delivery.json` beside the spool (the MLflow run
id and the byte offset delivered), written atomically after each batch: a sidecar
that dies, a backend that is down, or `tracelet sync` run twice never loses nor
repeats a batch.

Params are held back until the training process says training has started (a ``train``
event), the run ends, or the process is gone: until then a param may still be replaced
by its value in effect (`tracelet.runtime.capture`, invariant 8), and MLflow refuses to
change a param once logged. Held params are saved with the offset, so delivery stays
idempotent.

The run ends FINISHED or FAILED as the training process's last status event says,
and KILLED when the process is gone without one (SIGKILL, an OOM kill).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from tracelet import __version__
from tracelet.runtime.capture import MAX_TAG_VALUE as MAX_TAG
from tracelet.runtime.spool import EVENTS, SpoolReader, now_ms

STATE = "delivery.json"
TERMINAL = frozenset({"FINISHED", "FAILED", "KILLED"})
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)  # then every 10 s
# While the training process runs, deliver at most this often: fewer, larger batches take
# less CPU from training. Its status event is noticed within one poll and delivered at once.
BATCH_SECONDS = 2.0
STATUS_TAIL = 1 << 16  # bytes at the spool's end searched for the status event
_STATUS = b'{"e":"status"'


class Backend(Protocol):
    def start_run(self, meta: dict[str, Any], tags: dict[str, str]) -> str: ...
    def log(self, run_id: str, params: list, metrics: list, tags: list) -> None: ...
    def log_artifact(self, run_id: str, path: str) -> None: ...
    def end(self, run_id: str, status: str, end_time: int | None) -> None: ...


@dataclass
class DeliveryState:
    run_id: str | None = None  # the backend's run id
    offset: int = 0  # spool bytes delivered
    status: str | None = None  # the last status event delivered
    ended: bool = False
    params: dict[str, str] | None = None  # what was logged, so a param is never changed
    held: dict[str, str] | None = None  # params read but held back until training starts
    training: bool = False  # a train or status event was delivered: params go out at once

    @classmethod
    def load(cls, run_dir: Path) -> DeliveryState:
        try:
            data = json.loads((run_dir / STATE).read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, run_dir: Path) -> None:
        temp = run_dir / f".{STATE}.{os.getpid()}.tmp"
        temp.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(temp, run_dir / STATE)


def deliver(run_dir: Path, backend: Backend, *, final: bool) -> DeliveryState:
    """Deliver what the spool holds beyond the saved offset; end the run when it is over.

    `final`: the training process is gone, so a missing status means KILLED.
    """
    reader = SpoolReader(run_dir)
    state = DeliveryState.load(run_dir)
    if state.ended:
        return state
    meta = reader.meta() or {}
    if state.run_id is None:
        state.run_id = backend.start_run(meta, run_tags(meta))
        state.save(run_dir)
    sent = dict(state.params or {})
    while True:
        events, offset = reader.read(state.offset, max_events=5000, final=final)
        if not events and offset == state.offset:
            break
        params, metrics, tags = _batch(events, sent, state)
        backend.log(state.run_id, params, metrics, tags)
        for event in events:
            if event.get("e") == "artifact" and Path(str(event.get("k"))).is_file():
                backend.log_artifact(state.run_id, str(event["k"]))
        state.offset, state.params = offset, sent
        state.save(run_dir)
    if final and state.held:  # the process is gone: nothing will replace them now
        backend.log(state.run_id, _release(state, sent), [], [])
        state.params = sent
        state.save(run_dir)
    if state.status in TERMINAL or final:
        status = state.status if state.status in TERMINAL else "KILLED"
        backend.end(state.run_id, status, now_ms())
        state.status, state.ended = status, True
        state.save(run_dir)
    return state


def _batch(events: list[dict[str, Any]], sent: dict[str, str], state: DeliveryState):
    params: list[tuple[str, str]] = []
    metrics: list[tuple[str, float, int, int]] = []
    tags: list[tuple[str, str]] = []
    for event in events:
        kind, key, value, t = event.get("e"), event.get("k"), event.get("v"), event.get("t")
        if kind == "param" and isinstance(key, str):
            text = str(value)
            if not state.training:
                state.held = state.held or {}
                state.held[key] = text  # the last value wins
            elif key not in sent:
                sent[key] = text
                params.append((key, text))
            elif sent[key] != text:  # MLflow refuses to change a param: keep the news as a tag
                tags.append((f"param/{key}", text[:MAX_TAG]))
        elif kind == "train":
            params.extend(_release(state, sent))
        elif kind == "metric" and isinstance(key, str) and isinstance(value, int | float):
            metrics.append((key, float(value), int(t or now_ms()), int(event.get("s") or 0)))
        elif kind == "tag" and isinstance(key, str):
            tags.append((key, str(value)[:MAX_TAG]))
        elif kind == "status" and isinstance(value, str):
            params.extend(_release(state, sent))
            state.status = value
            if event.get("tb"):
                tags.append(("tracelet.traceback", str(event["tb"])[-MAX_TAG:]))
    return params, metrics, tags


def _release(state: DeliveryState, sent: dict[str, str]) -> list[tuple[str, str]]:
    """The held params, now to be logged; from here on params go out as they come."""
    held, state.held, state.training = state.held or {}, None, True
    released = [(key, text) for key, text in held.items() if key not in sent]
    sent.update(released)
    return released


def run_tags(meta: dict[str, Any]) -> dict[str, str]:
    """Where the run came from: source, command line, versions, host, git commit."""
    argv = [str(a) for a in meta.get("argv") or []]
    cwd = Path(meta.get("cwd") or ".")
    tags = {
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": argv[0] if argv else "",
        "mlflow.user": _user(),
        "tracelet.command": " ".join(argv)[:MAX_TAG],
        "tracelet.version": __version__,
        "tracelet.python": platform.python_version(),
        "tracelet.host": socket.gethostname(),
    }
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["tracelet.git.dirty"] = str(bool(_git(cwd, "status", "--porcelain")))
    if meta.get("run_name"):
        tags["mlflow.runName"] = str(meta["run_name"])
    return tags


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _git(cwd: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def follow(
    run_dir: Path, connect: Callable[[], Backend], pid: int, poll: float = 0.1
) -> DeliveryState:
    """Deliver as the spool grows until the run is over; a backend error only delays.

    While the training process runs, a delivery happens at most every `BATCH_SECONDS`;
    once its status event is in the spool, or it is gone, at once.

    `connect` makes the backend, inside the retry loop: a store that cannot be opened
    yet (a server not up, a database being migrated) is just one more retry.
    """
    failures = 0
    backend: Backend | None = None
    delivered_at = -BATCH_SECONDS
    while True:
        final = not alive(pid)
        recent = time.monotonic() - delivered_at < BATCH_SECONDS
        if recent and not final and not _status_written(run_dir):
            time.sleep(poll)
            continue
        try:
            backend = backend or connect()
            state = deliver(run_dir, backend, final=final)
            delivered_at = time.monotonic()
            failures = 0
        except Exception as error:  # the backend is down or refused: retry later
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
            failures += 1
            if failures == 1:
                print(f"tracelet: delivery delayed: {error}", file=sys.stderr)
            time.sleep(delay)
            continue
        if state.ended:
            return state
        time.sleep(poll)


def _status_written(run_dir: Path) -> bool:
    """Whether the spool ends with a status event: the training process has ended."""
    try:
        with open(run_dir / EVENTS, "rb") as spool:
            spool.seek(0, os.SEEK_END)
            spool.seek(max(0, spool.tell() - STATUS_TAIL))
            tail = spool.read()
    except OSError:
        return False
    return tail.startswith(_STATUS) or b"\n" + _STATUS in tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracelet-sidecar")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--poll", type=float, default=0.1)
    options = parser.parse_args(argv)
    from tracelet.runtime.backends.mlflow import MlflowBackend, client_class, tracking_uri

    # importing mlflow overlaps the script's own imports, which leave a core free; then
    # delivery is background work: training goes first
    client_class()
    with contextlib.suppress(OSError):
        os.nice(10)

    meta = SpoolReader(options.run_dir).meta() or {}
    uri = tracking_uri(meta)
    follow(options.run_dir, lambda: MlflowBackend(uri), options.pid, options.poll)
    return 0


if __name__ == "__main__":
    sys.exit(main())
