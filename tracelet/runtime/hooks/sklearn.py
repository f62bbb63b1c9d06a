"""scikit-learn: every outermost fit, with its estimator's params, data shape and duration.

Installed when `sklearn.base` is imported, before or after the run starts (`watcher.py`).
`BaseEstimator.__init_subclass__` becomes a hook that chains to the existing ones and wraps
the methods a new class defines; classes that already exist are found by walking
`BaseEstimator.__subclasses__()` (no `all_estimators()`: it imports 446 modules). The
methods wrapped are those defined anywhere in an estimator's MRO, mixins included
(`ClassifierMixin.score`, `TransformerMixin.fit_transform`):

- ``fit``, ``fit_transform``, ``fit_predict``: params, data shape, duration, search results;
- ``predict``, ``predict_proba``: call counts and mean latency, aggregated;
- ``score``: its result.

A thread-local flag keeps only the outermost call: a `GridSearchCV` fit is one capture,
not one per candidate, and the `predict` inside `score` is not counted. A method behind
`available_if` (`Pipeline.predict_proba`) is wrapped inside its descriptor, so `hasattr`
answers as before. Wrappers keep the name, docstring and signature (`functools.wraps`), so
metadata routing and `set_output` see the original methods.

Names (P is the estimator's prefix)
    P is the class name; another estimator of the same class fitted with other params gets
    ``Class_2``, ``Class_3``… An estimator object keeps its prefix for the run; a new object
    whose params equal those of an earlier one of its class shares that one's prefix (the
    clones `cross_val_score` fits, a model rebuilt in a loop). Params: ``P.<name>`` for
    each of ``get_params()``; nested estimators (Pipeline steps, a search's ``estimator``,
    kernels) follow scikit-learn's own ``a__b`` paths with ``.``: ``Pipeline.clf.C``,
    ``GridSearchCV.estimator.clf.C``. An estimator-valued param holds the class name
    (``GridSearchCV.estimator = Pipeline``); ``Pipeline.steps`` the step names and classes.
    Metrics: ``P/fit_seconds``, ``P/n_samples``, ``P/n_features``, ``P/n_classes``,
    ``P/score``, ``P/best_score``, ``P/predict_calls``, ``P/predict_latency_seconds``,
    ``P/predict_proba_calls``, ``P/predict_proba_latency_seconds``; a search's
    ``best_params_`` are params ``P.best_params.<name>``.

Steps
    The outermost fits of the run are numbered 0, 1, 2… in the order they start: a fit's
    metrics are at its number, and ``score`` and the predict counts at the number of the
    estimator's latest fit (0 for an estimator not fitted in this run). Predict counts are
    emitted when the estimator is fitted again and at the end of the run.

Cost
    A fit reads ``get_params(deep=True)`` once and captures values that mostly did not
    change (~0.1 ms); an outermost predict ~1 µs; a nested call a function call and a
    thread-local read. No model is pickled.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import types
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracelet.runtime.hooks import HookContext

HOOK = "sklearn"
SCOPE = "sklearn"  # the capture scope of the params recorded here
FIT, PREDICT, SCORE = "fit", "predict", "score"
METHODS = {
    "fit": FIT,
    "fit_transform": FIT,
    "fit_predict": FIT,
    "predict": PREDICT,
    "predict_proba": PREDICT,
    "score": SCORE,
}
MAX_LISTED = 1000  # longer list params are left to the capture's normalisation

log = logging.getLogger("tracelet")
_perf = time.perf_counter


class _Depth(threading.local):
    """Set while an outermost wrapped call runs in this thread."""

    depth = 0


_LOCAL = _Depth()
_TRACKER: _Tracker | None = None  # the installed hook, read by every wrapper at each call


class _Estimator:
    """One prefix: the estimators recorded under it, their latest fit, pending predicts."""

    __slots__ = ("calls", "cls", "key", "prefix", "step")

    def __init__(self, prefix: str, cls: type, key: str) -> None:
        self.prefix = prefix
        self.cls = cls
        self.key = key  # the params of the latest estimator, as text
        self.step: int | None = None
        self.calls: dict[str, list[float]] = {}  # method -> [count, seconds]


class _Tracker:
    """The state of the installed hook: wrapped methods, estimators seen, fit count."""

    def __init__(self, ctx: HookContext) -> None:
        self.ctx = ctx
        self.capture = ctx.capture
        self.dataset = bool(ctx.config.track_dataset_info)
        self.active = True
        self.fits = 0
        self.lock = threading.RLock()
        self.seen: set[type] = set()
        self.ours: set[Callable[..., Any]] = set()
        self.patches: list[tuple[Any, str, Any, Any]] = []  # (owner, name, original, wrapper)
        self.instances: dict[int, tuple[Callable[[], Any], _Estimator]] = {}
        self.by_name: dict[str, list[_Estimator]] = {}

    def fail(self, error: BaseException) -> None:
        self.stop()
        self.ctx.failed(HOOK, error)

    def stop(self) -> None:
        """Every wrapper becomes a plain call to the method it wraps."""
        global _TRACKER
        self.active = False
        if _TRACKER is self:
            _TRACKER = None

    # --- wrapping ------------------------------------------------------------------

    def wrap_class(self, cls: type) -> None:
        """Wrap the tracked methods defined in `cls` and in its bases not yet visited."""
        for klass in cls.__mro__:
            if klass is object or klass in self.seen:
                continue
            self.seen.add(klass)
            for name, kind in METHODS.items():
                value = klass.__dict__.get(name)
                if value is None:
                    continue
                try:
                    if isinstance(value, types.FunctionType):
                        if value not in self.ours:
                            self._patch(klass, name, value, _wrapper(kind, name, value))
                    elif _is_available_if(value) and value.fn not in self.ours:
                        self._patch(value, "fn", value.fn, _wrapper(kind, name, value.fn))
                except (TypeError, AttributeError) as error:  # an immutable class: skip it
                    log.debug("tracelet: cannot wrap %s.%s: %s", klass.__qualname__, name, error)

    def _patch(self, owner: Any, name: str, original: Any, wrapper: Any) -> None:
        setattr(owner, name, wrapper)
        self.ours.add(wrapper)
        self.patches.append((owner, name, original, wrapper))

    def restore(self) -> None:
        """Put back every original still directly in place; the others become inert."""
        self.stop()
        for owner, name, original, wrapper in reversed(self.patches):
            if vars(owner).get(name) is wrapper:
                setattr(owner, name, original)
        self.patches.clear()
        self.ours.clear()

    # --- recording (never raises: a failure turns the hook off) --------------------

    def fit_started(self, estimator: Any) -> _Estimator | None:
        try:
            with self.lock:
                if self.fits == 0:
                    self.capture.start_training()
                step = self.fits
                self.fits += 1
            params = _params(estimator)
            record = self._record(estimator, params)
            self._flush(record)
            record.step = step
            for name, value in params.items():
                self.capture.param(f"{record.prefix}.{name}", value, SCOPE)
            return record
        except Exception as error:
            self.fail(error)
            return None

    def fit_ended(
        self, record: _Estimator, estimator: Any, args: tuple, kwargs: dict, seconds: float
    ) -> None:
        try:
            metric, prefix, step = self.capture.metric, record.prefix, record.step or 0
            metric(f"{prefix}/fit_seconds", seconds, step)
            if self.dataset:
                data = args[0] if args else kwargs.get("X")
                for name, value in _data_shape(estimator, data):
                    metric(f"{prefix}/{name}", value, step)
            best = _attribute(estimator, "best_params_")
            if isinstance(best, dict):
                for name, value in best.items():
                    path = str(name).replace("__", ".")
                    self.capture.param(f"{prefix}.best_params.{path}", _plain(value), SCOPE)
            best_score = _number(_attribute(estimator, "best_score_"))
            if best_score is not None:
                metric(f"{prefix}/best_score", best_score, step)
        except Exception as error:
            self.fail(error)

    def predicted(self, estimator: Any, method: str, seconds: float) -> None:
        try:
            record = self._known(estimator)
            with self.lock:
                stats = record.calls.get(method)
                if stats is None:
                    stats = record.calls[method] = [0, 0.0]
                stats[0] += 1
                stats[1] += seconds
        except Exception as error:
            self.fail(error)

    def scored(self, estimator: Any, result: Any) -> None:
        try:
            value = _number(result)
            if value is not None:
                record = self._known(estimator)
                self.capture.metric(f"{record.prefix}/score", value, record.step or 0)
        except Exception as error:
            self.fail(error)

    def finish(self) -> None:
        """The run ends: emit the predict counts still held."""
        if not self.active:
            return
        try:
            for records in list(self.by_name.values()):
                for record in records:
                    self._flush(record)
        except Exception as error:
            self.fail(error)

    def _flush(self, record: _Estimator) -> None:
        with self.lock:
            calls, record.calls = record.calls, {}
        for method, (count, seconds) in calls.items():
            self.capture.metric(f"{record.prefix}/{method}_calls", count, record.step or 0)
            self.capture.metric(
                f"{record.prefix}/{method}_latency_seconds", seconds / count, record.step or 0
            )

    def _known(self, estimator: Any) -> _Estimator:
        """The record of an estimator, named now if no fit of this run has seen it."""
        entry = self.instances.get(id(estimator))
        if entry is not None and entry[0]() is estimator:
            return entry[1]
        record = self._record(estimator, _params(estimator))
        if record.step is None:
            record.step = max(self.fits - 1, 0)
        return record

    def _record(self, estimator: Any, params: dict[str, Any]) -> _Estimator:
        """The prefix of `estimator`: its own, a twin's (equal params), or a new one."""
        key = repr(list(params.items()))
        with self.lock:
            entry = self.instances.get(id(estimator))
            if entry is not None and entry[0]() is estimator:
                entry[1].key = key
                return entry[1]
            cls = type(estimator)
            same_name = self.by_name.setdefault(cls.__name__, [])
            for record in same_name:
                if record.cls is cls and record.key == key:
                    break
            else:
                n = len(same_name) + 1
                prefix = cls.__name__ if n == 1 else f"{cls.__name__}_{n}"
                record = _Estimator(prefix, cls, key)
                same_name.append(record)
            self.instances[id(estimator)] = (self._reference(estimator), record)
            return record

    def _reference(self, estimator: Any) -> Callable[[], Any]:
        """A weak reference that forgets the estimator when it is collected."""
        instances, ident = self.instances, id(estimator)

        def forget(ref: weakref.ref) -> None:
            entry = instances.get(ident)
            if entry is not None and entry[0] is ref:
                instances.pop(ident, None)

        try:
            return weakref.ref(estimator, forget)
        except TypeError:  # no weak references (__slots__): keep it alive
            return lambda: estimator


# The wrappers hold only the method they wrap and reach the hook through module globals:
# cloudpickle copies a `__main__` class with its methods into joblib's worker processes,
# and there these wrappers must pickle (and run as plain calls).


def _wrapper(kind: str, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if kind == FIT:

        @functools.wraps(fn)
        def fit(estimator: Any, *args: Any, **kwargs: Any) -> Any:
            return _fit(fn, estimator, args, kwargs)

        return fit
    if kind == PREDICT:

        @functools.wraps(fn)
        def predict(estimator: Any, *args: Any, **kwargs: Any) -> Any:
            return _predict(fn, name, estimator, args, kwargs)

        return predict

    @functools.wraps(fn)
    def score(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return _score(fn, estimator, args, kwargs)

    return score


def _fit(fn: Callable[..., Any], estimator: Any, args: tuple, kwargs: dict) -> Any:
    tracker, local = _TRACKER, _LOCAL
    if tracker is None or local.depth:
        return fn(estimator, *args, **kwargs)
    local.depth = 1
    try:
        record = tracker.fit_started(estimator)
        start = _perf()
        result = fn(estimator, *args, **kwargs)
        seconds = _perf() - start
        if record is not None:
            tracker.fit_ended(record, estimator, args, kwargs, seconds)
    finally:
        local.depth = 0
    return result


def _predict(fn: Callable[..., Any], name: str, estimator: Any, args: tuple, kwargs: dict) -> Any:
    tracker, local = _TRACKER, _LOCAL
    if tracker is None or local.depth:
        return fn(estimator, *args, **kwargs)
    local.depth = 1
    try:
        start = _perf()
        result = fn(estimator, *args, **kwargs)
        tracker.predicted(estimator, name, _perf() - start)
    finally:
        local.depth = 0
    return result


def _score(fn: Callable[..., Any], estimator: Any, args: tuple, kwargs: dict) -> Any:
    tracker, local = _TRACKER, _LOCAL
    if tracker is None or local.depth:
        return fn(estimator, *args, **kwargs)
    local.depth = 1
    try:
        result = fn(estimator, *args, **kwargs)
        tracker.scored(estimator, result)
    finally:
        local.depth = 0
    return result


def install(ctx: HookContext) -> Callable[[], None]:
    """Wrap the estimators that exist and those defined later; returns the uninstall."""
    from sklearn.base import BaseEstimator

    global _TRACKER
    tracker = _TRACKER = _Tracker(ctx)
    original = BaseEstimator.__dict__.get("__init_subclass__")

    def init_subclass(cls: type, **kwargs: Any) -> None:
        if original is not None:
            original.__get__(None, cls)(**kwargs)
        else:
            super(BaseEstimator, cls).__init_subclass__(**kwargs)
        if tracker.active:
            try:
                tracker.wrap_class(cls)
            except Exception as error:
                tracker.fail(error)

    hook = classmethod(init_subclass)
    BaseEstimator.__init_subclass__ = hook  # type: ignore[assignment]

    def uninstall() -> None:
        if BaseEstimator.__dict__.get("__init_subclass__") is hook:
            if original is None:
                del BaseEstimator.__init_subclass__
            else:
                BaseEstimator.__init_subclass__ = original  # type: ignore[assignment]
        tracker.restore()

    try:
        for cls in _subclasses(BaseEstimator):
            tracker.wrap_class(cls)
    except BaseException:
        uninstall()
        raise
    ctx.at_end(tracker.finish)
    return uninstall


def _subclasses(base: type) -> list[type]:
    found: list[type] = [base]
    seen = {base}
    for cls in found:
        for sub in type.__subclasses__(cls):
            if sub not in seen:
                seen.add(sub)
                found.append(sub)
    return found


def _is_available_if(value: object) -> bool:
    """scikit-learn's `available_if` descriptor: a `fn` called on access, after `check`."""
    return isinstance(getattr(value, "fn", None), types.FunctionType) and hasattr(value, "check")


def _params(estimator: Any) -> dict[str, Any]:
    """`get_params(deep=True)` with ``__`` paths as ``.`` and estimators as class names."""
    get_params = getattr(estimator, "get_params", None)
    if not callable(get_params):
        return {}
    return {str(k).replace("__", "."): _plain(v) for k, v in get_params(deep=True).items()}


def _plain(value: Any) -> Any:
    """A readable value: an estimator, class or function becomes its name."""
    if isinstance(value, type):
        return value.__qualname__
    if isinstance(value, types.FunctionType | types.BuiltinFunctionType):
        return value.__qualname__
    if type(value) in (list, tuple) and len(value) <= MAX_LISTED:
        return [_plain(item) for item in value]
    if isinstance(value, str | int | float | type(None)):
        return value
    if callable(getattr(value, "get_params", None)):
        return type(value).__name__
    return value


def _data_shape(estimator: Any, data: Any) -> list[tuple[str, int]]:
    """n_samples, n_features and n_classes of a fit, those that can be known."""
    dims = _attribute(data, "shape")
    if type(dims) is tuple and dims:
        rows, columns = _integer(dims[0]), _integer(dims[1]) if len(dims) == 2 else None
    else:
        rows, columns = _length(data), None
    features = _integer(_attribute(estimator, "n_features_in_"))
    classes = _attribute(estimator, "classes_")
    found = {
        "n_samples": rows,
        "n_features": columns if features is None else features,
        "n_classes": len(classes) if getattr(classes, "ndim", None) == 1 else None,
    }
    return [(name, value) for name, value in found.items() if value is not None]


def _attribute(obj: Any, name: str) -> Any:
    """An attribute, or None when reading it fails (properties of meta-estimators raise)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _length(data: Any) -> int | None:
    try:
        return len(data) if data is not None and not isinstance(data, str | bytes) else None
    except Exception:
        return None


def _integer(value: Any) -> int | None:
    """An int (numpy's included), else None: a lazy frame's unknown length stays unknown."""
    try:
        return int(value.__index__())
    except Exception:
        return None


def _number(value: Any) -> float | None:
    """A real number (numpy scalars included), else None."""
    if value is None or isinstance(value, bool | str | bytes):
        return None
    try:
        return float(value) if getattr(value, "ndim", 0) == 0 else None
    except (TypeError, ValueError):
        return None
