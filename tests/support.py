"""Shared test helpers: run the engine on a snippet, and undo injections at the AST level."""

from __future__ import annotations

import ast
import textwrap
import types

from tracelet.transforms.engine import Result, transform
from tracelet.transforms.inject import is_injected_statement, wrapped_value
from tracelet.transforms.options import Detect
from tracelet.transforms.source import Source


def run_engine(code: str, detect: Detect = Detect(), file: str = "snippet.py") -> Result:
    return transform(Source(file, textwrap.dedent(code), "utf-8"), detect)


class StripInjected(ast.NodeTransformer):
    """Remove injected statements and unwrap wrappers: what remains is the original."""

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if is_injected_statement(node):
            return None
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        inner = wrapped_value(node)
        if inner is not None:
            return self.visit(inner)
        return self.generic_visit(node)


def dump(tree: ast.AST, columns: bool = True) -> str:
    if not columns:
        for node in ast.walk(tree):
            if hasattr(node, "col_offset"):
                node.col_offset = node.end_col_offset = 0
    return ast.dump(tree, include_attributes=True)


def stripped(tree: ast.AST) -> ast.AST:
    return StripInjected().visit(tree)


def fake_runtime(log: list[tuple]) -> types.SimpleNamespace:
    """Stands in for the runtime's capture entry points: records what the injected calls pass."""

    def args(scope: str, /, **values: object):
        log.append(("args", scope, values))
        return lambda value: value

    def mapping(prefix: str, obj: object) -> object:
        log.append(("mapping", prefix, obj))
        return obj

    def param(name: str, value: object, scope: str = "") -> None:
        log.append(("param", name, value, scope))

    return types.SimpleNamespace(args=args, mapping=mapping, param=param)
