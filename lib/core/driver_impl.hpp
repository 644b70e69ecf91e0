// Internal: the Driver's implementation. It owns the io_context and its one thread (all VM
// state lives there, no locks), the machines, the global timeout, the state and output
// directories. The synchronous facade reaches the I/O thread only through run().
#pragma once

#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "attest/driver.hpp"
#include "core/async.hpp"
#include "core/boot_cache.hpp"
#include "net/network.hpp"

namespace attest::detail {

/// Appended to every "the global timeout … expired" message.
inline constexpr const char* global_timeout_hint =
    " (raise \"global_timeout\" in the configuration, or pass --global-timeout SECONDS to the "
    "test binary)";

/// One polling condition. Its fields are guarded by DriverImpl's condition mutex; `check` runs on
/// the calling thread without it.
struct PollingConditionState {
  std::string description;
  std::function<bool()> check;
  std::chrono::milliseconds interval{};
  Clock::time_point last_called{};
  bool called = false;
  /// Checks of this condition in progress: while one runs, the commands it runs do not check it.
  int entered = 0;
  bool active = true;
};

/// Lets a coroutine started by DriverImpl::run_polled ask the thread waiting for it to check the
/// polling conditions (they call Machine methods, which must not run on the I/O thread), and wait
/// for the answer.
class CallerLink {
 public:
  explicit CallerLink(const asio::any_io_executor& ex) : answered_(ex) {}
  /// I/O thread: has the waiting thread check the polling conditions; rethrows their error.
  awaitable<void> check_conditions();

 private:
  friend class DriverImpl;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool requested_ = false;    ///< guarded by mutex_
  bool done_ = false;         ///< guarded by mutex_
  std::exception_ptr error_;  ///< I/O thread only
  Event answered_;            ///< I/O thread only
};

class DriverImpl {
 public:
  DriverImpl(Config config, const DriverOptions& options);
  ~DriverImpl();

  asio::any_io_executor executor() { return io_.get_executor(); }

  /// Runs `op` on the I/O thread and waits for it; its exception, if any, is rethrown here.
  template <class T>
  T run(awaitable<T> op) {
    if (std::this_thread::get_id() == thread_.get_id())
      throw std::logic_error("attest: a Driver or Machine method was called on the I/O thread");
    return asio::co_spawn(io_, std::move(op), asio::use_future).get();
  }

  /// Runs blocking host work `fn` (copying files, running tar) off the I/O thread and resumes
  /// there with its result (async.hpp's host_work: a race's deadline or abort ends the wait).
  template <class F>
  awaitable<std::invoke_result_t<F&>> host_work(F fn) {
    return detail::host_work(host_pool_, std::move(fn));
  }

  /// The pool host_work runs on (for work nobody waits for, such as removing a copy's files).
  asio::thread_pool& host_pool() noexcept { return host_pool_; }

  /// Like run(), but while waiting, checks the polling conditions for `machine`'s `operation`
  /// whenever the coroutine asks through `link` (waits do before each attempt).
  template <class T>
  T run_polled(awaitable<T> op, const std::shared_ptr<CallerLink>& link, std::string_view machine,
               std::string_view operation) {
    if (std::this_thread::get_id() == thread_.get_id())
      throw std::logic_error("attest: a Driver or Machine method was called on the I/O thread");
    using Value = std::conditional_t<std::is_void_v<T>, char, T>;
    std::optional<Value> value;
    std::exception_ptr error;
    asio::co_spawn(io_, std::move(op),
                   [link, &value, &error](const std::exception_ptr& e, auto&&... result) {
                     std::lock_guard lock(link->mutex_);
                     error = e;
                     if constexpr (sizeof...(result) > 0)
                       if (!e) value.emplace(std::move(result)...);
                     link->done_ = true;
                     link->cv_.notify_all();
                   });
    std::unique_lock lock(link->mutex_);
    for (;;) {
      link->cv_.wait(lock, [&] { return link->done_ || link->requested_; });
      if (link->done_) break;
      link->requested_ = false;
      lock.unlock();
      std::exception_ptr failed;
      try {
        check_polling_conditions(machine, operation);
      } catch (...) {
        failed = std::current_exception();  // handed to the coroutine, which rethrows it
      }
      asio::post(io_, [link, failed] {
        link->error_ = failed;
        link->answered_.set();
      });
      lock.lock();
    }
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<T>) return std::move(*value);
  }

  // Polling conditions (calling threads; guarded by their own mutex).
  std::shared_ptr<PollingConditionState> add_polling_condition(std::string description,
                                                               std::function<bool()> check,
                                                               std::chrono::milliseconds interval);
  void remove_polling_condition(const std::shared_ptr<PollingConditionState>& state) noexcept;
  /// True while any polling condition is active (cheap; any thread).
  bool polling_active() const noexcept { return polling_active_ > 0; }
  /// Checks every active condition that is due and not being checked already.
  /// Throws: PollingConditionError naming `machine`, `operation` and the condition.
  void check_polling_conditions(std::string_view machine, std::string_view operation);
  /// Runs one check of `state` now (entered while it runs). Returns the failure, empty when the
  /// condition held.
  std::optional<std::string> run_polling_condition(PollingConditionState& state);

  /// Throws TimeoutError when the global timeout has expired.
  void check_expired(std::string_view machine, std::string_view operation) const;
  bool expired() const noexcept { return expired_; }
  /// Set when the global timeout expires (on the I/O thread).
  Event& global_abort() noexcept { return global_abort_; }
  std::chrono::milliseconds global_timeout() const noexcept { return global_timeout_; }

  const Config& config() const noexcept { return config_; }
  const std::filesystem::path& output_dir() const noexcept { return output_dir_; }
  const std::filesystem::path& state_root() const noexcept { return state_root_; }
  /// `<output dir>/machine-state` with DriverOptions::keep_machine_state, else empty.
  const std::filesystem::path& kept_state_root() const noexcept { return kept_state_root_; }
  /// The machines (sorted by name); any thread. Machines are never removed before the driver
  /// ends, so the pointers stay valid.
  std::vector<Machine*> machines() const;
  /// Adds a machine (create_machine); any thread. Throws: ConfigError when the name is taken.
  Machine& add_machine(MachineConfig config);
  /// Waits `duration` on the host; ends early with TimeoutError when the global timeout expires.
  void host_sleep(std::chrono::milliseconds duration, std::string_view operation);
  std::mutex& conditions_mutex() noexcept { return conditions_mutex_; }
  /// Stops the global timeout (join_all).
  void cancel_global_timeout();
  net::Network& network() noexcept { return *network_; }
  /// The boot cache when warm starts are on (DriverOptions::warm), else null.
  const BootCache* boot_cache() const noexcept { return boot_cache_.get(); }

  void halt_all() noexcept;

 private:
  void on_global_timeout();

  Config config_;
  asio::io_context io_;
  /// Blocking host work of the machines' operations (host_work). After io_: it is joined, and
  /// its last completions posted, before io_ goes.
  asio::thread_pool host_pool_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  Event global_abort_;
  asio::steady_timer global_timer_;
  asio::steady_timer grace_timer_;
  std::chrono::milliseconds global_timeout_;
  std::atomic<bool> expired_{false};
  std::filesystem::path output_dir_;
  std::filesystem::path state_root_;
  std::filesystem::path kept_state_root_;
  std::unique_ptr<net::Network> network_;
  std::unique_ptr<BootCache> boot_cache_;
  mutable std::mutex machines_mutex_;
  std::vector<std::unique_ptr<Machine>> machines_;  ///< guarded by machines_mutex_
  std::mutex conditions_mutex_;
  std::vector<std::shared_ptr<PollingConditionState>> conditions_;  ///< guarded by the mutex
  std::atomic<int> polling_active_{0};
};

}  // namespace attest::detail
