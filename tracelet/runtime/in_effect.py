"""The values in effect of names captured earlier (DESIGN.md invariant 8).

The rewrite captures a value where the source assigns it. Code the static pass cannot
see may change it afterwards: an `exec`'d configurator or `globals().update(...)` rewriting
module globals, `setattr` loops over a config class, a CLI parser building the config
dataclass instance the script actually uses. `values_in_effect` reads those names again:

- module-level names from the `__main__` module's globals;
- a config class's attributes from the class itself (found by its qualname there);
- and, over them, the fields of an instance of that class held in a local variable of
  the user's code on the stack (innermost first) or in the module's globals.

The user's code is recognised by its globals holding the run's capture runtime as
``__tracelet__`` (the launcher puts it there).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Mapping

TYPE_CHECKING = False  # not `from typing import`: typing costs import time

if TYPE_CHECKING:
    from typing import Any

MAX_FRAMES = 200


def values_in_effect(
    names_by_scope: Mapping[str, Iterable[str]],
    runtime: object,
    module_globals: Mapping[str, Any] | None = None,
    frame: types.FrameType | None = None,
) -> list[tuple[str, str, Any]]:
    """`(scope, name, value)` of each captured name that can be read now.

    `module_globals` defaults to the `__main__` globals of the user's code on the stack
    (from `frame`, default the caller's, outwards).
    """
    frames = _user_frames(frame or sys._getframe(1), runtime)
    if module_globals is None:
        module_globals = next(
            (f.f_globals for f in frames if f.f_globals.get("__name__") == "__main__"),
            _main_globals(runtime),
        )
    if module_globals is None:
        return []
    found: list[tuple[str, str, Any]] = []
    for name in names_by_scope.get("", ()):
        if name in module_globals:
            found.append(("", name, module_globals[name]))
    namespaces = [f.f_locals for f in frames if f.f_locals is not f.f_globals]
    namespaces.append(module_globals)
    for scope, names in names_by_scope.items():
        cls = _resolve(module_globals, scope) if scope else None
        if not isinstance(cls, type):
            continue
        names = list(names)
        values = dict(_class_values(cls, names))
        instance = _find_instance(cls, namespaces)
        if instance is not None:
            values.update(_fields(instance, names))  # the instance's fields over the class's
        found.extend((scope, name, value) for name, value in values.items())
    return found


def _main_globals(runtime: object) -> Mapping[str, Any] | None:
    """`__main__`'s globals when it is rewritten code of this run (another thread, a deep
    stack)."""
    main = sys.modules.get("__main__")
    namespace = getattr(main, "__dict__", None)
    return namespace if namespace and namespace.get("__tracelet__") is runtime else None


def _user_frames(frame: types.FrameType | None, runtime: object) -> list[types.FrameType]:
    frames = []
    for _ in range(MAX_FRAMES):
        if frame is None:
            break
        if frame.f_globals.get("__tracelet__") is runtime:
            frames.append(frame)
        frame = frame.f_back
    return frames


def _resolve(namespace: Mapping[str, Any], qualname: str) -> object:
    """The object a dotted qualname (``Outer.Config``) names in a module namespace."""
    head, *rest = qualname.split(".")
    obj = namespace.get(head)
    for part in rest:
        if "<" in part:  # <locals>: not reachable from the module
            return None
        obj = getattr(obj, "__dict__", {}).get(part)
    return obj


def _class_values(cls: type, names: list[str]) -> Iterable[tuple[str, Any]]:
    """Plain values only: a name that became a property or method is not a value."""
    for name in names:
        for klass in cls.__mro__:
            if name in klass.__dict__:
                value = klass.__dict__[name]
                if not _is_code(value):
                    yield name, value
                break


def _find_instance(cls: type, namespaces: list[Mapping[str, Any]]) -> object:
    for namespace in namespaces:
        for value in list(namespace.values()):
            if type(value) is cls:
                return value
    return None


def _fields(instance: object, names: list[str]) -> Iterable[tuple[str, Any]]:
    for name in names:
        try:
            value = getattr(instance, name)
        except Exception:  # a property that raises, a missing slot
            continue
        if not _is_code(value):
            yield name, value


def _is_code(value: object) -> bool:
    return isinstance(
        value,
        types.FunctionType | types.MethodType | classmethod | staticmethod | property | type,
    )
