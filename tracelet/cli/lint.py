"""`tracelet lint`: the CI check for hyperparameters whose values reach no tracker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from tracelet.automagic import AutomagicConfig, ConfigError, project_table
from tracelet.cli.files import Target, discover, in_parallel
from tracelet.lint.check import LintConfigError, LintSettings, lint_file
from tracelet.lint.report import FORMATS, render
from tracelet.lint.rules import Finding

PROGRESS_THRESHOLD = 200  # files: below this a progress bar is only noise


def _lint_target(target: Target, settings: LintSettings, use_cache: bool) -> list[Finding]:
    return lint_file(target.path, target.file, settings, use_cache)


def command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files or directories (default: [tool.tracelet] paths, else .)."),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help=f"Output format: {', '.join(FORMATS)}.")
    ] = "text",
    statistics: Annotated[
        bool, typer.Option("--statistics", help="Count findings per rule.")
    ] = False,
    changed: Annotated[
        bool, typer.Option("--changed", help="Lint only the Python files git sees as changed.")
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore .tracelet_cache/.")] = False,
) -> None:
    """Report hyperparameters whose values reach no tracker. Exit 1 when there are any."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    if output_format not in FORMATS:
        err.print(f"tracelet: unknown format {output_format!r} (choose from {', '.join(FORMATS)})")
        raise typer.Exit(2)
    try:
        table = project_table(Path.cwd())
        settings = LintSettings.from_table(table, AutomagicConfig.load(project=table).detect())
    except (ConfigError, LintConfigError) as error:
        err.print(f"tracelet: {escape(str(error))}")
        raise typer.Exit(2) from None
    if changed:
        paths = _changed_files()
        if not paths:
            _render([], output_format, statistics, 0)
            return
    targets, errors = discover(
        paths or table.get("paths") or ["."], [*table.get("exclude", ()), *settings.exclude]
    )
    for error in errors:
        err.print(escape(str(error)))
    if errors:
        raise typer.Exit(2)
    findings = _run(targets, settings, not no_cache, err)
    findings.sort(key=lambda f: (f.file, f.line, f.col, f.code))
    _render(findings, output_format, statistics, len(targets))
    if findings:
        raise typer.Exit(1)


def _run(
    targets: list[Target], settings: LintSettings, use_cache: bool, err: Console
) -> list[Finding]:
    results = in_parallel(_lint_target, targets, settings, use_cache)
    findings: list[Finding] = []
    if err.is_terminal and len(targets) >= PROGRESS_THRESHOLD:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("linting", total=len(targets))
            for found in results:
                findings.extend(found)
                progress.advance(task)
    else:
        for found in results:
            findings.extend(found)
    return findings


def _render(findings: list[Finding], output_format: str, statistics: bool, files: int) -> None:
    color = output_format == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    render(
        findings, output_format, sys.stdout, color=color, statistics=statistics,
        files_checked=files,
    )  # fmt: skip


def _changed_files() -> list[str]:
    """Python files under the current directory changed against HEAD, staged or not, or new."""
    files: set[str] = set()
    for command in (
        ["git", "diff", "--name-only", "--relative", "HEAD"],
        ["git", "ls-files", "--others", "--exclude-standard"],
    ):
        try:
            listing = subprocess.run(
                command, capture_output=True, text=True, check=True, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError):
            raise typer.BadParameter("--changed needs a git work tree with a commit") from None
        files.update(listing.splitlines())
    return sorted(f for f in files if f.endswith(".py") and Path(f).is_file())
