// attest: the Driver owns the machines of a test, the I/O thread that drives them, the global
// timeout and the output directory. Destroying it halts every machine and removes its state.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
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
};

namespace detail {
class DriverImpl;
}

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
  explicit Driver(const std::filesystem::path& config_file, DriverOptions options = {});
  /// Uses an already loaded configuration. Throws: ConfigError.
  explicit Driver(Config config, DriverOptions options = {});
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
