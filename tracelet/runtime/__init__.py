"""tracelet's dynamic side: what runs inside the user's training process.

`capture` holds the entry points the rewrite injects (`__tracelet__.param/args/mapping`)
and the hooks' `metric`/`tag`; `spool` is the run's append-only event log, the only thing
the training process writes. Delivery to MLflow happens in a separate sidecar process.

Importing this package must stay cheap: no mlflow, libcst, typer or rich here, nor in
`capture` or `spool` (DESIGN.md invariant 5). Submodules are imported explicitly.
"""
