// The systemd part of a machine on the I/O thread: unit properties, wait_for_unit with NixOS's
// semantics, the status/journal context its errors carry, and switch_root (a systemd initrd's
// switch to the system, after which the next shell is the new root's).
#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "attest/machine.hpp"
#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/systemd.hpp"

namespace attest::detail {

using std::chrono::milliseconds;

std::string systemctl_command(std::string_view args, std::string_view user) {
  if (user.empty()) return fmt::format("systemctl {}", args);
  return fmt::format(
      "su -l {} --shell /bin/sh -c {}", shell_quote(user),
      shell_quote(fmt::format("XDG_RUNTIME_DIR=/run/user/$(id -u) systemctl --user {}", args)));
}

std::map<std::string, std::string> parse_unit_info(std::string_view text) {
  std::map<std::string, std::string> info;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    const auto line = text.substr(start, nl - start);
    const auto eq = line.find('=');
    if (eq != std::string_view::npos && eq > 0)
      info.insert_or_assign(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    start = nl + 1;
  }
  return info;
}

std::string show_command(std::string_view unit, std::string_view properties,
                         std::string_view user) {
  std::string args = fmt::format("--no-pager show {}", shell_quote(unit));
  if (!properties.empty()) args += fmt::format(" --property={}", shell_quote(properties));
  return systemctl_command(args, user);
}

std::map<std::string, std::string> checked_unit_info(std::string_view machine,
                                                     std::string_view operation,
                                                     const std::string& command, int status,
                                                     std::string output,
                                                     std::string_view required) {
  auto info = parse_unit_info(output);
  const bool missing = !required.empty() && !info.contains(std::string(required));
  if (status != 0 || missing) {
    auto message = fmt::format("machine '{}': {}: `{}` {} (exit code {}): {}", machine, operation,
                               command, status != 0 ? "failed" : "did not report the property",
                               status, excerpt(output, 400));
    throw CommandFailed(message, std::string(machine), std::string(operation), command, status,
                        std::move(output));
  }
  return info;
}

namespace {

/// Helper commands of a wait must not outlive it by much: the guest bounds each one.
constexpr milliseconds helper_limit = std::chrono::seconds(60);
constexpr milliseconds context_limit = std::chrono::seconds(15);

/// Whether `systemctl list-jobs --no-legend UNIT` found no job.
bool lists_no_jobs(int status, const std::string& output) {
  if (status != 0) return false;
  return output.find_first_not_of(" \n") == std::string::npos ||
         output.find("No jobs") != std::string::npos;
}

std::string describe_unit(const std::string& unit, const std::string& user) {
  return user.empty() ? unit : fmt::format("{} (user {})", unit, user);
}

}  // namespace

awaitable<std::map<std::string, std::string>> MachineImpl::unit_properties(
    const std::shared_ptr<Boot>& boot, const std::string& unit, const std::string& user,
    const std::string& properties, const std::string& operation) {
  const auto command = show_command(unit, properties, user);
  auto r = co_await helper(boot, command, helper_limit, operation);
  co_return checked_unit_info(name(), operation, command, r.status, std::move(r.output));
}

awaitable<std::string> MachineImpl::unit_context(const std::shared_ptr<Boot>& boot,
                                                 const std::string& unit, const std::string& user,
                                                 const std::string& operation) {
  std::string out;
  const auto status_cmd = systemctl_command(
      fmt::format("--no-pager --full status -n 0 {} 2>&1", shell_quote(unit)), user);
  // journalctl runs as root, which sees every user's journal too.
  const auto journal_cmd = fmt::format("journalctl --no-pager -q -n 20 {} {} 2>&1",
                                       user.empty() ? "-u" : "--user-unit", shell_quote(unit));
  for (const auto& [title, command] :
       {std::pair<std::string, std::string>{fmt::format("systemctl status {}", unit), status_cmd},
        {fmt::format("journal of {} (last 20 lines)", unit), journal_cmd}}) {
    std::optional<std::string> failure;
    try {
      auto r = co_await helper(boot, command, context_limit, operation);
      out += indent_block(title, r.output.empty() ? std::string("(no output)") : r.output);
    } catch (const Error& e) {
      failure = e.what();
    }
    if (failure)
      out += indent_block(title, fmt::format("(could not be read: {})", excerpt(*failure, 200)));
  }
  co_return out;
}

awaitable<void> MachineImpl::wait_for_unit(std::string unit, std::string user, milliseconds timeout,
                                           std::shared_ptr<CallerLink> link, std::string prefix) {
  const std::string what = describe_unit(unit, user);
  const Wait wait{.operation = prefix + fmt::format("wait_for_unit({})", what),
                  .waiting_for = "unit " + what,
                  .intervals = {.first = milliseconds(100), .max = std::chrono::seconds(1)},
                  .link = std::move(link)};
  const std::string& operation = wait.operation;
  auto boot = co_await ensure_shell(operation);
  const std::string props = "ActiveState,SubState,LoadState,Result";
  // Only this unit's jobs count: another unit's job (say, one stuck activating) says nothing
  // about whether this one will start.
  const std::string jobs_command = systemctl_command(
      fmt::format("list-jobs --full --no-legend {} 2>&1", shell_quote(unit)), user);
  std::map<std::string, std::string> info;
  std::string unit_failure;  // set when the unit ends in a state that cannot become active
  AttemptFn attempt = [&](PollSchedule&) -> awaitable<Attempt> {
    info = co_await unit_properties(boot, unit, user, props, operation);
    if (!info.contains("ActiveState")) {
      std::string got;
      for (const auto& [key, value] : info)
        got += fmt::format("{}{}={}", got.empty() ? "" : ", ", key, value);
      auto message =
          fmt::format("machine '{}': {}: systemctl show reported no ActiveState for {} (got: {})",
                      name(), operation, what, got.empty() ? "nothing" : excerpt(got, 300));
      throw UnitError(message, name(), operation, unit, "");
    }
    const auto& state = info["ActiveState"];
    if (state == "active") co_return Attempt::done;
    if (state == "failed") {
      unit_failure = fmt::format("unit {} has failed (SubState={}, Result={})", what,
                                 info["SubState"], info["Result"]);
      co_return Attempt::stop;
    }
    if (state != "inactive") co_return Attempt::again;
    auto jobs = co_await helper(boot, jobs_command, helper_limit, operation);
    if (!lists_no_jobs(jobs.status, jobs.output)) co_return Attempt::again;
    info = co_await unit_properties(boot, unit, user, props, operation);
    if (info["ActiveState"] != "inactive") co_return Attempt::again;
    unit_failure = info["LoadState"] == "not-found"
                       ? fmt::format("unit {} does not exist (LoadState=not-found)", what)
                       : fmt::format(
                             "unit {} is inactive and there are no pending jobs (SubState={}, "
                             "Result={})",
                             what, info["SubState"], info["Result"]);
    co_return Attempt::stop;
  };
  PollSchedule schedule(timeout, wait.intervals);
  if (co_await poll(boot, wait, schedule, std::move(attempt)) == Attempt::done) co_return;
  const auto context = co_await unit_context(boot, unit, user, operation);
  const auto state = info["ActiveState"];
  if (!unit_failure.empty()) {
    log_error(name(), unit_failure);
    auto message = fmt::format("machine '{}': {}: {}{}", name(), operation, unit_failure, context);
    throw UnitError(message, name(), operation, unit, state);
  }
  throw wait_timeout(wait, schedule,
                     fmt::format("; it is still {}, SubState={}", state, info["SubState"]),
                     context);
}

namespace {

/// What NixOS's switch_root runs: the initrd's systemd isolates initrd-switch-root.target, whose
/// service switches to the system. --no-block: the shell running it is about to go.
constexpr std::string_view isolate_switch_root =
    "systemctl isolate --no-block initrd-switch-root.target 2>/dev/null >/dev/null";
/// What systemd (PID 1) logs on the console as it switches to the new root (NixOS's pattern).
constexpr const char* switching_root = R"(systemd\[1\]:.*Switching root\.)";

}  // namespace

awaitable<void> MachineImpl::switch_root(milliseconds timeout, std::shared_ptr<CallerLink> link) {
  const std::string operation = "switch_root";
  const auto started = Clock::now();
  const auto deadline = deadline_after(timeout);
  // A guest that is not in its systemd initrd (stage 1) fails here, with the unit's context.
  co_await wait_for_unit("initrd.target", "", timeout, std::move(link), operation + ": ");
  auto boot = co_await ensure_shell(operation);
  log_info(name(), "switching root: isolating initrd-switch-root.target");
  // Only what the console says from now on is the answer (an older "Switching root." that no
  // wait consumed, from an earlier boot of this VMM, is not).
  console_cursor_ = std::max(console_cursor_, console_.end_position());
  // Sent, not read (NixOS's check_output=False): the old shell may die before it answers. The
  // deadline bounds the sending; nothing waits for the command's end, which reset() forgets.
  const std::string command(isolate_switch_root);
  (void)co_await run_command(boot, command, std::nullopt, deadline, operation, false);
  Step step{.operation = operation,
            .during = "while waiting for systemd to switch root",
            .deadline = deadline,
            .timeout = timeout,
            .timed_out =
                [&] {
                  return fmt::format(
                      "systemd did not switch root within {} (no \"systemd[1]: … Switching "
                      "root.\" on the console after `{}`; the guest must boot a systemd initrd "
                      "with a backdoor shell in it, NixOS's boot.initrd.systemd.enable and "
                      "testing.initrdBackdoor){}",
                      format_duration(timeout), command, tails());
                },
            .started = started};
  const std::regex re(switching_root);
  co_await console_match(re, step);
  // The VMM may have ended right after the line: then there is no new shell to wait for (and
  // ensure_shell must not start the machine again).
  if (boot != boot_ || boot->abort.is_set())
    std::rethrow_exception(aborted_error(boot.get(), operation, "while switching root"));
  log_info(name(), "the guest switched root; waiting for the new root's shell");
  // The old shell is gone with the initrd; its death is expected, so no command may see it: the
  // shell forgets its session (a late closed sentinel of the old one is dropped) and waits for
  // the new root's banner, on the same connection, or on a new one where a connection carries
  // one shell only (the microVMs' vsock).
  if (boot->shell && backend_->transport().one_shell_per_connection()) {
    boot->shell->close();
    boot->shell.reset();
  }
  // The new root has not had the vlan setup (its addresses, /etc/hosts) yet.
  boot->network_configured = false;
  rearm_shell(boot);
  (void)co_await ensure_shell(operation);
  log_info(name(), fmt::format("switched root in {}", format_duration(Clock::now() - started)));
}

}  // namespace attest::detail
