"""The rewrite cache: a hit gives the same code without importing libcst; a change misses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = "learning_rate = 0.1\nprint(learning_rate)\n"

PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tracelet.transforms.cache import compiled_rewrite
    path = Path(sys.argv[1])
    code = compiled_rewrite(path, path.read_bytes(), root=Path(sys.argv[2]))
    print("libcst" in sys.modules, code.co_filename == str(path), sorted(code.co_names))
""")


def probe(script: Path, root: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(script), str(root)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip()


def test_a_hit_imports_no_libcst_and_a_change_misses(tmp_path: Path) -> None:
    script, root = tmp_path / "train.py", tmp_path / "cache"
    script.write_text(SCRIPT)
    names = "['__tracelet__', 'learning_rate', 'param', 'print']"
    assert probe(script, root) == f"True True {names}"  # a miss rewrites with libcst
    assert probe(script, root) == f"False True {names}"  # a hit does not import it
    script.write_text(SCRIPT.replace("0.1", "0.2"))
    assert probe(script, root).startswith("True")  # changed source: a miss
    assert len(list((root / "rewrite").glob("*.bin"))) == 2
