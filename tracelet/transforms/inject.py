"""Apply capture edits to source text, keeping every original line (and, for the run path, column).

Edits are insertions only. Most go after the last statement of a line, which
shifts nothing; a few must go before a statement or around an expression on its
line (a function's argument capture, an unbound `parse_args()`), which shifts
the rest of that line. `Rewrite.shifts` remembers those insertions so that
`code_tree` can give every original node its original column back before the
code is compiled: tracebacks, carets and pdb stay the user's own.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tracelet.transforms.sites import RUNTIME, Edit

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split the way Python's tokenizer splits them."""
    return _LINE.findall(text)


@dataclass(frozen=True, slots=True)
class Rewrite:
    source: str
    # line -> inserted spans on that line, as (column in the new text, length), in characters
    shifts: dict[int, tuple[tuple[int, int], ...]]

    @property
    def changed(self) -> bool:
        return bool(self.shifts)


def rewrite(source: str, edits: Iterable[Edit]) -> Rewrite:
    """Insert every edit's text; edits at one position keep their order."""
    by_line: dict[int, list[Edit]] = defaultdict(list)
    for edit in edits:
        by_line[edit.line].append(edit)
    if not by_line:
        return Rewrite(source, {})
    lines = split_lines(source)
    shifts: dict[int, tuple[tuple[int, int], ...]] = {}
    for number, line_edits in by_line.items():
        text = lines[number - 1]
        pieces: list[str] = []
        spans: list[tuple[int, int]] = []
        cursor = written = 0
        for edit in sorted(line_edits, key=lambda e: e.col):
            pieces.append(text[cursor : edit.col])
            written += edit.col - cursor
            spans.append((written, len(edit.text)))
            pieces.append(edit.text)
            written += len(edit.text)
            cursor = edit.col
        pieces.append(text[cursor:])
        lines[number - 1] = "".join(pieces)
        shifts[number] = tuple(spans)
    return Rewrite("".join(lines), shifts)


def code_tree(result: Rewrite, filename: str) -> ast.Module:
    """Parse rewritten source into the tree to compile, with original positions restored."""
    tree = ast.parse(result.source, filename)
    if not result.shifts:
        return tree
    lines = split_lines(result.source)
    byte_spans: dict[int, list[tuple[int, int]]] = {}
    for number, spans in result.shifts.items():
        text = lines[number - 1]
        byte_spans[number] = [
            (len(text[:col].encode()), len(text[col : col + length].encode()))
            for col, length in spans
        ]

    def original(line: int, offset: int) -> int:
        """Take out the inserted bytes before `offset`; inside an insertion, its start."""
        shift = 0
        for start, length in byte_spans.get(line, ()):
            if start + length <= offset:
                shift += length
            elif start < offset:
                shift += offset - start
        return offset - shift

    for node in ast.walk(tree):
        if "lineno" not in node._attributes or not hasattr(node, "lineno"):
            continue
        node.col_offset = original(node.lineno, node.col_offset)
        if getattr(node, "end_lineno", None) is not None:
            node.end_col_offset = original(node.end_lineno, node.end_col_offset)
    return tree


def _is_runtime_call(node: ast.AST, method: str | None = None) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == RUNTIME
        and (method is None or node.func.attr == method)
    )


def wrapped_value(node: ast.AST) -> ast.expr | None:
    """The original expression inside an injected wrapper, or None if `node` is not one."""
    if not isinstance(node, ast.Call):
        return None
    if _is_runtime_call(node.func, "args") and len(node.args) == 1:  # args(...)(x)
        return node.args[0]
    if _is_runtime_call(node, "mapping") and len(node.args) == 2:  # mapping("", x)
        return node.args[1]
    return None


def is_injected_statement(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and _is_runtime_call(node.value)


def strip_injected(source: str) -> str:
    """Remove what an earlier rewrite injected, so that rewriting is idempotent."""
    while RUNTIME in source:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return source
        offset = _offset_finder(source)
        cuts: list[tuple[int, int, str]] = []
        for node in ast.walk(tree):
            if is_injected_statement(node):
                begin = offset(node.lineno, node.col_offset)
                end = offset(node.end_lineno, node.end_col_offset)
                if source[begin - 2 : begin] == "; ":
                    cuts.append((begin - 2, end, ""))
                elif source[end : end + 2] == "; ":
                    cuts.append((begin, end + 2, ""))
            elif (inner := wrapped_value(node)) is not None:
                keep = source[
                    offset(inner.lineno, inner.col_offset) : offset(
                        inner.end_lineno, inner.end_col_offset
                    )
                ]
                cuts.append(
                    (
                        offset(node.lineno, node.col_offset),
                        offset(node.end_lineno, node.end_col_offset),
                        keep,
                    )
                )
        cuts = _outermost(cuts)
        if not cuts:
            return source
        for begin, end, keep in sorted(cuts, reverse=True):
            source = source[:begin] + keep + source[end:]
    return source


def _offset_finder(source: str) -> Callable[[int, int], int]:
    """Map an ast (line, byte column) to an index into `source`."""
    lines = split_lines(source)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + len(lines[line - 1].encode()[:col].decode(errors="replace"))

    return offset


def _outermost(cuts: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop cuts nested in another cut; the next round of stripping takes them."""
    kept: list[tuple[int, int, str]] = []
    for cut in sorted(cuts, key=lambda c: (c[0], -c[1])):
        if kept and cut[0] < kept[-1][1]:
            continue
        kept.append(cut)
    return kept
