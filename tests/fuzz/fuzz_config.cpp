// Fuzz target: the configuration loader, attest::parse_config (include/attest/config.hpp). The
// input is a configuration file's text. Relative paths resolve against a scratch directory that
// holds the files the test guests' configurations name, so valid inputs get past the file
// checks. An attest::Error is the only failure allowed (a ConfigError naming the file); any
// other exception escaping is a bug. A configuration it accepts must pass validate() and have
// its machines sorted, uniquely named, with absolute paths.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "attest/config.hpp"
#include "attest/error.hpp"
#include "fuzz.hpp"
#include "net/plan.hpp"

namespace attest {
namespace {

namespace fs = std::filesystem;
using fuzz::check;

constexpr std::string_view source = "fuzz.json";

/// A scratch directory with the kernels, initrds, images and start script that the corpus
/// names; removed when the fuzzer exits.
class Scratch {
 public:
  Scratch() {
    std::string name = (fs::temp_directory_path() / "attest-fuzz-config-XXXXXX").string();
    if (::mkdtemp(name.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir_ = name;
    for (const char* file :
         {"vmlinuz", "vmlinux", "initrd.img", "root.erofs", "store.erofs", "disk.qcow2"})
      std::ofstream(dir_ / file) << "image\n";
    std::ofstream(dir_ / "run-vm") << "#!/bin/sh\n";
    fs::permissions(dir_ / "run-vm", fs::perms::owner_all);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

const fs::path& scratch() {
  static const Scratch s;
  return s.dir();
}

void check_accepted(const Config& config) {
  check(config.source == source, "the configuration knows its file");
  check(!config.machines.empty(), "a configuration has a machine");
  for (std::size_t i = 0; i < config.machines.size(); ++i) {
    const auto& m = config.machines[i];
    check(i == 0 || config.machines[i - 1].name < m.name,
          "machines are sorted by name, each name once");
    for (const fs::path* p : {&m.kernel, &m.initrd, &m.start_command})
      check(p->empty() || p->is_absolute(), "paths are resolved against the base directory");
    for (const auto& d : m.disks)
      check(d.size_mib > 0 ? d.path.empty() : d.path.is_absolute(),
            "a disk is either a fresh one or an absolute path");
  }
  // What parse_config accepted, validate() and the network plan accept too.
  validate(config);
  const net::Plan plan = net::plan_network(config);
  check(plan.nodes.size() == config.machines.size(), "the plan has a node per machine");
}

}  // namespace
}  // namespace attest

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace attest;
  const std::string_view text = fuzz::as_text(data, size);
  try {
    check_accepted(parse_config(text, source, scratch()));
  } catch (const ConfigError& e) {
    check(std::string_view(e.what()).starts_with("config fuzz.json: "),
          "a configuration error names the file");
  } catch (const Error&) {
    // Any of attest's own errors is an answer.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config let an exception escape: %s\n", e.what());
    std::abort();
  }
  return 0;
}
