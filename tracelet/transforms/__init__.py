"""The static side: find hyperparameters in source text and rewrite it to capture them.

Never imports or executes the code it reads (DESIGN.md, invariant 6). Importing
this package imports nothing heavy; `engine.transform` is the entry point.
"""
