"""Run a callback when a module has been imported, whether that already happened or not.

Frameworks may be imported before tracelet starts or after it (DESIGN.md: either order
works). `when_imported("torch", install)` calls `install(module)` at once when torch is
already in `sys.modules`; otherwise a finder at the front of `sys.meta_path` waits for
that one name, lets the other finders find it, and calls `install` right after the
module's code has run. Every other import costs the finder one dict look-up.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec

Callback = Callable[[types.ModuleType], None]


class ImportWatcher:
    """A meta-path finder that never finds anything itself: it only watches names.

    A watch is used up when the module's code has run, not when a spec was found:
    ``importlib.util.find_spec("torch")`` (libraries probe for frameworks this way) finds
    a spec that is never executed, and the real import finds another.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, list[Callback]] = {}
        self._lock = threading.RLock()
        self._finding = threading.local()

    def watch(self, name: str, callback: Callback) -> None:
        with self._lock:
            self._waiting.setdefault(name, []).append(callback)
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def forget(self, callback: Callback) -> None:
        with self._lock:
            for name, callbacks in list(self._waiting.items()):
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    del self._waiting[name]
            self._retire_when_idle()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self._waiting or getattr(self._finding, "active", False):
            return None
        self._finding.active = True
        try:
            spec = _find_elsewhere(self, fullname, path, target)
        finally:
            self._finding.active = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        _notify_after_exec(spec, lambda module: self._imported(fullname, module))
        return spec

    def invalidate_caches(self) -> None:
        pass

    def _imported(self, name: str, module: types.ModuleType) -> None:
        with self._lock:
            callbacks = self._waiting.pop(name, [])
            self._retire_when_idle()
        for callback in callbacks:
            callback(module)

    def _retire_when_idle(self) -> None:
        """Off the import path once nothing is awaited (called with the lock held)."""
        if not self._waiting and self in sys.meta_path:
            sys.meta_path.remove(self)


def _find_elsewhere(
    watcher: ImportWatcher,
    fullname: str,
    path: Sequence[str] | None,
    target: types.ModuleType | None,
) -> ModuleSpec | None:
    for finder in sys.meta_path:
        if finder is watcher or not hasattr(finder, "find_spec"):
            continue
        spec = finder.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def _notify_after_exec(spec: ModuleSpec, notify: Callback) -> None:
    """Make the spec's loader call `notify(module)` once the module's code has run."""
    loader = spec.loader
    exec_module = loader.exec_module  # type: ignore[union-attr]

    def exec_then_notify(module: types.ModuleType) -> None:
        try:
            exec_module(module)
        finally:
            # a loader shared by several modules forgets us after this one
            with contextlib.suppress(AttributeError, KeyError):
                del loader.__dict__["exec_module"]
        notify(module)

    try:
        loader.exec_module = exec_then_notify  # type: ignore[union-attr]
    except AttributeError:  # a loader without __dict__: wrap it instead
        spec.loader = _NotifyingLoader(loader, exec_then_notify)


class _NotifyingLoader:
    """A stand-in for a loader whose attributes cannot be set; delegates the rest."""

    def __init__(self, loader: object, exec_module: Callback) -> None:
        self._loader = loader
        self.exec_module = exec_module

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._loader, name)


WATCHER = ImportWatcher()


def when_imported(name: str, callback: Callback) -> None:
    """Call `callback(module)` once `name` is imported: now if it already is, else later.

    A module still being imported (found in `sys.modules` while its own code runs, as when
    tracelet starts from inside it) counts as not imported yet.
    """
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    if module is not None and not getattr(spec, "_initializing", False):
        callback(module)
    else:
        WATCHER.watch(name, callback)


def forget(callback: Callback) -> None:
    """Stop waiting for the imports `callback` was given for."""
    WATCHER.forget(callback)
