"""What the benchmarks share: a corpus of parseable files and a timer."""

from __future__ import annotations

import ast
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracelet.transforms.source import Source, SourceError, read_source  # noqa: E402


def default_corpus() -> Path:
    """The installed scikit-learn, else the standard library's json package."""
    try:
        import sklearn

        return Path(sklearn.__file__).parent
    except ImportError:
        return Path(ast.__file__).parent / "json"


def corpus(root: Path) -> list[Source]:
    """Every file under `root` that Python 3.11 parses."""
    sources = []
    for path in sorted(root.rglob("*.py")):
        try:
            source = read_source(path)
            ast.parse(source.text)
        except (SourceError, SyntaxError, ValueError):
            continue
        sources.append(source)
    return sources


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best(fn: Callable[[], object], repeat: int) -> float:
    return min(timed(fn) for _ in range(repeat))
