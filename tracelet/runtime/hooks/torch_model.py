"""The PyTorch model and its checkpoints: parameter counts, a summary file, save/load events.

Models are found from the optimizers' parameters at the second step of the first optimizer
(every optimizer of a GAN has stepped by then; a later optimizer at its first step, a
run of one step at its end): `Module.__init__` is
wrapped to remember every module (a weak reference, once per module built: no cost per
forward), and the outermost modules owning the optimizer's parameters are the models. A
model built before the hooks were installed (torch imported before the run started) is
found by one scan of the garbage collector's objects instead (~50 ms, once).
"""

from __future__ import annotations

import functools
import gc
import os
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch.nn import Module

MAX_CHILDREN = 64  # top-level submodules with parameters recorded as params; the summary lists all
UPLOAD_ENV = "TRACELET_UPLOAD_CHECKPOINTS"
_TRUE = frozenset({"1", "true", "yes", "on"})


class ModuleRegistry:
    """Weak references to the modules built since the hooks were installed."""

    def __init__(self) -> None:
        self._refs: list[weakref.ref[Module]] = []
        self._prune_at = 1024

    def add(self, module: Module) -> None:
        self._refs.append(weakref.ref(module))
        if len(self._refs) >= self._prune_at:
            self._refs = [ref for ref in self._refs if ref() is not None]
            self._prune_at = max(1024, 2 * len(self._refs))

    def modules(self) -> list[Module]:
        return [m for m in (ref() for ref in self._refs) if m is not None]


def all_modules() -> list[Module]:
    """Every live module, by a scan of the collector's objects (slow: the fallback)."""
    kinds: dict[type, bool] = {}
    found = []
    for obj in gc.get_objects():
        kind = type(obj)  # not isinstance: some objects warn when asked their __class__
        is_module = kinds.get(kind)
        if is_module is None:
            is_module = kinds[kind] = issubclass(kind, Module)
        if is_module:
            found.append(obj)
    return found


def models_of(parameters: Iterable[torch.Tensor], modules: list[Module]) -> list[Module]:
    """The outermost of `modules` that own any of `parameters`, in `modules` order."""
    wanted = {id(p) for p in parameters}
    children = {id(child) for m in modules for child in m.children()}
    return [
        m for m in modules if id(m) not in children and any(id(p) in wanted for p in m.parameters())
    ]


class ModelRecorder:
    """Records each optimised model once: counts as params, a summary as an artifact."""

    def __init__(self, capture: Any, registry: ModuleRegistry, scope: str) -> None:
        self.capture = capture
        self.scope = scope
        self.registry = registry
        self._seen: set[int] = set()
        self._keep: list[Module] = []  # recorded models stay alive so their ids stay theirs
        self._prefixes: set[str] = set()

    def record(self, optimizers: list[torch.optim.Optimizer]) -> None:
        """Record the models `optimizers` train that were not recorded yet."""
        params = [p for opt in optimizers for group in opt.param_groups for p in group["params"]]
        models = models_of(params, self.registry.modules()) or models_of(params, all_modules())
        new = [m for m in models if id(m) not in self._seen]
        for model in new:
            self._seen.add(id(model))
            self._keep.append(model)
            first_and_only = not self._prefixes and len(new) == 1
            self._write(model, "model" if first_and_only else self._prefix(model))

    def _prefix(self, model: Module) -> str:
        base = f"model.{type(model).__name__}"
        name, n = base, 2
        while name in self._prefixes:
            name, n = f"{base}_{n}", n + 1
        return name

    def _write(self, model: Module, prefix: str) -> None:
        self._prefixes.add(prefix)
        param = functools.partial(self.capture.param, scope=self.scope)
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        param(f"{prefix}.class", type(model).__name__)
        param(f"{prefix}.params_total", total)
        param(f"{prefix}.params_trainable", trainable)
        rows = []
        for name, child in model.named_children():
            count = sum(p.numel() for p in child.parameters())
            rows.append((name, type(child).__name__, count))
        for name, _, count in [row for row in rows if row[2]][:MAX_CHILDREN]:
            param(f"{prefix}.params.{name}", count)
        path = self._summary_path(prefix)
        if path is not None:
            path.write_text(summary(model, total, trainable, rows), encoding="utf-8")
            self.capture.artifact(str(path))

    def _summary_path(self, prefix: str) -> Path | None:
        run_dir = getattr(getattr(self.capture, "writer", None), "run_dir", None)
        if run_dir is None:
            return None
        folder = Path(run_dir) / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = prefix.removeprefix("model").lstrip(".")
        return folder / (f"model_summary_{suffix}.txt" if suffix else "model_summary.txt")


def summary(model: Module, total: int, trainable: int, rows: list[tuple[str, str, int]]) -> str:
    """A readable text: one line per top-level submodule, the totals, then `repr(model)`."""
    width = max([len(name) for name, _, _ in rows] + [4])
    lines = [f"{type(model).__name__}", "", f"{'name':{width}}  {'class':24} {'params':>14}"]
    lines += [f"{name:{width}}  {kind:24} {count:>14,}" for name, kind, count in rows]
    lines += ["", f"total params:     {total:,}", f"trainable params: {trainable:,}", ""]
    lines.append(repr(model))
    return "\n".join(lines) + "\n"


class Checkpoints:
    """`torch.save` and `torch.load` of a path: a size metric at the step and a path tag.

    ``checkpoint/saved_bytes`` and ``checkpoint/loaded_bytes`` (the file's size at the
    run's step), ``checkpoint/last_saved`` and ``checkpoint/last_loaded`` (path, size and
    step as text). Saving to a file object records nothing. With
    ``TRACELET_UPLOAD_CHECKPOINTS=true`` a saved file is uploaded with the run.
    """

    def __init__(self, capture: Any, step: Callable[[], int]) -> None:
        self.capture = capture
        self.step = step
        self.upload = os.environ.get(UPLOAD_ENV, "").strip().lower() in _TRUE

    def saved(self, target: Any) -> None:
        self._event("saved", target, self.upload)

    def loaded(self, source: Any) -> None:
        self._event("loaded", source, False)

    def _event(self, verb: str, where: Any, upload: bool) -> None:
        if not isinstance(where, (str, os.PathLike)):
            return
        path = os.path.abspath(os.fspath(where))
        size = os.path.getsize(path)
        step = self.step()
        self.capture.metric(f"checkpoint/{verb}_bytes", size, step)
        self.capture.tag(f"checkpoint/last_{verb}", f"{path} ({size} bytes, step {step})")
        if upload:
            self.capture.artifact(path)
