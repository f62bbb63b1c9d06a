"""The `tracelet` command: thin typer wrappers that parse options and call the library."""

from __future__ import annotations

import typer

from tracelet.cli import instrument

app = typer.Typer(
    name="tracelet",
    help="Experiment tracking without tracking code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="instrument")(instrument.command)


@app.callback()
def _root() -> None:
    """Experiment tracking without tracking code."""


def main() -> None:
    app()
