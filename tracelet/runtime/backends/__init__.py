"""Backends: "deliver these events", nothing more. Only the sidecar and `tracelet sync` use them."""
