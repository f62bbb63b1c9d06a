"""Options more than one command takes: the `detect_*` switches of AutomagicConfig."""

from __future__ import annotations

from typing import Annotated

import typer

from tracelet.automagic import AutomagicConfig

Toggle = Annotated[bool | None, typer.Option(show_default=False)]


def load_config(
    project: dict,
    detect_function_args: bool | None,
    detect_class_attributes: bool | None,
    detect_argparse: bool | None,
    detect_config_files: bool | None,
) -> AutomagicConfig:
    """AutomagicConfig from `[tool.tracelet]`, the environment and these switches."""
    return AutomagicConfig.load(
        cli={
            "detect_function_args": detect_function_args,
            "detect_class_attributes": detect_class_attributes,
            "detect_argparse": detect_argparse,
            "detect_config_files": detect_config_files,
        },
        project=project,
    )
