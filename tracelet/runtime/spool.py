"""The run's write-ahead log: an append-only event file per run, written by the training process.

Layout, under a root that defaults to `.tracelet` in the working directory::

    <root>/runs/<run-id>/meta.json      written once, atomically, when the run is created
    <root>/runs/<run-id>/events.jsonl   one JSON object per line, appended in order

`<run-id>` is 32 lowercase hex characters (`uuid4().hex`), the shape of an MLflow run id.

meta.json (format 1)::

    {"format": 1, "run_id": str, "experiment": str | null, "run_name": str | null,
     "tracking_uri": str | null, "argv": [str], "cwd": str, "pid": int,
     "start_time": int (ms since the epoch), "tracelet_version": str, ...extra}

events.jsonl — every line is one of (``t`` is the wall-clock time in ms since the epoch)::

    {"e": "param",  "k": name, "v": value, "t": ms}
    {"e": "metric", "k": name, "v": float, "s": step, "t": ms}
    {"e": "tag",    "k": name, "v": str, "t": ms}
    {"e": "train",  "t": ms}      training has started: the params hold their values in effect
    {"e": "status", "v": "RUNNING" | "FINISHED" | "FAILED" | "KILLED", "t": ms, "tb": str}

A param's ``v`` is a JSON value as captured (str, int, float, bool, null, or a list of those,
possibly nested); the reader of the spool turns it into MLflow's string with ``str()`` as
``mlflow.log_param`` does. ``tb`` (a traceback text) is optional and only on status events.
Names and values arrive already normalised, redacted and truncated (see `capture`). Lines
are ASCII (non-ASCII characters are ``\\uXXXX`` escapes); NaN and infinities are written
as Python's `json` writes them (``NaN``, ``Infinity``). A reader skips lines it does not
understand, including lines whose ``e`` it does not know, so new event kinds can be added.

Durability: each event is one `os.write` of one complete line on an ``O_APPEND`` file
descriptor (a hook's flush, `extend_metrics`, writes its lines with one), done before
`SpoolWriter.append` returns. The event is then in the kernel, so a
training process killed with SIGKILL loses nothing it appended (a machine crash can still
lose what the OS had not flushed: there is no fsync per event). Appends from several
threads or processes (fork-started workers share the descriptor) never interleave
within a line on a local file system.

Never break training (invariant 3): a writer that cannot create its directory or write an
event logs one warning on the ``tracelet`` logger, keeps up to `MAX_PENDING` events in
memory, retries at most once per `RETRY_SECONDS` on later appends and once more at
`close`, and never raises.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring_ascii
from pathlib import Path

TYPE_CHECKING = False  # not `from typing import`: typing costs import time

if TYPE_CHECKING:
    from typing import Any

FORMAT = 1
EVENTS = "events.jsonl"
META = "meta.json"
RUNS = "runs"
DEFAULT_ROOT = Path(".tracelet")
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
MAX_PENDING = 100_000  # events kept in memory while the spool cannot be written
RETRY_SECONDS = 1.0
READ_CHUNK = 1 << 20

log = logging.getLogger("tracelet")

_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True, default=repr)
try:  # the C encoder made once: JSONEncoder.encode builds one per call (~1 µs of the hot path)
    from json.encoder import c_make_encoder

    _C_ENCODER = c_make_encoder(
        None, repr, encode_basestring_ascii, None, ":", ",", False, False, True
    )  # no cycle check (markers=None): a cycle raises RecursionError, handled by append
except (ImportError, TypeError):  # pragma: no cover — a Python without the C accelerator
    _C_ENCODER = None


def new_run_id() -> str:
    """32 hex characters, like an MLflow run id."""
    import uuid  # imported here: it costs import time and only the launcher needs it

    return uuid.uuid4().hex


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def run_dir(root: str | os.PathLike[str] | None, run_id: str) -> Path:
    """Where the spool of `run_id` lives under `root` (default `.tracelet`)."""
    return Path(DEFAULT_ROOT if root is None else root) / RUNS / run_id


# --- events -----------------------------------------------------------------------


def param_event(key: str, value: Any, t: int | None = None) -> dict[str, Any]:
    return {"e": "param", "k": key, "v": value, "t": now_ms() if t is None else t}


def metric_event(key: str, value: float, step: int, t: int | None = None) -> dict[str, Any]:
    return {"e": "metric", "k": key, "v": value, "s": step, "t": now_ms() if t is None else t}


def tag_event(key: str, value: str, t: int | None = None) -> dict[str, Any]:
    return {"e": "tag", "k": key, "v": value, "t": now_ms() if t is None else t}


def train_event(t: int | None = None) -> dict[str, Any]:
    return {"e": "train", "t": now_ms() if t is None else t}


def status_event(status: str, traceback: str | None = None, t: int | None = None) -> dict:
    event: dict[str, Any] = {"e": "status", "v": status, "t": now_ms() if t is None else t}
    if traceback is not None:
        event["tb"] = traceback
    return event


def encode(event: Mapping[str, Any]) -> bytes:
    """One event as one line of ASCII JSON, newline included."""
    if _C_ENCODER is not None and type(event) is dict:
        return ("".join(_C_ENCODER(event, 0)) + "\n").encode("ascii")
    return (_ENCODER.encode(event) + "\n").encode("ascii")


_FLOAT_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def encode_metrics(points: Iterable[tuple[str, float, int, int]]) -> bytes:
    """Metric events `(key, value, step, t)` as the lines `encode(metric_event(...))` gives,
    without building a dict per point: hooks flush thousands of points at once."""
    keys: dict[str, str] = {}
    lines = []
    for key, value, step, t in points:
        quoted = keys.get(key)
        if quoted is None:
            quoted = keys[key] = encode_basestring_ascii(key)
        number = repr(float(value))
        lines.append(
            f'{{"e":"metric","k":{quoted},"v":{_FLOAT_JSON.get(number, number)},'
            f'"s":{int(step)},"t":{int(t)}}}\n'
        )
    return "".join(lines).encode("ascii")


# --- writer -----------------------------------------------------------------------


class _Unwritten(Exception):
    """A write that failed part-way: the lines not completely written, and how many."""

    def __init__(self, rest: bytes, count: int, error: Exception) -> None:
        super().__init__(str(error))
        self.rest = rest
        self.count = count
        self.error = error


class SpoolWriter:
    """Appends events to `<run_dir>/events.jsonl`; never raises (see the module docstring).

    Build one with `SpoolWriter.create(...)` (a new run) or `SpoolWriter.open(run_dir)` (append
    to an existing spool, e.g. from a child process).
    """

    def __init__(self, run_dir: str | os.PathLike[str], run_id: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id or self.run_dir.name
        self.path = self.run_dir / EVENTS
        self.written = 0  # events that reached the OS
        self._fd: int | None = None
        self._opened = False
        self._closed = False
        self._warned = False
        self._torn = False  # a partial line was written: start the next write on a new line
        self._pending: list[tuple[bytes, int]] = []  # (lines, how many events)
        self._pending_events = 0
        self._dropped = 0
        self._next_retry = 0.0
        self._meta_text: str | None = None  # meta.json still to write
        self._retrying = threading.Lock()

    # construction

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str] | None = None,
        *,
        experiment: str | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        argv: Sequence[str] | None = None,
        cwd: str | None = None,
        pid: int | None = None,
        run_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> SpoolWriter:
        """Create `<root>/runs/<run-id>/` with its meta.json, and open its event file."""
        run_id = run_id or new_run_id()
        writer = cls(run_dir(root, run_id), run_id)
        try:
            meta = {
                "format": FORMAT,
                "run_id": run_id,
                "experiment": experiment,
                "run_name": run_name,
                "tracking_uri": tracking_uri,
                "argv": list(argv) if argv is not None else list(_sys_argv()),
                "cwd": cwd if cwd is not None else os.getcwd(),
                "pid": pid if pid is not None else os.getpid(),
                "start_time": now_ms(),
                "tracelet_version": _version(),
                **(extra or {}),
            }
            writer._meta_text = json.dumps(meta, indent=1, default=repr) + "\n"
            _make_root(writer.run_dir.parent.parent)
            writer._open()
        except Exception as error:  # never break training
            writer._failed("cannot create the spool", error)
        return writer

    @classmethod
    def open(cls, run_dir: str | os.PathLike[str]) -> SpoolWriter:
        """Append to the existing spool in `run_dir`."""
        writer = cls(run_dir)
        try:
            writer._open()
        except Exception as error:
            writer._failed("cannot open the spool", error)
        return writer

    def _open(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._meta_text is not None:
            _write_atomic(self.run_dir / META, self._meta_text)
            self._meta_text = None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._opened = True

    # writing

    @property
    def ok(self) -> bool:
        """True while every event so far has reached the OS."""
        return self._opened and not self._pending and not self._dropped

    @property
    def pending(self) -> int:
        """Events kept in memory because the spool could not be written."""
        return self._pending_events

    def append(self, event: Mapping[str, Any]) -> bool:
        """Write one event; True once it reached the OS. Never raises."""
        try:
            data = encode(event)
        except Exception as error:  # e.g. a circular structure
            self._failed("cannot encode an event", error, kept=False)
            return False
        return self._append(data, 1)

    def extend_metrics(self, points: Sequence[tuple[str, float, int, int]]) -> bool:
        """Write metric events `(key, value, step, t)` with one `os.write` (hooks flushing
        a buffer); True once they reached the OS. Never raises."""
        if not points:
            return True
        try:
            data = encode_metrics(points)
        except Exception as error:  # a value that is no number
            self._failed("cannot encode an event", error, kept=False)
            return False
        return self._append(data, len(points))

    def _append(self, data: bytes, count: int) -> bool:
        if self._closed:
            return False
        if self._pending or self._fd is None:
            self._keep(data, count)
            return self._retry(force=False) and not self._pending
        try:
            self._write(data, count)
        except _Unwritten as unwritten:
            self._keep(unwritten.rest, unwritten.count)
            self._failed("cannot write to the spool", unwritten.error)
            return False
        return True

    def _write(self, data: bytes, count: int = 1) -> None:
        """Write `count` whole lines; on an error raise `_Unwritten` with the lines not
        completely written (the ones already out must not be written twice)."""
        fd = self._fd
        prefix = b"\n" if self._torn else b""  # end the line a failed write left open
        buffer = prefix + data if prefix else data
        view = memoryview(buffer)
        sent = 0
        try:
            assert fd is not None
            while view:
                n = os.write(fd, view)
                if n <= 0:
                    raise OSError("short write")
                sent += n
                view = view[n:]
        except Exception as error:
            if sent:
                self._torn = buffer[sent - 1 : sent] != b"\n"
            complete = data.rfind(b"\n", 0, max(0, sent - len(prefix))) + 1
            done = data.count(b"\n", 0, complete)
            self.written += done
            raise _Unwritten(data[complete:], count - done, error) from error
        self._torn = False
        self.written += count

    def _keep(self, data: bytes, count: int) -> None:
        if self._pending_events + count <= MAX_PENDING:
            self._pending.append((data, count))
            self._pending_events += count
        else:
            self._dropped += count

    def _retry(self, force: bool) -> bool:
        """Write what is pending; True when nothing is left."""
        now = time.monotonic()
        if not force and now < self._next_retry:
            return False
        if not self._retrying.acquire(blocking=force):
            return False  # another thread is retrying
        try:
            self._next_retry = now + RETRY_SECONDS
            if self._fd is None:
                self._open()
            done = 0
            try:
                for data, count in self._pending:
                    self._write(data, count)
                    self._pending_events -= count
                    done += 1
            except _Unwritten as unwritten:
                self._pending_events -= self._pending[done][1] - unwritten.count
                self._pending[done] = (unwritten.rest, unwritten.count)
                raise
            finally:
                del self._pending[:done]
        except Exception:  # already warned
            return False
        finally:
            self._retrying.release()
        log.info("tracelet: the spool %s is writable again", self.path)
        return True

    def _failed(self, what: str, error: BaseException, kept: bool = True) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "tracelet: %s %s (%s: %s); training goes on%s",
                what, self.path, type(error).__name__, error,
                ", events are kept in memory and written when possible" if kept else "",
            )  # fmt: skip

    def close(self) -> None:
        """Write what is pending (one last try) and close the file. Idempotent."""
        if self._closed:
            return
        if self._pending:
            self._retry(force=True)
        if self._pending or self._dropped:
            log.warning(
                "tracelet: %d events could not be written to %s",
                self.pending + self._dropped, self.path,
            )  # fmt: skip
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _sys_argv() -> list[str]:
    return list(getattr(sys, "argv", []))


def _version() -> str:
    try:
        from tracelet import __version__
    except ImportError:  # pragma: no cover
        return "unknown"
    return __version__


def _make_root(root: Path) -> None:
    """Create the spool root; a new one gets a .gitignore so runs are not committed."""
    if root.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        (root / ".gitignore").write_text("# created by tracelet\n*\n", encoding="utf-8")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --- reader -----------------------------------------------------------------------


class SpoolReader:
    """Reads the events of a spool from a byte offset; safe while the writer is appending.

    `read(offset)` returns the complete events after `offset` and the offset just past the
    last one consumed. An unterminated last line (an append in flight) is not consumed: it
    is read again once its newline arrives. Malformed lines are skipped and counted in
    `skipped` (one warning per reader).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / EVENTS
        self.skipped = 0
        self._warned = False

    def meta(self) -> dict[str, Any] | None:
        """meta.json, or None when it is missing or unreadable."""
        try:
            data = json.loads((self.run_dir / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read(
        self, offset: int = 0, max_events: int | None = None, *, final: bool = False
    ) -> tuple[list[dict[str, Any]], int]:
        """Events after byte `offset` (at most `max_events`) and the new offset.

        `final=True` is for a spool whose writer is gone: a trailing line without its
        newline is then parsed if it is valid (else skipped) and the offset moves to the end.
        """
        events: list[dict[str, Any]] = []
        try:
            handle = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return events, offset
        with handle:
            handle.seek(offset)
            buffer = b""
            while max_events is None or len(events) < max_events:
                chunk = handle.read(READ_CHUNK)
                if not chunk:
                    break
                buffer += chunk
                end = buffer.rfind(b"\n")
                if end < 0:
                    continue  # a line longer than a chunk: read on
                lines = buffer[: end + 1]
                buffer = buffer[end + 1 :]
                start = 0
                while start < len(lines):
                    stop = lines.index(b"\n", start) + 1
                    if max_events is not None and len(events) >= max_events:
                        return events, offset
                    self._parse(lines[start:stop], events)
                    offset += stop - start
                    start = stop
            if final and buffer and (max_events is None or len(events) < max_events):
                self._parse(buffer, events)
                offset += len(buffer)
        return events, offset

    def events(self, offset: int = 0) -> list[dict[str, Any]]:
        """Every complete event after `offset`."""
        return self.read(offset)[0]

    def _parse(self, line: bytes, events: list[dict[str, Any]]) -> None:
        line = line.strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if isinstance(event, dict) and isinstance(event.get("e"), str):
            events.append(event)
            return
        self.skipped += 1
        if not self._warned:
            self._warned = True
            log.warning("tracelet: skipped a malformed line in %s: %.80r", self.path, line)
