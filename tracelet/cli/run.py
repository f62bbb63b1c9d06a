"""`tracelet run`: the run door — run a script (or `-m` module) as python would, capturing it.

Options before SCRIPT are tracelet's; SCRIPT and everything after it (`--help` included)
belong to the script, so `context_settings` must be `CONTEXT` when the command is
registered. The exit status is the script's.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from tracelet.automagic import AutomagicConfig, ConfigError, project_table
from tracelet.cli.options import Toggle, load_config

if TYPE_CHECKING:
    from tracelet.runtime.launch import RunOptions
    from tracelet.runtime.session import Session

# Without allow_interspersed_args=False, `tracelet run train.py --help` would print
# tracelet's help instead of passing `--help` to the script.
CONTEXT = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "allow_interspersed_args": False,
}


def command(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="SCRIPT [ARGS]...",
            help="The script (or, with -m, the module) and its own arguments.",
            show_default=False,
        ),
    ],
    module: Annotated[
        bool, typer.Option("-m", "--module", help="Run a module, as `python -m` does.")
    ] = False,
    experiment: Annotated[
        str | None, typer.Option(help="Experiment to record the run in.", show_default=False)
    ] = None,
    run_name: Annotated[
        str | None, typer.Option(help="Name of the run.", show_default=False)
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="Tracking server or store (default: MLFLOW_TRACKING_URI).", show_default=False
        ),
    ] = None,
    no_capture: Annotated[
        bool, typer.Option("--no-capture", help="Run the script unchanged, capturing nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no run summary.")] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            envvar="TRACELET_OFFLINE",
            help="Only spool the run locally; deliver it later with `tracelet sync`.",
        ),
    ] = False,
    detect_function_args: Toggle = None,
    detect_class_attributes: Toggle = None,
    detect_argparse: Toggle = None,
    detect_config_files: Toggle = None,
) -> None:
    """Run SCRIPT with ARGS as `python SCRIPT ARGS` would, and capture its hyperparameters."""
    # an unknown option before SCRIPT is kept as SCRIPT by ignore_unknown_options
    if target.startswith("-") and target != "-":
        _fail(f"no such option: {target} (see 'tracelet run --help')")
    try:
        config = load_config(
            project_table(Path.cwd()),
            detect_function_args,
            detect_class_attributes,
            detect_argparse,
            detect_config_files,
        )
    except ConfigError as error:
        _fail(str(error))

    from tracelet.runtime import launch

    options = launch.RunOptions(
        target=target,
        argv=tuple(ctx.args),
        module=module,
        experiment=experiment,
        run_name=run_name,
        tracking_uri=tracking_uri,
        capture=not no_capture,
        quiet=quiet,
        detect=config.detect(),
    )
    session = start_session(options, offline, config)
    runtime = session.capture if session is not None else launch.NullRuntime()
    run = launch.run_module if module else launch.run_path
    try:
        code = run(
            target,
            list(ctx.args),
            runtime,
            options.detect,
            rewrite=options.capture,
            restore=False,  # python's own shutdown (atexit handlers) still sees the script's state
        )
    except launch.LaunchError as error:
        if session is not None:
            session.end(2)
        _fail(str(error))
    if session is not None:
        finish_session(session, code, quiet)
    raise typer.Exit(code)


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
    raise typer.Exit(2)
