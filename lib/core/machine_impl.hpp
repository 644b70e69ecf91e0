// Internal: one machine's state on the I/O thread: its backend, console and shell, and the
// per-boot state every operation races against (a VMM exit, a kernel panic or the global
// timeout aborts whatever is in flight at once, with the console tail in the error).
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "attest/machine.hpp"
#include "backend/backend.hpp"
#include "core/async.hpp"
#include "core/boot_cache.hpp"
#include "core/console.hpp"
#include "core/poll.hpp"
#include "net/port_proxy.hpp"
#include "shell/shell.hpp"

namespace attest::detail {

class DriverImpl;
class CallerLink;

class MachineImpl {
 public:
  MachineImpl(DriverImpl& driver, MachineConfig config);
  ~MachineImpl();

  DriverImpl& driver() noexcept { return driver_; }
  const MachineConfig& config() const noexcept { return config_; }
  const std::string& name() const noexcept { return config_.name; }
  backend::Backend& backend() noexcept { return *backend_; }
  const std::filesystem::path& state_dir() const noexcept { return paths_.state_dir; }
  /// <output dir>/<name>.console.log: the serial console of every boot of the machine in this
  /// process (starts and snapshot restores), each after a "==== attest: boot N …" line.
  std::filesystem::path console_log_path() const {
    return paths_.output_dir / (name() + ".console.log");
  }
  /// The host directory a NixOS guest mounts at /tmp/shared (NixOS SHARED_DIR).
  const std::filesystem::path& shared_dir() const noexcept { return paths_.shared_dir; }

  // Coroutines: run on the I/O thread through DriverImpl::run.
  /// Starts the VMM unless it runs; `allow_reboot`: the guest's reboots reset it until the VMM
  /// next stops (StartOptions), also when it runs already.
  awaitable<void> start(bool allow_reboot = false);
  awaitable<void> connect();
  awaitable<bool> is_up();
  /// Runs `command`; with `read_output` false, only sends it and returns {-2, ""} (NixOS's
  /// check_output=False): the next command waits for its end.
  awaitable<CommandResult> execute(std::string command, std::chrono::milliseconds timeout,
                                   std::string operation, bool read_output = true);
  /// Runs `command` once (succeed, fail): returns its output when its success equals `success`,
  /// else throws the CommandFailed saying so.
  awaitable<std::string> expect(std::string command, std::chrono::milliseconds timeout,
                                bool success, std::string operation);
  /// Runs `command` until its success equals `want_success`; returns the last output.
  /// With `link`, the polling conditions are checked before each attempt after the first.
  awaitable<std::string> wait_until(std::string command, bool want_success,
                                    std::chrono::milliseconds timeout, std::string operation,
                                    std::string waiting_for,
                                    std::shared_ptr<CallerLink> link = nullptr);
  // File copies (machine_copy.cpp): one operation each under one deadline, the polling
  // conditions checked through `link` before every guest step after the first.
  awaitable<void> copy_from_host(std::filesystem::path source, std::string target,
                                 std::string operation, std::shared_ptr<CallerLink> link);
  awaitable<void> copy_from_host_via_shell(std::filesystem::path source, std::string target,
                                           std::string operation, std::shared_ptr<CallerLink> link);
  /// Returns the copy's path under the output directory.
  awaitable<std::filesystem::path> copy_from_machine(std::string source,
                                                     std::filesystem::path target_dir,
                                                     std::string operation,
                                                     std::shared_ptr<CallerLink> link);
  awaitable<void> wait_for_console_text(std::string regex, std::chrono::milliseconds timeout);
  awaitable<std::string> console_log();
  awaitable<void> shutdown(std::chrono::milliseconds timeout);
  awaitable<void> crash();
  /// reboot (ctrl-alt-delete on the keyboard) or, `from_shell`, reboot_from_shell (`reboot` on
  /// the shell); returns once the guest went down.
  awaitable<void> reboot(std::chrono::milliseconds timeout, bool from_shell);
  /// `prefix` goes before the operation's name, for a wait that is a step of another operation:
  /// "switch_root: " makes its errors say "switch_root: wait_for_unit(initrd.target): …".
  awaitable<void> wait_for_unit(std::string unit, std::string user,
                                std::chrono::milliseconds timeout,
                                std::shared_ptr<CallerLink> link = nullptr,
                                std::string prefix = {});
  /// switch_root (machine_systemd.cpp): from the guest's systemd initrd to its system; returns
  /// once the new root's shell is connected.
  awaitable<void> switch_root(std::chrono::milliseconds timeout, std::shared_ptr<CallerLink> link);
  awaitable<void> wait_for_shutdown(std::chrono::milliseconds timeout, std::string operation);
  awaitable<void> halt();
  awaitable<void> set_vlan_links(bool up, std::string operation);
  awaitable<void> forward_port(std::uint16_t host_port, std::uint16_t guest_port);
  awaitable<void> snapshot_create(std::string name);
  awaitable<void> snapshot_restore(std::string name);
  // Screen, keyboard and consoles (machine_screen.cpp).
  awaitable<std::filesystem::path> screenshot(std::filesystem::path target);
  awaitable<std::vector<std::string>> screen_text(bool variants, std::string operation);
  awaitable<void> wait_for_text(std::string regex, std::chrono::milliseconds timeout);
  /// send_key (`as_chars` false: `input` is one key name) or send_chars (one key a character).
  awaitable<void> send_keys(std::string input, bool as_chars, std::chrono::milliseconds delay);
  awaitable<void> send_console(std::string chars);
  awaitable<std::string> send_monitor_command(std::string command);
  /// The oldest QMP event not taken yet, waiting until `deadline`. Throws: TimeoutError.
  awaitable<QmpEvent> next_qmp_event(Deadline deadline, std::chrono::milliseconds timeout,
                                     std::string operation);
  awaitable<std::string> get_tty_text(int tty);
  awaitable<void> wait_until_tty_matches(int tty, std::string regex,
                                         std::chrono::milliseconds timeout,
                                         std::shared_ptr<CallerLink> link = nullptr);
  awaitable<void> dump_tty_contents(int tty);
  awaitable<std::vector<std::string>> get_window_names();
  awaitable<void> wait_for_window(std::string regex, std::chrono::milliseconds timeout,
                                  std::shared_ptr<CallerLink> link = nullptr);
  /// Benchmarks only: see shell::Shell::raw_exchange.
  awaitable<std::size_t> raw_exchange(std::string line, std::string terminator);
  /// Benchmarks only: where the current boot's time went (all zero before the first boot).
  /// What the machine did so far in this process, for the test run's summary.
  struct Stats {
    unsigned boots = 0;                    ///< boots that reached the shell
    unsigned commands = 0;                 ///< guest commands (each attempt of a wait counts)
    std::chrono::nanoseconds boot_time{};  ///< the boots' time from start to shell, summed
    /// The first start with warm starts on: "" (off), else what the boot cache did.
    std::string warm;
  };
  Stats stats() const {
    std::lock_guard lock(stats_mutex_);
    return {stats_boots_.load(), stats_commands_.load(), std::chrono::nanoseconds(stats_boot_ns_),
            stats_warm_};
  }

  struct BootTimings {
    Clock::time_point started;      ///< start() began
    Clock::time_point vmm_spawn;    ///< the backend was asked to start the VMM
    Clock::time_point vmm_running;  ///< the backend's start returned (VMM up, its API answered)
    Clock::time_point banner;       ///< the backdoor banner arrived
    Clock::time_point ready;        ///< the shell protocol was installed: commands can run
  };
  awaitable<BootTimings> boot_timings();
  /// The console's last lines and the VMM's stderr tail, for failure reports.
  awaitable<std::string> failure_context(std::size_t console_lines);

 private:
  // Counted on the I/O thread, read by the test thread.
  std::atomic<unsigned> stats_boots_{0};
  std::atomic<unsigned> stats_commands_{0};
  std::atomic<std::int64_t> stats_boot_ns_{0};
  mutable std::mutex stats_mutex_;
  std::string stats_warm_;  ///< guarded by stats_mutex_
  void set_warm_stat(std::string text) {
    std::lock_guard lock(stats_mutex_);
    stats_warm_ = std::move(text);
  }
  struct Boot;
  /// What the host must know to take a restored guest's shell over again (resumable shells).
  struct SavedShell {
    shell::Session session;
    bool user_net_ready = false;
  };
  /// Connects the guest shell of `boot` (waiting for its banner), or, with `resume`, takes over
  /// the shell session a restored snapshot holds. Sets boot->shell_ready either way.
  awaitable<void> connect_shell(std::shared_ptr<Boot> boot,
                                std::optional<SavedShell> resume = std::nullopt);
  /// connect_shell's work: connects (or resumes) the shell and runs the vlan setup step.
  awaitable<void> open_shell(std::shared_ptr<Boot> boot, std::optional<SavedShell> resume);
  /// Records a shell that answered: its boot time, the command abort re-armed.
  void shell_connected(Boot& boot);
  /// The BootError of a guest whose shell did not answer within the boot timeout.
  BootError silent_shell_error(bool resumed) const;
  /// Logs how long the boot has taken every 10 s until boot->shell_ready is set.
  awaitable<void> boot_progress(std::shared_ptr<Boot> boot);
  /// The Unsupported error of `operation` on a backend that cannot reboot a guest in place.
  Unsupported cannot_reboot(const std::string& operation) const;
  /// Lets the guest's reboots reset it for the rest of `boot` (the backend's begin_guest_reboot,
  /// with no end), unless they do already.
  awaitable<void> allow_reboots(std::shared_ptr<Boot> boot);
  /// Kills the VMM that failed to come up and throws the BootError for `operation`.
  awaitable<void> fail_start(std::string operation, std::string failure);
  /// A new Boot for a VMM about to start (or be restored), with its events wired to it.
  std::pair<std::shared_ptr<Boot>, backend::Events> new_boot();
  /// snapshot_restore in a fresh VMM (the old one, if any, ends).
  awaitable<void> restore_fresh(std::string snapshot, std::filesystem::path dir,
                                std::optional<SavedShell> saved, std::string operation);
  /// snapshot_restore in the running VMM, resuming the saved shell session on its connection.
  awaitable<void> restore_in_place(std::string snapshot, std::filesystem::path dir,
                                   SavedShell saved, std::string operation);
  // Warm starts from the boot cache (machine_warm.cpp; DriverImpl::boot_cache()).
  /// The machine's first start: restores it from the boot cache and returns true, or returns
  /// false to boot cold (a miss sets warm_key_, so the boot is saved once its shell is ready).
  awaitable<bool> warm_start();
  /// Restores the machine from `entry` (its files copied into the state directory); returns
  /// the failure, after which the entry and the copies are gone ("" when the guest is up).
  awaitable<std::string> warm_restore(const BootCacheEntry& entry);
  /// Saves the cold boot `boot`, its shell just connected, into the boot cache under warm_key_
  /// (a warning when it cannot: the test goes on).
  awaitable<void> warm_save(std::shared_ptr<Boot> boot);
  /// Where snapshot `name` lives. Throws: Error for an invalid name.
  std::filesystem::path snapshot_dir(const std::string& name, const std::string& operation) const;
  awaitable<std::shared_ptr<Boot>> ensure_shell(const std::string& operation);
  awaitable<shell::Result> run_command(std::shared_ptr<Boot> boot, const std::string& command,
                                       std::optional<std::chrono::milliseconds> guest_timeout,
                                       Deadline deadline, const std::string& operation,
                                       bool read_output = true);
  /// run_command's TimeoutError text: `earlier` is the command the shell was still busy with
  /// when this one came (empty: none).
  static std::string command_timeout_text(const std::string& command,
                                          std::chrono::milliseconds limit, bool guest_bounded,
                                          const std::string& earlier, bool read_output);
  /// The host's deadline for a command the guest bounds with `guest_timeout`: that timeout plus
  /// the backend's command_grace() (saturating: milliseconds::max() gives no deadline).
  Deadline host_deadline(std::chrono::milliseconds guest_timeout) const;
  awaitable<void> wait_exit(Deadline deadline, const std::string& operation,
                            std::chrono::milliseconds timeout);
  void on_console(std::string_view bytes);
  void on_console_line(const std::shared_ptr<Boot>& boot, std::string_view line);
  void on_exit(const std::shared_ptr<Boot>& boot, const process::ExitStatus& status);
  void on_guest_reset(const std::shared_ptr<Boot>& boot);
  /// The machine went down (VMM exit, panic): everything racing this boot ends.
  static void abort_boot(Boot& boot);
  /// Waits for a new guest shell on the same connection (after a guest reboot).
  void rearm_shell(const std::shared_ptr<Boot>& boot);
  // A copy's steps (machine_copy.cpp).
  struct Copy;
  /// The copy's shell (the machine started if need be) and its deadline.
  awaitable<Copy> begin_copy(std::string operation, std::shared_ptr<CallerLink> link);
  /// Runs one guest step of `copy`; with `what`, a non-zero status throws CommandFailed naming it.
  awaitable<shell::Result> copy_command(Copy& copy, const std::string& command,
                                        std::string_view what);
  /// Runs host work `fn` of `copy` off the I/O thread, against the copy's deadline and the
  /// machine's abort ("while DURING" in the error).
  template <class F>
  awaitable<std::invoke_result_t<F&>> copy_host_step(Copy& copy, std::string during, F fn);
  /// Whether the guest has the host's shared directory at /tmp/shared: a marker file the host
  /// writes there must be visible in the guest.
  awaitable<bool> mounts_shared_dir(Copy& copy);
  /// Writes `bytes` to `target` in the guest through the shell, in base64 chunks, with
  /// `make_parent` making its parent directory first.
  awaitable<void> write_via_shell(Copy& copy, std::shared_ptr<const std::string> bytes,
                                  std::string target, bool make_parent);
  awaitable<void> copy_in_shared_dir(Copy& copy, std::filesystem::path source, std::string target);
  awaitable<void> copy_in_tar(Copy& copy, std::filesystem::path source, std::string target);
  /// Runs a helper command of a compound operation (not logged as a command of its own).
  awaitable<shell::Result> helper(const std::shared_ptr<Boot>& boot, const std::string& command,
                                  std::chrono::milliseconds timeout, const std::string& operation);
  /// `systemctl show` properties of a unit. Throws: CommandFailed.
  awaitable<std::map<std::string, std::string>> unit_properties(const std::shared_ptr<Boot>& boot,
                                                                const std::string& unit,
                                                                const std::string& user,
                                                                const std::string& properties,
                                                                const std::string& operation);
  /// The unit's `systemctl status` and last journal lines, indented, for error messages.
  awaitable<std::string> unit_context(const std::shared_ptr<Boot>& boot, const std::string& unit,
                                      const std::string& user, const std::string& operation);
  void wake_console_waiters();
  /// Begins the console log file's section of a new boot: "… in this run: WHAT <VMM> at …"
  /// (Console::begin_boot).
  void begin_console_boot(std::string_view what);
  /// Starts the VMM unless it runs; returns the current Boot (the shell need not be up).
  awaitable<std::shared_ptr<Boot>> ensure_vmm(const std::string& operation);
  /// How one attempt of a wait went: try again, the wait is over, or it cannot succeed.
  enum class Attempt { again, done, stop };
  /// A wait that polls (machine_command.cpp).
  struct Wait {
    std::string operation{};
    std::string waiting_for{};  ///< "unit nginx.service": for the log, progress lines and errors
    PollIntervals intervals{};
    /// The test's polling conditions, checked before every attempt after the first.
    std::shared_ptr<CallerLink> link{};
  };
  using AttemptFn = std::function<awaitable<Attempt>(PollSchedule&)>;
  /// The one polling loop: calls `attempt` on `schedule`'s policy until it says done or stop or
  /// the time is up (again). Throws the machine-down or global-timeout error between attempts;
  /// the caller turns `again` into its TimeoutError with wait_timeout().
  awaitable<Attempt> poll(std::shared_ptr<Boot> boot, const Wait& wait, PollSchedule& schedule,
                          AttemptFn attempt);
  /// "machine 'M': OP: timed out after T waiting for W (N attempts<detail>)<tail>".
  TimeoutError wait_timeout(const Wait& wait, const PollSchedule& schedule, std::string_view detail,
                            std::string_view tail = {}) const;
  /// A screen or tty wait: poll() until `attempt` is done; the TimeoutError shows `last`, what
  /// the attempts last saw (machine_screen.cpp).
  awaitable<void> wait_seen(std::shared_ptr<Boot> boot, Wait wait,
                            std::chrono::milliseconds timeout, AttemptFn attempt,
                            const std::string& last);
  /// The backend's optional interface `I` (backend.hpp), or the Unsupported error
  /// "machine 'M': VERB: the B backend has WHAT" when it lacks it.
  template <class I>
  I& need(std::string_view verb, std::string_view what) {
    if (auto* found = backend::find<I>(*backend_)) return *found;
    throw unsupported(verb, what);
  }
  Unsupported unsupported(std::string_view verb, std::string_view what) const;
  /// Runs a backend request, bounded in time and cut short when the machine goes down.
  awaitable<void> bounded(std::shared_ptr<Boot> boot, awaitable<void> op, std::string operation);

  /// One step of an operation: what it races, and what its outcomes become (run_step).
  struct Step {
    std::string_view operation{};
    /// How the error ends when the machine goes down meanwhile: "while saving the snapshot".
    std::string during{};
    Deadline deadline = Deadline::max();
    std::chrono::milliseconds timeout{};  ///< the limit `deadline` came from
    /// The TimeoutError's text after "machine 'NAME': OPERATION: " (built only if it fires).
    std::function<std::string()> timed_out{};
    /// What the step races besides its deadline: by default the boot's abort (the global abort
    /// without a boot).
    Event* abort = nullptr;
    Clock::time_point started = Clock::now();
  };
  /// The operation runner: runs `op` against the step's deadline and abort, and turns every
  /// outcome but success into its typed error in one place: the global timeout's TimeoutError,
  /// the BootError of a machine that went down (or of a guest that rebooted under a command),
  /// the step's own TimeoutError, and for a shell connection that closed, after a short wait for
  /// the VMM's exit status, whichever of those says how.
  /// Pass the Step as a named variable (`Step step{...}; co_await run_step(b, op,
  /// std::move(step))`): GCC 12 destroys some temporaries of a co_await's full-expression twice
  /// (a double free under `reboot`, found by machine_test.cpp), so no temporary that owns memory
  /// goes into a co_await expression here.
  template <class T>
  awaitable<T> run_step(std::shared_ptr<Boot> boot, awaitable<T> op, Step step);
  /// The step of the VMM saving (`verb` "save") or loading ("load") a snapshot: 5 minutes.
  Step snapshot_step(std::string_view operation, std::string_view verb) const;
  /// Waits until the console not consumed by an earlier wait matches `re`, and consumes it up to
  /// the end of the matching line (wait_for_console_text's work). At `step`'s deadline it throws
  /// the TimeoutError "machine 'M': OPERATION: <timed_out()>"; a VMM gone before a match is the
  /// BootError "… <during>".
  awaitable<void> console_match(const std::regex& re, const Step& step);
  /// The error of an operation whose abort fired: the global timeout, the guest rebooting under a
  /// command, or the machine going down (`boot` null: the global timeout).
  std::exception_ptr aborted_error(const Boot* boot, std::string_view operation,
                                   std::string_view during) const;
  /// The error of a step whose shell connection closed (after settle()).
  std::exception_ptr closed_error(const Boot* boot, const Step& step) const;
  /// How long settle() waits for the VMM's exit to be reported after the shell connection
  /// dropped or the VMM was killed, so the error can say how it ended.
  static constexpr std::chrono::milliseconds exit_settle{1000};
  /// Waits up to exit_settle for the VMM's exit to be reported.
  awaitable<void> settle();
  /// One rule for a machine whose guest shell cannot be reached (it exited, its connection
  /// closed, it never came up) while the VMM runs: attest stops the VMM, so the machine is down
  /// as after a panic, a VMM exit or a poweroff, and the next command starts it again.
  awaitable<void> stop_unreachable(std::shared_ptr<Boot> boot);
  /// The end of such a BootError's first line.
  static constexpr const char* lost_shell_note =
      "attest stopped the machine, and the next command on it starts it again";
  Event& step_abort(Boot* boot, const Step& step);
  /// Virtual console `tty`'s text. Throws: CommandFailed.
  awaitable<std::string> tty_text(std::shared_ptr<Boot> boot, int tty, std::string operation);
  /// The X window names. Throws: CommandFailed naming the cause.
  awaitable<std::vector<std::string>> window_names(std::shared_ptr<Boot> boot,
                                                   std::string operation);
  /// How the VMM ended, as far as it did (its exit status; `boot`'s panic), for a BootError.
  VmmEnd vmm_end(const Boot* boot) const;
  /// A BootError for an operation cut short because the machine went down.
  BootError down_error(const Boot& boot, const std::string& operation,
                       std::string_view during) const;
  /// The VMM's stderr tail and the console's last lines, indented, for error messages.
  std::string tails(std::size_t console_lines = 30) const;
  /// "machine 'NAME': DURING: the global timeout of … expired (what to do)", for `operation`.
  TimeoutError global_timeout_error(std::string_view during, std::string_view operation) const;
  [[noreturn]] void throw_global_timeout(std::string_view operation) const;

  DriverImpl& driver_;
  MachineConfig config_;
  backend::MachinePaths paths_;
  std::unique_ptr<backend::Backend> backend_;
  Console console_;
  std::shared_ptr<Boot> boot_;
  asio::steady_timer console_changed_;
  std::uint64_t console_generation_ = 0;
  std::size_t console_cursor_ = 0;
  /// The guest step that gives a direct-boot guest its vlan addresses (empty: none).
  std::string network_setup_;
  /// The shell sessions of this machine's snapshots (resumable shells only), by snapshot name.
  std::map<std::string, SavedShell> saved_shells_;
  /// Whether the machine has been started in this process (only a first start is warm).
  bool started_once_ = false;
  /// The boot-cache key (and its text) the current cold boot is saved under; empty: none.
  std::string warm_key_;
  std::string warm_key_text_;
  /// Host ends of forward_port on the TAP path (the VMM's user network is in the namespace).
  std::vector<std::unique_ptr<net::PortProxy>> port_proxies_;
  /// Screenshots taken for OCR (their file names).
  std::uint64_t ocr_shots_ = 0;
};

/// The state of one VMM lifetime. Operations keep a reference to the Boot they started on, so a
/// restart never confuses an old operation with the new VMM.
struct MachineImpl::Boot {
  explicit Boot(const asio::any_io_executor& ex)
      : abort(ex), command_abort(ex), shell_ready(ex), guest_reset(ex), panic_timer(ex) {}
  Event abort;  ///< set when the VMM exits or the guest panics
  /// What a guest command races: set with `abort`, and when the guest resets under a command
  /// (its shell is gone; re-armed with the new shell).
  Event command_abort;
  Event shell_ready;          ///< set when the shell connected or could not
  Event guest_reset;          ///< set when the guest reset itself (reboot) since reboot() armed it
  unsigned resets = 0;        ///< guest resets seen in this VMM lifetime
  unsigned shell_resets = 0;  ///< the value of `resets` the current shell belongs to
  std::unique_ptr<shell::Shell> shell;
  std::exception_ptr shell_error;
  std::string down_reason;
  std::string panic_context;  ///< the console lines up to the panic (its cause is often there)
  bool expect_exit = false;
  bool exited = false;
  bool panicked = false;
  bool user_net_ready = false;  ///< the guest's eth0 has its address (per shell session)
  /// reboot() called the backend's begin_guest_reboot; end it once the new shell is up.
  bool end_reboot = false;
  /// The guest's reboots reset it in this VMM lifetime rather than end the VMM (the config's
  /// allow_reboot, or start({.allow_reboot = true})).
  bool reboots_allowed = false;
  /// The guest's network cards are configured already (a restored snapshot), so the shell
  /// connection skips the setup step.
  bool network_configured = false;
  Clock::time_point started;
  Clock::time_point vmm_spawn;
  Clock::time_point vmm_running;
  Clock::time_point ready_at;
  Deadline boot_deadline;
  asio::steady_timer panic_timer;
};

template <class T>
awaitable<T> MachineImpl::run_step(std::shared_ptr<Boot> boot, awaitable<T> op, Step step) {
  try {
    auto r = co_await race(std::move(op), step.deadline, step_abort(boot.get(), step));
    if (r.end == RaceEnd::aborted)
      std::rethrow_exception(aborted_error(boot.get(), step.operation, step.during));
    if (r.end == RaceEnd::deadline)
      throw TimeoutError(
          fmt::format("machine '{}': {}: {}", name(), step.operation, step.timed_out()), name(),
          std::string(step.operation), step.timeout, elapsed_since(step.started));
    if constexpr (std::is_void_v<T>)
      co_return;
    else
      co_return std::move(*r.value);
  } catch (const shell::ChannelError& e) {
    // The shell's own faults (it exited, it spoke garbage) are the caller's to report.
    if (e.kind() != shell::ChannelError::Kind::eof && e.kind() != shell::ChannelError::Kind::io)
      throw;
  }
  // The connection dropped: the VMM is going or gone. Wait briefly so the error can say how.
  co_await settle();
  auto error = closed_error(boot.get(), step);
  if (boot) co_await stop_unreachable(boot);
  std::rethrow_exception(error);
}

}  // namespace attest::detail
