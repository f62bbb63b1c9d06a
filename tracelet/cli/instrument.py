"""`tracelet instrument`: the review door — show, explain, check or apply the rewrite."""

from __future__ import annotations

import difflib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tracelet.automagic import ConfigError, find_pyproject, project_table
from tracelet.cli.files import discover, process_all
from tracelet.cli.options import Toggle, load_config
from tracelet.transforms.source import SourceError

if TYPE_CHECKING:
    from tracelet.transforms.engine import Result
    from tracelet.transforms.sites import Site


def command(
    paths: Annotated[list[str], typer.Argument(help="Python files or directories.")],
    diff: Annotated[
        bool, typer.Option("--diff", help="Show the rewrite as a unified diff.")
    ] = False,
    write: Annotated[bool, typer.Option("--write", help="Rewrite the files in place.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when any file would change.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Say why each name was taken or rejected.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the accepted sites as JSON.")
    ] = False,
    detect_function_args: Toggle = None,
    detect_class_attributes: Toggle = None,
    detect_argparse: Toggle = None,
    detect_config_files: Toggle = None,
) -> None:
    """Find the hyperparameters of PATHS and show how tracelet would capture them."""
    out = Console(highlight=False, soft_wrap=True, emoji=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    if as_json and (diff or explain):  # one stdout, one format: JSON must stay parseable
        err.print("tracelet instrument: --json cannot be combined with --diff or --explain")
        raise typer.Exit(2)
    try:
        table = project_table(Path.cwd())
        config = load_config(
            table,
            detect_function_args,
            detect_class_attributes,
            detect_argparse,
            detect_config_files,
        )
    except ConfigError as error:
        err.print(f"tracelet: {escape(str(error))}")
        raise typer.Exit(2) from None

    pyproject = find_pyproject(Path.cwd().resolve())
    anchor = pyproject.parent if pyproject else None
    targets, errors = discover(paths, table.get("exclude", ()), anchor)
    for error in errors:
        err.print(escape(str(error)))
    failed = bool(errors)
    would_change = False
    records: list[dict[str, object]] = []
    for result in process_all(targets, config.detect()):
        if isinstance(result, SourceError):
            err.print(escape(str(result)))
            failed = True
            continue
        would_change |= result.changed
        if as_json:
            records.extend(site.as_json() for site in result.analysis.sites)
        if diff:
            _print_diff(out, result)
        if explain:
            _print_explanation(out, result)
        if write and result.changed:
            try:
                _write_atomically(result)
            except OSError as error:
                err.print(f"{escape(result.source.file)}: cannot write: {error.strerror or error}")
                failed = True
                continue
            err.print(f"rewrote {escape(result.source.file)}")
        elif check and result.changed:
            err.print(f"would rewrite {escape(result.source.file)}")
        if not (as_json or diff or explain or write or check):
            _print_summary(out, result)
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
    if failed:
        raise typer.Exit(2)
    if check and would_change:
        raise typer.Exit(1)


def _print_summary(out: Console, result: Result) -> None:
    for site in result.analysis.sites:
        where = f"{site.file}:{site.line}:{site.col}"
        out.print(f"{escape(where)}: [bold]{escape(site.name)}[/] = {escape(_short(site.value))}"
                  f"  [dim]({site.kind})[/]")  # fmt: skip


def _print_diff(out: Console, result: Result) -> None:
    name = result.source.file
    lines = difflib.unified_diff(
        result.source.text.splitlines(keepends=True),
        result.rewrite.source.splitlines(keepends=True),
        f"a/{name}",
        f"b/{name}",
    )
    for line in lines:
        text = escape(line.rstrip("\r\n"))
        style = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1])
        if line.startswith(("+++", "---")):
            style = "bold"
        out.print(f"[{style}]{text}[/]" if style else text)


def _print_explanation(out: Console, result: Result) -> None:
    table = Table(title=escape(result.source.file), title_justify="left", show_lines=False)
    for column in ("line", "name", "kind", "score", "why"):
        table.add_column(column, overflow="fold")
    rows = sorted(
        [*result.analysis.sites, *result.analysis.rejected], key=lambda s: (s.line, s.col)
    )
    for site in rows:
        table.add_row(
            str(site.line),
            escape(site.name) if site.accepted else f"[dim]{escape(site.name)}[/]",
            site.kind,
            f"{site.score:.2f}",
            _why(site),
        )
    out.print(table)


def _why(site: Site) -> str:
    reasons = escape("; ".join(site.reasons))
    return reasons if site.accepted else f"[red]rejected[/]: {reasons}"


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _write_atomically(result: Result) -> None:
    """Write beside the file, then rename over it: never a half-written file.

    A symbolic link stays a link: the file it points to is the one rewritten.
    """
    path = Path(os.path.realpath(result.source.file))
    data = result.source.encode(result.rewrite.source)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, path.stat().st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
