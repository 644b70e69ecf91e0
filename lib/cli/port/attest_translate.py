"""The translation of `attest port`: a NixOS testScript (Python) into C++ statements for attest.

The Python is parsed with CPython's own `ast` module, so the translator sees exactly what the
NixOS driver would run. Each top-level or nested statement is translated on its own; one that
cannot be is kept as a comment (its source, its line) followed by a call of
attest::script::not_ported(), which fails the test there with the line and the reason, so the
output always compiles. Names such a statement would have defined become attest::script::Unported
values, so the statements using them still compile.

Types are what C++ needs and Python never says: a variable is declared with `auto` where it is
first set, and a variable set inside a block but used after it is declared before the block
with the type its values have (a string, a number, a list of strings...), or left to a person
when that type cannot be told.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

STRING = "std::string"
INT = "long"
BOOL = "bool"
LINES = "std::vector<std::string>"
RESULT = "attest::CommandResult"

# NixOS's Machine methods and their parameters as attest takes them, in order: (name, kind,
# attest's default as C++). Kinds: "e" an expression, "d" a duration in seconds, "o" a field of
# the options struct the method takes last. A method listed with options takes NixOS's keyword
# arguments as designated initializers of that struct.
MACHINE_METHODS: dict[str, tuple] = {
    "start": (("allow_reboot", "o", ""),),
    "connect": (),
    "execute": (("command", "e", ""), ("check_return", "o", ""),
                ("check_output", "o", ""), ("timeout", "o", "")),
    "succeed": (("command", "e", ""), ("timeout", "o", "")),
    "fail": (("command", "e", ""), ("timeout", "o", "")),
    "wait_until_succeeds": (("command", "e", ""), ("timeout", "o", "")),
    "wait_until_fails": (("command", "e", ""), ("timeout", "o", "")),
    "wait_for_unit": (("unit", "e", ""), ("user", "o", ""), ("timeout", "o", "")),
    "wait_for_open_port": (("port", "e", ""), ("addr", "o", ""), ("timeout", "o", "")),
    "wait_for_closed_port": (("port", "e", ""), ("addr", "o", ""),
                             ("timeout", "o", "")),
    "wait_for_file": (("filename", "e", ""), ("timeout", "d", "attest::default_timeout")),
    "wait_for_open_unix_socket": (("addr", "e", ""), ("is_datagram", "e", "false"),
                                  ("timeout", "d", "attest::default_timeout")),
    "wait_for_console_text": (("regex", "e", ""),
                              ("timeout", "d", "attest::default_timeout")),
    "get_console_log": (),
    "sleep": (("secs", "d", ""),),
    "shutdown": (),
    "crash": (),
    "wait_for_shutdown": (),
    "reboot": (),
    "switch_root": (),
    "block": (),
    "unblock": (),
    "copy_from_host": (("source", "e", ""), ("target", "e", "")),
    "copy_from_host_via_shell": (("source", "e", ""), ("target", "e", "")),
    "copy_from_vm": (("source", "e", ""), ("target_dir", "e", '""')),
    "systemctl": (("q", "e", ""), ("user", "e", "{}")),
    "start_job": (("jobname", "e", ""), ("user", "e", "{}")),
    "stop_job": (("jobname", "e", ""), ("user", "e", "{}")),
    "get_unit_info": (("unit", "e", ""), ("user", "e", "{}")),
    "get_unit_property": (("unit", "e", ""), ("property", "e", ""),
                          ("user", "e", "{}")),
    "require_unit_state": (("unit", "e", ""), ("require_state", "e", '"active"')),
    "screenshot": (("filename", "e", ""),),
    "get_screen_text": (),
    "get_screen_text_variants": (),
    "wait_for_text": (("regex", "e", ""), ("timeout", "d", "attest::default_timeout")),
    "send_key": (("key", "e", ""), ("delay", "d", "10ms"), ("log", "drop", "")),
    "send_chars": (("chars", "e", ""), ("delay", "d", "10ms")),
    "send_console": (("chars", "e", ""),),
    "send_monitor_command": (("command", "e", ""),),
    "get_tty_text": (("tty", "e", ""),),
    "wait_until_tty_matches": (("tty", "e", ""), ("regexp", "e", ""),
                               ("timeout", "d", "attest::default_timeout")),
    "dump_tty_contents": (("tty", "e", ""),),
    "wait_for_x": (("timeout", "d", "attest::default_timeout"),),
    "get_window_names": (),
    "wait_for_window": (("regexp", "e", ""), ("timeout", "d", "attest::default_timeout")),
    "forward_port": (("host_port", "e", "8080"), ("guest_port", "e", "80")),
    "log": (("msg", "e", ""),),
    "nested": (("msg", "e", ""),),
    "is_up": (),
}
# The fields of an options struct in their C++ order, where it is not NixOS's parameter order.
OPTION_ORDER = {"execute": ["timeout", "check_return", "check_output"]}
# What a machine method returns, where a variable may take its type from it.
MACHINE_RESULTS = {
    "succeed": STRING, "fail": STRING, "wait_until_succeeds": STRING, "wait_until_fails": STRING,
    "execute": RESULT, "get_screen_text": STRING, "get_tty_text": STRING,
    "get_unit_property": STRING, "send_monitor_command": STRING, "get_console_log": STRING,
    "is_up": BOOL, "get_window_names": LINES, "get_screen_text_variants": LINES,
}
STRING_METHODS = {"strip", "lstrip", "rstrip", "lower", "upper", "replace"}
BOOL_FUNCTIONS = {"contains", "startswith", "endswith", "truthy"}
# unittest's assertions on `t`, the TestCase newer nixpkgs test scripts get.
T_ASSERTIONS = {
    "assertEqual": "EQ", "assertNotEqual": "NE", "assertLess": "LT", "assertLessEqual": "LE",
    "assertGreater": "GT", "assertGreaterEqual": "GE",
}


# Names a script's own variables and functions must not take in C++: attest::script's helpers,
# the test's own names, and C++ keywords and types. Such a name gets a `_` appended.
RESERVED = set("""
    at collect contains count endswith format join json_loads len lower lstrip not_ported
    re_match re_search replace rstrip slice split splitlines startswith str strip text to_int
    truthy upper Json Match NotPorted Unported begin_subtest join_all machines machine_
    polling_condition retry serial_stdout_off serial_stdout_on start_all subtest driver std
    alignas alignof and_eq asm auto bitand bitor case catch char char8_t char16_t char32_t class
    compl concept const consteval constexpr constinit const_cast co_await co_return co_yield
    decltype default delete do double dynamic_cast enum explicit export extern float friend goto
    inline int long mutable namespace new noexcept nullptr operator private protected public
    register reinterpret_cast requires short signed sizeof static static_assert static_cast
    struct switch template this thread_local throw true false try typedef typeid typename union
    unsigned using virtual void volatile wchar_t xor xor_eq bool
""".split())


def expand_placeholders(text: str, table: dict[str, str]) -> str:
    """`text` with each placeholder of `table` replaced by what it stands for, also inside the
    replacements (a fragment's C++ holds placeholders of its own). Placeholders end in `_`, so
    none is the start of another (`attest_nix_1_`, `attest_nix_10_`)."""
    if not table:
        return text
    pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)))
    for _ in range(16):  # nesting depth; each round replaces one level
        expanded = pattern.sub(lambda m: table[m.group(0)], text)
        if expanded == text:
            break
        text = expanded
    return text


class Renamer(ast.NodeTransformer):
    """Appends `_` to each name the script binds that C++ reserves (RESERVED)."""

    def __init__(self, bound: set[str], renamed: set[str] = frozenset()):
        self.names = {n: n + "_" for n in bound if n in RESERVED or n in renamed}

    def visit_Name(self, n):
        n.id = self.names.get(n.id, n.id)
        return n

    def visit_FunctionDef(self, n):
        n.name = self.names.get(n.name, n.name)
        self.generic_visit(n)
        return n

    def visit_arg(self, n):
        n.arg = self.names.get(n.arg, n.arg)
        return n


def bound_names(tree) -> set[str]:
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
        elif isinstance(n, ast.FunctionDef):
            out.add(n.name)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
    return out


class Untranslatable(Exception):
    """A construct attest port leaves to a person; the message says which."""


@dataclass
class Left:
    line: int
    source: str
    why: str


@dataclass
class Report:
    translated: int = 0
    left: list[Left] = field(default_factory=list)
    needs_json: bool = False

    @property
    def total(self) -> int:
        return self.translated + len(self.left)


def cpp_string(s: str) -> str:
    """A C++ string literal for `s`: raw when that reads better and is possible."""
    # Raw for a command of several lines, or a line with quotes or backslashes.
    raw = s.count("\n") >= 2 or ("\n" not in s and ('"' in s or "\\" in s))
    if raw and ')"' not in s and "\0" not in s:
        return 'R"(' + s + ')"'
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20:
            out.append(f"\\x{ord(c):02x}\"\"")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def duration(value: str | float | int) -> str:
    """A C++ duration for a number of seconds."""
    v = float(value)
    if v.is_integer():
        return f"{int(v)}s"
    return f"{int(round(v * 1000))}ms"


def stored_names(nodes) -> set[str]:
    """Names assigned by the statements, not counting those inside nested functions."""
    out: set[str] = set()
    stack = list(nodes)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if isinstance(n, ast.FunctionDef):
                out.add(n.name)
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
        stack.extend(ast.iter_child_nodes(n))
    return out


def loads(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def loaded_names(stmts) -> set[str]:
    """The names the statements read before setting them again (Python's liveness, at the level
    of whole statements: a loop or an assignment that sets a name without reading it first
    starts a new variable, which C++ may declare anew)."""
    live: set[str] = set()
    dead: set[str] = set()
    for s in stmts:
        if isinstance(s, ast.For):
            first = loads(s.iter)
            sets = stored_names([s.target])
        elif isinstance(s, ast.Assign):
            first = loads(s.value)
            sets = stored_names(s.targets)
        else:
            first, sets = loads(s), set()
        live |= first - dead
        if isinstance(s, (ast.For, ast.Assign)):
            live |= (loads(s) - sets) - dead
            dead |= sets - live
    return live


class Scope:
    """The variables a C++ block has declared, and their types where known."""

    def __init__(self, parent: "Scope | None" = None):
        self.parent = parent
        self.types: dict[str, str | None] = {}

    def declared(self, name: str) -> bool:
        return name in self.types or (self.parent is not None and self.parent.declared(name))

    def type_of(self, name: str) -> str | None:
        if name in self.types:
            return self.types[name]
        return self.parent.type_of(name) if self.parent else None


class Translator:
    def __init__(self, nodes: list[str], file_line=None,
                 antiquotations: dict[str, str] | None = None, nix_fragment=None):
        """`file_line`: the line of the file for a line of the script, so that reports and
        not_ported() name the file's lines; `antiquotations`: what each placeholder of a Nix
        `${...}` in the script stands for (attest-port.py hides them from Python's parser);
        `nix_fragment(placeholder)`: for an antiquotation that writes Python under a condition,
        a NixFragment (attest-port.py reads Nix), else None."""
        self.file_line = file_line or (lambda line: line)
        self.antiquotations = antiquotations or {}
        self.nix_fragment = nix_fragment
        self.bound: set[str] = set()
        self.renamed: set[str] = set()
        # Keyed by the Python name the NixOS driver gives each node (`web-proxy`: web_proxy).
        self.nodes = {self.identifier(n): self.identifier(n) for n in nodes}
        if len(nodes) == 1:
            self.nodes.setdefault("machine", self.identifier(nodes[0]))
        self.report = Report()
        self.scope = Scope()
        self.machine_vars: set[str] = set()
        self.machine_lists: set[str] = set()  # variables holding a list of machines
        self.unported: set[str] = set()  # names whose definition was left to a person
        self.functions: dict[str, ast.arguments] = {}  # local defs with default parameters
        self.returns: dict[str, str] = {}  # what local defs return, where it can be told
        self.polling: dict[str, tuple[str, str | None]] = {}
        self.lines: list[str] = []
        self.source = ""
        self.rest: list[ast.stmt] = []  # the statements after the one being translated
        self.counter = 0
        self.in_polling = False
        self.in_lambda = 0  # inside a subtest's lambda or a def: ASSERT_* cannot end the test

    @staticmethod
    def identifier(name: str) -> str:
        """The NixOS driver's pythonize_name, which `attest gen` applies to node names too."""
        out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
        return "_" + out if out[:1].isdigit() else out

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    # ---- types -------------------------------------------------------------------------------
    def infer(self, n: ast.expr) -> str | None:
        """The C++ type of an expression's value, where it can be told without running it."""
        if isinstance(n, ast.Constant):
            if isinstance(n.value, bool):
                return BOOL
            if isinstance(n.value, int):
                return INT
            if isinstance(n.value, str):
                return STRING
            if isinstance(n.value, float):
                return "double"
            return None
        if isinstance(n, ast.JoinedStr):
            return STRING
        if isinstance(n, ast.Name):
            return self.scope.type_of(n.id)
        if isinstance(n, (ast.Compare, ast.BoolOp)) or (
                isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not)):
            return BOOL
        if isinstance(n, ast.BinOp):
            left, right = self.infer(n.left), self.infer(n.right)
            if isinstance(n.op, ast.Mod) and left == STRING:
                return STRING
            return left if left == right else None
        if isinstance(n, ast.Subscript):
            base = self.infer(n.value)
            if isinstance(n.slice, ast.Slice):
                return base if base in (STRING, LINES) else None
            if base == STRING or base == LINES:
                return STRING
            if base == RESULT and isinstance(n.slice, ast.Constant):
                return "int" if n.slice.value == 0 else STRING
            return None
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Name):
                if f.id in self.returns:
                    return self.returns[f.id]
                return {"len": INT, "int": INT, "str": STRING, "bool": BOOL}.get(f.id)
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and \
                    f.value.id == "time" and f.attr in ("monotonic", "time"):
                return "double"
            if isinstance(f, ast.Attribute):
                if self.is_machine(f.value):
                    return MACHINE_RESULTS.get(f.attr)
                if f.attr in STRING_METHODS or f.attr in ("format", "join"):
                    return STRING
                if f.attr in ("split", "splitlines"):
                    return LINES
                if f.attr in ("startswith", "endswith"):
                    return BOOL
                if f.attr == "count":
                    return INT
                if f.attr == "group" and n.args:
                    return STRING
        if isinstance(n, ast.ListComp) and len(n.generators) == 1 and \
                isinstance(n.generators[0].target, ast.Name):
            outer = self.scope
            self.scope = Scope(outer)
            self.scope.types[n.generators[0].target.id] = \
                STRING if self.infer(n.generators[0].iter) == LINES else None
            try:
                return LINES if self.infer(n.elt) == STRING else None
            finally:
                self.scope = outer
        if isinstance(n, ast.List) and n.elts:
            types = {self.infer(e) for e in n.elts}
            if types == {STRING}:
                return LINES
        return None

    # ---- expressions -------------------------------------------------------------------------
    def expr(self, n: ast.expr) -> str:
        method = getattr(self, "e_" + type(n).__name__, None)
        if method is None:
            raise Untranslatable(f"the expression kind {type(n).__name__}")
        return method(n)

    def bare_condition(self, n: ast.expr) -> str:
        """A condition for `if (...)` and `while (...)`: without parentheses of its own around
        it, which clang takes for a mistaken assignment (-Wparentheses-equality)."""
        text = self.condition(n)
        if text.startswith("(") and text.endswith(")"):
            depth = 0
            for i, c in enumerate(text):
                depth += {"(": 1, ")": -1}.get(c, 0)
                if depth == 0 and i < len(text) - 1:
                    return text  # (a) && (b): the first ( closes before the end
            return text[1:-1]
        return text

    def condition(self, n: ast.expr) -> str:
        """`n` as a C++ condition: Python's truth of it."""
        if self.infer(n) == BOOL:
            return self.expr(n)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                n.func.attr in ("startswith", "endswith"):
            return self.expr(n)
        return f"truthy({self.expr(n)})"

    def e_Constant(self, n):
        v = n.value
        if isinstance(v, str):
            return cpp_string(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return "std::nullopt"
        if isinstance(v, (int, float)):
            return repr(v)
        raise Untranslatable(f"the constant {v!r}")

    def e_Name(self, n):
        if n.id in self.nodes:
            return self.nodes[n.id]
        return n.id

    def format_call(self, fmt: str, args: list[str]) -> str:
        return f"format({cpp_string(fmt)}{''.join(', ' + a for a in args)})"

    def e_JoinedStr(self, n):
        fmt, args = "", []
        for part in n.values:
            if isinstance(part, ast.Constant):
                fmt += part.value.replace("{", "{{").replace("}", "}}")
                continue
            if part.format_spec is not None or part.conversion not in (-1, 115):
                raise Untranslatable("an f-string field with a format specification")
            fmt += "{}"
            args.append(self.expr(part.value))
        if not args:
            return cpp_string(fmt.replace("{{", "{").replace("}}", "}"))
        return self.format_call(fmt, args)

    def percent_format(self, n: ast.BinOp) -> str:
        text, fmt, i = n.left.value, "", 0
        while i < len(text):
            c = text[i]
            if c in "{}":
                fmt += c * 2
            elif c == "%":
                if text[i + 1:i + 2] == "%":
                    fmt += "%"
                    i += 1
                elif i + 1 < len(text) and text[i + 1] in "sdir":
                    fmt += "{}"
                    i += 1
                else:
                    raise Untranslatable("a % format other than %s, %d, %i or %r")
            else:
                fmt += c
            i += 1
        items = n.right.elts if isinstance(n.right, ast.Tuple) else [n.right]
        return self.format_call(fmt, [self.expr(e) for e in items])

    def e_BinOp(self, n):
        if isinstance(n.op, ast.Mod) and isinstance(n.left, ast.Constant) and \
                isinstance(n.left.value, str):
            return self.percent_format(n)
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
        op = ops.get(type(n.op))
        if op is None:
            raise Untranslatable("the operator " + type(n.op).__name__)
        left, right = self.expr(n.left), self.expr(n.right)
        if isinstance(n.op, ast.Add) and STRING in (self.infer(n.left), self.infer(n.right)):
            # "a" + s must be std::string's +, not a pointer's; Python's + of strings makes the
            # other side a string too (a JSON string, say), which str() gives.
            if isinstance(n.left, (ast.Constant, ast.JoinedStr)):
                left = f"std::string({left})"
            if self.infer(n.left) is None:
                left = f"str({left})"
            if self.infer(n.right) is None:
                right = f"str({right})"
        if isinstance(n.op, ast.Mult) and STRING in (self.infer(n.left), self.infer(n.right)):
            raise Untranslatable("a string repeated with *")
        return f"({left} {op} {right})"

    def e_Compare(self, n):
        parts = []
        left = n.left
        for op, right in zip(n.ops, n.comparators):
            parts.append(self.compare(op, left, right))
            left = right
        return parts[0] if len(parts) == 1 else "(" + " && ".join(parts) + ")"

    def compare(self, op, left, right) -> str:
        if isinstance(op, (ast.In, ast.NotIn)):
            test = f"contains({self.expr(right)}, {self.expr(left)})"
            return test if isinstance(op, ast.In) else f"!{test}"
        if isinstance(op, (ast.Is, ast.IsNot)) and isinstance(right, ast.Constant) and \
                right.value is None:
            test = f"truthy({self.expr(left)})"
            return f"!{test}" if isinstance(op, ast.Is) else test
        ops = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
               ast.GtE: ">="}
        if type(op) not in ops:
            raise Untranslatable("the comparison " + type(op).__name__)
        return f"({self.expr(left)} {ops[type(op)]} {self.expr(right)})"

    def e_BoolOp(self, n):
        op = " && " if isinstance(n.op, ast.And) else " || "
        return "(" + op.join(self.condition(v) for v in n.values) + ")"

    def e_UnaryOp(self, n):
        if isinstance(n.op, ast.Not):
            return f"!{self.condition(n.operand)}"
        if isinstance(n.op, ast.USub):
            return f"-{self.expr(n.operand)}"
        raise Untranslatable("the operator " + type(n.op).__name__)

    def e_List(self, n):
        items = ", ".join(self.expr(e) for e in n.elts)
        if not n.elts:
            raise Untranslatable("an empty list (its element type is unknown)")
        if self.infer(n) == LINES:
            return LINES + "{" + items + "}"
        kinds = {self.infer(e) for e in n.elts}
        if len(kinds) == 1 and None not in kinds:
            return f"std::vector<{kinds.pop()}>{{{items}}}"
        if kinds == {None} and not any(isinstance(e, ast.Call) for e in n.elts):
            return "std::vector{" + items + "}"  # variables: C++ deduces their one type
        raise Untranslatable("a list whose elements' types differ or cannot be told")

    def e_Tuple(self, n):
        if not n.elts:
            raise Untranslatable("an empty tuple")
        if any(self.is_machine(e) for e in n.elts):
            raise Untranslatable("a tuple holding machines")
        return "std::tuple{" + ", ".join(self.expr(e) for e in n.elts) + "}"

    def e_Dict(self, n):
        keys = {self.infer(k) for k in n.keys if k is not None}
        values = {self.infer(v) for v in n.values}
        if not n.keys or None in n.keys or len(keys) != 1 or len(values) != 1 or \
                None in keys or None in values:
            raise Untranslatable("a dict whose key and value types are not all one")
        items = ", ".join(f"{{{self.expr(k)}, {self.expr(v)}}}" for k, v in zip(n.keys, n.values))
        return f"std::map<{keys.pop()}, {values.pop()}>{{{items}}}"

    def e_Subscript(self, n):
        if isinstance(n.slice, ast.Slice):
            if n.slice.step is not None:
                raise Untranslatable("a slice with a step")
            lo = self.expr(n.slice.lower) if n.slice.lower else "std::nullopt"
            hi = self.expr(n.slice.upper) if n.slice.upper else "std::nullopt"
            return f"slice({self.expr(n.value)}, {lo}, {hi})"
        if self.infer(n.value) == RESULT and isinstance(n.slice, ast.Constant) and \
                n.slice.value in (0, 1):
            return f"{self.expr(n.value)}.{'status' if n.slice.value == 0 else 'output'}"
        return f"at({self.expr(n.value)}, {self.expr(n.slice)})"

    def e_Attribute(self, n):
        if self.is_machine(n.value) and n.attr == "name":
            return f"std::string({self.expr(n.value)}.name())"
        raise Untranslatable(f"the attribute .{n.attr}")

    def e_IfExp(self, n):
        return f"({self.condition(n.test)} ? {self.expr(n.body)} : {self.expr(n.orelse)})"

    def e_Lambda(self, n):
        if n.args.defaults or n.args.vararg or n.args.kwarg or n.args.kwonlyargs:
            raise Untranslatable("a lambda with default, variable or keyword-only parameters")
        params = ", ".join(f"[[maybe_unused]] auto {a.arg}" for a in n.args.args)
        return f"[&]({params}) {{ return {self.expr(n.body)}; }}"

    def e_ListComp(self, n):
        if len(n.generators) != 1 or n.generators[0].is_async or \
                not isinstance(n.generators[0].target, ast.Name) or len(n.generators[0].ifs) > 1:
            raise Untranslatable("a list comprehension with several loops, conditions or a "
                                 "tuple target")
        gen = n.generators[0]
        outer = self.scope
        self.scope = Scope(outer)
        self.scope.types[gen.target.id] = STRING if self.infer(gen.iter) == LINES else None
        v = gen.target.id
        try:
            parts = [self.expr(gen.iter),
                     f"[&](const auto& {v}) {{ return {self.expr(n.elt)}; }}"]
            if gen.ifs:
                parts.append(f"[&](const auto& {v}) {{ return {self.condition(gen.ifs[0])}; }}")
            return f"collect({', '.join(parts)})"
        finally:
            self.scope = outer

    def e_Call(self, n):
        f = n.func
        if any(isinstance(a, ast.Starred) for a in n.args) or any(k.arg is None
                                                                  for k in n.keywords):
            raise Untranslatable("a call with *args or **kwargs")
        if isinstance(f, ast.Name):
            return self.call_function(f.id, n)
        if isinstance(f, ast.Attribute):
            if isinstance(f.value, ast.Name) and f.value.id in ("json", "re", "time", "t"):
                return self.call_module(f.value.id, f.attr, n)
            if self.is_machine(f.value):
                return self.call_machine(f.value, f.attr, n)
            return self.call_method(f.value, f.attr, n)
        raise Untranslatable("a call of a computed function")

    def is_machine(self, n) -> bool:
        return isinstance(n, ast.Name) and (n.id in self.nodes or n.id in self.machine_vars)

    def keyword(self, n: ast.Call, name: str) -> ast.expr | None:
        return next((k.value for k in n.keywords if k.arg == name), None)

    def no_keywords(self, n: ast.Call, name: str, allowed: tuple = ()):
        for k in n.keywords:
            if k.arg not in allowed:
                raise Untranslatable(f"the keyword argument {k.arg}= of {name}()")

    def seconds(self, n: ast.expr) -> str:
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and \
                not isinstance(n.value, bool):
            return duration(n.value)
        if isinstance(n, ast.Constant) and n.value is None:
            return "std::chrono::milliseconds::max()"
        return f"std::chrono::milliseconds(static_cast<long>(({self.expr(n)}) * 1000))"

    def call_function(self, name, n):
        args = [self.expr(a) for a in n.args]
        if name == "start_all":
            self.no_keywords(n, name)
            return "start_all()"
        if name == "join_all":
            self.no_keywords(n, name)
            return "join_all()"
        if name in ("serial_stdout_on", "serial_stdout_off"):
            return f"{name}()"
        if name == "len":
            return f"len({args[0]})"
        if name == "int":
            if self.infer(n.args[0]) in (INT, BOOL, "double"):
                return f"static_cast<long>({args[0]})"
            return f"to_int({args[0]})"
        if name == "str":
            return f"str({args[0]})"
        if name == "bool":
            return self.condition(n.args[0])
        if name == "print":
            self.no_keywords(n, name)
            if len(args) == 1 and self.infer(n.args[0]) == STRING:
                return f"attest::log({args[0]})"
            return f"attest::log({self.format_call(' '.join(['{}'] * len(args)), args)})"
        if name == "retry":
            self.no_keywords(n, name, ("timeout",))
            timeout = self.keyword(n, "timeout")
            if len(n.args) > 1:
                timeout = n.args[1]
            extra = f", {self.seconds(timeout)}" if timeout is not None else ""
            return f"retry({args[0]}{extra})"
        if name in ("subtest", "polling_condition"):
            raise Untranslatable(f"{name}() outside a with statement or a decorator")
        if name in ("range", "sorted", "list", "dict", "set", "any", "all", "enumerate", "zip",
                    "open", "exec", "eval", "getattr", "setattr", "isinstance", "max", "min",
                    "sum", "map", "filter"):
            raise Untranslatable(f"Python's built-in {name}()")
        if name[:1].isupper():
            raise Untranslatable(f"the class {name}")
        if name in self.functions:
            return f"{name}({', '.join(self.local_arguments(name, n))})"
        self.no_keywords(n, name)
        return f"{name}({', '.join(self.argument(a) for a in n.args)})"

    def argument(self, n: ast.expr) -> str:
        """An argument of a def of the script: a string literal as a std::string, so that the
        generic lambda's parameter is one and may be assigned strings, as in Python."""
        text = self.expr(n)
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            return f"std::string({text})"
        return text

    def local_arguments(self, name: str, n: ast.Call) -> list[str]:
        """A call of a def of the script with defaults: every argument, by position."""
        a = self.functions[name]
        params = [x.arg for x in a.args]
        if len(n.args) > len(params):
            raise Untranslatable(f"{len(n.args)} arguments to {name}()")
        given = dict(zip(params, n.args))
        for k in n.keywords:
            if k.arg not in params or k.arg in given:
                raise Untranslatable(f"the keyword argument {k.arg}= of {name}()")
            given[k.arg] = k.value
        defaults = dict(zip(params[len(params) - len(a.defaults):], a.defaults))
        out = []
        for p in params:
            value = given.get(p, defaults.get(p))
            if value is None:
                raise Untranslatable(f"{name}() without its argument {p}")
            out.append(self.argument(value))
        return out

    def call_module(self, module, attr, n):
        args = [self.expr(a) for a in n.args]
        if module == "json" and attr == "loads":
            self.report.needs_json = True
            return f"json_loads({args[0]})"
        if module == "re" and attr in ("search", "match") and 2 <= len(n.args) <= 3:
            self.no_keywords(n, f"re.{attr}", ("flags",))
            flags = n.args[2] if len(n.args) == 3 else self.keyword(n, "flags")
            extra = f", {self.regex_flags(flags)}" if flags is not None else ""
            return f"re_{attr}({args[0]}, {args[1]}{extra})"
        if module == "time" and attr in ("monotonic", "time") and not n.args:
            return f"{attr}()"
        if module == "time" and attr == "sleep":
            return f"std::this_thread::sleep_for({self.seconds(n.args[0])})"
        if module == "t" and attr in T_ASSERTIONS:
            raise Untranslatable(f"t.{attr}() inside an expression")
        raise Untranslatable(f"{module}.{attr}()")

    def regex_flags(self, n: ast.expr) -> str:
        """re.DOTALL | re.MULTILINE ... as attest::script::Flags."""
        names = {"DOTALL": "dotall", "S": "dotall", "MULTILINE": "multiline", "M": "multiline",
                 "IGNORECASE": "ignorecase", "I": "ignorecase"}
        parts, stack = [], [n]
        while stack:
            x = stack.pop()
            if isinstance(x, ast.BinOp) and isinstance(x.op, ast.BitOr):
                stack += [x.left, x.right]
            elif isinstance(x, ast.Attribute) and isinstance(x.value, ast.Name) and \
                    x.value.id == "re" and x.attr in names:
                parts.append("re::" + names[x.attr])
            else:
                raise Untranslatable("regular expression flags other than DOTALL, MULTILINE and "
                                     "IGNORECASE")
        return " | ".join(sorted(parts))

    def call_method(self, obj, attr, n):
        target = self.expr(obj)
        args = [self.expr(a) for a in n.args]
        if n.keywords:
            raise Untranslatable(f"keyword arguments of .{attr}()")
        if attr in ("strip", "lstrip", "rstrip") and args:
            raise Untranslatable(f".{attr}() of given characters")
        if attr in STRING_METHODS or attr in ("split", "splitlines", "startswith", "endswith",
                                              "count"):
            if attr == "split" and len(args) > 1:
                raise Untranslatable(".split() with a maximum count")
            return f"{attr}({', '.join([target] + args)})"
        if attr == "join":
            return f"join({args[0]}, {target})"
        if attr == "format":
            if not (isinstance(obj, ast.Constant) and isinstance(obj.value, str)):
                raise Untranslatable(".format() of a computed string")
            if "{" in obj.value.replace("{{", "").replace("{}", "").replace("}}", ""):
                raise Untranslatable(".format() with numbered, named or specified fields")
            return self.format_call(obj.value, args)
        if attr in ("group", "groups", "start"):
            return f"{target}->{attr}({', '.join(args)})"
        if attr == "get_unit_info":
            raise Untranslatable("get_unit_info of something other than a machine")
        raise Untranslatable(f"the method .{attr}()")

    def call_machine(self, obj, attr, n):
        m = self.expr(obj)
        if attr not in MACHINE_METHODS:
            raise Untranslatable(f"the Machine method {attr}() (not in attest's Machine API)")
        params = MACHINE_METHODS[attr]
        if attr in ("succeed", "fail") and len(n.args) > 1:
            self.no_keywords(n, attr, ("timeout",))
            args = [self.expr(a) for a in n.args]
            timeout = self.keyword(n, "timeout")
            if timeout is None:
                return f"{m}.{attr}({', '.join(args)})"
            opts = f"{{.timeout = {self.seconds(timeout)}}}"
            return "(" + " + ".join(f"{m}.{attr}({a}, {opts})" for a in args) + ")"
        if len(n.args) > len(params):
            raise Untranslatable(f"{len(n.args)} arguments to {attr}()")
        given: dict[str, ast.expr] = {}
        for (pname, _, _), a in zip(params, n.args):
            given[pname] = a
        names = [p[0] for p in params]
        for k in n.keywords:
            if k.arg not in names:
                raise Untranslatable(f"the keyword argument {k.arg}= of {attr}()")
            given[k.arg] = k.value
        positional, options = [], []
        pending = []  # defaults of skipped positional parameters, written once a later one is given
        for pname, kind, default in params:
            value = given.get(pname)
            if kind == "drop":
                continue
            if kind == "o":
                if value is not None:
                    v = self.seconds(value) if pname == "timeout" else self.expr(value)
                    options.append(f".{pname} = {v}")
                continue
            if value is None:
                if not default:
                    raise Untranslatable(f"{attr}() without its {pname}")
                pending.append(default)
                continue
            positional.extend(pending)
            pending = []
            positional.append(self.seconds(value) if kind == "d" else self.expr(value))
        if options:
            # Designated initializers in the order of the struct's fields.
            order = OPTION_ORDER.get(attr, [])
            options.sort(key=lambda o: order.index(o[1:].split(" ")[0]) if o[1:].split(" ")[
                0] in order else 0)
            positional.append("{" + ", ".join(options) + "}")
        return f"{m}.{attr}({', '.join(positional)})"

    # ---- statements --------------------------------------------------------------------------
    def emit(self, line: str, depth: int):
        self.lines.append("  " * depth + line)

    def block(self, body, depth, scope: Scope | None = None):
        outer, saved_rest = self.scope, self.rest
        self.scope = scope or Scope(outer)
        try:
            for i, s in enumerate(body):
                self.rest = body[i + 1:] + saved_rest
                self.stmt(s, depth)
        finally:
            self.scope, self.rest = outer, saved_rest

    def translate_body(self, stmts: list[ast.stmt], depth: int):
        saved = self.rest
        for i, s in enumerate(stmts):
            self.rest = stmts[i + 1:] + saved
            self.stmt(s, depth)
        self.rest = saved

    def stmt(self, s: ast.stmt, depth: int):
        start, counted = len(self.lines), (self.report.translated, len(self.report.left))
        try:
            getattr(self, "s_" + type(s).__name__, self.s_unknown)(s, depth)
            if not isinstance(s, (ast.Import, ast.ImportFrom)):
                self.report.translated += 1
        except Untranslatable as why:
            del self.lines[start:]
            self.report.translated, left = counted[0], counted[1]
            del self.report.left[left:]
            self.leave(s, depth, str(why))

    def original(self, text: str) -> str:
        """`text` with each antiquotation placeholder back as the Nix source it stands for."""
        return expand_placeholders(text, self.antiquotations)

    def leave(self, s: ast.stmt, depth: int, why: str):
        """Keeps `s` as a comment and a run-time failure; its names become Unported."""
        src = self.original(ast.get_source_segment(self.source, s) or ast.unparse(s))
        line = self.file_line(s.lineno)
        first = src.splitlines()[0].strip()
        self.report.left.append(Left(line, first, why))
        for text in src.splitlines():
            self.emit(f"// {text}".rstrip(), depth)
        self.emit(f"not_ported({line}, {cpp_string(first)}, {cpp_string(why)});", depth)
        used_later = loaded_names(self.rest)
        for name in sorted(stored_names([s])):
            if name in used_later and not self.scope.declared(name):
                self.scope.types[name] = None
                self.unported.add(name)
                self.emit(f"attest::script::Unported {name}({line}, {cpp_string(name)});",
                          depth)

    def nix_conditional(self, frag, s: ast.stmt, depth: int):
        """A statement Nix writes only under a condition (`${lib.optionalString COND ''...''}`):
        the Python inside is translated like the script around it, and the output keeps the
        condition, with the C++ in the string, for Nix to include or not."""
        try:
            tree = ast.parse(frag.python)
        except SyntaxError as e:
            raise Untranslatable("a Nix antiquotation as a statement whose string is not Python "
                                 f"({e.msg}); port what it expands to by hand") from None
        tree = Renamer(self.bound | bound_names(tree), renamed=self.renamed).visit(tree)
        self.antiquotations.update(frag.table)
        base = self.file_line(s.lineno)
        saved = self.source, self.lines, self.file_line
        self.source, self.lines = frag.python, []
        self.file_line = lambda line: base + frag.first_line + line - 1
        try:
            self.translate_body(tree.body, depth + 1)
            inner = self.lines
        finally:
            self.source, self.lines, self.file_line = saved
        key = self.fresh("attest_nix_fragment") + "_"
        self.antiquotations[key] = (frag.before + "''\n" + frag.escape("\n".join(inner)) + "\n" +
                                    "  " * depth + "''" + frag.after)
        self.emit(key, depth)
        # The statements inside were counted one by one; the antiquotation is none of them.
        self.report.translated -= 1

    def s_unknown(self, s, depth):
        raise Untranslatable(f"the statement kind {type(s).__name__}")

    def s_Expr(self, s, depth):
        v = s.value
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            for line in v.value.strip().splitlines():
                self.emit(f"// {line}".rstrip(), depth)
            return
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and \
                isinstance(v.func.value, ast.Name) and v.func.value.id == "t" and \
                v.func.attr.startswith("assert"):
            return self.unittest_assertion(v, depth)
        if isinstance(v, ast.Name) and v.id in self.antiquotations:
            frag = self.nix_fragment(v.id) if self.nix_fragment else None
            if frag is not None:
                return self.nix_conditional(frag, s, depth)
            raise Untranslatable("a Nix antiquotation as a statement: Nix writes the Python "
                                 "there; port what it expands to by hand")
        text = self.expr(v)
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and \
                self.is_machine(v.func.value) and v.func.attr in ("execute", "nested"):
            text = f"(void){text}"  # [[nodiscard]]: NixOS scripts often ignore the result
        self.emit(text + ";", depth)

    def unittest_assertion(self, v: ast.Call, depth: int):
        attr, args = v.func.attr, v.args
        msg = f" << {self.expr(args[-1])}" if len(args) == 3 else ""
        if attr in T_ASSERTIONS and len(args) in (2, 3):
            self.check(T_ASSERTIONS[attr], f"{self.expr(args[0])}, {self.expr(args[1])}", msg,
                       depth)
        elif attr in ("assertIn", "assertNotIn") and len(args) in (2, 3):
            self.check("TRUE" if attr == "assertIn" else "FALSE",
                       f"contains({self.expr(args[1])}, {self.expr(args[0])})", msg, depth)
        elif attr in ("assertTrue", "assertFalse") and len(args) in (1, 2):
            msg = f" << {self.expr(args[1])}" if len(args) == 2 else ""
            self.check("TRUE" if attr == "assertTrue" else "FALSE", self.condition(args[0]), msg,
                       depth)
        else:
            raise Untranslatable(f"the unittest assertion t.{attr}()")

    def check(self, macro: str, args: str, msg: str, depth: int):
        """An assertion: ASSERT_* in the test's body; inside a lambda, where ASSERT_* would only
        return from it, the EXPECT_* form in ATTEST_REQUIRE, which ends the test as Python's
        AssertionError does."""
        if self.in_lambda:
            self.emit(f"ATTEST_REQUIRE(EXPECT_{macro}({args}){msg});", depth)
        else:
            self.emit(f"ASSERT_{macro}({args}){msg};", depth)

    def declare(self, name: str, value: ast.expr, text: str, depth: int):
        if self.scope.declared(name):
            self.emit(f"{name} = {text};", depth)
            return
        if isinstance(value, ast.Constant) and value.value is None:
            # x = None, set for real later: declared with the type of what it is set to then.
            kind = self.assigned_type(name, self.rest)
            if kind is None:
                raise Untranslatable(f"'{name} = None': None has no C++ type, and the values "
                                     "set later do not tell one")
            self.scope.types[name] = kind
            self.emit(f"{kind} {name}{{}};  // None", depth)
            return
        kind = self.infer(value)
        self.scope.types[name] = kind
        if kind == STRING and isinstance(value, (ast.Constant, ast.JoinedStr)) and \
                text.startswith(("\"", "R\"")):
            text = f"std::string({text})"
        self.emit(f"{self.auto([name])} {name} = {text};", depth)

    def auto(self, names: list[str]) -> str:
        """`auto`, marked [[maybe_unused]] for names no later statement reads (Python scripts
        often set what they never use; the warning would fail the build)."""
        later = loaded_names(self.rest)
        return "auto" if any(n in later for n in names) else "[[maybe_unused]] auto"

    def s_Assign(self, s, depth):
        if len(s.targets) != 1:
            raise Untranslatable("a chained assignment")
        t = s.targets[0]
        if isinstance(t, ast.Name):
            if t.id in self.machine_vars or (isinstance(s.value, ast.Name) and
                                             self.is_machine(s.value)):
                if self.scope.declared(t.id):
                    raise Untranslatable("a machine variable set twice")
                self.machine_vars.add(t.id)
                self.scope.types[t.id] = None
                self.emit(f"attest::Machine& {t.id} = {self.expr(s.value)};", depth)
                return
            if isinstance(s.value, (ast.List, ast.Tuple)) and s.value.elts and all(
                    self.is_machine(e) for e in s.value.elts):
                if self.scope.declared(t.id):
                    raise Untranslatable("a list of machines set twice")
                self.machine_lists.add(t.id)
                self.scope.types[t.id] = None
                items = ", ".join(self.expr(e) for e in s.value.elts)
                self.emit(f"std::vector<std::reference_wrapper<attest::Machine>> {t.id}{{{items}}};",
                          depth)
                return
            return self.declare(t.id, s.value, self.expr(s.value), depth)
        if isinstance(t, ast.Tuple) and all(isinstance(e, ast.Name) for e in t.elts):
            names = [e.id for e in t.elts]
            if isinstance(s.value, ast.Tuple) and len(s.value.elts) == len(names):
                # a, b = x, y: one assignment each (the values are computed first, as Python).
                if any(isinstance(e, ast.Name) and e.id in names for e in s.value.elts):
                    raise Untranslatable("a tuple assignment that swaps names")
                for name, value in zip(names, s.value.elts):
                    self.declare(name, value, self.expr(value), depth)
                return
            if self.uses_unported(s.value):
                raise Untranslatable("unpacks a value left to a person")
            value = self.expr(s.value)
            if self.infer(s.value) == RESULT and len(names) == 2:
                if not any(self.scope.declared(x) for x in names):
                    self.scope.types.update({names[0]: "int", names[1]: STRING})
                    self.emit(f"{self.auto(names)} [{', '.join(names)}] = {value};", depth)
                    return
                # Some of the names exist already: Python assigns them, C++ cannot redeclare.
                tmp = self.fresh("result")
                self.emit(f"const auto {tmp} = {value};", depth)
                for name, member, kind in ((names[0], "status", "int"),
                                           (names[1], "output", STRING)):
                    if self.scope.declared(name):
                        self.emit(f"{name} = {tmp}.{member};", depth)
                    else:
                        self.scope.types[name] = kind
                        self.emit(f"{self.auto([name])} {name} = {tmp}.{member};", depth)
                return
            if any(self.scope.declared(x) for x in names):
                raise Untranslatable("a tuple assignment to names set before")
            self.scope.types.update({x: None for x in names})
            self.emit(f"{self.auto(names)} [{', '.join(names)}] = {value};", depth)
            return
        if isinstance(t, ast.Subscript):
            raise Untranslatable("an assignment to an item")
        raise Untranslatable("an assignment to " + type(t).__name__)

    def uses_unported(self, n) -> bool:
        return any(isinstance(x, ast.Name) and x.id in self.unported for x in ast.walk(n))

    def s_AnnAssign(self, s, depth):
        if s.value is None or not isinstance(s.target, ast.Name):
            raise Untranslatable("an annotation without a value")
        self.declare(s.target.id, s.value, self.expr(s.value), depth)

    def s_AugAssign(self, s, depth):
        ops = {ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*="}
        if type(s.op) not in ops or not isinstance(s.target, ast.Name):
            raise Untranslatable("an augmented assignment other than +=, -= or *= to a name")
        self.emit(f"{s.target.id} {ops[type(s.op)]} {self.expr(s.value)};", depth)

    def s_Assert(self, s, depth):
        t = s.test
        msg = f" << {self.expr(s.msg)}" if s.msg is not None else ""
        if isinstance(t, ast.Compare) and len(t.ops) == 1:
            op, right = t.ops[0], t.comparators[0]
            macros = {ast.Eq: "EQ", ast.NotEq: "NE", ast.Lt: "LT", ast.LtE: "LE", ast.Gt: "GT",
                      ast.GtE: "GE"}
            if type(op) in macros:
                return self.check(macros[type(op)], f"{self.expr(t.left)}, {self.expr(right)}",
                                  msg, depth)
            if isinstance(op, (ast.In, ast.NotIn)):
                return self.check("TRUE" if isinstance(op, ast.In) else "FALSE",
                                  f"contains({self.expr(right)}, {self.expr(t.left)})", msg, depth)
        if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not):
            return self.check("FALSE", self.condition(t.operand), msg, depth)
        self.check("TRUE", self.condition(t), msg, depth)

    def hoist(self, s: ast.stmt, depth: int):
        """Declares before `s` what it sets and later statements use (Python's function scope)."""
        later = loaded_names(self.rest)
        own = stored_names([s.target]) if isinstance(s, ast.For) else set()
        for name in sorted(stored_names([s]) - own):
            if name not in later or self.scope.declared(name) or name in self.polling:
                continue
            kind = self.assigned_type(name, [s])
            if kind is None:
                raise Untranslatable(f"'{name}' is set inside a block and used after it, and "
                                     "its type cannot be told")
            self.scope.types[name] = kind
            self.emit(f"{kind} {name}{{}};", depth)

    def assigned_type(self, name: str, stmts: list[ast.stmt]) -> str | None:
        """The one C++ type of what `stmts` set `name` to, for declaring it before them: None
        when the values disagree or a type cannot be told (a value of unknown type, a loop
        variable, a name in a tuple). A `name = None` tells nothing and is passed over."""
        kinds = set()
        for n in (n for s in stmts for n in ast.walk(s)):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name) and t.id == name:
                        if not (isinstance(n.value, ast.Constant) and n.value.value is None):
                            kinds.add(self.infer(n.value))
                    elif name in stored_names([t]):
                        kinds.add(None)
            elif isinstance(n, ast.For) and name in stored_names([n.target]):
                kinds.add(None)
        return kinds.pop() if len(kinds) == 1 else None

    def s_With(self, s, depth):
        if len(s.items) != 1 or s.items[0].optional_vars is not None:
            raise Untranslatable("a with statement of several items or with `as`")
        ctx = s.items[0].context_expr
        if isinstance(ctx, ast.Call) and isinstance(ctx.func, ast.Name) and \
                ctx.func.id == "subtest":
            return self.subtest(s, ctx, depth)
        if isinstance(ctx, ast.Call) and isinstance(ctx.func, ast.Attribute) and \
                ctx.func.attr == "nested":
            self.hoist(s, depth)
            self.emit("{", depth)
            self.emit(f"auto {self.fresh('block')} = {self.expr(ctx)};", depth + 1)
            self.block(s.body, depth + 1)
            self.emit("}", depth)
            return
        if isinstance(ctx, ast.Name) and ctx.id in self.polling:
            description, interval = self.polling[ctx.id]
            extra = f", {interval}" if interval else ""
            self.hoist(s, depth)
            self.emit("{", depth)
            self.emit(f"auto {self.fresh(ctx.id)} = polling_condition({cpp_string(description)},"
                      f" {ctx.id}{extra});", depth + 1)
            self.block(s.body, depth + 1)
            self.emit("}", depth)
            return
        raise Untranslatable("a with statement other than subtest, nested or a polling condition")

    def subtest(self, s, ctx, depth):
        if len(ctx.args) != 1 or ctx.keywords:
            raise Untranslatable("subtest() with other than one argument")
        label = self.expr(ctx.args[0])
        later = loaded_names(self.rest)
        if any(name in later and not self.scope.declared(name)
               for name in stored_names(s.body)):
            # What the subtest sets is used after it: the flat form keeps it in scope.
            step = self.fresh("subtest")
            self.emit(f"auto {step} = begin_subtest({label});", depth)
            self.translate_body(s.body, depth)
            self.emit(f"{step}.end();", depth)
            return
        self.emit(f"subtest({label}, [&] {{", depth)
        self.in_lambda += 1
        try:
            self.block(s.body, depth + 1)
        finally:
            self.in_lambda -= 1
        self.emit("});", depth)

    def s_For(self, s, depth):
        if s.orelse:
            raise Untranslatable("a for loop with an else branch")
        target = s.target
        if not (isinstance(target, ast.Name) or (isinstance(target, ast.Tuple) and all(
                isinstance(e, ast.Name) for e in target.elts))):
            raise Untranslatable("a loop target other than names")
        it = s.iter
        if isinstance(it, ast.Tuple):  # for x in a, b: a list of them
            it = ast.List(elts=it.elts, ctx=ast.Load())
        if isinstance(target, ast.Tuple) and self.uses_unported(it):
            raise Untranslatable("unpacks a value left to a person")
        scope = Scope(self.scope)
        self.hoist(s, depth)
        if isinstance(it, (ast.List, ast.Tuple)) and it.elts and all(
                self.is_machine(e) for e in it.elts) and isinstance(target, ast.Name):
            names = ", ".join(self.expr(e) for e in it.elts)
            self.emit(f"for (attest::Machine& {target.id} : "
                      f"std::vector<std::reference_wrapper<attest::Machine>>{{{names}}}) {{",
                      depth)
            self.machine_vars.add(target.id)
        elif isinstance(it, ast.Name) and (it.id == "machines" or it.id in self.machine_lists) \
                and isinstance(target, ast.Name):
            self.emit(f"for (attest::Machine& {target.id} : {it.id}) {{", depth)
            self.machine_vars.add(target.id)
        elif isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and \
                it.func.id == "range" and isinstance(target, ast.Name) and 1 <= len(it.args) <= 2:
            args = [self.expr(a) for a in it.args]
            lo, hi = ("0", args[0]) if len(args) == 1 else (args[0], args[1])
            v = target.id
            self.emit(f"for (long {v} = {lo}; {v} < {hi}; ++{v}) {{", depth)
            scope.types[v] = INT
        elif isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and \
                it.func.id == "enumerate" and len(it.args) == 1 and not it.keywords and \
                isinstance(target, ast.Tuple) and len(target.elts) == 2:
            i, v = target.elts[0].id, target.elts[1].id
            self.emit(f"for (long {i} = -1; const auto& {v} : {self.expr(it.args[0])}) {{", depth)
            self.emit(f"++{i};", depth + 1)
            scope.types.update({i: INT, v: STRING if self.infer(it.args[0]) == LINES else None})
        elif isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and \
                it.func.attr == "items" and not it.args and isinstance(target, ast.Tuple):
            names = ", ".join(e.id for e in target.elts)
            self.emit(f"for (const auto& [{names}] : {self.expr(it.func.value)}) {{", depth)
            scope.types.update({e.id: None for e in target.elts})
        else:
            if isinstance(target, ast.Name):
                name = target.id
                scope.types[name] = STRING if self.infer(it) == LINES else None
            else:
                name = "[" + ", ".join(e.id for e in target.elts) + "]"
                scope.types.update({e.id: None for e in target.elts})
            self.emit(f"for (const auto& {name} : {self.expr(it)}) {{", depth)
        self.block(s.body, depth + 1, scope)
        self.emit("}", depth)

    def s_While(self, s, depth):
        if s.orelse:
            raise Untranslatable("a while loop with an else branch")
        self.hoist(s, depth)
        self.emit(f"while ({self.bare_condition(s.test)}) {{", depth)
        self.block(s.body, depth + 1)
        self.emit("}", depth)

    def s_Break(self, s, depth):
        self.emit("break;", depth)

    def s_Continue(self, s, depth):
        self.emit("continue;", depth)

    def s_If(self, s, depth):
        self.hoist(s, depth)
        self.emit(f"if ({self.bare_condition(s.test)}) {{", depth)
        self.block(s.body, depth + 1)
        while len(s.orelse) == 1 and isinstance(s.orelse[0], ast.If):
            s = s.orelse[0]
            self.emit(f"}} else if ({self.bare_condition(s.test)}) {{", depth)
            self.block(s.body, depth + 1)
        if s.orelse:
            self.emit("} else {", depth)
            self.block(s.orelse, depth + 1)
        self.emit("}", depth)

    def s_FunctionDef(self, s, depth):
        if s.decorator_list:
            return self.polling_condition_def(s, depth)
        a = s.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
            raise Untranslatable("a function with variable or keyword-only parameters")
        if a.defaults:
            # Every call gets every argument: attest port fills in the defaults (below).
            self.functions[s.name] = a
        if s.name in loaded_names(s.body):
            raise Untranslatable("a recursive function")
        machines = {x.arg for x in a.args if any(
            isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and
            isinstance(c.func.value, ast.Name) and c.func.value.id == x.arg and
            c.func.attr in MACHINE_METHODS and c.func.attr not in STRING_METHODS
            for c in ast.walk(s))}
        self.machine_vars |= machines  # parameters the body uses as machines
        # A machine is passed by reference (attest::Machine cannot be copied); anything else by
        # value, as Python may assign to its parameters.
        params = ", ".join(f"[[maybe_unused]] auto{'&' if x.arg in machines else ''} {x.arg}"
                           for x in a.args)
        self.scope.types[s.name] = None
        scope = Scope(self.scope)
        scope.types.update({x.arg: None for x in a.args})
        self.emit(f"auto {s.name} = [&]({params}) {{", depth)
        self.in_lambda += 1
        outer = self.scope
        try:
            self.block(s.body, depth + 1, scope)
            # The type it returns, told with the body's variables in scope.
            self.scope = scope
            kinds = {self.infer(r.value) for r in ast.walk(s)
                     if isinstance(r, ast.Return) and r.value is not None}
            if len(kinds) == 1 and None not in kinds:
                self.returns[s.name] = kinds.pop()
        finally:
            self.scope = outer
            self.in_lambda -= 1
        self.emit("};", depth)

    def polling_condition_def(self, s, depth):
        d = s.decorator_list[0]
        name = d.func.id if isinstance(d, ast.Call) and isinstance(d.func, ast.Name) else \
            d.id if isinstance(d, ast.Name) else None
        if len(s.decorator_list) != 1 or name != "polling_condition" or s.args.args:
            raise Untranslatable("a decorated function other than @polling_condition")
        interval, description = None, s.name
        for k in (d.keywords if isinstance(d, ast.Call) else []):
            if k.arg == "seconds_interval":
                interval = self.seconds(k.value)
            elif k.arg == "description" and isinstance(k.value, ast.Constant):
                description = k.value.value
            else:
                raise Untranslatable(f"the polling_condition argument {k.arg}=")
        self.polling[s.name] = (description, interval)
        self.scope.types[s.name] = None
        # NixOS: the condition holds unless the function raises or returns a false value
        # other than None; a function without `return` holds while its commands succeed.
        returns = [n for n in ast.walk(s) if isinstance(n, ast.Return) and n.value is not None]
        self.emit(f"auto {s.name} = [&]() -> bool {{", depth)
        self.in_polling = True
        self.in_lambda += 1
        try:
            self.block(s.body, depth + 1)
        finally:
            self.in_polling = False
            self.in_lambda -= 1
        if not (returns and isinstance(s.body[-1], ast.Return)):
            self.emit("return true;", depth + 1)
        self.emit("};", depth)

    def s_Return(self, s, depth):
        if self.in_polling and s.value is not None:
            self.emit(f"return {self.condition(s.value)};", depth)
        elif s.value is None:
            self.emit("return;", depth)
        elif isinstance(s.value, ast.Constant) and s.value.value is None:
            self.emit("return;", depth)
        else:
            self.emit(f"return {self.expr(s.value)};", depth)

    def s_Raise(self, s, depth):
        exc = s.exc
        if isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and \
                len(exc.args) == 1 and not exc.keywords:
            self.emit(f"throw std::runtime_error({self.expr(exc.args[0])});", depth)
            return
        raise Untranslatable("a raise of something other than SomeError(message)")

    def s_Import(self, s, depth):
        modules = [a.name for a in s.names] if isinstance(s, ast.Import) else [s.module]
        unknown = [m for m in modules if m not in ("json", "re", "time")]
        if unknown:
            raise Untranslatable(f"the import of {', '.join(unknown)}")

    def s_ImportFrom(self, s, depth):
        raise Untranslatable(f"from {s.module} import ...")

    def s_Pass(self, s, depth):
        pass

    def translate(self, source: str) -> str:
        """The C++ statements for `source`, a whole testScript."""
        self.source = source
        tree = ast.parse(source)
        bound = bound_names(tree)
        # A node the script rebinds (`machine = ${hostName}`) becomes a variable of its own.
        for node in bound & set(self.nodes):
            self.machine_vars.add(node + "_")
        self.bound, self.renamed = bound, bound & set(self.nodes)
        tree = Renamer(bound, renamed=self.renamed).visit(tree)
        self.emit("using namespace attest::script;", 0)
        self.translate_body(tree.body, 0)
        return "\n".join(self.lines) + "\n"
