"""Framework hooks: PyTorch, scikit-learn and XGBoost, installed when each is imported.

`Hooks(capture, config).install()` asks the import watcher (`watcher.py`) to install each
framework's hook module as soon as the framework is imported, before or after the run
starts. A hook module has one entry point::

    def install(ctx: HookContext) -> Callable[[], None]   # returns its uninstall

Hooks record through `ctx.capture` (`metric`, `tag`, `param`, `mapping`) at `ctx.step`,
call `ctx.capture.start_training()` when training begins (the first optimizer step,
`fit` or boosting round), and register with `ctx.at_end` what must be flushed before the
run's status. A hook that fails calls `ctx.failed(name, error)`: one warning, the hook is
off for the rest of the run, and training goes on (DESIGN.md invariant 3).
"""

from __future__ import annotations

import importlib
import logging
import types
from collections.abc import Callable

from tracelet.runtime.hooks.watcher import forget, when_imported

TYPE_CHECKING = False  # not `from typing import`: typing costs import time

if TYPE_CHECKING:
    from tracelet.automagic import AutomagicConfig
    from tracelet.runtime.capture import Capture

log = logging.getLogger("tracelet")

# framework -> (the module whose import triggers it, the hook module)
HOOK_MODULES = {
    "pytorch": ("torch", "tracelet.runtime.hooks.torch"),
    "sklearn": ("sklearn.base", "tracelet.runtime.hooks.sklearn"),
    "xgboost": ("xgboost", "tracelet.runtime.hooks.xgboost"),
}


class HookContext:
    """What a hook module gets: where to record, the settings, the run's step, failures."""

    def __init__(self, capture: Capture, config: AutomagicConfig) -> None:
        self.capture = capture
        self.config = config
        self.step = 0  # the run's global step: optimizer steps for torch
        self._off: set[str] = set()
        self._finishers: list[Callable[[], None]] = []

    def failed(self, hook: str, error: BaseException) -> None:
        """Turn `hook` off for the rest of the run, with one warning; training goes on."""
        if hook in self._off:
            return
        self._off.add(hook)
        try:
            log.warning(
                "tracelet: the %s hook is off for this run (%s: %s); training goes on",
                hook, type(error).__name__, error,
            )  # fmt: skip
            log.debug("tracelet: the %s hook failed", hook, exc_info=error)
        except Exception:  # logging itself failed: stay silent
            pass

    def is_off(self, hook: str) -> bool:
        return hook in self._off

    def at_end(self, finisher: Callable[[], None]) -> None:
        """Run `finisher` when the run ends, before its status is recorded."""
        self._finishers.append(finisher)

    def finish(self) -> None:
        for finisher in self._finishers:
            try:
                finisher()
            except Exception as error:
                self.failed(getattr(finisher, "__qualname__", "finish"), error)
        self._finishers.clear()


class Hooks:
    """The hooks of one run: installed on import of their framework, removed at the end."""

    def __init__(self, capture: Capture, config: AutomagicConfig) -> None:
        self.context = HookContext(capture, config)
        self._waiting: list[Callable[[types.ModuleType], None]] = []
        self._uninstalls: list[Callable[[], None]] = []

    def install(self) -> Hooks:
        for framework in sorted(self.context.config.frameworks):
            trigger, hook_module = HOOK_MODULES[framework]
            callback = self._installer(framework, hook_module)
            self._waiting.append(callback)
            when_imported(trigger, callback)
        return self

    def finish(self) -> None:
        """Flush what the hooks hold, then remove them (the run is over)."""
        self.context.finish()
        for callback in self._waiting:
            forget(callback)
        self._waiting.clear()
        for uninstall in reversed(self._uninstalls):
            try:
                uninstall()
            except Exception as error:
                self.context.failed("uninstall", error)
        self._uninstalls.clear()

    def _installer(self, framework: str, hook_module: str) -> Callable[[types.ModuleType], None]:
        def install(_: types.ModuleType) -> None:
            try:
                module = importlib.import_module(hook_module)
                self._uninstalls.append(module.install(self.context))
            except Exception as error:
                self.context.failed(framework, error)

        return install
