"""Round trip over ~1.9 million lines: the standard library, installed torch and scikit-learn.

For every file: the rewrite compiles; stripping the injected calls from the tree
`tracelet run` compiles gives the original AST with every line and column; and
stripping the injected text gives the source back exactly, which with a
deterministic engine makes a second rewrite equal to the first (the fixtures and
test_inject check that directly). Chunks run in parallel under pytest-xdist.
"""

from __future__ import annotations

import ast
import importlib.util
import sysconfig
from pathlib import Path

import pytest

from tests.support import dump, stripped
from tracelet.transforms.engine import transform
from tracelet.transforms.inject import code_tree, strip_injected
from tracelet.transforms.source import SourceError, read_source

CHUNK = 40
SKIP_PARTS = {"test", "tests", "idle_test", "site-packages", "__pycache__"}


def _package_root(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def _corpus() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in stdlib.rglob("*.py") if not SKIP_PARTS & set(p.relative_to(stdlib).parts)]
    for name in ("torch", "sklearn"):
        root = _package_root(name)
        if root is not None:
            files.extend(root.rglob("*.py"))
    return sorted(files)


FILES = _corpus()
CHUNKS = [FILES[i : i + CHUNK] for i in range(0, len(FILES), CHUNK)]


def _check(path: Path) -> str | None:
    try:
        source = read_source(path)
        original = ast.parse(source.text)
    except (SourceError, SyntaxError, ValueError):
        return None  # not Python 3.11 source (test data, Python 2 files): nothing to rewrite
    result = transform(source)
    tree = code_tree(result.rewrite, str(path))
    compile(tree, str(path), "exec")
    if dump(stripped(tree)) != dump(original):
        return f"{path}: positions or structure changed"
    if strip_injected(result.rewrite.source) != source.text:
        return f"{path}: stripping the injections does not give the source back"
    return None


def test_corpus_is_large() -> None:
    assert len(FILES) > 3000


@pytest.mark.parametrize(
    "chunk", CHUNKS, ids=[f"{c[0].parent.name}-{i}" for i, c in enumerate(CHUNKS)]
)
def test_round_trip(chunk: list[Path]) -> None:
    problems = [problem for path in chunk if (problem := _check(path))]
    assert problems == []
