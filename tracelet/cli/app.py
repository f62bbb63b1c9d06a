"""The typer app of every command but `run`: thin wrappers that parse options and call the
library. `run` is listed here, and handed its arguments untouched (see `tracelet.cli`)."""

from __future__ import annotations

import sys

import typer

from tracelet.cli import instrument, lint, run, sync

# typer raises its own copy of click's exceptions (newer typer vendors click): take the
# module that defines the public `typer.BadParameter`, whichever it is.
_errors = sys.modules[typer.BadParameter.__module__]

app = typer.Typer(
    name="tracelet",
    help="Experiment tracking without tracking code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _run(ctx: typer.Context) -> None:
    """Reached only when `tracelet.cli.main` is bypassed; same parser."""
    raise typer.Exit(run.main(list(ctx.args)))


app.command(name="instrument")(instrument.command)
app.command(name="lint")(lint.command)
app.command(
    name="run",
    help=run.HELP,
    add_help_option=False,  # `tracelet run --help` is the run parser's
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(_run)
app.command(name="sync")(sync.command)


@app.callback()
def _root() -> None:
    """Experiment tracking without tracking code."""


def main(args: list[str] | None = None) -> None:
    """Run the app; a usage error is one line on stderr and exit 2, like every user error."""
    try:
        code = app(args=args, standalone_mode=False)
    except _errors.UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            sys.exit(2)  # the help is already printed
        command = error.ctx.command_path if error.ctx else "tracelet"
        sys.stderr.write(f"{command}: {_one_line(error)} (see '{command} --help')\n")
        sys.exit(error.exit_code)
    except _errors.ClickException as error:
        sys.stderr.write(f"tracelet: {_one_line(error)}\n")
        sys.exit(error.exit_code)
    except typer.Abort:
        sys.stderr.write("tracelet: aborted\n")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(error: Exception) -> str:
    return " ".join(error.format_message().split())  # type: ignore[attr-defined]
