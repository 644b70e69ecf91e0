// attest-bench-snapshot: QEMU snapshot restore-to-ready against cold boot-to-ready, side by side
// in one run, on the guest $ATTEST_CONFIG names (its first machine).
//   cold     a fresh machine: Driver construction + start to ready (the shell answers
//            succeed("true"), after `--unit UNIT` is active when given, e.g. multi-user.target)
//   restore  snapshot_restore() in the running QEMU + the first succeed("true") (median)
//   fresh    snapshot_restore() into a new QEMU after the old one was killed + succeed("true")
// The ratio restore/cold is the figure per-test restore lives by (goal <= 0.05 on the systemd
// guest). docs/benchmarks.md quotes it.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "attest/driver.hpp"
#include "bench_util.hpp"

using namespace std::chrono_literals;

namespace {

using attest::bench::Clock;
using attest::bench::median;
using attest::bench::ms_since;

struct Options {
  std::string config;
  std::string unit;  ///< wait for this unit before the machine counts as ready
  int boots = 3;
  int restores = 10;
  int fresh = 3;
};

attest::Config one_machine(const Options& o) {
  auto c = attest::load_config(o.config);
  c.machines.resize(1);
  c.machines[0].boot_timeout = 300s;
  return c;
}

void ready(attest::Machine& m, const Options& o) {
  if (!o.unit.empty()) m.wait_for_unit(o.unit, {}, 300s);
  m.succeed("true");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* c = std::getenv("ATTEST_CONFIG")) o.config = c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--unit" && i + 1 < argc) {
      o.unit = argv[++i];
    } else if (arg == "--boots" && i + 1 < argc) {
      o.boots = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--restores" && i + 1 < argc) {
      o.restores = std::max(1, std::atoi(argv[++i]));
    } else {
      fmt::print(stderr, "usage: attest-bench-snapshot [--unit UNIT] [--boots N] [--restores N]\n");
      return 2;
    }
  }
  if (o.config.empty()) {
    fmt::print(stderr, "attest-bench-snapshot: set ATTEST_CONFIG to a guest configuration\n");
    return 2;
  }
  try {
    const auto config = one_machine(o);
    const auto name = config.machines[0].name;
    std::vector<double> cold, create, restore, fresh;
    for (int round = 0; round < o.boots; ++round) {
      const auto t0 = Clock::now();
      attest::Driver driver(config);
      auto& m = driver.machine(name);
      m.start();
      ready(m, o);
      cold.push_back(ms_since(t0));
      if (round + 1 < o.boots) continue;
      // The last boot is the one snapshotted.
      auto t = Clock::now();
      m.snapshot_create("bench");
      create.push_back(ms_since(t));
      for (int i = 0; i < o.restores; ++i) {
        m.succeed("touch /tmp/after-snapshot");  // something for the restore to undo
        t = Clock::now();
        m.snapshot_restore("bench");
        m.succeed("true");
        restore.push_back(ms_since(t));
      }
      m.fail("test -e /tmp/after-snapshot");  // the restores did restore
      for (int i = 0; i < o.fresh; ++i) {
        m.halt();
        t = Clock::now();
        m.snapshot_restore("bench");
        m.succeed("true");
        fresh.push_back(ms_since(t));
      }
    }
    const double c = median(cold);
    const double r = median(restore);
    const double f = median(fresh);
    fmt::print(
        "attest-bench-snapshot: {} ({}), ready = {}; {} cold boots, {} in-place and {} "
        "fresh-process restores, medians\n",
        config.name, name,
        o.unit.empty() ? std::string("shell answers") : o.unit + " active + shell answers",
        cold.size(), restore.size(), fresh.size());
    fmt::print("{:<28}{:>10.0f} ms\n", "cold boot to ready", c);
    fmt::print("{:<28}{:>10.0f} ms\n", "snapshot_create", median(create));
    fmt::print("{:<28}{:>10.0f} ms   ratio {:.3f} (goal <= 0.05)\n", "restore (in place) to ready",
               r, r / c);
    fmt::print("{:<28}{:>10.0f} ms   ratio {:.3f}\n", "restore (new QEMU) to ready", f, f / c);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "attest-bench-snapshot: {}\n", e.what());
    return 1;
  }
}
