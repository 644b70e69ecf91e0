// attest: the test configuration (machines, timeouts), loaded from the JSON format documented in
// docs/config.md. The same format is written by the Nix integration and by the Debian guest
// builders in tests/guests/.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attest {

using namespace std::chrono_literals;

/// Hardware acceleration for QEMU. `kvm_or_tcg` ("kvm:tcg") uses KVM when QEMU can, else TCG.
enum class Accel { kvm, tcg, kvm_or_tcg };

/// Parses "kvm", "tcg" or "kvm:tcg". Throws: ConfigError on anything else.
Accel parse_accel(std::string_view text);
/// "kvm", "tcg" or "kvm:tcg".
std::string_view to_string(Accel accel) noexcept;

/// How the test's vlans are made (docs/networking.md).
enum class NetworkMode {
  automatic,  ///< `vde` when every machine runs on QEMU, else `tap`
  vde,        ///< one `vde_switch` hub per vlan; QEMU only; no privileges needed
  tap,        ///< a bridge per vlan and a TAP per machine and vlan, in a user+net namespace
};

/// Parses "auto", "vde" or "tap". Throws: ConfigError on anything else.
NetworkMode parse_network_mode(std::string_view text);
/// "auto", "vde" or "tap".
std::string_view to_string(NetworkMode mode) noexcept;

/// A disk attached to a direct-boot machine: an existing image (`path`), or, with `size_mib`
/// instead, a blank sparse raw disk that the machine creates in its state directory on first
/// start and keeps across reboots and restarts within the test (the writable layer of the test
/// guests; their initramfs formats it on first boot).
struct DiskConfig {
  std::filesystem::path path;
  std::string format = "raw";  ///< QEMU format: raw, qcow2, ...
  bool read_only = false;
  unsigned size_mib = 0;  ///< > 0: a fresh per-machine disk of this size instead of `path`
  /// The disk's id for Firecracker (`drive_id`) and cloud-hypervisor (`id`): letters, digits and
  /// '_'. Default: "rootfs" for the first disk, "disk<i>" for the others. QEMU ignores it.
  std::string id;
};

/// One machine of a test.
struct MachineConfig {
  std::string name;
  /// "qemu", "firecracker" or "cloud-hypervisor" (docs/backends.md).
  std::string backend = "qemu";

  /// (a) A NixOS `run-<name>-vm` script, started with the environment the NixOS driver gives it.
  std::filesystem::path start_command;

  /// (b) Direct boot: kernel, initrd and command line, started by attest itself.
  std::filesystem::path kernel;
  std::filesystem::path initrd;
  std::string cmdline;
  unsigned memory_mib = 256;
  unsigned vcpus = 1;
  std::vector<DiskConfig> disks;

  /// Accelerator; the environment variable ATTEST_ACCEL overrides it. Default: kvm:tcg.
  std::optional<Accel> accel;
  /// The QEMU binary for direct boot (looked up in PATH when relative).
  std::string qemu_binary = "qemu-system-x86_64";
  /// Extra arguments appended to the QEMU command line (both ways of starting).
  std::vector<std::string> qemu_args;
  /// The Firecracker binary (backend "firecracker"; looked up in PATH when relative).
  std::string firecracker_binary = "firecracker";
  /// The cloud-hypervisor binary (backend "cloud-hypervisor"; looked up in PATH when relative).
  std::string cloud_hypervisor_binary = "cloud-hypervisor";
  /// How long the guest may take from start to the shell banner.
  std::chrono::milliseconds boot_timeout = 300s;
  /// Let the guest reboot instead of exiting QEMU (NixOS `allow_reboot`).
  bool allow_reboot = false;

  /// The vlans the machine is on, in interface order: vlan `vlans[k-1]` is the guest's `eth<k>`
  /// (eth0 is QEMU's user-mode network). On vlan v, node n has 192.168.v.n/24,
  /// 2001:db8:v::n/64 (decimal digits) and the MAC 52:54:00:12:vv:nn (hex), as in NixOS.
  std::vector<unsigned> vlans;
  /// Whether the driver names a direct-boot guest's host after the machine (on the kernel
  /// command line: `hostname=`, `systemd.hostname=`, `attest.hostname=`) and gives it its vlan
  /// addresses, /etc/hosts and hostname over the shell. False when the guest configures itself
  /// (the Nix microVM guests do, from their NixOS configuration, as NixOS start scripts always
  /// do).
  bool configure_network = true;
  /// The node number n (1..254). Default: the machine's position in the alphabetical order of
  /// all machine names, from 1 (NixOS's numbering).
  std::optional<unsigned> node_number;
  /// MAC addresses that replace the computed ones, by vlan.
  std::map<unsigned, std::string> macs;
};

/// A whole test configuration.
struct Config {
  std::string name;
  /// The file the configuration was loaded from (empty when built in code).
  std::filesystem::path source;
  /// The whole test binary must finish within this time (NixOS default: one hour).
  std::chrono::milliseconds global_timeout = 3600s;
  std::vector<MachineConfig> machines;
  /// The vlans machines may use; empty: whatever the machines name. A machine on a vlan not in a
  /// non-empty list is a configuration error.
  std::vector<unsigned> vlans;
  /// How vlans are made.
  NetworkMode network = NetworkMode::automatic;
};

/// Loads and validates a JSON configuration; relative paths are resolved against the file's
/// directory. Throws: ConfigError naming the file, the machine and the field.
///
/// **Example**: `auto config = attest::load_config("build/guests/minimal/minimal.json");`
Config load_config(const std::filesystem::path& file);

/// Parses and validates JSON text; `source` names it in errors, relative paths are resolved
/// against `base_dir`. Throws: ConfigError.
Config parse_config(std::string_view json, const std::filesystem::path& source,
                    const std::filesystem::path& base_dir);

/// The id of the machine's disk `index`: its `id`, else "rootfs" for the first disk and
/// "disk<index>" for the others.
std::string disk_id(const MachineConfig& machine, std::size_t index);

/// Validates one machine (names, paths, sizes) as load_config does. Throws: ConfigError.
void validate(const MachineConfig& machine, const std::filesystem::path& source = {});

/// Validates a whole configuration as load_config does: every machine, unique names, at most
/// 254 machines, vlans, node numbers and MAC addresses. Throws: ConfigError.
void validate(const Config& config);

}  // namespace attest
