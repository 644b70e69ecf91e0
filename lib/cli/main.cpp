// The `attest` command-line tool: a table of subcommands over lib/cli: `gen` (the testScript → C++
// generator the Nix integration calls), `port` (NixOS Python testScripts → C++, in Python), `run`
// (compile and run a test script, cached) and `shell` (boot the machines and type commands,
// NixOS --interactive). Exit status: 0 success, 1 error, 2 usage error; `run` returns the test
// binary's status.
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
#include "cli/cache.hpp"
#include "cli/gen.hpp"
#include "cli/image.hpp"
#include "cli/port.hpp"
#include "cli/run.hpp"
#include "cli/shell.hpp"
#include "core/options.hpp"

namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string_view>;

constexpr int exit_error = 1;
constexpr int exit_usage = 2;

/// A bad command line: reported with a pointer to --help, exit status 2.
using attest::detail::OptionReader;
using attest::detail::UsageError;

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

constexpr std::string_view run_usage =
    R"(usage: attest run [options] CONFIG SCRIPT [-- TEST-OPTIONS...]

Compiles SCRIPT against attest and runs it on the machines of CONFIG, in one step. SCRIPT is a C++
file of ATTEST_TESTs, or a testScript (C++ statements, the body of a test) that gets a test
around it with an attest::Machine& for each machine of CONFIG, as `attest gen` writes it. The
build is cached and redone only when SCRIPT, a header it includes, the compiler or the flags
change. attest is found with `pkg-config attest-main gmock` (this tool's own installation is
searched after PKG_CONFIG_PATH). TEST-OPTIONS go to the test binary (--gtest_filter=...,
--output-dir DIR, --global-timeout SECONDS, ...). The exit status is the test binary's.

Options:
  --cxx CXX            the compiler (default: $CXX, else c++)
  --cxxflags FLAGS     extra compiler flags, e.g. "-O1 -g"
  --cache-dir DIR      where builds are cached (default: $XDG_CACHE_HOME/attest/run)
  --rebuild            compile even when the cached build is up to date
  --build-only         compile, print the test binary's path, do not run it
  --shard I/N          run part I of the tests split into N parts (GoogleTest's sharding; one
                       CI runner each, docs/scaling.md)
  -h, --help           show this help
)";

constexpr std::string_view shell_usage = R"(usage: attest shell [options] CONFIG

Boots the machines of CONFIG on demand and reads commands: a line is run with bash as root on the
current machine and its output printed; lines starting with ':' start, stop, screenshot,
snapshot and restore machines (':help' lists them). Line editing and history on a terminal;
commands are also read from a pipe. The machines are halted when the shell ends.

Options:
  --start                  boot every machine before the first prompt
  --output-dir DIR         console logs and screenshots (default: $ATTEST_OUTPUT_DIR, else
                           ./attest-out)
  --keep-machine-state     keep the machines' disks in DIR/machine-state/ for the next session
                           (NixOS --keep-vm-state)
  --history FILE           the history file (default: $XDG_STATE_HOME/attest/shell_history)
  -v, --verbose            show the driver's log (boots, commands, waits)
  -h, --help               show this help
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

/// The command line of `attest gen` as given, before it is checked.
struct GenArgs {
  std::optional<std::string> name, prelude_file, script_name, spec_file, output, script_file;
  std::vector<std::string> nodes;
  bool help = false;  ///< -h or --help was given; the arguments after it were not read
};

/// Reads the arguments of `attest gen`; an unknown option or a second SCRIPT throws UsageError.
GenArgs read_gen_args(const Args& args) {
  GenArgs a;
  OptionReader r(args);
  while (r.next()) {
    const std::string_view arg = r.arg();
    if (arg == "-h" || arg == "--help") {
      a.help = true;
      return a;
    }
    if (!r.is_option()) {
      if (a.script_file) throw UsageError(fmt::format("unexpected argument '{}'", arg));
      a.script_file = std::string(arg);
      continue;
    }
    const std::string_view option = r.option();
    if (option == "--name") {
      a.name = r.value();
    } else if (option == "--node") {
      a.nodes.push_back(r.value());
    } else if (option == "--prelude") {
      a.prelude_file = r.value();
    } else if (option == "--script-name") {
      a.script_name = r.value();
    } else if (option == "--spec") {
      a.spec_file = r.value();
    } else if (option == "-o" || option == "--output") {
      a.output = r.value();
    } else {
      throw UsageError(fmt::format("unknown option '{}'", arg));
    }
  }
  return a;
}

/// The test to generate, from the --spec file or from SCRIPT and the options (else UsageError).
attest::cli::GenSpec gen_spec(const GenArgs& a) {
  if (a.spec_file) {
    if (a.name || !a.nodes.empty() || a.prelude_file || a.script_name || a.script_file)
      throw UsageError(
          "--spec takes the whole test from its JSON file; it cannot be combined with --name, "
          "--node, --prelude, --script-name or SCRIPT");
    return attest::cli::spec_from_json(read_file(*a.spec_file), *a.spec_file);
  }
  if (!a.script_file) throw UsageError("missing SCRIPT (the file with the test's statements)");
  if (a.nodes.empty()) throw UsageError("missing --node: a test needs at least one machine");
  if (!a.name && *a.script_file == "-") throw UsageError("--name is needed when SCRIPT is '-'");
  attest::cli::GenSpec spec;
  spec.name = a.name ? *a.name : fs::path(*a.script_file).stem().string();
  spec.nodes = a.nodes;
  spec.script = read_file(*a.script_file);
  if (a.script_name) spec.script_name = *a.script_name;
  if (a.prelude_file) spec.prelude = read_file(*a.prelude_file);
  return spec;
}

int run_gen(const Args& args) {
  const GenArgs a = read_gen_args(args);
  if (a.help) {
    std::cout << gen_usage;
    return 0;
  }
  attest::cli::GenSpec spec = gen_spec(a);
  const bool to_file = a.output && *a.output != "-";
  if (to_file) spec.output_name = fs::path(*a.output).filename().string();
  const std::string source = attest::cli::generate_test(spec);
  if (to_file) {
    write_file_atomically(*a.output, source);
  } else if (!(std::cout << source << std::flush)) {
    throw std::runtime_error("cannot write to standard output");
  }
  return 0;
}

int run_run(const Args& args) {
  attest::cli::RunOptions options;
  std::vector<std::string> positional;
  OptionReader r(args);
  while (r.next()) {
    if (r.arg() == "--") {
      for (auto a : r.rest()) options.test_args.emplace_back(a);
      break;
    }
    if (!r.is_option()) {
      positional.emplace_back(r.arg());
    } else if (r.arg() == "-h" || r.arg() == "--help") {
      std::cout << run_usage;
      return 0;
    } else if (r.option() == "--cxx") {
      options.cxx = r.value();
    } else if (r.option() == "--cxxflags") {
      options.cxxflags = r.value();
    } else if (r.option() == "--cache-dir") {
      options.cache_dir = r.value();
    } else if (r.arg() == "--rebuild") {
      options.rebuild = true;
    } else if (r.arg() == "--build-only") {
      options.build_only = true;
    } else if (r.option() == "--shard") {
      try {
        options.shard = attest::cli::parse_shard(r.value());
      } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
      }
    } else {
      throw UsageError(fmt::format("unknown option '{}'", r.arg()));
    }
  }
  if (positional.size() != 2)
    throw UsageError(positional.size() < 2
                         ? "missing CONFIG or SCRIPT"
                         : fmt::format("unexpected argument '{}'", positional[2]));
  options.config = positional[0];
  options.script = positional[1];
  return attest::cli::run_script(options);
}

int run_shell(const Args& args) {
  attest::cli::ShellOptions options;
  std::optional<std::string> config;
  OptionReader r(args);
  while (r.next()) {
    if (!r.is_option()) {
      if (config) throw UsageError(fmt::format("unexpected argument '{}'", r.arg()));
      config = std::string(r.arg());
    } else if (r.arg() == "-h" || r.arg() == "--help") {
      std::cout << shell_usage;
      return 0;
    } else if (r.arg() == "--start") {
      options.start_all = true;
    } else if (r.arg() == "--keep-machine-state") {
      options.keep_machine_state = true;
    } else if (r.option() == "--output-dir") {
      options.output_dir = r.value();
    } else if (r.option() == "--history") {
      options.history = r.value();
    } else if (r.arg() == "-v" || r.arg() == "--verbose") {
      options.verbose = true;
    } else {
      throw UsageError(fmt::format("unknown option '{}'", r.arg()));
    }
  }
  if (!config) throw UsageError("missing CONFIG (the machines' configuration file)");
  options.config = *config;
  return attest::cli::run_shell(options);
}

constexpr std::string_view image_usage = R"(usage: attest image build [options] SPEC -o DIR

Builds the guest image an image spec describes (docs/images.md): a Debian root with systemd and
the test backdoor, from the spec's packages, .deb files, files, units, users and groups, packed
as a read-only erofs store with a writable overlay or as an ext4 root, with a kernel and an
initrd. Writes them to DIR with image.json, a test configuration that boots them. The image is
cached under a key of everything that makes it (the spec, its files, the package versions apt
resolves, the builder): the same key builds once. Needs no root where user namespaces are
allowed (mmdebstrap --mode=unshare).

Options:
  -o, --output DIR     where the image and image.json go
  --name NAME          the image's name and hostname (default: SPEC's file name)
  --cache-dir DIR      the image cache (default: $XDG_CACHE_HOME/attest/images)
  --rebuild            build even when the cache holds the image
  -h, --help           show this help
)";

int run_image(const Args& args) {
  attest::cli::ImageOptions options;
  std::vector<std::string> positional;
  OptionReader r(args);
  while (r.next()) {
    if (!r.is_option()) {
      positional.emplace_back(r.arg());
    } else if (r.arg() == "-h" || r.arg() == "--help") {
      std::cout << image_usage;
      return 0;
    } else if (r.option() == "-o" || r.option() == "--output") {
      options.output = r.value();
    } else if (r.option() == "--name") {
      options.name = r.value();
    } else if (r.option() == "--cache-dir") {
      options.cache_dir = r.value();
    } else if (r.arg() == "--rebuild") {
      options.rebuild = true;
    } else {
      throw UsageError(fmt::format("unknown option '{}'", r.arg()));
    }
  }
  if (positional.empty() || positional[0] != "build")
    throw UsageError("attest image has one command: attest image build SPEC -o DIR");
  if (positional.size() != 2)
    throw UsageError(positional.size() < 2
                         ? "missing SPEC (the image spec, a JSON file)"
                         : fmt::format("unexpected argument '{}'", positional[2]));
  if (options.output.empty()) throw UsageError("missing -o DIR (where the image goes)");
  options.spec = positional[1];
  return attest::cli::build_image(options);
}

constexpr std::string_view cache_usage = R"(usage: attest cache list|clear|gc [options]

The boot cache of warm starts (docs/snapshots.md): each booted machine a test run saved with
--warm, restored by later runs instead of a boot.

Commands:
  list                 the entries, most recently used first, with their machine and size
  clear                removes every entry
  gc --max-size SIZE   removes the least recently used entries until the rest take at most
                       SIZE (bytes, or with K, M, G or T: 20G)

Options:
  --dir DIR            the boot cache (default: $ATTEST_BOOT_CACHE, else
                       $XDG_CACHE_HOME/attest/boot, else ~/.cache/attest/boot)
  -h, --help           show this help
)";

int run_cache(const Args& args) {
  attest::cli::CacheOptions options;
  std::vector<std::string> positional;
  OptionReader r(args);
  while (r.next()) {
    if (!r.is_option()) {
      positional.emplace_back(r.arg());
    } else if (r.arg() == "-h" || r.arg() == "--help") {
      std::cout << cache_usage;
      return 0;
    } else if (r.option() == "--dir") {
      options.dir = r.value();
    } else if (r.option() == "--max-size") {
      try {
        options.max_bytes = attest::cli::parse_size(r.value());
      } catch (const std::invalid_argument& e) {
        throw UsageError(fmt::format("--max-size: {}", e.what()));
      }
    } else {
      throw UsageError(fmt::format("unknown option '{}'", r.arg()));
    }
  }
  if (positional.size() != 1 ||
      (positional[0] != "list" && positional[0] != "clear" && positional[0] != "gc"))
    throw UsageError(positional.size() > 1 ? fmt::format("unexpected argument '{}'", positional[1])
                                           : "expected one command: list, clear or gc");
  options.command = positional[0];
  if (options.command == "gc" && !options.max_bytes)
    throw UsageError("gc needs --max-size SIZE (what the cache may keep, e.g. 20G)");
  if (options.command != "gc" && options.max_bytes) throw UsageError("--max-size goes with gc");
  return attest::cli::run_cache(options);
}

/// `attest port`: the Python translator does its own option parsing and help.
int run_port(const Args& args) { attest::cli::exec_port(args); }

struct Subcommand {
  std::string_view name;
  std::string_view summary;
  int (*run)(const Args& args);
};

constexpr Subcommand subcommands[] = {
    {"cache", "see and bound the boot cache of warm starts (list, clear, gc)", run_cache},
    {"gen", "generate a test program's C++ source from a testScript", run_gen},
    {"image", "build a guest image from an image spec (image build SPEC -o DIR)", run_image},
    {"port", "translate a NixOS test's Python testScript into C++ statements", run_port},
    {"run", "compile a test script and run it on a configuration's machines", run_run},
    {"shell", "boot a configuration's machines and run commands on them interactively", run_shell},
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
