"""Read the shape of a value from its syntax: is it a literal, arithmetic, a copy, an object?

Static only: constants are folded where that is safe and cheap (`2**10`,
`-1e-3`, `int(1e6)`); nothing else is evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import libcst as cst

from tracelet.transforms import classify as C

# Calls that keep a value a constant (or, over names, a derived setting).
PURE_CALLS = frozenset(
    "int float round abs min max pow bool str sqrt log log2 log10 exp ceil floor".split()
)
ENVIRONMENT_READS = frozenset({"os.environ.get", "os.getenv", "environ.get", "getenv"})
_FOLDABLE = {
    cst.Add: lambda a, b: a + b,
    cst.Subtract: lambda a, b: a - b,
    cst.Multiply: lambda a, b: a * b,
    cst.Divide: lambda a, b: a / b,
    cst.FloorDivide: lambda a, b: a // b,
    cst.Power: lambda a, b: a**b if abs(b) <= 64 and abs(a) <= 1e6 else None,
}


@dataclass(frozen=True, slots=True)
class Shape:
    kind: str
    number: float | None = None
    text: str | None = None
    scientific: bool = False
    length: int = 0


def dotted_name(node: cst.BaseExpression) -> str:
    """`torch.optim.Adam` -> "torch.optim.Adam"; anything else -> ""."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return ""
    parts.append(node.value)
    return ".".join(reversed(parts))


def callee_name(call: cst.Call) -> str:
    """The last part of the called name: `optim.Adam(...)` -> "Adam"."""
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return ""


def shape_of(node: cst.BaseExpression) -> Shape:
    """Classify a value expression into one of classify's shapes."""
    if isinstance(node, cst.Integer | cst.Float):
        value = node.evaluated_value
        sci = isinstance(node, cst.Float) and "e" in node.value.lower()
        return Shape(C.NUMBER, float(value), scientific=sci)
    if isinstance(node, cst.Imaginary):
        return Shape(C.NUMBER)
    if isinstance(node, cst.Name):
        if node.value in ("True", "False"):
            return Shape(C.BOOL)
        if node.value == "None":
            return Shape(C.NONE)
        return Shape(C.ALIAS)
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        try:
            text = node.evaluated_value
        except Exception:
            text = None
        if isinstance(text, bytes):
            text = None
        return Shape(C.STRING, text=text)
    if isinstance(node, cst.FormattedString):
        return Shape(C.DERIVED)
    if isinstance(node, cst.UnaryOperation):
        inner = shape_of(node.expression)
        if inner.kind == C.NUMBER and isinstance(node.operator, cst.Minus | cst.Plus):
            number = inner.number
            if number is not None and isinstance(node.operator, cst.Minus):
                number = -number
            return Shape(C.NUMBER, number, scientific=inner.scientific)
        if isinstance(node.operator, cst.Not) and inner.kind == C.BOOL:
            return inner
        return _derive(inner)
    if isinstance(node, cst.BinaryOperation):
        return _binary(node)
    if isinstance(node, cst.List | cst.Tuple | cst.Set):
        return _sequence([e.value for e in node.elements])
    if isinstance(node, cst.Dict):
        return _mapping(node)
    if isinstance(node, cst.Attribute | cst.Subscript):
        return Shape(C.ALIAS)
    if isinstance(node, cst.Call):
        return _call(node)
    if isinstance(node, cst.IfExp):
        body, orelse = shape_of(node.body), shape_of(node.orelse)
        literal = {body.kind, orelse.kind} <= C.LITERAL_SHAPES
        return Shape(C.DERIVED) if literal else Shape(C.OBJECT)
    if isinstance(node, cst.BooleanOperation | cst.Comparison):
        return Shape(C.DERIVED)
    return Shape(C.OBJECT)


def _derive(inner: Shape) -> Shape:
    if inner.kind in (C.NUMBER, C.DERIVED, C.ALIAS, C.BOOL):
        return Shape(C.DERIVED)
    return Shape(C.OBJECT)


def _binary(node: cst.BinaryOperation) -> Shape:
    left, right = shape_of(node.left), shape_of(node.right)
    if left.kind == C.NUMBER and right.kind == C.NUMBER:
        fold = _FOLDABLE.get(type(node.operator))
        number = None
        if fold and left.number is not None and right.number is not None:
            try:
                number = fold(left.number, right.number)
            except (ArithmeticError, ValueError):
                number = None
        if number is not None and not math.isfinite(number):
            number = None
        return Shape(C.NUMBER, number, scientific=left.scientific or right.scientific)
    if left.kind == C.STRING and right.kind == C.STRING:
        return Shape(C.DERIVED)
    kinds = {left.kind, right.kind}
    if kinds <= {C.NUMBER, C.DERIVED, C.ALIAS, C.BOOL, C.STRING}:
        return Shape(C.DERIVED)
    return Shape(C.OBJECT)


def _sequence(items: list[cst.BaseExpression]) -> Shape:
    if not items:
        return Shape(C.EMPTY)
    kinds = {shape_of(item).kind for item in items}
    if kinds <= {C.NUMBER, C.BOOL, C.STRING, C.NONE, C.SCALARS}:
        return Shape(C.SCALARS, length=len(items))
    if kinds <= {C.NUMBER, C.BOOL, C.STRING, C.NONE, C.SCALARS, C.DERIVED, C.ALIAS}:
        return Shape(C.DERIVED, length=len(items))
    return Shape(C.OBJECT)


def _mapping(node: cst.Dict) -> Shape:
    if not node.elements:
        return Shape(C.EMPTY)
    return Shape(C.DICT, length=len(node.elements))


def _call(node: cst.Call) -> Shape:
    name = callee_name(node)
    if dotted_name(node.func) in ENVIRONMENT_READS:  # a setting read from the environment
        return Shape(C.DERIVED)
    if name == "dict" and isinstance(node.func, cst.Name):
        if not node.args:
            return Shape(C.EMPTY)
        if all(arg.keyword is not None for arg in node.args):
            return Shape(C.DICT, length=len(node.args))
        return Shape(C.OBJECT)
    if name in ("list", "tuple", "set") and not node.args:
        return Shape(C.EMPTY)
    if name not in PURE_CALLS or not node.args:
        return Shape(C.OBJECT)
    kinds = {shape_of(arg.value).kind for arg in node.args if arg.keyword is None}
    if kinds <= {C.NUMBER}:
        number = None
        if name in ("int", "float") and len(node.args) == 1:
            inner = shape_of(node.args[0].value)
            if inner.number is not None:
                number = float(int(inner.number)) if name == "int" else inner.number
        return Shape(C.NUMBER, number)
    if kinds <= {C.NUMBER, C.DERIVED, C.ALIAS, C.STRING}:
        return Shape(C.DERIVED)
    return Shape(C.OBJECT)


def dict_items(node: cst.BaseExpression) -> list[tuple[str, cst.BaseExpression]]:
    """String-keyed items of a dict literal or a `dict(k=v)` call, nested keys dotted."""
    items: list[tuple[str, cst.BaseExpression]] = []
    if isinstance(node, cst.Dict):
        for element in node.elements:
            if not isinstance(element, cst.DictElement):
                continue
            key = shape_of(element.key)
            if key.kind != C.STRING or key.text is None:
                continue
            items.extend(_nested(key.text, element.value))
    elif isinstance(node, cst.Call):
        for arg in node.args:
            if arg.keyword is not None:
                items.extend(_nested(arg.keyword.value, arg.value))
    return items


def _nested(key: str, value: cst.BaseExpression) -> list[tuple[str, cst.BaseExpression]]:
    if isinstance(value, cst.Dict) and value.elements:
        return [(f"{key}.{sub}", v) for sub, v in dict_items(value)]
    return [(key, value)]
