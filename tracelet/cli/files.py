"""Find the Python files named on a command line and run the engine over them, in parallel."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tracelet.transforms.options import Detect
from tracelet.transforms.source import SourceError, read_source

if TYPE_CHECKING:
    from tracelet.transforms.engine import Result

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".venv", "venv", ".tox", ".nox", "__pycache__", "build", "dist",
    "node_modules", "site-packages", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    ".tracelet", ".tracelet_cache", "*.egg-info",
)  # fmt: skip
POOL_THRESHOLD = 8  # fewer files than this are faster in one process


@dataclass(frozen=True, slots=True)
class Target:
    path: Path
    file: str  # the name shown: as given, or joined under the directory given
    explicit: bool  # named on the command line (an empty file there is an error)


def discover(
    paths: Iterable[str], excludes: Iterable[str] = (), anchor: Path | None = None
) -> tuple[list[Target], list[SourceError]]:
    """Expand directories into their `.py` files; report missing paths and empty directories.

    `excludes` apply to directory walks only (a file named on the command line is always read);
    patterns with a `/` are relative to `anchor`, the folder of the pyproject.toml they come from.
    """
    patterns = tuple(_normalized(p) for p in (*DEFAULT_EXCLUDES, *excludes))
    anchor = Path(os.path.abspath(anchor or Path.cwd()))
    targets: list[Target] = []
    errors: list[SourceError] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = [
                Target(p, os.path.join(given, p.relative_to(path).as_posix()), False)
                for p in _walk(path, patterns, anchor)
            ]
            if not found:
                errors.append(SourceError(given, "no Python files found"))
            targets.extend(found)
        elif path.exists() or path.is_symlink():
            targets.append(Target(path, given, True))
        else:
            errors.append(SourceError(given, "no such file or directory"))
    return targets, errors


def _walk(root: Path, patterns: tuple[str, ...], anchor: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _excluded(base / d, patterns, anchor))
        for name in sorted(files):
            path = base / name
            if name.endswith(".py") and not _excluded(path, patterns, anchor):
                found.append(path)
    return found


def _normalized(pattern: str) -> str:
    return pattern.strip().removeprefix("./").rstrip("/")


def _excluded(path: Path, patterns: tuple[str, ...], anchor: Path) -> bool:
    """Like .gitignore: a pattern without `/` matches a file or folder name at any depth
    (`*_generated.py`, `.venv`); one with `/` matches the path under `anchor`
    (`experiments/old`, `src/legacy/*.py`)."""
    relative = ""
    for pattern in patterns:
        if "/" not in pattern:
            if fnmatch.fnmatch(path.name, pattern):
                return True
            continue
        relative = relative or Path(os.path.relpath(os.path.abspath(path), anchor)).as_posix()
        if fnmatch.fnmatch(relative, pattern):
            return True
    return False


def process(target: Target, detect: Detect) -> Result | SourceError | None:
    """One file through the engine; None for an empty file found under a directory."""
    from tracelet.transforms.engine import transform  # libcst: only when files are read

    try:
        return transform(read_source(target.path, target.file), detect)
    except SourceError as error:
        if error.message == "file is empty" and not target.explicit:
            return None
        return error


def process_all(
    targets: list[Target], detect: Detect, jobs: int | None = None
) -> Iterator[Result | SourceError]:
    """Engine results in the order of `targets`."""
    results = in_parallel(process, targets, detect, jobs=jobs)
    yield from (result for result in results if result is not None)


def in_parallel(
    work: Callable[..., R], items: Sequence[T], *shared: object, jobs: int | None = None
) -> Iterator[R]:
    """`work(item, *shared)` for each item, in order; a process pool when there are many."""
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(items) < POOL_THRESHOLD:
        yield from (work(item, *shared) for item in items)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        chunk = max(1, len(items) // (jobs * 8))
        columns = [[value] * len(items) for value in shared]
        yield from pool.map(work, items, *columns, chunksize=chunk)
