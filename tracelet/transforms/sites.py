"""One libcst pass over a module: every hyperparameter site, and where to capture it.

The pass produces the single truth that `instrument`, `lint` and `run` consume:
accepted `Site`s, rejected candidates (with the rule that rejected them), and
the `Edit`s that `inject.py` applies. Nothing here imports or executes the code
it reads.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from tracelet.transforms import classify as C
from tracelet.transforms.classify import Candidate, classify
from tracelet.transforms.options import Detect
from tracelet.transforms.values import Shape, callee_name, dict_items, dotted_name, shape_of

RUNTIME = "__tracelet__"  # the runtime object the launcher puts in the module's globals
PRAGMA = re.compile(r"#\s*tracelet:\s*(ignore|param)\b")

CONFIG_LOADERS = frozenset(
    """
    yaml.safe_load yaml.load yaml.full_load yaml.unsafe_load safe_load full_load
    json.load json.loads tomllib.load tomllib.loads toml.load toml.loads tomli.load
    tomli.loads OmegaConf.load OmegaConf.create OmegaConf.merge
    """.split()
)
CONFIG_PARSERS = frozenset({"ConfigParser", "RawConfigParser", "SafeConfigParser"})
CONFIG_PARSER_READS = frozenset({"read", "read_file", "read_string", "read_dict"})
PARSE_ARGS = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args"})
# JSON is as often data as configuration: a JSON load counts when a name says "config".
CONFIG_WORDS = frozenset(
    "cfg cfgs config configs conf hparams hparam params hyperparams hyperparameters settings "
    "options opts args arguments hp hps experiment exp".split()
)
CONFIG_CLASS_NAME = re.compile(
    r"(Config|Cfg|Conf|Args|Arguments|Params|Parameters|Hparams|HParams|HyperParams|"
    r"Hyperparameters|Settings|Options|Opts)$"
)
CONFIG_DECORATORS = frozenset({"dataclass", "define", "frozen", "mutable", "attrs", "s"})
CONFIG_BASES = frozenset({"BaseModel", "BaseSettings", "NamedTuple", "Struct", "BaseConfig"})
FIELD_CALLS = frozenset({"field", "Field", "attrib", "ib"})
ABSL_DEFINE = re.compile(r"^DEFINE_(string|integer|float|bool|boolean|enum|list|multi_\w+)$")
CLI_OPTION_DECORATORS = frozenset({"click.option", "click.argument", "option", "argument"})
TYPER_OPTIONS = frozenset({"Option", "Argument"})
Value = str | cst.CSTNode  # a site's value: its text, or the node to render when kept
TERMINAL = (cst.Return, cst.Raise, cst.Continue, cst.Break)
SELF_NAMES = frozenset({"self", "cls"})


@dataclass(frozen=True, slots=True)
class Site:
    """A detected hyperparameter, or a rejected candidate with the reason why."""

    file: str
    name: str
    kind: str
    line: int  # 1-based
    col: int  # 1-based, in characters
    value: str  # the value's source text ("" when there is none)
    score: float
    reasons: tuple[str, ...]
    scope: str = ""  # enclosing function or class ("" at module level)
    accepted: bool = True
    rejected_by: str = ""

    def as_json(self) -> dict[str, object]:
        """The stable `--json` record."""
        return {
            "file": self.file,
            "name": self.name,
            "line": self.line,
            "col": self.col,
            "kind": self.kind,
            "score": self.score,
            "reasons": list(self.reasons),
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class Edit:
    """Insert `text` before the character at (line, col) of the original source."""

    line: int  # 1-based
    col: int  # 0-based, in characters
    text: str


@dataclass(slots=True)
class Analysis:
    sites: list[Site] = field(default_factory=list)
    rejected: list[Site] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)


def call(method: str, *args: str) -> str:
    return f"{RUNTIME}.{method}({', '.join(args)})"


def analyze(module: cst.Module, source: str, file: str, detect: Detect = Detect()) -> Analysis:
    """Run the detector over a parsed module."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    pragmas = {
        number: match.group(1)
        for number, line in enumerate(source.splitlines(), 1)
        if "tracelet" in line and (match := PRAGMA.search(line))
    }
    detector = _Detector(file, detect, pragmas)
    wrapper.visit(detector)
    detector.analysis.edits.sort(key=lambda e: (e.line, e.col))
    return detector.analysis


# What the fields of a class are: every field of a config class is a setting; a
# dataclass, attrs class, NamedTuple or pydantic model that is not named like a config
# may hold data too, so its fields need a hyperparameter name.
CONFIG = "config"
STRUCTURED = "structured"


@dataclass(slots=True)
class _Scope:
    kind: str  # module | function | class
    name: str
    fields: str = ""  # CONFIG, STRUCTURED or "" (attributes are not candidates)


@dataclass(slots=True)
class _Line:
    """A physical statement line being visited, and the captures to put on it."""

    node: cst.SimpleStatementLine | cst.SimpleStatementSuite
    calls: list[str] = field(default_factory=list)


class _Detector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, file: str, detect: Detect, pragmas: dict[int, str]) -> None:
        super().__init__()
        self.file = file
        self.detect = detect
        self.pragmas = pragmas
        self.analysis = Analysis()
        self.scopes: list[_Scope] = [_Scope("module", "")]
        self.lines: list[_Line] = []
        self.config_parsers: set[str] = set()
        self.callee_counts: dict[str, int] = defaultdict(int)
        self.handled_calls: set[int] = set()  # parse_args/loader calls captured by their binding
        self.loop_names: set[str] = set()  # loop targets seen so far (attribute bases to skip)

    # --- scopes -------------------------------------------------------------------

    @property
    def scope(self) -> _Scope:
        return self.scopes[-1]

    def _qualname(self, name: str) -> str:
        outer = self.scope.name
        return f"{outer}.{name}" if outer else name

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append(_Scope("class", self._qualname(node.name.value), _fields_kind(node)))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        qualname = self._qualname(node.name.value)
        self.scopes.append(_Scope("function", qualname))
        if self.detect.function_args:
            self._function_args(node, qualname)
        if self.detect.config_files and _is_hydra_main(node):
            self._hydra_config(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    # --- statement lines ------------------------------------------------------

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.lines.append(_Line(node))

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine) -> None:
        self._flush_line(self.lines.pop())

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self.lines.append(_Line(node))

    def leave_SimpleStatementSuite(self, original_node: cst.SimpleStatementSuite) -> None:
        self._flush_line(self.lines.pop())

    def _flush_line(self, line: _Line) -> None:
        """Append the line's captures after its last statement, or before a `return`."""
        if not line.calls:
            return
        body = line.node.body
        terminal = next((s for s in body if isinstance(s, TERMINAL)), None)
        if terminal is None:
            end = self._range(body[-1]).end
            self._edit(end.line, end.column, "; " + "; ".join(line.calls))
        else:
            start = self._range(terminal).start
            self._edit(start.line, start.column, "; ".join(line.calls) + "; ")

    def _capture_here(self, code: str) -> None:
        if self.lines:
            self.lines[-1].calls.append(code)

    def _edit(self, line: int, col: int, text: str) -> None:
        self.analysis.edits.append(Edit(line, col, text))

    def _wrap(self, node: cst.BaseExpression, prefix: str) -> None:
        where = self._range(node)
        self._edit(where.start.line, where.start.column, prefix)
        self._edit(where.end.line, where.end.column, ")")

    def _range(self, node: cst.CSTNode) -> CodeRange:
        return self.get_metadata(PositionProvider, node)

    # --- assignments ----------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._assignment(target.target, node.value, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._assignment(node.target, node.value, node)
        elif self._in_config_class() and isinstance(node.target, cst.Name):
            self._consider(node.target.value, C.CLASS_ATTR, Shape(C.NONE), "", node.target)

    def visit_For(self, node: cst.For) -> None:
        for name in _target_names(node.target):
            self.loop_names.add(name.value)
            self._consider(name.value, C.ASSIGN, Shape(C.OBJECT), "", name, loop_target=True)

    def _assignment(
        self, target: cst.BaseExpression, value: cst.BaseExpression, stmt: cst.CSTNode
    ) -> None:
        if self._special_value(target, value):
            return
        if isinstance(target, cst.Tuple | cst.List):
            values = value.elements if isinstance(value, cst.Tuple | cst.List) else None
            if values is None or len(values) != len(target.elements):
                for name in _target_names(target):
                    self._consider(name.value, C.ASSIGN, Shape(C.OBJECT), "", name)
                return
            for element, item in zip(target.elements, values, strict=True):
                self._assignment(element.value, item.value, stmt)
            return
        if self.scope.kind == "class" and not self._in_config_class():
            return
        kind = C.CLASS_ATTR if self.scope.kind == "class" else C.ASSIGN
        if isinstance(target, cst.Name):
            self._named_assignment(target, value, kind)
        elif isinstance(target, cst.Attribute | cst.Subscript):
            self._attribute_assignment(target, value)

    def _named_assignment(self, target: cst.Name, value: cst.BaseExpression, kind: str) -> None:
        name = target.value
        captured = name
        if (
            kind == C.CLASS_ATTR
            and isinstance(value, cst.Call)
            and callee_name(value) in FIELD_CALLS
        ):
            default = _field_default(value)
            if default is None:  # a default_factory: the value exists only on instances
                self._consider(name, kind, Shape(C.NONE), value, target)
                return
            captured, value = _restated(default), default
        shape = shape_of(value)
        if shape.kind == C.DICT:
            self._bundle(name, value, target)
            return
        scope = "" if self.scope.kind == "module" else self.scope.name
        scoped = [_str(scope)] if scope else []
        capture = call("param", _str(name), captured, *scoped) if captured else None
        self._consider(name, kind, shape, value, target, capture=capture)

    def _attribute_assignment(
        self, target: cst.Attribute | cst.Subscript, value: cst.BaseExpression
    ) -> None:
        """`cfg.lr = 0.1`: captured by restating the literal (re-reading could run code)."""
        base = dotted_name(target.value) if isinstance(target, cst.Attribute) else ""
        if base.count(".") or base in self.loop_names:  # torch.backends.x.y = …, p.requires_grad
            return
        name = _attribute_target_name(target, self._enclosing_class())
        shape = shape_of(value)
        if not name or shape.kind not in C.LITERAL_SHAPES - {C.DICT}:
            return
        restated = _restated(value)
        capture = call("param", _str(name), restated) if restated else None
        self._consider(name, C.ASSIGN, shape, value, target, capture=capture)

    def _bundle(self, name: str, value: cst.BaseExpression, target: cst.Name) -> None:
        """A dict literal of hyperparameters: one site, captured key by key."""
        items = dict_items(value)
        verdicts = [
            (key, classify(_candidate(f"{name}.{key}", C.ASSIGN, shape_of(v), self.scope)))
            for key, v in items
        ]
        accepted = [key for key, verdict in verdicts if verdict.accepted]
        literal = sum(shape_of(v).kind in C.LITERAL_SHAPES for _, v in items)
        if accepted and literal * 2 >= len(items):
            score = max(v.score for _, v in verdicts if v.accepted)
            reasons = (f"bundles hyperparameters: {', '.join(accepted)}",)
            verdict = C.Verdict(True, score, reasons)
        else:
            why = "a dict without hyperparameter keys" if not accepted else "a dict of copies"
            verdict = C.Verdict(False, 0.0, (why,), "bundle")
        verdict = self._pragma_verdict(target, verdict)
        self._record(name, C.ASSIGN, self._position(target), value, verdict)
        if verdict.accepted:
            self._capture_here(call("mapping", _str(name), name))

    def _special_value(self, target: cst.BaseExpression, value: cst.BaseExpression) -> bool:
        """Bindings of parsed arguments, loaded configs and config parsers."""
        bound = _first_name(target)
        call_node = value if isinstance(value, cst.Call) else None
        if call_node is None:
            return False
        if callee_name(call_node) in CONFIG_PARSERS and bound:
            self.config_parsers.add(bound)
            return False
        parse = _find_call(call_node, lambda c: callee_name(c) in PARSE_ARGS)
        if parse is not None and self.detect.argparse:
            self.handled_calls.add(id(parse))
            if bound and parse is call_node:
                self._capture_here(call("mapping", '""', bound))
            else:
                self._wrap(parse, f'{RUNTIME}.mapping("", ')
            return True
        loader = _find_call(call_node, _is_config_loader)
        if loader is not None and self.detect.config_files and bound and _is_config(loader, bound):
            self.handled_calls.update(id(c) for c in _calls_within(loader))
            self._consider(
                bound, C.CONFIG_LOAD, Shape(C.OBJECT), value, target,
                capture=call("mapping", '""', bound),
            )  # fmt: skip
            return True
        return False

    # --- calls: argparse options, unbound loads, keyword arguments -------------------

    def visit_Expr(self, node: cst.Expr) -> None:
        """A discarded `parser.parse_args(argv, namespace=self)` has no result to capture."""
        if isinstance(node.value, cst.Call):
            self.handled_calls.add(id(node.value))

    def visit_Call(self, node: cst.Call) -> None:
        name = callee_name(node)
        if name == "add_argument":
            if self.detect.argparse:
                self._argparse_option(node)
            return
        if ABSL_DEFINE.match(name) and node.args and self.detect.argparse:
            flag = shape_of(node.args[0].value).text
            if flag:
                default = node.args[1].value if len(node.args) > 1 else None
                value = _code(default) if default is not None else "None"
                self._cli_option(flag, f"absl flag {flag}", value, node)
            return
        if name in PARSE_ARGS:
            if self.detect.argparse and id(node) not in self.handled_calls:
                self._wrap(node, f'{RUNTIME}.mapping("", ')
            return
        if _is_config_loader(node):
            if id(node) in self.handled_calls or not self.detect.config_files:
                return
            if _is_config(node, self._enclosing_function()):
                self.handled_calls.update(id(c) for c in _calls_within(node))
                self._consider("config", C.CONFIG_LOAD, Shape(C.OBJECT), node, node)
                self._wrap(node, f'{RUNTIME}.mapping("", ')
            return
        if name in CONFIG_PARSER_READS and isinstance(node.func, cst.Attribute):
            receiver = dotted_name(node.func.value)
            if receiver in self.config_parsers and self.detect.config_files:
                self._consider(
                    receiver, C.CONFIG_LOAD, Shape(C.OBJECT), node, node,
                    capture=call("mapping", '""', receiver),
                )  # fmt: skip
            return
        if name and name not in ("dict", RUNTIME) and name not in FIELD_CALLS:
            self._keyword_arguments(node, name)

    def _keyword_arguments(self, node: cst.Call, callee: str) -> None:
        keywords = [
            arg
            for arg in node.args
            if arg.keyword is not None and shape_of(arg.value).kind in C.LITERAL_SHAPES - {C.DICT}
        ]
        if not keywords:
            return
        candidates = [
            (arg, _candidate(f"{callee}.{arg.keyword.value}", C.CALL_KWARG,
                             shape_of(arg.value), self.scope, callee=callee))
            for arg in keywords
        ]  # fmt: skip
        if not any(self._pragma_verdict(arg, classify(c)).accepted for arg, c in candidates):
            for arg, c in candidates:
                self._consider_candidate(c, arg.value, arg.keyword)
            return
        self.callee_counts[callee] += 1
        prefix = (
            callee if self.callee_counts[callee] == 1 else f"{callee}_{self.callee_counts[callee]}"
        )
        for arg, c in candidates:
            name = f"{prefix}.{arg.keyword.value}"
            renamed = Candidate(**{**_fields(c), "name": name})
            restated = _restated(arg.value)
            capture = call("param", _str(name), restated) if restated else None
            self._consider_candidate(renamed, arg.value, arg.keyword, capture)

    def _argparse_option(self, node: cst.Call) -> None:
        flags = [a.value for a in node.args if a.keyword is None]
        strings = [s.text for s in map(shape_of, flags) if s.kind == C.STRING and s.text]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        dest = _argparse_dest(strings, keywords.get("dest"))
        if not dest:
            return
        default = keywords.get("default")
        action = shape_of(keywords["action"]).text if "action" in keywords else None
        value = _code(default) if default is not None else _action_default(action)
        reasons = [f"command-line option {strings[0] if strings else dest}"]
        for key in ("type", "choices", "action"):
            if key in keywords:
                reasons.append(f"{key}={_code(keywords[key])}")
        if "help" in keywords and (text := shape_of(keywords["help"]).text):
            reasons.append(f"help: {text}")
        verdict = classify(_candidate(dest, C.ARGPARSE, Shape(C.OBJECT), self.scope))
        verdict = C.Verdict(True, verdict.score, (*reasons, *verdict.reasons))
        verdict = self._pragma_verdict(node, verdict)
        self._record(dest, C.ARGPARSE, self._position(node), value, verdict)

    # --- function arguments ---------------------------------------------------------

    def _function_args(self, node: cst.FunctionDef, qualname: str) -> None:
        """Parameters with defaults, click options and typer options: captured on entry."""
        params = node.params
        options = _click_options(node) if self.detect.argparse else {}
        accepted: list[str] = []
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            name = param.name.value
            if name in SELF_NAMES:
                continue
            if name in options:
                self._cli_option(name, *options[name])
                accepted.append(name)
                continue
            if param.default is None:
                continue
            default = _typer_default(param.default)
            if default is not param.default and self.detect.argparse:
                value = _code(default) if default is not None else "None"
                self._cli_option(name, f"typer option {name}", value, param.name)
                accepted.append(name)
                continue
            candidate = _candidate(name, C.FUNC_ARG, shape_of(param.default), self.scope)
            if self._consider_candidate(candidate, param.default, param.name).accepted:
                accepted.append(name)
        if accepted:
            captured = ", ".join(f"{name}={name}" for name in accepted)
            self._capture_on_entry(node, f"{RUNTIME}.args({_str(qualname)}, {captured})")

    def _cli_option(self, name: str, reason: str, value: str, where: cst.CSTNode) -> None:
        verdict = classify(_candidate(name, C.ARGPARSE, Shape(C.OBJECT), self.scope))
        verdict = C.Verdict(True, verdict.score, (reason, *verdict.reasons))
        self._record(name, C.ARGPARSE, self._position(where), value, verdict)

    def _hydra_config(self, node: cst.FunctionDef) -> None:
        params = node.params.params
        if not params:
            return
        name = params[0].name.value
        self._consider(name, C.CONFIG_LOAD, Shape(C.OBJECT), "@hydra.main", params[0].name)
        self._capture_on_entry(node, call("mapping", '""', name))

    def _capture_on_entry(self, node: cst.FunctionDef, code: str) -> None:
        """Put `code` where it runs first in the function, keeping every line."""
        body = node.body
        if isinstance(body, cst.SimpleStatementSuite):
            start = self._range(body.body[0]).start
            self._edit(start.line, start.column, code + "; ")
            return
        statements = list(body.body)
        if statements and _is_docstring(statements[0]):
            end = self._range(statements[0].body[-1]).end
            self._edit(end.line, end.column, "; " + code)
            return
        placement = _entry_point(statements)
        if isinstance(placement, cst.SimpleStatementLine):
            start = self._range(placement.body[0]).start
            self._edit(start.line, start.column, code + "; ")
        elif placement is not None:
            self._wrap(placement, code + "(")

    # --- recording ------------------------------------------------------------

    def _consider(
        self,
        name: str,
        kind: str,
        shape: Shape,
        value: Value,
        where: cst.CSTNode,
        *,
        capture: str | None = None,
        loop_target: bool = False,
    ) -> Site:
        candidate = _candidate(name, kind, shape, self.scope, loop_target=loop_target)
        return self._consider_candidate(candidate, value, where, capture)

    def _consider_candidate(
        self, candidate: Candidate, value: Value, where: cst.CSTNode, capture: str | None = None
    ) -> Site:
        verdict = self._pragma_verdict(where, classify(candidate))
        site = self._record(candidate.name, candidate.kind, self._position(where), value, verdict)
        if site.accepted and capture is not None:
            self._capture_here(capture)
        return site

    def _pragma_verdict(self, where: cst.CSTNode, verdict: C.Verdict) -> C.Verdict:
        pragma = self._pragma_for(where)
        if pragma == "ignore" and verdict.accepted:
            return C.Verdict(False, verdict.score, ("ignored by `# tracelet: ignore`",), "pragma")
        if pragma == "param" and not verdict.accepted:
            return C.Verdict(True, 1.0, ("forced by `# tracelet: param`",))
        return verdict

    def _pragma_for(self, where: cst.CSTNode) -> str | None:
        if not self.pragmas:
            return None
        lines = {self._range(where).start.line}
        if self.lines:
            stmt = self._range(self.lines[-1].node)
            lines.update(range(stmt.start.line, stmt.end.line + 1))
        return next((self.pragmas[n] for n in sorted(lines) if n in self.pragmas), None)

    def _position(self, node: cst.CSTNode) -> tuple[int, int]:
        start = self._range(node).start
        return start.line, start.column + 1

    def _record(
        self, name: str, kind: str, where: tuple[int, int], value: Value, verdict: C.Verdict
    ) -> Site:
        """Keep the site; a rejected one carries no value text (rendering it costs time)."""
        if not verdict.accepted:
            value = ""
        elif not isinstance(value, str):
            value = _code(value)
        scope = "" if self.scope.kind == "module" else self.scope.name
        site = Site(
            self.file, name, kind, where[0], where[1], value, verdict.score, verdict.reasons,
            scope, verdict.accepted, verdict.rejected_by,
        )  # fmt: skip
        (self.analysis.sites if verdict.accepted else self.analysis.rejected).append(site)
        return site

    def _in_config_class(self) -> bool:
        scope = self.scope
        return scope.kind == "class" and bool(scope.fields) and self.detect.class_attributes

    def _enclosing(self, kind: str) -> str:
        for scope in reversed(self.scopes):
            if scope.kind == kind:
                return scope.name.rsplit(".", 1)[-1]
        return ""

    def _enclosing_class(self) -> str:
        return self._enclosing("class")

    def _enclosing_function(self) -> str:
        return self._enclosing("function")


# --- helpers ----------------------------------------------------------------------

_EMPTY_MODULE = cst.Module(body=[])


def _code(node: cst.CSTNode) -> str:
    return _EMPTY_MODULE.code_for_node(node)


def _restated(node: cst.BaseExpression) -> str | None:
    """A literal written again on one line (the capture shares the statement's last line)."""
    code = _code(node)
    if "\n" not in code and "\r" not in code:
        return code
    try:
        flat = repr(ast.literal_eval(code))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return flat if "\n" not in flat and "\r" not in flat else None


def _str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fields(c: Candidate) -> dict[str, object]:
    return {name: getattr(c, name) for name in Candidate.__slots__}


def _candidate(
    name: str, kind: str, shape: Shape, scope: _Scope, *, loop_target: bool = False,
    callee: str = "",
) -> Candidate:  # fmt: skip
    return Candidate(
        name=name,
        kind=kind,
        shape=shape.kind,
        number=shape.number,
        text=shape.text,
        scientific=shape.scientific,
        length=shape.length,
        scope=scope.kind,
        loop_target=loop_target,
        config_class=scope.fields == CONFIG and kind == C.CLASS_ATTR,
        callee=callee,
    )


def _target_names(target: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, cst.Tuple | cst.List):
        return [n for e in target.elements for n in _target_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


def _first_name(target: cst.BaseExpression) -> str:
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Tuple | cst.List) and target.elements:
        first = target.elements[0].value
        return first.value if isinstance(first, cst.Name) else ""
    return ""


def _attribute_target_name(target: cst.Attribute | cst.Subscript, class_name: str) -> str:
    if isinstance(target, cst.Attribute):
        base = dotted_name(target)
    else:
        owner = dotted_name(target.value)
        elements = target.slice
        if not owner or len(elements) != 1 or not isinstance(elements[0].slice, cst.Index):
            return ""
        key = shape_of(elements[0].slice.value)
        if key.kind != C.STRING or not key.text:
            return ""
        base = f"{owner}.{key.text}"
    head, _, rest = base.partition(".")
    if head in SELF_NAMES and rest:
        return f"{class_name}.{rest}" if class_name else rest
    return base


def _find_call(node: cst.Call, test: Callable[[cst.Call], bool]) -> cst.Call | None:
    """The call itself, or a call passed as its first argument (`vars(p.parse_args())`)."""
    if test(node):
        return node
    if node.args and isinstance(node.args[0].value, cst.Call) and test(node.args[0].value):
        return node.args[0].value
    return None


def _is_config(loader: cst.Call, name: str) -> bool:
    """YAML, TOML and OmegaConf hold configuration; JSON only when a name or path says so."""
    if not dotted_name(loader.func).startswith("json") or C.tokens(name) & CONFIG_WORDS:
        return True
    return any("conf" in (shape_of(a.value).text or "").lower() for a in loader.args)


def _calls_within(node: cst.Call) -> list[cst.Call]:
    """The call and the calls in its arguments: `merge(create(a), load(b))` is one capture."""
    found = [node]
    for arg in node.args:
        if isinstance(arg.value, cst.Call):
            found.extend(_calls_within(arg.value))
    return found


def _is_config_loader(node: cst.Call) -> bool:
    name = dotted_name(node.func)
    return name in CONFIG_LOADERS or ".".join(name.split(".")[-2:]) in CONFIG_LOADERS


def _argparse_dest(flags: list[str], dest: cst.BaseExpression | None) -> str:
    """The attribute name argparse derives for an option."""
    if dest is not None:
        return shape_of(dest).text or ""
    if not flags:
        return ""
    if not flags[0].startswith("-"):
        return flags[0]
    long = next((f for f in flags if f.startswith("--")), None)
    chosen = long or flags[0]
    return chosen.lstrip("-").replace("-", "_")


def _action_default(action: str | None) -> str:
    return {"store_true": "False", "store_false": "True"}.get(action or "", "None")


def _fields_kind(node: cst.ClassDef) -> str:
    bases = {dotted_name(base.value).rsplit(".", 1)[-1] for base in node.bases}
    if CONFIG_CLASS_NAME.search(node.name.value) or "BaseSettings" in bases:
        return CONFIG
    for decorator in node.decorators:
        expr = decorator.decorator
        expr = expr.func if isinstance(expr, cst.Call) else expr
        if dotted_name(expr).rsplit(".", 1)[-1] in CONFIG_DECORATORS:
            return STRUCTURED
    return STRUCTURED if bases & CONFIG_BASES else ""


def _is_hydra_main(node: cst.FunctionDef) -> bool:
    for decorator in node.decorators:
        expr = decorator.decorator
        expr = expr.func if isinstance(expr, cst.Call) else expr
        if dotted_name(expr) in ("hydra.main", "main") and isinstance(
            decorator.decorator, cst.Call
        ):
            return dotted_name(expr) == "hydra.main" or any(
                a.keyword and a.keyword.value == "config_path" for a in decorator.decorator.args
            )
    return False


def _click_options(node: cst.FunctionDef) -> dict[str, tuple[str, str, cst.CSTNode]]:
    """`@click.option("--lr", default=0.1)` -> {"lr": (reason, default text, decorator)}."""
    options: dict[str, tuple[str, str, cst.CSTNode]] = {}
    for decorator in node.decorators:
        expr = decorator.decorator
        if not isinstance(expr, cst.Call) or dotted_name(expr.func) not in CLI_OPTION_DECORATORS:
            continue
        names = [s.text for a in expr.args if a.keyword is None and (s := shape_of(a.value)).text]
        plain = [n for n in names if not n.startswith("-") and n.isidentifier()]
        long = [n for n in names if n.startswith("--")]
        chosen = (plain or long or names or [""])[0]
        dest = chosen.lstrip("-").replace("-", "_").lower()
        if not dest:
            continue
        default = next(
            (a.value for a in expr.args if a.keyword and a.keyword.value == "default"), None
        )
        value = _code(default) if default is not None else "None"
        options[dest] = (f"click option {chosen}", value, expr)
    return options


def _typer_default(default: cst.BaseExpression) -> cst.BaseExpression | None:
    """`typer.Option(0.1)` -> 0.1 (None when required); any other default as it is."""
    if not isinstance(default, cst.Call) or callee_name(default) not in TYPER_OPTIONS:
        return default
    for arg in default.args:
        if arg.keyword is None or arg.keyword.value == "default":
            return None if isinstance(arg.value, cst.Ellipsis) else arg.value
    return None


def _field_default(value: cst.Call) -> cst.BaseExpression | None:
    """`field(default=3)` and `Field(3)` -> 3; `field(default_factory=list)` -> None."""
    for arg in value.args:
        if arg.keyword is None or arg.keyword.value == "default":
            return arg.value
    return None


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def _entry_point(
    statements: list[cst.BaseStatement],
) -> cst.SimpleStatementLine | cst.BaseExpression | None:
    """Where a function's argument capture runs first without adding a line.

    A simple first statement: before it, on its line. A compound one: around the
    expression its header evaluates first. Nested `def`/`class` run nothing of
    note, so they are stepped over; `try:` is entered.
    """
    for stmt in statements:
        if isinstance(stmt, cst.SimpleStatementLine):
            return stmt
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            continue
        if isinstance(stmt, cst.If | cst.While):
            return stmt.test
        if isinstance(stmt, cst.For):
            return stmt.iter
        if isinstance(stmt, cst.With):
            return stmt.items[0].item
        if isinstance(stmt, cst.Match):
            return stmt.subject
        if isinstance(stmt, cst.Try | cst.TryStar) and isinstance(stmt.body, cst.IndentedBlock):
            return _entry_point(list(stmt.body.body))
        return None
    return None
