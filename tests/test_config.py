"""AutomagicConfig: the spec's fields and defaults, where each is set, precedence, and errors.

Precedence is CLI > environment > pyproject.toml `[tool.tracelet]` > defaults. A bad value
is a ConfigError naming the field (or variable) and where the value came from; through the
CLI it is one line and exit 2.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import pytest

from tests.test_cli_instrument import instrument, one_error_line
from tracelet.automagic import (
    AutomagicConfig,
    ConfigError,
    automagic_enabled,
    find_pyproject,
    project_table,
)

SPEC_DEFAULTS: dict[str, object] = {
    "detect_function_args": True,
    "detect_class_attributes": True,
    "detect_argparse": True,
    "detect_config_files": True,
    "track_model_architecture": True,
    "track_model_checkpoints": True,
    "track_model_gradients": False,
    "track_dataset_info": True,
    "track_data_samples": False,
    "monitor_training_loop": True,
    "monitor_loss_curves": True,
    "monitor_learning_rate": True,
    "monitor_gpu_memory": True,
    "monitor_cpu_usage": True,
    "monitor_interval": 10.0,  # tracelet's own: seconds between resource samples
    "frameworks": {"pytorch", "sklearn", "xgboost"},
}
BOOLEAN_FIELDS = [name for name, value in SPEC_DEFAULTS.items() if isinstance(value, bool)]

SCRIPT = """\
learning_rate = 3e-4


def train(model, momentum=0.9, weight_decay=1e-4):
    return model
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No TRACELET_* from the caller's shell, and a scratch working directory."""
    for name in list(os.environ):
        if name.startswith("TRACELET_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pyproject(folder: Path, body: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(body, encoding="utf-8")
    return path


def env_name(field: str) -> str:
    return "TRACELET_AUTOMAGIC_FRAMEWORKS" if field == "frameworks" else f"TRACELET_{field.upper()}"


# ---------------------------------------------------------------- fields and defaults


def test_every_spec_field_exists_with_the_spec_default() -> None:
    assert [f.name for f in fields(AutomagicConfig)] == list(SPEC_DEFAULTS)
    config = AutomagicConfig()
    for name, default in SPEC_DEFAULTS.items():
        assert getattr(config, name) == default, name


def test_loading_with_no_source_gives_the_defaults() -> None:
    assert AutomagicConfig.load() == AutomagicConfig()


def test_constructor_as_the_spec_writes_it() -> None:
    config = AutomagicConfig(
        detect_function_args=False, track_model_gradients=True, frameworks={"pytorch"}
    )
    assert config.detect_function_args is False
    assert config.track_model_gradients is True
    assert config.frameworks == {"pytorch"}
    assert config.detect().function_args is False  # the static detectors follow the fields
    assert config.detect().class_attributes is True


# ---------------------------------------------------------------- environment


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
def test_each_boolean_field_has_its_environment_variable(
    field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flipped = not SPEC_DEFAULTS[field]
    monkeypatch.setenv(env_name(field), "true" if flipped else "false")
    config = AutomagicConfig.load()  # reads os.environ
    assert getattr(config, field) is flipped
    others = {name: getattr(config, name) for name in SPEC_DEFAULTS if name != field}
    assert others == {name: value for name, value in SPEC_DEFAULTS.items() if name != field}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pytorch,sklearn", {"pytorch", "sklearn"}),
        (" xgboost ", {"xgboost"}),
        ("torch, scikit-learn", {"pytorch", "sklearn"}),
        ("PyTorch,XGBoost", {"pytorch", "xgboost"}),
    ],
)
def test_frameworks_from_the_environment(raw: str, expected: set[str]) -> None:
    config = AutomagicConfig.load(env={"TRACELET_AUTOMAGIC_FRAMEWORKS": raw})
    assert config.frameworks == expected


def test_monitor_interval_from_each_source() -> None:
    assert AutomagicConfig.load(env={"TRACELET_MONITOR_INTERVAL": "2.5"}).monitor_interval == 2.5
    assert AutomagicConfig.load(project={"monitor_interval": 1}).monitor_interval == 1.0


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "soon", "0.01"])
def test_a_bad_monitor_interval_names_its_source(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^TRACELET_MONITOR_INTERVAL: expected a number"):
        AutomagicConfig.load(env={"TRACELET_MONITOR_INTERVAL": raw})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(raw, True) for raw in ("1", "true", "YES", " on ")],
        *[(raw, False) for raw in ("0", "false", "No", "off")],
    ],
)
def test_boolean_spellings(raw: str, expected: bool) -> None:
    config = AutomagicConfig.load(env={"TRACELET_DETECT_ARGPARSE": raw})
    assert config.detect_argparse is expected


def test_automagic_enabled_follows_tracelet_enable_automagic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert automagic_enabled() is False
    monkeypatch.setenv("TRACELET_ENABLE_AUTOMAGIC", "true")
    assert automagic_enabled() is True
    monkeypatch.setenv("TRACELET_ENABLE_AUTOMAGIC", "0")
    assert automagic_enabled() is False
    assert automagic_enabled({"TRACELET_ENABLE_AUTOMAGIC": "yes"}) is True
    monkeypatch.setenv("TRACELET_ENABLE_AUTOMAGIC", "sometimes")
    with pytest.raises(ConfigError, match=r"TRACELET_ENABLE_AUTOMAGIC.*'sometimes'"):
        automagic_enabled()


# ---------------------------------------------------------------- pyproject.toml


def test_tool_tracelet_is_read_from_the_nearest_pyproject(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyproject(isolated, "[tool.tracelet]\ndetect_argparse = false\nframeworks = ['sklearn']\n")
    deep = isolated / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    table = project_table(Path.cwd())
    assert table == {"detect_argparse": False, "frameworks": ["sklearn"]}
    config = AutomagicConfig.load(project=table)
    assert config.detect_argparse is False
    assert config.frameworks == {"sklearn"}


def test_the_nearest_pyproject_wins_even_without_a_tracelet_table(isolated: Path) -> None:
    pyproject(isolated, "[tool.tracelet]\ndetect_argparse = false\n")
    inner = isolated / "inner"
    inner.mkdir()
    pyproject(inner, "[project]\nname = 'inner'\n")
    assert find_pyproject(inner) == inner / "pyproject.toml"
    assert project_table(inner) == {}


def test_no_pyproject_means_an_empty_table(isolated: Path) -> None:
    if find_pyproject(isolated) is not None:
        pytest.skip("a pyproject.toml above the temporary directory")
    assert project_table(isolated) == {}


def test_command_keys_are_allowed_but_do_not_reach_the_config(isolated: Path) -> None:
    pyproject(isolated, "[tool.tracelet]\nexclude = ['old']\ntrack_data_samples = true\n")
    table = project_table(isolated)
    assert table["exclude"] == ["old"]
    assert AutomagicConfig.load(project=table).track_data_samples is True


# ---------------------------------------------------------------- precedence

FIELD, VAR = "detect_argparse", "TRACELET_DETECT_ARGPARSE"


@pytest.mark.parametrize(
    ("cli", "env", "project", "expected"),
    [
        pytest.param(None, None, {FIELD: False}, False, id="pyproject>default"),
        pytest.param(None, {VAR: "false"}, None, False, id="env>default"),
        pytest.param({FIELD: False}, None, None, False, id="cli>default"),
        pytest.param(None, {VAR: "true"}, {FIELD: False}, True, id="env>pyproject"),
        pytest.param(None, {VAR: "false"}, {FIELD: True}, False, id="env>pyproject(2)"),
        pytest.param({FIELD: True}, None, {FIELD: False}, True, id="cli>pyproject"),
        pytest.param({FIELD: True}, {VAR: "false"}, None, True, id="cli>env"),
        pytest.param({FIELD: False}, {VAR: "true"}, None, False, id="cli>env(2)"),
        pytest.param({FIELD: True}, {VAR: "false"}, {FIELD: False}, True, id="cli>env>pyproject"),
        pytest.param({FIELD: None}, {VAR: "false"}, None, False, id="cli-not-given"),
    ],
)
def test_precedence_cli_env_pyproject_default(
    cli: dict | None, env: dict | None, project: dict | None, expected: bool
) -> None:
    config = AutomagicConfig.load(cli=cli, env=env or {}, project=project)
    assert config.detect_argparse is expected


def test_frameworks_precedence_env_over_pyproject() -> None:
    config = AutomagicConfig.load(
        env={"TRACELET_AUTOMAGIC_FRAMEWORKS": "xgboost"}, project={"frameworks": ["pytorch"]}
    )
    assert config.frameworks == {"xgboost"}


def test_sources_merge_field_by_field() -> None:
    config = AutomagicConfig.load(
        cli={"detect_function_args": False},
        env={"TRACELET_MONITOR_GPU_MEMORY": "off"},
        project={"track_model_gradients": True},
    )
    assert config.detect_function_args is False
    assert config.monitor_gpu_memory is False
    assert config.track_model_gradients is True
    assert config.detect_argparse is True


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        pytest.param(
            {"env": {"TRACELET_DETECT_ARGPARSE": "maybe"}},
            ["TRACELET_DETECT_ARGPARSE", "'maybe'"],
            id="bad-boolean-in-env",
        ),
        pytest.param(
            {"env": {"TRACELET_AUTOMAGIC_FRAMEWORKS": "pytorch,tensorflow"}},
            ["TRACELET_AUTOMAGIC_FRAMEWORKS", "'tensorflow'", "pytorch, sklearn, xgboost"],
            id="unknown-framework-in-env",
        ),
        pytest.param(
            {"project": {"frameworks": ["jax"]}},
            ["[tool.tracelet] frameworks", "'jax'"],
            id="unknown-framework-in-pyproject",
        ),
        pytest.param(
            {"project": {"frameworks": 3}},
            ["[tool.tracelet] frameworks", "list of frameworks"],
            id="frameworks-not-a-list",
        ),
        pytest.param(
            {"project": {"monitor_cpu_usage": 1}},
            ["[tool.tracelet] monitor_cpu_usage", "true or false"],
            id="number-for-a-boolean-in-pyproject",
        ),
        pytest.param(
            {"cli": {"detect_config_files": "perhaps"}},
            ["--detect-config-files", "'perhaps'"],
            id="bad-value-from-cli",
        ),
    ],
)
def test_invalid_values_name_the_field_and_the_source(
    kwargs: dict[str, dict], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        AutomagicConfig.load(**{"env": {}, **kwargs})
    for name in names:
        assert name in str(caught.value)


def test_constructor_rejects_an_unknown_framework() -> None:
    with pytest.raises(ConfigError, match=r"AutomagicConfig.*'jax'"):
        AutomagicConfig(frameworks={"jax"})


@pytest.mark.parametrize(
    ("body", "names"),
    [
        pytest.param(
            "[tool.tracelet]\ndetect_everything = true\n",
            ["pyproject.toml", "[tool.tracelet]", "unknown key 'detect_everything'"],
            id="unknown-key",
        ),
        pytest.param(
            "[tool.tracelet]\ndetect_argparse = \n",
            ["pyproject.toml", "line 2"],
            id="broken-toml",
        ),
        pytest.param(
            "[tool]\ntracelet = 3\n", ["pyproject.toml", "must be a table"], id="not-a-table"
        ),
        pytest.param(
            "[tool.tracelet]\nexclude = 'old'\n",
            ["pyproject.toml", "[tool.tracelet] exclude", "'old'"],
            id="exclude-not-a-list",
        ),
    ],
)
def test_bad_pyproject_names_the_file_and_the_problem(
    isolated: Path, body: str, names: list[str]
) -> None:
    pyproject(isolated, body)
    with pytest.raises(ConfigError) as caught:
        project_table(isolated)
    for name in names:
        assert name in str(caught.value)


def test_a_tool_key_that_is_not_a_table_is_ignored(isolated: Path) -> None:
    pyproject(isolated, 'tool = "nothing here"\n')
    assert project_table(isolated) == {}


# ---------------------------------------------------------------- through the CLI


def detected(cwd: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    proc = instrument(cwd, "--json", *args, "train.py", env=env)
    assert proc.returncode == 0, proc.stderr
    return {record["name"] for record in json.loads(proc.stdout)}


def test_cli_invalid_environment_value_is_one_line_and_exit_2(isolated: Path) -> None:
    (isolated / "train.py").write_text(SCRIPT)
    proc = instrument(isolated, "train.py", env={"TRACELET_DETECT_ARGPARSE": "maybe"})
    line = one_error_line(proc)
    assert line == "tracelet: TRACELET_DETECT_ARGPARSE: expected true or false, got 'maybe'"
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "body",
    ["[tool.tracelet]\ndetect_everything = true\n", "[tool.tracelet\n"],
    ids=["unknown-key", "broken-toml"],
)
def test_cli_bad_pyproject_is_one_line_and_exit_2(isolated: Path, body: str) -> None:
    (isolated / "train.py").write_text(SCRIPT)
    pyproject(isolated, body)
    line = one_error_line(instrument(isolated, "train.py"))
    assert line.startswith("tracelet: pyproject.toml: ")


def test_cli_detect_function_args_through_every_source(isolated: Path) -> None:
    (isolated / "train.py").write_text(SCRIPT)
    everything = {"learning_rate", "momentum", "weight_decay"}
    assert detected(isolated) == everything
    assert detected(isolated, "--no-detect-function-args") == {"learning_rate"}

    off = {"TRACELET_DETECT_FUNCTION_ARGS": "false"}
    assert detected(isolated, env=off) == {"learning_rate"}
    assert detected(isolated, "--detect-function-args", env=off) == everything  # CLI > env

    pyproject(isolated, "[tool.tracelet]\ndetect_function_args = false\n")
    assert detected(isolated) == {"learning_rate"}
    on = {"TRACELET_DETECT_FUNCTION_ARGS": "true"}
    assert detected(isolated, env=on) == everything  # env > pyproject


def test_cli_exclude_skips_matching_files_in_directory_walks(isolated: Path) -> None:
    for name in ("src/train.py", "src/model_generated.py", "src/experiments/old/run.py"):
        path = isolated / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SCRIPT)
    pyproject(
        isolated,
        '[tool.tracelet]\nexclude = ["src/experiments/old", "*_generated.py"]\n',
    )
    files = {r["file"] for r in json.loads(instrument(isolated, "--json", "src").stdout)}
    assert files == {"src/train.py"}

    # from a subfolder, the `/` pattern still counts from the pyproject's folder
    inside = isolated / "src"
    files = {r["file"] for r in json.loads(instrument(inside, "--json", ".").stdout)}
    assert files == {"./train.py"}

    # a file named on the command line is always read
    proc = instrument(isolated, "--json", "src/model_generated.py")
    assert {r["file"] for r in json.loads(proc.stdout)} == {"src/model_generated.py"}
