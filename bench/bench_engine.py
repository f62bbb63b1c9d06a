"""Detection + rewrite throughput against `ast.parse`, measured side by side in one run.

    python bench/bench_engine.py [CORPUS_DIR] [--jobs N]

Prints lines per second for `ast.parse` (one process, the baseline), for the
engine in one process and in a pool, and cold/warm times of one 300-line
training script (cold: detect, rewrite, compile; warm: a cache hit).
Goals: pool >= 1/12 of ast.parse throughput; warm >= ast.parse.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import ROOT, best, corpus, default_corpus, timed

from tracelet.transforms.cache import compiled_rewrite
from tracelet.transforms.engine import transform
from tracelet.transforms.source import Source


def _transform_text(source: Source) -> int:
    return len(transform(source).analysis.sites)


def _script_300() -> bytes:
    """A 300-line training script made from the fixtures."""
    lines: list[str] = []
    for path in sorted((ROOT / "fixtures").glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="ignore")
        if "coding" in text.splitlines()[0]:
            continue
        lines.extend(line for line in text.splitlines() if not line.startswith("from __future__"))
        if len(lines) >= 300:
            break
    text = "\n".join(lines[:300]) + "\n"
    while True:  # cut at a line that still parses
        try:
            ast.parse(text)
            return text.encode()
        except SyntaxError as error:
            text = "\n".join(text.splitlines()[: (error.lineno or 2) - 1]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=default_corpus())
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()

    sources = corpus(options.corpus)
    lines = sum(s.text.count("\n") for s in sources)
    print(f"corpus: {options.corpus} — {len(sources)} files, {lines} lines")

    t_ast = best(lambda: [ast.parse(s.text) for s in sources], 3)
    t_one = timed(lambda: [transform(s) for s in sources])
    with ProcessPoolExecutor(options.jobs) as pool:
        list(pool.map(_transform_text, sources[: options.jobs * 2]))  # start the workers
        t_pool = timed(lambda: list(pool.map(_transform_text, sources, chunksize=4)))
    rate = lines / t_ast
    print(f"  ast.parse, one process      {rate:10.0f} lines/s   1")
    for label, seconds in (
        (" engine, one process", t_one),
        (f" engine, pool of {options.jobs}", t_pool),
    ):
        print(f" {label:28s}{lines / seconds:10.0f} lines/s   1/{seconds / t_ast:.1f} of ast.parse")

    data = _script_300()
    n = data.count(b"\n")
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        path = Path(folder) / "train.py"
        cold = [
            timed(lambda i=i: compiled_rewrite(path, data + b"#%d\n" % i, root=cache))
            for i in range(5)
        ]
        warm = [
            timed(lambda: compiled_rewrite(path, data + b"#0\n", root=cache)) for _ in range(50)
        ]
    parse = [timed(lambda: ast.parse(data)) for _ in range(50)]
    p, c, w = statistics.median(parse), statistics.median(cold), statistics.median(warm)
    print(f"{n}-line script: ast.parse {p * 1e3:.2f} ms; cold rewrite {c * 1e3:.1f} ms")
    print(f"  warm (cached) {w * 1e3:.2f} ms: {p / w:.1f}x the speed of ast.parse")


if __name__ == "__main__":
    main()
