"""AutomagicConfig: what tracelet detects and tracks, and where that is configured.

Every field of the spec, loadable from `[tool.tracelet]` in pyproject.toml, from
`TRACELET_*` environment variables and from command-line options, with the
precedence CLI > environment > pyproject > defaults. A bad value is a
`ConfigError` that names the field and where the value came from.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelet.transforms.options import Detect

if TYPE_CHECKING:
    from tracelet.experiment import Experiment

FRAMEWORKS = frozenset({"pytorch", "sklearn", "xgboost"})
_FRAMEWORK_ALIASES = {"torch": "pytorch", "scikit-learn": "sklearn", "xgb": "xgboost"}
ENV_PREFIX = "TRACELET_"
ENV_FRAMEWORKS = "TRACELET_AUTOMAGIC_FRAMEWORKS"
ENV_ENABLE = "TRACELET_ENABLE_AUTOMAGIC"
MIN_INTERVAL = 0.1  # seconds; faster sampling would cost training time
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field and its source."""


@dataclass(frozen=True)
class AutomagicConfig:
    # Hyperparameter detection
    detect_function_args: bool = True
    detect_class_attributes: bool = True
    detect_argparse: bool = True
    detect_config_files: bool = True
    # Model tracking
    track_model_architecture: bool = True
    track_model_checkpoints: bool = True
    track_model_gradients: bool = False
    # Dataset tracking
    track_dataset_info: bool = True
    track_data_samples: bool = False
    # Training monitoring
    monitor_training_loop: bool = True
    monitor_loss_curves: bool = True
    monitor_learning_rate: bool = True
    # Resource monitoring
    monitor_gpu_memory: bool = True
    monitor_cpu_usage: bool = True
    monitor_interval: float = 10.0  # seconds between resource samples (MLflow's default)
    # Framework selection
    frameworks: frozenset[str] = field(default_factory=lambda: FRAMEWORKS)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(f.name, value, "AutomagicConfig"))

    @classmethod
    def load(
        cls,
        cli: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        project: Mapping[str, Any] | None = None,
    ) -> AutomagicConfig:
        """Merge the sources, highest precedence first: CLI, environment, pyproject."""
        values: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for key, value in (project or {}).items():
            if key in names:
                values[key] = _coerce(key, value, f"[tool.tracelet] {key}")
        for key, value in from_environment(os.environ if env is None else env).items():
            values[key] = value
        for key, value in (cli or {}).items():
            if value is not None:
                values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
        return cls(**values)

    def detect(self) -> Detect:
        """The static detectors these settings switch on."""
        return Detect(
            function_args=self.detect_function_args,
            class_attributes=self.detect_class_attributes,
            argparse=self.detect_argparse,
            config_files=self.detect_config_files,
        )

    def key(self) -> str:
        """A stable text of the values, for cache keys."""
        return ";".join(
            f"{f.name}={sorted(v) if isinstance(v := getattr(self, f.name), frozenset) else v}"
            for f in fields(self)
        )


def from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(AutomagicConfig):
        name = ENV_FRAMEWORKS if f.name == "frameworks" else ENV_PREFIX + f.name.upper()
        if name in env:
            values[f.name] = _coerce(f.name, env[name], name)
    return values


def automagic_enabled(env: Mapping[str, str] | None = None) -> bool:
    """`TRACELET_ENABLE_AUTOMAGIC=true` turns automagic on without a code change."""
    raw = (os.environ if env is None else env).get(ENV_ENABLE)
    return False if raw is None else parse_bool(raw, ENV_ENABLE)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start`."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def project_table(start: Path) -> dict[str, Any]:
    """`[tool.tracelet]` of the nearest pyproject.toml, or an empty table."""
    path = find_pyproject(start.resolve())
    if path is None:
        return {}
    shown = _shown(path, start)
    import tomllib  # here: most runs have no pyproject.toml to read

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{shown}: cannot read [tool.tracelet]: {error}") from None
    tool = data.get("tool", {})
    table = tool.get("tracelet", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{shown}: [tool.tracelet] must be a table")
    unknown = set(table) - {f.name for f in fields(AutomagicConfig)} - PROJECT_KEYS
    if unknown:
        raise ConfigError(f"{shown}: [tool.tracelet]: unknown key {sorted(unknown)[0]!r}")
    exclude = table.get("exclude", [])
    if not (isinstance(exclude, list) and all(isinstance(item, str) for item in exclude)):
        raise ConfigError(
            f"{shown}: [tool.tracelet] exclude: expected a list of patterns, got {exclude!r}"
        )
    return table


def _shown(path: Path, start: Path) -> str:
    """`path` as a user would type it from `start`: relative when that is shorter."""
    try:
        relative = os.path.relpath(path, start)
    except ValueError:  # another drive
        return str(path)
    return relative if len(relative) < len(str(path)) else str(path)


# Keys of [tool.tracelet] that configure the commands rather than AutomagicConfig.
PROJECT_KEYS = frozenset({"exclude", "lint", "paths", "entrypoints"})


def _coerce(name: str, value: Any, source: str) -> Any:
    if name == "frameworks":
        return _frameworks(value, source)
    if name == "monitor_interval":
        return _interval(value, source)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_bool(value, source)
    raise ConfigError(f"{source}: expected true or false for {name}, got {value!r}")


def parse_bool(raw: str, source: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case); a `ConfigError` naming `source` else."""
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{source}: expected true or false, got {raw!r}")


def _interval(value: Any, source: str) -> float:
    try:
        seconds = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds >= MIN_INTERVAL:  # also refuses nan
        raise ConfigError(
            f"{source}: expected a number of seconds >= {MIN_INTERVAL}, got {value!r}"
        )
    return seconds


def _frameworks(value: Any, source: str) -> frozenset[str]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = [str(part).strip() for part in value]
    else:
        raise ConfigError(f"{source}: expected a list of frameworks, got {value!r}")
    names = {_FRAMEWORK_ALIASES.get(item.lower(), item.lower()) for item in items}
    unknown = names - FRAMEWORKS
    if unknown:
        choices = ", ".join(sorted(FRAMEWORKS))
        raise ConfigError(
            f"{source}: unknown framework {sorted(unknown)[0]!r} (choose from {choices})"
        )
    return frozenset(names)


def capture_hyperparams(experiment: Experiment) -> dict[str, Any]:
    """Detect the caller's hyperparameters statically and log their current values."""
    return experiment.capture_hyperparams(sys._getframe(1))
