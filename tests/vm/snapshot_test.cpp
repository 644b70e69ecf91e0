// VM tests of QEMU snapshots (internal qcow2 snapshots): a restore brings back the files and
// processes of the snapshot moment and drops later changes, in the running QEMU and in a fresh one
// after the old one died; writable disks are restored with the memory; the shell is resumed
// after a restore even with a command abandoned in flight.
#include <gmock/gmock.h>
#include <signal.h>

#include <chrono>

#include "attest/driver.hpp"
#include "attest/test.hpp"
#include "vm_util.hpp"

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using attest::vmtest::seconds_since;

namespace {

/// The pid of the guest's `sleep 1000` started for the test, as text.
std::string start_marker_process(attest::Machine& m) {
  m.succeed("sleep 1000 >/dev/null 2>&1 & echo $! > /tmp/marker.pid");
  return m.succeed("cat /tmp/marker.pid");
}

}  // namespace

ATTEST_TEST(restore_brings_back_files_and_processes_and_drops_later_changes) {
  auto& m = machine("machine");
  m.succeed("echo saved > /tmp/state");
  const auto pid = start_marker_process(m);
  m.snapshot_create("moment");
  // The machine keeps running after the snapshot, with its shell.
  EXPECT_EQ(m.succeed("cat /tmp/state"), "saved\n");

  m.succeed("echo changed > /tmp/state; touch /tmp/later; kill $(cat /tmp/marker.pid)");
  m.fail("kill -0 $(cat /tmp/marker.pid)");
  const auto vmm = attest::vmtest::vmm_pid(m);
  const auto t0 = std::chrono::steady_clock::now();
  m.snapshot_restore("moment");
  const double took = seconds_since(t0);
  EXPECT_EQ(m.succeed("cat /tmp/state"), "saved\n");
  m.fail("test -e /tmp/later");
  m.succeed("kill -0 " + pid);  // the process of the snapshot moment runs again
  // In place: the same QEMU process, in well under a boot.
  EXPECT_EQ(attest::vmtest::vmm_pid(m), vmm);
  EXPECT_LT(took, 3.0);

  // A snapshot can be restored again and again, and replaced.
  m.succeed("rm /tmp/state");
  m.snapshot_restore("moment");
  EXPECT_EQ(m.succeed("cat /tmp/state"), "saved\n");
  m.succeed("echo second > /tmp/state");
  m.snapshot_create("moment");
  m.succeed("echo third > /tmp/state");
  m.snapshot_restore("moment");
  EXPECT_EQ(m.succeed("cat /tmp/state"), "second\n");
}

ATTEST_TEST(restore_after_the_vmm_died_starts_a_fresh_qemu_from_the_snapshot) {
  auto& m = machine("machine");
  m.succeed("echo before-crash > /tmp/state");
  const auto pid = start_marker_process(m);
  const auto boot_id = m.succeed("cat /proc/sys/kernel/random/boot_id");
  m.snapshot_create("before-crash");
  m.succeed("echo lost > /tmp/state");
  const auto old_vmm = attest::vmtest::vmm_pid(m);
  m.crash();
  EXPECT_FALSE(m.is_up());
  m.snapshot_restore("before-crash");
  EXPECT_TRUE(m.is_up());
  EXPECT_NE(attest::vmtest::vmm_pid(m), old_vmm);
  EXPECT_EQ(m.succeed("cat /tmp/state"), "before-crash\n");
  m.succeed("kill -0 " + pid);
  // The guest did not boot again: the same kernel boot, resumed.
  EXPECT_EQ(m.succeed("cat /proc/sys/kernel/random/boot_id"), boot_id);
  // The restored machine can be snapshotted and restored in place again.
  m.snapshot_create("after-restore");
  m.succeed("echo again > /tmp/state");
  m.snapshot_restore("after-restore");
  EXPECT_EQ(m.succeed("cat /tmp/state"), "before-crash\n");
}

ATTEST_TEST(restore_resumes_the_shell_with_a_command_abandoned_in_flight) {
  auto& m = machine("machine");
  m.succeed("echo idle > /tmp/state");
  m.snapshot_create("idle");
  // A command the host gave up on is still running in the guest when the restore comes: freeze
  // QEMU so that only the host deadline can end it, then let the guest run it.
  const int vmm = attest::vmtest::vmm_pid(m);
  ASSERT_GT(vmm, 0);
  ASSERT_EQ(::kill(vmm, SIGSTOP), 0);
  EXPECT_THROW((void)m.execute("sleep 30; echo late", 1s), attest::TimeoutError);
  ASSERT_EQ(::kill(vmm, SIGCONT), 0);
  const auto t0 = std::chrono::steady_clock::now();
  m.snapshot_restore("idle");
  // The abandoned command never ran in the restored guest: no wait for it, no stray output.
  EXPECT_EQ(m.succeed("cat /tmp/state"), "idle\n");
  EXPECT_LT(seconds_since(t0), 10.0);
}

ATTEST_TEST(writable_disks_are_restored_with_the_machine) {
  auto config = attest::vmtest::minimal_config();
  attest::DiskConfig disk;
  disk.size_mib = 8;
  config.machines.at(0).disks.push_back(disk);
  attest::Driver driver(config);
  auto& m = driver.machine("machine");
  m.succeed("echo on-disk-saved | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync");
  m.snapshot_create("disk");
  m.succeed("echo on-disk-later | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync");
  m.snapshot_restore("disk");
  EXPECT_EQ(m.succeed("dd if=/dev/vda bs=512 count=1 2>/dev/null | head -n1"), "on-disk-saved\n");
  // The fresh disk is a qcow2 image, which holds the snapshot.
  EXPECT_TRUE(std::filesystem::exists(m.state_dir() / "disk0.qcow2"));
}

ATTEST_TEST(snapshot_errors_name_the_machine_and_the_cause) {
  auto& m = machine("machine");
  EXPECT_THAT([&] { m.snapshot_restore("never-taken"); },
              ::testing::ThrowsMessage<attest::Error>(
                  HasSubstr("machine 'machine': snapshot_restore(never-taken): there is no "
                            "snapshot 'never-taken'")));
  EXPECT_THAT([&] { m.snapshot_create("bad/name"); },
              ::testing::ThrowsMessage<attest::Error>(HasSubstr("is not a valid snapshot name")));
}
