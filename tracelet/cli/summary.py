"""The end-of-run summary: where the run went, what it captured, how its metrics moved."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tracelet.runtime.backends.mlflow import experiment_name, tracking_uri
from tracelet.runtime.sidecar import DeliveryState
from tracelet.runtime.spool import SpoolReader

BARS = "▁▂▃▄▅▆▇█"
MAX_METRICS = 6


def sparkline(values: list[float], width: int = 24) -> str:
    if not values:
        return ""
    step = max(1, len(values) // width)
    sample = values[::step][-width:]
    low, high = min(sample), max(sample)
    span = (high - low) or 1.0
    return "".join(BARS[int((v - low) / span * (len(BARS) - 1))] for v in sample)


def print_summary(console: Console, run_dir: Path, delivered: bool) -> None:
    reader = SpoolReader(run_dir)
    meta = reader.meta() or {}
    events = reader.read(0, final=True)[0]
    params = {e["k"] for e in events if e.get("e") == "param"}
    series: dict[str, list[float]] = {}
    for event in events:
        if event.get("e") == "metric" and isinstance(event.get("v"), int | float):
            series.setdefault(event["k"], []).append(float(event["v"]))
    state = DeliveryState.load(run_dir)
    uri = tracking_uri(meta)
    console.print(f"[bold]tracelet[/] run {escape(state.run_id or meta.get('run_id', '?'))} "
                  f"in experiment [bold]{escape(experiment_name(meta))}[/]: "
                  f"{len(params)} params, {len(series)} metrics")  # fmt: skip
    if series:
        table = Table(show_header=True, box=None, pad_edge=False)
        for column in ("metric", "last", "trend"):
            table.add_column(column)
        for name in sorted(series, key=_background)[:MAX_METRICS]:
            values = series[name]
            table.add_row(escape(name), f"{values[-1]:.4g}", sparkline(values))
        console.print(table)
    if delivered:
        view = f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite") else uri
        console.print(f"  see it: [cyan]{escape(view)}[/]")
    else:
        pending = len(reader.read(state.offset, final=True)[0])
        where = escape(str(run_dir))
        console.print(f"  [yellow]{pending} events not delivered yet[/] to {escape(uri)}; "
                      f"deliver them with: [cyan]tracelet sync {where}[/]")  # fmt: skip


def _background(name: str) -> int:
    """Sort key: the training's own metrics first, then changed params, then system load
    (the sort is stable: within each, the order they were first recorded)."""
    if name.startswith("system/"):
        return 2
    return 1 if name.startswith("param/") else 0
