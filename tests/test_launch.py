"""`tracelet run` behaves as `python`: same output, exit status and tracebacks (invariant 2).

Each case writes a small project into `tmp_path` and runs it both ways, side by side, in
subprocesses started in that directory; the captured calls themselves are checked in
process with `fake_runtime`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import fake_runtime, run_engine
from tracelet.runtime import launch

TIMEOUT = 60

HELPER = """\
hidden_size = 128
num_layers = 4


def build(dropout=0.1, activation="relu"):
    return {"hidden_size": hidden_size, "dropout": dropout, "activation": activation}
"""

# A function with defaults whose first statement raises: the rewrite inserts the argument
# capture before that statement, shifting its columns; the carets must not move.
SHIFTED = """\
import sys

learning_rate = 0.01


def train(lr=0.1, epochs=3):
    total = lr * epochs / (epochs - 3)
    return total


print("start", learning_rate, file=sys.stderr)
train()
"""

CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "names": (
        {
            "train.py": """\
                import pickle
                import sys

                batch_size = 32


                class Config:
                    def __init__(self, lr=0.1):
                        self.lr = lr


                restored = pickle.loads(pickle.dumps(Config(0.5)))
                print(__name__, __file__, sys.argv, sys.path[0])
                print(__doc__, __package__, __spec__, __cached__, type(__loader__).__name__)
                print(type(restored).__module__, type(restored).__qualname__, restored.lr)
                print(__import__("__main__").Config is Config)
            """,
        },
        ["train.py", "a", "--lr", "3", "--", "-x"],
    ),
    "dot_slash_path": (
        {"train.py": "print(__file__)\nraise ValueError(__file__)\n"},
        ["./train.py"],
    ),
    "traceback_carets": ({"train.py": SHIFTED}, ["train.py"]),
    "exit_3": ({"train.py": "import sys\nepochs = 3\nsys.exit(epochs)\n"}, ["train.py"]),
    "exit_message": ({"train.py": "import sys\nprint('out')\nsys.exit('message')\n"}, ["train.py"]),
    "exit_none": ({"train.py": "import sys\nsys.exit()\n"}, ["train.py"]),
    "argv_untouched": (
        {"train.py": "import sys\nprint(sys.argv)\n"},
        ["train.py", "--", "-q", "--experiment", "x", "--"],
    ),
    "script_help": (
        {
            "train.py": """\
                import argparse

                parser = argparse.ArgumentParser(description="Train it.")
                parser.add_argument("--lr", type=float, default=0.1, help="learning rate")
                args = parser.parse_args()
                print(args.lr)
            """,
        },
        ["train.py", "--help"],
    ),
    "argparse_error": (
        {
            "train.py": """\
                import argparse

                parser = argparse.ArgumentParser()
                parser.add_argument("--lr", type=float, default=0.1)
                print(parser.parse_args())
            """,
        },
        ["train.py", "--lr", "fast"],
    ),
    "spawn_pool": (
        {
            "train.py": """\
                import multiprocessing as mp
                import sys

                workers = 2


                class Job:
                    def __init__(self, x):
                        self.x = x


                def square(job):
                    return job.x * job.x


                if __name__ == "__main__":
                    pool = mp.get_context("spawn").Pool(workers)
                    print(pool.map(square, [Job(i) for i in range(6)]))
                    pool.close()
                    pool.join()
                else:  # the children re-run the original file, without __tracelet__
                    sys.stderr.write(f"{__name__} {'__tracelet__' in globals()}\n")
            """,
        },
        ["train.py"],
    ),
    "sibling_module": (
        {
            "helper_mod.py": HELPER,
            "train.py": """\
                import helper_mod

                learning_rate = 0.01
                print(helper_mod.build(), helper_mod.__name__, helper_mod.__file__)
            """,
        },
        ["train.py"],
    ),
    "sibling_raises_on_import": (
        {
            "broken_helper.py": "rate = 0.5\n\n\ndef f(x=1):\n    return x / 0\n\n\nf()\n",
            "train.py": "epochs = 2\nimport broken_helper\n",
        },
        ["train.py"],
    ),
    "syntax_error": ({"train.py": "lr = 0.1\ndef broken(:\n    pass\n"}, ["train.py"]),
    "sibling_syntax_error": (
        {"bad_syntax.py": "x = (\n", "train.py": "lr = 1\nimport bad_syntax\n"},
        ["train.py"],
    ),
    "module": (
        {
            "pkg/__init__.py": "seed = 7\n",
            "pkg/main.py": """\
                import sys

                from . import seed

                epochs = 5
                print(__name__, __file__, __package__, __spec__.name, sys.argv, sys.path[0])
                print(seed, epochs)
                raise RuntimeError("from a module")
            """,
        },
        ["-m", "pkg.main", "--epochs", "1"],
    ),
    "package_main": (
        {
            "app/__init__.py": "",
            "app/__main__.py": "import sys\nn = 1\nprint(__name__, sys.argv)\n",
        },
        ["-m", "app", "x"],
    ),
    "missing_module": ({"train.py": ""}, ["-m", "no_such_module_here"]),
    "directory": (
        {"proj/__main__.py": "import sys\nsteps = 3\nprint(__file__, sys.argv, sys.path[0])\n"},
        ["proj", "y"],
    ),
}


# Spool locally and print no summary: stdout and stderr stay the script's own, and no
# sidecar delivers to MLflow (tests/test_run.py covers delivery).
QUIET = ("--offline", "--quiet")


def write_project(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def run_both(
    cwd: Path, args: list[str]
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`python ARGS` and `python -m tracelet run ARGS`, run at the same time."""
    commands = ([sys.executable, *args], [sys.executable, "-m", "tracelet", "run", *QUIET, *args])
    processes = [
        subprocess.Popen(
            command, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for command in commands
    ]
    results = []
    for command, process in zip(commands, processes, strict=True):
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        results.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return results[0], results[1]


def tracelet_run(
    cwd: Path, *args: str, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-m", "tracelet", "run", *QUIET, *args],
        cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_as_python(tmp_path: Path, case: str) -> None:
    files, args = CASES[case]
    write_project(tmp_path, files)
    python, tracelet = run_both(tmp_path, args)
    assert tracelet.stderr == python.stderr
    assert tracelet.stdout == python.stdout
    assert tracelet.returncode == python.returncode


def test_the_caret_case_really_shifts_columns() -> None:
    """The rewrite inserts text before the raising statement, so the caret test means something."""
    result = run_engine(SHIFTED)
    line = SHIFTED.splitlines().index("    total = lr * epochs / (epochs - 3)") + 1
    assert line in result.rewrite.shifts


def test_expected_outputs(tmp_path: Path) -> None:
    """A few absolute checks, so that "same as python" is not "same and both wrong"."""
    write_project(tmp_path, CASES["traceback_carets"][0])
    _, tracelet = run_both(tmp_path, ["train.py"])
    assert tracelet.returncode == 1
    assert tracelet.stderr.endswith(
        f'  File "{tmp_path}/train.py", line 7, in train\n'
        "    total = lr * epochs / (epochs - 3)\n"
        "            ~~~~~~~~~~~~^~~~~~~~~~~~~~\n"
        "ZeroDivisionError: float division by zero\n"
    )
    assert "tracelet" not in tracelet.stderr.replace(str(tmp_path), "")


def test_ctrl_c(tmp_path: Path) -> None:
    """Python's traceback; python ends itself by SIGINT, `tracelet run` exits 130."""
    write_project(
        tmp_path,
        {
            "train.py": """\
                import signal


                def train(epochs=3):
                    signal.raise_signal(signal.SIGINT)


                train()
            """,
        },
    )
    python, tracelet = run_both(tmp_path, ["train.py"])
    assert "KeyboardInterrupt" in python.stderr
    assert tracelet.stderr == python.stderr
    assert tracelet.stdout == python.stdout
    assert python.returncode == -signal.SIGINT
    assert tracelet.returncode == launch.INTERRUPTED == 128 + signal.SIGINT


def test_user_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, message in (
        (["missing.py"], f"can't open file '{tmp_path}/missing.py': [Errno 2]"),
        (["--bogus", "missing.py"], "no such option: --bogus"),
        (["--experiment"], "argument --experiment: expected one argument"),
        (["--run-name", "x"], "the following arguments are required: SCRIPT"),
    ):
        out = tracelet_run(tmp_path, *args)
        assert out.returncode == 2
        assert out.stderr.count("\n") == 1
        assert out.stderr.startswith("tracelet run: ") and message in out.stderr


def test_a_bad_environment_switch_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACELET_OFFLINE", "maybe")
    out = subprocess.run(
        [sys.executable, "-m", "tracelet", "run", "missing.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert (out.returncode, out.stderr) == (
        2, "tracelet run: TRACELET_OFFLINE: expected true or false, got 'maybe'\n"
    )  # fmt: skip


def test_run_has_its_own_help_and_is_listed_by_tracelet(tmp_path: Path) -> None:
    own = tracelet_run(tmp_path, "--help")
    assert own.returncode == 0 and own.stdout.startswith("usage: tracelet run [OPTIONS] SCRIPT")
    listed = subprocess.run(
        [sys.executable, "-m", "tracelet", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "Run SCRIPT with ARGS as `python SCRIPT ARGS` would" in " ".join(listed.stdout.split())


def test_optimised_code_is_cached_apart(tmp_path: Path) -> None:
    """Code compiled under `python -O` has no asserts: a later plain run must not reuse it."""
    (tmp_path / "train.py").write_text("lr = 0.1\nassert lr > 1, 'checked'\nprint('done')\n")
    assert tracelet_run(tmp_path, "train.py", flags=("-O",)).stdout == "done\n"
    plain = tracelet_run(tmp_path, "train.py")
    assert plain.returncode == 1 and plain.stderr.endswith("AssertionError: checked\n")


def test_no_capture_runs_an_instrumented_file(tmp_path: Path) -> None:
    """`--no-capture` still provides `__tracelet__`, so a file from `instrument --write` runs."""
    (tmp_path / "train.py").write_text('lr = 0.1; __tracelet__.param("lr", lr)\nprint(lr)\n')
    out = tracelet_run(tmp_path, "--no-capture", "--quiet", "train.py")
    assert (out.returncode, out.stdout, out.stderr) == (0, "0.1\n", "")
    assert not (tmp_path / ".tracelet_cache").exists()  # nothing was rewritten


def test_sibling_modules_are_captured_in_process(tmp_path: Path, capsys) -> None:
    """The script and the project's own module it imports both report their values."""
    helper = "tl_launch_sibling_helper"
    write_project(
        tmp_path,
        {
            f"{helper}.py": HELPER,
            "train.py": f"""\
                import json
                import sys

                import {helper} as helper

                learning_rate = 0.01
                model = helper.build(dropout=0.2)
                print(sys.argv[1:], __name__, json.dumps(model))
            """,
        },
    )
    log: list[tuple] = []
    argv, path, main = sys.argv, sys.path[:], sys.modules["__main__"]
    meta_path = sys.meta_path[:]
    try:
        code = launch.run_path(
            tmp_path / "train.py", ["--x", "1"], fake_runtime(log), cache_root=tmp_path / "cache"
        )
    finally:
        sys.modules.pop(helper, None)
    assert code == 0
    assert capsys.readouterr().out.startswith("['--x', '1'] __main__ {")
    assert ("param", "learning_rate", 0.01, "") in log  # the script
    assert ("param", "hidden_size", 128, "") in log  # its sibling, at import
    assert ("args", "build", {"dropout": 0.2, "activation": "relu"}) in log
    # the process is given back as it was, with the import hook gone
    assert (sys.argv, sys.path, sys.modules["__main__"]) == (argv, path, main)
    assert sys.meta_path == meta_path
    # no rewritten bytecode left where plain python would load it
    assert not list(tmp_path.glob("__pycache__/*"))


def test_outside_the_project_nothing_is_rewritten(tmp_path: Path) -> None:
    """The standard library, site-packages and modules outside the root are declined."""
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere.py").write_text("x = 1\n")
    engine = launch._Engine(launch.NullRuntime(), launch.Detect(), tmp_path / "cache", True)
    finder = launch.ProjectFinder(str(tmp_path / "project"), engine)
    sys.path.insert(0, str(tmp_path))
    try:
        assert finder.find_spec("elsewhere") is None
        assert finder.find_spec("json") is None  # the standard library
        assert finder.find_spec("json.decoder", __import__("json").__path__) is None
        assert finder.find_spec("pytest") is None  # site-packages
        assert finder.find_spec("sys") is None  # builtin
    finally:
        sys.path.remove(str(tmp_path))
    # a project that holds tracelet and its virtual environment (this repository)
    repository = Path(launch.__file__).resolve().parents[2]
    finder = launch.ProjectFinder(str(repository), engine)
    import tracelet

    assert finder.find_spec("tracelet.cli", tracelet.__path__) is None
    assert finder.find_spec("pytest") is None


def test_an_engine_failure_runs_the_original_with_one_warning(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """Invariant 3: a broken rewrite never stops the script."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine\nbug")

    monkeypatch.setattr(launch, "compiled_rewrite", broken)
    script = tmp_path / "train.py"
    script.write_text("lr = 0.1\nprint(lr)\nprint(lr)\n")
    log: list[tuple] = []
    assert launch.run_path(script, [], fake_runtime(log), cache_root=tmp_path / "c") == 0
    out, err = capsys.readouterr()
    assert out == "0.1\n0.1\n"
    assert err == (
        f"tracelet: warning: {script} runs without capture: "
        "the rewrite failed (RuntimeError: engine bug)\n"
    )
    assert log == []


def test_no_rewrite_still_provides_the_runtime(tmp_path: Path, capsys) -> None:
    """`--no-capture`: the original code runs; a file written by `instrument --write` too."""
    script = tmp_path / "train.py"
    script.write_text('lr = 0.1; __tracelet__.param("lr", lr)\nprint(lr)\n')
    assert launch.run_path(script, [], launch.NullRuntime(), rewrite=False) == 0
    assert capsys.readouterr().out == "0.1\n"
    null = launch.NullRuntime()
    assert null.args("f", a=1)(5) == 5 and null.mapping("", d := {}) is d


def test_the_runtime_imports_nothing_heavy() -> None:
    """What the training process imports: no mlflow, libcst, CLI libraries or frameworks."""
    probe = (
        "import sys, tracelet.runtime.launch, tracelet.runtime.capture, tracelet.runtime.spool; "
        "heavy = ('libcst', 'typer', 'click', 'rich', 'mlflow', 'numpy', 'torch', 'omegaconf'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert out.stdout == "[]\n"
