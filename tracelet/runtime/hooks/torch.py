"""PyTorch hooks: steps, losses, learning rates, epochs, gradients, models and checkpoints.

Installed when torch is imported (docs/frameworks.md, "PyTorch", lists every name).

Step
    The run's step (`HookContext.step`) counts optimizer steps, seen through torch's global
    optimizer step post-hook. Each optimizer counts its own steps; per-step metrics are
    recorded at the 0-based index of the step of the optimizer they belong to, and the
    run's step is the largest count (with a GAN's two optimizers stepping in turn, the
    number of iterations). Events that happen between steps (an epoch's end, a checkpoint)
    are recorded at the run's step: the number of optimizer steps done.

Loss
    `Tensor.backward` is wrapped: the tensor it is called on is kept detached (no
    host-device synchronisation) and belongs to the next optimizer step. Values are read
    every `FLUSH_STEPS` steps or `FLUSH_SECONDS`, at an epoch's end and at the run's end,
    with one `torch.stack(...).tolist()`. Each source line calling ``backward`` is a
    series; several calls from one line in one step (gradient accumulation) give their
    mean. One line: ``train/loss``. Several (a GAN): ``train/<name>``, the name of the
    tensor on that line (``d_loss.backward()`` -> ``train/d_loss``), else ``train/loss_<k>``.
    A loss scaled by `GradScaler.scale` is recorded unscaled.

Never break training
    Every hook catches its own errors: the feature that failed turns off with one warning
    (`HookContext.failed`) and the user's call always runs as it would untracked.
"""

from __future__ import annotations

import contextlib
import functools
import linecache
import re
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from tracelet.runtime.hooks.torch_model import Checkpoints, ModelRecorder, ModuleRegistry
from tracelet.runtime.spool import now_ms

TYPE_CHECKING = False

if TYPE_CHECKING:
    from tracelet.runtime.hooks import HookContext

SCOPE = "pytorch"  # the capture scope of params recorded here: never read back from globals
FLUSH_STEPS = 100  # loss values read (one host-device sync) at most once per this many steps
FLUSH_SECONDS = 10.0  # ... or when this much time has passed, so slow steps show up live
GRAD_NORM_EVERY = 100  # track_model_gradients: one total grad norm per this many steps
SAMPLE_BATCHES = 3  # track_data_samples: batches described (shapes and dtypes only)
MAX_PENDING = 10_000  # losses kept waiting for an optimizer step that may never come
_SKIPPED_SETTINGS = frozenset(
    {
        "optimizer", "base_lrs", "last_epoch", "verbose", "best", "num_bad_epochs",
        "cooldown_counter", "mode_worse",
    }
)  # fmt: skip
# optimizer defaults that choose an implementation, not the optimisation
_IMPLEMENTATION_FLAGS = frozenset({"foreach", "fused", "capturable", "differentiable"})
_SCALED_RECEIVER = re.compile(r"\.scale\(\s*([A-Za-z_][\w.]*)\s*\)\s*\.backward\s*\(")
_RECEIVER = re.compile(r"(?<![\w.)\]])([A-Za-z_][\w.]*)\s*\.backward\s*\(")


def install(ctx: HookContext) -> Callable[[], None]:
    """Install the PyTorch hooks; returns the function that removes them all."""
    return TorchHooks(ctx).install()


class _Series:
    """One metric fed with tensors: a backward call site or an optimizer's grad norm."""

    __slots__ = ("hint", "loss", "name")

    def __init__(self, name: str | None, loss: bool, hint: str = "") -> None:
        self.name = name  # a call site's name is given when its first values are read
        self.loss = loss
        self.hint = hint


_CLIP = _Series(None, False)  # a clip_grad_norm_ result waiting for its optimizer step


class _Optimizer:
    __slots__ = ("grad", "index", "lr_names", "ref", "steps")

    def __init__(self, optimizer: torch.optim.Optimizer, index: int) -> None:
        self.ref = weakref.ref(optimizer)
        self.index = index  # order of first step
        self.steps = 0
        self.lr_names: list[str] = []
        suffix = f"_{index + 1}" if index else ""  # the second optimizer: _2, as elsewhere
        self.grad = _Series(f"train/grad_norm{suffix}", False)


class _Loader:
    __slots__ = ("epochs", "open", "ref", "stepped")

    def __init__(self, loader: Any) -> None:
        self.ref = weakref.ref(loader)
        self.epochs = 0  # epochs that had optimizer steps
        self.open = False
        self.stepped = False  # an optimizer step happened while this loader fed batches


class TorchHooks:
    """The state of the PyTorch hooks of one run, and the patches that feed it."""

    def __init__(self, ctx: HookContext) -> None:
        self.ctx = ctx
        config = ctx.config
        self.loss_on = config.monitor_loss_curves
        self.lr_on = config.monitor_learning_rate
        self.loader_on = config.monitor_training_loop or config.track_data_samples
        self.step_on = True
        self.clip_on = True
        self.grads_on = config.track_model_gradients
        self.model_on = config.track_model_architecture
        self.checkpoint_on = config.track_model_checkpoints
        self.scheduler_on = True
        self.optimizer_on = True
        self._patches: list[tuple[Any, str, Any]] = []
        self._handle: Any = None
        self._optimizers: dict[int, _Optimizer] = {}
        self._sites: dict[tuple[Any, int], _Series] = {}  # (code, line) -> its series
        self._calls: dict[tuple[Any, int], _Series] = {}  # (code, instruction): a cache
        self._names: set[str] = set()
        # in call order: (series, tensor) pairs of backward and clip calls, and a 4-tuple
        # step mark (optimizer state, step, ms, learning rates or None) per optimizer step;
        # read at a flush, so that a step costs one append
        self._pending: list[tuple[Any, ...]] = []
        self._clipped = False  # clip_grad_norm_ was called since the last step
        # (series, step, tensor, ms) and (name, value, step, ms): values waiting for a flush
        self._sampled: list[tuple[_Series, int, torch.Tensor, int]] = []  # grad norms
        self._epoch_sums: dict[str, list[float]] = {}
        self._since_flush = 0
        self._flushed = time.monotonic()
        self._scaled: tuple[int, torch.Tensor] | None = None
        self._loaders: dict[int, _Loader] = {}
        self._current: _Loader | None = None
        self._dataloaders = 0
        self._samples = SAMPLE_BATCHES if config.track_data_samples else 0
        self._schedulers: list[weakref.ref[Any]] = []
        self._scheduler_ids: set[int] = set()
        self._scheduler_names: dict[str, int] = {}
        self._started = False
        self._models_done = False  # the models of the first optimizers are recorded
        self.registry = ModuleRegistry()
        self.models = ModelRecorder(ctx.capture, self.registry, SCOPE)
        self.checkpoints = Checkpoints(ctx.capture, lambda: self.ctx.step)

    # --- installing -------------------------------------------------------------------

    def install(self) -> Callable[[], None]:
        try:
            self._handle = register_optimizer_step_post_hook(self._on_step)
            if self.loss_on:
                self._wrap_backward()
            self._wrap_clip()
            self._wrap_schedulers()
            if self.loader_on:
                self._wrap_loaders()
            if self.model_on:
                self._wrap_module_init()
            if self.checkpoint_on:
                self._wrap_checkpoints()
            self.ctx.at_end(self.finish)
        except BaseException:
            self.uninstall()
            raise
        return self.uninstall

    def uninstall(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        self._patches.clear()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._patches.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, replacement)

    def _fail(self, feature: str, error: BaseException) -> None:
        setattr(self, f"{feature}_on", False)
        self.ctx.failed(f"pytorch {feature}", error)

    def _wrap_backward(self) -> None:
        original = torch.Tensor.backward
        hooks = self

        pending = self._pending
        calls = self._calls

        @functools.wraps(original)
        def backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            # a call with `gradient` is no loss (a loss is a one-element tensor)
            if hooks.loss_on and not args and kwargs.get("gradient") is None:
                try:  # the hot path: a call site seen before, no GradScaler
                    frame = sys._getframe(1)
                    series = calls.get((frame.f_code, frame.f_lasti))
                    if series is None or hooks._scaled is not None:
                        hooks._on_backward(self, frame)
                    elif len(pending) < MAX_PENDING:
                        pending.append((series, self.detach()))
                except Exception as error:
                    hooks._fail("loss", error)
            return original(self, *args, **kwargs)

        self._patch(torch.Tensor, "backward", backward)
        scaler = getattr(getattr(torch, "amp", None), "GradScaler", None)
        if scaler is not None and "scale" in scaler.__dict__:
            scale = scaler.scale

            @functools.wraps(scale)
            def scaled(self: Any, outputs: Any) -> Any:
                result = scale(self, outputs)
                if hooks.loss_on and isinstance(outputs, torch.Tensor):
                    hooks._scaled = (id(result), outputs.detach())
                return result

            self._patch(scaler, "scale", scaled)

    def _wrap_clip(self) -> None:
        from torch.nn.utils import clip_grad

        hooks = self

        def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(original)
            def clip_grad_norm_(*args: Any, **kwargs: Any) -> Any:
                norm = original(*args, **kwargs)
                if hooks.clip_on and isinstance(norm, torch.Tensor):
                    try:
                        hooks._clipped = True
                        if len(hooks._pending) < MAX_PENDING:
                            hooks._pending.append((_CLIP, norm.detach()))
                    except Exception as error:
                        hooks._fail("clip", error)
                return norm

            return clip_grad_norm_

        inner = clip_grad.clip_grad_norm_
        wrapped = wrap(inner)
        self._patch(clip_grad, "clip_grad_norm_", wrapped)
        outer = torch.nn.utils.__dict__.get("clip_grad_norm_")
        if outer is not None:
            self._patch(
                torch.nn.utils, "clip_grad_norm_", wrapped if outer is inner else wrap(outer)
            )

    def _wrap_schedulers(self) -> None:
        from torch.optim import lr_scheduler

        hooks = self
        for name in ("LRScheduler", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler"):
            cls = getattr(lr_scheduler, name, None)
            if cls is None or "__init__" not in cls.__dict__:
                continue
            original = cls.__dict__["__init__"]

            def wrap(original: Callable[..., None]) -> Callable[..., None]:
                @functools.wraps(original)
                def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
                    original(self, *args, **kwargs)
                    if hooks.scheduler_on and id(self) not in hooks._scheduler_ids:
                        hooks._scheduler_ids.add(id(self))
                        hooks._schedulers.append(weakref.ref(self))

                return __init__

            self._patch(cls, "__init__", wrap(original))

    def _wrap_loaders(self) -> None:
        from torch.utils.data import dataloader

        hooks = self
        original_iter = dataloader.DataLoader.__dict__["__iter__"]
        original_next = dataloader._BaseDataLoaderIter.__dict__["__next__"]

        @functools.wraps(original_iter)
        def __iter__(self: Any) -> Any:
            iterator = original_iter(self)
            if hooks.loader_on:
                try:
                    hooks._on_iter(self, iterator)
                except Exception as error:
                    hooks._fail("loader", error)
            return iterator

        @functools.wraps(original_next)
        def __next__(self: Any) -> Any:
            try:
                batch = original_next(self)
            except StopIteration:
                if hooks.loader_on:
                    try:
                        hooks._on_exhausted(self)
                    except Exception as error:
                        hooks._fail("loader", error)
                raise
            if hooks.loader_on:
                hooks._current = self.__dict__.get("_tracelet_loader")
                if hooks._samples:
                    try:
                        hooks._describe(batch)
                    except Exception as error:
                        hooks._fail("loader", error)
            return batch

        self._patch(dataloader.DataLoader, "__iter__", __iter__)
        self._patch(dataloader._BaseDataLoaderIter, "__next__", __next__)

    def _wrap_module_init(self) -> None:
        original = torch.nn.Module.__dict__["__init__"]
        registry = self.registry
        hooks = self

        @functools.wraps(original)
        def __init__(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if hooks.model_on:
                try:
                    registry.add(self)
                except Exception as error:
                    hooks._fail("model", error)

        self._patch(torch.nn.Module, "__init__", __init__)

    def _wrap_checkpoints(self) -> None:
        serialization = torch.serialization
        hooks = self

        def wrap(original: Callable[..., Any], record: Callable[[Any], None], at: int) -> Any:
            @functools.wraps(original)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                if hooks.checkpoint_on:
                    try:
                        where = args[at] if len(args) > at else kwargs.get("f")
                        record(where)
                    except Exception as error:
                        hooks._fail("checkpoint", error)
                return result

            return wrapper

        for name, record, at in (
            ("save", self.checkpoints.saved, 1),
            ("load", self.checkpoints.loaded, 0),
        ):
            inner = serialization.__dict__[name]
            wrapped = wrap(inner, record, at)
            self._patch(serialization, name, wrapped)
            outer = torch.__dict__.get(name)
            if outer is not None:
                self._patch(torch, name, wrapped if outer is inner else wrap(outer, record, at))

    # --- events -----------------------------------------------------------------------

    def _on_backward(self, tensor: torch.Tensor, frame: Any) -> None:
        key = (frame.f_code, frame.f_lineno)
        series = self._sites.get(key)
        if series is None:
            series = self._sites[key] = _Series(None, True, _hint(frame))
        self._calls[(frame.f_code, frame.f_lasti)] = series
        scaled = self._scaled
        if scaled is not None and scaled[0] == id(tensor):
            tensor = scaled[1]
            self._scaled = None
        if len(self._pending) < MAX_PENDING:
            self._pending.append((series, tensor.detach()))

    def _on_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.step_on:
            try:
                self._step(optimizer)
            except Exception as error:
                self._fail("step", error)

    def _step(self, optimizer: torch.optim.Optimizer) -> None:
        state = self._optimizers.get(id(optimizer))
        if state is None or state.ref() is not optimizer:
            state = self._first_step(optimizer)
        step = state.steps
        state.steps = step + 1
        ctx = self.ctx
        if step >= ctx.step:
            ctx.step = step + 1
        lrs = [group["lr"] for group in optimizer.param_groups] if self.lr_on else None
        self._pending.append((state, step, now_ms(), lrs))
        clipped, self._clipped = self._clipped, False
        if self.grads_on and not clipped and step % GRAD_NORM_EVERY == 0:
            self._sample_grad_norm(optimizer, state, step)
        if step == 1 and not self._models_done:
            self._record_all_models()
        if self._schedulers:
            self._record_schedulers()
        current = self._current
        if current is not None and not current.stepped:
            current.stepped = True
            if current.epochs == 0 and self.ctx.config.track_dataset_info:
                self._describe_loader(current)
        self._since_flush += 1
        if self._since_flush >= FLUSH_STEPS or time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def _first_step(self, optimizer: torch.optim.Optimizer) -> _Optimizer:
        state = _Optimizer(optimizer, len(self._optimizers))
        self._optimizers[id(optimizer)] = state
        if not self._started:
            self._started = True
            self.ctx.capture.start_training()
        if self.optimizer_on:
            try:
                self._record_optimizer(optimizer, state.index)
            except Exception as error:
                self._fail("optimizer", error)
        if self._models_done:
            self._record_models([optimizer])
        return state

    def _record_optimizer(self, optimizer: torch.optim.Optimizer, index: int) -> None:
        """Its class and settings (``defaults``): ``optimizer.class``, ``optimizer.betas``…"""
        prefix = "optimizer" if index == 0 else f"optimizer_{index + 1}"
        param = functools.partial(self.ctx.capture.param, scope=SCOPE)
        param(f"{prefix}.class", type(optimizer).__name__)
        for name, value in optimizer.defaults.items():
            plain = None if name in _IMPLEMENTATION_FLAGS else _setting(value)
            if plain is not None:
                param(f"{prefix}.{name}", plain)

    def _record_models(self, optimizers: list[Any]) -> None:
        self._models_done = True
        if self.model_on:
            try:
                self.models.record(optimizers)
            except Exception as error:
                self._fail("model", error)

    def _record_all_models(self) -> None:
        """Every optimizer that has stepped: a GAN's models are recorded together."""
        alive = [s.ref() for s in self._optimizers.values()]
        self._record_models([opt for opt in alive if opt is not None])

    def _sample_grad_norm(self, optimizer: Any, state: _Optimizer, step: int) -> None:
        try:
            grads = [
                p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None
            ]
            if grads:
                norm = torch.nn.utils.get_total_norm(grads)
                self._sampled.append((state.grad, step, norm.detach(), now_ms()))
        except Exception as error:
            self._fail("grads", error)

    def _record_schedulers(self) -> None:
        refs, self._schedulers = self._schedulers, []
        if not self.scheduler_on:
            return
        try:
            for ref in refs:
                scheduler = ref()
                if scheduler is not None:
                    self._record_scheduler(scheduler)
        except Exception as error:
            self._fail("scheduler", error)

    def _record_scheduler(self, scheduler: Any) -> None:
        n = len(self._scheduler_names) + 1
        prefix = "scheduler" if n == 1 else f"scheduler_{n}"
        self._scheduler_names[prefix] = id(scheduler)
        param = functools.partial(self.ctx.capture.param, scope=SCOPE)
        param(f"{prefix}.class", type(scheduler).__name__)
        for name, value in vars(scheduler).items():
            if name.startswith("_") or name in _SKIPPED_SETTINGS:
                continue
            plain = _setting(value)
            if plain is not None:
                param(f"{prefix}.{name}", plain)

    # --- data loaders -----------------------------------------------------------------

    def _loader_state(self, loader: Any) -> _Loader:
        state = self._loaders.get(id(loader))
        if state is None or state.ref() is not loader:
            state = self._loaders[id(loader)] = _Loader(loader)
        return state

    def _on_iter(self, loader: Any, iterator: Any) -> None:
        state = self._loader_state(loader)
        if state.open:
            self._end_epoch(state)
        state.open = True
        state.stepped = False
        self._current = state
        if hasattr(iterator, "__dict__"):
            iterator.__dict__["_tracelet_loader"] = state

    def _on_exhausted(self, iterator: Any) -> None:
        state = iterator.__dict__.get("_tracelet_loader")
        if state is not None and state.open:
            self._end_epoch(state)
        if self._current is state:
            self._current = None

    def _end_epoch(self, state: _Loader) -> None:
        state.open = False
        if not state.stepped or not self.ctx.config.monitor_training_loop:
            return
        state.epochs += 1
        self.flush()
        step = self.ctx.step
        metric = self.ctx.capture.metric
        metric("epoch", state.epochs, step)
        for name, (total, count) in self._epoch_sums.items():
            if count:
                metric(f"{name}_epoch", total / count, step)
        self._epoch_sums.clear()

    def _describe_loader(self, state: _Loader) -> None:
        loader = state.ref()
        if loader is None:
            return
        self._dataloaders += 1
        prefix = "dataloader" if self._dataloaders == 1 else f"dataloader_{self._dataloaders}"
        param = functools.partial(self.ctx.capture.param, scope=SCOPE)
        param(f"{prefix}.dataset", type(loader.dataset).__name__)
        with contextlib.suppress(TypeError):  # an IterableDataset without __len__
            param(f"{prefix}.dataset_size", len(loader.dataset))
        batch_size = loader.batch_size
        if batch_size is None:
            batch_size = getattr(loader.batch_sampler, "batch_size", None)
        if batch_size is not None:
            param(f"{prefix}.batch_size", batch_size)
        param(f"{prefix}.num_workers", loader.num_workers)

    def _describe(self, batch: Any) -> None:
        index = SAMPLE_BATCHES - self._samples
        self._samples -= 1
        self.ctx.capture.tag(f"data/batch_{index}", describe(batch))

    # --- reading values ---------------------------------------------------------------

    def flush(self) -> None:
        """Read the buffered tensors (one host-device sync) and record every value with one
        spool write."""
        self._since_flush = 0
        self._flushed = time.monotonic()
        floats, tensors = self._resolve_steps()
        if not tensors:
            self.ctx.capture.metrics(floats)
            return
        values = read([tensor for _, _, tensor, _ in tensors])
        self._name_sites()
        points: dict[tuple[_Series, int], list[float]] = {}  # -> [total, count, ms]
        for (series, step, _, t), value in zip(tensors, values, strict=True):
            point = points.get((series, step))
            if point is None:
                points[(series, step)] = [value, 1, t]
            elif series.loss:  # several backward calls in one step: their mean
                point[0] += value
                point[1] += 1
            else:  # several clips before one step: the last
                point[0] = value
        sums = self._epoch_sums
        for (series, _), (total, count, _) in points.items():
            if series.loss:
                acc = sums.setdefault(series.name, [0.0, 0])
                acc[0] += total / count
                acc[1] += 1
        floats.extend(
            (series.name, total / count, step, t)
            for (series, step), (total, count, t) in points.items()
        )
        self.ctx.capture.metrics(floats)

    def _resolve_steps(
        self,
    ) -> tuple[list[tuple[str, Any, int, int]], list[tuple[_Series, int, torch.Tensor, int]]]:
        """Take the pending calls up to the last step mark: the learning rates as points,
        and each loss or clip tensor with the step it belongs to (the next mark)."""
        pending = self._pending
        cut = len(pending)
        while cut and len(pending[cut - 1]) != 4:
            cut -= 1  # calls after the last step mark wait for their step
        entries = pending[:cut]
        del pending[:cut]  # in place: the backward wrapper holds this list
        floats: list[tuple[str, Any, int, int]] = []
        tensors, self._sampled = self._sampled, []
        waiting: list[tuple[Any, ...]] = []
        for entry in entries:
            if len(entry) != 4:
                waiting.append(entry)
                continue
            state, step, t, lrs = entry
            for series, tensor in waiting:
                if series is not _CLIP:
                    tensors.append((series, step, tensor, t))
                elif state is not None:  # a clip belongs to the optimizer that steps next
                    tensors.append((state.grad, step, tensor, t))
            waiting.clear()
            if lrs is not None:
                names = state.lr_names
                if len(names) != len(lrs):
                    names = state.lr_names = _lr_names(state.index, len(lrs))
                if len(lrs) == 1:  # the usual case, without a generator per step
                    floats.append((names[0], lrs[0], step, t))
                else:
                    floats.extend((n, lr, step, t) for n, lr in zip(names, lrs, strict=True))
        return floats, tensors

    def _name_sites(self) -> None:
        unnamed = [s for s in self._sites.values() if s.name is None]
        if not unnamed:
            return
        if len(unnamed) == len(self._sites) == 1:
            unnamed[0].name = "train/loss"
            self._names.add("train/loss")
            return
        for series in unnamed:
            base = f"train/{series.hint}" if series.hint else "train/loss"
            name, n = base, 2
            while name in self._names:
                name, n = f"{base}_{n}", n + 1
            series.name = name
            self._names.add(name)

    def finish(self) -> None:
        """The run ends: attribute waiting values, close the epoch, read everything."""
        if self._schedulers:
            self._record_schedulers()
        if not self._models_done and self._optimizers:
            self._record_all_models()
        if self._pending:  # calls that no step followed: at the run's step
            self._pending.append((None, self.ctx.step, now_ms(), None))
        for state in list(self._loaders.values()):
            if state.open and self.loader_on:
                self._end_epoch(state)
        self.flush()


def read(tensors: list[torch.Tensor]) -> list[float]:
    """The values of 0-d (or 1-element) tensors, with one host-device sync per device."""
    try:
        return torch.stack(tensors).reshape(-1).tolist()
    except (RuntimeError, TypeError):  # mixed shapes, dtypes or devices
        pass
    values: list[float] = [0.0] * len(tensors)
    by_device: dict[Any, list[int]] = {}
    for i, tensor in enumerate(tensors):
        by_device.setdefault(tensor.device, []).append(i)
    for indices in by_device.values():
        flat = torch.cat([tensors[i].reshape(1).float() for i in indices]).tolist()
        for i, value in zip(indices, flat, strict=True):
            values[i] = value
    return values


def _lr_names(optimizer: int, groups: int) -> list[str]:
    base = f"train/lr_{optimizer + 1}" if optimizer else "train/lr"
    return [base if g == 0 else f"{base}_group{g}" for g in range(groups)]


def _hint(frame: Any) -> str:
    """The name of the tensor `.backward()` is called on, from the caller's source line."""
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    found = _SCALED_RECEIVER.search(line) or _RECEIVER.search(line)
    return found.group(1).rsplit(".", 1)[-1] if found else ""


def _setting(value: Any) -> Any:
    """A scheduler setting MLflow can hold, or None to leave it out."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) and all(isinstance(k, int) for k in value):  # Counter
        return sorted(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return list(value)
    return None


def describe(batch: Any, depth: int = 0) -> str:
    """Shapes and dtypes of a batch (``float32[64, 32]``), never its values."""
    if isinstance(batch, torch.Tensor):
        return f"{str(batch.dtype).removeprefix('torch.')}{list(batch.shape)}"
    if depth >= 3:
        return type(batch).__name__
    if isinstance(batch, (list, tuple)):
        inner = ", ".join(describe(item, depth + 1) for item in batch[:8])
        return f"({inner}{', ...' if len(batch) > 8 else ''})"
    if isinstance(batch, dict):
        items = list(batch.items())[:8]
        return "{" + ", ".join(f"{k}: {describe(v, depth + 1)}" for k, v in items) + "}"
    return type(batch).__name__
