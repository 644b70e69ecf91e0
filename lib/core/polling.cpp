// Polling conditions (NixOS's @polling_condition): registered with the Driver, checked on the
// calling thread before every guest command and, through a CallerLink, between the attempts of a
// wait that runs on the I/O thread.
#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "attest/driver.hpp"
#include "core/driver_impl.hpp"
#include "core/facade.hpp"
#include "core/log.hpp"
#include "core/poll.hpp"

namespace attest {
namespace detail {

awaitable<void> CallerLink::check_conditions() {
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  cv_.notify_all();
  co_await answered_.wait();
  answered_.reset();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

std::shared_ptr<PollingConditionState> DriverImpl::add_polling_condition(
    std::string description, std::function<bool()> check, std::chrono::milliseconds interval) {
  auto state = std::make_shared<PollingConditionState>();
  state->description =
      description.empty() ? std::string("polling condition") : std::move(description);
  state->check = std::move(check);
  state->interval = interval;
  std::lock_guard lock(conditions_mutex_);
  conditions_.push_back(state);
  ++polling_active_;
  return state;
}

void DriverImpl::remove_polling_condition(
    const std::shared_ptr<PollingConditionState>& state) noexcept {
  std::lock_guard lock(conditions_mutex_);
  const auto it = std::find(conditions_.begin(), conditions_.end(), state);
  if (it == conditions_.end()) return;
  (*it)->active = false;
  conditions_.erase(it);
  --polling_active_;
}

std::optional<std::string> DriverImpl::run_polling_condition(PollingConditionState& state) {
  const auto finish = [&] {
    std::lock_guard lock(conditions_mutex_);
    --state.entered;
    state.last_called = Clock::now();
    state.called = true;
  };
  log_info("", fmt::format("checking polling condition '{}'", state.description));
  std::optional<std::string> failure;
  try {
    if (!state.check()) failure = "it returned false";
  } catch (const std::exception& e) {
    failure = fmt::format("it threw: {}", e.what());
  } catch (...) {
    failure = "it threw a non-standard exception";
  }
  finish();
  log_info("", fmt::format("polling condition {}: {}", failure ? "failed" : "succeeded",
                           state.description));
  return failure;
}

void DriverImpl::check_polling_conditions(std::string_view machine, std::string_view operation) {
  if (!polling_active()) return;
  std::vector<std::shared_ptr<PollingConditionState>> due;
  {
    std::lock_guard lock(conditions_mutex_);
    due = conditions_;
  }
  for (auto& state : due) {
    {
      std::lock_guard lock(conditions_mutex_);
      const bool overdue = !state->called || Clock::now() - state->last_called > state->interval;
      // A condition being checked (by this thread, whose command is one of the condition's own,
      // or by another) is not checked again meanwhile.
      if (!state->active || state->entered > 0 || !overdue) continue;
      ++state->entered;
    }
    if (auto failure = run_polling_condition(*state)) {
      const std::string who =
          machine.empty() ? std::string("driver") : fmt::format("machine '{}'", machine);
      throw PollingConditionError(fmt::format("{}: {}: polling condition failed: {} ({}); the "
                                              "command did not run",
                                              who, operation, state->description, *failure),
                                  std::string(machine), std::string(operation), state->description);
    }
  }
}

}  // namespace detail

PollingCondition Driver::polling_condition(std::string description, std::function<bool()> condition,
                                           std::chrono::milliseconds interval) {
  auto state = impl_->add_polling_condition(std::move(description), std::move(condition), interval);
  return PollingCondition(*impl_, std::move(state));
}

PollingCondition::PollingCondition(detail::DriverImpl& driver,
                                   std::shared_ptr<detail::PollingConditionState> state)
    : driver_(&driver), state_(std::move(state)) {}

PollingCondition::PollingCondition(PollingCondition&& other) noexcept
    : driver_(other.driver_), state_(std::move(other.state_)) {}

PollingCondition& PollingCondition::operator=(PollingCondition&& other) noexcept {
  if (this != &other) {
    release();
    driver_ = other.driver_;
    state_ = std::move(other.state_);
  }
  return *this;
}

PollingCondition::~PollingCondition() { release(); }

const std::string& PollingCondition::description() const noexcept {
  static const std::string none;
  return state_ ? state_->description : none;
}

bool PollingCondition::active() const noexcept { return state_ && state_->active; }

void PollingCondition::release() noexcept {
  if (state_) driver_->remove_polling_condition(state_);
  state_.reset();
}

void PollingCondition::wait(std::chrono::milliseconds timeout, Where where) {
  detail::at(where, [&] {
    if (!state_)
      throw Error("driver: wait on a released polling condition", "", "PollingCondition::wait");
    detail::PollSchedule schedule(timeout);
    std::string last;
    for (;;) {
      schedule.attempt("", "");
      {
        std::lock_guard lock(driver_->conditions_mutex());
        ++state_->entered;
      }
      auto failure = driver_->run_polling_condition(*state_);
      if (!failure) return;
      last = *failure;
      if (schedule.expired()) break;
      const auto pause =
          std::chrono::duration_cast<std::chrono::milliseconds>(schedule.next() - Clock::now());
      driver_->host_sleep(std::max(pause, std::chrono::milliseconds(0)), "PollingCondition::wait");
    }
    throw TimeoutError(
        fmt::format("driver: waiting for polling condition '{}': it did not hold within {} ({}; "
                    "last: {})",
                    state_->description, detail::format_duration(timeout), schedule.attempts_text(),
                    last),
        "", "PollingCondition::wait", timeout, schedule.elapsed());
  });
}

}  // namespace attest
