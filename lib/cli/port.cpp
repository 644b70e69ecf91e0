// Finds attest port's Python files (next to the tool in a build tree, else in the installation's
// libexec directory) and a Python 3 (the one found when attest was configured, else python3 on
// PATH), then execs the translator with the user's arguments.
#include "cli/port.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#ifndef ATTEST_LIBEXECDIR
#define ATTEST_LIBEXECDIR "libexec"
#endif
#ifndef ATTEST_PYTHON
#define ATTEST_PYTHON "python3"
#endif

namespace attest::cli {
namespace {

namespace fs = std::filesystem;
constexpr const char* script_name = "attest-port.py";

/// Where the translator is: beside this executable in a build tree, or in
/// <prefix>/<libexecdir>/attest when installed (the prefix found from the tool's own path).
fs::path translator() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    throw std::runtime_error(fmt::format("cannot find the attest tool's path: {}", ec.message()));
  const fs::path candidates[] = {
      exe.parent_path() / script_name,
      exe.parent_path().parent_path() / ATTEST_LIBEXECDIR / "attest" / script_name,
  };
  for (const auto& c : candidates)
    if (fs::exists(c, ec)) return c;
  throw std::runtime_error(fmt::format(
      "the translator is not installed: neither {} nor {} exists (reinstall attest: `meson "
      "install` puts it in <prefix>/{}/attest)",
      candidates[0].string(), candidates[1].string(), ATTEST_LIBEXECDIR));
}

}  // namespace

void exec_port(const std::vector<std::string_view>& args) {
  const auto script = translator();
  std::vector<std::string> words{ATTEST_PYTHON, script.string()};
  for (const auto a : args) words.emplace_back(a);
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  // The Python attest was built with; failing that (moved, or a relocated install) the first
  // python3 on PATH.
  ::execv(argv[0], argv.data());
  words[0] = "python3";
  argv[0] = words[0].data();
  ::execvp(argv[0], argv.data());
  throw std::runtime_error(fmt::format(
      "cannot run Python 3 ({}, then python3 on PATH: {}); attest port is a Python program (it "
      "reads testScripts with Python's own parser): install python3",
      ATTEST_PYTHON, std::strerror(errno)));
}

}  // namespace attest::cli
