"""Time to the script's first line: `tracelet run` against `python`, side by side in one run.

    python bench/bench_startup.py [--runs N] [--script FILE]

The script (default: fixtures/module_config.py, 196 lines) gets a first line that prints
the system-wide monotonic clock and ends the process, so what is timed is everything
before the script's own code: interpreter start, tracelet's imports, the rewrite (cold:
an empty cache, so the engine runs; warm: a cache hit) and the launch. Each round runs
every variant once, in turn, so they share the machine's noise; medians are printed, with
the milliseconds added over `python`.

`tracelet run` is timed with `--offline`: the spool is created and the capture runtime is
live, but no sidecar is started (it would be a separate process anyway).

"launcher alone" calls `tracelet.runtime.launch.run_path` from `python -c`, without the
command line, to show what the CLI's own imports cost.

Goals: `tracelet run` <= +150 ms cold, <= +50 ms warm.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

FIRST_LINE = b'import os, time; os.write(1, b"%d\\n" % time.monotonic_ns()); os._exit(0)\n'
LAUNCHER = (
    "import sys; from tracelet.runtime.launch import NullRuntime, run_path; "
    "sys.exit(run_path(sys.argv[1], [], NullRuntime(), restore=False))"
)
GOALS = {"cold": 150.0, "warm": 50.0}


def first_line_ms(command: list[str], cwd: Path) -> float:
    start = time.monotonic_ns()
    out = subprocess.run(command, cwd=cwd, capture_output=True, check=True, timeout=120)
    return (int(out.stdout.split()[0]) - start) / 1e6


def tracelet_command() -> list[str]:
    script = Path(sys.executable).with_name("tracelet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tracelet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--script", type=Path, default=ROOT / "fixtures" / "module_config.py")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        script = cwd / "train.py"
        script.write_bytes(FIRST_LINE + options.script.read_bytes())
        cache = cwd / ".tracelet_cache"
        # --offline: the sidecar (which imports mlflow, ~1 s of CPU) is a process of its own;
        # left running it would only load the machine for the next measurement
        run = [*tracelet_command(), "run", "--offline", script.name]
        alone = [sys.executable, "-c", LAUNCHER, script.name]
        variants = {
            "python": ([sys.executable, script.name], None),
            "tracelet run, warm cache": (run, "warm"),
            "tracelet run, cold cache": (run, "cold"),
            "launcher alone, warm cache": (alone, "warm"),
            "launcher alone, cold cache": (alone, "cold"),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        first_line_ms(run, cwd)  # fill the cache, warm the file system
        for _ in range(options.runs):
            for name, (command, cache_state) in variants.items():
                if cache_state == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                elif cache_state == "warm" and not cache.exists():
                    first_line_ms(run, cwd)
                times[name].append(first_line_ms(command, cwd))

    lines = options.script.read_bytes().count(b"\n") + 1
    print(f"time to the first line of a {lines}-line script, median of {options.runs} runs")
    base = statistics.median(times["python"])
    for name, values in times.items():
        median = statistics.median(values)
        line = f"  {name:28s}{median:8.1f} ms"
        if name != "python":
            added = median - base
            line += f"   +{added:6.1f} ms"
            state = variants[name][1]
            if name.startswith("tracelet run") and state in GOALS:
                goal = GOALS[state]
                line += f"   (goal +{goal:.0f} ms: {'met' if added <= goal else 'MISSED'})"
        print(line)


if __name__ == "__main__":
    main()
