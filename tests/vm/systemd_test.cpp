// The systemd-facing Machine API against the systemd test guest (read-only erofs root with a
// per-machine overlay): units, jobs, user managers, reboot, shutdown, and misbuilt images.
#include <gmock/gmock.h>

#include <filesystem>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "vm_util.hpp"

using namespace std::chrono_literals;
using attest::vmtest::seconds_since;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::ThrowsMessage;

namespace {

/// Installs a system unit from `text` and reloads systemd.
void install_unit(attest::Machine& m, const std::string& name, const std::string& text) {
  m.succeed("cat >/etc/systemd/system/" + name + " <<'EOF'\n" + text +
            "EOF\nsystemctl daemon-reload");
}

}  // namespace

ATTEST_TEST(units_jobs_and_states) {
  start_all();
  auto& m = machine("server");
  m.wait_for_unit("multi-user.target");
  // systemd.hostname= on the kernel command line names the host, over /etc/hostname (issue 23).
  EXPECT_EQ(m.succeed("hostname"), "server\n");

  subtest("unit info and properties", [&] {
    install_unit(m, "env.service",
                 "[Service]\nType=oneshot\nRemainAfterExit=yes\nEnvironment=FOO=bar BAZ=qux\n"
                 "ExecStart=/bin/true\n");
    EXPECT_EQ(m.start_job("env.service").status, 0);
    const auto info = m.get_unit_info("env.service");
    EXPECT_EQ(info.at("Id"), "env.service");
    EXPECT_EQ(info.at("ActiveState"), "active");
    // Values keep everything after the first '='.
    EXPECT_EQ(info.at("Environment"), "FOO=bar BAZ=qux");
    EXPECT_EQ(m.get_unit_property("nginx.service", "SubState"), "running");
    EXPECT_THAT([&] { m.get_unit_property("nginx.service", "NoSuchProperty"); },
                ThrowsMessage<attest::CommandFailed>(HasSubstr("did not report the property")));
  });

  subtest("jobs and required states", [&] {
    m.require_unit_state("nginx.service");
    EXPECT_EQ(m.systemctl("is-active nginx.service").output, "active\n");
    EXPECT_EQ(m.stop_job("nginx.service").status, 0);
    m.require_unit_state("nginx.service", "inactive");
    m.wait_for_closed_port(80, "localhost", 60s);
    EXPECT_THAT([&] { m.require_unit_state("nginx.service"); },
                ThrowsMessage<attest::UnitError>(
                    HasSubstr("unit nginx.service is inactive, expected active")));
    EXPECT_EQ(m.start_job("nginx.service").status, 0);
    m.wait_for_unit("nginx.service", {}, 60s);
    m.wait_for_open_port(80, "localhost", 60s);
    EXPECT_NE(m.start_job("no-such-unit.service").status, 0);
  });

  subtest("a failing unit fails wait_for_unit at once, with its status", [&] {
    install_unit(m, "broken.service", "[Service]\nExecStart=/bin/false\n");
    m.systemctl("start --no-block broken.service");
    const auto t0 = std::chrono::steady_clock::now();
    try {
      m.wait_for_unit("broken.service", {}, 300s);
      ADD_FAILURE() << "wait_for_unit returned for a failing unit";
    } catch (const attest::UnitError& e) {
      EXPECT_EQ(e.unit(), "broken.service");
      EXPECT_EQ(e.state(), "failed");
      EXPECT_THAT(e.what(),
                  AllOf(HasSubstr("wait_for_unit(broken.service): unit broken.service has failed"),
                        HasSubstr("systemctl status broken.service:"),
                        HasSubstr("ExecStart=/bin/false"), HasSubstr("journal of broken.service")));
    }
    // Far from the 900 s default: the state decides, not the timeout.
    EXPECT_LT(seconds_since(t0), 60.0);
  });

  subtest("a unit that never becomes active times out with context", [&] {
    install_unit(m, "stuck.service",
                 "[Service]\nType=notify\nTimeoutStartSec=infinity\nExecStart=/bin/sleep "
                 "infinity\n");
    m.systemctl("start --no-block stuck.service");
    EXPECT_THAT(
        [&] { m.wait_for_unit("stuck.service", {}, 5s); },
        ThrowsMessage<attest::TimeoutError>(
            AllOf(HasSubstr("timed out after 5s waiting for unit stuck.service ("),
                  HasSubstr("; it is still activating, SubState="),
                  HasSubstr("systemctl status stuck.service:"), HasSubstr("/bin/sleep infinity"))));
  });

  subtest("inactive with no pending jobs, and units that do not exist", [&] {
    install_unit(m, "idle.service", "[Service]\nExecStart=/bin/sleep infinity\n");
    // stuck.service's pending job (above) does not count for idle.service.
    EXPECT_THAT([&] { m.wait_for_unit("idle.service", {}, 120s); },
                ThrowsMessage<attest::UnitError>(
                    HasSubstr("unit idle.service is inactive and there are no pending jobs")));
    EXPECT_THAT(
        [&] { m.wait_for_unit("no-such-unit.service", {}, 120s); },
        ThrowsMessage<attest::UnitError>(HasSubstr("unit no-such-unit.service does not exist")));
  });

  subtest("a user's units", [&] {
    m.wait_for_unit("default.target", "alice");
    m.succeed(
        "mkdir -p /etc/systemd/user && printf '[Service]\\nExecStart=/bin/sleep infinity\\n' "
        ">/etc/systemd/user/hello.service");
    EXPECT_EQ(m.systemctl("daemon-reload", "alice").status, 0);
    EXPECT_EQ(m.start_job("hello.service", "alice").status, 0);
    m.wait_for_unit("hello.service", "alice", 60s);
    EXPECT_EQ(m.get_unit_property("hello.service", "ActiveState", "alice"), "active");
    EXPECT_EQ(m.get_unit_info("hello.service", "alice").at("ActiveState"), "active");
    // The process runs as alice, in alice's manager, not the system's.
    m.succeed("pgrep -u alice -x sleep");
    EXPECT_EQ(m.systemctl("is-active hello.service").output, "inactive\n");
    EXPECT_EQ(m.stop_job("hello.service", "alice").status, 0);
    EXPECT_EQ(m.get_unit_property("hello.service", "ActiveState", "alice"), "inactive");
  });
}

ATTEST_TEST(shared_store_own_overlays_reboot_and_shutdown) {
  // Two machines boot the same read-only image; each writes only to its own upper layer.
  auto config = attest::vmtest::guest_config();
  auto second = config.machines.at(0);
  config.machines[0].name = "a";
  second.name = "b";
  config.machines.push_back(second);
  attest::Driver driver(config);
  driver.start_all();
  auto& a = driver.machine("a");
  auto& b = driver.machine("b");

  a.succeed("echo kept > /root/persist");
  EXPECT_THAT(b.succeed("findmnt -n -o FSTYPE /"), HasSubstr("overlay"));
  b.fail("test -e /root/persist");
  EXPECT_EQ(a.succeed("cat /root/persist"), "kept\n");

  subtest("reboot: same machine, same disk, a new boot", [&] {
    const auto boot_id = a.succeed("cat /proc/sys/kernel/random/boot_id");
    // ctrl-alt-delete, as NixOS: systemd starts ctrl-alt-del.target (reboot.target).
    a.reboot();
    EXPECT_EQ(a.succeed("cat /root/persist"), "kept\n");
    const auto second_boot = a.succeed("cat /proc/sys/kernel/random/boot_id");
    EXPECT_NE(second_boot, boot_id);
    a.wait_for_unit("multi-user.target");
    EXPECT_TRUE(a.is_up());
    EXPECT_THAT(a.get_console_log(), HasSubstr("reboot: Restarting system"));
    // `reboot` on the shell.
    a.reboot_from_shell();
    EXPECT_EQ(a.succeed("cat /root/persist"), "kept\n");
    EXPECT_NE(a.succeed("cat /proc/sys/kernel/random/boot_id"), second_boot);
    a.wait_for_unit("multi-user.target");
  });

  subtest("shutdown powers off and waits for the VMM", [&] {
    b.shutdown();
    EXPECT_FALSE(b.is_up());
    EXPECT_EQ(attest::vmtest::vmm_pid(b), -1);
    EXPECT_EQ(a.succeed("echo still here"), "still here\n");
  });
}

ATTEST_TEST(warm_start_restores_memory_and_the_overlay_disk_together) {
  // The booted machine is saved mid-boot (its shell answers before multi-user.target): a later
  // run restores memory and the upper layer's disk as one moment, and the boot goes on from
  // there with a consistent file system.
  const auto cache = std::filesystem::path(::testing::TempDir()) /
                     ("attest-warm-systemd-" + std::to_string(::getpid()));
  std::filesystem::remove_all(cache);
  attest::DriverOptions options;
  options.warm = true;
  options.boot_cache_dir = cache;
  // The stage 1's line of a first boot: on the console of a cold boot, not of a restored one.
  const std::string first_boot = "formatting the upper layer";
  {
    attest::Driver run(attest::vmtest::guest_config(), options);
    auto& cold = run.machine("server");
    cold.connect();
    EXPECT_THAT(cold.get_console_log(), HasSubstr(first_boot));
  }
  attest::Driver run(attest::vmtest::guest_config(), options);
  auto& m = run.machine("server");
  m.connect();
  EXPECT_THAT(m.get_console_log(), Not(HasSubstr(first_boot)));
  m.wait_for_unit("multi-user.target");
  m.succeed("echo written > /root/after-restore && sync && grep -qx written /root/after-restore");
  EXPECT_THAT(m.succeed("findmnt -n -o FSTYPE /"), HasSubstr("overlay"));
  // No file system error from the upper layer (ext2 on the machine's own qcow2 disk).
  m.fail("dmesg | grep -iE 'EXT[24]-fs error|I/O error'");
  std::filesystem::remove_all(cache);
}

namespace {

/// Boots the guest with `store` as its root image and expects a fast BootError saying `why`.
void expect_boot_error(const std::filesystem::path& store, const std::string& why) {
  auto config = attest::vmtest::guest_config();
  config.machines.at(0).disks.at(0).path = store;
  attest::Driver driver(config);
  auto& m = driver.machine("server");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT([&] { m.succeed("true"); },
              ThrowsMessage<attest::BootError>(
                  AllOf(HasSubstr(why), HasSubstr("console (last"), HasSubstr("kernel panicked"))));
  EXPECT_LT(seconds_since(t0), 120.0) << "the boot error came only at a timeout";
}

}  // namespace

ATTEST_TEST(misbuilt_images_fail_the_boot_with_the_console_tail) {
  subtest("a root image in the wrong format", [&] {
    expect_boot_error(attest::vmtest::temp_file("not-erofs.img", std::string(64 * 1024, 'x')),
                      "is not an erofs image");
  });
  subtest("a root image without an init", [&] {
    const auto dir = std::filesystem::path(::testing::TempDir()) / "no-init-root";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "etc");
    attest::vmtest::temp_file("no-init-root/etc/hostname", "broken\n");
    const auto image = std::filesystem::path(::testing::TempDir()) / "no-init.erofs";
    ASSERT_EQ(std::system(("mkfs.erofs --quiet " + image.string() + " " + dir.string()).c_str()),
              0);
    expect_boot_error(image, "the store has no /sbin/init");
  });
  subtest("a root image that is missing on the host", [&] {
    auto config = attest::vmtest::guest_config();
    config.machines.at(0).disks.at(0).path = "/nonexistent/root.erofs";
    EXPECT_THAT([&] { attest::Driver driver(config); },
                ThrowsMessage<attest::ConfigError>(
                    AllOf(HasSubstr("machine 'server'"), HasSubstr("disks[0].path"),
                          HasSubstr("/nonexistent/root.erofs does not exist"))));
  });
}
