// Internal: the one polling policy every wait of attest follows, whether it polls the guest on the
// I/O thread (MachineImpl::poll: wait_until_succeeds, wait_for_unit, the screen and tty waits) or
// runs the test's own code on the test thread (retry, PollingCondition::wait):
//   - at least one attempt, even with a zero timeout (NixOS's retry() makes its last attempt
//     after the time is up too);
//   - the next attempt an interval after the last one ended, the interval growing from `first`
//     to `max`, never past the deadline;
//   - a progress line every 10 s while it waits;
//   - the attempts counted, for the TimeoutError.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "core/log.hpp"

namespace attest::detail {

/// The pause between two attempts: `first` at first, doubling up to `max`.
struct PollIntervals {
  std::chrono::milliseconds first{1000};
  std::chrono::milliseconds max{1000};
};

class PollSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  using milliseconds = std::chrono::milliseconds;

  explicit PollSchedule(milliseconds timeout, PollIntervals intervals = {})
      : timeout_(timeout),
        started_(Clock::now()),
        deadline_(
            timeout >= std::chrono::duration_cast<milliseconds>(Clock::time_point::max() - started_)
                ? Clock::time_point::max()
                : started_ + timeout),
        next_progress_(started_ + std::chrono::seconds(10)),
        interval_(intervals.first),
        max_interval_(std::max(intervals.first, intervals.max)) {}

  /// Counts the attempt about to be made; logs "MACHINE: waiting for WHAT… N s" every 10 s.
  void attempt(std::string_view machine, std::string_view what) {
    ++attempts_;
    if (!machine.empty() || !what.empty())
      wait_progress(machine, "", what, started_, next_progress_);
  }
  /// Whether the time is up (no further attempt after this one).
  bool expired() const { return Clock::now() >= deadline_; }
  /// When the next attempt is due (one interval from now, not past the deadline). Each call
  /// doubles the interval up to its maximum.
  Clock::time_point next() {
    const auto at = std::min(deadline_, Clock::now() + interval_);
    interval_ = std::min(interval_ * 2, max_interval_);
    return at;
  }
  /// The time left until the deadline (zero once it passed).
  milliseconds left() const {
    if (deadline_ == Clock::time_point::max()) return milliseconds::max();
    return std::max(milliseconds::zero(),
                    std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now()));
  }
  Clock::time_point deadline() const noexcept { return deadline_; }
  Clock::time_point started() const noexcept { return started_; }
  milliseconds timeout() const noexcept { return timeout_; }
  milliseconds elapsed() const {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - started_);
  }
  int attempts() const noexcept { return attempts_; }
  /// "1 attempt", "3 attempts".
  std::string attempts_text() const {
    return std::to_string(attempts_) + (attempts_ == 1 ? " attempt" : " attempts");
  }

 private:
  milliseconds timeout_;
  Clock::time_point started_;
  Clock::time_point deadline_;
  Clock::time_point next_progress_;
  milliseconds interval_;
  milliseconds max_interval_;
  int attempts_ = 0;
};

}  // namespace attest::detail
