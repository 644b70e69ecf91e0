// Internal: the interface every VMM backend implements (QEMU now; Firecracker and
// cloud-hypervisor behind the same seam). A backend starts and stops its VMM and hands out the
// transport to the guest shell; the Machine above it owns the shell, the console and all waiting.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/capability.hpp"
#include "attest/config.hpp"
#include "attest/machine.hpp"
#include "core/async.hpp"
#include "core/keys.hpp"
#include "net/network.hpp"
#include "process/vmm_process.hpp"
#include "shell/transport.hpp"

namespace attest::backend {

/// Where a machine keeps its files.
struct MachinePaths {
  std::filesystem::path state_dir;   ///< private (0700): sockets, disk overlays
  std::filesystem::path shared_dir;  ///< NixOS SHARED_DIR
  std::filesystem::path output_dir;  ///< the test's output directory
  /// Where fresh disks and private disk copies live when they outlive the run
  /// (DriverOptions::keep_machine_state); empty: in state_dir.
  std::filesystem::path disk_dir;

  /// Where the disks are: disk_dir, else state_dir.
  const std::filesystem::path& disks() const noexcept {
    return disk_dir.empty() ? state_dir : disk_dir;
  }
};

/// What the backend reports to its machine, always on the I/O thread.
struct Events {
  std::function<void(std::string_view)> console;     ///< serial console bytes
  std::function<void(std::string_view)> vmm_stderr;  ///< one line of the VMM's stderr
  std::function<void(const process::ExitStatus&)> exited;
  /// The guest reset itself (a reboot) while the VMM kept running.
  std::function<void()> guest_reset;
};

/// Thrown by start() when the VMM cannot be brought up; the Machine adds the console tail.
class StartFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Backend {
 public:
  virtual ~Backend() = default;
  /// The backend's configuration name, e.g. "qemu".
  virtual std::string_view name() const noexcept = 0;
  /// The VMM's name for messages, e.g. "QEMU".
  virtual std::string_view vmm_name() const noexcept = 0;
  /// Whether the backend can do `c`. The default answers screenshot from Screen, send_key from
  /// Keyboard, network_control from LinkControl and port_forward from PortForwarding (the optional
  /// interfaces below); snapshot and reboot are the backend's to claim (default: no).
  virtual bool has(Capability c) const noexcept;
  /// Why the backend lacks `c`, for the Unsupported error (empty: nothing to add).
  virtual std::string lacking(Capability) const { return {}; }

  /// Starts the VMM, attached to `network`, and returns once its control channel answers.
  /// Throws: StartFailure.
  virtual awaitable<void> start(Events events, net::Attachment network) = 0;
  /// The way to the guest shell; valid from start() on.
  virtual shell::Transport& transport() = 0;
  virtual bool running() const noexcept = 0;
  virtual std::optional<process::ExitStatus> exit_status() const = 0;
  /// Completes once the VMM has exited.
  virtual awaitable<void> wait_exited() = 0;
  /// Stops the VMM at once, as a power loss would (QMP quit), and waits for it to exit.
  virtual awaitable<void> quit() = 0;
  /// Readies the VMM for the guest's `reboot` (Machine::reboot, only with Capability::reboot): a
  /// VMM whose guest reboot ends it (QEMU's `-no-reboot`, NixOS's default) is told to reset the
  /// guest instead, for this once; after start({.allow_reboot = true}), for the rest of the VMM's
  /// life (no end_guest_reboot follows). The default does nothing. Throws: BackendError.
  virtual awaitable<void> begin_guest_reboot() { co_return; }
  /// Undoes begin_guest_reboot once the rebooted guest's shell answers (not sooner: SeaBIOS
  /// answers the guest's warm reset with a hard reset of its own, which must not end the VMM).
  /// The default does nothing. Throws: BackendError.
  virtual awaitable<void> end_guest_reboot() { co_return; }
  /// How long past a command's own timeout the host waits for its end before it declares the
  /// guest frozen: the guest's `timeout -k 5` needs its 5 s and the output its way back. The
  /// default, 10 s, suits a guest OS; a backend whose guest answers faster may say less.
  virtual std::chrono::milliseconds command_grace() const noexcept {
    return std::chrono::seconds(10);
  }
  /// Asks the guest to power off as a power button would (QEMU: ACPI powerdown; Firecracker:
  /// Ctrl-Alt-Del, after which it exits with the guest's reboot; cloud-hypervisor: the ACPI
  /// power button). Returns once the VMM took the request. Throws: BackendError.
  virtual awaitable<void> request_guest_shutdown() = 0;
  /// Pauses the VM, saves its whole state (memory, devices and its writable disks) into `dir` (an
  /// existing empty directory) and resumes it. Open shell connections may end (the microVMs reset
  /// their vsock); the machine connects a new shell. Throws: BackendError, Unsupported.
  virtual awaitable<void> snapshot_create(std::filesystem::path dir) = 0;
  /// Ends the VMM if it runs and starts a fresh one restored from `dir`, running, reported through
  /// `events` like start(). Throws: StartFailure, Unsupported.
  virtual awaitable<void> snapshot_restore(std::filesystem::path dir, Events events,
                                           net::Attachment network) = 0;
  /// Kills the VMM's process group now.
  virtual void kill() noexcept = 0;
  virtual std::string stderr_tail(std::size_t lines) const = 0;
  /// The command line that started the VMM, for the log.
  virtual std::string command_line() const = 0;
};

// Optional interfaces: a backend class also derives from those it has, and the core finds them
// with find<I>(backend); a missing one is the core's Unsupported error, not a stub to write.

/// The guest's display (QEMU: QMP screendump).
class Screen {
 public:
  virtual ~Screen() = default;
  /// Writes the guest's display as a PNG file at `path` (absolute). Throws: BackendError.
  virtual awaitable<void> screendump(std::filesystem::path path) = 0;
};

/// The guest's keyboard (QEMU: QMP send-key), for send_key, send_chars and reboot's
/// ctrl-alt-delete.
class Keyboard {
 public:
  virtual ~Keyboard() = default;
  /// Presses `keys` together and releases them. Throws: BackendError.
  virtual awaitable<void> send_key(std::vector<detail::KeyPart> keys) = 0;
};

/// Input to the guest's serial console.
class ConsoleInput {
 public:
  virtual ~ConsoleInput() = default;
  /// Writes `bytes` to the guest's serial console. Throws: BackendError.
  virtual awaitable<void> send_console(std::string bytes) = 0;
};

/// The VMM's monitor and its event stream (QEMU: HMP over QMP, QMP events).
class Monitor {
 public:
  virtual ~Monitor() = default;
  /// Runs a monitor command and returns its output. Throws: BackendError.
  virtual awaitable<std::string> monitor_command(std::string command) = 0;
  /// Takes the oldest VMM event not taken yet, waiting for one when none is queued.
  /// Throws: BackendError when the VMM's control connection is closed.
  virtual awaitable<QmpEvent> next_event() = 0;
};

/// Link control of the machine's vlan network cards on the VMM's side (QEMU on VDE hubs; on the
/// TAP path the driver takes the machine's TAPs down instead).
class LinkControl {
 public:
  virtual ~LinkControl() = default;
  /// Sets the link state of the vlan cards, as a pulled cable would. Throws: BackendError.
  virtual awaitable<void> set_vlan_links(bool up) = 0;
};

/// Port forwarding to the guest's user-mode network card (QEMU's slirp eth0).
class PortForwarding {
 public:
  virtual ~PortForwarding() = default;
  /// Forwards TCP `host_port` on the VMM's loopback to `guest_port` on the guest's eth0.
  /// Throws: BackendError.
  virtual awaitable<void> forward_port(std::uint16_t host_port, std::uint16_t guest_port) = 0;
};

/// Snapshots restored in the running VMM with the shell session kept (QEMU's virtconsole: the
/// connection outlives snapshots). A backend without it restores on a fresh VMM and its
/// guest's shell reconnects with a new banner after every snapshot (the microVMs' vsock).
class InPlaceRestore {
 public:
  virtual ~InPlaceRestore() = default;
  /// Brings the running VMM back to the snapshot in `dir`; the shell connection stays.
  /// Throws: BackendError.
  virtual awaitable<void> snapshot_load(std::filesystem::path dir) = 0;
};

/// Snapshots that move to another run (the boot cache: a warm start, docs/snapshots.md): every
/// file that holds the machine's snapshots lives in its state directory, so that copied into
/// another run's state directory (same names) a snapshot restores there.
class PortableSnapshots {
 public:
  virtual ~PortableSnapshots() = default;
  /// Everything the booted machine depends on, for its boot-cache key: the VMM's arguments
  /// without this run's own paths (state directory, sockets, vlan switches), the accelerator,
  /// and the identity of every file the VMM reads (its binary, kernel, initrd, images). Empty
  /// when this machine cannot be carried over (e.g. a NixOS start script's host directories).
  virtual std::string boot_identity(const net::Attachment& network) const = 0;
  /// The files that hold the machine's snapshots and disks (absolute, in the state directory);
  /// valid after a snapshot_create.
  virtual std::vector<std::filesystem::path> snapshot_files() const = 0;
  /// Stops the guest's CPUs (the files above stay still while they are copied); resume()
  /// starts them again. Throws: BackendError.
  virtual awaitable<void> pause() = 0;
  virtual awaitable<void> resume() = 0;
};

/// The optional interface `I` of `backend`, or null when it lacks it.
template <class I>
I* find(Backend& backend) noexcept {
  return dynamic_cast<I*>(&backend);
}
template <class I>
const I* find(const Backend& backend) noexcept {
  return dynamic_cast<const I*>(&backend);
}

/// Where the machine keeps its fresh disk number `index` (a `size_mib` disk of the config) as a
/// raw image (the microVMs; QEMU keeps qcow2 images, see qemu_fresh_disk_path).
std::filesystem::path fresh_disk_path(const MachinePaths& paths, std::size_t index);
/// Creates the machine's fresh disks that do not exist yet (sparse, zero-filled), so they
/// survive reboots and restarts within the test. Throws: StartFailure.
void create_fresh_disks(const MachineConfig& config, const MachinePaths& paths);

/// The kernel command line of a direct boot: the configuration's `cmdline` (`fallback` when it
/// has none) and, when the driver configures the guest (`configure_network`), the options that
/// name the guest's host after the machine, as NixOS names every node's (its hostName):
/// `hostname=` (Linux 5.19 and later set it themselves), `systemd.hostname=` (systemd prefers it
/// to /etc/hostname) and `attest.hostname=` (the test guests' init). They go before a `--`, after
/// which the words are init's arguments.
std::string kernel_cmdline(const MachineConfig& config, std::string_view fallback = {});

/// Creates the backend `config.backend` names. Throws: ConfigError for an unknown backend.
std::unique_ptr<Backend> make_backend(const asio::any_io_executor& ex, const MachineConfig& config,
                                      const MachinePaths& paths);

/// The accelerator to use: ATTEST_ACCEL if set, else the machine's setting, else kvm:tcg.
/// `explicit_choice` tells whether it came from ATTEST_ACCEL or the config. Throws: ConfigError
/// naming the machine, when ATTEST_ACCEL is not an accelerator (accel_variable_error()).
Accel effective_accel(const MachineConfig& config, bool* explicit_choice = nullptr);

}  // namespace attest::backend
