// The microVM backends' pure parts: the Firecracker requests and the cloud-hypervisor VmConfig a
// machine turns into (shaped as vmm-api.md §2 and the VMMs' API specs), private disks and their
// sparse copies, and the configuration errors only microVM machines can make.
#include <gmock/gmock.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "attest/error.hpp"
#include "backend/microvm.hpp"

namespace attest::backend {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

/// What the kernel command line of machine "server" ends with: its host's name (kernel_cmdline).
const std::string host_names = " hostname=server systemd.hostname=server attest.hostname=server";

class microvm_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("attest-microvm-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "state");
    std::ofstream(dir_ / "vmlinux") << "kernel";
    std::ofstream(dir_ / "initrd.img") << "initrd";
    std::ofstream(dir_ / "store.erofs") << "store";
    std::ofstream(dir_ / "root.img") << "root";
    paths_.state_dir = dir_ / "state";
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A split-store machine: a fresh writable root and the shared read-only store.
  MachineConfig machine(const std::string& backend) const {
    MachineConfig m;
    m.name = "server";
    m.backend = backend;
    m.kernel = dir_ / "vmlinux";
    m.initrd = dir_ / "initrd.img";
    m.cmdline = "console=ttyS0 reboot=k panic=-1 attest.store=/dev/vdb attest.upper=/dev/vda";
    m.memory_mib = 256;
    m.vcpus = 2;
    DiskConfig root;
    root.size_mib = 64;
    DiskConfig store;
    store.path = dir_ / "store.erofs";
    store.read_only = true;
    store.id = "store";
    m.disks = {root, store};
    return m;
  }

  static net::Attachment two_vlans() {
    net::Attachment a;
    a.mode = NetworkMode::tap;
    net::Link l1;
    l1.iface.vlan = 1;
    l1.iface.index = 1;
    l1.iface.mac = "52:54:00:12:01:02";
    l1.tap = "tap2-1";
    net::Link l2 = l1;
    l2.iface.vlan = 7;
    l2.iface.index = 2;
    l2.iface.mac = "52:54:00:12:07:02";
    l2.tap = "tap2-7";
    a.links = {l1, l2};
    return a;
  }

  std::string config_error(const MachineConfig& m) {
    try {
      validate(m, dir_ / "test.json");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }

  fs::path dir_;
  MachinePaths paths_;
};

TEST_F(microvm_test, firecracker_requests_in_order_with_the_specs_field_names) {
  const auto m = machine("firecracker");
  const auto files = microvm_files(paths_, "firecracker");
  EXPECT_EQ(files.api_socket, (dir_ / "state" / "firecracker.sock").string());
  EXPECT_EQ(files.vsock, (dir_ / "state" / "v.sock").string());
  EXPECT_EQ(files.log, (dir_ / "state" / "firecracker.log").string());
  const auto r = firecracker_configuration(m, paths_, two_vlans(), files);
  std::vector<std::string> order;
  for (const auto& q : r) order.push_back(q.method + " " + q.target);
  EXPECT_THAT(
      order, ::testing::ElementsAre("PUT /machine-config", "PUT /boot-source", "PUT /drives/rootfs",
                                    "PUT /drives/store", "PUT /network-interfaces/eth1",
                                    "PUT /network-interfaces/eth2", "PUT /vsock", "PUT /entropy"));
  EXPECT_EQ(r[0].body, json::parse(R"({"vcpu_count": 2, "mem_size_mib": 256})"));
  EXPECT_EQ(r[1].body["kernel_image_path"], (dir_ / "vmlinux").string());
  EXPECT_EQ(r[1].body["initrd_path"], (dir_ / "initrd.img").string());
  EXPECT_EQ(r[1].body["boot_args"], m.cmdline + host_names);
  // With an initrd no drive is the root device (Firecracker would add root=/dev/vda).
  EXPECT_EQ(r[2].body, json({{"drive_id", "rootfs"},
                             {"path_on_host", (dir_ / "state" / "disk0.raw").string()},
                             {"is_root_device", false},
                             {"is_read_only", false}}));
  EXPECT_EQ(r[3].body, json({{"drive_id", "store"},
                             {"path_on_host", (dir_ / "store.erofs").string()},
                             {"is_root_device", false},
                             {"is_read_only", true}}));
  EXPECT_EQ(r[4].body, json::parse(R"({"iface_id": "eth1", "host_dev_name": "tap2-1",
                                       "guest_mac": "52:54:00:12:01:02"})"));
  EXPECT_EQ(r[5].body["iface_id"], "eth2");
  EXPECT_EQ(r[6].body, json({{"guest_cid", 3}, {"uds_path", files.vsock}}));
  EXPECT_EQ(r[7].body, json::object());  // Firecracker rejects an empty PUT body; {} is fine
}

TEST_F(microvm_test, firecracker_root_device_without_initrd_and_default_boot_args) {
  auto m = machine("firecracker");
  m.initrd.clear();
  m.cmdline.clear();
  const auto r = firecracker_configuration(m, paths_, {}, microvm_files(paths_, "firecracker"));
  EXPECT_EQ(r[1].body, json({{"kernel_image_path", (dir_ / "vmlinux").string()},
                             {"boot_args", "console=ttyS0 reboot=k panic=1" + host_names}}));
  EXPECT_EQ(r[2].body["is_root_device"], true);
  EXPECT_EQ(r[3].body["is_root_device"], false);
  // A guest that names its own host (the Nix microVM guests, from their NixOS configuration).
  m.configure_network = false;
  EXPECT_EQ(firecracker_configuration(m, paths_, {}, microvm_files(paths_, "firecracker"))[1]
                .body["boot_args"],
            "console=ttyS0 reboot=k panic=1");
}

TEST_F(microvm_test, firecracker_snapshot_load_overrides_vsock_and_taps) {
  const auto files = microvm_files(paths_, "firecracker");
  const auto r = firecracker_snapshot_load("/snap/a", two_vlans(), files);
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target, "/snapshot/load");
  EXPECT_EQ(r.body, json::parse(R"({
    "snapshot_path": "/snap/a/vmstate",
    "mem_backend": {"backend_type": "File", "backend_path": "/snap/a/memory"},
    "resume_vm": true,
    "vsock_override": {"uds_path": ")" +
                                files.vsock + R"("},
    "network_overrides": [{"iface_id": "eth1", "host_dev_name": "tap2-1"},
                          {"iface_id": "eth2", "host_dev_name": "tap2-7"}]})"));
  EXPECT_FALSE(firecracker_snapshot_load("/s", {}, files).body.contains("network_overrides"));
}

TEST_F(microvm_test, cloud_hypervisor_vm_config_memory_in_bytes_serial_on_stdout) {
  const auto m = machine("cloud-hypervisor");
  const auto files = microvm_files(paths_, "cloud-hypervisor");
  EXPECT_EQ(files.api_socket, (dir_ / "state" / "cloud-hypervisor.sock").string());
  EXPECT_TRUE(files.log.empty());
  const auto vm = cloud_hypervisor_vm_config(m, paths_, two_vlans(), files);
  EXPECT_EQ(vm, json::parse(R"({
    "payload": {"kernel": ")" +
                            (dir_ / "vmlinux").string() + R"(",
                "initramfs": ")" +
                            (dir_ / "initrd.img").string() + R"(",
                "cmdline": ")" +
                            m.cmdline + host_names + R"("},
    "cpus": {"boot_vcpus": 2, "max_vcpus": 2},
    "memory": {"size": 268435456},
    "disks": [{"path": ")" + (dir_ / "state" / "disk0.raw").string() +
                            R"(", "readonly": false,
               "id": "rootfs"},
              {"path": ")" + (dir_ / "store.erofs").string() +
                            R"(", "readonly": true,
               "id": "store"}],
    "net": [{"tap": "tap2-1", "mac": "52:54:00:12:01:02", "id": "eth1"},
            {"tap": "tap2-7", "mac": "52:54:00:12:07:02", "id": "eth2"}],
    "serial": {"mode": "Tty"},
    "console": {"mode": "Off"},
    "rng": {"src": "/dev/urandom"},
    "vsock": {"cid": 3, "socket": ")" +
                            files.vsock + R"("}})"));
}

TEST_F(microvm_test, writable_images_get_a_private_copy_read_only_ones_are_shared) {
  auto m = machine("firecracker");
  DiskConfig data;
  data.path = dir_ / "root.img";
  m.disks.push_back(data);
  prepare_microvm_disks(m, paths_);
  EXPECT_EQ(microvm_disk_image(m, paths_, 1), dir_ / "store.erofs");
  const auto copy = microvm_disk_image(m, paths_, 2);
  EXPECT_EQ(copy, dir_ / "state" / "disk2-root.img");
  std::string text;
  std::ifstream(copy) >> text;
  EXPECT_EQ(text, "root");
  EXPECT_EQ(fs::file_size(dir_ / "state" / "disk0.raw"), 64u << 20);
  // The copy is kept across restarts: the guest's writes survive.
  std::ofstream(copy) << "written";
  prepare_microvm_disks(m, paths_);
  std::ifstream(copy) >> text;
  EXPECT_EQ(text, "written");
}

TEST_F(microvm_test, copy_sparse_keeps_data_and_holes) {
  const auto from = dir_ / "sparse.img";
  {
    std::ofstream f(from, std::ios::binary);
    f.seekp(8 << 20);
    f << "middle";
    f.seekp(32 << 20);
    f << "end";
  }
  const auto to = dir_ / "copy.img";
  std::ofstream(to) << "old contents";
  copy_sparse(from, to);
  EXPECT_EQ(fs::file_size(to), fs::file_size(from));
  std::ifstream f(to, std::ios::binary);
  f.seekg(8 << 20);
  std::string word(6, ' ');
  f.read(word.data(), 6);
  EXPECT_EQ(word, "middle");
  struct stat st {};
  ASSERT_EQ(::stat(to.c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 4 << 20) << "the holes were written out";
  EXPECT_THROW(copy_sparse(dir_ / "missing", to), std::system_error);
}

TEST_F(microvm_test, configuration_errors_only_microvms_have) {
  auto m = machine("firecracker");
  EXPECT_EQ(config_error(m), "(no error)");
  m.accel = Accel::tcg;
  EXPECT_THAT(config_error(m), HasSubstr("field 'accel': the firecracker backend always uses KVM"));
  m = machine("firecracker");
  m.allow_reboot = true;
  EXPECT_THAT(config_error(m), HasSubstr("Firecracker exits when its guest reboots"));
  m = machine("firecracker");
  m.vcpus = 33;
  EXPECT_THAT(config_error(m), HasSubstr("field 'vcpus': 33 is out of range for Firecracker"));
  m = machine("cloud-hypervisor");
  m.vcpus = 33;
  EXPECT_EQ(config_error(m), "(no error)");
  m.qemu_args = {"-s"};
  EXPECT_THAT(config_error(m), HasSubstr("field 'qemu_args': only valid with the qemu backend"));
  m = machine("cloud-hypervisor");
  m.disks[1].format = "qcow2";
  EXPECT_THAT(config_error(m), HasSubstr("field 'disks[1].format': the cloud-hypervisor backend "
                                         "takes raw images only"));
  m = machine("firecracker");
  m.disks[1].id = "store-1";
  EXPECT_THAT(config_error(m), HasSubstr("'store-1' is not a valid disk id"));
  m.disks[1].id = "rootfs";
  EXPECT_THAT(config_error(m), HasSubstr("field 'disks[1].id': disk id 'rootfs' is used twice"));
  m = machine("firecracker");
  m.kernel.clear();
  m.start_command = dir_ / "vmlinux";
  EXPECT_THAT(config_error(m), HasSubstr("start_command is a NixOS QEMU script"));
  m = machine("xen");
  EXPECT_THAT(config_error(m), HasSubstr("unknown backend 'xen' (known backends: qemu, "
                                         "firecracker, cloud-hypervisor)"));
}

}  // namespace
}  // namespace attest::backend
