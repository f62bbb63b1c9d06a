"""Which hyperparameter sites flow, within their file, into an experiment tracker (for lint).

A light data-flow pass over Python's `ast`: every assignment records the names
its value reads; every call to a known logging sink (MLflow, W&B, ClearML,
Comet, TensorBoard, Lightning, Neptune, tracelet) marks the names its arguments
read; a name is tracked when a tracked name's value was computed from it.
Names are matched by spelling across the whole file, not by scope: lint errs
towards "tracked" rather than raising false alarms.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tracelet.transforms import classify as C

if TYPE_CHECKING:
    from tracelet.transforms.sites import Site

AUTOMAGIC_PRAGMA = re.compile(r"#\s*tracelet:\s*automagic\b")

# Methods that log hyperparameters, whatever object they are called on.
SINK_METHODS = frozenset(
    """
    log_param log_params log_hyperparams log_hyperparameters log_parameter log_parameters
    add_hparams add_config set_parameters
    """.split()
)
# Dotted callees that log their arguments.
SINK_CALLS = frozenset(
    """
    wandb.config.update wandb.config.setdefaults run.config.update mlflow.log_dict
    hp.hparams hparams_api.hparams
    """.split()
)
# Objects whose items or attributes, when assigned, are logged: wandb.config["lr"] = lr.
SINK_TARGETS = frozenset({"wandb.config", "run.config", "config"})
# Calls that create such an object: run = neptune.init_run(...); run["params"] = params.
RUN_FACTORIES = frozenset(
    {"neptune.init_run", "neptune.init", "aim.Run", "Run", "init_run", "wandb.init"}
)
PARSE_ARGS = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args"})


@dataclass(slots=True)
class Tracking:
    automagic: bool = False  # every site is captured by tracelet itself
    names: set[str] = field(default_factory=set)  # names whose values reach a sink
    attributes: set[tuple[str, str]] = field(default_factory=set)  # args.lr reaching a sink
    whole_scopes: set[str] = field(default_factory=set)  # scopes whose locals() were logged
    namespaces: set[str] = field(default_factory=set)  # names bound to parse_args()

    def covers(self, site: Site) -> bool:
        """True when the site's value reaches a tracker (or tracelet captures the file)."""
        if self.automagic or site.scope in self.whole_scopes:
            return True
        if site.kind == C.CALL_KWARG:
            return False  # an inline literal reaches nothing by name
        if site.kind == C.ARGPARSE:
            if self.namespaces & self.names:
                return True
            return any(attr == site.name for _, attr in self.attributes)
        if site.kind == C.CLASS_ATTR:
            owner = site.scope.rsplit(".", 1)[-1]
            return owner in self.names or site.name in self.names
        base = site.name.split(".", 1)[0]
        return site.name in self.names or base in self.names


def analyse_tracking(source: str, entrypoint: bool = False) -> Tracking:
    """The tracking facts of one file (which parses: the engine read it first)."""
    tracking = Tracking(automagic=entrypoint or bool(AUTOMAGIC_PRAGMA.search(source)))
    if tracking.automagic:
        return tracking
    tree = ast.parse(source)
    flow = _Flow()
    flow.visit(tree)
    if flow.automagic:
        tracking.automagic = True
        return tracking
    tracking.names, tracking.attributes = flow.closure()
    tracking.whole_scopes = flow.whole_scopes
    tracking.namespaces = flow.namespaces
    return tracking


Read = str | tuple[str, str]  # a name, or one attribute of a name: ("args", "lr")


class _Flow(ast.NodeVisitor):
    def __init__(self) -> None:
        self.sources: dict[str, set[Read]] = defaultdict(set)  # name -> what its value read
        self.roots: set[Read] = set()
        self.whole_scopes: set[str] = set()
        self.namespaces: set[str] = set()
        self.run_objects: set[str] = set()
        self.parse_functions: set[str] = set()
        self.scopes: list[str] = []
        self.automagic = False

    def closure(self) -> tuple[set[str], set[tuple[str, str]]]:
        """Every name and attribute whose value reaches a sink."""
        names: set[str] = set()
        attributes: set[tuple[str, str]] = set()
        pending = list(self.roots)
        while pending:
            read = pending.pop()
            if isinstance(read, tuple):
                attributes.add(read)
            elif read not in names:
                names.add(read)
                pending.extend(self.sources.get(read, ()))
        return names, attributes

    # --- scopes ---------------------------------------------------------------

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scopes.append(".".join([*self.scopes[-1:], node.name]))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if any(_returns_parse_args(stmt) for stmt in ast.walk(node)):
            self.parse_functions.add(node.name)
        self._scoped(node)

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_ClassDef = _scoped

    # --- flows ----------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._bind(node.target, node.value)
        self.generic_visit(node)

    def _bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.sources[target.id] |= _reads(value)
            if _is_parse_args(value, self.parse_functions):
                self.namespaces.add(target.id)
            if isinstance(value, ast.Call) and _dotted(value.func) in RUN_FACTORIES:
                self.run_objects.add(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._bind(element, value)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            owner = _dotted(target.value)
            if owner in SINK_TARGETS or owner in self.run_objects:
                self._sink(value)
            base = _base_name(target)
            if base:  # cfg.lr = lr: cfg now carries lr
                self.sources[base] |= _reads(value)

    def visit_Call(self, node: ast.Call) -> None:
        callee = _dotted(node.func)
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if callee.endswith("Experiment") and _keyword_true(node, "automagic"):
            self.automagic = True
        if method in SINK_METHODS or callee in SINK_CALLS or _is_clearml_connect(node):
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self._sink(arg)
        elif callee == "wandb.init":
            for keyword in node.keywords:
                if keyword.arg == "config":
                    self._sink(keyword.value)
        elif method == "save_hyperparameters" and self.scopes:
            named = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if named:
                self.roots |= {name for name in named if isinstance(name, str)}
            else:
                self.whole_scopes.add(self.scopes[-1])
        elif method == "update" and (base := _base_name(node.func.value)):
            for arg in node.args:  # config.update(vars(args)): config now carries args
                self.sources[base] |= _reads(arg)
        self.generic_visit(node)

    def _sink(self, value: ast.expr) -> None:
        if _calls(value, "locals") or _calls(value, "globals"):
            self.whole_scopes.add(self.scopes[-1] if self.scopes else "")
        self.roots |= _reads(value)


def _reads(node: ast.AST) -> set[Read]:
    """What an expression reads: `args.lr` reads one option; `vars(args)`, `args.__dict__`
    and a bare `args` read the whole object."""
    partial: set[int] = set()
    reads: set[Read] = set()
    for child in ast.walk(node):
        is_part = isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name)
        if is_part and child.attr != "__dict__":
            partial.add(id(child.value))
            reads.add((child.value.id, child.attr))
    for child in ast.walk(node):
        is_load = isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load)
        if is_load and id(child) not in partial:
            reads.add(child.id)
    return reads


def _calls(node: ast.AST, function: str) -> bool:
    return any(
        isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == function
        for c in ast.walk(node)
    )


def _dotted(node: ast.AST) -> str:
    """`wandb.config.update` -> that text; `Task.current_task().connect` keeps the call."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute | ast.Call):
        if isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
            continue
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(node.id)
    return ".".join(reversed(parts)).replace(".()", "()")


def _base_name(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _keyword_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def _is_clearml_connect(call: ast.Call) -> bool:
    """`task.connect(params)` is ClearML; `connect` alone is too common a name."""
    if not isinstance(call.func, ast.Attribute) or call.func.attr != "connect":
        return False
    return "task" in _dotted(call.func.value).lower()


def _is_parse_args(value: ast.expr, parse_functions: set[str]) -> bool:
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Attribute) and func.attr in PARSE_ARGS:
        return True
    if isinstance(func, ast.Name) and func.id in parse_functions:
        return True
    return any(_is_parse_args(arg, parse_functions) for arg in value.args[:1])


def _returns_parse_args(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Return)
        and node.value is not None
        and _is_parse_args(node.value, set())
    )
