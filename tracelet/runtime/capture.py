"""The injected calls' entry points: the hot path of a tracked run.

The launcher puts a `Capture` in each rewritten module's globals as ``__tracelet__``; the
rewrite calls (docs/detection.md, "What the rewrite looks like")::

    __tracelet__.param(name, value[, scope])    one value
    __tracelet__.args(scope, name=value, ...)   a function's arguments; returns the identity
    __tracelet__.mapping(prefix, obj)           a namespace/dict/config object; returns obj

and framework hooks call `Capture.metric(name, value, step)` (or `metrics(points)` to flush
a buffer with one write) and `Capture.tag(name, value)`.
Every captured event is appended to the run's spool (`tracelet.runtime.spool`) before the
call returns.

Cost
    A name captured again with the value it had last time (the same object, or an equal
    int/float/str/bool/bytes/None/Path/Enum of the same type) returns after two dict
    look-ups and a comparison, allocating nothing: well under 0.5 µs
    (bench/bench_capture.py). Anything else takes the slow path below.

Values
    Normalised to what MLflow can hold: str, int, float, bool and None stay; subclasses of
    int/float/str (numpy's float64, IntEnum…) become the base type, an Enum its
    ``Class.NAME``; a 0-d array or tensor (anything with ``ndim == 0`` and ``.item()``:
    numpy and torch scalars, never imported here) its ``.item()``; a 1-d one of at most 1000
    elements its ``.tolist()``; a `Path` (any os.PathLike) its string; tuples and lists of
    such values (nested, up to 1000 elements) a list. Anything else becomes its ``repr``
    (``<Type object>`` when ``repr`` itself fails). A value whose text (``str()``, as MLflow
    stores it) is longer than MLflow's 6000 characters is cut to 6000 (ending in ``...``)
    and a tag ``tracelet.truncated.<name>`` gives the original length.

Names
    Characters MLflow refuses become ``_``; a name longer than 250 characters keeps its
    first 241 and gets ``~`` plus 8 hex digits of its CRC-32 (stable across runs).

Secrets (DESIGN.md invariant 9)
    With ``redact=True`` (the default), a name with a part (split at ``_ . - /`` and
    camelCase) equal to password, passwd, secret, token, auth, credential (or their
    plurals, but not ``tokens``), authorization, or two adjacent parts forming apikey,
    accesskey or privatekey, and any value that is a URL with user info
    (``scheme://user:pw@host``), is recorded as ``***``. Changes of a redacted value
    are not recorded at all.

Changes (a value never crashes anything)
    The first value of a name is the param (MLflow params are immutable). When the same
    name in the same scope is captured with a different value:

    - numeric (int or float, not bool) new value: a metric ``param/<name>`` whose step
      counts the changes (1, 2, …); the series starts with the param's own value at step 0
      when that one is numeric;
    - any other new value: a tag ``param/<name>`` holding the latest value as text.

Scopes and clashing names
    `param`'s scope is the qualified name of the enclosing function or class (``""`` at
    module level); `args` is given the function's. A name is recorded bare the first time.
    The same name captured in another scope with an equal value is the same param (nothing
    new is recorded). With a different value it is qualified by the last part of its
    scope's qualname: ``param("lr", 0.1)`` then ``param("lr", 0.01, "train")`` records
    ``lr = 0.1`` and ``train.lr = 0.01``; a dunder method's class name is used instead of
    the method's (``Model.__init__`` -> ``Model.dropout``); module level qualifies as
    ``module``. If that name is taken too, the full scope qualname is used, then a numeric
    suffix. A scope that shared a param and later diverges gets its qualified name then.
    `mapping` has no scope: an argparse or SimpleNamespace is captured in the pseudo-scope
    ``args``, anything else in ``config`` (so ``--lr 0.01`` over a module ``lr = 0.1`` gives
    ``lr = 0.1`` and ``args.lr = 0.01``).

Mappings
    `mapping` flattens into dotted names (``prefix.`` first when the prefix is not empty):
    argparse and SimpleNamespace objects, the ``(Namespace, rest)`` tuple of
    ``parse_known_args``, dicts and other mappings (nested ones too), OmegaConf
    ``DictConfig`` (resolved through ``OmegaConf.to_container`` of the already imported
    omegaconf; never imported here), ConfigParser objects (``section.key``, interpolated
    where possible) and sections, dataclass instances (the instance's values, not the class
    defaults), namedtuples and pydantic models (``model_dump``). Nesting stops at depth 8;
    cycles are cut. Objects given to `mapping` are remembered: `recheck()` captures them
    again.

The value in effect (DESIGN.md invariant 8)
    `recheck()` reads captured names again where code the static pass cannot see may have
    changed them (mapped objects, `__main__` globals, config classes and the instances the
    script uses: see `tracelet.runtime.in_effect`). It runs when training starts
    (`start_training()`, called by the framework hooks at the first optimizer step, `fit`
    or boosting round, and by `Experiment.log_metric`) and when the run ends. Until
    training has started, a value found changed *replaces* its param: the param is the
    value the training ran with, not the literal in the source (the sidecar holds params
    back until training starts, so MLflow only ever sees the final one). Changes found
    afterwards, and changes the rewrite itself captures, follow the change policy above.

Never break training (invariant 3)
    Each entry point catches any internal error, logs one warning per entry point and
    error type on the ``tracelet`` logger, and returns normally (`args` still returns the
    identity function, `mapping` its argument). Spool errors are handled by the writer.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from pathlib import PurePath

from tracelet.runtime.in_effect import values_in_effect
from tracelet.runtime.spool import metric_event, now_ms, param_event, tag_event, train_event

TYPE_CHECKING = False  # not `from typing import`: typing costs import time

if TYPE_CHECKING:
    from typing import Any, Protocol

    class Writer(Protocol):
        def append(self, event: Mapping[str, Any]) -> bool: ...
        def extend_metrics(self, points: Sequence[tuple[str, float, int, int]]) -> bool: ...


MAX_KEY = 250  # MLflow's limit for param, metric and tag names
MAX_PARAM_VALUE = 6000  # MLflow's limit for a param value
MAX_TAG_VALUE = 8000  # MLflow's limit for a tag value
MAX_DEPTH = 8  # mapping nesting
MAX_ITEMS = 1000  # list and 1-d array elements kept as a list
MAX_KEYS_KEPT = 10_000  # metric names whose cleaned key is remembered
MAX_REMEMBERED = 256  # objects given to mapping() that recheck() reads again
MAX_INT_BITS = 13_000  # str() of a longer int hits Python's 4300-digit limit
REDACTED = "***"
CHANGE_PREFIX = "param/"
TRUNCATED_PREFIX = "tracelet.truncated."
ARGS_SCOPE = "args"  # pseudo-scope of namespaces given to mapping()
CONFIG_SCOPE = "config"  # pseudo-scope of other objects given to mapping()
MODULE_QUALIFIER = "module"

log = logging.getLogger("tracelet")

_SCALARS = (str, int, float, bool, type(None))
_FAST_TYPES = frozenset({str, int, float, bool, bytes, type(None)})


def _identity(value: Any) -> Any:
    return value


class _NoValue:
    """The type of `_NO`: a last value that the fast path never matches."""

    __slots__ = ()


_NO = _NoValue()


class _Slot:
    """One name in one scope: its last value and the param name it is recorded under."""

    __slots__ = ("alias", "key", "name", "raw", "rtype", "scope", "secret", "value")

    def __init__(self, name: str, scope: str, secret: bool) -> None:
        self.name = name
        self.scope = scope
        self.secret = secret  # the name looks like a secret
        self.raw: Any = _NO  # last value as passed, kept only when immutable (fast path)
        self.rtype: type = _NoValue
        self.value: Any = _NO  # last value, normalised
        self.key = ""
        self.alias = False  # shares a param owned by another scope (equal value)


class _Key:
    """A recorded param name: who owns it and what changed since."""

    __slots__ = ("changes", "first", "redacted", "scope", "series")

    def __init__(self, scope: str, first: Any, redacted: bool) -> None:
        self.scope = scope
        self.first = first
        self.redacted = redacted
        self.changes = 0
        self.series = False  # the metric param/<key> has its step 0


class Capture:
    """The `__tracelet__` object: captures values into a spool writer; never raises."""

    def __init__(self, writer: Writer | None = None, *, redact: bool = True) -> None:
        self.writer = writer
        self.redact = redact
        self._slots: dict[str, dict[str, _Slot]] = {}
        self._keys: dict[str, _Key] = {}
        self._params: dict[str, Any] = {}
        self._mapped: dict[int, tuple[str, Any]] = {}
        self._errors: set[tuple[str, type]] = set()
        self._lock = threading.RLock()
        self._training = False  # params are final: later changes are recorded as changes
        self._starting = False
        self._metric_keys: dict[str, str] = {}  # metric name -> its MLflow key
        self._at_training_start: list[Callable[[], None]] = []

    # --- entry points of the rewrite ----------------------------------------------

    def param(self, name: str, value: Any, scope: str = "") -> None:
        """Capture one value (`scope`: the enclosing function's or class's qualname)."""
        try:
            slot = self._slots[scope][name]  # the fast path: an unchanged value
            if value is slot.raw or (type(value) is slot.rtype and value == slot.raw):
                return
        except KeyError:
            pass
        except Exception as error:  # never break training
            self._internal_error("param", error)
            return
        try:
            self._capture(name, value, scope)
        except Exception as error:
            self._internal_error("param", error)

    def args(self, scope: str, /, **values: Any) -> Callable[[Any], Any]:
        """Capture a function's arguments; returns the identity function (it may wrap an
        expression: ``for e in __tracelet__.args("train", epochs=epochs)(range(epochs))``)."""
        try:
            for name, value in values.items():
                try:
                    slot = self._slots[scope][name]
                    if value is slot.raw or (type(value) is slot.rtype and value == slot.raw):
                        continue
                except KeyError:
                    pass
                self._capture(name, value, scope)
        except Exception as error:
            self._internal_error("args", error)
        return _identity

    def mapping(self, prefix: str, obj: Any) -> Any:
        """Capture every value of a namespace, dict, config object or dataclass instance
        under dotted names (``prefix.`` first when `prefix` is not empty); returns `obj`."""
        try:
            self._map(prefix, obj, remember=True)
        except Exception as error:
            self._internal_error("mapping", error)
        return obj

    # --- entry points of hooks and sessions ---------------------------------------

    def metric(self, name: str, value: Any, step: int = 0) -> None:
        """Record one metric value at `step` (a 0-d tensor or numpy scalar is read with
        ``.item()``, so hooks should pass values already reduced)."""
        try:
            if type(value) is not float:
                value = _number(value)
            self._emit(metric_event(_clean_key(name), value, int(step or 0)))
        except Exception as error:
            self._internal_error("metric", error)

    def metrics(self, points: Iterable[tuple[str, Any, int, int | None]]) -> None:
        """Record many metric values at once, `(name, value, step, time_ms or None)` each,
        with one spool write: how hooks flush what they buffered over many steps."""
        try:
            now = now_ms()
            clean = self._metric_keys
            rows = []
            for name, value, step, t in points:
                key = clean.get(name)
                if key is None:
                    key = _clean_key(name)
                    if len(clean) < MAX_KEYS_KEPT:
                        clean[name] = key
                if type(value) is not float:
                    value = _number(value)
                if type(step) is not int:
                    step = int(step or 0)
                rows.append((key, value, step, t or now))
            if self.writer is not None:
                self.writer.extend_metrics(rows)
        except Exception as error:
            self._internal_error("metrics", error)

    def tag(self, name: str, value: Any) -> None:
        """Record one tag (a string; secrets redacted, truncated at MLflow's 8000)."""
        try:
            key = _clean_key(name)
            norm = _normalise(value)
            if self.redact and (_is_secret(str(name)) or _has_userinfo(norm)):
                text = REDACTED
            else:
                text = norm if type(norm) is str else _text(norm)
            self._emit_tag(key, text)
        except Exception as error:
            self._internal_error("tag", error)

    def artifact(self, path: str) -> None:
        """A file for the sidecar to upload with the run."""
        try:
            self._emit({"e": "artifact", "k": str(path), "t": now_ms()})
        except Exception as error:
            self._internal_error("artifact", error)

    def recheck(self, module_globals: Mapping[str, Any] | None = None) -> None:
        """Capture again the values in effect now (DESIGN.md invariant 8).

        Every object given to `mapping`; module-level names from `module_globals` (default:
        the `__main__` globals of the rewritten code on the stack); config classes and
        the instances the script holds. Before training starts, a changed value replaces
        its param; afterwards it is recorded as a change.
        """
        try:
            for prefix, obj in list(self._mapped.values()):
                self._map(prefix, obj, remember=False, settle=True)
            with self._lock:
                names = {scope: list(slots) for scope, slots in self._slots.items()}
            for scope, name, value in values_in_effect(
                names, self, module_globals, sys._getframe(1)
            ):
                self.in_effect(name, value, scope)
        except Exception as error:
            self._internal_error("recheck", error)

    def in_effect(self, name: str, value: Any, scope: str = "") -> None:
        """Capture a value read again rather than assigned (as `recheck` does): before
        training starts, a changed value replaces its param."""
        try:
            self._capture(name, value, scope, settle=True)
        except Exception as error:
            self._internal_error("in_effect", error)

    def when_training_starts(self, callback: Callable[[], None]) -> None:
        """Call `callback` (once) when `start_training()` is first called."""
        self._at_training_start.append(callback)

    def start_training(self) -> None:
        """Training begins: read the values in effect, then let the params go out.

        Idempotent and cheap after the first call. Runs `recheck()` and the callbacks of
        `when_training_starts`, then appends a ``train`` event: the sidecar delivers the
        params it held back.
        """
        if self._training:
            return
        with self._lock:  # two threads starting at once: one reads, one returns
            if self._starting:
                return
            self._starting = True
        try:
            self.recheck()
            for callback in self._at_training_start:
                try:
                    callback()
                except Exception as error:
                    self._internal_error("start_training", error)
        finally:
            self._training = True
            self._at_training_start.clear()
            self._emit(train_event())

    def snapshot(self) -> dict[str, Any]:
        """The params as recorded: name -> first value (normalised, redacted, truncated)."""
        with self._lock:
            return dict(self._params)

    # --- slow path -----------------------------------------------------------------

    def _capture(self, name: str, value: Any, scope: str, settle: bool = False) -> None:
        norm = _normalise(value)  # outside the lock: it may run user code (repr, item)
        with self._lock:
            slots = self._slots.get(scope)
            if slots is None:
                slots = self._slots[scope] = {}
            slot = slots.get(name)
            if slot is None:
                slot = _Slot(str(name), str(scope), self.redact and _is_secret(str(name)))
                self._bind(slot, norm)
                slots[name] = slot
            elif _same(slot.value, norm):
                pass
            elif slot.alias:
                self._bind(slot, norm)  # no longer equal to the param it shared
            elif settle and not self._training and not self._keys[slot.key].changes:
                self._settle(slot, norm)
            else:
                self._changed(slot, norm)
            slot.value = norm
            if type(value) in _FAST_TYPES or isinstance(value, (PurePath, Enum)):
                slot.raw, slot.rtype = value, type(value)
            else:
                slot.raw, slot.rtype = _NO, _NoValue

    def _bind(self, slot: _Slot, norm: Any) -> None:
        """Find the param name of a slot: bare, shared with an equal value, or qualified."""
        for key in _candidates(slot.name, slot.scope):
            owner = self._keys.get(key)
            if owner is None:
                redacted = slot.secret or (self.redact and _has_userinfo(norm))
                self._keys[key] = _Key(slot.scope, norm, redacted)
                slot.key, slot.alias = key, False
                self._emit_param(key, norm, redacted)
                return
            if owner.scope != slot.scope and _same(owner.first, norm):
                slot.key, slot.alias = key, True
                return

    def _changed(self, slot: _Slot, norm: Any) -> None:
        info = self._keys[slot.key]
        if info.redacted or slot.secret or (self.redact and _has_userinfo(norm)):
            return  # never leak a secret through its changes
        info.changes += 1
        name = _clean_key(CHANGE_PREFIX + slot.key)
        if _numeric(norm):
            if not info.series and _numeric(info.first):
                self._emit(metric_event(name, float(info.first), 0))
            info.series = True
            self._emit(metric_event(name, float(norm), info.changes))
        else:
            self._emit_tag(name, norm if type(norm) is str else _text(norm))

    def _settle(self, slot: _Slot, norm: Any) -> None:
        """Before training: the value in effect replaces the param (held by the sidecar)."""
        info = self._keys[slot.key]
        if info.redacted or slot.secret or (self.redact and _has_userinfo(norm)):
            return
        info.first = norm
        self._emit_param(slot.key, norm, False)
        for scope_slots in self._slots.values():  # scopes that shared the old value
            for other in scope_slots.values():
                if other.alias and other.key == slot.key and not _same(other.value, norm):
                    self._bind(other, other.value)

    def _emit_param(self, key: str, norm: Any, redacted: bool) -> None:
        value = REDACTED if redacted else norm
        length = 0
        if not redacted and type(norm) is not bool and norm is not None:
            text = norm if type(norm) is str else _text(norm)
            if len(text) > MAX_PARAM_VALUE:
                length, value = len(text), _cut(text, MAX_PARAM_VALUE)
        self._params[key] = value
        self._emit(param_event(key, value))
        if length:
            self._emit(
                tag_event(
                    _clean_key(TRUNCATED_PREFIX + key),
                    f"{length} characters, truncated to {MAX_PARAM_VALUE}",
                )
            )

    def _emit_tag(self, key: str, text: str) -> None:
        if len(text) > MAX_TAG_VALUE:
            self._emit(tag_event(key, _cut(text, MAX_TAG_VALUE)))
            self._emit(
                tag_event(
                    _clean_key(TRUNCATED_PREFIX + key),
                    f"{len(text)} characters, truncated to {MAX_TAG_VALUE}",
                )
            )
        else:
            self._emit(tag_event(key, text))

    def _emit(self, event: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.append(event)

    def _map(self, prefix: str, obj: Any, remember: bool, settle: bool = False) -> None:
        prefix = str(prefix) if prefix else ""
        obj = _unwrap_known_args(obj)
        scope = ARGS_SCOPE if _is_namespace(obj) else CONFIG_SCOPE
        leaves: list[tuple[str, Any]] = []
        if not _flatten(prefix, obj, leaves, 0, set()):
            if not prefix:
                return
            leaves = [(prefix, obj)]
        elif remember and not isinstance(obj, tuple) and len(self._mapped) < MAX_REMEMBERED:
            self._mapped.setdefault(id(obj), (prefix, obj))
        capture = self.in_effect if settle else self.param
        for name, value in leaves:
            capture(name, value, scope)

    def _internal_error(self, where: str, error: Exception) -> None:
        try:
            key = (where, type(error))
            if key in self._errors:
                return
            self._errors.add(key)
            log.warning(
                "tracelet: internal error in %s() (%s: %s); training goes on",
                where, type(error).__name__, error,
            )  # fmt: skip
            log.debug("tracelet: internal error in %s()", where, exc_info=error)
        except Exception:  # logging itself failed: stay silent
            pass


# --- values ---------------------------------------------------------------------------


def _normalise(value: Any, depth: int = 0) -> Any:
    """A JSON-able value MLflow can hold (see the module docstring); never raises."""
    kind = type(value)
    if kind is int:
        return (
            value if value.bit_length() <= MAX_INT_BITS else f"<int of {value.bit_length()} bits>"
        )
    if kind in _SCALARS:
        return value
    try:
        if isinstance(value, Enum):
            return f"{kind.__name__}.{value.name}"
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return _normalise(int(value), depth)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, os.PathLike):
            path = os.fspath(value)
            return path if isinstance(path, str) else _repr(path)
        if isinstance(value, (list, tuple)):
            return _sequence(value, depth)
        ndim = getattr(value, "ndim", None)
        if ndim == 0 and callable(getattr(value, "item", None)):
            item = value.item()
            if type(item) in _SCALARS or isinstance(item, (int, float, str)):
                return _normalise(item, depth)
        elif ndim == 1 and callable(getattr(value, "tolist", None)) and len(value) <= MAX_ITEMS:
            return _sequence(value.tolist(), depth)
    except Exception:  # a hostile __eq__/__len__/item(): fall back to repr
        pass
    return _repr(value)


def _sequence(value: list | tuple, depth: int) -> Any:
    if depth >= 4 or len(value) > MAX_ITEMS:
        return _repr(value)
    items = [_normalise(item, depth + 1) for item in value]
    for item, original in zip(items, value, strict=True):
        if type(item) is str and not isinstance(original, (str, Enum, os.PathLike)):
            return _repr(value)  # an element that is not a value: the list as text
    return items


def _repr(value: Any) -> str:
    try:
        text = repr(value)
        if type(text) is str:
            return text
    except Exception:
        pass
    try:
        return f"<{type(value).__qualname__} object>"
    except Exception:
        return "<object>"


def _text(value: Any) -> str:
    """A normalised value as MLflow stores it: ``str()``."""
    try:
        return str(value)
    except Exception:  # e.g. an int too long for str()
        return _repr(value)


def _cut(text: str, limit: int) -> str:
    return text[: limit - 3] + "..."


def _number(value: Any) -> float:
    if type(value) in (int, bool):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        value = item()
    return float(value)


def _numeric(value: Any) -> bool:
    return type(value) in (int, float)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (1 and 1.0 are equal, 1 and True not; NaN equals NaN)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return _numeric(a) and _numeric(b) and a == b
    if type(a) is float and a != a and b != b:
        return True
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# --- names ----------------------------------------------------------------------------

_BAD_CHARS = re.compile(r"[^\w./\- :]")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SECRET_WORDS = frozenset(
    {
        "password", "passwords", "passwd", "secret", "secrets", "token", "auth",
        "authorization", "credential", "credentials", "apikey", "accesskey", "privatekey",
    }
)  # fmt: skip
_SECRET_PAIRS = frozenset({"apikey", "accesskey", "privatekey"})
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\s@]*@")
_clean_cache: dict[str, str] = {}
_secret_cache: dict[str, bool] = {}


def _clean_key(name: Any) -> str:
    """A name MLflow accepts, at most 250 characters, the same for the same input."""
    cached = _clean_cache.get(name) if type(name) is str else None
    if cached is not None:
        return cached
    text = str(name)
    key = _BAD_CHARS.sub("_", text)
    if "/" in key:  # MLflow refuses names that a path normalisation would change
        parts = [p if p not in (".", "..") else "_" for p in key.split("/") if p]
        key = "/".join(parts)
    if not key or key.startswith(".."):
        key = "_" + key
    if len(key) > MAX_KEY:
        key = f"{key[: MAX_KEY - 9]}~{zlib.crc32(text.encode('utf-8', 'replace')):08x}"
    if type(name) is str and len(_clean_cache) < 100_000:
        _clean_cache[name] = key
    return key


def _is_secret(name: str) -> bool:
    cached = _secret_cache.get(name)
    if cached is None:
        words = [w.lower() for w in _WORDS.findall(name)]
        pairs = {a + b for a, b in itertools.pairwise(words)}
        cached = bool(_SECRET_WORDS.intersection(words) or _SECRET_PAIRS & pairs)
        if len(_secret_cache) < 100_000:
            _secret_cache[name] = cached
    return cached


def _has_userinfo(value: Any) -> bool:
    if type(value) is str:
        return "@" in value and _USERINFO.match(value) is not None
    if type(value) is list:
        return any(_has_userinfo(item) for item in value)
    return False


def _qualifier(scope: str) -> str:
    if not scope:
        return MODULE_QUALIFIER
    parts = scope.split(".")
    last = parts[-1]
    if len(parts) > 1 and last.startswith("__") and last.endswith("__"):
        return parts[-2]
    return last


def _candidates(name: str, scope: str) -> Iterable[str]:
    yield _clean_key(name)
    qualified = f"{_qualifier(scope)}.{name}"
    yield _clean_key(qualified)
    full = f"{scope or MODULE_QUALIFIER}.{name}"
    if full != qualified:
        yield _clean_key(full)
    n = 2
    while True:
        yield _clean_key(f"{full}.{n}")
        n += 1


# --- mappings -------------------------------------------------------------------------


def _unwrap_known_args(obj: Any) -> Any:
    """``parse_known_args()`` returns ``(namespace, rest)``: the namespace."""
    if type(obj) is tuple and len(obj) == 2 and isinstance(obj[1], list) and _is_namespace(obj[0]):
        return obj[0]
    return obj


def _is_namespace(obj: Any) -> bool:
    argparse = sys.modules.get("argparse")
    if argparse is not None and isinstance(obj, argparse.Namespace):
        return True
    return type(obj).__name__ == "SimpleNamespace" and type(obj).__module__ == "types"


def _flatten(prefix: str, obj: Any, out: list[tuple[str, Any]], depth: int, seen: set) -> bool:
    """Append (dotted name, leaf) pairs of `obj` to `out`; False when `obj` is a leaf."""
    children = _children(obj) if depth < MAX_DEPTH and id(obj) not in seen else None
    if children is None:
        return False
    seen.add(id(obj))
    for key, value in children:
        name = f"{prefix}.{key}" if prefix else str(key)
        if not _flatten(name, value, out, depth + 1, seen):
            out.append((name, value))
    seen.discard(id(obj))
    return True


def _children(obj: Any) -> list[tuple[Any, Any]] | None:
    """The named members of a container object, or None for a leaf."""
    kind = type(obj)
    if kind in _FAST_TYPES or kind is list:
        return None
    if kind is dict:
        return list(obj.items())
    if _is_namespace(obj):
        return list(vars(obj).items())
    module = kind.__module__ or ""
    if module.startswith("omegaconf"):
        return _omegaconf(obj)
    configparser = sys.modules.get("configparser")
    if configparser is not None:
        if isinstance(obj, configparser.RawConfigParser):
            sections = obj.sections() or (["DEFAULT"] if obj.defaults() else [])
            return [(name, obj[name]) for name in sections]
        if isinstance(obj, configparser.SectionProxy):
            return [(key, _option(obj, key)) for key in obj]
    if hasattr(kind, "__dataclass_fields__") and not isinstance(obj, type):
        dataclasses = sys.modules["dataclasses"]
        return [(f.name, getattr(obj, f.name, None)) for f in dataclasses.fields(obj)]
    if isinstance(obj, tuple) and callable(getattr(obj, "_asdict", None)):
        return list(obj._asdict().items())
    if isinstance(obj, Mapping):
        return list(obj.items())
    dump = getattr(kind, "model_dump", None)  # pydantic v2
    if callable(dump) and not isinstance(obj, type):
        data = obj.model_dump()
        return list(data.items()) if isinstance(data, dict) else None
    return None


def _omegaconf(obj: Any) -> list[tuple[Any, Any]] | None:
    """A DictConfig's values, interpolations resolved (unresolved if resolving fails)."""
    omegaconf = sys.modules.get("omegaconf")
    to_container = getattr(getattr(omegaconf, "OmegaConf", None), "to_container", None)
    if to_container is None:
        return None
    try:
        data = to_container(obj, resolve=True, throw_on_missing=False)
    except Exception:  # a broken interpolation: the raw values
        data = to_container(obj, resolve=False)
    return list(data.items()) if isinstance(data, dict) else None


def _option(section: Any, key: str) -> Any:
    try:
        return section[key]
    except Exception:  # interpolation error: the raw text
        return section.parser.get(section.name, key, raw=True)
