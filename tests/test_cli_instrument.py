"""`tracelet instrument`, run as a user runs it: a real subprocess in a scratch directory.

Output formats (--json, --diff, --explain), in-place rewriting (--write, --check), and the
promise of DESIGN.md for bad input: one clear line on stderr naming the file, exit 2, never a
traceback.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TRAIN = """\
import argparse

learning_rate = 3e-4
batch_size = 32
i = 0


def train(model, momentum=0.9):
    for step in range(10):
        pass
"""
JSON_KEYS = ["file", "name", "line", "col", "kind", "score", "reasons", "value"]


# ---------------------------------------------------------------- helpers


def run_tracelet(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m tracelet ARGS` in `cwd`, with a clean environment (no TRACELET_*, no colour)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRACELET_")
        and k not in {"FORCE_COLOR", "NO_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "COLUMNS"}
    }
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), clean.get("PYTHONPATH")]))
    clean["COLUMNS"] = "200"  # keep --explain rows on one line each
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tracelet", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO read by mistake would block forever
    )


def instrument(cwd: Path, *args: str, **kw: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_tracelet(cwd, "instrument", *args, **kw)


def write(folder: Path, name: str, content: str | bytes = TRAIN) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The run failed as bad input should: exit 2, no traceback, exactly one line on stderr."""
    no_traceback(proc)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def json_records(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    no_traceback(proc)
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- --json


def test_json_records_have_exactly_the_documented_keys_and_positions(tmp_path: Path) -> None:
    write(tmp_path, "train.py")
    proc = instrument(tmp_path, "--json", "train.py")
    assert proc.returncode == 0, proc.stderr
    records = json_records(proc)
    assert {r["name"] for r in records} == {"learning_rate", "batch_size", "momentum"}
    source_lines = TRAIN.splitlines()
    for record in records:
        assert list(record) == JSON_KEYS
        assert record["file"] == "train.py"
        assert isinstance(record["line"], int) and isinstance(record["col"], int)
        # 1-based line and column: the name starts exactly there
        assert source_lines[record["line"] - 1][record["col"] - 1 :].startswith(record["name"])
        assert isinstance(record["score"], int | float) and 0 < record["score"] <= 1
        assert record["reasons"] and all(isinstance(r, str) for r in record["reasons"])
        assert isinstance(record["kind"], str) and isinstance(record["value"], str)
    first = next(r for r in records if r["name"] == "learning_rate")
    assert (first["line"], first["col"], first["value"]) == (3, 1, "3e-4")


@pytest.mark.parametrize("given", ["src", "src/", "./src"])
def test_json_file_is_joined_under_the_directory_given(tmp_path: Path, given: str) -> None:
    write(tmp_path, "src/pkg/train.py")
    records = json_records(instrument(tmp_path, "--json", given))
    assert {r["file"] for r in records} == {os.path.join(given, "pkg/train.py")}


def test_json_lists_files_in_command_line_order(tmp_path: Path) -> None:
    write(tmp_path, "b.py", "learning_rate = 0.1\n")
    write(tmp_path, "a.py", "batch_size = 64\n")
    records = json_records(instrument(tmp_path, "--json", "b.py", "a.py"))
    assert [(r["file"], r["name"]) for r in records] == [
        ("b.py", "learning_rate"),
        ("a.py", "batch_size"),
    ]


def test_summary_prints_names_and_values_literally(tmp_path: Path) -> None:
    write(tmp_path, "train.py", 'learning_rate = 0.1\noptimizer_name = "[bold]:thumbs_up:"\n')
    proc = instrument(tmp_path, "train.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "train.py:1:1: learning_rate = 0.1  (assign)",
        'train.py:2:1: optimizer_name = "[bold]:thumbs_up:"  (assign)',
    ]


# ---------------------------------------------------------------- --diff and --explain


def test_diff_is_a_plain_unified_diff_when_not_a_tty(tmp_path: Path) -> None:
    path = write(tmp_path, "train.py")
    proc = instrument(tmp_path, "--diff", "train.py")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout  # no colour codes in a pipe
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["--- a/train.py", "+++ b/train.py"]
    assert lines[2].startswith("@@ ")
    added = [line[1:] for line in lines[3:] if line.startswith("+")]
    removed = [line[1:] for line in lines[3:] if line.startswith("-")]
    assert added and all("__tracelet__" in line for line in added)
    assert removed and all(line in TRAIN.splitlines() for line in removed)
    assert path.read_text() == TRAIN  # --diff only shows


def test_diff_is_coloured_only_when_forced(tmp_path: Path) -> None:
    """The counterpart of the test above: colour exists, so its absence in a pipe is meaningful."""
    write(tmp_path, "train.py")
    proc = instrument(tmp_path, "--diff", "train.py", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in proc.stdout


def test_explain_lists_accepted_names_and_rejected_candidates_with_a_reason(
    tmp_path: Path,
) -> None:
    write(tmp_path, "train.py")
    proc = instrument(tmp_path, "--explain", "train.py")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    for name in ("learning_rate", "batch_size", "momentum"):
        row = next(line for line in proc.stdout.splitlines() if f" {name} " in line)
        assert "rejected" not in row
        assert "name used for hyperparameters" in row
    rejected = [line for line in proc.stdout.splitlines() if "rejected" in line]
    assert any(re.search(r"\bi\b.*rejected: \w+", line) for line in rejected), proc.stdout
    assert any(re.search(r"\bstep\b.*rejected: \w+", line) for line in rejected), proc.stdout


# ---------------------------------------------------------------- --write and --check


def test_write_rewrites_in_place_keeping_lines_and_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "train.py")
    path.chmod(0o640)
    proc = instrument(tmp_path, "--write", "train.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "rewrote train.py"
    text = path.read_text()
    assert text != TRAIN and "__tracelet__" in text
    assert len(text.splitlines()) == len(TRAIN.splitlines())
    ast.parse(text)
    assert path.stat().st_mode & 0o7777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]  # no temporary file left

    again = instrument(tmp_path, "--write", "train.py")
    assert again.returncode == 0 and again.stderr == ""
    assert path.read_text() == text


def test_check_exits_1_when_a_file_would_change_and_0_after_write(tmp_path: Path) -> None:
    path = write(tmp_path, "train.py")
    before = instrument(tmp_path, "--check", "train.py")
    assert before.returncode == 1, before.stderr
    assert before.stderr.strip() == "would rewrite train.py"
    assert path.read_text() == TRAIN
    assert instrument(tmp_path, "--write", "train.py").returncode == 0
    after = instrument(tmp_path, "--check", "train.py")
    assert (after.returncode, after.stderr) == (0, "")


def test_write_through_a_symlink_rewrites_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = write(tmp_path, "real/train.py")
    link = tmp_path / "train.py"
    link.symlink_to(target)
    assert instrument(tmp_path, "--write", "train.py").returncode == 0
    assert link.is_symlink()
    assert "__tracelet__" in target.read_text()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`chattr +i`: not even root may replace the file; skip where the filesystem cannot."""
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_write_failure_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "train.py")
    with immutable(path):
        line = one_error_line(instrument(tmp_path, "--write", "train.py"))
    assert line.startswith("train.py: cannot write:")
    assert path.read_text() == TRAIN


def test_write_leaves_a_file_with_a_syntax_error_byte_identical(tmp_path: Path) -> None:
    data = b"learning_rate = 0.1\r\nx = (\r\n"
    path = write(tmp_path, "bad.py", data)
    line = one_error_line(instrument(tmp_path, "--write", "bad.py"))
    assert line.startswith("bad.py:2:5: syntax error")
    assert path.read_bytes() == data


# ---------------------------------------------------------------- help and usage


def test_python_m_tracelet_help(tmp_path: Path) -> None:
    proc = run_tracelet(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "instrument" in proc.stdout
    sub = run_tracelet(tmp_path, "instrument", "--help")
    assert sub.returncode == 0, sub.stderr
    for option in ("--diff", "--write", "--check", "--explain", "--json"):
        assert option in sub.stdout


# ---------------------------------------------------------------- bad input

Setup = Callable[[Path], list[str]]


def _files(**files: str | bytes) -> Setup:
    """Create these files; the command line names them all."""

    def setup(root: Path) -> list[str]:
        for name, content in files.items():
            write(root, name.replace("__", "/"), content)
        return [name.replace("__", "/") for name in files]

    return setup


def _fifo(root: Path) -> list[str]:
    os.mkfifo(root / "pipe.py")
    return ["pipe.py"]


def _dangling(root: Path) -> list[str]:
    (root / "gone.py").symlink_to(root / "nowhere.py")
    return ["gone.py"]


def _dangling_in_walk(root: Path) -> list[str]:
    write(root, "src/ok.py", "learning_rate = 0.1\n")
    (root / "src" / "gone.py").symlink_to(root / "nowhere.py")
    return ["src"]


def _directory(name: str, *content: str) -> Setup:
    def setup(root: Path) -> list[str]:
        (root / name).mkdir()
        for item in content:
            write(root / name, item, "")
        return [name]

    return setup


def _unreadable(root: Path) -> list[str]:
    path = write(root, "secret.py")
    path.chmod(0)
    return ["secret.py"]


def _big(root: Path) -> list[str]:
    write(root, "big.py", "x = 1\n" * 1_900_000)  # 11.4 MB of valid Python
    return ["big.py"]


def _args(*args: str) -> Setup:
    return lambda root: list(args)


def case(name: str, setup: Setup, expected: str, **kw: object) -> object:
    return pytest.param(setup, expected, id=name, **kw)


BAD_INPUT = [
    # id, setup (returns the command line), what the one line on stderr must contain
    case("missing_path", _args("missing.py"), "missing.py: no such file"),
    case(
        "directory_without_python", _directory("data", "notes.txt"), "data: no Python files found"
    ),
    case("directory_named_x_py", _directory("x.py"), "x.py: no Python files found"),
    case(
        "syntax_error", _files(**{"bad.py": "x = (\n"}), "bad.py:1:5: syntax error: '(' was never"
    ),
    case("syntax_error_later_line", _files(**{"bad.py": "a = 1\ndef f(:\n"}), "bad.py:2:"),
    case(
        "non_utf8_without_cookie",
        _files(**{"latin.py": b'lr = 0.1\nname = "caf\xe9"\n'}),
        "latin.py:2:12: not valid utf-8 and has no coding cookie",
    ),
    case(
        "unknown_encoding_cookie",
        _files(**{"cookie.py": "# -*- coding: klingon -*-\nlr = 0.1\n"}),
        "cookie.py: coding cookie names an unknown encoding 'klingon'",
    ),
    case(
        "cookie_not_ascii_compatible",
        _files(**{"u16.py": "# coding: utf-16\nlr = 0.1\n"}),
        "u16.py: coding cookie names 'utf-16'",
    ),
    case(
        "bom_and_cookie_conflict",
        _files(**{"bom.py": b"\xef\xbb\xbf# coding: latin-1\nlr = 0.1\n"}),
        "bom.py: coding cookie conflicts with the UTF-8 byte-order mark",
    ),
    case(
        "binary_file",
        _files(**{"image.py": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}),
        "image.py:3:1: contains a NUL byte",
    ),
    case(
        "nul_in_valid_code",
        _files(**{"nul.py": b"lr = 0.1\nbatch_size = 3\x00\n"}),
        "nul.py:2:15: contains a NUL byte",
    ),
    case("empty_file_named", _files(**{"empty.py": ""}), "empty.py: file is empty"),
    case("blank_file_named", _files(**{"blank.py": "\n  \n"}), "blank.py: file is empty"),
    case("over_10_mb", _big, "big.py: skipped: larger than 10 MB"),
    case("fifo", _fifo, "pipe.py: not a regular file"),
    case("dangling_symlink", _dangling, "gone.py: broken symbolic link"),
    case("dangling_symlink_in_walk", _dangling_in_walk, "src/gone.py: broken symbolic link"),
    case(
        "unreadable",
        _unreadable,
        "secret.py: permission denied",
        marks=pytest.mark.skipif(
            os.geteuid() == 0,
            reason="root reads a chmod 000 file; fifo and dangling_symlink cover unreadable paths",
        ),
    ),
    case(
        "tab_error",
        _files(**{"tabs.py": "if True:\n\tx = 1\n        y = 2\n"}),
        "tabs.py:3:1: TabError: inconsistent use of tabs and spaces",
    ),
    case(
        "indentation_error",
        _files(**{"indent.py": "x = 1\n    y = 2\n"}),
        "indent.py:2:4: IndentationError: unexpected indent",
    ),
    case("unknown_option", _args("--bogus", "train.py"), "No such option: --bogus"),
    case("no_paths", _args(), "Missing argument"),
    case("json_and_diff", _args("--json", "--diff", "train.py"), "--json cannot be combined"),
]


@pytest.mark.parametrize(("setup", "expected"), BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, setup: Setup, expected: str) -> None:
    write(tmp_path, "train.py")  # a good file for the cases that need one
    line = one_error_line(instrument(tmp_path, *setup(tmp_path)))
    assert expected in line, line


def test_unknown_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    line = one_error_line(run_tracelet(tmp_path, "bogus"))
    assert "No such command 'bogus'" in line


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "learning_rate = 0.1\n")
    write(tmp_path, "bad.py", "x = (\n")
    write(tmp_path, "c.py", "batch_size = 64\n")
    proc = instrument(tmp_path, "a.py", "bad.py", "c.py")
    assert one_error_line(proc).startswith("bad.py:1:5: syntax error")
    assert "a.py:1:1: learning_rate = 0.1" in proc.stdout
    assert "c.py:1:1: batch_size = 64" in proc.stdout
    records = json_records(instrument(tmp_path, "--json", "a.py", "bad.py", "c.py"))
    assert [r["file"] for r in records] == ["a.py", "c.py"]


def test_a_bad_file_in_a_large_directory_does_not_stop_the_others(tmp_path: Path) -> None:
    """Enough files for the process pool: the error must cross the process boundary intact."""
    for n in range(12):
        write(tmp_path, f"src/m{n:02}.py", f"learning_rate = 0.{n}\n")
    write(tmp_path, "src/m05.py", "x = (\n")
    proc = instrument(tmp_path, "src")
    assert one_error_line(proc).startswith("src/m05.py:1:5: syntax error")
    assert len(proc.stdout.splitlines()) == 11


def test_a_package_with_only_an_empty_init_is_not_an_error(tmp_path: Path) -> None:
    """Decision: empty files found by a directory walk are skipped silently; a directory with
    Python files but nothing to find is a success with no output (only a directory with no
    Python files at all is bad input)."""
    write(tmp_path, "pkg/__init__.py", "")
    proc = instrument(tmp_path, "pkg")
    no_traceback(proc)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
