// attest-bench-warm: a warm start (the booted machine restored from the boot cache) against a
// cold boot, side by side in one run, alternating, on the guest $ATTEST_CONFIG names (its first
// machine). Each round times, from the Driver's construction to the shell answering
// succeed("true") (after `--unit UNIT` is active when given):
//   cold     warm starts off: the guest boots
//   warm     warm starts on, the boot cache holding the machine: QEMU restores it
// The cache is filled once before the rounds (that cold boot's save is timed too). The ratio
// warm/cold is the figure warm starts live by (goal <= 0.05 on the systemd guest, shell ready).
// docs/benchmarks.md quotes it.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
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
  int rounds = 5;
};

/// Milliseconds from a new Driver to a ready machine.
double time_to_ready(const attest::Config& config, const attest::DriverOptions& driver_options,
                     const Options& o) {
  const auto t0 = Clock::now();
  attest::Driver driver(config, driver_options);
  auto& m = driver.machine(config.machines[0].name);
  if (!o.unit.empty()) m.wait_for_unit(o.unit, {}, 300s);
  m.succeed("true");
  return ms_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* c = std::getenv("ATTEST_CONFIG")) o.config = c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--unit" && i + 1 < argc) {
      o.unit = argv[++i];
    } else if (arg == "--rounds" && i + 1 < argc) {
      o.rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      fmt::print(stderr, "usage: attest-bench-warm [--unit UNIT] [--rounds N]\n");
      return 2;
    }
  }
  if (o.config.empty()) {
    fmt::print(stderr, "attest-bench-warm: set ATTEST_CONFIG to a guest configuration\n");
    return 2;
  }
  const auto cache =
      std::filesystem::temp_directory_path() / fmt::format("attest-bench-warm-{}", ::getpid());
  try {
    auto config = attest::load_config(o.config);
    config.machines.resize(1);
    config.machines[0].boot_timeout = 300s;
    attest::DriverOptions cold_options;
    cold_options.warm = false;
    attest::DriverOptions warm_options;
    warm_options.warm = true;
    warm_options.boot_cache_dir = cache;
    // Fills the cache: a cold boot that saves the machine.
    const double first = time_to_ready(config, warm_options, o);
    std::vector<double> cold, warm;
    for (int round = 0; round < o.rounds; ++round) {
      cold.push_back(time_to_ready(config, cold_options, o));
      warm.push_back(time_to_ready(config, warm_options, o));
    }
    std::uintmax_t bytes = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(cache))
      if (e.is_regular_file()) bytes += e.file_size();
    std::filesystem::remove_all(cache);
    const double c = median(cold);
    const double w = median(warm);
    fmt::print(
        "attest-bench-warm: {} ({}), ready = {}; {} rounds of a cold boot and a warm start, "
        "alternating, medians\n",
        config.name, config.machines[0].name,
        o.unit.empty() ? std::string("shell answers") : o.unit + " active + shell answers",
        o.rounds);
    fmt::print("{:<34}{:>10.0f} ms\n", "cold boot to ready", c);
    fmt::print("{:<34}{:>10.0f} ms   ratio {:.3f} (goal <= 0.05 on the systemd guest)\n",
               "warm start to ready", w, w / c);
    fmt::print("{:<34}{:>10.0f} ms   (the first run: boot and save)\n", "cold boot + save to ready",
               first);
    fmt::print("{:<34}{:>10.1f} MiB\n", "boot cache entry", static_cast<double>(bytes) / (1 << 20));
    fmt::print("rounds (cold/warm ms):");
    for (int i = 0; i < o.rounds; ++i) fmt::print(" {:.0f}/{:.0f}", cold[i], warm[i]);
    fmt::print("\n");
    return 0;
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove_all(cache, ec);
    fmt::print(stderr, "attest-bench-warm: {}\n", e.what());
    return 1;
  }
}
