"""`tracelet lint` throughput, cold and warm, against `ast.parse` on the same files in one run.

    python bench/bench_lint.py [CORPUS_DIR ...] [--jobs N]

Cold: an empty cache, files linted in a process pool. Warm: every file a cache
hit. Goals: cold >= 1/12 of ast.parse throughput; warm >= ast.parse.
"""

from __future__ import annotations

import argparse
import ast
import os
import tempfile
from pathlib import Path

from common import best, corpus, default_corpus, timed

from tracelet.cli.files import in_parallel
from tracelet.lint.check import LintSettings, lint_file


def _lint(file: str, settings: LintSettings) -> int:
    return len(lint_file(Path(file), file, settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="*", type=Path, default=[default_corpus()])
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()

    sources = [source for root in options.corpus for source in corpus(root)]
    files = [source.file for source in sources]
    lines = sum(source.text.count("\n") for source in sources)
    print(f"corpus: {', '.join(map(str, options.corpus))} — {len(files)} files, {lines} lines")
    settings = LintSettings()
    t_ast = best(lambda: [ast.parse(s.text) for s in sources], 3)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # the cache lives in ./.tracelet_cache
        try:
            t_cold = timed(lambda: list(in_parallel(_lint, files, settings, jobs=options.jobs)))
            t_warm = best(lambda: list(in_parallel(_lint, files, settings, jobs=options.jobs)), 3)
        finally:
            os.chdir(here)
    print(f"  ast.parse, one process   {lines / t_ast:10.0f} lines/s   1")
    print(f"  lint cold, pool of {options.jobs}     {lines / t_cold:10.0f} lines/s   "
          f"1/{t_cold / t_ast:.1f} of ast.parse")  # fmt: skip
    print(f"  lint warm, pool of {options.jobs}     {lines / t_warm:10.0f} lines/s   "
          f"{t_ast / t_warm:.2f}x ast.parse")  # fmt: skip


if __name__ == "__main__":
    main()
