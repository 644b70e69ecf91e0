"""`attest port`: a NixOS test's Python testScript as the C++ statements of an attest test.

Run through `attest port` (which finds this file and Python); see `attest port --help` and
docs/porting.md. Reads a NixOS test (`.nix`: its `testScript` string and its node names) or a
bare Python testScript, writes the C++ statements (the body that `attest gen` wraps), and
reports on standard error what was translated and what is left for a person.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass

from attest_translate import Translator, expand_placeholders

USAGE = "attest port [options] FILE"
DESCRIPTION = """\
Translates a NixOS test's Python testScript into C++ statements for attest: FILE is a NixOS test
(.nix: its testScript, also when it is a function of nodes, and its node names) or a Python
testScript. Python is parsed with CPython's own parser. A statement that cannot be translated is
kept as a comment with its line, followed by a call that fails the test there, so that the output
always compiles; the report on standard error lists each one and why.
"""


# A `$` the Nix source escaped (`''$`), which must not start an antiquotation when the script is
# searched for them; it reads as part of a name to Python and goes back as `$`.
LITERAL_DOLLAR = "attest_dollar_"


class NixError(Exception):
    pass


class NixText:
    """Just enough of the Nix language to find a test's testScript string, name and nodes:
    comments, strings ("..." and ''...'' with their escapes) and braces."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = list(self.lex())
        self.depths = self.nesting()

    def lex(self):
        t, i, n = self.text, 0, len(self.text)
        while i < n:
            c = t[i]
            if c.isspace():
                i += 1
            elif c == "#":
                i = t.find("\n", i)
                i = n if i < 0 else i
            elif t.startswith("/*", i):
                j = t.find("*/", i + 2)
                if j < 0:
                    raise NixError("a /* comment does not end")
                i = j + 2
            elif c == '"':
                start = i
                value, i = self.simple_string(i + 1)
                yield ("string", value, start)
            elif t.startswith("''", i):
                start = i
                value, i = self.indented_string(i + 2)
                yield ("string", value, start)
            elif c.isalpha() or c == "_":
                j = i
                while j < n and (t[j].isalnum() or t[j] in "_-'"):
                    j += 1
                yield ("id", t[i:j], j)
                i = j
            else:
                yield ("op", c, i + 1)
                i += 1

    def simple_string(self, i):
        t, out = self.text, []
        while i < len(t):
            c = t[i]
            if c == "\\" and i + 1 < len(t):
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(t[i + 1], t[i + 1]))
                i += 2
            elif c == '"':
                return "".join(out), i + 1
            elif t.startswith("${", i):
                j = self.antiquotation_end(i)
                out.append(t[i:j])
                i = j
            else:
                out.append(c)
                i += 1
        raise NixError('a "string does not end')

    def antiquotation_end(self, i):
        return antiquotation_end(self.text, i)

    def indented_string(self, i):
        t, out = self.text, []
        while i < len(t):
            if t.startswith("'''", i):
                out.append("''")
                i += 3
            elif t.startswith("''$", i):
                out.append(LITERAL_DOLLAR)  # not the start of an antiquotation
                i += 3
            elif t.startswith("''\\", i):
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(t[i + 3], t[i + 3]))
                i += 4
            elif t.startswith("''", i):
                return self.strip_indentation("".join(out)), i + 2
            elif t.startswith("${", i):
                j = self.antiquotation_end(i)
                out.append(t[i:j])
                i = j
            else:
                out.append(t[i])
                i += 1
        raise NixError("a ''string does not end")

    @staticmethod
    def strip_indentation(s: str) -> str:
        lines = s.split("\n")
        indents = [len(x) - len(x.lstrip(" ")) for x in lines if x.strip()]
        cut = min(indents) if indents else 0
        out = "\n".join(x[cut:] for x in lines)
        return out[1:] if out.startswith("\n") else out

    def nesting(self) -> list[int]:
        """Each token's nesting depth in braces, brackets and parentheses."""
        out, depth = [], 0
        for kind, value, _ in self.tokens:
            if kind == "op" and value in "}])":
                depth -= 1
            out.append(depth)
            if kind == "op" and value in "{[(":
                depth += 1
        return out

    def value_strings(self, k: int) -> tuple[tuple[str, int] | None, int]:
        """The attribute value starting at token k: its last string at its own level (behind
        `{ nodes, ... }:` and `let ... in`) with the line the string starts on, and the index
        after the value's closing `;`."""
        toks = self.tokens
        depth, lets, found = 0, 0, None
        j = k
        while j < len(toks):
            kind, value, at = toks[j]
            if kind == "op" and value in "{[(":
                depth += 1
            elif kind == "op" and value in "}])":
                depth -= 1
                if depth < 0:
                    break
            elif kind == "id" and value == "let":
                lets += 1
            elif kind == "id" and value == "in" and lets:
                lets -= 1
            elif (kind, value) == ("op", ";") and depth == 0 and not lets:
                break
            elif kind == "string" and depth == 0 and not lets:
                found = (value, at)
            j += 1
        return found, j

    def attributes(self, name: str) -> list[int]:
        """Where `name = ` is set, as indices of the value's first token."""
        toks = self.tokens
        return [k + 2 for k in range(len(toks) - 2)
                if toks[k][:2] == ("id", name) and toks[k + 1][:2] == ("op", "=")
                and (k == 0 or toks[k - 1][:2] != ("op", "."))]

    def test_scripts(self) -> list[tuple[str, int]]:
        """Every testScript of the file (a file may define several tests), each with the line of
        the file that holds the script's first line."""
        scripts = []
        for k in self.attributes("testScript"):
            found, _ = self.value_strings(k)
            if found is None:
                raise NixError("testScript is not a string literal (or a function of nodes "
                               "returning one)")
            text, at = found
            line = self.text.count("\n", 0, at) + 1
            # An indented string whose opening line is empty starts on the next line (its
            # first, empty line is dropped, as Nix drops it).
            if self.text.startswith("''", at) and not self.text[at + 2:].split("\n", 1)[0].strip():
                line += 1
            scripts.append((text, line))
        if not scripts:
            raise NixError("no testScript found")
        return scripts

    def level(self) -> int | None:
        """The depth of the (first) test's attributes: where its testScript is set."""
        at = self.attributes("testScript")
        return self.depths[at[0] - 2] if at else None

    def name(self) -> str | None:
        depths, level = self.depths, self.level()
        for k in self.attributes("name"):
            if depths[k - 2] == level and self.tokens[k][0] == "string" and \
                    self.tokens[k + 1][:2] == ("op", ";"):
                return self.tokens[k][1]
        return None

    def nodes(self) -> list[str]:
        toks, depths, level, found = self.tokens, self.depths, self.level(), []
        for k in range(len(toks) - 2):
            if toks[k][:2] == ("id", "nodes") and depths[k] == level and \
                    toks[k + 1][:2] == ("op", ".") and toks[k + 2][0] in ("id", "string"):
                found.append(toks[k + 2][1])  # nodes.server = ...
        for k in self.attributes("nodes"):
            if depths[k - 2] != level:
                continue
            j = k
            if toks[j][:2] == ("id", "let"):  # nodes = let ... in { ... }
                lets = 0
                while j < len(toks):
                    if toks[j][:2] == ("id", "let"):
                        lets += 1
                    elif toks[j][:2] == ("id", "in"):
                        lets -= 1
                        if lets == 0:
                            break
                    j += 1
                j += 1
            if j >= len(toks) or toks[j][:2] != ("op", "{"):
                continue
            inner = depths[j] + 1
            for i in range(j + 1, len(toks) - 1):
                if depths[i] < inner:
                    break
                # A key at the attribute set's own level: a name or string followed by = or .
                if depths[i] == inner and toks[i][0] in ("id", "string") and \
                        toks[i + 1][:2] in (("op", "="), ("op", ".")) and \
                        toks[i - 1][:2] in (("op", "{"), ("op", ";")):
                    found.append(toks[i][1])
        for k in self.attributes("machine"):
            if depths[k - 2] == level:
                found.append("machine")  # the old single-machine form
        return sorted(set(found))


def antiquotation_end(text: str, i: int) -> int:
    """The index after the `${...}` starting at i: its braces counted outside the strings and
    comments of the Nix expression inside, which may hold braces of their own."""
    depth, j = 0, i + 1
    while j < len(text):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        elif c == '"':
            j = string_end(text, j + 1, '"')
            continue
        elif text.startswith("''", j):
            j = string_end(text, j + 2, "''")
            continue
        elif c == "#":
            j = text.find("\n", j)
            if j < 0:
                break
        j += 1
    raise NixError("a ${ antiquotation does not end")


def string_end(text: str, i: int, quote: str) -> int:
    """The index after a Nix string whose body starts at i (`"` or `''`), with its escapes and
    its own antiquotations."""
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
        elif quote == "''" and (text.startswith("'''", i) or text.startswith("''$", i)):
            i += 3
        elif quote == "''" and text.startswith("''\\", i):
            i += 4
        elif text.startswith(quote, i):
            return i + len(quote)
        elif text.startswith("${", i):
            i = antiquotation_end(text, i)
        else:
            i += 1
    raise NixError(f"a {quote}string does not end")


def hide_antiquotations(script: str, stem: str = "attest_nix_") -> tuple[str, dict[str, str]]:
    """Replaces each `${...}` (evaluated by Nix before the driver sees the script) with an
    identifier Python can parse, to be put back in the C++: `<stem><n>_`."""
    out, table, i = [], {}, 0
    while True:
        j = script.find("${", i)
        if j < 0:
            out.append(script[i:])
            break
        k = antiquotation_end(script, j)
        key = f"{stem}{len(table)}_"
        table[key] = script[j:k]
        out.append(script[i:j] + key)
        i = k
    return "".join(out), table


def show_antiquotations(cpp: str, table: dict[str, str]) -> str:
    """`cpp` with each antiquotation placeholder back as the Nix source it stands for."""
    return expand_placeholders(cpp, table)


@dataclass
class NixFragment:
    """An antiquotation that writes Python under a condition, `${lib.optionalString COND ''...''}`:
    the Nix before the string, the Python in it (antiquotations hidden as in the script), what
    comes after the string, and where the Python starts (lines after the antiquotation's)."""
    before: str
    python: str
    table: dict[str, str]
    after: str
    first_line: int
    escape: object = None


def nix_fragment(source: str, key: str) -> NixFragment | None:
    """`source` (`${...}`, the antiquotation hidden as `key`) as a NixFragment when it is
    `lib.optionalString COND STRING` (or `optionalString`, `lib.strings.optionalString`) with the
    string last."""
    inner = source[2:-1]
    try:
        tokens = NixText(inner).tokens
    except NixError:
        return None
    i = 0
    while i < len(tokens) and (tokens[i][:2] in (("id", "lib"), ("id", "strings"), ("op", "."))):
        i += 1
    if i >= len(tokens) or tokens[i][:2] != ("id", "optionalString"):
        return None
    if len(tokens) < i + 3 or tokens[-1][0] != "string":  # a condition, then the string
        return None
    start = tokens[-1][2]
    script, table = hide_antiquotations(tokens[-1][1], stem=key)
    rest_of_line = inner[start + 2:].split("\n", 1)[0]
    opens_line = inner.startswith("''", start) and rest_of_line.strip() == ""
    return NixFragment(before="${" + inner[:start], python=script, table=table, after="}",
                       first_line=inner[:start].count("\n") + (1 if opens_line else 0),
                       escape=lambda cpp: nix_escaped(cpp.replace(LITERAL_DOLLAR, "$")))


@dataclass
class Test:
    script: str
    nodes: list[str]
    name: str | None
    antiquotations: dict[str, str]
    first_line: int = 1  # the file's line of the script's first line
    scripts: int = 1  # how many testScripts the file has
    nix: bool = False

    def file_line(self, line: int) -> int:
        """The file's line for a line of the script as Python read it: each antiquotation is
        one name there, however many lines its Nix source has."""
        out = line + self.first_line - 1
        hidden = self.script.split("\n")
        for key, value in self.antiquotations.items():
            at = next((i for i, text in enumerate(hidden) if key in text), None)
            if at is not None and at + 1 < line:
                out += value.count("\n")
        return out


def read_test(path: str, index: int) -> Test:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".nix"):
        return Test(text, [], None, {})
    nix = NixText(text)
    scripts = nix.test_scripts()
    if not 1 <= index <= len(scripts):
        raise NixError(f"there is no testScript number {index}: the file has {len(scripts)}")
    script, line = scripts[index - 1]
    hidden, table = hide_antiquotations(script)
    return Test(hidden, nix.nodes(), nix.name(), table, line, len(scripts), True)


def nix_escaped(cpp: str) -> str:
    """C++ for a Nix '' string: the text '' and ${ escaped as Nix wants them."""
    return cpp.replace("''", "'''").replace("${", "''${")


def report(path: str, tr: Translator, out) -> None:
    r = tr.report
    share = 100.0 * r.translated / r.total if r.total else 100.0
    print(f"attest port: {path}: {r.translated} of {r.total} statements translated "
          f"({share:.0f} %); {len(r.left)} left for a person", file=out)
    for left in r.left:
        print(f"  line {left.line}: {left.source}\n    {left.why}", file=out)
    if r.needs_json:
        print("  json.loads: the C++ needs #include <attest/json.hpp> before the test (the "
              "prelude: --spec writes it; attest.testPrelude with Nix) and nlohmann_json",
              file=out)


def write_atomically(path: str, text: str) -> None:
    """Writes a regular file whole or not at all; anything else (/dev/null, a pipe) directly,
    since replacing it would put a file in its place."""
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".attest-port-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="attest port", usage=USAGE, description=DESCRIPTION)
    p.add_argument("file", metavar="FILE", help="a NixOS test (.nix) or a Python testScript")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the C++ statements to FILE instead of standard output")
    p.add_argument("--node", action="append", default=[], metavar="NAME",
                   help="a machine of the test (repeat; added to a .nix file's nodes; "
                        "default for a Python script: machine)")
    p.add_argument("--name", help="the test's name in --spec (default: the .nix name, else "
                                  "FILE's name)")
    p.add_argument("--spec", metavar="FILE",
                   help="also write FILE, a test for `attest gen --spec`: name, nodes, the C++ "
                        "and the prelude it needs")
    p.add_argument("-q", "--quiet", action="store_true", help="no report on standard error")
    p.add_argument("--script", type=int, default=1, metavar="N",
                   help="which testScript of a .nix file that defines several (default: 1)")
    a = p.parse_args(argv)
    try:
        test = read_test(a.file, a.script)
    except OSError as e:
        print(f"attest port: cannot read {a.file}: {e.strerror}", file=sys.stderr)
        return 1
    except (NixError, UnicodeDecodeError) as e:
        print(f"attest port: {a.file}: {e}", file=sys.stderr)
        return 1
    nodes = sorted(set(test.nodes + a.node)) or ["machine"]
    fragments = (lambda key: nix_fragment(test.antiquotations[key], key)) if test.nix else None
    tr = Translator(nodes, file_line=test.file_line, antiquotations=test.antiquotations,
                    nix_fragment=fragments)
    try:
        cpp = tr.translate(test.script)
    except SyntaxError as e:
        print(f"attest port: {a.file}: the testScript is not valid Python: line "
              f"{test.file_line(e.lineno or 1)}: {e.msg}", file=sys.stderr)
        return 1
    # For a .nix file the output goes back into its testScript: text escaped for a '' string,
    # the antiquotations as they were. The spec holds the C++ itself.
    cpp = cpp.replace(LITERAL_DOLLAR, "$")
    shown = show_antiquotations(nix_escaped(cpp) if test.nix else cpp, test.antiquotations)
    if a.output:
        write_atomically(a.output, shown)
    else:
        sys.stdout.write(shown)
    if a.spec:
        stem = os.path.splitext(os.path.basename(a.file))[0]
        prelude = "#include \"attest/json.hpp\"\n" if tr.report.needs_json else ""
        spec = {"name": a.name or test.name or stem, "nodes": nodes,
                "script": show_antiquotations(cpp, test.antiquotations),
                "script_name": os.path.basename(a.file) + " (ported)", "prelude": prelude}
        write_atomically(a.spec, json.dumps(spec, indent=2) + "\n")
    if not a.quiet:
        report(a.file, tr, sys.stderr)
        if test.scripts > 1:
            print(f"  the file has {test.scripts} testScripts; this is number {a.script} "
                  f"(--script N for another)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
