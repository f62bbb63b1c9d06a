"""`tracelet run`: the run door — run a script (or `-m` module) as python would, capturing it.

Options before SCRIPT are tracelet's; SCRIPT and everything after it (`--help` included)
belong to the script. The exit status is the script's.

The options are parsed with argparse, not typer: `tracelet run` is on the path to the
script's first line, and importing typer (with the pydantic it pulls in) costs ~100 ms.
`tracelet.cli.main` sends `run` here before importing the rest of the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tracelet.automagic import AutomagicConfig, ConfigError, parse_bool, project_table

if TYPE_CHECKING:
    from tracelet.runtime.launch import RunOptions
    from tracelet.runtime.session import Session

HELP = "Run SCRIPT with ARGS as `python SCRIPT ARGS` would, and capture its hyperparameters."
VALUE_OPTIONS = {  # the options that take a value (the others are switches)
    "--experiment": "experiment to record the run in",
    "--run-name": "name of the run",
    "--tracking-uri": "tracking server or store (default: MLFLOW_TRACKING_URI)",
}
DETECT_SWITCHES = (
    "detect_function_args",
    "detect_class_attributes",
    "detect_argparse",
    "detect_config_files",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            message = "no such option: " + message.split(": ", 1)[1]
        _fail(f"{message} (see 'tracelet run --help')")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tracelet run",
        usage="tracelet run [OPTIONS] SCRIPT [ARGS]...",
        description=HELP,
        epilog="ARGS: the script's own arguments, passed on untouched (--help included).",
        allow_abbrev=False,  # as click: an option is spelled out
    )
    parser.add_argument("target", metavar="SCRIPT", help="the script (with -m, the module)")
    parser.add_argument("-m", "--module", action="store_true", help="run a module, as `python -m`")
    for option, text in VALUE_OPTIONS.items():
        parser.add_argument(option, help=text)
    parser.add_argument(
        "--no-capture", action="store_true", help="run the script unchanged, capturing nothing"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print no run summary")
    parser.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="only spool the run locally; deliver it later with `tracelet sync` "
        "[env var: TRACELET_OFFLINE]",
    )
    for name in DETECT_SWITCHES:
        parser.add_argument(
            "--" + name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=None
        )
    return parser


def split_at_script(argv: list[str]) -> tuple[list[str], list[str]]:
    """tracelet's options and SCRIPT, then the script's own arguments, untouched (a ``--``
    after SCRIPT is the script's, as python would pass it)."""
    at = 0
    while at < len(argv):
        word = argv[at]
        if word == "--":
            return argv[: at + 2], argv[at + 2 :]
        if word in VALUE_OPTIONS:
            at += 2
        elif word.startswith("-") and word != "-":
            at += 1
        else:
            break
    return argv[: at + 1], argv[at + 1 :]


def main(argv: list[str]) -> int:
    """`tracelet run ARGV...`: the script's exit status, or 2 for a usage error."""
    own, script_args = split_at_script(argv)
    options = _parser().parse_args(own)
    options.args = script_args
    if options.target.startswith("-") and options.target != "-":
        _fail(f"no such option: {options.target} (see 'tracelet run --help')")
    try:
        config = AutomagicConfig.load(
            cli={name: getattr(options, name) for name in DETECT_SWITCHES},
            project=project_table(Path.cwd()),
        )
        offline = options.offline or parse_bool(
            os.environ.get("TRACELET_OFFLINE", "false"), "TRACELET_OFFLINE"
        )
    except ConfigError as error:
        _fail(str(error))

    from tracelet.runtime import launch

    run_options = launch.RunOptions(
        target=options.target,
        argv=tuple(options.args),
        module=options.module,
        experiment=options.experiment,
        run_name=options.run_name,
        tracking_uri=options.tracking_uri,
        capture=not options.no_capture,
        quiet=options.quiet,
        detect=config.detect(),
    )
    session = start_session(run_options, offline, config)
    runtime = session.capture if session is not None else launch.NullRuntime()
    run = launch.run_module if options.module else launch.run_path
    try:
        code = run(
            options.target,
            list(options.args),
            runtime,
            run_options.detect,
            rewrite=run_options.capture,
            restore=False,  # python's own shutdown (atexit handlers) still sees the script's state
        )
    except launch.LaunchError as error:
        if session is not None:
            session.end(2)
        _fail(str(error))
    if session is not None:
        finish_session(session, code, options.quiet)
    return code


def start_session(options: RunOptions, offline: bool, config: AutomagicConfig) -> Session | None:
    """The run's spool, capture and sidecar; None with `--no-capture`.

    A session that fails to start must not stop the script (invariant 3): one warning,
    and the script runs without capture.
    """
    if not options.capture:
        return None
    from tracelet.runtime.session import Session

    session = Session(
        argv=[options.target, *options.argv],
        experiment=options.experiment,
        run_name=options.run_name,
        tracking_uri=options.tracking_uri,
        offline=offline,
        config=config,
    )
    try:
        session.start()
    except Exception as error:
        message = " ".join(str(error).split())
        sys.stderr.write(
            f"tracelet: warning: capture is off for this run ({type(error).__name__}: {message})\n"
        )
        return None
    return session


def finish_session(session: Session, code: int, quiet: bool) -> None:
    """Record how the script ended, wait for delivery, and show where the run is."""
    main = sys.modules.get("__main__")  # the script's, kept by run(..., restore=False)
    if session.capture is not None and main is not None:
        session.capture.recheck(vars(main))
    traceback_text = None
    if code != 0 and getattr(sys, "last_value", None) is not None:
        traceback_text = "".join(
            traceback.format_exception(sys.last_type, sys.last_value, sys.last_traceback)
        )
    delivered = session.end(code, traceback_text)
    if quiet and (delivered or session.offline):
        return
    from rich.console import Console

    from tracelet.cli.summary import print_summary

    print_summary(Console(stderr=True, highlight=False, soft_wrap=True), session.run_dir, delivered)


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"tracelet run: {message}\n")
    sys.exit(2)
