// The QEMU command line attest builds: the NixOS driver's arguments for start scripts, a full
// command line for direct boot, and the accelerator rules.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "attest/error.hpp"
#include "backend/qemu.hpp"
#include "scoped_env.hpp"

namespace attest::backend {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::ThrowsMessage;

const MachinePaths paths{"/run/t/vm-state-server", "/run/t/shared-xchg", "/out", {}};
const QemuSockets sockets{"/run/t/vm-state-server/shell", "/run/t/vm-state-server/shell-data",
                          "/run/t/vm-state-server/qmp"};

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += a + " ";
  return s;
}

TEST(qemu_args_test, start_script_gets_the_nixos_driver_arguments) {
  MachineConfig m;
  m.name = "server";
  m.start_command = "/nix/store/x-nixos-vm/bin/run-server-vm";
  const auto l = qemu_launch(m, paths, sockets, Accel::kvm_or_tcg, false, false, "");
  EXPECT_EQ(l.program, "/nix/store/x-nixos-vm/bin/run-server-vm");
  EXPECT_EQ(l.cwd, "/run/t/vm-state-server");
  EXPECT_THAT(l.env,
              Contains(std::pair<std::string, std::string>{"TMPDIR", "/run/t/vm-state-server"}));
  EXPECT_THAT(l.env,
              Contains(std::pair<std::string, std::string>{"SHARED_DIR", "/run/t/shared-xchg"}));
  EXPECT_THAT(l.env, Contains(std::pair<std::string, std::string>{"USE_TMPDIR", "1"}));
  const auto a = joined(l.args);
  EXPECT_THAT(a, HasSubstr("-qmp unix:/run/t/vm-state-server/qmp,server=on,wait=off "));
  EXPECT_THAT(a, HasSubstr("-chardev socket,id=shell,path=/run/t/vm-state-server/shell "));
  EXPECT_THAT(a, HasSubstr("-device virtconsole,chardev=shell,bus=attest-serial.0 "));
  EXPECT_THAT(
      a,
      HasSubstr(
          "-device virtserialport,chardev=attest-data,name=org.attest.data,bus=attest-serial.0 "));
  EXPECT_THAT(a, HasSubstr("-device virtio-rng-pci -serial stdio -no-reboot -nographic "));
  EXPECT_THAT(a, Not(HasSubstr("accel")));
}

TEST(qemu_args_test, start_script_options) {
  MachineConfig m;
  m.name = "server";
  m.start_command = "/x/run-server-vm";
  m.allow_reboot = true;
  m.qemu_args = {"-m", "2048"};
  const auto l = qemu_launch(m, paths, sockets, Accel::tcg, true, true, "");
  const auto a = joined(l.args);
  EXPECT_THAT(a, Not(HasSubstr("-no-reboot")));
  EXPECT_THAT(a, Not(HasSubstr("-nographic")));
  EXPECT_THAT(a, HasSubstr("-machine accel=tcg -m 2048 "));
}

TEST(qemu_args_test, direct_boot) {
  MachineConfig m;
  m.name = "vm";
  m.kernel = "/k/vmlinuz";
  m.initrd = "/k/initrd.img";
  m.cmdline = "console=ttyS0 panic=-1";
  m.memory_mib = 128;
  m.vcpus = 2;
  DiskConfig image;
  image.path = "/d/root.img";
  image.format = "qcow2";
  image.read_only = true;
  DiskConfig fresh;
  fresh.size_mib = 64;
  DiskConfig writable;
  writable.path = "/d/data.img";
  m.disks = {image, fresh, writable};
  const auto l = qemu_launch(m, paths, sockets, Accel::tcg, true, false, "/q/qboot.rom");
  EXPECT_EQ(l.program, "qemu-system-x86_64");
  EXPECT_TRUE(l.env.empty());
  const auto a = joined(l.args);
  EXPECT_THAT(a,
              HasSubstr("-name vm -nodefaults -no-user-config -machine pc -accel tcg,thread=multi "
                        "-cpu max -m 128 -smp 2 -bios /q/qboot.rom -kernel /k/vmlinuz "
                        "-initrd /k/initrd.img -append console=ttyS0 panic=-1 hostname=vm "
                        "systemd.hostname=vm attest.hostname=vm "));
  EXPECT_THAT(a, HasSubstr("-drive file=/d/root.img,format=qcow2,if=virtio,readonly=on "));
  // A fresh disk is a qcow2 image in the machine's state directory (snapshots need qcow2).
  EXPECT_THAT(a, HasSubstr(fmt::format("-drive file={}/disk1.qcow2,format=qcow2,if=virtio ",
                                       paths.state_dir.string())));
  // A writable image is written through the machine's own overlay, never itself.
  EXPECT_THAT(a, HasSubstr(fmt::format("-drive file={}/disk2.qcow2,format=qcow2,if=virtio ",
                                       paths.state_dir.string())));
  EXPECT_THAT(a, Not(HasSubstr("/d/data.img")));
  EXPECT_THAT(a, HasSubstr("-serial stdio -display none -no-reboot"));
  // A screen (for screendump and the guest's virtual consoles) that nothing shows.
  EXPECT_THAT(a, HasSubstr("-device VGA -qmp "));
  EXPECT_THAT(a, Not(HasSubstr("-nographic")));
  EXPECT_THAT(l.args, Not(Contains("-S")));
}

TEST(qemu_args_test, qemu_img_makes_a_blank_disk_or_an_overlay_over_a_writable_image) {
  DiskConfig fresh;
  fresh.size_mib = 64;
  EXPECT_THAT(qemu_img_create_args(fresh, "/s/disk0.qcow2"),
              ElementsAre("create", "-q", "-f", "qcow2", "/s/disk0.qcow2", "64M"));
  DiskConfig image;
  image.path = "/d/root.ext4";
  EXPECT_THAT(qemu_img_create_args(image, "/s/disk1.qcow2"),
              ElementsAre("create", "-q", "-f", "qcow2", "-b", "/d/root.ext4", "-F", "raw",
                          "/s/disk1.qcow2"));
  EXPECT_TRUE(qemu_disk_is_own(fresh));
  EXPECT_TRUE(qemu_disk_is_own(image));
  image.read_only = true;
  EXPECT_FALSE(qemu_disk_is_own(image));
}

TEST(qemu_args_test, a_restore_starts_qemu_paused_on_both_paths) {
  MachineConfig m;
  m.name = "vm";
  m.kernel = "/k/vmlinuz";
  m.qemu_args = {"-snapshot-test-extra"};
  const auto direct = qemu_launch(m, paths, sockets, Accel::tcg, true, false, "", {}, true);
  // -S before the user's extra arguments, which stay last.
  EXPECT_THAT(joined(direct.args), HasSubstr("-S -snapshot-test-extra"));
  m.kernel.clear();
  m.start_command = "/nix/store/x/bin/run-vm-vm";
  const auto script = qemu_launch(m, paths, sockets, Accel::tcg, false, false, "", {}, true);
  EXPECT_THAT(script.args, Contains("-S"));
}

TEST(qemu_args_test, qemu_img_is_found_next_to_qemu) {
  EXPECT_EQ(qemu_img_program("qemu-system-x86_64"), "qemu-img");
  // A QEMU installation of its own, made here: no host's /usr/bin/qemu-img is assumed (the Nix
  // build sandbox, which runs the unit suite, has none).
  const auto bin =
      std::filesystem::path(::testing::TempDir()) / fmt::format("attest-qemu-img-{}", ::getpid());
  std::filesystem::create_directories(bin);
  for (const char* name : {"qemu-system-x86_64", "qemu-img"}) {
    std::ofstream(bin / name) << "#!/bin/sh\nexit 1\n";
    std::filesystem::permissions(bin / name, std::filesystem::perms::owner_all);
  }
  EXPECT_EQ(qemu_img_program((bin / "qemu-system-x86_64").string()), (bin / "qemu-img").string());
  // No qemu-img beside it: the one in PATH.
  std::filesystem::remove(bin / "qemu-img");
  EXPECT_EQ(qemu_img_program((bin / "qemu-system-x86_64").string()), "qemu-img");
  EXPECT_EQ(qemu_img_program("/nonexistent/bin/qemu-system-x86_64"), "qemu-img");
  std::filesystem::remove_all(bin);
}

TEST(qemu_args_test, accelerators) {
  MachineConfig m;
  m.name = "vm";
  m.kernel = "/k/vmlinuz";
  EXPECT_THAT(joined(qemu_launch(m, paths, sockets, Accel::kvm, true, false, "").args),
              HasSubstr("-accel kvm -cpu"));
  EXPECT_THAT(joined(qemu_launch(m, paths, sockets, Accel::kvm_or_tcg, false, false, "").args),
              HasSubstr("-accel kvm -accel tcg -cpu"));
}

// Issue 23: a machine on no vlan kept the guest's own hostname; NixOS names every node's host
// after the node, and so does the kernel command line now, vlans or not, at no cost to the boot.
TEST(qemu_args_test, kernel_cmdline_names_the_host_after_the_machine) {
  MachineConfig m;
  m.name = "server";
  m.kernel = "/k/vmlinuz";
  m.cmdline = "console=ttyS0 quiet";
  const std::string names = "hostname=server systemd.hostname=server attest.hostname=server";
  EXPECT_EQ(kernel_cmdline(m), "console=ttyS0 quiet " + names);
  EXPECT_THAT(qemu_launch(m, paths, sockets, Accel::tcg, true, false, "").args,
              Contains("console=ttyS0 quiet " + names));
  // Words after `--` are init's arguments: the names go before them.
  m.cmdline = "console=ttyS0 init=/bin/sh -- -c true";
  EXPECT_EQ(kernel_cmdline(m), "console=ttyS0 init=/bin/sh " + names + " -- -c true");
  m.cmdline = "--";
  EXPECT_EQ(kernel_cmdline(m), names + " --");
  m.cmdline = "a--b --x";  // not the word `--`
  EXPECT_EQ(kernel_cmdline(m), "a--b --x " + names);
  // Without a command line of its own: the backend's default, or the names alone.
  m.cmdline.clear();
  EXPECT_EQ(kernel_cmdline(m), names);
  EXPECT_EQ(kernel_cmdline(m, "console=ttyS0"), "console=ttyS0 " + names);
  // A guest that configures itself (the Nix microVM guests: NixOS sets its hostName) is left
  // alone, as is a NixOS start script, which has no command line of attest's.
  m.configure_network = false;
  m.cmdline = "console=ttyS0";
  EXPECT_EQ(kernel_cmdline(m), "console=ttyS0");
  EXPECT_THAT(joined(qemu_launch(m, paths, sockets, Accel::tcg, true, false, "").args),
              Not(HasSubstr("hostname")));
  MachineConfig script;
  script.name = "server";
  script.start_command = "/x/run-server-vm";
  EXPECT_THAT(joined(qemu_launch(script, paths, sockets, Accel::tcg, true, false, "").args),
              Not(HasSubstr("hostname")));
}

TEST(qemu_args_test, attest_accel_overrides_the_config) {
  MachineConfig m;
  m.name = "vm";
  m.accel = Accel::kvm;
  bool explicit_choice = false;
  {
    testing_support::ScopedEnv unset("ATTEST_ACCEL", std::nullopt);
    EXPECT_EQ(effective_accel(m, &explicit_choice), Accel::kvm);
    EXPECT_TRUE(explicit_choice);
    m.accel.reset();
    EXPECT_EQ(effective_accel(m, &explicit_choice), Accel::kvm_or_tcg);
    EXPECT_FALSE(explicit_choice);
  }
  {
    testing_support::ScopedEnv tcg("ATTEST_ACCEL", "tcg");
    EXPECT_EQ(effective_accel(m, &explicit_choice), Accel::tcg);
    EXPECT_TRUE(explicit_choice);
  }
  // A value set after the configuration was validated is still caught at the start, and the
  // error names the machine.
  testing_support::ScopedEnv fast("ATTEST_ACCEL", "fast");
  EXPECT_THAT([&] { effective_accel(m); },
              ThrowsMessage<ConfigError>(StartsWith(
                  "machine 'vm': environment variable ATTEST_ACCEL='fast' is not one of kvm, tcg, "
                  "kvm:tcg")));
}

TEST(qemu_args_test, the_boot_identity_holds_every_input_and_no_run_path) {
  // The boot cache's key (warm starts): what changes the booted machine changes it; this run's
  // own paths (state directory, sockets, vlan switches) are not in it.
  testing_support::ScopedEnv tcg("ATTEST_ACCEL", "tcg");
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("attest-identity-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "vmlinuz") << "kernel";
  std::ofstream(dir / "initrd") << "initrd";
  MachineConfig m;
  m.name = "server";
  m.kernel = dir / "vmlinuz";
  m.initrd = dir / "initrd";
  m.cmdline = "console=ttyS0";
  DiskConfig fresh;
  fresh.size_mib = 64;
  m.disks.push_back(fresh);
  net::Attachment network;
  network.links.push_back(
      {{1, 1, "52:54:00:12:01:01", "192.168.1.1", "2001:db8:1::1"}, "/run/t/vde1", ""});
  const auto identity = qemu_boot_identity(m, network);
  EXPECT_THAT(identity, HasSubstr("-accel tcg"));
  EXPECT_THAT(identity, HasSubstr("mac=52:54:00:12:01:01"));
  EXPECT_THAT(identity, HasSubstr("kernel " + (dir / "vmlinuz").string() + " 6 "));
  EXPECT_THAT(identity, HasSubstr("initrd " + (dir / "initrd").string() + " 6 "));
  EXPECT_THAT(identity, HasSubstr("binary /"));
  EXPECT_THAT(identity, Not(HasSubstr("/run/t")));
  // Another vlan switch of the same vlan is the same machine.
  auto elsewhere = network;
  elsewhere.links[0].vde_socket = "/run/u/vde1";
  EXPECT_EQ(qemu_boot_identity(m, elsewhere), identity);
  // Each of these is another machine.
  auto changed = m;
  changed.cmdline += " quiet";
  EXPECT_NE(qemu_boot_identity(changed, network), identity);
  changed = m;
  changed.memory_mib = 512;
  EXPECT_NE(qemu_boot_identity(changed, network), identity);
  changed = m;
  changed.disks[0].size_mib = 128;
  EXPECT_NE(qemu_boot_identity(changed, network), identity);
  EXPECT_NE(qemu_boot_identity(m, {}), identity);
  {
    testing_support::ScopedEnv kvm("ATTEST_ACCEL", "kvm");
    EXPECT_NE(qemu_boot_identity(m, network), identity);
  }
  std::ofstream(dir / "vmlinuz") << "a rebuilt kernel";
  EXPECT_NE(qemu_boot_identity(m, network), identity);
  // A NixOS start script's machine is not carried over.
  changed = m;
  changed.start_command = "/nix/store/x/bin/run-server-vm";
  EXPECT_EQ(qemu_boot_identity(changed, network), "");
  std::filesystem::remove_all(dir);
}

TEST(qemu_args_test, the_snapshot_files_are_the_state_image_and_the_own_disks) {
  MachineConfig m;
  DiskConfig store, fresh, data;
  store.path = "/images/root.erofs";
  store.read_only = true;
  fresh.size_mib = 64;
  data.path = "/images/data.img";
  m.disks = {store, fresh, data};
  EXPECT_THAT(qemu_snapshot_files(m, paths), ElementsAre("/run/t/vm-state-server/vmstate.qcow2",
                                                         "/run/t/vm-state-server/disk1.qcow2",
                                                         "/run/t/vm-state-server/disk2.qcow2"));
}

}  // namespace
}  // namespace attest::backend
