"""A torch MLP, 2000 steps: untracked, under `tracelet run`, and logging by hand with MLflow.

    python bench/bench_torch_mlp.py [--steps N] [--rounds R]

Measured side by side in one run (rounds interleave the variants, medians printed):
the whole process's wall time (for `tracelet run`: until the run is delivered and the
command returns) and the training process's peak RSS. Goals: whole process <= 1.3x the
untracked script; training-process RSS <= +20 MiB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SCRIPT = """
import resource, sys
import torch
import torch.nn as nn
{imports}
learning_rate = 1e-3
batch_size = 64
hidden_size = 256
steps = {steps}
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(32, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
criterion = nn.CrossEntropyLoss()
x = torch.randn(batch_size, 32)
y = torch.randint(0, 10, (batch_size,))
{start}
for step in range(steps):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    {per_step}
{end}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

FILES = {
    "untracked": "plain_mlp.py",
    "tracelet run": "traced_mlp.py",
    "mlflow by hand": "byhand_mlp.py",
}
VARIANTS = {
    "untracked": dict(imports="", start="", per_step="", end=""),
    "tracelet run": dict(imports="", start="", per_step="", end=""),
    "mlflow by hand": dict(
        imports="import mlflow",
        start="mlflow.start_run(); mlflow.log_params(dict(learning_rate=learning_rate, "
        "batch_size=batch_size, hidden_size=hidden_size))",
        per_step="mlflow.log_metric('train/loss', loss.item(), step=step)",
        end="mlflow.end_run()",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    tracelet = Path(sys.executable).with_name("tracelet")
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, parts in VARIANTS.items():
            code = SCRIPT.format(steps=options.steps, **parts)
            (root / FILES[name]).write_text(textwrap.dedent(code))
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
        commands = {
            "untracked": [sys.executable, FILES["untracked"]],
            "tracelet run": [str(tracelet), "run", "--quiet", FILES["tracelet run"]],
            "mlflow by hand": [sys.executable, FILES["mlflow by hand"]],
        }
        for _ in range(options.rounds):
            for name, command in commands.items():
                start = time.perf_counter()
                done = subprocess.run(
                    command, cwd=root, env=env, capture_output=True, text=True, check=True
                )
                seconds = time.perf_counter() - start
                results[name].append((seconds, int(done.stderr.strip().splitlines()[-1])))
    base_time = statistics.median(t for t, _ in results["untracked"])
    base_rss = statistics.median(r for _, r in results["untracked"]) / 1024
    print(f"torch MLP, {options.steps} steps, median of {options.rounds} rounds")
    for name, runs in results.items():
        seconds = statistics.median(t for t, _ in runs)
        rss = statistics.median(r for _, r in runs) / 1024
        print(f"  {name:15s} {seconds:6.2f} s  {seconds / base_time:5.2f}x   "
              f"peak RSS {rss:6.0f} MiB  {rss - base_rss:+5.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
