"""tracelet: experiment tracking without tracking code."""

__version__ = "0.1.0"
