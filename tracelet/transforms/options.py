"""Which static detectors run: AutomagicConfig's `detect_*` fields, without libcst."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Detect:
    function_args: bool = True
    class_attributes: bool = True
    argparse: bool = True
    config_files: bool = True
