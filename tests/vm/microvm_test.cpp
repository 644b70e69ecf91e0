// The Firecracker and cloud-hypervisor backends, end to end: boot → exec → snapshot → restore →
// shutdown / crash, split store, TAP networks and the errors a user meets. The VMMs cannot run
// here (no binaries, no working KVM), so the backends drive the protocol-faithful doubles in
// tests/doubles/, which serve each VMM's API, validate every request against its spec, and boot
// the real microVM test guest (tests/guests/build-microvm.sh) under QEMU with the guest's vsock
// shell emulated. The same tests run against the real binaries when $ATTEST_REAL_VMMS is set
// (see real_vmm_test below, which checks for the binaries and a working KVM).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "attest/driver.hpp"
#include "attest/error.hpp"
#include "vm_util.hpp"

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

namespace {

namespace fs = std::filesystem;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

/// The microVM guest's configuration with `n` machines on `backend` (named node1.. when n > 1).
attest::Config microvm_config(const std::string& backend, int n = 1) {
  auto base = attest::load_config(env_or("ATTEST_MICROVM_CONFIG", ""));
  attest::Config c = base;
  c.machines.clear();
  for (int i = 1; i <= n; ++i) {
    auto m = base.machines.at(0);
    m.backend = backend;
    m.name = n == 1 ? "machine" : "node" + std::to_string(i);
    m.firecracker_binary = env_or("ATTEST_FIRECRACKER", m.firecracker_binary);
    m.cloud_hypervisor_binary = env_or("ATTEST_CLOUD_HYPERVISOR", m.cloud_hypervisor_binary);
    m.boot_timeout = 120s;
    c.machines.push_back(m);
  }
  return c;
}

class microvm : public ::testing::TestWithParam<std::string> {};

TEST_P(microvm, boots_runs_commands_and_shuts_down) {
  attest::Driver d(microvm_config(GetParam()));
  auto& m = d.machine("machine");
  EXPECT_EQ(m.backend(), GetParam());
  EXPECT_TRUE(m.has(attest::Capability::snapshot));
  EXPECT_FALSE(m.has(attest::Capability::screenshot));
  EXPECT_FALSE(m.has(attest::Capability::send_key));
  EXPECT_FALSE(m.has(attest::Capability::port_forward));
  EXPECT_FALSE(m.has(attest::Capability::reboot));
  EXPECT_EQ(m.succeed("echo hello; echo err >&2"), "hello\n");
  EXPECT_EQ(m.execute("exit 7").status, 7);
  // The split store: the shared erofs image under a per-machine writable overlay.
  EXPECT_THAT(m.succeed("cat /proc/mounts"), HasSubstr("overlay / overlay"));
  EXPECT_THAT(m.succeed("cat /proc/cmdline"), HasSubstr("attest.store=/dev/vdb"));
  EXPECT_EQ(m.succeed("hostname"), "machine\n");  // attest.hostname= (issue 23)
  m.wait_for_console_text("connecting to host");
  EXPECT_THAT(m.get_console_log(), HasSubstr("err\n"));  // stderr goes to the serial console
  m.shutdown(60s);
  EXPECT_FALSE(m.is_up());
}

TEST_P(microvm, snapshot_restore_brings_back_files_and_processes) {
  attest::Driver d(microvm_config(GetParam()));
  auto& m = d.machine("machine");
  m.succeed("echo before > /root/file; sleep 1000 & echo $! > /root/sleeper");
  m.snapshot_create("one");
  // Still the same machine after the snapshot: its state and a fresh shell.
  EXPECT_EQ(m.succeed("cat /root/file"), "before\n");
  m.succeed("echo after > /root/file; touch /root/later; kill $(cat /root/sleeper)");
  m.snapshot_restore("one");
  EXPECT_EQ(m.succeed("cat /root/file"), "before\n");
  m.fail("test -e /root/later");
  m.succeed("kill -0 $(cat /root/sleeper)");  // the process of the snapshot moment runs again
  // A snapshot can be restored again, and a restored machine can be snapshotted.
  m.succeed("touch /root/second");
  m.snapshot_restore("one");
  m.fail("test -e /root/second");
  m.snapshot_create("two");
  m.succeed("echo three > /root/file");
  m.snapshot_restore("two");
  EXPECT_EQ(m.succeed("cat /root/file"), "before\n");
  EXPECT_THROW(m.snapshot_restore("missing"), attest::Error);
  EXPECT_THROW(m.snapshot_create("../escape"), attest::Error);
}

TEST_P(microvm, shutdown_presses_the_power_button_when_poweroff_is_ignored) {
  attest::Driver d(microvm_config(GetParam()));
  auto& m = d.machine("machine");
  // Without the poweroff command the shell's `poweroff` does nothing; the VMM's button
  // (Firecracker: Ctrl-Alt-Del → reboot → exit; cloud-hypervisor: ACPI → acpid → poweroff) does.
  m.succeed("rm -f /bin/poweroff /sbin/poweroff /usr/bin/poweroff /usr/sbin/poweroff");
  const auto t0 = std::chrono::steady_clock::now();
  // 10 s for the guest's shutdown after the button: busybox's init takes several seconds of
  // SIGTERM, SIGKILL and unmounting under TCG with other VM tests running (6 s was too few once).
  m.shutdown(20s);
  EXPECT_GE(attest::vmtest::seconds_since(t0), 9.5);  // half the timeout for `poweroff`
  EXPECT_FALSE(m.is_up());
}

TEST_P(microvm, crash_and_unsupported_operations) {
  attest::Driver d(microvm_config(GetParam()));
  auto& m = d.machine("machine");
  m.connect();
  try {
    m.forward_port(18080, 80);
    ADD_FAILURE() << "forward_port did not throw";
  } catch (const attest::Unsupported& e) {
    EXPECT_THAT(e.what(), HasSubstr("the " + GetParam() + " backend has no user-mode"));
  }
  try {
    m.reboot();
    ADD_FAILURE() << "reboot did not throw";
  } catch (const attest::Unsupported& e) {
    EXPECT_THAT(e.what(), HasSubstr("machine 'machine': reboot: the " + GetParam() +
                                    " backend cannot reboot"));
  }
  EXPECT_THAT([&] { m.reboot_from_shell(); },
              ThrowsMessage<attest::Unsupported>(HasSubstr("machine 'machine': reboot_from_shell: "
                                                           "the " +
                                                           GetParam() + " backend cannot reboot")));
  EXPECT_THAT([&] { m.start({.allow_reboot = true}); },
              ThrowsMessage<attest::Unsupported>(HasSubstr("machine 'machine': start: the " +
                                                           GetParam() + " backend cannot reboot")));
  // No display, keyboard or QEMU monitor: each names the machine, the operation and the backend.
  EXPECT_THAT([&] { (void)m.screenshot("never"); },
              ThrowsMessage<attest::Unsupported>(HasSubstr(
                  "machine 'machine': screenshot: the " + GetParam() + " backend has no display")));
  EXPECT_THAT([&] { m.send_chars("x"); },
              ThrowsMessage<attest::Unsupported>(
                  HasSubstr("send_chars: the " + GetParam() + " backend has no keyboard")));
  EXPECT_THAT([&] { m.send_console("x\n"); },
              ThrowsMessage<attest::Unsupported>(HasSubstr("send_console: the " + GetParam())));
  EXPECT_THAT([&] { (void)m.send_monitor_command("info status"); },
              ThrowsMessage<attest::Unsupported>(HasSubstr("backend has no monitor")));
  EXPECT_THAT(
      [&] { (void)m.wait_for_qmp_event([](const attest::QmpEvent&) { return true; }, 1s); },
      ThrowsMessage<attest::Unsupported>(HasSubstr("wait_for_qmp_event: the " + GetParam())));
  const auto t0 = std::chrono::steady_clock::now();
  m.crash();
  EXPECT_LT(attest::vmtest::seconds_since(t0), 5.0);
  EXPECT_FALSE(m.is_up());
  // A command starts it again (NixOS semantics), from its kept disk.
  EXPECT_EQ(m.succeed("echo again"), "again\n");
}

TEST_P(microvm, two_nodes_share_the_store_and_reach_each_other) {
  auto config = microvm_config(GetParam(), 2);
  for (auto& m : config.machines) m.vlans = {1};
  attest::Driver d(config);
  d.start_all();
  auto& a = d.machine("node1");
  auto& b = d.machine("node2");
  a.succeed("echo mine > /root/only-here");
  b.fail("test -e /root/only-here");
  EXPECT_THAT(a.succeed("ip -4 addr show eth1"), HasSubstr("192.168.1.1/24"));
  b.wait_until_succeeds("ping -c1 -W1 node1", 30s);
  a.succeed("ping -c1 -W1 192.168.1.2");
  a.block();
  b.fail("ping -c1 -W1 node1");
  a.unblock();
  b.wait_until_succeeds("ping -c1 -W1 node1", 30s);
}

TEST_P(microvm, bad_input_is_a_clear_error) {
  {
    // The VMM exits while being configured: its own words are in the error.
    auto config = microvm_config(GetParam());
    const auto script = attest::vmtest::temp_file(
        "exiting-vmm", "#!/bin/sh\necho 'vmm: cannot open /dev/kvm: No such file' >&2\nexit 1\n");
    fs::permissions(script, fs::perms::owner_all);
    config.machines[0].firecracker_binary = script.string();
    config.machines[0].cloud_hypervisor_binary = script.string();
    attest::Driver d(config);
    try {
      d.machine("machine").start();
      ADD_FAILURE() << "start did not throw";
    } catch (const attest::BootError& e) {
      EXPECT_THAT(e.what(), HasSubstr("exited with exit status 1"));
      EXPECT_THAT(e.what(), HasSubstr("cannot open /dev/kvm"));
    }
  }
  {
    // A missing kernel is a configuration error naming the field.
    auto config = microvm_config(GetParam());
    config.machines[0].kernel = "/nonexistent/vmlinux";
    try {
      attest::Driver d(config);
      ADD_FAILURE() << "the driver accepted a missing kernel";
    } catch (const attest::ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr("field 'kernel': file /nonexistent/vmlinux does not exist"));
    }
  }
  {
    // A kernel the VMM cannot boot: the VMM's own message.
    auto config = microvm_config(GetParam());
    const auto bogus = attest::vmtest::temp_file("not-a-kernel", "this is not a kernel\n");
    config.machines[0].kernel = bogus;
    attest::Driver d(config);
    EXPECT_THROW(d.machine("machine").succeed("true"), attest::BootError);
  }
}

TEST_P(microvm, api_socket_path_too_long) {
  // A state directory short enough for QEMU's sockets but too long for the VMM's API socket:
  // <base>/attest-<pid>-XXXXXX/vm-state-machine is 96 bytes.
  const auto pid = std::to_string(::getpid());
  const std::size_t base_length = 96 - (32 + pid.size());
  std::string base = "/tmp/attest-long-";
  base += std::string(base_length - base.size(), 'd');
  fs::create_directories(base);
  const char* old = std::getenv("XDG_RUNTIME_DIR");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("XDG_RUNTIME_DIR", base.c_str(), 1);
  std::string message = "(no error)";
  try {
    attest::Driver d(microvm_config(GetParam()));
    d.machine("machine").start();
  } catch (const attest::Error& e) {
    message = e.what();
  }
  if (old != nullptr)
    ::setenv("XDG_RUNTIME_DIR", saved.c_str(), 1);
  else
    ::unsetenv("XDG_RUNTIME_DIR");
  fs::remove_all(base);
  EXPECT_THAT(message, HasSubstr(".sock is longer than the 107 bytes unix sockets allow; give "
                                 "the machine a shorter name, or point XDG_RUNTIME_DIR (used "
                                 "first) or TMPDIR at a shorter directory"));
}

INSTANTIATE_TEST_SUITE_P(backends, microvm, ::testing::Values("firecracker", "cloud-hypervisor"),
                         [](const auto& info) {
                           return info.param == "firecracker" ? std::string("firecracker")
                                                              : std::string("cloud_hypervisor");
                         });

/// Whether KVM can create a VM here (it exists on this CI machine but cannot run guests, and the
/// real VMMs are absent anyway).
bool kvm_works() {
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION &&
                  std::getenv("ATTEST_KVM_HANGS") == nullptr;
  ::close(fd);
  return ok;
}

/// The binary in PATH, or empty.
std::string in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const auto candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

class real_vmm : public ::testing::TestWithParam<std::string> {};

TEST_P(real_vmm, boots_snapshots_and_restores) {
  const std::string binary = GetParam() == "firecracker" ? "firecracker" : "cloud-hypervisor";
  const auto path = in_path(binary);
  if (path.empty()) GTEST_SKIP() << "skipped: no `" << binary << "` binary in PATH";
  if (!kvm_works()) GTEST_SKIP() << "skipped: KVM does not work on this machine";
  auto config = microvm_config(GetParam());
  config.machines[0].firecracker_binary = path;
  config.machines[0].cloud_hypervisor_binary = path;
  attest::Driver d(config);
  auto& m = d.machine("machine");
  m.succeed("echo real > /root/file");
  m.snapshot_create("real");
  m.succeed("rm /root/file");
  m.snapshot_restore("real");
  EXPECT_EQ(m.succeed("cat /root/file"), "real\n");
  m.shutdown();
}

INSTANTIATE_TEST_SUITE_P(binaries, real_vmm, ::testing::Values("firecracker", "cloud-hypervisor"),
                         [](const auto& info) {
                           return info.param == "firecracker" ? std::string("firecracker")
                                                              : std::string("cloud_hypervisor");
                         });

}  // namespace
