# The backend comparison of `nix build .#bench` (the seed's benchmark), as a test module: one
# small node without a network, booted, 20 `succeed("true")`, shut down; Firecracker also
# snapshots and restores. Each run prints the seed's summary line, e.g.
# `qemu: boot=7949 exec=62 total=11160ms`; the flake runs it on each backend
# (bench-qemu, bench-firecracker, ...) and the bench package collects the lines.
{
  name = "bench";
  attest.splitStore = true;
  nodes.machine.virtualisation.vlans = [ ];
  attest.testPrelude = ''
    #include <algorithm>
    #include <iostream>
    using BenchClock = std::chrono::steady_clock;
    inline long bench_ms(BenchClock::time_point since) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(BenchClock::now() - since)
          .count();
    }
  '';
  testScript = ''
    const auto start = BenchClock::now();
    machine.start();
    machine.succeed("true");  // the shell is up
    const long boot = bench_ms(start);
    std::vector<long> exec;
    for (int i = 0; i < 20; ++i) {
      const auto t = BenchClock::now();
      machine.succeed("true");
      exec.push_back(bench_ms(t));
    }
    std::sort(exec.begin(), exec.end());
    if (machine.has(attest::Capability::snapshot) && machine.backend() == "firecracker") {
      machine.snapshot_create("bench");
      const auto t = BenchClock::now();
      machine.snapshot_restore("bench");
      machine.succeed("true");
      std::cout << "fc-snapshot:      cold=" << boot << "  restore=" << bench_ms(t) << "\n";
    }
    machine.shutdown();
    std::cout << machine.backend() << ": boot=" << boot << " exec=" << exec[exec.size() / 2]
              << " total=" << bench_ms(start) << "ms\n";
  '';
}
