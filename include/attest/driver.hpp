// attest: the Driver owns the machines of a test, the I/O thread that drives them, the global
// timeout and the output directory. Destroying it halts every machine and removes its state.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/config.hpp"
#include "attest/error.hpp"
#include "attest/machine.hpp"

namespace attest {

/// Settings of a Driver that are not part of the test configuration.
struct DriverOptions {
  /// Where console logs and copied files go. Default: $ATTEST_OUTPUT_DIR, else ./attest-out.
  std::filesystem::path output_dir;
  /// Overrides the configuration's global timeout.
  std::optional<std::chrono::milliseconds> global_timeout;
  /// Keeps each machine's disks (fresh disks and private copies) in
  /// `<output dir>/machine-state/<machine>/` between runs instead of discarding them, so the next
  /// run boots from what this one wrote (NixOS `--keep-vm-state`). Sockets and snapshots stay
  /// private to the run.
  bool keep_machine_state = false;
  /// Warm start (docs/snapshots.md, "Warm start"): a machine's first start restores it from the
  /// boot cache when an earlier run saved it under the same key (everything that changes the
  /// booted machine), and a cold boot saves it there once its shell is ready. Unset:
  /// $ATTEST_WARM ("1" on, "0" off), else off. Not with keep_machine_state (its disks carry
  /// state between runs already).
  std::optional<bool> warm;
  /// The boot cache. Default: $ATTEST_BOOT_CACHE, else $XDG_CACHE_HOME/attest/boot, else
  /// ~/.cache/attest/boot.
  std::filesystem::path boot_cache_dir;
};

namespace detail {
class DriverImpl;
struct PollingConditionState;
}  // namespace detail

/// An active polling condition (see Driver::polling_condition). Destroying it (or release())
/// deactivates the condition. Movable, not copyable; it must not outlive its Driver.
class [[nodiscard]] PollingCondition {
 public:
  PollingCondition(PollingCondition&& other) noexcept;
  PollingCondition& operator=(PollingCondition&& other) noexcept;
  PollingCondition(const PollingCondition&) = delete;
  PollingCondition& operator=(const PollingCondition&) = delete;
  ~PollingCondition();

  /// The description given to polling_condition (default "polling condition").
  const std::string& description() const noexcept;
  /// Whether commands still check the condition.
  bool active() const noexcept;
  /// Deactivates the condition now (idempotent).
  void release() noexcept;
  /// Checks the condition once a second, regardless of its interval, until it holds (NixOS
  /// `.wait`). Throws: TimeoutError naming the condition (with its last exception, if any).
  void wait(std::chrono::milliseconds timeout = default_timeout, Where where = Where::current());

 private:
  friend class Driver;
  PollingCondition(detail::DriverImpl& driver,
                   std::shared_ptr<detail::PollingConditionState> state);
  detail::DriverImpl* driver_;
  std::shared_ptr<detail::PollingConditionState> state_;
};

/// Runs the machines of one configuration.
///
/// **Example**:
/// ```
/// attest::Driver driver{"minimal.json"};
/// driver.start_all();
/// driver.machine("machine").succeed("uname -a");
/// ```
class Driver {
 public:
  /// Loads `config_file`. Throws: ConfigError.
  explicit Driver(const std::filesystem::path& config_file, const DriverOptions& options = {});
  /// Uses an already loaded configuration. Throws: ConfigError.
  explicit Driver(Config config, const DriverOptions& options = {});
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  /// The machine named `name`. Throws: Error naming the known machines.
  Machine& machine(std::string_view name, Where where = Where::current());
  /// Every machine, sorted by name.
  std::vector<std::reference_wrapper<Machine>> machines();

  /// Starts every machine at once (their boots overlap). Throws: BootError.
  void start_all(Where where = Where::current());
  /// Kills every VMM now; used between tests and on teardown.
  void halt_all() noexcept;

  /// Waits for every machine to power off (wait_for_shutdown on each, `timeout` each), then
  /// cancels the global timeout (NixOS `join_all`). Throws: TimeoutError.
  void join_all(std::chrono::milliseconds timeout = default_timeout,
                Where where = Where::current());

  /// Adds a machine that is not in the configuration. `config` is validated as load_config does
  /// (its name must be new; vlans are not supported for machines added here); a `start_command`
  /// (a NixOS run-<name>-vm script) or a direct boot both work. The machine is not started; it is
  /// halted and cleaned up with the others. Throws: ConfigError naming the field.
  ///
  /// **Example**: `auto mc = driver.config().machines[0]; mc.name = "client";`
  /// `auto& client = driver.create_machine(mc);`
  Machine& create_machine(MachineConfig config, Where where = Where::current());

  /// Runs `fn(m)` for each machine at once, each on its own thread (Machine methods may be called
  /// from several threads, one thread per machine), and returns when all have finished. Throws the
  /// first error that occurred (the others are logged); an exception that is not an attest::Error
  /// becomes an Error naming the machine.
  ///
  /// **Example**: `driver.wait_all(driver.machines(), [](Machine& m) { m.wait_for_unit("x"); });`
  void wait_all(const std::vector<std::reference_wrapper<Machine>>& machines,
                const std::function<void(Machine&)>& fn, Where where = Where::current());

  /// Starts echoing the machines' serial console lines to the log (the default).
  void serial_stdout_on() noexcept;
  /// Stops echoing serial console lines to the log; the console logs keep being recorded
  /// (get_console_log, `<output dir>/<machine>.console.log`, wait_for_console_text).
  void serial_stdout_off() noexcept;

  /// Activates `condition` until the returned guard is destroyed: before each guest command (and
  /// each attempt of a wait, and block/unblock/forward_port) on any machine, the condition is
  /// called on the calling thread if more than `interval` has passed since its last check.
  /// Returning false or throwing aborts the command with PollingConditionError naming
  /// `description`. Commands the condition runs itself do not check it again.
  ///
  /// **Example**:
  /// ```
  /// auto alive = driver.polling_condition("server is up",
  ///                                       [&] { return server.execute("pidof app").status == 0;
  ///                                       });
  /// client.wait_until_succeeds("curl server");
  /// ```
  PollingCondition polling_condition(std::string description, std::function<bool()> condition,
                                     std::chrono::milliseconds interval = 2s);

  const Config& config() const noexcept;
  const std::filesystem::path& output_dir() const noexcept;

  /// Waits `duration` on the host; unlike std::this_thread::sleep_for it ends early with a
  /// TimeoutError when the global timeout expires.
  void host_sleep(std::chrono::milliseconds duration);

  /// The implementation (internal).
  detail::DriverImpl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<detail::DriverImpl> impl_;
};

}  // namespace attest
