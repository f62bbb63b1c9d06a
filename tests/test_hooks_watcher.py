"""The import watcher and the hook set: either import order, failures contained."""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from pathlib import Path

import pytest

from tracelet.automagic import AutomagicConfig
from tracelet.runtime import hooks
from tracelet.runtime.capture import Capture
from tracelet.runtime.hooks.watcher import WATCHER, forget, when_imported


@pytest.fixture
def framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A throwaway package on sys.path, not imported yet."""
    name = f"fakefw_{tmp_path.name.replace('-', '_')}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("READY = True\nfrom . import core\n")
    (package / "core.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_a_module_imported_later_is_reported_after_its_code_ran(framework: str) -> None:
    seen: list[tuple[str, bool]] = []
    when_imported(framework, lambda m: seen.append((m.__name__, m.READY)))
    assert seen == [] and WATCHER in sys.meta_path
    __import__(framework)
    assert seen == [(framework, True)]
    assert WATCHER not in sys.meta_path  # nothing left to wait for: off the import path


def test_a_probe_for_the_module_does_not_use_the_watch_up(framework: str) -> None:
    """Libraries ask `importlib.util.find_spec("torch")` before importing it."""
    seen: list[str] = []
    when_imported(framework, lambda m: seen.append(m.__name__))
    assert importlib.util.find_spec(framework) is not None
    assert seen == []
    __import__(framework)
    assert seen == [framework]


def test_a_submodule_can_be_watched(framework: str) -> None:
    seen: list[int] = []
    when_imported(f"{framework}.core", lambda m: seen.append(m.VALUE))
    __import__(framework)
    assert seen == [42]


def test_a_module_already_imported_is_reported_at_once(framework: str) -> None:
    __import__(framework)
    seen: list[str] = []
    when_imported(framework, lambda m: seen.append(m.__name__))
    assert seen == [framework]


def test_a_forgotten_callback_is_not_called(framework: str) -> None:
    seen: list[str] = []
    callback = seen.append
    when_imported(framework, callback)
    forget(callback)
    __import__(framework)
    assert seen == [] and WATCHER not in sys.meta_path


def test_a_hook_that_fails_to_install_warns_once_and_the_import_works(
    framework: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = types.ModuleType("broken_hook")
    broken.install = lambda ctx: 1 / 0
    monkeypatch.setitem(sys.modules, "broken_hook", broken)
    monkeypatch.setitem(hooks.HOOK_MODULES, "pytorch", (framework, "broken_hook"))
    hook_set = hooks.Hooks(Capture(), AutomagicConfig(frameworks={"pytorch"})).install()
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        module = __import__(framework)
    hook_set.finish()
    assert module.READY
    assert [r.getMessage() for r in caplog.records] == [
        "tracelet: the pytorch hook is off for this run "
        "(ZeroDivisionError: division by zero); training goes on"
    ]


def test_finish_runs_the_flushes_then_the_uninstalls(
    framework: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def install(ctx: hooks.HookContext):
        ctx.at_end(lambda: calls.append("flush"))
        return lambda: calls.append("uninstall")

    fake = types.ModuleType("fake_hook")
    fake.install = install
    monkeypatch.setitem(sys.modules, "fake_hook", fake)
    monkeypatch.setitem(hooks.HOOK_MODULES, "sklearn", (framework, "fake_hook"))
    hook_set = hooks.Hooks(Capture(), AutomagicConfig(frameworks={"sklearn"})).install()
    __import__(framework)
    hook_set.finish()
    hook_set.finish()  # a second end does nothing
    assert calls == ["flush", "uninstall"]
