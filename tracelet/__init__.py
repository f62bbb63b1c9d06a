"""tracelet: experiment tracking without tracking code.

The public names are imported on first use (PEP 562): `tracelet run` imports this
package on the way to the script's first line and needs none of them there.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not `from typing import`: typing costs import time

if TYPE_CHECKING:
    from tracelet.automagic import AutomagicConfig, capture_hyperparams
    from tracelet.experiment import Experiment

__version__ = "0.1.0"
__all__ = ["AutomagicConfig", "Experiment", "__version__", "capture_hyperparams"]

_HOMES = {
    "AutomagicConfig": "tracelet.automagic",
    "capture_hyperparams": "tracelet.automagic",
    "Experiment": "tracelet.experiment",
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'tracelet' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
