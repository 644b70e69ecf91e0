// Helpers shared by the VM tests: find a machine's VMM process, time things, make configs.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "attest/config.hpp"
#include "attest/machine.hpp"

namespace attest::vmtest {

/// The pid of the VMM whose command line mentions the machine's state directory, or -1.
inline int vmm_pid(const Machine& m) {
  const std::string needle = m.state_dir().string();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    const auto cmd = s.str();
    if (cmd.find(needle) != std::string::npos && cmd.find("qemu") != std::string::npos)
      return std::stoi(name);
  }
  return -1;
}

/// Counts the processes whose command line mentions `needle` (e.g. a state directory).
inline int count_processes(const std::string& needle) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    if (s.str().find(needle) != std::string::npos) ++n;
  }
  return n;
}

/// The minimal guest's configuration ($ATTEST_CONFIG), to modify per test.
inline Config minimal_config() {
  const char* path = std::getenv("ATTEST_CONFIG");
  return load_config(path != nullptr ? path : "");
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace attest::vmtest
