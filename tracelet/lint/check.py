"""Lint one file: its sites, which reach a tracker, and the findings left after suppressions."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelet.lint.rules import RULE_FOR_KIND, RULES_BY_CODE, SYNTAX_ERROR, Finding
from tracelet.transforms import cache
from tracelet.transforms.classify import ARGPARSE, CALL_KWARG, CONFIG_LOAD, FUNC_ARG
from tracelet.transforms.options import Detect
from tracelet.transforms.source import SourceError, read_source

if TYPE_CHECKING:
    from tracelet.transforms.sites import Site

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.I)


class LintConfigError(ValueError):
    """A bad `[tool.tracelet.lint]` value."""


@dataclass(frozen=True, slots=True)
class LintSettings:
    """`[tool.tracelet.lint]` and `[tool.tracelet] entrypoints`, resolved."""

    select: frozenset[str] = frozenset(RULES_BY_CODE)
    ignore: frozenset[str] = frozenset()
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    entrypoints: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    detect: Detect = field(default_factory=Detect)

    @classmethod
    def from_table(cls, table: dict[str, Any], detect: Detect) -> LintSettings:
        lint = table.get("lint", {})
        if not isinstance(lint, dict):
            raise LintConfigError("[tool.tracelet.lint] must be a table")
        unknown = set(lint) - {"select", "ignore", "per-file-ignores", "exclude"}
        if unknown:
            raise LintConfigError(f"[tool.tracelet.lint]: unknown key {sorted(unknown)[0]!r}")
        per_file = lint.get("per-file-ignores", {})
        if not isinstance(per_file, dict):
            raise LintConfigError("[tool.tracelet.lint] per-file-ignores must be a table")
        return cls(
            select=_codes(lint.get("select", sorted(RULES_BY_CODE)), "select"),
            ignore=_codes(lint.get("ignore", []), "ignore"),
            per_file_ignores=tuple(
                (pattern, _codes(codes, f"per-file-ignores {pattern!r}"))
                for pattern, codes in sorted(per_file.items())
            ),
            entrypoints=tuple(_strings(table.get("entrypoints", []), "entrypoints")),
            exclude=tuple(_strings(lint.get("exclude", []), "exclude")),
            detect=detect,
        )

    def enabled(self, file: str) -> frozenset[str]:
        codes = self.select - self.ignore
        for pattern, ignored in self.per_file_ignores:
            if _matches(file, pattern):
                codes -= ignored
        return codes

    def is_entrypoint(self, file: str) -> bool:
        return any(_matches(file, pattern) for pattern in self.entrypoints)

    def key(self, file: str) -> str:
        return f"{sorted(self.enabled(file))}|{self.is_entrypoint(file)}|{self.detect!r}"


def lint_file(
    path: Path, file: str, settings: LintSettings, use_cache: bool = True
) -> list[Finding]:
    """Findings of one file, from the cache when its content and settings are unchanged."""
    try:
        data = path.read_bytes() if use_cache else b""
    except OSError:
        data = b""
    entry = cache.key(data, file, settings.key(file)) + ".json"
    folder = cache.ROOT / "lint"
    if use_cache and data and (cached := cache.load(folder, entry)) is not None:
        return [Finding(**record) for record in json.loads(cached)]
    findings = _lint(path, file, settings)
    if use_cache and data:
        cache.store(folder, entry, json.dumps([f.as_json() for f in findings]).encode())
    return findings


def _lint(path: Path, file: str, settings: LintSettings) -> list[Finding]:
    from tracelet.transforms.engine import transform  # libcst: only on a cache miss
    from tracelet.transforms.tracking import analyse_tracking

    enabled = settings.enabled(file)
    try:
        result = transform(read_source(path, file), settings.detect)
    except SourceError as error:
        if error.message == "file is empty":
            return []
        if SYNTAX_ERROR not in enabled:
            return []
        return [Finding(file, error.line or 1, error.col or 1, SYNTAX_ERROR, "", error.message)]
    tracking = analyse_tracking(result.original, settings.is_entrypoint(file))
    lines = result.original.splitlines()
    findings = []
    for site in result.analysis.sites:
        rule = RULE_FOR_KIND.get(site.kind)
        if rule is None or rule.code not in enabled or tracking.covers(site):
            continue
        if _suppressed(lines, site.line, rule.code):
            continue
        findings.append(
            Finding(site.file, site.line, site.col, rule.code, site.name, message(site))
        )
    return findings


def message(site: Site) -> str:
    value = " ".join(site.value.split())
    value = " = " + (value if len(value) <= 40 else value[:39] + "…") if value else ""
    if site.kind == ARGPARSE:
        return f"command-line option '{site.name}' is never logged"
    if site.kind == CONFIG_LOAD:
        return f"configuration '{site.name}' loaded from a file is never logged"
    if site.kind == CALL_KWARG:
        return f"inline hyperparameter '{site.name}'{value} reaches no tracker"
    if site.kind == FUNC_ARG:
        return f"argument '{site.name}'{value} of '{site.scope}' is never logged"
    return f"untracked hyperparameter '{site.name}'{value}"


def _suppressed(lines: list[str], line: int, code: str) -> bool:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    match = NOQA.search(text)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in {c.strip().upper() for c in codes.split(",")}


def _matches(file: str, pattern: str) -> bool:
    """A glob against the path as given (without a leading `./`) or against its name."""
    posix = Path(file).as_posix()  # Path drops a leading "./"
    return fnmatch.fnmatch(posix, pattern) or fnmatch.fnmatch(Path(posix).name, pattern)


def _codes(value: Any, key: str) -> frozenset[str]:
    codes = frozenset(code.upper() for code in _strings(value, key))
    unknown = codes - set(RULES_BY_CODE)
    if unknown:
        raise LintConfigError(f"[tool.tracelet.lint] {key}: unknown rule {sorted(unknown)[0]}")
    return codes


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise LintConfigError(f"[tool.tracelet] {key}: expected a list of strings")
    return value
