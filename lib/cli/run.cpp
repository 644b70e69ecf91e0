// `attest run`: a cached compile of one test script, then the test binary in the foreground.
#include "cli/run.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <stdexcept>

#include "attest/config.hpp"
#include "attest/machine.hpp"
#include "attest/version.hpp"
#include "cli/gen.hpp"
#include "process/foreground.hpp"

#ifndef ATTEST_LIBDIR
#define ATTEST_LIBDIR "lib"
#endif

namespace attest::cli {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(
        fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Writes `text` unless the file already holds it, so its time stamp only moves on a change.
void write_if_changed(const fs::path& path, const std::string& text) {
  std::error_code ec;
  if (fs::exists(path, ec) && read_text(path) == text) return;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush())
    throw std::runtime_error(
        fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
}

/// FNV-1a, 64 bits: names a cache entry, not a security boundary.
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

/// Runs a shell command line and returns its standard output; throws when it fails, with
/// `what` and `hint` (what to do when it exits non-zero; status 127 is a missing program).
std::string capture(const std::string& command, std::string_view what, std::string_view hint) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    throw std::runtime_error(fmt::format(
        "{}: `{}` exited with status {}; {}", what, command, code,
        code == 127 ? "pkg-config is not installed (Debian: apt-get install pkg-config)" : hint));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::vector<std::string> split_flags(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n') {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

/// The pkg-config directory of the attest this tool belongs to (`<prefix>/<libdir>/pkgconfig`,
/// found from the tool's own path), so a relocated or DESTDIR install finds itself.
fs::path own_pkgconfig_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return exe.parent_path().parent_path() / ATTEST_LIBDIR / "pkgconfig";
}

/// The compile and link flags for a test program: `pkg-config --cflags --libs attest-main gmock`,
/// with an rpath for each library directory outside the system's, so the binary runs as built.
std::vector<std::string> attest_flags() {
  std::string path;
  if (const char* v = std::getenv("PKG_CONFIG_PATH"); v != nullptr && *v != '\0') path = v;
  if (const auto own = own_pkgconfig_dir(); !own.empty() && fs::exists(own / "attest-main.pc")) {
    if (!path.empty()) path += ':';
    path += own.string();
  }
  const std::string command = fmt::format(
      "PKG_CONFIG_PATH={} pkg-config --cflags --libs attest-main gmock", shell_quote(path));
  std::vector<std::string> flags =
      split_flags(capture(command, "cannot find attest's and GoogleTest's compiler flags",
                          "install gmock (Debian: libgmock-dev) and add the directory of "
                          "attest-main.pc (<prefix>/lib/pkgconfig) to PKG_CONFIG_PATH"));
  std::vector<std::string> rpaths;
  for (const auto& f : flags)
    if (f.starts_with("-L") && !f.starts_with("-L/usr/lib") && !f.starts_with("-L/lib"))
      rpaths.push_back("-Wl,-rpath," + f.substr(2));
  flags.insert(flags.end(), rpaths.begin(), rpaths.end());
  return flags;
}

fs::path default_cache_dir() {
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v != nullptr && *v != '\0')
    return fs::path(v) / "attest" / "run";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return fs::path(home) / ".cache" / "attest" / "run";
  return fs::temp_directory_path() / fmt::format("attest-run-{}", ::getuid());
}

/// Whether `binary` is newer than every file its depfile names (and they all still exist).
bool up_to_date(const fs::path& binary, const fs::path& depfile) {
  std::error_code ec;
  const auto built = fs::last_write_time(binary, ec);
  if (ec || !fs::exists(depfile, ec)) return false;
  for (const auto& dep : parse_depfile(read_text(depfile))) {
    const auto t = fs::last_write_time(dep, ec);
    if (ec || t > built) return false;
  }
  return true;
}

/// Reads a positive decimal number made only of digits.
std::optional<int> positive(std::string_view text) {
  int n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || n < 1)
    return std::nullopt;
  return n;
}

/// Runs `argv` in the foreground and returns its exit status (128+N for signal N).
int spawn(const std::vector<std::string>& argv) {
  return process::run_foreground(argv, {.search_path = true, .who = "attest run"}).status;
}

/// The compiler to build with: `cxx` when given, else $CXX, else c++.
std::string compiler(const std::string& cxx) {
  if (!cxx.empty()) return cxx;
  const char* env = std::getenv("CXX");
  return env != nullptr && *env != '\0' ? env : "c++";
}

/// The cache directory of one build, named after the script and everything else it depends on.
fs::path cache_entry(const fs::path& script, const std::string& cxx,
                     const std::vector<std::string>& flags, const std::vector<std::string>& attest,
                     const fs::path& cache_dir) {
  std::string key = fmt::format("{}\n{}\n{}\n", script.string(), cxx, attest::version);
  for (const auto& f : flags) key += f + ' ';
  for (const auto& f : attest) key += f + ' ';
  const fs::path cache = cache_dir.empty() ? default_cache_dir() : cache_dir;
  fs::path entry = cache / fmt::format("{}-{:016x}", script.stem().string(), fnv1a(key));
  std::error_code ec;
  fs::create_directories(entry, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot create the build cache {}: {}; pass --cache-dir DIR (or set "
                    "XDG_CACHE_HOME) to build elsewhere",
                    entry.string(), ec.message()));
  return entry;
}

/// The file to compile: the script itself, or a test generated around a testScript in `entry`.
fs::path translation_unit(const fs::path& script, const std::string& source, const Config& config,
                          const fs::path& entry) {
  if (is_test_file(source)) return script;
  // A testScript gets the test around it, with a Machine& per machine of the configuration.
  GenSpec spec;
  spec.name = script.stem().string();
  for (const auto& m : config.machines) spec.nodes.push_back(m.name);
  spec.script = source;
  spec.script_name = script.string();
  spec.output_name = "test.cpp";
  fs::path unit = entry / "test.cpp";
  write_if_changed(unit, generate_test(spec));
  return unit;
}

/// Compiles `unit` into `entry`/test (and its depfile); `script` is the name messages give.
void compile(const fs::path& script, const std::string& cxx, const std::vector<std::string>& flags,
             const std::vector<std::string>& attest, const fs::path& unit, const fs::path& entry) {
  std::cerr << fmt::format("attest run: compiling {} ({})\n", script.string(), cxx);
  std::vector<std::string> argv = {cxx};
  argv.insert(argv.end(), flags.begin(), flags.end());
  for (const auto& f : {std::string("-MMD"), std::string("-MF"), (entry / "test.d").string(),
                        std::string("-o"), (entry / "test.tmp").string(), unit.string()})
    argv.push_back(f);
  argv.insert(argv.end(), attest.begin(), attest.end());
  const int status = spawn(argv);
  if (status == 127)
    throw std::runtime_error(fmt::format(
        "cannot run the compiler '{}' (not installed?); pass --cxx COMPILER or set CXX", cxx));
  if (status != 0)
    throw std::runtime_error(fmt::format("compiling {} failed (the compiler's exit status {})",
                                         script.string(), status));
  const fs::path binary = entry / "test";
  std::error_code ec;
  fs::rename(entry / "test.tmp", binary, ec);
  if (ec)
    throw std::runtime_error(fmt::format("cannot move the built test into the cache ({}): {}",
                                         binary.string(), ec.message()));
}

}  // namespace

Shard parse_shard(std::string_view text) {
  const auto slash = text.find('/');
  const auto index =
      slash == std::string_view::npos ? std::nullopt : positive(text.substr(0, slash));
  const auto total =
      slash == std::string_view::npos ? std::nullopt : positive(text.substr(slash + 1));
  if (!index || !total)
    throw std::invalid_argument(fmt::format(
        "--shard wants I/N, this run's part I of N parts counted from 1 (e.g. 2/3), not '{}'",
        text));
  if (*index > *total)
    throw std::invalid_argument(fmt::format(
        "--shard {}: there is no part {} of {} (parts are 1 to {})", text, *index, *total, *total));
  return Shard{*index, *total};
}

bool is_test_file(std::string_view source) {
  static const std::regex test_macro(R"((^|\n)\s*ATTEST_TEST\s*\()");
  return std::regex_search(source.begin(), source.end(), test_macro);
}

std::vector<std::string> parse_depfile(std::string_view text) {
  std::vector<std::string> out;
  const auto colon = text.find(": ");
  if (colon == std::string_view::npos) return out;
  std::string word;
  const auto flush = [&] {
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = colon + 2; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      const char next = text[i + 1];
      if (next == '\n') {
        flush();
        ++i;
        continue;
      }
      if (next == ' ' || next == '\\' || next == '#') {
        word.push_back(next);
        ++i;
        continue;
      }
    }
    if (c == '\n') {
      flush();
      break;  // the first rule names them all (-MMD writes no phony targets without -MP)
    }
    if (c == ' ' || c == '\t')
      flush();
    else
      word.push_back(c);
  }
  flush();
  return out;
}

int run_script(const RunOptions& options) {
  const fs::path script = fs::absolute(options.script);
  const std::string source = read_text(script);
  const Config config = load_config(options.config);

  const std::string cxx = compiler(options.cxx);
  std::vector<std::string> flags = {"-std=c++20"};
  for (auto& f : split_flags(options.cxxflags)) flags.push_back(std::move(f));
  const std::vector<std::string> attest = attest_flags();
  const fs::path entry = cache_entry(script, cxx, flags, attest, options.cache_dir);
  const fs::path unit = translation_unit(script, source, config, entry);

  const fs::path binary = entry / "test";
  if (options.rebuild || !up_to_date(binary, entry / "test.d")) {
    compile(options.script, cxx, flags, attest, unit, entry);
  } else {
    std::cerr << fmt::format("attest run: {} is up to date ({})\n", options.script.string(),
                             binary.string());
  }
  if (options.build_only) {
    std::cout << binary.string() << '\n';
    return 0;
  }
  if (options.shard) {
    // GoogleTest's own variables: every test binary understands them, and each shard's process
    // boots its own machines (and takes its own per-test-restore baseline) for its tests.
    ::setenv("GTEST_TOTAL_SHARDS", std::to_string(options.shard->total).c_str(), 1);
    ::setenv("GTEST_SHARD_INDEX", std::to_string(options.shard->index - 1).c_str(), 1);
    std::cerr << fmt::format("attest run: shard {} of {}\n", options.shard->index,
                             options.shard->total);
  }
  std::vector<std::string> argv = {binary.string(), "--config",
                                   fs::absolute(options.config).string()};
  argv.insert(argv.end(), options.test_args.begin(), options.test_args.end());
  return spawn(argv);
}

}  // namespace attest::cli
