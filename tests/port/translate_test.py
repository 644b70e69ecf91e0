"""Unit tests of attest port's translation (lib/cli/port/attest_translate.py): for each construct
docs/porting.md lists, the Python in and the C++ out; and the report's counts. Run by meson with
PYTHONPATH pointing at lib/cli/port."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import attest_translate

HEADER = "using namespace attest::script;\n"


def port(source, nodes=("machine",)):
    tr = attest_translate.Translator(list(nodes))
    out = tr.translate(source)
    assert out.startswith(HEADER)
    return out[len(HEADER):], tr.report


def body(source, nodes=("machine",)):
    return port(source, nodes)[0]


class MachineCalls(unittest.TestCase):
    def test_keyword_arguments_become_options(self):
        self.assertEqual(body('machine.wait_for_unit("sshd", timeout=60)\n'),
                         'machine.wait_for_unit("sshd", {.timeout = 60s});\n')
        self.assertEqual(body('machine.wait_for_open_port(80, addr="::1", timeout=1.5)\n'),
                         'machine.wait_for_open_port(80, {.addr = "::1", .timeout = 1500ms});\n')
        self.assertEqual(body('machine.wait_for_unit("x", "alice", timeout=5)\n'),
                         'machine.wait_for_unit("x", {.user = "alice", .timeout = 5s});\n')
        self.assertEqual(body('machine.execute("x", check_return=False)\n'),
                         '(void)machine.execute("x", {.check_return = false});\n')
        self.assertEqual(body('machine.execute("x", check_output=False, timeout=3)\n'),
                         '(void)machine.execute("x", {.timeout = 3s, .check_output = false});\n')
        self.assertEqual(body('machine.start(allow_reboot=True)\n'),
                         'machine.start({.allow_reboot = true});\n')

    def test_calls_without_arguments(self):
        self.assertEqual(body('machine.switch_root()\nmachine.reboot()\n'),
                         'machine.switch_root();\nmachine.reboot();\n')

    def test_positional_durations_and_skipped_defaults(self):
        self.assertEqual(body('machine.wait_for_file("/x", timeout=30)\n'),
                         'machine.wait_for_file("/x", 30s);\n')
        self.assertEqual(body('machine.wait_for_open_unix_socket("/s", timeout=3)\n'),
                         'machine.wait_for_open_unix_socket("/s", false, 3s);\n')
        self.assertEqual(body('machine.sleep(2)\n'), 'machine.sleep(2s);\n')
        self.assertEqual(body('machine.send_key("alt-f2", delay=0.1, log=False)\n'),
                         'machine.send_key("alt-f2", 100ms);\n')
        self.assertEqual(body('machine.succeed("x", timeout=None)\n'),
                         'machine.succeed("x", {.timeout = std::chrono::milliseconds::max()});\n')

    def test_several_commands(self):
        self.assertEqual(body('machine.succeed("a", "b")\n'), 'machine.succeed("a", "b");\n')
        self.assertEqual(body('machine.fail("a", "b", timeout=3)\n'),
                         '(machine.fail("a", {.timeout = 3s}) + machine.fail("b", '
                         '{.timeout = 3s}));\n')

    def test_execute_results(self):
        self.assertEqual(body('status, out = machine.execute("x")\nprint(status, out)\n'),
                         'auto [status, out] = machine.execute("x");\n'
                         'attest::log(format("{} {}", status, out));\n')
        self.assertEqual(body('o = machine.execute("x")[1]\n'),
                         '[[maybe_unused]] auto o = machine.execute("x").output;\n')

    def test_nodes_and_machines(self):
        self.assertEqual(body('machine.succeed("true")\n', nodes=("server",)),
                         'server.succeed("true");\n')
        self.assertEqual(body('web_proxy.block()\n', nodes=("web-proxy", "b")),
                         'web_proxy.block();\n')
        self.assertEqual(body('start_all()\njoin_all()\n'), 'start_all();\njoin_all();\n')
        self.assertIn('for (attest::Machine& m : machines) {\n  m.shutdown();\n}',
                      body('for m in machines:\n    m.shutdown()\n'))
        self.assertIn('std::vector<std::reference_wrapper<attest::Machine>>{a, b}',
                      body('for m in [a, b]:\n    m.crash()\n', nodes=("a", "b")))
        self.assertEqual(body('print(machine.name)\n'),
                         'attest::log(format("{}", std::string(machine.name())));\n')

    def test_unknown_keyword_and_method_are_left(self):
        out, report = port('machine.succeed("x", bogus=1)\n')
        self.assertIn('// machine.succeed("x", bogus=1)\n', out)
        self.assertIn('not_ported(1, R"(machine.succeed("x", bogus=1))", '
                      '"the keyword argument bogus= of succeed()");', out)
        self.assertEqual((report.translated, len(report.left)), (0, 1))
        out, _ = port('machine.frobnicate()\n')
        self.assertIn("not in attest's Machine API", out)


class Statements(unittest.TestCase):
    def test_subtest_lambda_and_flat_forms(self):
        self.assertEqual(body('with subtest("s"):\n    machine.succeed("x")\n'),
                         'subtest("s", [&] {\n  machine.succeed("x");\n});\n')
        # What a subtest sets and a later statement reads stays in scope.
        self.assertEqual(body('with subtest("s"):\n    x = machine.succeed("x")\nprint(x)\n'),
                         'auto subtest_1 = begin_subtest("s");\n'
                         'auto x = machine.succeed("x");\n'
                         'subtest_1.end();\n'
                         'attest::log(x);\n')

    def test_asserts(self):
        self.assertEqual(body('assert a == 1\n'), 'ASSERT_EQ(a, 1);\n')
        self.assertEqual(body('assert "x" in out\n'), 'ASSERT_TRUE(contains(out, "x"));\n')
        self.assertEqual(body('assert "x" not in out\n'), 'ASSERT_FALSE(contains(out, "x"));\n')
        self.assertEqual(body('assert n > 2, "few"\n'), 'ASSERT_GT(n, 2) << "few";\n')
        self.assertEqual(body('assert 1 < n <= 3\n'), 'ASSERT_TRUE(((1 < n) && (n <= 3)));\n')
        self.assertEqual(body('assert out\n'), 'ASSERT_TRUE(truthy(out));\n')
        self.assertEqual(body('assert not out\n'), 'ASSERT_FALSE(truthy(out));\n')
        self.assertEqual(body('assert m is not None\n'), 'ASSERT_TRUE(truthy(m));\n')
        self.assertEqual(body('t.assertEqual(a, 2)\nt.assertIn("x", out)\n'),
                         'ASSERT_EQ(a, 2);\nASSERT_TRUE(contains(out, "x"));\n')

    def test_loops_and_branches(self):
        self.assertEqual(body('for u in ["a", "b"]:\n    machine.succeed(u)\n'),
                         'for (const auto& u : std::vector<std::string>{"a", "b"}) {\n'
                         '  machine.succeed(u);\n}\n')
        self.assertIn('for (long i = 0; i < 3; ++i) {', body('for i in range(3):\n    pass\n'))
        self.assertIn('for (long i = -1; const auto& l : splitlines(s)) {\n  ++i;',
                      body('for i, l in enumerate(s.splitlines()):\n    print(i, l)\n'))
        out = body('if a == 1:\n    x()\nelif b:\n    y()\nelse:\n    z()\n')
        self.assertEqual(out, 'if (a == 1) {\n  x();\n} else if (truthy(b)) {\n  y();\n'
                              '} else {\n  z();\n}\n')
        self.assertIn('while (n < 3) {\n  n += 1;\n  if (n == 2) {\n    continue;',
                      body('n = 0\nwhile n < 3:\n    n += 1\n    if n == 2:\n        continue\n'))

    def test_variables_set_in_a_block_are_declared_before_it(self):
        self.assertEqual(body('if a:\n    x = "1"\nelse:\n    x = "2"\nprint(x)\n'),
                         'std::string x{};\nif (truthy(a)) {\n  x = "1";\n} else {\n'
                         '  x = "2";\n}\nattest::log(x);\n')
        out, report = port('if a:\n    x = f(1)\nprint(x)\n')
        self.assertIn("its type cannot be told", report.left[0].why)
        self.assertIn('attest::script::Unported x(1, "x");', out)

    def test_asserts_in_lambdas_end_the_test(self):
        out = body('def f(x):\n    assert x == 1, "one"\n    return x\nf(1)\n')
        self.assertIn('  ATTEST_REQUIRE(EXPECT_EQ(x, 1) << "one");\n  return x;', out)
        out = body('with subtest("s"):\n    assert "a" in machine.succeed("x")\n')
        self.assertIn('  ATTEST_REQUIRE(EXPECT_TRUE(contains(machine.succeed("x"), "a")));', out)

    def test_functions_and_lambdas(self):
        self.assertEqual(body('def f(port):\n    machine.succeed(f"nc -z x {port}")\nf(80)\n'),
                         'auto f = [&]([[maybe_unused]] auto port) {\n'
                         '  machine.succeed(format("nc -z x {}", port));\n};\nf(80);\n')
        self.assertEqual(body('retry(lambda last_try: True, timeout=30)\n'),
                         'retry([&]([[maybe_unused]] auto last_try) { return true; }, 30s);\n')

    def test_polling_condition_nested_and_sleep(self):
        out = body('@polling_condition(seconds_interval=10)\ndef up():\n    machine.succeed("x")\n'
                   'with up:\n    machine.succeed("y")\n')
        self.assertIn('auto up = [&]() -> bool {\n  machine.succeed("x");\n  return true;\n};', out)
        self.assertIn('auto up_1 = polling_condition("up", up, 10s);', out)
        self.assertIn('auto block_1 = machine.nested("n");',
                      body('with machine.nested("n"):\n    pass\n'))
        self.assertEqual(body('import time\ntime.sleep(0.5)\n'),
                         'std::this_thread::sleep_for(500ms);\n')

    def test_raise_and_names_cpp_reserves(self):
        self.assertEqual(body('raise Exception("bad")\n'),
                         'throw std::runtime_error("bad");\n')
        self.assertEqual(body('lower = "A".lower()\nprint(lower)\n'),
                         'auto lower_ = lower("A");\nattest::log(lower_);\n')


class PythonsTypes(unittest.TestCase):
    """What Python leaves implicit and C++ must say."""

    def test_tuple_assignments_and_none(self):
        self.assertEqual(body('a, b = "x", 1\nprint(a, b)\n'),
                         'auto a = std::string("x");\nauto b = 1;\n'
                         'attest::log(format("{} {}", a, b));\n')
        out = body('x = None\nif c:\n    x = machine.succeed("id")\nprint(x)\n')
        self.assertTrue(out.startswith('std::string x{};  // None\n'), out)
        _, report = port('x = None\nprint(x)\n')
        self.assertIn("None has no C++ type", report.left[0].why)
        # A later tuple or loop sets it too: its type there cannot be told.
        _, report = port('x = None\nx, y = f()\nprint(x, y)\n')
        self.assertIn("None has no C++ type", report.left[0].why)
        # Inside a block, a None among typed values tells nothing either way.
        out = body('if c:\n    x = None\nelse:\n    x = "a"\nprint(x)\n')
        self.assertTrue(out.startswith('std::string x{};\n'), out)

    def test_lists_of_machines_and_machine_parameters(self):
        out = body('clients = [a, b]\nfor c in clients:\n    c.succeed("x")\n', nodes=("a", "b"))
        self.assertIn('std::vector<std::reference_wrapper<attest::Machine>> clients{a, b};', out)
        self.assertIn('for (attest::Machine& c : clients) {', out)
        out = body('def up(m, unit):\n    m.wait_for_unit(unit)\nup(a, "x")\n', nodes=("a", "b"))
        self.assertIn('[&]([[maybe_unused]] auto& m, [[maybe_unused]] auto unit)', out)
        self.assertIn('up(a, std::string("x"));', out)
        _, report = port('xs = [f(1), machine.succeed("x")]\n')
        self.assertIn("types differ or cannot be told", report.left[0].why)

    def test_defaults_and_keyword_arguments_of_local_functions(self):
        out = body('def f(a, b="x", c=2):\n    return a\nf(1, c=3)\nf(0)\n')
        self.assertIn('f(1, std::string("x"), 3);\nf(0, std::string("x"), 2);', out)
        _, report = port('def f(a, b=1):\n    return a\nf(1, d=3)\n')
        self.assertIn("the keyword argument d= of f()", report.left[0].why)

    def test_a_rebound_node_is_a_variable_of_its_own(self):
        out = body('machine = b\nmachine.succeed("x")\n', nodes=("machine", "b"))
        self.assertEqual(out, 'attest::Machine& machine_ = b;\nmachine_.succeed("x");\n')

    def test_the_return_type_of_a_local_function(self):
        out = body('def ip():\n    return machine.succeed("ip")\nfor i in range(2):\n'
                   '    x = ip()\nprint(x)\n')
        self.assertIn('std::string x{};', out)


class Expressions(unittest.TestCase):
    def test_strings(self):
        self.assertEqual(body('x = f"a {b} c"\n'),
                         '[[maybe_unused]] auto x = format("a {} c", b);\n')
        self.assertEqual(body('x = "a %s %d%%" % (b, c)\n'),
                         '[[maybe_unused]] auto x = format("a {} {}%", b, c);\n')
        self.assertEqual(body('x = "{}-{}".format(a, b)\n'),
                         '[[maybe_unused]] auto x = format("{}-{}", a, b);\n')
        self.assertEqual(body('x = r"C:\\dir"\n'),
                         '[[maybe_unused]] auto x = std::string(R"(C:\\dir)");\n')
        self.assertEqual(body('x = """\na\n"""\n'),
                         '[[maybe_unused]] auto x = std::string(R"(\na\n)");\n')
        self.assertEqual(body('x = "a\\n"\n'), '[[maybe_unused]] auto x = std::string("a\\n");\n')
        self.assertEqual(body('x = "a" + y\n'),
                         '[[maybe_unused]] auto x = (std::string("a") + str(y));\n')
        _, report = port('x = f"{y:.2f}"\n')
        self.assertIn("format specification", report.left[0].why)

    def test_string_methods_slices_len(self):
        self.assertEqual(body('y = s.strip().splitlines()[0][:5]\n'),
                         '[[maybe_unused]] auto y = slice(at(splitlines(strip(s)), 0), '
                         'std::nullopt, 5);\n')
        self.assertEqual(body('y = s.split(":")[-1]\n'),
                         '[[maybe_unused]] auto y = at(split(s, ":"), -1);\n')
        self.assertEqual(body('n = len(s.split())\n'),
                         '[[maybe_unused]] auto n = len(split(s));\n')
        self.assertEqual(body('y = ", ".join(xs)\n'), '[[maybe_unused]] auto y = join(xs, ", ");\n')
        self.assertEqual(body('n = int(machine.succeed("x"))\n'),
                         '[[maybe_unused]] auto n = to_int(machine.succeed("x"));\n')

    def test_json_and_regex(self):
        out, report = port('import json\nv = json.loads(machine.succeed("x"))["a"]\n')
        self.assertEqual(out, '[[maybe_unused]] auto v = at(json_loads(machine.succeed("x")), "a");\n')
        self.assertTrue(report.needs_json)
        self.assertEqual(body('import re\nm = re.search(r"v(?P<n>\\d+)", s)\nprint(m.group("n"))\n'),
                         'auto m = re_search(R"(v(?P<n>\\d+))", s);\n'
                         'attest::log(m->group("n"));\n')
        self.assertIn('re_search("a.b", s, re::dotall | re::multiline)',
                      body('import re\nre.search("a.b", s, flags=re.DOTALL | re.M)\n'))
        self.assertIn('auto t = monotonic();', body('import time\nt = time.monotonic()\nprint(t)\n'))

    def test_comprehension(self):
        self.assertEqual(body('xs = [l.strip() for l in s.splitlines() if l]\n'),
                         '[[maybe_unused]] auto xs = collect(splitlines(s), [&](const auto& l) { '
                         'return strip(l); }, [&](const auto& l) { return truthy(l); });\n')


class Report(unittest.TestCase):
    def test_counts(self):
        _, report = port('machine.succeed("a")\nx = {1, 2}\nwith subtest("s"):\n'
                         '    machine.succeed("b")\n    y = [1 for _ in z for _ in w]\n')
        # Statements: succeed, x = ..., with, succeed, y = ...; two left (a set, two loops).
        self.assertEqual(report.total, 5)
        self.assertEqual(report.translated, 3)
        self.assertEqual([left.line for left in report.left], [2, 5])


class Tool(unittest.TestCase):
    """attest-port.py itself: Nix files, antiquotations, --spec and errors."""

    def run_tool(self, name, text, *args):
        d = tempfile.mkdtemp()
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        tool = os.path.join(os.path.dirname(attest_translate.__file__), "attest-port.py")
        return subprocess.run([sys.executable, tool, path, *args], capture_output=True,
                              text=True), d

    def test_nix_file(self):
        nix = ('{ pkgs, ... }: {\n  name = "demo";\n  nodes = { server = { }; "web-proxy" = {}; };\n'
               '  testScript = { nodes, ... }: let x = 1; in \'\'\n'
               '    server.succeed("echo ${pkgs.hello}/bin/hello ''${HOME}")\n'
               '    web_proxy.wait_for_open_port(${toString 80})\n  \'\';\n}\n')
        spec = os.path.join(tempfile.mkdtemp(), "spec.json")
        r, _ = self.run_tool("demo.nix", nix, "--spec", spec)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('server.succeed("echo ${pkgs.hello}/bin/hello ${HOME}");', r.stdout)
        self.assertIn('web_proxy.wait_for_open_port(${toString 80});', r.stdout)
        self.assertIn("2 of 2 statements translated (100 %); 0 left for a person", r.stderr)
        with open(spec) as f:
            written = json.load(f)
        self.assertEqual((written["name"], written["nodes"]), ("demo", ["server", "web-proxy"]))
        self.assertEqual(written["prelude"], "")

    def test_output_to_a_device_is_written_not_replaced(self):
        r, _ = self.run_tool("x.py", "machine.succeed('true')\n", "-o", "/dev/null")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.isfile("/dev/null"))

    def test_antiquotations_escapes_and_lines(self):
        nix = ('{ ... }: {\n  name = "demo";\n  nodes = let c = { }; in { server = c; };\n'
               '  other = { name = "not-this"; };\n'
               "  testScript = ''\n"
               '    server.succeed("echo \'\'\'quoted\'\'\' \'\'${HOME}")\n'
               "    ${lib.optionalString true ''\n      server.succeed(\"x\")\n    ''}\n"
               '    server.frobnicate()\n'
               "  '';\n}\n")
        spec = os.path.join(tempfile.mkdtemp(), "spec.json")
        r, _ = self.run_tool("demo.nix", nix, "--spec", spec)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Back into a Nix '' string: text '' and ${ escaped, the antiquotation kept.
        self.assertIn("server.succeed(\"echo '''quoted''' ''${HOME}\");", r.stdout)
        # Python that Nix writes under a condition is translated inside the condition.
        self.assertIn('${lib.optionalString true \'\'\n  server.succeed("x");\n\'\'}\n',
                      r.stdout)
        self.assertNotIn("not_ported(7, ", r.stdout)
        self.assertIn("line 10: server.frobnicate()", r.stderr)
        self.assertIn("2 of 3 statements translated", r.stderr)
        with open(spec) as f:
            written = json.load(f)
        self.assertEqual((written["name"], written["nodes"]), ("demo", ["server"]))
        self.assertIn("server.succeed(\"echo ''quoted'' ${HOME}\");", written["script"])

    def test_python_nix_writes_under_a_condition(self):
        nix = ("{ lib, ... }: {\n  nodes.server = { };\n  testScript = ''\n"
               "    server.start()\n"
               "    ${lib.optionalString (!withTls && x) ''\n"
               "      server.succeed(\"echo '''q''' ${pkgs.hello} ''${HOME}\")\n"
               "      server.frobnicate()\n"
               "    ''}\n"
               "    ${lib.concatMapStrings (n: ''\n      server.succeed(\"${n}\")\n    '') ns}\n"
               "  '';\n}\n")
        r, _ = self.run_tool("cond.nix", nix)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The condition and the antiquotation inside stay, and the string is escaped for Nix
        # as it was.
        self.assertIn("${lib.optionalString (!withTls && x) ''\n"
                      "  server.succeed(\"echo '''q''' ${pkgs.hello} ''${HOME}\");\n",
                      r.stdout)
        # What is left inside names its line in the file.
        self.assertIn("not_ported(7, ", r.stdout)
        self.assertIn("line 7: server.frobnicate()", r.stderr)
        # Other statements Nix writes are left whole.
        self.assertIn("line 9: ${lib.concatMapStrings", r.stderr)
        self.assertIn("2 of 4 statements translated", r.stderr)

    def test_many_antiquotations_keep_their_own_text(self):
        lines = "".join(f'    machine.succeed("${{pkgs.p{i}}}/bin/x")\n' for i in range(12))
        r, _ = self.run_tool("many.nix", "{ pkgs, ... }: { nodes.machine = {}; testScript = ''\n"
                             + lines + "  '';\n}\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        for i in range(12):
            self.assertIn(f'machine.succeed("${{pkgs.p{i}}}/bin/x");', r.stdout)

    def test_several_test_scripts(self):
        nix = ("{ a = { testScript = ''\n  a.succeed(\"1\")\n''; };\n"
               "  b = { testScript = ''\n  b.succeed(\"2\")\n''; }; }\n")
        r, _ = self.run_tool("two.nix", nix, "--script", "2", "--node", "b")
        self.assertIn('b.succeed("2");', r.stdout)
        self.assertIn("the file has 2 testScripts; this is number 2", r.stderr)
        r, _ = self.run_tool("two.nix", nix, "--script", "3")
        self.assertEqual(r.returncode, 1)
        self.assertIn("there is no testScript number 3: the file has 2", r.stderr)

    def test_errors(self):
        r, _ = self.run_tool("bad.py", "machine.succeed(\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("the testScript is not valid Python: line 1", r.stderr)
        r, _ = self.run_tool("bad.nix", "{ name = \"x\"; }")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no testScript found", r.stderr)


if __name__ == "__main__":
    unittest.main()
