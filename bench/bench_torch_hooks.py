"""The PyTorch hooks' cost: a tiny MLP's training loop with the hooks installed vs untracked.

    python bench/bench_torch_hooks.py [--steps N] [--rounds R]

Both variants run in this process, interleaved round by round; the best and the median
of wall and CPU time are printed (on a shared machine the best of many rounds is the
steadier figure: noise only ever adds time). The
tracked loop has every hook of the default settings installed over a real spool: the
loss (from `backward`) and the learning rate are captured at every step, read every
`FLUSH_STEPS` steps, and flushed before the clock stops. Goal: <= 1.03x untracked.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from tracelet.automagic import AutomagicConfig  # noqa: E402
from tracelet.runtime.capture import Capture  # noqa: E402
from tracelet.runtime.hooks import Hooks  # noqa: E402
from tracelet.runtime.spool import SpoolReader, SpoolWriter  # noqa: E402


def train(steps: int) -> tuple[float, float]:
    """Wall and CPU seconds of the loop of bench_torch_mlp.py (the model built outside)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    x = torch.randn(64, 32)
    y = torch.randint(0, 10, (64,))
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def tracked(steps: int, root: Path) -> tuple[float, float, int]:
    """The same loop with the hooks on, their final flush included; and the points spooled."""
    writer = SpoolWriter.create(root, experiment="bench")
    hooks = Hooks(Capture(writer), AutomagicConfig(frameworks=["pytorch"])).install()
    try:
        wall, cpu = train(steps)
        start, start_cpu = time.perf_counter(), time.process_time()
        hooks.finish()
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
    finally:
        hooks.finish()
        writer.close()
    points = sum(1 for e in SpoolReader(writer.run_dir).events() if e["e"] == "metric")
    return wall, cpu, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default, as a script)"
    )
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    train(200)  # warm up both paths' allocations and kernels
    plain: list[tuple[float, float]] = []
    hooked: list[tuple[float, float]] = []
    points = 0
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(options.rounds):
            plain.append(train(options.steps))
            wall, cpu, points = tracked(options.steps, Path(folder))
            hooked.append((wall, cpu))
    print(
        f"torch MLP training loop, {options.steps} steps, {options.rounds} rounds, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    for i, clock in enumerate(("wall", "CPU")):
        for label, pick in (("best", min), ("median", statistics.median)):
            base = pick(r[i] for r in plain)
            ours = pick(r[i] for r in hooked)
            print(f"  {clock:4s} {label:6s} untracked {base * 1e3:7.1f} ms   tracelet hooks "
                  f"{ours * 1e3:7.1f} ms  {ours / base:5.3f}x")  # fmt: skip
    print(f"  ({points} metric points per tracked run: loss and LR at every step)")


if __name__ == "__main__":
    main()
