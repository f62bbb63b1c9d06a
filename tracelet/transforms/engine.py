"""Source in, sites and rewritten source out: the one pipeline every command uses."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import libcst as cst

from tracelet.transforms.inject import Rewrite, rewrite, strip_injected
from tracelet.transforms.options import Detect
from tracelet.transforms.sites import Analysis, Site, analyze
from tracelet.transforms.source import Source, SourceError, syntax_error

__all__ = ["Analysis", "Detect", "Result", "Site", "SourceError", "transform"]

# Long implicit string concatenations nest one level per string (pydoc_data/topics.py).
DEEP_NESTING = 20_000


@dataclass(frozen=True, slots=True)
class Result:
    source: Source
    original: str  # the source without earlier injections
    analysis: Analysis
    rewrite: Rewrite

    @property
    def changed(self) -> bool:
        return self.rewrite.source != self.source.text


def transform(source: Source, detect: Detect = Detect()) -> Result:
    """Detect the sites of one source and rewrite it to capture them."""
    original = strip_injected(source.text)
    try:
        module = cst.parse_module(original)
    except cst.ParserSyntaxError as error:
        message = error.message.splitlines()[0] if error.message else "invalid syntax"
        fallback = SourceError(
            source.file, f"syntax error: {message}", error.raw_line, error.raw_column + 1
        )
        raise syntax_error(source, fallback) from None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, DEEP_NESTING))  # libcst visits recursively
    try:
        analysis = analyze(module, original, source.file, detect)
    except RecursionError:
        raise SourceError(source.file, "too deeply nested to analyse") from None
    finally:
        sys.setrecursionlimit(limit)
    return Result(source, original, analysis, rewrite(original, analysis.edits))
