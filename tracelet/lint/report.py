"""Render lint findings: text for people, JSON, GitHub annotations and SARIF for machines.

Every function takes the findings already sorted by the caller and writes to a text stream.
The machine formats (json, github, sarif) write nothing but their format, so their output
can be piped or uploaded as it is: `statistics` applies to the text format only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import TextIO
from urllib.parse import quote

from tracelet import __version__
from tracelet.lint.rules import RULES, RULES_BY_CODE, SYNTAX_ERROR, Finding, LintRule

FORMATS = ("text", "json", "github", "sarif")

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
# The project has no [project.urls] yet: point this at its home page once it has one.
INFORMATION_URI = "https://pypi.org/project/tracelet/"

_ANSI = {"bold": "\x1b[1m", "red": "\x1b[1;31m", "yellow": "\x1b[1;33m", "cyan": "\x1b[36m"}
_RESET = "\x1b[0m"
Paint = Callable[[str, str], str]  # (style, text) -> text, colored or not
# Control characters (C0, DEL, C1) shown as escapes: a finding stays on one line, and a
# file name or message cannot send escape sequences to the terminal.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def render(
    findings: Sequence[Finding],
    fmt: str,
    stream: TextIO,
    *,
    color: bool,
    statistics: bool,
    files_checked: int,
) -> None:
    """Write `findings` to `stream` in format `fmt` (one of FORMATS).

    `color`, `statistics` and `files_checked` concern the text format; the machine formats
    ignore them so that their output stays pure.
    """
    if fmt == "text":
        render_text(
            findings, stream, color=color, statistics=statistics, files_checked=files_checked
        )
    elif fmt == "json":
        render_json(findings, stream)
    elif fmt == "github":
        render_github(findings, stream)
    elif fmt == "sarif":
        render_sarif(findings, stream)
    else:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


# ---------------------------------------------------------------- text


def render_text(
    findings: Sequence[Finding],
    stream: TextIO,
    *,
    color: bool = False,
    statistics: bool = False,
    files_checked: int = 0,
) -> None:
    """`path:line:col: CODE message` per finding, or with `statistics` a table of counts per
    rule in their place (as `ruff --statistics`); then a one-line summary."""
    paint = _painter(color)
    lines = _statistics(findings) if statistics else [_text_line(f, paint) for f in findings]
    lines.append(paint("bold", summary(len(findings), files_checked)))
    stream.write("".join(line + "\n" for line in lines))


def summary(count: int, files_checked: int) -> str:
    files = _plural(files_checked, "file")
    if not count:
        return f"All clear: no untracked hyperparameters in {files}."
    return f"Found {_plural(count, 'hyperparameter finding')} in {files}."


def statistics_table(findings: Sequence[Finding]) -> list[tuple[int, str, str]]:
    """(count, code, rule name) per rule that has findings: most frequent first, then by code."""
    counts = Counter(f.code for f in findings)
    rows = [(n, code, _rule_name(code)) for code, n in counts.items()]
    return sorted(rows, key=lambda row: (-row[0], row[1]))


def _statistics(findings: Sequence[Finding]) -> list[str]:
    rows = statistics_table(findings)
    if not rows:
        return []
    width = max(len(str(n)) for n, _, _ in rows)
    code_width = max(len(code) for _, code, _ in rows)
    return [
        f"{n:>{width}}\t{_clean(code):<{code_width}}\t{_clean(name)}".rstrip()
        for n, code, name in rows
    ]


def _text_line(finding: Finding, paint: Paint) -> str:
    where = paint("bold", _clean(finding.file)) + paint("cyan", f":{finding.line}:{finding.col}:")
    style = "red" if finding.code == SYNTAX_ERROR else "yellow"
    return f"{where} {paint(style, _clean(finding.code))} {_clean(finding.message)}"


def _painter(color: bool) -> Paint:
    if not color:
        return lambda _style, text: text
    return lambda style, text: f"{_ANSI[style]}{text}{_RESET}" if text else text


def _clean(text: str) -> str:
    return text.translate(_CONTROL)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _rule_name(code: str) -> str:
    rule = RULES_BY_CODE.get(code)
    return rule.name if rule else ""


# ---------------------------------------------------------------- json


def render_json(findings: Sequence[Finding], stream: TextIO) -> None:
    """A JSON list of `Finding.as_json()`: file, line, col, code, name, message."""
    stream.write(json.dumps([f.as_json() for f in findings], indent=2) + "\n")


# ---------------------------------------------------------------- github


def render_github(findings: Sequence[Finding], stream: TextIO) -> None:
    """One GitHub Actions workflow command per finding: an annotation on the file's line.

    `::warning file=…,line=…,col=…,title=TL001 untracked-hyperparameter::message`;
    TL999 (a file that cannot be checked) is an `::error`.
    """
    stream.write("".join(github_annotation(f) + "\n" for f in findings))


def github_annotation(finding: Finding) -> str:
    command = "error" if finding.code == SYNTAX_ERROR else "warning"
    properties = {"file": _posix(finding.file)}
    if finding.line >= 1:
        properties["line"] = str(finding.line)
        if finding.col >= 1:
            properties["col"] = str(finding.col)
    properties["title"] = f"{finding.code} {_rule_name(finding.code)}".rstrip()
    joined = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::{command} {joined}::{_escape_data(finding.message)}"


def _escape_data(text: str) -> str:
    """As @actions/core's escapeData: `%` first, so the escapes themselves survive."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# ---------------------------------------------------------------- sarif


def render_sarif(findings: Sequence[Finding], stream: TextIO) -> None:
    """A SARIF 2.1.0 log with one run, for GitHub code scanning and other SARIF viewers."""
    stream.write(json.dumps(sarif_log(findings), indent=2) + "\n")


def sarif_log(findings: Sequence[Finding]) -> dict[str, object]:
    index = {rule.code: i for i, rule in enumerate(RULES)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tracelet",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_sarif_rule(rule) for rule in RULES],
                    }
                },
                # Finding.col counts characters, not SARIF's default UTF-16 code units.
                "columnKind": "unicodeCodePoints",
                "results": [_sarif_result(f, index.get(f.code)) for f in findings],
            }
        ],
    }


def _level(code: str) -> str:
    return "error" if code == SYNTAX_ERROR else "warning"


def _sarif_rule(rule: LintRule) -> dict[str, object]:
    summary = rule.summary[:1].upper() + rule.summary[1:]
    help_text = _RULE_HELP.get(rule.code, _TRACKED_HELP)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": f"{summary}."},
        "fullDescription": {"text": f"{rule.code} ({rule.name}) reports {rule.summary}."},
        "help": {"text": f"{help_text} Silence it on one line with `# noqa: {rule.code}`."},
        "defaultConfiguration": {"level": _level(rule.code)},
        "properties": {"tags": ["ml", "experiment-tracking"]},
    }


_TRACKED_HELP = (
    "Log the value with your tracker (mlflow.log_param, wandb.config, Experiment.log_params, "
    "...), or let tracelet capture it: run the script with `tracelet run`, pass "
    "`automagic=True` to `Experiment`, or add a `# tracelet: automagic` pragma to the file."
)
_RULE_HELP = {
    "TL004": "Bind the literal to a named hyperparameter and log that name, so the value "
    "is recorded with the run; or let tracelet capture it with `tracelet run`.",
    SYNTAX_ERROR: "Fix the syntax error, or exclude the file from the check in "
    "[tool.tracelet] exclude: until it parses, its hyperparameters cannot be checked.",
}


def _sarif_result(finding: Finding, rule_index: int | None) -> dict[str, object]:
    physical: dict[str, object] = {"artifactLocation": _artifact(finding.file)}
    if finding.line >= 1:  # SARIF positions are 1-based; an unreadable file has none
        region: dict[str, int] = {"startLine": finding.line}
        if finding.col >= 1:
            region["startColumn"] = finding.col
        physical["region"] = region
    result: dict[str, object] = {"ruleId": finding.code}
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    result["level"] = _level(finding.code)
    result["message"] = {"text": finding.message or _summary_of(finding.code)}
    result["locations"] = [{"physicalLocation": physical}]
    return result


def _artifact(file: str) -> dict[str, str]:
    """A relative path becomes a URI relative to %SRCROOT%; an absolute one a file: URI."""
    path = PurePath(file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": quote(path.as_posix(), safe="/"), "uriBaseId": "%SRCROOT%"}


def _posix(file: str) -> str:
    return PurePath(file).as_posix()


def _summary_of(code: str) -> str:
    rule = RULES_BY_CODE.get(code)
    return rule.summary if rule else code
