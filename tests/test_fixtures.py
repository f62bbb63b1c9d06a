"""Each fixture script yields exactly its reviewed list of sites, and its rewrite is sound."""

from __future__ import annotations

import ast
import json

import pytest

from tests.fixture_sites import detected, expected_path, scripts
from tests.support import dump, stripped
from tracelet.transforms.engine import transform
from tracelet.transforms.inject import code_tree
from tracelet.transforms.source import Source, read_source

SCRIPTS = scripts()


def test_there_are_at_least_fifteen_fixtures() -> None:
    assert len(SCRIPTS) >= 15
    assert all(expected_path(script).exists() for script in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_fixture_sites_match_exactly(script) -> None:
    assert detected(script) == json.loads(expected_path(script).read_text())


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_fixture_rewrite_round_trips(script) -> None:
    source = read_source(script)
    result = transform(source)
    assert result.changed or not result.analysis.sites
    tree = code_tree(result.rewrite, str(script))
    compile(tree, str(script), "exec")
    assert dump(stripped(tree)) == dump(ast.parse(source.text))
    again = transform(Source(source.file, result.rewrite.source, source.encoding))
    assert again.rewrite.source == result.rewrite.source
