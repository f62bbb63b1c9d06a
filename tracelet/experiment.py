"""`Experiment`: the library door, for scripts run with plain `python`.

It records through the same spool and sidecar as `tracelet run`. Under `tracelet
run` an `Experiment` attaches to the run already active instead of starting a
second one. With `automagic=True` (or `TRACELET_ENABLE_AUTOMAGIC=true`) the
calling file is analysed with the same static engine, and the detected names'
values are read from the caller's frame at `start()`, again at `end()` (names
assigned after `start()`, as in the spec's examples) and at interpreter exit.
"""

from __future__ import annotations

import atexit
import inspect
import sys
import traceback
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracelet.automagic import AutomagicConfig, automagic_enabled
from tracelet.runtime import session as sessions
from tracelet.runtime.capture import Capture

BACKENDS = frozenset({"mlflow"})
LOGGED_SCOPE = "experiment"  # params given to log_param: values, never read back from names


class Experiment:
    def __init__(
        self,
        name: str,
        project: str | None = None,
        backend: list[str] | None = None,
        automagic: bool = False,
        automagic_config: AutomagicConfig | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        unknown = set(backend or ["mlflow"]) - BACKENDS
        if unknown:
            raise ValueError(f"unknown backend {sorted(unknown)[0]!r} (available: mlflow)")
        self.name = name
        self.project = project
        self.automagic = automagic or automagic_enabled()
        self.config = automagic_config or AutomagicConfig.load()
        self.tags = dict(tags or {})
        self._session: sessions.Session | None = None
        self._capture: Capture | None = None
        self._owner = False  # True when this experiment started the run (not attached)
        self._caller: types.FrameType | None = None
        self._step = 0

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> Experiment:
        if self._capture is not None:
            return self
        active = sessions.active()
        if active is not None:  # under `tracelet run`: one run, not two
            self._session, self._capture = active, active.capture
        else:
            self._session = sessions.Session(
                argv=list(sys.argv),
                experiment=self.project or self.name,
                run_name=self.name,
                config=self.config if self.automagic else None,
            )
            self._capture = self._session.start()
            self._owner = True
            atexit.register(self._at_exit)
        self.set_tags(self.tags)
        if self.automagic:
            self._caller = self._caller or _caller_frame()
            self.capture_hyperparams(self._caller)
            self._capture.when_training_starts(self._capture_from_caller)
        return self

    def _capture_from_caller(self) -> None:
        """With automagic: the caller's detected names, as they are now."""
        if self.automagic and self._caller is not None and self._capture is not None:
            self.capture_hyperparams(self._caller)

    def end(self, status_code: int = 0) -> None:
        """Capture the caller's names once more, record the status, wait for delivery."""
        if self._capture is None:
            return
        self._capture_from_caller()
        if self._owner and self._session is not None:
            self._session.end(status_code)
            atexit.unregister(self._at_exit)
        self._capture = None
        self._caller = None

    def _at_exit(self) -> None:
        failed = getattr(sys, "last_value", None) is not None
        self.end(1 if failed else 0)

    def __enter__(self) -> Experiment:
        self._caller = _caller_frame()
        return self.start()

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> None:
        if error is not None and self._owner and self._session is not None:
            text = "".join(traceback.format_exception(kind, error, tb))
            self._capture_from_caller()
            self._session.end(1, text)
            atexit.unregister(self._at_exit)
            self._capture = None
            return
        self.end()

    # --- logging --------------------------------------------------------------

    def log_param(self, name: str, value: Any) -> None:
        self._require().param(name, value, LOGGED_SCOPE)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._require().mapping("", dict(params))

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        capture = self._require()
        capture.start_training()  # a metric means training is under way
        if step is None:
            step, self._step = self._step, self._step + 1
        capture.metric(name, value, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for name, value in metrics.items():
            self.log_metric(name, value, step)

    def set_tag(self, name: str, value: Any) -> None:
        self._require().tag(name, value)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for name, value in tags.items():
            self.set_tag(name, value)

    def log_artifact(self, path: str | Path) -> None:
        """Uploaded by the sidecar with the run (the file must still exist then)."""
        self._require().artifact(str(Path(path).resolve()))

    def capture_hyperparams(self, frame: types.FrameType | None = None) -> dict[str, Any]:
        """Detect the hyperparameters of the calling code statically; log their values now."""
        capture = self._require()
        frame = frame or _caller_frame()
        found = hyperparameters_in(frame, self.config)
        for name, value in found.items():
            capture.in_effect(name, value)
        return found

    def _require(self) -> Capture:
        if self._capture is None:
            raise RuntimeError("the experiment is not started: call start() first")
        return self._capture


def hyperparameters_in(frame: types.FrameType, config: AutomagicConfig) -> dict[str, Any]:
    """The values, in `frame`, of the names the static engine detects in its file."""
    from tracelet.transforms.engine import transform
    from tracelet.transforms.source import SourceError, read_source

    try:
        result = transform(read_source(Path(frame.f_code.co_filename)), config.detect())
    except (SourceError, OSError):
        return {}
    scope = "" if frame.f_code.co_name == "<module>" else frame.f_code.co_qualname
    values: dict[str, Any] = {}
    namespace = {**frame.f_globals, **frame.f_locals}
    for site in result.analysis.sites:
        if site.scope not in ("", scope) or site.name not in namespace:
            continue
        value = namespace[site.name]
        if not isinstance(value, types.ModuleType | types.FunctionType | type):
            values[site.name] = value
    return values


def _caller_frame() -> types.FrameType:
    """The first frame outside this module."""
    frame = inspect.currentframe()
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    assert frame is not None
    return frame
