// attest: one virtual machine of a test, with the NixOS test driver's Machine API in snake_case.
// Every method is synchronous; the work runs on the Driver's I/O thread, and every wait has a
// timeout enforced there.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "attest/capability.hpp"
#include "attest/error.hpp"
#include "attest/log.hpp"

namespace attest {

using namespace std::chrono_literals;

/// The NixOS driver's default for commands and waits. A command run with exactly this timeout is
/// bounded on the host only; any other timeout is also enforced in the guest with `timeout(1)`,
/// so the command is killed there and reports status 124, as in NixOS.
inline constexpr std::chrono::milliseconds default_timeout = 900s;

/// What a guest command produced: its exit status (0..255; 128+N when killed by signal N) and its
/// standard output, byte for byte. Standard error goes to the machine's console log.
struct CommandResult {
  int status = 0;
  std::string output;
};

/// NixOS's keyword arguments of succeed, fail, wait_until_succeeds and wait_until_fails, for
/// designated initializers: `m.succeed("make check", {.timeout = 30min})`.
struct CommandOptions {
  /// The command's limit (see default_timeout).
  std::chrono::milliseconds timeout = default_timeout;
};

/// NixOS's keyword arguments of execute: `m.execute("true", {.check_return = false})`.
struct ExecuteOptions {
  /// The command's limit (see default_timeout).
  std::chrono::milliseconds timeout = default_timeout;
  /// false: the status is not reported, CommandResult::status is -1 (NixOS's `check_return`).
  /// The command still runs to its end, and its output is returned.
  bool check_return = true;
  /// false: the command is sent and execute returns at once with status -2 and no output
  /// (NixOS's `check_output`); `timeout` bounds the sending, and, when it is not the default, the
  /// command in the guest. Its output and status are discarded: the machine's next command (or
  /// shutdown) first waits for it to end, within that command's own timeout, so the shell stays
  /// in step.
  bool check_output = true;
};

/// NixOS's keyword arguments of start: `m.start({.allow_reboot = true})`.
struct StartOptions {
  /// true: the guest's own reboots reset it instead of ending the VMM, until the VMM next stops
  /// (NixOS's `start(allow_reboot=True)`). Either this or the configuration's `allow_reboot`
  /// allows them.
  bool allow_reboot = false;
};

/// NixOS's keyword arguments of wait_for_unit: `m.wait_for_unit("sshd", {.timeout = 60s})`.
struct UnitOptions {
  /// Empty: the system manager; else that user's manager.
  std::string_view user{};
  std::chrono::milliseconds timeout = default_timeout;
};

/// NixOS's keyword arguments of the port waits: `m.wait_for_open_port(80, {.addr = "::1"})`.
struct PortOptions {
  std::string_view addr = "localhost";
  std::chrono::milliseconds timeout = default_timeout;
};

/// A command of succeed's and fail's several-command form, with the caller's location (taken
/// where the first argument converts, so that a failure points at the test's line).
class LocatedCommand {
 public:
  // NOLINTBEGIN(google-explicit-constructor): converting is the point.
  LocatedCommand(const char* command, Where where = Where::current()) noexcept
      : command_(command), where_(where) {}
  LocatedCommand(std::string_view command, Where where = Where::current()) noexcept
      : command_(command), where_(where) {}
  LocatedCommand(const std::string& command, Where where = Where::current()) noexcept
      : command_(command), where_(where) {}
  // NOLINTEND(google-explicit-constructor)
  std::string_view command() const noexcept { return command_; }
  const Where& where() const noexcept { return where_; }

 private:
  std::string_view command_;
  Where where_;
};

/// An asynchronous event of the VMM's control protocol (QEMU: a QMP event, docs/interop/qmp-spec
/// §2.3), e.g. `STOP`, `RESUME`, `RESET`, `SHUTDOWN`, `BLOCK_JOB_COMPLETED`.
struct QmpEvent {
  /// The event's name, e.g. "STOP".
  std::string event;
  /// When the VMM emitted it (its `timestamp`, host wall-clock time).
  std::chrono::system_clock::time_point timestamp;
  /// The event's `data` member as JSON text ("{}" when it has none), e.g.
  /// `{"guest":true,"reason":"guest-reset"}`; parse it with the JSON library of your choice.
  std::string data;
};

/// Quotes `text` for a POSIX shell: `'` + text with each `'` written as `'\''` + `'`.
///
/// **Example**: `m.succeed("cat " + attest::shell_quote(path));`
std::string shell_quote(std::string_view text);

namespace detail {
class MachineImpl;
}

/// A machine of the test. Obtain it from `Driver::machine(name)` (or the test fixture).
///
/// Errors: every method may throw `attest::Error` subclasses; messages name the machine and the
/// operation, and `where()` is the caller's line.
class Machine {
 public:
  explicit Machine(std::unique_ptr<detail::MachineImpl> impl);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  /// The machine's name from the configuration.
  const std::string& name() const noexcept;
  /// The backend's name, e.g. "qemu".
  std::string_view backend() const noexcept;
  /// Whether the backend supports `c`.
  bool has(Capability c) const noexcept;
  /// True while the VMM runs and the guest shell is connected.
  bool is_up() const;
  /// The machine's private (0700) state directory holding its sockets.
  const std::filesystem::path& state_dir() const noexcept;

  /// Starts the VMM if it is not running (idempotent). Returns once the VMM runs; the guest keeps
  /// booting in the background and the first command waits for its shell.
  /// Throws: BootError when the VMM cannot be started.
  void start(Where where = Where::current());
  /// start with NixOS's keyword arguments. With `allow_reboot` the guest's own reboots (a
  /// `reboot` in a command, a crashing service's reboot) reset the machine, and the next command
  /// waits for its new shell, until the VMM next stops; on a machine already running this takes
  /// effect at once.
  /// Throws: Unsupported (`allow_reboot` on a backend that cannot reboot a guest in place),
  /// BootError, BackendError.
  ///
  /// **Example**: `m.start({.allow_reboot = true});  // the guest may reboot itself`
  void start(StartOptions options, Where where = Where::current());

  /// Waits until the guest's backdoor shell is connected (at most the boot timeout).
  /// Throws: BootError with the console tail.
  void connect(Where where = Where::current());

  /// Runs `command` with bash in the guest and returns its status and output.
  /// Throws: TimeoutError when no result comes within `timeout` (plus a grace period when the
  /// guest enforces it), BootError when the machine goes down meanwhile.
  ///
  /// **Example**: `auto [status, out] = m.execute("systemctl is-active nginx");`
  [[nodiscard]] CommandResult execute(std::string_view command,
                                      std::chrono::milliseconds timeout = default_timeout,
                                      Where where = Where::current());
  /// execute with NixOS's keyword arguments.
  [[nodiscard]] CommandResult execute(std::string_view command, ExecuteOptions options,
                                      Where where = Where::current());

  /// Runs `command` and returns its output. Throws: CommandFailed on a non-zero status.
  std::string succeed(std::string_view command, std::chrono::milliseconds timeout = default_timeout,
                      Where where = Where::current());
  std::string succeed(std::string_view command, CommandOptions options,
                      Where where = Where::current()) {
    return succeed(command, options.timeout, where);
  }
  /// Several commands, as NixOS's `succeed(a, b, c)`: each runs once the one before succeeded;
  /// returns their outputs concatenated. Throws: CommandFailed for the first that fails.
  template <class... More>
  requires(std::is_convertible_v<const More&, std::string_view>&&...) std::string
      succeed(LocatedCommand first, std::string_view second, const More&... more) {
    std::string out = succeed(first.command(), default_timeout, first.where());
    out += succeed(second, default_timeout, first.where());
    ((out += succeed(std::string_view(more), default_timeout, first.where())), ...);
    return out;
  }

  /// Runs `command` and returns its output. Throws: CommandFailed on status 0.
  std::string fail(std::string_view command, std::chrono::milliseconds timeout = default_timeout,
                   Where where = Where::current());
  std::string fail(std::string_view command, CommandOptions options,
                   Where where = Where::current()) {
    return fail(command, options.timeout, where);
  }
  /// Several commands, as NixOS's `fail(a, b, c)`: each must fail; returns their outputs
  /// concatenated. Throws: CommandFailed for the first that succeeds.
  template <class... More>
  requires(std::is_convertible_v<const More&, std::string_view>&&...) std::string
      fail(LocatedCommand first, std::string_view second, const More&... more) {
    std::string out = fail(first.command(), default_timeout, first.where());
    out += fail(second, default_timeout, first.where());
    ((out += fail(std::string_view(more), default_timeout, first.where())), ...);
    return out;
  }

  /// Runs `command` every second until it succeeds; returns its output.
  /// Throws: TimeoutError with the last status and output.
  std::string wait_until_succeeds(std::string_view command,
                                  std::chrono::milliseconds timeout = default_timeout,
                                  Where where = Where::current());
  std::string wait_until_succeeds(std::string_view command, CommandOptions options,
                                  Where where = Where::current()) {
    return wait_until_succeeds(command, options.timeout, where);
  }

  /// Runs `command` every second until it fails; returns its output. Throws: TimeoutError.
  std::string wait_until_fails(std::string_view command,
                               std::chrono::milliseconds timeout = default_timeout,
                               Where where = Where::current());
  std::string wait_until_fails(std::string_view command, CommandOptions options,
                               Where where = Where::current()) {
    return wait_until_fails(command, options.timeout, where);
  }

  /// Waits until `path` exists in the guest (`test -e`). Throws: TimeoutError.
  void wait_for_file(std::string_view path, std::chrono::milliseconds timeout = default_timeout,
                     Where where = Where::current());

  /// Waits until a TCP port accepts connections (`nc -z addr port`). Throws: TimeoutError.
  void wait_for_open_port(std::uint16_t port, std::string_view addr = "localhost",
                          std::chrono::milliseconds timeout = default_timeout,
                          Where where = Where::current());
  void wait_for_open_port(std::uint16_t port, PortOptions options, Where where = Where::current()) {
    wait_for_open_port(port, options.addr, options.timeout, where);
  }

  /// Waits until a TCP port refuses connections. Throws: TimeoutError.
  void wait_for_closed_port(std::uint16_t port, std::string_view addr = "localhost",
                            std::chrono::milliseconds timeout = default_timeout,
                            Where where = Where::current());
  void wait_for_closed_port(std::uint16_t port, PortOptions options,
                            Where where = Where::current()) {
    wait_for_closed_port(port, options.addr, options.timeout, where);
  }

  /// Waits until a unix socket accepts connections (`nc -z -U`, `-uU` for datagram sockets).
  /// Throws: TimeoutError.
  void wait_for_open_unix_socket(std::string_view path, bool is_datagram = false,
                                 std::chrono::milliseconds timeout = default_timeout,
                                 Where where = Where::current());

  /// Waits until the console output not yet consumed by an earlier wait matches `regex`
  /// (ECMAScript syntax, searched across lines). Throws: TimeoutError, BootError.
  void wait_for_console_text(std::string_view regex,
                             std::chrono::milliseconds timeout = default_timeout,
                             Where where = Where::current());

  /// The console (serial) output since the last start, `\r` removed. (The file
  /// `<output dir>/<name>.console.log` keeps the earlier boots of the run too.)
  std::string get_console_log() const;

  /// Sleeps `duration` in the guest (`sleep`), so the time passes in guest time as in NixOS.
  void sleep(std::chrono::milliseconds duration, Where where = Where::current());

  /// Powers the guest off (`poweroff` on the shell) and waits for the VMM to exit.
  /// Throws: TimeoutError.
  void shutdown(std::chrono::milliseconds timeout = 60s, Where where = Where::current());

  /// Simulates a power loss: the VMM quits at once. Throws: TimeoutError.
  void crash(Where where = Where::current());

  /// Waits for the VMM to exit without causing it. Throws: TimeoutError.
  void wait_for_shutdown(std::chrono::milliseconds timeout = default_timeout,
                         Where where = Where::current());

  /// Kills the VMM now, without waiting for the guest (the fixture does this after each test).
  void halt() noexcept;

  /// Copies a host file or directory (recursively) to `target` in the guest, as `cp -r` would: an
  /// existing directory `target` receives it inside, else it becomes `target`; missing parent
  /// directories are made. Mode bits follow the host; the copy is owned by root. Goes through the
  /// shared directory when the guest mounts it at /tmp/shared (NixOS guests do), else through the
  /// shell (a tar archive in base64). Throws: Error when the source cannot be read,
  /// CommandFailed when the guest cannot write.
  ///
  /// **Example**: `m.copy_from_host("testdata/site", "/srv/www");`
  void copy_from_host(const std::filesystem::path& source, std::string_view target,
                      Where where = Where::current());

  /// Copies a host file into the guest through the shell (base64), as NixOS does.
  /// Throws: Error when the file cannot be read, CommandFailed when the guest cannot write.
  void copy_from_host_via_shell(const std::filesystem::path& source, std::string_view target,
                                Where where = Where::current());

  /// Copies a guest file or directory to `<output dir>/<target_dir>/<basename>` and returns that
  /// path. Throws: CommandFailed when the source cannot be read.
  std::filesystem::path copy_from_machine(std::string_view source,
                                          const std::filesystem::path& target_dir = {},
                                          Where where = Where::current());

  /// NixOS's older name of copy_from_machine.
  std::filesystem::path copy_from_vm(std::string_view source,
                                     const std::filesystem::path& target_dir = {},
                                     Where where = Where::current());

  // systemd. `user` empty means the system manager; a user name means that user's manager
  // (`su -l USER` + `systemctl --user`, as NixOS does it; the user's manager must be running,
  // e.g. through lingering or a login session).

  /// Waits until `unit` is active. Fails at once when it is `failed`, or `inactive` with no
  /// pending jobs (NixOS semantics).
  /// Throws: UnitError (with the unit's `systemctl status` and last journal lines),
  /// TimeoutError (with the same context).
  ///
  /// **Example**: `server.wait_for_unit("nginx.service");`
  void wait_for_unit(std::string_view unit, std::string_view user = {},
                     std::chrono::milliseconds timeout = default_timeout,
                     Where where = Where::current());
  void wait_for_unit(std::string_view unit, UnitOptions options, Where where = Where::current()) {
    wait_for_unit(unit, options.user, options.timeout, where);
  }

  /// `systemctl show UNIT` as property → value (everything after the first `=`).
  /// Throws: CommandFailed when systemctl fails.
  std::map<std::string, std::string> get_unit_info(std::string_view unit,
                                                   std::string_view user = {},
                                                   Where where = Where::current());

  /// One property of `systemctl show UNIT`, e.g. "ActiveState".
  /// Throws: CommandFailed when systemctl fails or does not report the property.
  std::string get_unit_property(std::string_view unit, std::string_view property,
                                std::string_view user = {}, Where where = Where::current());

  /// Throws UnitError unless the unit's ActiveState is `state` right now.
  void require_unit_state(std::string_view unit, std::string_view state = "active",
                          Where where = Where::current());

  /// Runs `systemctl ARGS` (ARGS as shell text) and returns its status and output.
  ///
  /// **Example**: `m.systemctl("restart nginx");  m.systemctl("start app", "alice");`
  CommandResult systemctl(std::string_view args, std::string_view user = {},
                          Where where = Where::current());

  /// `systemctl start UNIT`; returns its status and output.
  CommandResult start_job(std::string_view unit, std::string_view user = {},
                          Where where = Where::current());

  /// `systemctl stop UNIT`; returns its status and output.
  CommandResult stop_job(std::string_view unit, std::string_view user = {},
                         Where where = Where::current());

  /// Reboots the guest as NixOS does, by pressing ctrl-alt-delete on its keyboard, and returns
  /// once it has gone down; the VMM keeps running, and the next command waits for the guest's
  /// shell to come back on this same Machine. Works whether or not the config (or start) allows
  /// guest-initiated reboots. The guest's init must reboot on ctrl-alt-delete (systemd does;
  /// busybox init needs a `::ctrlaltdel:` line); for one that does not, see reboot_from_shell.
  /// Throws: Unsupported (a backend that cannot reboot a guest in place, or has no keyboard),
  /// TimeoutError when the guest does not go down within `timeout`, BootError.
  ///
  /// **Example**: `m.reboot();  m.wait_for_unit("multi-user.target");`
  void reboot(std::chrono::milliseconds timeout = 120s, Where where = Where::current());

  /// reboot() by running `reboot` on the guest's shell instead of pressing ctrl-alt-delete (for a
  /// guest that ignores ctrl-alt-delete); otherwise the same.
  /// Throws: Unsupported (a backend that cannot reboot a guest in place), TimeoutError,
  /// BootError.
  void reboot_from_shell(std::chrono::milliseconds timeout = 120s, Where where = Where::current());

  /// Moves a guest from its systemd initrd (stage 1) on to its system (stage 2), as NixOS's
  /// switch_root: waits for `initrd.target`, has systemd isolate `initrd-switch-root.target`
  /// (`systemctl isolate --no-block`, not waited for), waits for systemd's "Switching root." on
  /// the console, and returns once the new root's backdoor shell is connected (within the
  /// machine's boot timeout). The guest is not reset and the VMM keeps running; a machine on
  /// vlans gets its addresses set up again in the new root. The guest needs a systemd initrd with
  /// a backdoor shell in it (NixOS: `boot.initrd.systemd.enable` and `testing.initrdBackdoor`).
  /// `timeout` bounds the wait for initrd.target and the switch together.
  /// Throws: UnitError or TimeoutError from the wait for initrd.target (a guest not in its
  /// initrd), TimeoutError when systemd does not switch root within `timeout`, BootError when
  /// the machine goes down or the new root's shell does not come up.
  ///
  /// **Example**: `m.switch_root();  m.wait_for_unit("multi-user.target");`
  void switch_root(std::chrono::milliseconds timeout = default_timeout,
                   Where where = Where::current());

  // ---- Snapshots (docs/snapshots.md) ----

  /// Saves the running machine's whole state (memory, devices and its writable disks) as `name`
  /// (letters, digits, '-', '_', '.'; an existing snapshot of that name is replaced). The machine
  /// keeps running; its shell reconnects.
  /// Throws: Unsupported (backend without snapshots), Error (not running, bad name),
  /// BackendError.
  ///
  /// **Example**: `server.snapshot_create("booted");`
  void snapshot_create(std::string_view name, Where where = Where::current());

  /// Brings the machine back to the moment of snapshot `name`: the running VMM (if any) is
  /// replaced by a fresh one restored from it, and the shell is connected before this returns.
  /// Files and processes are as they were then; later changes are gone.
  /// Throws: Unsupported, Error (no such snapshot), BootError (the restore failed, with the VMM's
  /// log).
  void snapshot_restore(std::string_view name, Where where = Where::current());

  // ---- Networks (docs/networking.md) ----

  /// Cuts the machine off its vlans, as pulled cables would: the links of all its vlan network
  /// cards go down (QEMU `set_link` on the VDE path, the TAPs on the TAP path). eth0 (user-mode
  /// networking) stays up, as in NixOS.
  /// Throws: Error when the machine is not running or is on no vlan, BackendError.
  ///
  /// **Example**: `server.block(); client.fail("ping -c1 -W1 server"); server.unblock();`
  void block(Where where = Where::current());

  /// Undoes block().
  void unblock(Where where = Where::current());

  /// Forwards TCP port `host_port` on the host's loopback (127.0.0.1) to `guest_port` on the
  /// guest's eth0 (QEMU user-mode networking, guest address 10.0.2.15), for the rest of the
  /// machine's run. A direct-boot guest gets its eth0 address on the first call.
  /// Throws: Unsupported (backend without user-mode networking), BackendError (e.g. the port is
  /// taken), CommandFailed.
  void forward_port(std::uint16_t host_port = 8080, std::uint16_t guest_port = 80,
                    Where where = Where::current());

  // ---- Screen, keyboard and consoles (docs/writing-tests.md#screen-keyboard-and-consoles) ----

  /// Saves the guest's display as a PNG and returns its path. `name` gets ".png" appended when it
  /// has no '.', and lies in the output directory when it has no '/' (NixOS rules). The machine
  /// is started if it is not running.
  /// Throws: Unsupported (backend without a display), BackendError, Error (cannot write the file).
  ///
  /// **Example**: `auto png = m.screenshot("login");  // <output dir>/login.png`
  std::filesystem::path screenshot(std::string_view name, Where where = Where::current());

  /// The text on the guest's screen, read by OCR (the host's `tesseract`) from a screenshot.
  /// Throws: Unsupported, Error (tesseract missing or failed, naming the tool), BackendError.
  std::string get_screen_text(Where where = Where::current());

  /// Several OCR readings of one screenshot: the raw image's first, then two ImageMagick-
  /// preprocessed ones (scaled up, grayscale, normalised; one negated), read in parallel. Needs
  /// `tesseract` and ImageMagick's `convert` on the host.
  /// Throws: Unsupported, Error (a tool missing or failed), BackendError.
  std::vector<std::string> get_screen_text_variants(Where where = Where::current());

  /// Takes a screenshot every second until one of its OCR readings matches `regex` (ECMAScript).
  /// Throws: TimeoutError with the last readings, Error (OCR tools missing), Unsupported.
  ///
  /// **Example**: `m.wait_for_text("login:");`
  void wait_for_text(std::string_view regex, std::chrono::milliseconds timeout = default_timeout,
                     Where where = Where::current());

  /// Presses a key combination on the guest's keyboard and releases it, then waits `delay`. Names
  /// are NixOS's (QEMU's key names joined by '-'): "ctrl-alt-delete", "ret", "spc", "shift-a",
  /// "alt-f2", scancodes as "0x0C"; a single character is translated as send_chars does.
  /// Throws: Error (unknown key name), Unsupported, BackendError.
  ///
  /// **Example**: `m.send_key("ctrl-alt-f2");`
  void send_key(std::string_view key, std::chrono::milliseconds delay = 10ms,
                Where where = Where::current());

  /// Types `chars` on the guest's keyboard (US layout), one key per character with `delay` after
  /// each; "\n" is Enter. Every character is checked before the first key is sent.
  /// Throws: Error (a character no key types), Unsupported, BackendError.
  ///
  /// **Example**: `m.send_chars("root\n");`
  void send_chars(std::string_view chars, std::chrono::milliseconds delay = 10ms,
                  Where where = Where::current());

  /// Writes `chars` to the guest's serial console (QEMU's stdin, i.e. ttyS0), byte for byte, e.g.
  /// to answer systemd's emergency shell.
  /// Throws: Unsupported, BackendError.
  void send_console(std::string_view chars, Where where = Where::current());

  /// Runs a QEMU monitor (HMP) command and returns its output, e.g. "info status".
  /// Throws: Unsupported (no QEMU monitor), BackendError.
  ///
  /// **Example**: `EXPECT_THAT(m.send_monitor_command("info status"), HasSubstr("running"));`
  std::string send_monitor_command(std::string_view command, Where where = Where::current());

  /// Returns the first QMP event for which `filter` returns true. Events are taken in the order
  /// they arrived since the VMM started, including those received before this call; the ones
  /// `filter` rejects are consumed (NixOS semantics). `filter` runs on the calling thread.
  /// Throws: TimeoutError, Unsupported, BackendError (the VMM's connection closed).
  ///
  /// **Example**:
  /// `m.wait_for_qmp_event([](const attest::QmpEvent& e) { return e.event == "STOP"; });`
  QmpEvent wait_for_qmp_event(const std::function<bool(const QmpEvent&)>& filter,
                              std::chrono::milliseconds timeout = 600s,
                              Where where = Where::current());

  /// The text on virtual console `tty` (/dev/vcsN, folded at the console's width, as NixOS).
  /// Throws: CommandFailed (no such console in the guest).
  std::string get_tty_text(int tty = 1, Where where = Where::current());
  /// The same with the console's number as text, as NixOS's tests pass it (`"1"`).
  /// Throws: Error when `tty` is not a number.
  std::string get_tty_text(std::string_view tty, Where where = Where::current());

  /// Reads virtual console `tty` every second until its text matches `regex` (ECMAScript).
  /// Throws: TimeoutError with the console's last text, CommandFailed.
  void wait_until_tty_matches(int tty, std::string_view regex,
                              std::chrono::milliseconds timeout = default_timeout,
                              Where where = Where::current());
  /// The same with the console's number as text, as NixOS's tests pass it:
  /// `m.wait_until_tty_matches("1", "login: ")`. Throws: Error when `tty` is not a number.
  void wait_until_tty_matches(std::string_view tty, std::string_view regex,
                              std::chrono::milliseconds timeout = default_timeout,
                              Where where = Where::current());

  /// Debugging: writes the text of virtual console `tty` to the guest's journal (`systemd-cat`)
  /// or, when the guest has no systemd-cat, to the test log. Throws: CommandFailed.
  void dump_tty_contents(int tty, Where where = Where::current());
  void dump_tty_contents(std::string_view tty, Where where = Where::current());

  /// Waits until the X server runs (the journal has "Reached target Current graphical" and
  /// /tmp/.X11-unix/X0 exists), checking every second.
  /// Throws: TimeoutError naming what was still missing.
  void wait_for_x(std::chrono::milliseconds timeout = default_timeout,
                  Where where = Where::current());

  /// The names of the X windows (`xwininfo -root -tree`; unnamed windows are left out).
  /// Throws: CommandFailed (e.g. xwininfo missing in the guest, or no X server).
  std::vector<std::string> get_window_names(Where where = Where::current());

  /// Checks the window names every second until one matches `regex` (ECMAScript).
  /// Throws: TimeoutError with the last names, CommandFailed.
  ///
  /// **Example**: `m.wait_for_window("xterm");`
  void wait_for_window(std::string_view regex, std::chrono::milliseconds timeout = default_timeout,
                       Where where = Where::current());

  /// Writes `message` to the log, prefixed with the machine's name.
  void log(std::string_view message) const;
  /// A log block titled with the machine's name and `message` (NixOS `machine.nested`): the log
  /// lines until it is destroyed are indented under it, and its end shows how long it took.
  ///
  /// **Example**: `{ auto block = server.nested("migrating the database"); server.succeed(...); }`
  LogBlock nested(std::string_view message) const;

  /// The implementation (internal).
  detail::MachineImpl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<detail::MachineImpl> impl_;
};

}  // namespace attest
