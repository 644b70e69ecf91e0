// Internal: the QEMU backend. Starts either a NixOS `run-<name>-vm` script with the arguments and
// environment the NixOS driver gives it, or QEMU directly from a kernel/initrd description; the
// shell travels over a virtconsole, control over QMP.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "backend/backend.hpp"
#include "net/network.hpp"

namespace attest::backend {

/// Everything needed to exec QEMU (or a start script): pure data, unit-tested.
struct QemuLaunch {
  std::string program;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd;
};

struct QemuSockets {
  std::string shell;  ///< the NixOS console (/dev/hvc0)
  std::string data;   ///< the output port (shell::data_port_name)
  std::string qmp;
};

/// Builds the launch for `config`. `accel_explicit`: whether to force the accelerator on a start
/// script (which otherwise keeps its own). `display`: whether a display is available. `bios`: a
/// firmware image, empty for QEMU's default. `network`: the machine's vlans (direct boot: network
/// cards; start scripts: the environment). `paused`: the CPUs wait for QMP `cont` (`-S`), as a
/// snapshot restore needs.
QemuLaunch qemu_launch(const MachineConfig& config, const MachinePaths& paths,
                       const QemuSockets& sockets, Accel accel, bool accel_explicit, bool display,
                       const std::string& bios, const net::Attachment& network = {},
                       bool paused = false);

/// The launch as one shell command line, each word quoted where it needs it (command_line()).
std::string qemu_command_line(const QemuLaunch& launch);

/// Whether QEMU gives the machine a disk of its own for `disk`: a fresh disk (size_mib), or a
/// writable image, which the machine writes through an overlay of its own (the image is never
/// written). Read-only images are attached as they are.
bool qemu_disk_is_own(const DiskConfig& disk);

/// Where QEMU keeps the machine's own disk number `index` (qemu_disk_is_own): a qcow2 image in
/// the state directory (qcow2, so internal snapshots can hold its state).
std::filesystem::path qemu_fresh_disk_path(const MachinePaths& paths, std::size_t index);

/// qemu-img's arguments that create the machine's own disk at `path` for `disk`
/// (qemu_disk_is_own): a blank qcow2 image of the fresh disk's size, or a qcow2 overlay backed by
/// the writable image (which stays as it is).
std::vector<std::string> qemu_img_create_args(const DiskConfig& disk,
                                              const std::filesystem::path& path);

/// qemu-img next to `qemu_program` when that is a path, else `qemu-img` from PATH.
std::string qemu_img_program(const std::string& qemu_program);

/// The boot-cache identity of a direct-boot machine (PortableSnapshots::boot_identity): its
/// QEMU arguments with placeholders for this run's paths (state directory, sockets, vlan
/// switches), the accelerator (and whether /dev/kvm can be opened, when KVM is tried first),
/// and the identity (path, size, modification time) of the QEMU binary, kernel, initrd and each
/// disk image. Empty for a NixOS start script (it mounts host directories, which QEMU cannot
/// save). Throws: ConfigError, as effective_accel.
std::string qemu_boot_identity(const MachineConfig& config, const net::Attachment& network);

/// The files that hold a QEMU machine's snapshots: the machine state image (vmstate.qcow2) and
/// the machine's own disks (qemu_disk_is_own), all in the state directory.
std::vector<std::filesystem::path> qemu_snapshot_files(const MachineConfig& config,
                                                       const MachinePaths& paths);

std::unique_ptr<Backend> make_qemu_backend(const asio::any_io_executor& ex,
                                           const MachineConfig& config, const MachinePaths& paths);

}  // namespace attest::backend
