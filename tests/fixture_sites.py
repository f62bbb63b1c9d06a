"""Expected sites of the fixtures; `python -m tests.fixture_sites` rewrites them after review."""

from __future__ import annotations

import json
from pathlib import Path

from tracelet.transforms.engine import transform
from tracelet.transforms.source import read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def scripts() -> list[Path]:
    return sorted(FIXTURES.glob("*.py"))


def expected_path(script: Path) -> Path:
    return script.with_suffix(".sites.json")


def detected(script: Path) -> list[dict[str, object]]:
    result = transform(read_source(script, f"fixtures/{script.name}"))
    return [site.as_json() for site in result.analysis.sites]


def main() -> None:
    for script in scripts():
        expected_path(script).write_text(json.dumps(detected(script), indent=2) + "\n")
        print(f"wrote {expected_path(script).name}")


if __name__ == "__main__":
    main()
