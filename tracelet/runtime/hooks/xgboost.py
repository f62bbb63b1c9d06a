"""The XGBoost hook: booster params, every eval metric at its round, early stopping's best.

Installed when `xgboost` is imported (before or after the run starts). It wraps the
`train` function where XGBoost's callers look it up: `xgboost.train`,
`xgboost.training.train` and `xgboost.sklearn.train` (the binding `XGBModel.fit` calls,
so XGBClassifier, XGBRegressor, XGBRanker… are covered), whatever each holds (another
tool's wrapper, such as mlflow's autolog, stays underneath). Each call then records:

- params ``xgboost.<name>`` for every booster param given that is not None (None means
  XGBoost's default; a list of pairs, as XGBoost also accepts, gives one param per name,
  a name given several times a list),
  ``xgboost.num_boost_round`` and, when set, ``xgboost.early_stopping_rounds``;
- a metric ``<eval set>/<metric>`` (``validation_0/logloss``, ``train/rmse``) per round
  at the round's index, the value XGBoost itself puts in ``evals_result``: a
  `TrainingCallback` put first in ``callbacks`` (the user's own follow, in their order,
  so one that stops training cannot hide the last round) reads the last value of each
  list of the cumulative ``evals_log``. Values are buffered with their time and written
  with one spool write every `FLUSH_ROUNDS` rounds or `FLUSH_SECONDS`, when training
  ends, and at the run's end (a training interrupted by an exception);
- with early stopping: the metrics ``best_iteration`` and ``best_score`` (step 0), read
  from the booster once `train` returns.

Training starts (`Capture.start_training`) when the first `train` call begins. The 2nd,
3rd… call of a run (a loop over settings, a search) records its metrics under
``xgboost.<n>/`` (``xgboost.2/validation_0/logloss``) so series never mix; its params
follow `Capture`'s rules for changed values (``param/xgboost.max_depth``).

Not seen: a name bound by ``from xgboost import train`` *before* the hook was installed
(only possible when the run starts after that import, e.g. `Experiment(automagic=True)`
placed below it: use ``xgboost.train`` or import after starting), `xgboost.cv`,
hand-written ``Booster.update`` loops, and the dask/spark interfaces (they train in other
processes). A ``callbacks`` argument that is not None, a list or a tuple is passed on
untouched and that call is not recorded.

Any error inside the hook turns it off with one warning (`HookContext.failed`); `train`
still returns, or raises, exactly what it would without tracelet.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import xgboost
import xgboost.sklearn
import xgboost.training
from xgboost.callback import EarlyStopping, TrainingCallback

from tracelet.runtime.hooks import HookContext
from tracelet.runtime.spool import now_ms

HOOK = "xgboost"
PARAM_PREFIX = "xgboost."
# where callers look `train` up: `XGBModel.fit` uses the binding in xgboost.sklearn
PATCHED = (xgboost, xgboost.training, xgboost.sklearn)
NONE = type(None)
FLUSH_ROUNDS = 50  # round values are written to the spool in one go this often...
FLUSH_SECONDS = 10.0  # ... or when this much time has passed, so slow rounds show up live


def install(ctx: HookContext) -> Callable[[], None]:
    """Wrap each binding of `train`; returns the function that puts the previous ones back."""
    hook = _TrainHook(ctx, xgboost.training.train)
    replaced = []
    for module in PATCHED:
        previous = module.train  # XGBoost's, or another tool's wrapper (mlflow autolog)
        wrapper = hook.wrap(previous)
        module.train = wrapper
        replaced.append((module, previous, wrapper))

    def uninstall() -> None:
        hook.active = False  # a binding taken meanwhile (`from xgboost import train`) passes on
        for module, previous, wrapper in replaced:
            if module.train is wrapper:
                module.train = previous

    return uninstall


class _TrainHook:
    """The replacement `train`s and what they count across the calls of one run."""

    def __init__(self, ctx: HookContext, train: Callable[..., Any]) -> None:
        self.ctx = ctx
        self.active = True
        self.calls = 0
        self._lock = threading.Lock()
        parameters = inspect.signature(train).parameters
        self._names = list(parameters)
        self._defaults = {name: p.default for name, p in parameters.items()}
        self._callbacks_at = self._names.index("callbacks")
        self.live: set[_Recorder] = set()  # trainings under way, or interrupted
        ctx.at_end(self.flush)

    def flush(self) -> None:
        """The run ends: write what an interrupted training left buffered."""
        for recorder in list(self.live):
            recorder.flush()
        self.live.clear()

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """`original` recording each call; exactly `original` once the hook is off."""
        ctx = self.ctx

        def train(*args: Any, **kwargs: Any) -> Any:
            if not self.active or ctx.is_off(HOOK):
                return original(*args, **kwargs)
            try:
                call = self._prepare(args, kwargs)
            except Exception as error:
                ctx.failed(HOOK, error)
                call = None
            if call is None:
                return original(*args, **kwargs)
            booster = original(*call.args, **call.kwargs)
            try:
                call.finish(booster)
            except Exception as error:
                ctx.failed(HOOK, error)
            return booster

        return functools.update_wrapper(train, original)

    def _argument(self, args: tuple, kwargs: dict[str, Any], name: str) -> Any:
        """The value `train` gets for `name` (positional, keyword or default)."""
        at = self._names.index(name)
        return args[at] if len(args) > at else kwargs.get(name, self._defaults[name])

    def _prepare(self, args: tuple, kwargs: dict[str, Any]) -> _Call | None:
        """Record the call's params and put the recorder in its callbacks (None: leave it)."""
        params = self._argument(args, kwargs, "params")
        callbacks = self._argument(args, kwargs, "callbacks")
        if params is inspect.Parameter.empty or not isinstance(callbacks, (list, tuple, NONE)):
            return None  # a call XGBoost will refuse, or callbacks we cannot extend
        with self._lock:
            self.calls += 1
            number = self.calls
        prefix = "" if number == 1 else f"{PARAM_PREFIX}{number}/"
        capture = self.ctx.capture
        for name, value in _booster_params(params):
            capture.param(PARAM_PREFIX + name, value, HOOK)
        capture.param(
            PARAM_PREFIX + "num_boost_round", self._argument(args, kwargs, "num_boost_round"), HOOK
        )
        stopping = self._argument(args, kwargs, "early_stopping_rounds")
        if stopping:
            capture.param(PARAM_PREFIX + "early_stopping_rounds", stopping, HOOK)
        recorder = _Recorder(self.ctx, prefix, self.live)
        listed = [recorder, *(callbacks or ())]
        if len(args) > self._callbacks_at:
            args = (*args[: self._callbacks_at], listed, *args[self._callbacks_at + 1 :])
        else:
            kwargs = {**kwargs, "callbacks": listed}
        stops = bool(stopping) or any(isinstance(c, EarlyStopping) for c in callbacks or ())
        capture.start_training()
        return _Call(self.ctx, prefix, args, kwargs, stops)


class _Call:
    """One `train` call: the arguments it runs with, and what to read when it returns."""

    def __init__(
        self, ctx: HookContext, prefix: str, args: tuple, kwargs: dict[str, Any], stops: bool
    ) -> None:
        self.ctx = ctx
        self.prefix = prefix
        self.args = args
        self.kwargs = kwargs
        self.stops = stops  # early stopping was asked for: best_* are this call's

    def finish(self, booster: Any) -> None:
        if not self.stops or self.ctx.is_off(HOOK):
            return
        iteration = booster.attr("best_iteration")
        score = booster.attr("best_score")
        if iteration is not None:
            self.ctx.capture.metric(self.prefix + "best_iteration", int(iteration), 0)
        if score is not None:
            self.ctx.capture.metric(self.prefix + "best_score", float(score), 0)


class _Recorder(TrainingCallback):
    """Buffers each round's eval metrics and writes them to the spool in one go every
    `FLUSH_ROUNDS` rounds or `FLUSH_SECONDS`, when training ends, and at the run's end (a
    training interrupted mid-way); never stops training, never raises."""

    def __init__(self, ctx: HookContext, prefix: str, live: set[_Recorder]) -> None:
        super().__init__()
        self.ctx = ctx
        self.prefix = prefix
        self.names: dict[tuple[str, str], str] = {}
        self.points: list[tuple[str, float, int, int]] = []  # (name, value, round, ms)
        self.rounds = 0
        self.flushed = time.monotonic()
        self.live = live  # the recorders with points the run's end must still write
        live.add(self)

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        if self.ctx.is_off(HOOK):
            return False
        try:
            self._record(epoch, evals_log)
            self.rounds += 1
            if self.rounds >= FLUSH_ROUNDS or time.monotonic() - self.flushed >= FLUSH_SECONDS:
                self.flush()
        except Exception as error:
            self.ctx.failed(HOOK, error)
        return False

    def after_training(self, model: Any) -> Any:
        try:
            self.flush()
            self.live.discard(self)
        except Exception as error:
            self.ctx.failed(HOOK, error)
        return model

    def _record(self, epoch: int, evals_log: dict) -> None:
        """The round's value of every metric: the last of each cumulative list."""
        names = self.names
        add = self.points.append
        ms = now_ms()
        for data, scores in evals_log.items():
            for name, values in scores.items():
                key = names.get((data, name))
                if key is None:
                    key = names[(data, name)] = f"{self.prefix}{data}/{name}"
                add((key, values[-1], epoch, ms))

    def flush(self) -> None:
        points, self.points = self.points, []
        self.rounds = 0
        self.flushed = time.monotonic()
        if points:
            self.ctx.capture.metrics(points)


def _booster_params(params: Any) -> list[tuple[str, Any]]:
    """(name, value) of a params dict or list of pairs; a repeated name gets a list."""
    if not params:
        return []
    pairs = params.items() if isinstance(params, dict) else params
    grouped: dict[str, Any] = {}
    for name, value in pairs:
        if value is None:  # unset: XGBoost's default applies (XGBModel passes every param)
            continue
        name = str(name)
        if name in grouped:
            first = grouped[name]
            grouped[name] = [*first, value] if isinstance(first, list) else [first, value]
        else:
            grouped[name] = value
    return list(grouped.items())
