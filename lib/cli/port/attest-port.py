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

from attest_translate import Translator

USAGE = "attest port [options] FILE"
DESCRIPTION = """\
Translates a NixOS test's Python testScript into C++ statements for attest: FILE is a NixOS test
(.nix: its testScript, also when it is a function of nodes, and its node names) or a Python
testScript. Python is parsed with CPython's own parser. A statement that cannot be translated is
kept as a comment with its line, followed by a call that fails the test there, so that the output
always compiles; the report on standard error lists each one and why.
"""


class NixError(Exception):
    pass


class NixText:
    """Just enough of the Nix language to find a test's testScript string, name and nodes:
    comments, strings ("..." and ''...'' with their escapes) and braces."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = list(self.lex())

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
                value, i = self.simple_string(i + 1)
                yield ("string", value, i)
            elif t.startswith("''", i):
                value, i = self.indented_string(i + 2)
                yield ("string", value, i)
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
        depth, j = 0, i + 1
        while j < len(self.text):
            if self.text[j] == "{":
                depth += 1
            elif self.text[j] == "}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise NixError("a ${ antiquotation does not end")

    def indented_string(self, i):
        t, out = self.text, []
        while i < len(t):
            if t.startswith("'''", i):
                out.append("''")
                i += 3
            elif t.startswith("''$", i):
                out.append("$")
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

    def test_script(self) -> str:
        toks = self.tokens
        for k in range(len(toks) - 2):
            if toks[k][:2] == ("id", "testScript") and toks[k + 1][:2] == ("op", "="):
                # `testScript = ''...''`, also behind `{ nodes, ... }:` and `let ... in`: the
                # last string at the attribute's own level before its closing `;`.
                depth, lets, found = 0, 0, None
                for kind, value, _ in toks[k + 2:]:
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
                        found = value
                if found is not None:
                    return found
                raise NixError("testScript is not a string literal (or a function of nodes "
                               "returning one)")
        raise NixError("no testScript found")

    def name(self) -> str | None:
        toks = self.tokens
        for k in range(len(toks) - 2):
            if toks[k][:2] == ("id", "name") and toks[k + 1][:2] == ("op", "=") and \
                    toks[k + 2][0] == "string":
                return toks[k + 2][1]
        return None

    def nodes(self) -> list[str]:
        toks, found = self.tokens, []
        for k in range(len(toks) - 2):
            if toks[k][:2] == ("id", "nodes") and toks[k + 1][:2] == ("op", "="):
                if toks[k + 2][:2] != ("op", "{"):
                    continue
                depth, j = 0, k + 2
                at_key = True
                while j < len(toks):
                    kind, value, _ = toks[j]
                    if (kind, value) == ("op", "{"):
                        depth += 1
                    elif (kind, value) == ("op", "}"):
                        depth -= 1
                        if depth == 0:
                            break
                    elif depth == 1 and at_key and kind in ("id", "string"):
                        found.append(value)
                        at_key = False
                    elif depth == 1 and (kind, value) == ("op", ";"):
                        at_key = True
                    j += 1
            elif toks[k][:2] == ("id", "nodes") and toks[k + 1][:2] == ("op", ".") and \
                    toks[k + 2][0] in ("id", "string"):
                # `nodes.server = ...` at the top; not `nodes.server.config...` in the script
                # (the script is a string, so it has no tokens here).
                found.append(toks[k + 2][1])
            elif toks[k][:2] == ("id", "machine") and toks[k + 1][:2] == ("op", "=") and \
                    toks[k + 2][:2] == ("op", "{"):
                found.append("machine")
        return sorted(set(found))




def hide_antiquotations(script: str) -> tuple[str, dict[str, str]]:
    """Replaces each `${...}` (evaluated by Nix before the driver sees the script) with an
    identifier Python can parse, to be put back in the C++."""
    out, table, i = [], {}, 0
    while True:
        j = script.find("${", i)
        if j < 0:
            out.append(script[i:])
            break
        depth, k = 0, j + 1
        while k < len(script):
            if script[k] == "{":
                depth += 1
            elif script[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        key = f"attest_nix_{len(table)}"
        table[key] = script[j:k + 1]
        out.append(script[i:j] + key)
        i = k + 1
    return "".join(out), table


def show_antiquotations(cpp: str, table: dict[str, str]) -> str:
    for key, value in table.items():
        cpp = cpp.replace(key, value)
    return cpp


def read_test(path: str) -> tuple[str, list[str], str | None, dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".nix"):
        return text, [], None, {}
    nix = NixText(text)
    script, table = hide_antiquotations(nix.test_script())
    return script, nix.nodes(), nix.name(), table


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
    a = p.parse_args(argv)
    try:
        script, nodes, name, table = read_test(a.file)
    except OSError as e:
        print(f"attest port: cannot read {a.file}: {e.strerror}", file=sys.stderr)
        return 1
    except (NixError, UnicodeDecodeError) as e:
        print(f"attest port: {a.file}: {e}", file=sys.stderr)
        return 1
    nodes = sorted(set(nodes + a.node)) or ["machine"]
    tr = Translator(nodes)
    try:
        cpp = tr.translate(script)
    except SyntaxError as e:
        print(f"attest port: {a.file}: the testScript is not valid Python: line {e.lineno}: "
              f"{e.msg}", file=sys.stderr)
        return 1
    cpp = show_antiquotations(cpp, table)
    if a.output:
        write_atomically(a.output, cpp)
    else:
        sys.stdout.write(cpp)
    if a.spec:
        stem = os.path.splitext(os.path.basename(a.file))[0]
        prelude = ""
        if tr.report.needs_json:
            prelude += "#include \"attest/json.hpp\"\n"
        spec = {"name": a.name or name or stem, "nodes": nodes, "script": cpp,
                "script_name": os.path.basename(a.file) + " (ported)", "prelude": prelude}
        write_atomically(a.spec, json.dumps(spec, indent=2) + "\n")
    if not a.quiet:
        report(a.file, tr, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
