// attest-bench-microvm: the three backends side by side in one run. For each: boot (Driver
// construction + start() to a connected shell), exec (median succeed("true") round trip) and total
// (boot + one command + shutdown), medians of several boots; then, for the two microVM backends,
// a fresh machine's cold boot to its first answered command against snapshot_restore() to the
// same point (median of several restores of one snapshot). QEMU runs the minimal guest
// ($ATTEST_CONFIG); Firecracker and cloud-hypervisor run the microVM guest
// ($ATTEST_MICROVM_CONFIG) on the binaries named by $ATTEST_FIRECRACKER and
// $ATTEST_CLOUD_HYPERVISOR, which in the build tree are the doubles (QEMU/TCG behind each VMM's
// API). Prints a table, the seed's summary lines and the restore/cold ratios; docs/benchmarks.md
// quotes it.
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
using attest::bench::env_or;
using attest::bench::median;
using attest::bench::ms_since;

struct Options {
  std::string qemu_config;     ///< the minimal guest
  std::string microvm_config;  ///< the microVM guest
  std::string firecracker;
  std::string cloud_hypervisor;
  int boots = 3;
  int samples = 30;
  int restores = 5;
};

/// One machine of `backend`: the minimal guest for QEMU, the microVM guest otherwise.
attest::Config config_for(const Options& o, const std::string& backend) {
  auto base = attest::load_config(backend == "qemu" ? o.qemu_config : o.microvm_config);
  attest::Config c = base;
  c.name = "bench-microvm";
  c.machines.clear();
  auto m = base.machines.at(0);
  m.name = "machine";
  m.backend = backend;
  if (!o.firecracker.empty()) m.firecracker_binary = o.firecracker;
  if (!o.cloud_hypervisor.empty()) m.cloud_hypervisor_binary = o.cloud_hypervisor;
  m.boot_timeout = 120s;
  c.machines.push_back(m);
  return c;
}

struct Boot {
  double boot_ms = 0;   ///< medians over the boots
  double exec_ms = 0;   ///< median over all samples of all boots
  double total_ms = 0;  ///< boot + one command + shutdown
  double shutdown_ms = 0;
};

Boot measure_boots(const Options& o, const std::string& backend) {
  const auto config = config_for(o, backend);
  std::vector<double> boot, exec, total, shutdown;
  for (int round = 0; round < o.boots; ++round) {
    const auto t0 = Clock::now();
    attest::Driver driver(config);
    auto& m = driver.machine("machine");
    m.start();
    m.connect();
    const double boot_ms = ms_since(t0);
    auto t = Clock::now();
    m.succeed("true");
    const double command_ms = ms_since(t);
    for (int i = 0; i < o.samples; ++i) {
      t = Clock::now();
      m.succeed("true");
      exec.push_back(ms_since(t));
    }
    t = Clock::now();
    m.shutdown(60s);
    const double shutdown_ms = ms_since(t);
    boot.push_back(boot_ms);
    shutdown.push_back(shutdown_ms);
    total.push_back(boot_ms + command_ms + shutdown_ms);
  }
  return {median(boot), median(exec), median(total), median(shutdown)};
}

struct Snapshot {
  double cold_ms = 0;     ///< fresh machine: construction + start to the first succeed("true")
  double create_ms = 0;   ///< snapshot_create
  double restore_ms = 0;  ///< median: snapshot_restore() + the first succeed("true")
};

Snapshot measure_snapshot(const Options& o, const std::string& backend) {
  Snapshot r;
  const auto t0 = Clock::now();
  attest::Driver driver(config_for(o, backend));
  auto& m = driver.machine("machine");
  m.start();
  m.connect();
  m.succeed("true");
  r.cold_ms = ms_since(t0);
  auto t = Clock::now();
  m.snapshot_create("bench");
  r.create_ms = ms_since(t);
  std::vector<double> restore;
  for (int i = 0; i < o.restores; ++i) {
    m.succeed("touch /root/after-snapshot");  // something for the restore to undo
    t = Clock::now();
    m.snapshot_restore("bench");
    m.succeed("true");
    restore.push_back(ms_since(t));
  }
  m.fail("test -e /root/after-snapshot");  // the restores did restore
  r.restore_ms = median(restore);
  m.halt();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.qemu_config = env_or("ATTEST_CONFIG", "");
  o.microvm_config = env_or("ATTEST_MICROVM_CONFIG", "");
  o.firecracker = env_or("ATTEST_FIRECRACKER", "");
  o.cloud_hypervisor = env_or("ATTEST_CLOUD_HYPERVISOR", "");
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--config" && i + 1 < argc)
      o.qemu_config = argv[++i];
    else if (a == "--microvm-config" && i + 1 < argc)
      o.microvm_config = argv[++i];
    else if (a == "--boots" && i + 1 < argc)
      o.boots = std::max(1, std::atoi(argv[++i]));
    else if (a == "--samples" && i + 1 < argc)
      o.samples = std::max(1, std::atoi(argv[++i]));
    else if (a == "--restores" && i + 1 < argc)
      o.restores = std::max(1, std::atoi(argv[++i]));
    else {
      fmt::print(stderr,
                 "usage: attest-bench-microvm [--config FILE] [--microvm-config FILE] [--boots N] "
                 "[--samples N] [--restores N]\n");
      return 2;
    }
  }
  if (o.qemu_config.empty() || o.microvm_config.empty()) {
    fmt::print(stderr,
               "attest-bench-microvm: pass --config FILE and --microvm-config FILE or set "
               "ATTEST_CONFIG and ATTEST_MICROVM_CONFIG\n");
    return 2;
  }
  // The build tree's binaries are the doubles; the output says so wherever their figures appear.
  const bool doubles = o.firecracker.find("-double") != std::string::npos ||
                       o.cloud_hypervisor.find("-double") != std::string::npos;
  const std::string mark = doubles ? " (double: QEMU/TCG behind the VMM API)" : "";
  try {
    const std::vector<std::string> backends = {"qemu", "firecracker", "cloud-hypervisor"};
    std::vector<Boot> boots;
    for (const auto& b : backends) boots.push_back(measure_boots(o, b));
    const auto fc = measure_snapshot(o, "firecracker");
    const auto ch = measure_snapshot(o, "cloud-hypervisor");

    fmt::print(
        "attest-bench-microvm: {} boots per backend (medians), {} succeed(\"true\") per boot, "
        "{} restores per snapshot, {}\n",
        o.boots, o.samples, o.restores, env_or("ATTEST_ACCEL", "default accel"));
    fmt::print("qemu: minimal guest ({}); firecracker, cloud-hypervisor: microVM guest ({})\n",
               o.qemu_config, o.microvm_config);
    if (doubles)
      fmt::print("firecracker: {}\ncloud-hypervisor: {}\n", o.firecracker, o.cloud_hypervisor);
    fmt::print("{:<18} {:>10} {:>10} {:>12} {:>10}\n", "backend", "boot ms", "exec ms",
               "shutdown ms", "total ms");
    for (std::size_t i = 0; i < backends.size(); ++i)
      fmt::print("{:<18} {:>10.0f} {:>10.2f} {:>12.0f} {:>10.0f}{}\n", backends[i],
                 boots[i].boot_ms, boots[i].exec_ms, boots[i].shutdown_ms, boots[i].total_ms,
                 i == 0 ? "" : mark);
    fmt::print("{:<18} {:>10} {:>10} {:>12} {:>10}\n", "snapshot", "cold ms", "create ms",
               "restore ms", "ratio");
    for (const auto& [name, s] : {std::pair{"firecracker", fc}, std::pair{"cloud-hypervisor", ch}})
      fmt::print("{:<18} {:>10.0f} {:>10.0f} {:>12.0f} {:>10.3f}{}\n", name, s.cold_ms, s.create_ms,
                 s.restore_ms, s.restore_ms / s.cold_ms, mark);
    // The seed's summary lines, as they are.
    fmt::print("\nsummary{}\n",
               doubles ? " (firecracker, cloud-hypervisor, fc-snapshot, ch-snapshot: double: "
                         "QEMU/TCG behind the VMM API)"
                       : "");
    for (std::size_t i = 0; i < backends.size(); ++i)
      fmt::print("{:<18}boot={:<6.0f}exec={:<5.0f}total={:.0f}ms\n", backends[i] + ":",
                 boots[i].boot_ms, boots[i].exec_ms, boots[i].total_ms);
    fmt::print("{:<18}cold={:<6.0f}restore={:.0f}\n", "fc-snapshot:", fc.cold_ms, fc.restore_ms);
    fmt::print("{:<18}cold={:<6.0f}restore={:.0f}\n", "ch-snapshot:", ch.cold_ms, ch.restore_ms);
    fmt::print("ratio restore/cold: firecracker {:.3f}, cloud-hypervisor {:.3f}\n",
               fc.restore_ms / fc.cold_ms, ch.restore_ms / ch.cold_ms);
  } catch (const std::exception& e) {
    fmt::print(stderr, "attest-bench-microvm: {}\n", e.what());
    return 1;
  }
  return 0;
}
