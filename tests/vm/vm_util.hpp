// Helpers shared by the VM tests: find a machine's VMM process, time things, make configs.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "attest/config.hpp"
#include "attest/machine.hpp"

namespace attest::vmtest {

/// Calls `fn(pid, cmdline)` for every process; stops when it returns true.
template <class F>
void for_each_process(F fn) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    if (fn(std::stoi(name), s.str())) return;
  }
}

/// The pid of the VMM whose command line mentions the machine's state directory, or -1.
inline int vmm_pid(const Machine& m) {
  const std::string needle = m.state_dir().string();
  int pid = -1;
  for_each_process([&](int p, const std::string& cmd) {
    if (cmd.find(needle) == std::string::npos || cmd.find("qemu") == std::string::npos)
      return false;
    pid = p;
    return true;
  });
  return pid;
}

/// Counts the processes whose command line mentions `needle` (e.g. a state directory).
inline int count_processes(const std::string& needle) {
  int n = 0;
  for_each_process([&](int, const std::string& cmd) {
    n += cmd.find(needle) != std::string::npos;
    return false;
  });
  return n;
}

/// The minimal guest's configuration ($ATTEST_CONFIG), to modify per test.
inline Config minimal_config() {
  const char* path = std::getenv("ATTEST_CONFIG");
  return load_config(path != nullptr ? path : "");
}

/// The configuration $ATTEST_CONFIG names (the guest the test executable runs against).
inline Config guest_config() { return minimal_config(); }

/// Writes `text` to a fresh file under the test's temporary directory and returns its path.
inline std::filesystem::path temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace attest::vmtest
