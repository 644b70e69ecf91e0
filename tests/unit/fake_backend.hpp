// A test double of a VMM backend: machines whose configuration says "backend": "fake" run
// attest-fake-vmm (fake_vmm.cpp: a real bash behind the NixOS backdoor protocol, on a
// virtconsole-style socket) instead of a VM, so that machine_test.cpp exercises MachineImpl's
// whole state machine in milliseconds. It is registered through the backend registry only
// (backend/registry.hpp), as any backend of one's own would be: nothing outside lib/backend/'s
// interface knows it exists.
//
// What it models: start (returns once the fake VMM is connected to the shell socket; a start
// failure on demand), the shell transport (VirtconsoleTransport without a data port: output
// travels on the console path), the serial console (the fake VMM's stdout) and the VMM's stderr,
// the VMM's exit, guest resets (the fake VMM's reset marker on the console raises
// Events::guest_reset, as QMP RESET events do for QEMU), a guest booting into a systemd initrd
// and switching root (FakeControls::initrd; no reset, the shell comes back on the same
// connection, or on a new one with FakeControls::shell_per_connection), begin/end_guest_reboot
// (recorded, and passed on to the fake VMM as QEMU's set-action), the power button
// (request_guest_shutdown), quit, snapshot_create (a marker file; the shell connection is reset as
// the microVMs' vsock is; fails on demand with BackendError) and snapshot_restore (a fresh fake
// VMM).
//
// Of the optional interfaces (backend.hpp) it has only Keyboard, and that only while
// FakeControls::keyboard is on (the default): a key press is passed on to the fake VMM as QEMU's
// send-key, and ctrl-alt-delete reboots its guest. Without the others (Screen, ConsoleInput,
// Monitor, LinkControl, PortForwarding, InPlaceRestore) the machine answers those operations
// with its own Unsupported errors, and a snapshot restore starts a fresh fake VMM. It has no
// networks: a fake machine with "vlans" is a configuration error.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.hpp"

namespace attest::testing_support {

/// The knobs a test turns and what the fake backends report back, shared by every fake machine
/// of the registration. Set the knobs before the operation they affect (they are read when the
/// fake VMM starts, or when the operation runs); read the records after the facade call returned.
struct FakeControls {
  /// The fake VMM program: $ATTEST_FAKE_VMM, else the one meson built (ATTEST_FAKE_VMM_PATH).
  std::filesystem::path program = default_program();
  /// How the guest prints its banner: "normal", "split" (two writes 0.1 s apart, after a line of
  /// noise) or "none" (the guest never starts its backdoor shell).
  std::string banner = "normal";
  /// How long the guest waits before it prints the banner.
  std::chrono::milliseconds banner_delay{0};
  /// Whether the guest's processes hold the host's shell connection themselves, so that it
  /// closes only when they are killed, after the host learned of the VMM's exit (fake_vmm.cpp's
  /// --connection direct). By default the fake VMM owns it, and it closes as the VMM ends, as
  /// QEMU's does.
  bool guest_holds_connection = false;
  /// Non-empty: a directory put first on the guest's PATH (stand-ins of guest programs).
  std::filesystem::path guest_path;
  /// Whether each boot's guest starts in a systemd initrd with a backdoor shell (NixOS's
  /// testing.initrdBackdoor), from which Machine::switch_root moves it on to its system
  /// (fake_vmm.cpp's --root initrd).
  bool initrd = false;
  /// Whether the shell transport carries one guest shell per connection, as the microVMs' vsock
  /// does (Transport::one_shell_per_connection): a switch of root then gives the new root's shell
  /// a new connection (fake_vmm.cpp's --shell-connection per-shell).
  bool shell_per_connection = false;
  /// Non-empty: the fake VMM prints this on stderr and exits 1 before it is up.
  std::string start_failure;
  /// Non-empty: snapshot_create fails with a BackendError carrying this.
  std::string snapshot_failure;
  /// The capabilities the fake backend reports.
  bool can_reboot = true;
  /// Whether the machines made from now on have a keyboard (backend::Keyboard).
  bool keyboard = true;
  bool can_snapshot = true;
  /// The backend's command_grace(): how long past a command's own timeout the host waits for a
  /// frozen guest.
  std::chrono::milliseconds command_grace{std::chrono::seconds(10)};

  /// Records a begin_guest_reboot (true) or end_guest_reboot (false) call (on the I/O thread).
  void record_guest_reboot(bool reset);
  void record_snapshot_saved();
  void record_snapshot_restored();
  /// The begin (true) and end (false) guest reboot calls so far, in order.
  std::vector<bool> guest_reboot_calls() const;
  int snapshots_saved() const;
  int snapshots_restored() const;

  static std::filesystem::path default_program();

 private:
  mutable std::mutex mutex_;
  std::vector<bool> guest_reboot_calls_;
  int snapshots_saved_ = 0;
  int snapshots_restored_ = 0;
};

/// Registers the backend "fake" (vmm_name "attest-fake-vmm"), whose machines read `controls`.
/// Call before making the Driver; `controls` must outlive every Driver that uses it.
void register_fake_backend(FakeControls& controls);

/// The console line by which the fake VMM reports a guest reset.
inline constexpr std::string_view fake_reset_marker = "attest-fake-vmm: guest reset";
/// The stderr line by which the fake VMM reports that it is up.
inline constexpr std::string_view fake_ready_line = "attest-fake-vmm: ready";

/// One machine's fake VMM. See the top of this file for what it models.
class FakeBackend : public backend::Backend {
 public:
  FakeBackend(const asio::any_io_executor& ex, MachineConfig config, backend::MachinePaths paths,
              FakeControls& controls);
  ~FakeBackend() override;

  std::string_view name() const noexcept override { return "fake"; }
  std::string_view vmm_name() const noexcept override { return "attest-fake-vmm"; }
  bool has(Capability c) const noexcept override;
  std::string lacking(Capability c) const override;
  std::chrono::milliseconds command_grace() const noexcept override {
    return controls_.command_grace;
  }

  awaitable<void> start(backend::Events events, net::Attachment network) override;
  shell::Transport& transport() override { return *transport_; }
  bool running() const noexcept override;
  std::optional<process::ExitStatus> exit_status() const override;
  awaitable<void> wait_exited() override;
  awaitable<void> quit() override;
  awaitable<void> begin_guest_reboot() override;
  awaitable<void> end_guest_reboot() override;
  awaitable<void> request_guest_shutdown() override;
  awaitable<void> snapshot_create(std::filesystem::path dir) override;
  awaitable<void> snapshot_restore(std::filesystem::path dir, backend::Events events,
                                   net::Attachment network) override;
  void kill() noexcept override;
  std::string stderr_tail(std::size_t lines) const override;
  std::string command_line() const override { return command_line_; }

 protected:
  /// Sends one command line to the fake VMM (its stdin: what QMP is to QEMU).
  /// Throws: BackendError.
  awaitable<void> send(std::string line, std::string operation);

 private:
  struct Lifetime;
  /// Starts a fresh fake VMM reporting through `events`; returns once it is up.
  /// Throws: backend::StartFailure.
  awaitable<void> launch(backend::Events events);

  asio::any_io_executor ex_;
  MachineConfig config_;
  backend::MachinePaths paths_;
  FakeControls& controls_;
  std::unique_ptr<shell::Transport> transport_;
  std::unique_ptr<process::VmmProcess> process_;
  std::string command_line_;
};

/// A fake machine with a keyboard: key presses go to the fake VMM as QEMU's send-key.
class FakeBackendWithKeyboard final : public FakeBackend, public backend::Keyboard {
 public:
  using FakeBackend::FakeBackend;
  awaitable<void> send_key(std::vector<detail::KeyPart> keys) override;
};

}  // namespace attest::testing_support
