"""`tracelet sync`: deliver spooled runs that have not reached the backend yet. Idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape


def command(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="Run folders (default: every run under .tracelet/runs)."),
    ] = None,
) -> None:
    """Deliver spooled runs to their backend; running it twice adds nothing."""
    from tracelet.runtime.backends.mlflow import MlflowBackend, tracking_uri
    from tracelet.runtime.sidecar import DeliveryState, alive, deliver
    from tracelet.runtime.spool import DEFAULT_ROOT, RUNS, SpoolReader

    out = Console(highlight=False, soft_wrap=True, emoji=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    folders = run_dirs or sorted(p for p in (DEFAULT_ROOT / RUNS).glob("*") if p.is_dir())
    failed = False
    for folder in folders:
        meta = SpoolReader(folder).meta()
        if meta is None:
            err.print(f"{escape(str(folder))}: not a tracelet run folder")
            raise typer.Exit(2)
        if DeliveryState.load(folder).ended:
            out.print(f"{escape(str(folder))}: already delivered")
            continue
        try:
            state = deliver(
                folder, MlflowBackend(tracking_uri(meta)), final=not alive(meta.get("pid"))
            )
        except Exception as error:  # the backend is unreachable or refused
            err.print(f"{escape(str(folder))}: not delivered: {escape(str(error).splitlines()[0])}")
            failed = True
            continue
        ended = f"ended {state.status}" if state.ended else "still running"
        out.print(f"{escape(str(folder))}: delivered to run {state.run_id} ({ended})")
    if failed:
        raise typer.Exit(1)
