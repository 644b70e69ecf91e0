// Internal: the Asio vocabulary every lib/ unit shares, an Event that coroutines can wait on,
// and race(), which runs an operation against a deadline and an abort event so that nothing
// keeps running after either fires (architecture: "timeouts live inside the operation").
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace attest {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline Deadline deadline_after(std::chrono::milliseconds timeout) {
  const auto now = Clock::now();
  if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(Deadline::max() - now))
    return Deadline::max();
  return now + timeout;
}

/// The time since `since`, in milliseconds (TimeoutError::elapsed).
inline std::chrono::milliseconds elapsed_since(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
}

namespace detail {

/// A level-triggered flag coroutines can wait for. set() wakes every waiter; reset() re-arms it.
/// Single-threaded: use only on the I/O thread.
class Event {
 public:
  explicit Event(const asio::any_io_executor& ex) : timer_(ex, Deadline::max()) {}
  bool is_set() const noexcept { return set_; }
  void set() {
    set_ = true;
    timer_.cancel();
  }
  void reset() noexcept { set_ = false; }
  /// A deferred operation that completes when the event is set (or the wait is cancelled).
  auto async_wait() { return timer_.async_wait(asio::deferred); }
  /// Waits until the event is set.
  awaitable<void> wait() {
    while (!set_) {
      auto [ec] = co_await timer_.async_wait(asio::as_tuple(use_awaitable));
      (void)ec;
    }
  }

 private:
  asio::steady_timer timer_;
  bool set_ = false;
};

/// Runs `fn`, blocking host work (copying files, running tar), on `pool` and resumes on the
/// calling coroutine's executor with its result or exception, so that the I/O thread stays free
/// meanwhile. Cancelling the wait (a race's deadline or abort) abandons the result at once; the
/// work itself runs to its end on the pool, so `fn` must own what it uses, and the caller's
/// executor must outlive the pool's work (DriverImpl joins its pool before its io_context goes).
template <class F>
awaitable<std::invoke_result_t<F&>> host_work(asio::thread_pool& pool, F fn) {
  using T = std::invoke_result_t<F&>;
  using Value = std::conditional_t<std::is_void_v<T>, bool, T>;
  struct Outcome {
    explicit Outcome(const asio::any_io_executor& ex) : done(ex) {}
    Event done;  // set on the calling executor
    std::optional<Value> value;
    std::exception_ptr error;
  };
  auto ex = co_await asio::this_coro::executor;
  auto outcome = std::make_shared<Outcome>(ex);
  // The worker hands its reference on with the result, so that the Outcome (its Event's timer
  // belongs to the caller's executor) is never destroyed on the pool's thread.
  asio::post(pool, [outcome_ref = outcome, ex, fn = std::move(fn)]() mutable {
    std::optional<Value> value;
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<T>) {
        fn();
        value.emplace(true);
      } else {
        value.emplace(fn());
      }
    } catch (...) {
      error = std::current_exception();
    }
    asio::post(ex, [outcome = std::move(outcome_ref), value = std::move(value), error]() mutable {
      outcome->value = std::move(value);
      outcome->error = error;
      outcome->done.set();
    });
  });
  co_await outcome->done.wait();
  if (outcome->error) std::rethrow_exception(outcome->error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*outcome->value);
}

/// How a race ended.
enum class RaceEnd { done, deadline, aborted };

template <class T>
struct RaceResult {
  RaceEnd end = RaceEnd::done;
  std::optional<T> value;
};
template <>
struct RaceResult<void> {
  RaceEnd end = RaceEnd::done;
};

/// Runs `op` until it completes, `deadline` passes or `abort` is set, whichever comes first; the
/// losers are cancelled and have finished when this returns. An exception from `op` is rethrown.
template <class T>
awaitable<RaceResult<T>> race(awaitable<T> op, Deadline deadline, Event& abort) {
  auto ex = co_await asio::this_coro::executor;
  if (abort.is_set()) {
    RaceResult<T> aborted;
    aborted.end = RaceEnd::aborted;
    co_return aborted;
  }
  asio::steady_timer timer(ex, deadline);
  auto spawned = asio::co_spawn(ex, std::move(op), asio::deferred);
  auto waiting = timer.async_wait(asio::deferred);
  auto aborting = abort.async_wait();
  // The timer's and the event's deferred waits are trivially copyable; the spawned op is not.
  auto group = asio::experimental::make_parallel_group(std::move(spawned), waiting, aborting);
  RaceResult<T> result;
  if constexpr (std::is_void_v<T>) {
    auto [order, ex_ptr, timer_ec, abort_ec] =
        co_await group.async_wait(asio::experimental::wait_for_one(), use_awaitable);
    (void)timer_ec;
    (void)abort_ec;
    if (order[0] == 0) {
      if (ex_ptr) std::rethrow_exception(ex_ptr);
    } else {
      result.end = order[0] == 1 ? RaceEnd::deadline : RaceEnd::aborted;
    }
  } else {
    auto [order, ex_ptr, value, timer_ec, abort_ec] =
        co_await group.async_wait(asio::experimental::wait_for_one(), use_awaitable);
    (void)timer_ec;
    (void)abort_ec;
    if (order[0] == 0) {
      if (ex_ptr) std::rethrow_exception(ex_ptr);
      result.value.emplace(std::move(value));
    } else {
      result.end = order[0] == 1 ? RaceEnd::deadline : RaceEnd::aborted;
    }
  }
  // An abort that fired while the deadline also passed still counts as an abort.
  if (result.end == RaceEnd::deadline && abort.is_set()) result.end = RaceEnd::aborted;
  co_return result;
}

/// Runs `op` until it completes or `deadline` passes, whichever comes first; on the deadline `op`
/// is cancelled and has finished when this returns (end: done or deadline). An exception from
/// `op` is rethrown.
template <class T>
awaitable<RaceResult<T>> race(awaitable<T> op, Deadline deadline) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, deadline);
  auto group = asio::experimental::make_parallel_group(
      asio::co_spawn(ex, std::move(op), asio::deferred), timer.async_wait(asio::deferred));
  RaceResult<T> result;
  if constexpr (std::is_void_v<T>) {
    auto [order, ex_ptr, timer_ec] =
        co_await group.async_wait(asio::experimental::wait_for_one(), use_awaitable);
    (void)timer_ec;
    if (order[0] != 0)
      result.end = RaceEnd::deadline;
    else if (ex_ptr)
      std::rethrow_exception(ex_ptr);
  } else {
    auto [order, ex_ptr, value, timer_ec] =
        co_await group.async_wait(asio::experimental::wait_for_one(), use_awaitable);
    (void)timer_ec;
    if (order[0] != 0) {
      result.end = RaceEnd::deadline;
    } else {
      if (ex_ptr) std::rethrow_exception(ex_ptr);
      result.value.emplace(std::move(value));
    }
  }
  co_return result;
}

/// Waits on the I/O thread until `deadline` or until `abort` is set. Returns false on abort.
inline awaitable<bool> sleep_until(Deadline deadline, Event& abort) {
  if (abort.is_set()) co_return false;
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, deadline);
  auto group =
      asio::experimental::make_parallel_group(timer.async_wait(asio::deferred), abort.async_wait());
  auto [order, timer_ec, abort_ec] =
      co_await group.async_wait(asio::experimental::wait_for_one(), use_awaitable);
  (void)timer_ec;
  (void)abort_ec;
  co_return order[0] == 0 && !abort.is_set();
}

}  // namespace detail
}  // namespace attest
