"""The `tracelet` command.

`tracelet run` goes straight to its own parser (`tracelet.cli.run`): it is on the path to
the script's first line, so it must not wait for typer. Every other command goes through
the typer app in `tracelet.cli.app`.
"""

from __future__ import annotations

import sys


def main(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["run"]:
        from tracelet.cli.run import main as run

        sys.exit(run(argv[1:]))
    from tracelet.cli.app import main as app

    app(argv)
