"""XGBoost, 200 rounds with two eval sets: train time untracked, with tracelet's hook, with autolog.

    python bench/bench_xgboost_hooks.py [--rows N] [--rounds R] [--repeats K] [--nthread T]

Times `xgboost.train` alone (the data is built once). Two phases, each interleaving its
variant with an untracked baseline, K times after one warm-up, medians printed:

1. tracelet: the hook installed (`Hooks` over a `Capture` writing a real spool in a temp
   dir; the sidecar's delivery runs in another process and is not part of train time),
   recording 4 metrics per round (logloss and error of `train` and `validation`).
   Goal: <= 1.02x.
2. `mlflow.xgboost.autolog()` against a SQLite store in a temp dir (its model and dataset
   logging included, as a user gets it); its baseline runs with autolog disabled, so
   mlflow's dormant wrapper is in both. mlflow is imported only for this phase, which
   repeats `--autolog-repeats` times (a logged model costs seconds).

`--nthread` sets XGBoost's threads (default: XGBoost's, every core). On a machine whose
cores other processes keep busy, OpenMP's spinning threads make two-thread timings swing
by 10x; one thread gives stable numbers there (and a longer round, so a smaller ratio).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xgboost

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracelet.automagic import AutomagicConfig  # noqa: E402
from tracelet.runtime.capture import Capture  # noqa: E402
from tracelet.runtime.hooks import Hooks  # noqa: E402
from tracelet.runtime.spool import SpoolWriter  # noqa: E402

PARAMS = {"objective": "binary:logistic", "eval_metric": ["logloss", "error"], "max_depth": 6}


def data(rows: int) -> tuple[xgboost.DMatrix, xgboost.DMatrix]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 20))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=rows) > 0).astype(int)
    cut = rows * 4 // 5
    return xgboost.DMatrix(x[:cut], y[:cut]), xgboost.DMatrix(x[cut:], y[cut:])


def interleave(
    variants: dict[str, tuple[Callable[[], object], Callable[[], None], Callable[[], None]]],
    repeats: int,
) -> dict[str, list[float]]:
    """Seconds of each variant's train, alternating variants, after one warm-up each.

    A variant is (train, before, after): `before`/`after` switch tracking on and off
    outside the timed part."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(repeats + 1):
        for name, (train, before, after) in variants.items():
            before()
            start = time.perf_counter()
            train()
            seconds = time.perf_counter() - start
            after()
            if repeat:
                times[name].append(seconds)
    return times


def tracelet_phase(train: Callable[[], object], folder: Path, repeats: int) -> dict:
    writer = SpoolWriter.create(folder, experiment="bench")
    capture = Capture(writer)
    hooks: list[Hooks] = []
    config = AutomagicConfig(frameworks=frozenset({"xgboost"}))

    def on() -> None:
        hooks.append(Hooks(capture, config).install())

    def off() -> None:
        hooks.pop().finish()

    times = interleave(
        {"untracked": (train, _nothing, _nothing), "tracelet hook": (train, on, off)}, repeats
    )
    writer.close()
    return times


def autolog_phase(train: Callable[[], object], folder: Path, repeats: int) -> dict:
    import mlflow
    import mlflow.xgboost

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.chdir(folder)  # autolog's artifacts land under the working directory
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    mlflow.xgboost.autolog(silent=True)

    def on() -> None:
        mlflow.xgboost.autolog(silent=True)

    def off() -> None:
        mlflow.xgboost.autolog(disable=True, silent=True)

    off()
    return interleave(
        {"untracked": (train, _nothing, _nothing), "mlflow autolog": (train, on, off)}, repeats
    )


def _nothing() -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--autolog-repeats", type=int, default=3)
    parser.add_argument("--nthread", type=int, default=0, help="0: XGBoost's default")
    options = parser.parse_args()
    params = {**PARAMS, "nthread": options.nthread} if options.nthread else PARAMS
    dtrain, dvalid = data(options.rows)

    def train() -> object:
        evals = [(dtrain, "train"), (dvalid, "validation")]
        return xgboost.train(params, dtrain, options.rounds, evals=evals, verbose_eval=False)

    print(
        f"xgboost {xgboost.__version__}: {options.rounds} rounds, {options.rows} rows x 20, "
        f"2 eval sets x 2 metrics, nthread {options.nthread or 'default'}; medians"
    )
    with tempfile.TemporaryDirectory() as folder:
        phases = (
            tracelet_phase(train, Path(folder) / "spool", options.repeats),
            autolog_phase(train, Path(folder), options.autolog_repeats),
        )
    for times in phases:
        base = statistics.median(times["untracked"])
        for name, seconds in times.items():
            median = statistics.median(seconds)
            print(f"  {name:15s} {median * 1000:8.1f} ms  {median / base:5.3f}x")


if __name__ == "__main__":
    main()
