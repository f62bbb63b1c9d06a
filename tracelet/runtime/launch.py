"""Run a script as `__main__` exactly as `python` would, with its capture calls injected.

`run_path(script, ...)` is `python script` and `run_module(name, ...)` is `python -m name`
(a directory or zip archive given to `run_path` runs its `__main__` module, as python
does). What runs is the rewrite from `transforms.cache.compiled_rewrite`: every original
line and column is kept, so tracebacks (3.11 carets included), pdb and coverage show the
user's own file; the runtime object is put into the module's globals as `__tracelet__`.

Python's semantics, kept here:

- a fresh `__main__` module with `__file__` (the path joined to the working directory,
  unnormalised, as python does), a `SourceFileLoader`, `__spec__ = None` and
  `__cached__ = None` for a path (the module's spec for `-m`, run by the very function
  `python -m` calls, `runpy._run_module_as_main`);
- `sys.argv = [script, *argv]` (for `-m`, `[origin, *argv]`); `sys.path[0]` is the
  script's real directory (for `-m`, the working directory);
- `SystemExit` gives the status python gives (`sys.exit("msg")` prints msg, status 1);
  an uncaught exception prints python's traceback, with no tracelet frame, status 1;
  Ctrl-C prints python's traceback, status 130 (`INTERRUPTED`; python itself ends by
  re-raising SIGINT, which a shell shows as 130 too);
- `__main__`'s functions and classes pickle, and spawn workers re-run the original,
  un-rewritten file as `__mp_main__` (no `__tracelet__` is needed there).

While the script runs, `ProjectFinder` (first on `sys.meta_path`) rewrites the user's own
modules as they are imported: source files under the project root (the script's
directory; the working directory for `-m`), never the standard library, site-packages or
tracelet itself. The rewrite is done when the spec is found, so the loader's frames never
sit between the importer and the module's code: an exception raised while a module is
imported shows python's own traceback.

Never break training (invariant 3): if the engine fails on a file, the original source
runs unchanged and one warning says so. This module imports neither libcst (only a
rewrite-cache miss does), nor typer, rich or mlflow.
"""

from __future__ import annotations

import _imp
import builtins
import contextlib
import os
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from pathlib import Path

from tracelet.transforms.cache import ROOT, compiled_rewrite
from tracelet.transforms.options import Detect

__all__ = [
    "INTERRUPTED",
    "LaunchError",
    "NullRuntime",
    "ProjectFinder",
    "RunOptions",
    "run_module",
    "run_path",
]

INTERRUPTED = 130  # the status a shell reports for a process ended by Ctrl-C (128 + SIGINT)

_PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")


class LaunchError(Exception):
    """The script cannot be started (a missing file...): a user error, reported in one line."""


class NullRuntime:
    """A `__tracelet__` that captures nothing.

    Used for `--no-capture`, and only while the capture runtime (`tracelet.runtime.capture`)
    cannot be imported. It accepts every call the rewrite injects (see docs/detection.md)
    and returns what the wrappers must return.
    """

    __slots__ = ()

    def param(self, name: str, value: object, scope: str = "") -> None:
        return None

    def args(self, scope: str, /, **values: object) -> Callable[[object], object]:
        return _identity

    def mapping(self, prefix: str, obj: object) -> object:
        return obj

    def metric(self, name: str, value: object, step: int | None = None) -> None:
        return None

    def tag(self, name: str, value: object) -> None:
        return None

    def __repr__(self) -> str:
        return "NullRuntime()"


def _identity(value: object) -> object:
    return value


@dataclass(frozen=True)
class RunOptions:
    """What `tracelet run` was asked for, handed to the runtime factory.

    `target` is the script as given, or the module name when `module` is true; `argv` are
    the script's own arguments. The backend fields are passed on as given: choosing
    defaults (the experiment named after the script...) is the capture runtime's job.
    """

    target: str
    argv: tuple[str, ...] = ()
    module: bool = False
    experiment: str | None = None
    run_name: str | None = None
    tracking_uri: str | None = None
    capture: bool = True
    quiet: bool = False
    detect: Detect = field(default_factory=Detect)


def run_path(
    script: str | os.PathLike[str],
    argv: Sequence[str],
    runtime: object,
    detect: Detect = Detect(),
    cache_root: Path = ROOT,
    *,
    rewrite: bool = True,
    restore: bool = True,
) -> int:
    """Run `script` as `python script *argv` would, and return its exit status.

    `rewrite=False` runs the original code (still with `__tracelet__` in its globals, so a
    file written by `instrument --write` runs). `restore=False` leaves `sys.argv`,
    `sys.path` and `sys.modules["__main__"]` as the script left them, as they are for
    python's own shutdown (atexit handlers that pickle `__main__` objects): the command
    line uses it. Raises `LaunchError` when the script cannot be opened.
    """
    given = os.fspath(script)
    path = given if os.path.isabs(given) else os.path.join(os.getcwd(), given)
    if _has_importer(path):  # a directory or a zip archive: run its __main__ module
        return _run_main_module(
            "__main__", [given, *argv], path, path, False, runtime, detect, cache_root, rewrite,
            restore,
        )  # fmt: skip
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise LaunchError(
            f"can't open file {path!r}: [Errno {error.errno}] {error.strerror}"
        ) from None
    engine = _Engine(runtime, detect, _absolute(cache_root), rewrite)
    try:
        code = engine.code(path, data)
    except Exception as error:  # the user's syntax error: python reports it the same way
        _report(error)
        return 1
    main = _main_module()
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__file__ = path
    main.__cached__ = None
    main.__tracelet__ = runtime
    root = os.path.dirname(os.path.realpath(path))
    with _Process([given, *argv], root, main, restore), _Hook(engine, root, ()):
        return _execute(exec, code, main.__dict__)


def run_module(
    name: str,
    argv: Sequence[str],
    runtime: object,
    detect: Detect = Detect(),
    cache_root: Path = ROOT,
    *,
    rewrite: bool = True,
    restore: bool = True,
) -> int:
    """Run module `name` as `python -m name *argv` would, and return its exit status.

    A package runs its `__main__` submodule. The module is rewritten wherever it is found;
    the project root for the import hook is the working directory. A module that cannot
    be found gives python's own message and status 1, as `python -m` does.
    """
    cwd = os.getcwd()
    return _run_main_module(
        name, ["-m", *argv], cwd, cwd, True, runtime, detect, cache_root, rewrite, restore
    )


def _run_main_module(
    name: str,
    argv: list[str],
    path0: str,
    root: str,
    alter_argv: bool,
    runtime: object,
    detect: Detect,
    cache_root: Path,
    rewrite: bool,
    restore: bool,
) -> int:
    import runpy

    engine = _Engine(runtime, detect, _absolute(cache_root), rewrite)
    main = _main_module()
    main.__tracelet__ = runtime
    force = (name, f"{name}.__main__") if alter_argv else (name,)
    # runpy._run_module_as_main is what `python -m` and `python DIRECTORY` call: same spec
    # lookup, same `__main__` attributes, same messages, same traceback frames
    process = _Process(argv, path0, main, restore, always=not alter_argv)
    with process, _Hook(engine, root, force):
        return _execute(runpy._run_module_as_main, name, alter_argv)


def _main_module() -> types.ModuleType:
    """A module laid out as python's own `__main__` is before the script runs."""
    main = types.ModuleType("__main__")
    main.__annotations__ = {}
    main.__builtins__ = builtins
    return main


class _Process:
    """Give the process the `argv`, `sys.path[0]` and `__main__` of the script; maybe undo it."""

    def __init__(
        self,
        argv: list[str],
        path0: str,
        main: types.ModuleType,
        restore: bool,
        always: bool = False,
    ) -> None:
        self.argv, self.path0, self.main, self.restore = argv, path0, main, restore
        self.always = always  # a directory or zip archive is put on sys.path even with -P

    def __enter__(self) -> None:
        self.saved = (sys.argv, sys.path[:], sys.modules.get("__main__"))
        sys.argv = self.argv
        if self.always or not sys.flags.safe_path:
            if sys.path:  # replaces tracelet's own entry (the working directory or bin/)
                sys.path[0] = self.path0
            else:
                sys.path.append(self.path0)
        sys.modules["__main__"] = self.main

    def __exit__(self, *exc_info: object) -> None:
        if not self.restore:
            return
        sys.argv, sys.path[:], main = self.saved
        if main is None:
            sys.modules.pop("__main__", None)
        else:
            sys.modules["__main__"] = main


def _execute(function: object, *args: object) -> int:
    """Call `function(*args)` (the script's code) and turn its ending into an exit status."""
    try:
        function(*args)  # type: ignore[operator]
    except SystemExit as exit:
        return _exit_status(exit.code)
    except BaseException as error:  # what python reports as uncaught
        _report(error)
        return INTERRUPTED if isinstance(error, KeyboardInterrupt) else 1
    return 0


def _exit_status(code: object) -> int:
    """The status python gives a `SystemExit` with this code."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    stream = sys.stderr
    if stream is not None:  # python writes str(code) and a newline
        try:
            stream.write(f"{code}\n")
            stream.flush()
        except Exception:
            pass
    return 1


_OWN_FILE = _exit_status.__code__.co_filename


def _report(error: BaseException) -> None:
    """Print `error` as python prints an uncaught exception, without this module's frames."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _OWN_FILE:
        tb = tb.tb_next
    error.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(error), error, tb
    hook = getattr(sys, "excepthook", None) or sys.__excepthook__
    try:
        hook(type(error), error, tb)
    except BaseException as failure:  # python's own words for a failing excepthook
        sys.stderr.write("Error in sys.excepthook:\n")
        sys.__excepthook__(type(failure), failure, failure.__traceback__)
        sys.stderr.write("\nOriginal exception was:\n")
        sys.__excepthook__(type(error), error, tb)


def _has_importer(path: str) -> bool:
    """Python runs a path that an import hook accepts (a directory, a zip) as a package."""
    if os.path.isdir(path):
        return True
    for hook in sys.path_hooks:
        try:
            hook(path)
        except ImportError:
            continue
        return True
    return False


def _absolute(path: Path) -> Path:
    """The cache folder, fixed now (the script may change the working directory)."""
    return path if path.is_absolute() else Path(os.getcwd(), path)


class _Engine:
    """Code for a file: its rewrite (cached), else its original source with one warning."""

    def __init__(self, runtime: object, detect: Detect, cache_root: Path, rewrite: bool) -> None:
        self.runtime, self.detect, self.cache_root = runtime, detect, cache_root
        self.rewrite = rewrite
        self.warned: set[str] = set()

    def code(self, filename: str, data: bytes) -> types.CodeType:
        """Raise only what compiling the original raises (the user's own syntax error)."""
        failure: Exception | None = None
        if self.rewrite and data.strip():
            try:  # the filename exactly as python spells it (a Path drops a leading "./")
                return compiled_rewrite(filename, data, self.detect, self.cache_root)
            except Exception as error:  # invariant 3: never break the script
                failure = error
        code = compile(data, filename, "exec", dont_inherit=True)
        if failure is not None and filename not in self.warned:
            self.warned.add(filename)
            _warn(f"{filename} runs without capture: the rewrite failed ({_describe(failure)})")
        return code


def _describe(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _warn(message: str) -> None:
    with contextlib.suppress(Exception):
        sys.stderr.write(f"tracelet: warning: {message}\n")


class _Hook:
    """Put a `ProjectFinder` first on `sys.meta_path` for the run; take it off after."""

    def __init__(self, engine: _Engine, root: str, force: Sequence[str]) -> None:
        self.finder = ProjectFinder(root, engine, force) if engine.rewrite else None

    def __enter__(self) -> None:
        if self.finder is not None:
            sys.meta_path.insert(0, self.finder)

    def __exit__(self, *exc_info: object) -> None:
        if self.finder is not None:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self.finder)


class ProjectFinder:
    """A meta path finder that rewrites the user's own modules as they are imported.

    It accepts what `PathFinder` finds when that is a plain source file under the project
    root and not under the standard library, a site-packages directory or tracelet; the
    modules named in `force` (the `-m` target) are rewritten wherever they are. Builtin
    and frozen modules, and submodules of packages outside the project, are declined
    before any file system access.
    """

    def __init__(self, root: str, engine: _Engine, force: Sequence[str] = ()) -> None:
        absolute = os.path.join(os.path.abspath(root), "")
        real = os.path.join(os.path.realpath(root), "")
        self.roots = (absolute,) if absolute == real else (absolute, real)
        self.engine = engine
        self.force = frozenset(force)
        self.excluded = _excluded_prefixes(self.roots)

    def _ours(self, path: str) -> bool:
        """Whether a file or directory belongs to the project."""
        if path.startswith(self.excluded):
            return False
        for root in self.roots:
            if path.startswith(root):
                parts = path[len(root) :].split(os.sep)
                return "site-packages" not in parts and "dist-packages" not in parts
        return False

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        forced = fullname in self.force
        if not forced:
            if path is None:
                if fullname in sys.builtin_module_names or _imp.is_frozen(fullname):
                    return None
            elif not any(isinstance(entry, str) and self._ours(entry) for entry in path):
                return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not SourceFileLoader or not spec.origin:
            return None
        origin = spec.origin
        if not forced and not self._ours(origin):
            return None
        try:
            with open(origin, "rb") as stream:
                data = stream.read()
            code = self.engine.code(origin, data)
        except Exception:  # unreadable, or the user's syntax error: python's import says so
            return None
        spec.loader = _RewrittenLoader(fullname, origin, code, self.engine.runtime)
        return spec

    def invalidate_caches(self) -> None:
        return None


class _RewrittenLoader(SourceFileLoader):
    """Loads a module from its compiled rewrite; writes no bytecode to `__pycache__`.

    `create_module` puts `__tracelet__` into the module before its code runs, and the
    inherited `exec_module` runs the code through importlib's frame-removing call, so
    the traceback of an error raised while importing is python's own.
    """

    def __init__(self, fullname: str, path: str, code: types.CodeType, runtime: object) -> None:
        super().__init__(fullname, path)
        self._code, self._runtime = code, runtime

    def create_module(self, spec: ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__tracelet__ = self._runtime  # type: ignore[attr-defined]
        return module

    def get_code(self, fullname: str) -> types.CodeType:
        return self._code


def _excluded_prefixes(roots: tuple[str, ...]) -> tuple[str, ...]:
    """The standard library, site-packages, the virtual environment and tracelet itself."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    found = [paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    found.append(_PACKAGE_DIR.rstrip(os.sep))
    try:
        found.extend(site.getsitepackages())
        found.append(site.getusersitepackages())
    except AttributeError:  # an old virtualenv's site module
        pass
    if sys.prefix != sys.base_prefix:  # a virtual environment, e.g. .venv inside the project
        found.append(sys.prefix)
    prefixes = set()
    for entry in found:
        if not entry:
            continue
        for spelling in {os.path.abspath(entry), os.path.realpath(entry)}:
            prefix = os.path.join(spelling, "")
            if not any(root.startswith(prefix) for root in roots):  # a project inside /usr...
                prefixes.add(prefix)
    return tuple(sorted(prefixes))
