// attest-bench-network: guest-to-guest latency and throughput on both network paths, side by
// side in one run: two minimal guests on vlan 1, ping RTT (busybox ping, 20 probes) and a TCP
// transfer of N MiB (netcat), first over VDE hubs, then over a bridge and TAPs in a user+net
// namespace. Prints a table and the TAP/VDE ratios; docs/benchmarks.md quotes it.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>

#include "attest/driver.hpp"
#include "attest/error.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  double rtt_ms = 0;          ///< ping average
  double mib_per_s = 0;       ///< TCP transfer
  double start_ready_ms = 0;  ///< start_all to both shells up (network set up)
};

Result measure(const std::string& config_path, attest::NetworkMode mode, int mib) {
  auto base = attest::load_config(config_path);
  attest::Config c;
  c.name = "bench-network";
  c.network = mode;
  for (const char* name : {"a", "b"}) {
    auto m = base.machines.at(0);
    m.name = name;
    m.vlans = {1};
    c.machines.push_back(m);
  }
  attest::Driver driver(c);
  auto& a = driver.machine("a");
  auto& b = driver.machine("b");
  Result r;
  const auto t0 = Clock::now();
  driver.start_all();
  a.succeed("true");
  b.succeed("true");
  r.start_ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

  a.succeed("ping -c1 -W10 192.168.1.2 >/dev/null");  // ARP and caches warm
  const auto ping = a.succeed("ping -c 20 -i 0.2 -q 192.168.1.2");
  std::smatch m;
  if (std::regex_search(ping, m, std::regex(R"(= [0-9.]+/([0-9.]+)/)"))) r.rtt_ms = std::stod(m[1]);

  // -k: the port probe of wait_for_open_port is a connection too.
  b.succeed("(nc -lk -p 5000 >/dev/null 2>&1 &)");
  b.wait_for_open_port(5000);
  const auto t1 = Clock::now();
  a.succeed(
      fmt::format("dd if=/dev/zero bs=1048576 count={} 2>/dev/null | nc -N 192.168.1.2 5000", mib));
  const double s = std::chrono::duration<double>(Clock::now() - t1).count();
  r.mib_per_s = mib / s;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = std::getenv("ATTEST_CONFIG") != nullptr ? std::getenv("ATTEST_CONFIG") : "";
  int mib = 20;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else if (arg == "--mib" && i + 1 < argc) {
      mib = std::atoi(argv[++i]);
    } else {
      fmt::print(stderr, "usage: attest-bench-network [--config FILE] [--mib N]\n");
      return 2;
    }
  }
  if (config.empty()) {
    fmt::print(stderr, "attest-bench-network: pass --config FILE or set ATTEST_CONFIG\n");
    return 2;
  }
  try {
    const auto vde = measure(config, attest::NetworkMode::vde, mib);
    const auto tap = measure(config, attest::NetworkMode::tap, mib);
    fmt::print("guest to guest, two minimal guests on one vlan ({} MiB over TCP)\n", mib);
    fmt::print("{:<6} {:>14} {:>16} {:>18}\n", "path", "ping RTT (ms)", "TCP (MiB/s)",
               "start→ready (ms)");
    for (const auto& [name, r] : {std::pair{"vde", vde}, std::pair{"tap", tap}})
      fmt::print("{:<6} {:>14.2f} {:>16.1f} {:>18.0f}\n", name, r.rtt_ms, r.mib_per_s,
                 r.start_ready_ms);
    fmt::print("ratios tap/vde: RTT {:.2f}, throughput {:.2f}\n", tap.rtt_ms / vde.rtt_ms,
               tap.mib_per_s / vde.mib_per_s);
  } catch (const attest::Error& e) {
    fmt::print(stderr, "attest-bench-network: {}\n", e.what());
    return 1;
  }
  return 0;
}
