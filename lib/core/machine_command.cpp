// Guest commands and waits on the I/O thread: one command against its deadline (run_command),
// execute, the helper commands of compound operations, and the one polling loop every wait uses
// (poll, on PollSchedule's policy) with the TimeoutError every wait reports.
#include <fmt/format.h>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"

namespace attest::detail {

using std::chrono::milliseconds;

namespace {

/// How long a benchmark's raw exchange may take before it fails.
constexpr std::chrono::seconds raw_exchange_timeout{60};
}  // namespace

Deadline MachineImpl::host_deadline(milliseconds guest_timeout) const {
  const auto grace = backend_->command_grace();
  if (guest_timeout >= milliseconds::max() - grace) return Deadline::max();
  return deadline_after(guest_timeout + grace);
}

std::string MachineImpl::command_timeout_text(const std::string& command, milliseconds limit,
                                              bool guest_bounded, const std::string& earlier,
                                              bool read_output) {
  // A command sent while an earlier one still ran (an unread or abandoned one) waited for it.
  const auto behind = earlier.empty()
                          ? std::string()
                          : fmt::format(
                                " (it waited behind the earlier `{}`, sent before it and "
                                "not read)",
                                excerpt(earlier, 120));
  if (!read_output)
    return fmt::format("command `{}` could not be sent within {}{}", excerpt(command, 200),
                       format_duration(limit), behind);
  return fmt::format(
      "command `{}` did not finish within {}{}{}; it may still run in the guest, "
      "and the next command on this machine first waits for it to end (pass a "
      "longer timeout if the command is only slow)",
      excerpt(command, 200), format_duration(limit),
      guest_bounded ? " (the guest's timeout did not stop it)" : "", behind);
}

awaitable<shell::Result> MachineImpl::run_command(std::shared_ptr<Boot> boot,
                                                  const std::string& command,
                                                  std::optional<milliseconds> guest_timeout,
                                                  Deadline deadline, const std::string& operation,
                                                  bool read_output) {
  if (command.find('\0') != std::string::npos)
    throw Error(fmt::format("machine '{}': {}: the command contains a NUL byte, which bash cannot "
                            "receive",
                            name(), operation),
                name(), operation);
  ++stats_commands_;
  const auto limit = guest_timeout.value_or(default_timeout);
  const std::string earlier = boot->shell->busy_command();
  Step step{.operation = operation,
            .during = fmt::format("while {} `{}`", read_output ? "running" : "sending",
                                  excerpt(command, 200)),
            .deadline = deadline,
            .timeout = limit,
            .timed_out =
                [&] {
                  return command_timeout_text(command, limit, guest_timeout.has_value(), earlier,
                                              read_output);
                },
            .abort = &boot->command_abort};
  std::optional<shell::ChannelError> shell_fault;
  try {
    co_return co_await run_step(boot, boot->shell->run(command, guest_timeout, read_output),
                                std::move(step));
  } catch (const shell::ChannelError& e) {
    shell_fault = e;  // run_step passes on only the shell's own faults
  }
  if (shell_fault->kind() == shell::ChannelError::Kind::malformed)
    throw ProtocolError(fmt::format("machine '{}': {}: {} (command `{}`)", name(), operation,
                                    shell_fault->what(), excerpt(command, 200)),
                        name(), operation);
  BootError lost(fmt::format("machine '{}': {}: the guest's backdoor shell exited while running "
                             "`{}`; {}{}",
                             name(), operation, excerpt(command, 200), lost_shell_note, tails()),
                 name(), operation);
  co_await stop_unreachable(boot);
  throw lost;
}

awaitable<shell::Result> MachineImpl::helper(const std::shared_ptr<Boot>& boot,
                                             const std::string& command, milliseconds timeout,
                                             const std::string& operation) {
  co_return co_await run_command(boot, command, timeout, host_deadline(timeout), operation);
}

awaitable<CommandResult> MachineImpl::execute(std::string command, milliseconds timeout,
                                              std::string operation, bool read_output) {
  auto boot = co_await ensure_shell(operation);
  const std::optional<milliseconds> guest_timeout =
      timeout == default_timeout ? std::nullopt : std::optional<milliseconds>(timeout);
  const auto deadline = guest_timeout ? host_deadline(timeout) : deadline_after(timeout);
  const auto t0 = Clock::now();
  auto r = co_await run_command(boot, command, guest_timeout, deadline, operation, read_output);
  if (!read_output)
    log_info(name(),
             fmt::format("{}: `{}` sent ({}); its output is not read (check_output "
                         "false), the next command waits for its end",
                         operation, excerpt(command, 120), format_duration(Clock::now() - t0)));
  else
    log_info(name(), fmt::format("{}: `{}` → {} ({}, {} bytes)", operation, excerpt(command, 120),
                                 r.status, format_duration(Clock::now() - t0), r.output.size()));
  co_return CommandResult{r.status, std::move(r.output)};
}

awaitable<std::string> MachineImpl::expect(std::string command, milliseconds timeout, bool success,
                                           std::string operation) {
  auto r = co_await execute(command, timeout, operation);
  if ((r.status == 0) == success) co_return std::move(r.output);
  std::string message;
  if (success) {
    std::string meaning;
    if (r.status == 124 && timeout != default_timeout)
      meaning = fmt::format(": it ran out of its {} timeout", format_duration(timeout));
    else if (r.status == 127)
      meaning = missing_program_note;
    message = fmt::format(
        "machine '{}': command `{}` failed (exit code {}{}){}{}\n(its stderr is not captured: it "
        "went to the guest's serial console, the '{} # ' lines of the log and boot {} in {})",
        name(), excerpt(command, 400), r.status, meaning,
        r.output.empty() ? "" : "\noutput: ", excerpt(r.output, 2000), name(), console_.boot(),
        console_log_path().string());
  } else {
    message = fmt::format("machine '{}': command `{}` unexpectedly succeeded{}{}", name(),
                          excerpt(command, 400),
                          r.output.empty() ? "" : "\noutput: ", excerpt(r.output, 2000));
  }
  throw CommandFailed(message, name(), std::move(operation), std::move(command), r.status,
                      std::move(r.output));
}

awaitable<MachineImpl::Attempt> MachineImpl::poll(std::shared_ptr<Boot> boot, const Wait& wait,
                                                  PollSchedule& schedule, AttemptFn attempt) {
  log_info(name(), fmt::format("{}: waiting for {}", wait.operation, wait.waiting_for));
  for (;;) {
    if (schedule.attempts() > 0 && wait.link && driver_.polling_active())
      co_await wait.link->check_conditions();
    schedule.attempt(name(), wait.waiting_for);
    const auto outcome = co_await attempt(schedule);
    if (outcome == Attempt::done)
      log_info(name(), fmt::format("{}: done after {} ({})", wait.operation,
                                   format_duration(schedule.elapsed()), schedule.attempts_text()));
    if (outcome != Attempt::again || schedule.expired()) co_return outcome;
    if (!co_await sleep_until(schedule.next(), boot->abort))
      std::rethrow_exception(aborted_error(boot.get(), wait.operation,
                                           fmt::format("while waiting for {}", wait.waiting_for)));
  }
}

TimeoutError MachineImpl::wait_timeout(const Wait& wait, const PollSchedule& schedule,
                                       std::string_view detail, std::string_view tail) const {
  return TimeoutError(fmt::format("machine '{}': {}: timed out after {} waiting for {} ({}{}){}",
                                  name(), wait.operation, format_duration(schedule.timeout()),
                                  wait.waiting_for, schedule.attempts_text(), detail, tail),
                      name(), wait.operation, schedule.timeout(), schedule.elapsed());
}

awaitable<std::string> MachineImpl::wait_until(std::string command, bool want_success,
                                               milliseconds timeout, std::string operation,
                                               std::string waiting_for,
                                               std::shared_ptr<CallerLink> link) {
  auto boot = co_await ensure_shell(operation);
  const Wait wait{.operation = std::move(operation),
                  .waiting_for = std::move(waiting_for),
                  .link = std::move(link)};
  PollSchedule schedule(timeout);
  shell::Result last{-1, {}};
  AttemptFn attempt = [&](PollSchedule& s) -> awaitable<Attempt> {
    // The guest bounds each attempt by what is left (at least a second), so the wait ends on
    // time.
    const auto left = std::max<milliseconds>(s.left(), std::chrono::seconds(1));
    last = co_await run_command(boot, command, left, host_deadline(left), wait.operation);
    co_return (last.status == 0) == want_success ? Attempt::done : Attempt::again;
  };
  if (co_await poll(boot, wait, schedule, std::move(attempt)) == Attempt::done)
    co_return std::move(last.output);
  throw wait_timeout(
      wait, schedule,
      fmt::format(" of `{}`; last exit status {}{}{}{}", excerpt(command, 200), last.status,
                  last.status == 127 ? missing_program_note : "",
                  last.output.empty() ? "" : ", last output: ", excerpt(last.output, 400)));
}

awaitable<std::size_t> MachineImpl::raw_exchange(std::string line, std::string terminator) {
  const std::string operation = "raw_exchange";
  auto boot = co_await ensure_shell(operation);
  const std::string shown = excerpt(line, 120);
  Step step{.operation = operation,
            .during = "while running " + shown,
            .deadline = deadline_after(raw_exchange_timeout),
            .timeout = raw_exchange_timeout,
            .timed_out = [&] {
              return fmt::format("no answer to `{}` within {} that ends as expected", shown,
                                 format_duration(raw_exchange_timeout));
            }};
  co_return co_await run_step(
      boot, boot->shell->raw_exchange(std::move(line), std::move(terminator)), std::move(step));
}

}  // namespace attest::detail
