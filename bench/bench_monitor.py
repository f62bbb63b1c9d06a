"""CPU time of the resource monitor's thread, per sample and as a share of one core.

    python bench/bench_monitor.py [--samples N] [--interval S] [--rounds R]

Runs the real monitor (`tracelet.runtime.monitors.Monitor`, every source this machine has:
psutil, and NVML when a driver and a GPU are present) writing into a real spool, at a short
interval so that many samples are taken quickly, and reads the monitor thread's own CPU
clock (`time.pthread_getcpuclockid`) from outside while it runs: once after its first
sample (the start-up: imports of psutil and pynvml, NVML init, the first sample; shown for
the first round, whose imports are cold) and once after N more. The cost of one sample, the
wake-up from the interval wait included, scaled to the default interval of 10 s, is the
share of one core the monitor takes; the median of the rounds is printed.
Goal (issue 4): <= 1% of one core at the default interval.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - puts the repository on sys.path

from tracelet.automagic import AutomagicConfig
from tracelet.runtime.capture import Capture
from tracelet.runtime.monitors import Monitor
from tracelet.runtime.spool import SpoolReader, SpoolWriter

GOAL_PERCENT = 1.0
DEFAULT_INTERVAL = AutomagicConfig().monitor_interval


def row(label: str, value: float, unit: str, digits: int = 1) -> None:
    print(f"  {label:42s}{value:10.{digits}f} {unit}")


def wait_for(monitor: Monitor, samples: int) -> None:
    while monitor.samples < samples:
        time.sleep(0.001)


def one_round(folder: Path, samples: int, interval: float) -> tuple[float, float, int]:
    """(start-up CPU seconds, CPU seconds per sample, metrics per sample) of one monitor."""
    writer = SpoolWriter.create(folder, experiment="bench")
    monitor = Monitor(Capture(writer), interval).start()
    clock = time.pthread_getcpuclockid(monitor._thread.ident)
    wait_for(monitor, 1)
    first = time.clock_gettime(clock)
    wait_for(monitor, 1 + samples)
    last = time.clock_gettime(clock)
    monitor.stop()
    writer.close()
    metrics = sum(1 for e in SpoolReader(writer.run_dir).events() if e["e"] == "metric")
    return first, (last - first) / samples, metrics // monitor.samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.001, help="seconds (measuring only)")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    results = []
    for _ in range(options.rounds):
        with tempfile.TemporaryDirectory() as folder:
            results.append(one_round(Path(folder), options.samples, options.interval))
    start_up = results[0][0]
    per_sample = statistics.median(r[1] for r in results)
    metrics = results[-1][2]
    share = per_sample / DEFAULT_INTERVAL * 100
    print(f"monitor thread: {metrics} metrics per sample, {options.samples} samples x "
          f"{options.rounds} rounds")  # fmt: skip
    row("start-up (imports, NVML init, 1st sample)", start_up * 1e3, "ms")
    row("one sample", per_sample * 1e6, "µs")
    row(f"share of one core at {DEFAULT_INTERVAL:g} s", share, "%", 4)
    row("share of one core at 0.1 s (the minimum)", per_sample / 0.1 * 100, "%", 4)
    verdict = "met" if share <= GOAL_PERCENT else "NOT met"
    print(f"goal: <= {GOAL_PERCENT:g}% of one core at the default interval: {verdict}")


if __name__ == "__main__":
    main()
