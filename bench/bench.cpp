// attest-bench: measures, side by side in one run on one guest, what attest costs against the
// floor the guest itself sets: command latency vs. a raw `( true ); echo x` over the same socket,
// bulk output vs. a raw `cat`, boot to ready vs. the guest's own uptime, and the driver's memory.
// Prints a table and the ratios; the figures in docs/benchmarks.md come from it.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "attest/driver.hpp"
#include "bench_util.hpp"
#include "core/driver_impl.hpp"
#include "core/machine_impl.hpp"

namespace {

using attest::bench::Clock;
using attest::bench::ms_since;

struct Stats {
  double median;
  double p99;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

long peak_rss_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

long current_rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = std::getenv("ATTEST_CONFIG") != nullptr ? std::getenv("ATTEST_CONFIG") : "";
  int samples = 500;
  int bulk_mib = 20;
  std::string unit;     // e.g. multi-user.target: also measure boot to that unit
  bool screen = false;  // also measure screenshot and OCR times
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--config" && i + 1 < argc)
      config = argv[++i];
    else if (a == "--samples" && i + 1 < argc)
      samples = std::atoi(argv[++i]);
    else if (a == "--bulk-mib" && i + 1 < argc)
      bulk_mib = std::atoi(argv[++i]);
    else if (a == "--unit" && i + 1 < argc)
      unit = argv[++i];
    else if (a == "--screen")
      screen = true;
    else {
      fmt::print(stderr,
                 "usage: attest-bench [--config FILE] [--samples N] [--bulk-mib N] [--unit UNIT] "
                 "[--screen]\n");
      return 2;
    }
  }
  if (config.empty()) {
    fmt::print(stderr, "attest-bench: pass --config FILE or set ATTEST_CONFIG\n");
    return 2;
  }
  try {
    attest::Driver driver{config};
    auto& m = driver.machines().front().get();
    auto& impl = m.impl();
    auto& d = impl.driver();
    const long rss_idle_before_boot = current_rss_kib();

    // Boot: start to a usable shell, next to the guest's uptime at that moment.
    const auto t0 = Clock::now();
    m.start();
    m.connect();
    const double ready_ms = ms_since(t0);
    const auto t1 = Clock::now();
    const auto uptime = m.succeed("cat /proc/uptime");
    const double uptime_ms = std::stod(uptime) * 1000 - ms_since(t1) / 2;
    double unit_ms = 0;
    if (!unit.empty()) {
      m.wait_for_unit(unit);
      unit_ms = ms_since(t0);
    }

    const std::string floor_line = "( true ); echo x\n";
    for (int i = 0; i < 20; ++i) {
      (void)m.execute("true");
      (void)d.run(impl.raw_exchange(floor_line, "x\n"));
    }
    std::vector<double> floor, exec, succ;
    for (int i = 0; i < samples; ++i) {
      auto a = Clock::now();
      (void)d.run(impl.raw_exchange(floor_line, "x\n"));
      floor.push_back(ms_since(a));
      a = Clock::now();
      (void)m.execute("true");
      exec.push_back(ms_since(a));
      a = Clock::now();
      (void)m.succeed("true");
      succ.push_back(ms_since(a));
    }
    const long rss_idle = current_rss_kib();

    // Bulk output: the same file through a raw cat and through succeed().
    m.succeed(fmt::format("head -c {} /dev/urandom > /tmp/bulk", bulk_mib << 20));
    const std::string raw_cat = "cat /tmp/bulk; echo BULK-END-7f3a\n";
    double raw_best = 1e18, attest_best = 1e18;
    std::size_t got = 0;
    for (int round = 0; round < 3; ++round) {
      auto a = Clock::now();
      (void)d.run(impl.raw_exchange(raw_cat, "BULK-END-7f3a\n"));
      raw_best = std::min(raw_best, ms_since(a));
      a = Clock::now();
      got = m.succeed("cat /tmp/bulk").size();
      attest_best = std::min(attest_best, ms_since(a));
    }
    const double mib = static_cast<double>(bulk_mib);
    const long rss_peak = peak_rss_kib();

    // Screen: screendump to PNG, then OCR of one screenshot raw and with its variants.
    std::vector<double> shots;
    double ocr_ms = 0, variants_ms = 0;
    if (screen && m.has(attest::Capability::screenshot)) {
      m.succeed(
          "printf '\\033c' >/dev/tty1 2>/dev/null; echo ATTEST-BENCH >/dev/tty1 2>/dev/null || "
          "true");
      for (int i = 0; i < 5; ++i) {
        auto a = Clock::now();
        (void)m.screenshot("bench-screen");
        shots.push_back(ms_since(a));
      }
      auto a = Clock::now();
      (void)m.get_screen_text();
      ocr_ms = ms_since(a);
      a = Clock::now();
      (void)m.get_screen_text_variants();
      variants_ms = ms_since(a);
    }

    const auto f = stats(floor), e = stats(exec), s = stats(succ);
    fmt::print("attest-bench: {} samples, guest '{}' ({}), {}\n", samples, m.name(), config,
               std::getenv("ATTEST_ACCEL") ? std::getenv("ATTEST_ACCEL") : "default accel");
    fmt::print("{:<44} {:>10} {:>10}\n", "command round trip", "median ms", "p99 ms");
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n", "raw floor `( true ); echo x`", f.median, f.p99);
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n", "execute(\"true\")", e.median, e.p99);
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n", "succeed(\"true\")", s.median, s.p99);
    fmt::print("ratio execute/floor = {:.3f}   succeed/floor = {:.3f}   (goal <= 1.15)\n",
               e.median / f.median, s.median / f.median);
    fmt::print(
        "bulk {} MiB: raw cat {:.1f} MB/s, succeed {:.1f} MB/s ({} bytes), ratio {:.2f} (goal >= "
        "0.7)\n",
        bulk_mib, mib * 1.048576 / (raw_best / 1000), mib * 1.048576 / (attest_best / 1000), got,
        raw_best / attest_best);
    fmt::print(
        "boot: start to ready {:.0f} ms, guest uptime at ready {:.0f} ms, difference {:.0f} ms\n",
        ready_ms, uptime_ms, ready_ms - uptime_ms);
    fmt::print(
        "driver RSS: {} KiB before boot, {} KiB idle after {} commands, {} KiB peak "
        "(includes the {} MiB result string)\n",
        rss_idle_before_boot, rss_idle, samples * 3, rss_peak, bulk_mib);
    if (!shots.empty())
      fmt::print(
          "screen: screenshot median {:.1f} ms, get_screen_text {:.0f} ms, "
          "get_screen_text_variants {:.0f} ms\n",
          stats(shots).median, ocr_ms, variants_ms);
    if (!unit.empty()) {
      fmt::print("boot: start to {} active {:.0f} ms\n", unit, unit_ms);
      fmt::print("qemu: boot={:.0f} unit={:.0f} exec={:.1f} total={:.0f}ms\n", ready_ms,
                 unit_ms - ready_ms, e.median, unit_ms + e.median);
    } else {
      fmt::print("qemu: boot={:.0f} exec={:.1f} total={:.0f}ms\n", ready_ms, e.median,
                 ready_ms + e.median);
    }
  } catch (const std::exception& ex) {
    fmt::print(stderr, "attest-bench: {}\n", ex.what());
    return 1;
  }
  return 0;
}
