"""tracelet: experiment tracking without tracking code."""

__version__ = "0.1.0"

from tracelet.automagic import AutomagicConfig, capture_hyperparams
from tracelet.experiment import Experiment

__all__ = ["AutomagicConfig", "Experiment", "__version__", "capture_hyperparams"]
