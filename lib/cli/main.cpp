// The `attest` command-line tool: a table of subcommands over lib/cli. Today only `gen` (the
// testScript → C++ generator the Nix integration calls); `run` and `shell` (issue 9) are meant to
// join the table. Exit status: 0 success, 1 error, 2 usage error.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "attest/version.hpp"
#include "cli/gen.hpp"

namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string_view>;

constexpr int exit_error = 1;
constexpr int exit_usage = 2;

/// A bad command line: reported with a pointer to --help, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::string_view gen_usage = R"(usage: attest gen [options] SCRIPT
       attest gen --spec SPEC.json [-o FILE]

Wraps SCRIPT (C++ statements: the body of a test, '-' for standard input) into the C++ source of
a test program: one ATTEST_TEST with an attest::Machine& named after each node. Compile it against
attest and link it with attest_main and gmock.

Options:
  --name NAME          the test's name (default: SCRIPT's file name without its extension)
  --node NAME          a machine of the test; repeat for each machine (at least one)
  --prelude FILE       C++ placed before the test, at namespace scope (includes, helpers)
  --script-name LABEL  the file name errors give for script lines (default: testScript)
  --spec SPEC.json     take the test from JSON: {"name", "nodes", "script", "script_name",
                       "prelude"}; not combined with the options above or SCRIPT
  -o, --output FILE    write FILE (atomically) instead of standard output
  -h, --help           show this help
)";

std::string read_file(std::string_view path) {
  if (path == "-") return {std::istreambuf_iterator<char>(std::cin), {}};
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw std::runtime_error(fmt::format("cannot read {}: it is a directory", path));
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::string text{std::istreambuf_iterator<char>(in), {}};
  if (in.bad()) throw std::runtime_error(fmt::format("cannot read {}: read error", path));
  return text;
}

/// Writes `text` to a temporary in the target's directory and renames it over the target, so an
/// interrupted run never leaves a half-written source that a build would then try to compile.
void write_file_atomically(const fs::path& target, std::string_view text) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0)
    throw std::runtime_error(
        fmt::format("cannot write {}: {}", target.string(), std::strerror(errno)));
  // mkstemp creates the file 0600; give it the mode an ordinary create would (0666 less umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  bool ok = ::fchmod(fd, 0666 & ~mask) == 0;
  for (std::size_t done = 0; ok && done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::rename(temp.c_str(), target.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(temp.c_str());
    throw std::runtime_error(
        fmt::format("cannot write {}: {}", target.string(), std::strerror(err)));
  }
}

int run_gen(const Args& args) {
  attest::cli::GenSpec spec;
  std::optional<std::string> name, prelude_file, script_name, spec_file, output, script_file;
  std::vector<std::string> nodes;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << gen_usage;
      return 0;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (script_file) throw UsageError(fmt::format("unexpected argument '{}'", arg));
      script_file = std::string(arg);
      continue;
    }
    // Both `--opt VALUE` and `--opt=VALUE`.
    std::string_view option = arg;
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      option = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const auto value = [&]() -> std::string {
      if (inline_value) return std::string(*inline_value);
      if (++i == args.size()) throw UsageError(fmt::format("option {} needs a value", option));
      return std::string(args[i]);
    };
    if (option == "--name") {
      name = value();
    } else if (option == "--node") {
      nodes.push_back(value());
    } else if (option == "--prelude") {
      prelude_file = value();
    } else if (option == "--script-name") {
      script_name = value();
    } else if (option == "--spec") {
      spec_file = value();
    } else if (option == "-o" || option == "--output") {
      output = value();
    } else {
      throw UsageError(fmt::format("unknown option '{}'", arg));
    }
  }

  if (spec_file) {
    if (name || !nodes.empty() || prelude_file || script_name || script_file)
      throw UsageError(
          "--spec takes the whole test from its JSON file; it cannot be combined with --name, "
          "--node, --prelude, --script-name or SCRIPT");
    spec = attest::cli::spec_from_json(read_file(*spec_file), *spec_file);
  } else {
    if (!script_file) throw UsageError("missing SCRIPT (the file with the test's statements)");
    if (nodes.empty()) throw UsageError("missing --node: a test needs at least one machine");
    if (!name && *script_file == "-") throw UsageError("--name is needed when SCRIPT is '-'");
    spec.name = name ? *name : fs::path(*script_file).stem().string();
    spec.nodes = std::move(nodes);
    spec.script = read_file(*script_file);
    if (script_name) spec.script_name = *script_name;
    if (prelude_file) spec.prelude = read_file(*prelude_file);
  }

  const bool to_file = output && *output != "-";
  if (to_file) spec.output_name = fs::path(*output).filename().string();
  const std::string source = attest::cli::generate_test(spec);
  if (to_file) {
    write_file_atomically(*output, source);
  } else if (!(std::cout << source << std::flush)) {
    throw std::runtime_error("cannot write to standard output");
  }
  return 0;
}

struct Subcommand {
  std::string_view name;
  std::string_view summary;
  int (*run)(const Args& args);
};

constexpr Subcommand subcommands[] = {
    {"gen", "generate a test program's C++ source from a testScript", run_gen},
};

void print_usage(std::ostream& out) {
  out << "usage: attest COMMAND [options]\n       attest --help | --version\n\nCommands:\n";
  for (const auto& s : subcommands) out << fmt::format("  {:<8}{}\n", s.name, s.summary);
  out << "\nRun 'attest COMMAND --help' for a command's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
  const Args args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(std::cerr);
    return exit_usage;
  }
  if (args[0] == "-h" || args[0] == "--help") {
    print_usage(std::cout);
    return 0;
  }
  if (args[0] == "--version") {
    std::cout << "attest " << attest::version << '\n';
    return 0;
  }
  for (const auto& s : subcommands) {
    if (s.name != args[0]) continue;
    try {
      return s.run(Args(args.begin() + 1, args.end()));
    } catch (const UsageError& e) {
      std::cerr << fmt::format("attest {}: {}\nTry 'attest {} --help'.\n", s.name, e.what(),
                               s.name);
      return exit_usage;
    } catch (const std::exception& e) {
      std::cerr << fmt::format("attest {}: {}\n", s.name, e.what());
      return exit_error;
    }
  }
  std::cerr << fmt::format("attest: unknown {} '{}'\nTry 'attest --help'.\n",
                           args[0].starts_with("-") ? "option" : "command", args[0]);
  return exit_usage;
}
