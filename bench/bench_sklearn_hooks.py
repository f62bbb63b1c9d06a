"""scikit-learn RandomForest + LogisticRegression: fit time untracked, with tracelet's hooks
installed, and with `mlflow.sklearn.autolog()`.

    python bench/bench_sklearn_hooks.py [--rounds R] [--repeat N] [--samples N] [--trees N]

Measured side by side in one run: each round runs every variant in a fresh process, in an
order that rotates from round to round. A process builds the data, fits both models once to
warm up (autolog creates its run there), then times N fits of both and reports their median;
the medians over rounds are printed with their ratio to untracked. Goal: tracelet <= 1.02x.
tracelet's hooks write to a real spool (no sidecar: its delivery runs in another process);
autolog logs to a SQLite store in a temporary folder, in one run, with its default settings.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import ROOT, timed

VARIANTS = ("untracked", "tracelet hooks", "mlflow autolog")


def start(variant: str, folder: Path) -> Callable[[], None]:
    """Turn on the variant's tracking; returns what ends it."""
    if variant == "tracelet hooks":
        from tracelet.automagic import AutomagicConfig
        from tracelet.runtime.capture import Capture
        from tracelet.runtime.hooks import Hooks
        from tracelet.runtime.spool import SpoolWriter

        writer = SpoolWriter.create(folder / "spool", experiment="bench")
        hooks = Hooks(Capture(writer), AutomagicConfig(frameworks=frozenset({"sklearn"})))
        hooks.install()

        def end() -> None:
            hooks.finish()
            writer.close()

        return end
    if variant == "mlflow autolog":
        import logging

        import mlflow

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
        mlflow.sklearn.autolog(silent=True)
        mlflow.start_run()
        return mlflow.end_run
    return lambda: None


def child(variant: str, samples: int, trees: int, repeat: int, folder: Path) -> None:
    """One process of one variant: print the median seconds of `repeat` fits of both models."""
    import warnings

    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    warnings.filterwarnings("ignore")
    X, y = make_classification(n_samples=samples, n_features=20, n_informative=10, random_state=0)

    def fit() -> None:
        RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=1).fit(X, y)
        LogisticRegression(max_iter=1000).fit(X, y)

    end = start(variant, folder)
    fit()
    seconds = statistics.median(timed(fit) for _ in range(repeat))
    end()
    print(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="timed fits per process")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child, options.samples, options.trees, options.repeat, options.folder)
        return
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    sizes = ["--samples", str(options.samples), "--trees", str(options.trees)]
    sizes += ["--repeat", str(options.repeat)]
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(options.rounds):
            shift = round_ % len(VARIANTS)
            for name in VARIANTS[shift:] + VARIANTS[:shift]:
                command = [sys.executable, __file__, "--child", name, "--folder", folder, *sizes]
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
                results[name].append(float(done.stdout.strip().splitlines()[-1]))
    base = statistics.median(results["untracked"])
    print(
        f"RandomForest ({options.trees} trees) + LogisticRegression fit, "
        f"{options.samples} samples: median of {options.rounds} rounds x {options.repeat} fits"
    )
    for name, times in results.items():
        seconds = statistics.median(times)
        print(f"  {name:15s} {seconds:7.3f} s  {seconds / base:5.2f}x")


if __name__ == "__main__":
    main()
