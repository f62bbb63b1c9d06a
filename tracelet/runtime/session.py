"""The active run: its spool, the capture runtime, the sidecar, and how the run ends.

`Session.start()` creates the spool (`.tracelet/runs/<run-id>/`), builds the
`Capture` the rewritten code calls, installs the framework hooks and starts the
resource monitor (given an `AutomagicConfig`), and starts the sidecar process that
delivers the spool. `Session.end(code)` flushes the hooks, takes the monitor's last
sample, appends the final status, closes the spool and waits a bounded time for
delivery; if the backend could not be reached it says how many events are pending and
how to deliver them later.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tracelet.runtime.capture import MAX_TAG_VALUE, Capture
from tracelet.runtime.hooks import Hooks
from tracelet.runtime.monitors import Monitor, start_monitor
from tracelet.runtime.spool import DEFAULT_ROOT, SpoolWriter, status_event

if TYPE_CHECKING:
    from tracelet.automagic import AutomagicConfig

DELIVERY_TIMEOUT = float(os.environ.get("TRACELET_DELIVERY_TIMEOUT", "30"))
DELIVERY_POLL = 0.02  # seconds between looks at delivery.json while waiting
EXIT_INTERRUPTED = 130


_ACTIVE: list[Session] = []  # the run of this process, once started


def active() -> Session | None:
    """The run this process records into (`tracelet run` starts it before the script)."""
    return _ACTIVE[-1] if _ACTIVE else None


def status_for(code: int) -> str:
    """FINISHED on exit 0, KILLED on Ctrl-C, FAILED on an exception or any other exit."""
    if code == 0:
        return "FINISHED"
    return "KILLED" if code == EXIT_INTERRUPTED else "FAILED"


@dataclass
class Session:
    argv: list[str]
    experiment: str | None = None
    run_name: str | None = None
    tracking_uri: str | None = None
    root: Path = DEFAULT_ROOT
    offline: bool = False  # spool only; `tracelet sync` delivers later
    config: AutomagicConfig | None = None  # framework hooks and monitors; None: none
    writer: SpoolWriter | None = field(default=None, init=False)
    capture: Capture | None = field(default=None, init=False)
    sidecar: subprocess.Popen | None = field(default=None, init=False)
    hooks: Hooks | None = field(default=None, init=False)
    monitor: Monitor | None = field(default=None, init=False)

    def start(self) -> Capture:
        self.writer = SpoolWriter.create(
            self.root,
            experiment=self.experiment,
            run_name=self.run_name,
            tracking_uri=self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
            argv=self.argv,
        )
        self.capture = Capture(self.writer)
        _ACTIVE.append(self)
        if self.config is not None:
            self.hooks = Hooks(self.capture, self.config).install()
            self.monitor = start_monitor(self.capture, self.config)
        if not self.offline:
            self.sidecar = _start_sidecar(self.writer.run_dir)
        return self.capture

    @property
    def run_dir(self) -> Path:
        assert self.writer is not None
        return self.writer.run_dir

    def end(self, code: int, traceback_text: str | None = None) -> bool:
        """Record the status and wait for delivery; True when everything was delivered."""
        if self.writer is None:
            return True
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self.hooks is not None:
            self.hooks.finish()
        if self.monitor is not None:
            self.monitor.stop()
        if traceback_text is not None:  # its end, as much as an MLflow tag holds
            traceback_text = traceback_text[-MAX_TAG_VALUE:]
        self.writer.append(status_event(status_for(code), traceback_text))
        self.writer.close()
        if self.sidecar is None:
            return False
        # until the run is ended in the backend, not until the sidecar has exited: its
        # interpreter's shutdown (mlflow, SQLAlchemy) is no one's wait
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while not self.delivered():
            if self.sidecar.poll() is not None:
                return self.delivered()
            if time.monotonic() >= deadline:
                return False
            time.sleep(DELIVERY_POLL)
        return True

    def delivered(self) -> bool:
        from tracelet.runtime.sidecar import DeliveryState

        return DeliveryState.load(self.run_dir).ended


def _start_sidecar(run_dir: Path) -> subprocess.Popen | None:
    """The delivering process, in its own session so that Ctrl-C reaches only the script."""
    try:
        log = open(run_dir / "sidecar.log", "ab")  # noqa: SIM115 - handed to the child
    except OSError:
        return None
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "tracelet.runtime.sidecar", str(run_dir), "--pid",
             str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    except OSError:
        return None
    finally:
        log.close()
