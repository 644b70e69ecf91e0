// Internal: the Driver's implementation. It owns the io_context and its one thread (all VM
// state lives there, no locks), the machines, the global timeout, the state and output
// directories. The synchronous facade reaches the I/O thread only through run().
#pragma once

#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "attest/driver.hpp"
#include "core/async.hpp"
#include "net/network.hpp"

namespace attest::detail {

class DriverImpl {
 public:
  DriverImpl(Config config, DriverOptions options);
  ~DriverImpl();

  asio::any_io_executor executor() { return io_.get_executor(); }

  /// Runs `op` on the I/O thread and waits for it; its exception, if any, is rethrown here.
  template <class T>
  T run(awaitable<T> op) {
    if (std::this_thread::get_id() == thread_.get_id())
      throw std::logic_error("attest: a Driver or Machine method was called on the I/O thread");
    return asio::co_spawn(io_, std::move(op), asio::use_future).get();
  }

  /// Throws TimeoutError when the global timeout has expired.
  void check_expired(std::string_view machine, std::string_view operation) const;
  bool expired() const noexcept { return expired_; }
  /// Set when the global timeout expires (on the I/O thread).
  Event& global_abort() noexcept { return global_abort_; }
  std::chrono::milliseconds global_timeout() const noexcept { return global_timeout_; }

  const Config& config() const noexcept { return config_; }
  const std::filesystem::path& output_dir() const noexcept { return output_dir_; }
  const std::filesystem::path& state_root() const noexcept { return state_root_; }
  std::vector<std::unique_ptr<Machine>>& machines() noexcept { return machines_; }
  net::Network& network() noexcept { return *network_; }

  void halt_all() noexcept;

 private:
  void on_global_timeout();

  Config config_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  Event global_abort_;
  asio::steady_timer global_timer_;
  asio::steady_timer grace_timer_;
  std::chrono::milliseconds global_timeout_;
  std::atomic<bool> expired_{false};
  std::filesystem::path output_dir_;
  std::filesystem::path state_root_;
  std::unique_ptr<net::Network> network_;
  std::vector<std::unique_ptr<Machine>> machines_;
};

}  // namespace attest::detail
