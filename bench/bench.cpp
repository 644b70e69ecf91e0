// attest-bench: measures, side by side in one run on one guest, what attest costs against the
// floor the guest itself sets: command latency vs. a raw `( true ); echo x` over the same socket
// and vs. the NixOS driver's two-round-trip protocol on the same socket, bulk output vs. a raw
// `cat`, boot to ready vs. the guest's own uptime (and where the time went), start_all of 1, 2
// and 4 machines, and the driver's memory with 1 and 4 machines. Prints a table and the ratios;
// the figures in docs/benchmarks.md come from it.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
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

/// The peak resident set since the last reset_peak_rss() (VmHWM), in KiB.
long peak_rss_since_reset_kib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  long kib = 0;
  if (f == nullptr) return 0;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

/// Resets VmHWM to the current resident set (proc(5), /proc/PID/clear_refs, value 5).
void reset_peak_rss() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

/// One command as the NixOS test driver sends it (nixpkgs nixos/lib/test-driver, Machine.execute:
/// `timeout 900 sh -c 'set -euo pipefail; CMD' | (base64 -w 0; echo)`, then a second round trip
/// `echo ${PIPESTATUS[0]}` for the status): the reference client for its protocol, run on the
/// same socket as attest so that only the protocol differs.
/// `with_timeout` false: as NixOS sends it for `execute(cmd, timeout=None)` (no `timeout(1)`).
/// `sh` is NixOS's /bin/sh, which is bash there; a guest whose sh lacks pipefail (Debian's dash)
/// gets `bash` instead.
std::string nixos_command_line(std::string_view command, bool with_timeout, std::string_view sh) {
  return fmt::format("{}{} -c {} | (base64 -w 0; echo)\n", with_timeout ? "timeout 900 " : "", sh,
                     attest::shell_quote(fmt::format("set -euo pipefail; {}", command)));
}

/// CPU time (user + system) this process has used, in milliseconds.
double cpu_ms() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

/// `n` copies of `config`'s first machine, named m1..mN, for the start_all figures.
attest::Config copies(const std::string& config, int n) {
  auto c = attest::load_config(config);
  const auto first = c.machines.front();
  c.machines.clear();
  for (int i = 1; i <= n; ++i) {
    auto m = first;
    m.name = fmt::format("m{}", i);
    c.machines.push_back(std::move(m));
  }
  return c;
}

struct Scale {
  int machines;
  double start_all_ms;  ///< start_all() until every shell is ready
  long peak_kib;        ///< the driver's peak resident set while they booted and ran commands
};

/// start_all() of `n` machines until every shell answers, then 100 commands on each; the peak
/// resident set of this process over that span.
Scale measure_scale(const std::string& config, int n) {
  reset_peak_rss();
  attest::Driver driver{copies(config, n)};
  const auto t0 = Clock::now();
  driver.start_all();
  driver.wait_all(driver.machines(), [](attest::Machine& m) { m.connect(); });
  const double took = ms_since(t0);
  driver.wait_all(driver.machines(), [](attest::Machine& m) {
    for (int i = 0; i < 100; ++i) m.succeed("true");
  });
  return {n, took, peak_rss_since_reset_kib()};
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
  bool scale = true;    // start_all of 1, 2 and 4 machines, memory with 1 and 4
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
    else if (a == "--no-scale")
      scale = false;
    else {
      fmt::print(stderr,
                 "usage: attest-bench [--config FILE] [--samples N] [--bulk-mib N] [--unit UNIT] "
                 "[--screen] [--no-scale]\n");
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
    const double cpu0 = cpu_ms();
    m.start();
    m.connect();
    const double ready_ms = ms_since(t0);
    const double boot_cpu_ms = cpu_ms() - cpu0;
    const auto t1 = Clock::now();
    const auto uptime = m.succeed("cat /proc/uptime");
    const double uptime_ms = std::stod(uptime) * 1000 - ms_since(t1) / 2;
    // Where the boot went: the guest's clock ran for uptime_at_banner before its shell started.
    const auto bt = d.run(impl.boot_timings());
    auto ms_between = [](Clock::time_point a, Clock::time_point b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    const double banner_ago_ms = ms_since(bt.banner) - ms_since(t1) / 2;
    const double uptime_at_banner_ms = uptime_ms - banner_ago_ms;
    const double pre_vmm_ms = ms_between(bt.started, bt.vmm_spawn);
    const double vmm_start_ms = ms_between(bt.vmm_spawn, bt.vmm_running);
    const double to_banner_ms = ms_between(bt.vmm_running, bt.banner);
    const double handshake_ms = ms_between(bt.banner, bt.ready);
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
    const std::string sh =
        m.execute("sh -c 'set -o pipefail' 2>/dev/null").status == 0 ? "sh" : "bash";
    const std::string nixos_line = nixos_command_line("true", true, sh);
    const std::string nixos_bare_line = nixos_command_line("true", false, sh);
    const std::string nixos_status = "echo ${PIPESTATUS[0]}\n";
    for (const auto* line : {&nixos_line, &nixos_bare_line})
      if (d.run(impl.raw_exchange(*line, "\n")) != 1 ||
          d.run(impl.raw_exchange(nixos_status, "0\n")) != 2)
        throw std::runtime_error("the NixOS-protocol client got an unexpected answer to `true`");
    std::vector<double> floor, exec, succ, nixos, nixos_bare;
    for (int i = 0; i < samples; ++i) {
      auto a = Clock::now();
      (void)d.run(impl.raw_exchange(floor_line, "x\n"));
      floor.push_back(ms_since(a));
      a = Clock::now();
      (void)d.run(impl.raw_exchange(nixos_line, "\n"));
      (void)d.run(impl.raw_exchange(nixos_status, "\n"));
      nixos.push_back(ms_since(a));
      a = Clock::now();
      (void)d.run(impl.raw_exchange(nixos_bare_line, "\n"));
      (void)d.run(impl.raw_exchange(nixos_status, "\n"));
      nixos_bare.push_back(ms_since(a));
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
    const long rss_before_bulk = current_rss_kib();
    reset_peak_rss();
    for (int round = 0; round < 3; ++round) {
      auto a = Clock::now();
      (void)d.run(impl.raw_exchange(raw_cat, "BULK-END-7f3a\n"));
      raw_best = std::min(raw_best, ms_since(a));
      a = Clock::now();
      got = m.succeed("cat /tmp/bulk").size();
      attest_best = std::min(attest_best, ms_since(a));
    }
    const double mib = static_cast<double>(bulk_mib);
    const long rss_peak_bulk = peak_rss_since_reset_kib();

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

    // More machines: start_all of 1, 2 and 4 copies of the guest, each in a Driver of its own
    // (the machine above keeps running: it is part of the same process, as in a test suite).
    std::vector<Scale> scales;
    if (scale) {
      m.halt();
      for (int n : {1, 2, 4}) scales.push_back(measure_scale(config, n));
    }

    const auto f = stats(floor), e = stats(exec), s = stats(succ), nx = stats(nixos),
               nb = stats(nixos_bare);
    fmt::print("attest-bench: {} samples, guest '{}' ({}), {}\n", samples, m.name(), config,
               std::getenv("ATTEST_ACCEL") ? std::getenv("ATTEST_ACCEL") : "default accel");
    fmt::print("{:<44} {:>10} {:>10}\n", "command round trip", "median ms", "p99 ms");
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n", "raw floor `( true ); echo x`", f.median, f.p99);
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n", "execute(\"true\")", e.median, e.p99);
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n", "succeed(\"true\")", s.median, s.p99);
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n",
               fmt::format("NixOS protocol, `timeout 900 {} -c` (default)", sh), nx.median, nx.p99);
    fmt::print("{:<44} {:>10.2f} {:>10.2f}\n",
               fmt::format("NixOS protocol, `{} -c` (timeout=None)", sh), nb.median, nb.p99);
    fmt::print("ratio execute/floor = {:.3f}   succeed/floor = {:.3f}   (goal <= 1.15)\n",
               e.median / f.median, s.median / f.median);
    fmt::print(
        "ratio NixOS protocol/succeed = {:.2f} (default), {:.2f} (timeout=None)   (goal >= 1.5)\n",
        nx.median / s.median, nb.median / s.median);
    fmt::print(
        "bulk {} MiB: raw cat {:.1f} MB/s, succeed {:.1f} MB/s ({} bytes), ratio {:.2f} (goal >= "
        "0.7)\n",
        bulk_mib, mib * 1.048576 / (raw_best / 1000), mib * 1.048576 / (attest_best / 1000), got,
        raw_best / attest_best);
    fmt::print(
        "boot: start to ready {:.0f} ms, guest uptime at the banner {:.0f} ms, difference {:.0f} "
        "ms\n",
        ready_ms, uptime_at_banner_ms, ready_ms - uptime_at_banner_ms);
    fmt::print(
        "boot: driver before the VMM {:.1f} ms, VMM start {:.1f} ms, VMM running to banner {:.0f} "
        "ms (guest clock {:.0f} ms of it), banner to ready {:.1f} ms\n",
        pre_vmm_ms, vmm_start_ms, to_banner_ms, uptime_at_banner_ms, handshake_ms);
    fmt::print(
        "boot: driver CPU time from start() to ready {:.1f} ms (goal <= 50); wall time the "
        "driver adds before the VMM {:.1f} ms\n",
        boot_cpu_ms, pre_vmm_ms);
    fmt::print("driver RSS: {} KiB before boot, {} KiB idle after {} round trips\n",
               rss_idle_before_boot, rss_idle, samples * 7);
    fmt::print(
        "driver RSS through a {} MiB output: {} KiB before, {} KiB peak, of which the returned "
        "string is {} KiB: {} KiB for the driver itself (goal <= 15360)\n",
        bulk_mib, rss_before_bulk, rss_peak_bulk, got / 1024, rss_peak_bulk - long(got / 1024));
    for (const auto& sc : scales)
      fmt::print(
          "start_all of {} machine{}: {:.0f} ms to every shell ready, {:.2f} x one machine; driver "
          "peak RSS {} KiB (goal <= 15360)\n",
          sc.machines, sc.machines == 1 ? "" : "s", sc.start_all_ms,
          sc.start_all_ms / scales.front().start_all_ms, sc.peak_kib);
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
