"""The rewrite keeps lines and columns, compiles, is idempotent, captures the right values."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from tests.support import dump, fake_runtime, stripped
from tracelet.transforms.engine import transform
from tracelet.transforms.inject import code_tree, strip_injected
from tracelet.transforms.source import Source, decode_source

CASES = {
    "module_block": """
        learning_rate = 3e-4
        batch_size = 64  # a comment stays last
    """,
    "multi_line_statement": """
        params = {
            "max_depth": 6,
            "eta": 0.3,
        }
        hidden_sizes = [
            256,
            128,
        ]
    """,
    "walrus": """
        if (n_layers := 4) > 2:
            pass
    """,
    "compound_headers": """
        for lr in [0.1, 0.01]:
            pass
        with open(__file__) as handle:
            dropout = 0.1
        try:
            momentum = 0.9
        except Exception as error:
            momentum = 0.5
    """,
    "several_on_one_line": """
        batch_size = 32; seed = 0; print(batch_size)
    """,
    "trailing_semicolon": """
        epochs = 3;
    """,
    "attribute_and_subscript_targets": """
        class Cfg: pass
        cfg = Cfg(); opts = {}
        cfg.lr = 0.1
        opts["dropout"] = 0.2
    """,
    "bare_annotation": """
        epochs: int
        momentum: float = 0.9
    """,
    "docstring_and_future_first": '''
        """Module docstring."""
        from __future__ import annotations
        learning_rate = 0.01
    ''',
    "function_arguments": '''
        def with_docstring(lr=0.1, epochs=3):
            """Doc."""
            return lr

        def simple_first(dropout=0.5):
            x = dropout * 2
            return x

        def compound_first(lr=0.1, epochs=2):
            for _ in range(epochs):
                pass
            return lr

        def try_first(momentum=0.9):
            try:
                return momentum
            finally:
                pass

        def one_line(alpha=0.5): return alpha

        class Model:
            def __init__(self, hidden_dim=128, dropout=0.1):
                self.hidden_dim = hidden_dim

        with_docstring(); simple_first(); compound_first(); try_first(); one_line(); Model()
    ''',
    "return_and_keywords": """
        def make(optim):
            return optim.SGD([], lr=0.1, momentum=0.9)
    """,
    "argparse": """
        import argparse
        def get_args(argv=()):
            parser = argparse.ArgumentParser()
            parser.add_argument("--learning-rate", type=float, default=0.01)
            return parser.parse_args(argv)
        args = get_args()
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=3)
        other, rest = parser.parse_known_args([])
    """,
    "config_class": """
        from dataclasses import dataclass, field
        @dataclass
        class TrainConfig:
            lr: float = 1e-3
            epochs: int = field(default=10)
            tags: list = field(default_factory=list)
    """,
    "unicode_before_insertion": """
        def f(lr=0.1):
            note = "entraînement"; print(note) if False else None
            return lr
        f()
    """,
}


def _check_invariants(code: str) -> None:
    source = Source("case.py", code, "utf-8")
    result = transform(source)
    original = ast.parse(code)
    # The code `tracelet run` compiles: every original node keeps its line and column.
    tree = code_tree(result.rewrite, "case.py")
    compile(tree, "case.py", "exec")
    assert dump(stripped(tree)) == dump(original)
    # The text `instrument --write` writes: every original line stays put.
    assert dump(stripped(ast.parse(result.rewrite.source)), columns=False) == dump(
        ast.parse(code), columns=False
    )
    # Idempotent: stripping restores the source exactly, and a second rewrite changes nothing.
    assert strip_injected(result.rewrite.source) == code
    again = transform(Source("case.py", result.rewrite.source, "utf-8"))
    assert again.rewrite.source == result.rewrite.source


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewrite_keeps_positions_and_is_idempotent(name: str) -> None:
    _check_invariants(textwrap.dedent(CASES[name]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewritten_code_runs_like_the_original(name: str) -> None:
    code = textwrap.dedent(CASES[name])
    result = transform(Source("case.py", code, "utf-8"))
    log: list[tuple] = []
    namespace = {"__name__": __name__, "__file__": __file__, "__tracelet__": fake_runtime(log)}
    exec(compile(code_tree(result.rewrite, "case.py"), "case.py", "exec"), namespace)
    plain: dict = {"__name__": __name__, "__file__": __file__}
    exec(compile(code, "case.py", "exec"), plain)
    visible = {k for k in plain if not k.startswith("__")}
    assert {k for k in namespace if not k.startswith("__")} == visible


def test_captured_values_are_the_values_in_effect() -> None:
    code = textwrap.dedent(CASES["function_arguments"])
    result = transform(Source("case.py", code, "utf-8"))
    log: list[tuple] = []
    exec(compile(code_tree(result.rewrite, "case.py"), "case.py", "exec"),
         {"__tracelet__": fake_runtime(log)})  # fmt: skip
    captured = {(entry[1], tuple(sorted(entry[2].items()))) for entry in log}
    assert captured == {
        ("with_docstring", (("epochs", 3), ("lr", 0.1))),
        ("simple_first", (("dropout", 0.5),)),
        ("compound_first", (("epochs", 2), ("lr", 0.1))),
        ("try_first", (("momentum", 0.9),)),
        ("one_line", (("alpha", 0.5),)),
        ("Model.__init__", (("dropout", 0.1), ("hidden_dim", 128))),
    }


def test_argparse_namespaces_are_captured_where_bound_or_returned() -> None:
    code = textwrap.dedent(CASES["argparse"])
    result = transform(Source("case.py", code, "utf-8"))
    log: list[tuple] = []
    exec(compile(code_tree(result.rewrite, "case.py"), "case.py", "exec"),
         {"__tracelet__": fake_runtime(log)})  # fmt: skip
    namespaces = [entry[2] for entry in log if entry[0] == "mapping"]
    assert [vars(ns) for ns in namespaces[:1]] == [{"learning_rate": 0.01}]
    assert vars(namespaces[1]) == {"epochs": 3}  # parse_known_args binds (namespace, rest)


def test_coding_cookie_and_crlf_round_trip_byte_for_byte() -> None:
    text = (
        "# -*- coding: latin-1 -*-\r\n# caf\xe9\r\nlearning_rate = 0.1\r\nnote = 'd\xe9j\xe0'\r\n"
    )
    data = text.encode("latin-1")
    source = decode_source(data, "latin.py")
    assert source.encoding == "iso-8859-1"
    result = transform(source)
    out = source.encode(result.rewrite.source)
    assert out.count(b"\r\n") == data.count(b"\r\n")
    assert b'learning_rate = 0.1; __tracelet__.param("learning_rate", learning_rate)\r\n' in out
    assert source.encode(strip_injected(result.rewrite.source)) == data


def test_traceback_is_byte_identical(tmp_path) -> None:
    """3.11 carets included: the error is on a line whose columns were shifted."""
    script = tmp_path / "boom.py"
    script.write_text(
        textwrap.dedent("""
        def train(lr=0.1, epochs=2):
            scale = {"a": 1}["b"] + lr
            return scale
        train()
        """)
    )
    runner = tmp_path / "runner.py"
    runner.write_text(
        textwrap.dedent("""
        import sys, types
        from tracelet.transforms.engine import transform
        from tracelet.transforms.inject import code_tree
        from tracelet.transforms.source import read_source
        from pathlib import Path
        path = Path(sys.argv[1])
        result = transform(read_source(path))
        runtime = types.SimpleNamespace(args=lambda scope, /, **kw: (lambda x: x))
        code = compile(code_tree(result.rewrite, str(path)), str(path), "exec")
        exec(code, {"__name__": "__main__", "__tracelet__": runtime})
        """)
    )
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    rewritten = subprocess.run(
        [sys.executable, str(runner), str(script)], capture_output=True, text=True
    )
    assert "\n".join(rewritten.stderr.splitlines()[3:]) == "\n".join(plain.stderr.splitlines()[1:])
    assert "~~~~~~~~^^^^^" in plain.stderr
