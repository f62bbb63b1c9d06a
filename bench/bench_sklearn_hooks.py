"""scikit-learn RandomForest + LogisticRegression: fit time untracked, with tracelet's hooks
installed, and with `mlflow.sklearn.autolog()`.

    python bench/bench_sklearn_hooks.py [--repeat N] [--samples N] [--trees N]

Measured side by side in one process, so that the variants share the machine's load: each
repeat fits both models once per variant, in an order that rotates from repeat to repeat,
turning the variant's tracking on just before and off just after; medians are printed with
their ratio to untracked. Goal: tracelet <= 1.02x. tracelet's hooks write to a real spool (no
sidecar: delivery runs in another process). Autolog logs to a SQLite store in a temporary
folder, into one run, with its default settings; its first fit (run creation, store
migrations) is a warm-up, not timed. `autolog(disable=True)` leaves mlflow's patches in place,
switched off: every variant runs through them after the first autolog repeat.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from common import timed

from tracelet.automagic import AutomagicConfig
from tracelet.runtime.capture import Capture
from tracelet.runtime.hooks import Hooks
from tracelet.runtime.spool import SpoolWriter

VARIANTS = ("untracked", "tracelet hooks", "mlflow autolog")


class Tracelet:
    """tracelet's scikit-learn hook over a real spool, installed only while on."""

    def __init__(self, folder: Path) -> None:
        self.writer = SpoolWriter.create(folder / "spool", experiment="bench")
        self.capture = Capture(self.writer)
        self.hooks: Hooks | None = None

    def on(self) -> None:
        config = AutomagicConfig(frameworks=frozenset({"sklearn"}))
        self.hooks = Hooks(self.capture, config).install()

    def off(self) -> None:
        assert self.hooks is not None
        self.hooks.finish()


class Autolog:
    """`mlflow.sklearn.autolog()` into one run of a temporary SQLite store."""

    def __init__(self, folder: Path) -> None:
        import mlflow

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
        mlflow.start_run()
        self.mlflow = mlflow

    def on(self) -> None:
        self.mlflow.sklearn.autolog(silent=True)

    def off(self) -> None:
        self.mlflow.sklearn.autolog(disable=True, silent=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--trees", type=int, default=50)
    options = parser.parse_args()

    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    warnings.filterwarnings("ignore")
    X, y = make_classification(
        n_samples=options.samples, n_features=20, n_informative=10, random_state=0
    )

    def fit() -> None:
        RandomForestClassifier(n_estimators=options.trees, random_state=0, n_jobs=1).fit(X, y)
        LogisticRegression(max_iter=1000).fit(X, y)

    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        tracelet, autolog = Tracelet(Path(folder)), Autolog(Path(folder))
        switches: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
            "untracked": (lambda: None, lambda: None),
            "tracelet hooks": (tracelet.on, tracelet.off),
            "mlflow autolog": (autolog.on, autolog.off),
        }
        for on, off in switches.values():  # warm-up
            on()
            fit()
            off()
        for repeat in range(options.repeat):
            shift = repeat % len(VARIANTS)
            for name in VARIANTS[shift:] + VARIANTS[:shift]:
                on, off = switches[name]
                gc.collect()  # the garbage of the variant before is not this one's cost
                on()
                results[name].append(timed(fit))
                off()
        autolog.mlflow.end_run()
        tracelet.writer.close()
    base = statistics.median(results["untracked"])
    print(
        f"RandomForest ({options.trees} trees) + LogisticRegression fit, "
        f"{options.samples} samples: median of {options.repeat} interleaved repeats"
    )
    for name, times in results.items():
        seconds = statistics.median(times)
        print(f"  {name:15s} {seconds:7.3f} s  {seconds / base:5.2f}x")


if __name__ == "__main__":
    main()
