// One machine on the I/O thread: its construction, the events of its VMM (console bytes, exit,
// guest reset, kernel panic), the operation runner's error mapping (run_step in
// machine_impl.hpp) and the error texts every part of a machine shares. The parts:
// machine_boot.cpp (start and the guest shell), machine_command.cpp (commands and the polling
// loop), machine_power.cpp (power and network), machine_snapshot.cpp, machine_screen.cpp and
// machine_systemd.cpp.
#include "core/machine_impl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/util.hpp"

namespace attest::detail {

using std::chrono::milliseconds;

MachineImpl::MachineImpl(DriverImpl& driver, MachineConfig config)
    : driver_(driver),
      config_(std::move(config)),
      console_(config_.name),
      console_changed_(driver.executor(), Deadline::max()) {
  paths_.state_dir = driver_.state_root() / ("vm-state-" + config_.name);
  paths_.shared_dir = driver_.state_root() / "shared-xchg";
  paths_.output_dir = driver_.output_dir();
  if (!driver_.kept_state_root().empty())
    paths_.disk_dir = driver_.kept_state_root() / config_.name;
  // The longest socket name in the state directory (QEMU's; the microVM backends check theirs).
  const auto socket_path = (paths_.state_dir / "shell-data").string();
  if (socket_path.size() >= 108)
    throw ConfigError(fmt::format("machine '{}': the socket path {} is longer than the 107 bytes "
                                  "unix sockets allow; {}",
                                  config_.name, socket_path, socket_path_hint),
                      config_.name, "start");
  backend_ = backend::make_backend(driver.executor(), config_, paths_);
  const auto& plan = driver_.network().plan();
  // A NixOS start script's guest configures its own addresses (networking.interfaces), and so
  // does a guest whose configuration says so.
  if (!plan.empty() && config_.start_command.empty() && config_.configure_network &&
      plan.contains(name()) && !plan.node(name()).interfaces.empty())
    // Only QEMU gives the guest a user-mode eth0 (the backends that can forward ports to it).
    network_setup_ =
        net::guest_setup_script(plan, plan.node(name()), backend_->has(Capability::port_forward));
}

MachineImpl::~MachineImpl() {
  if (backend_) backend_->kill();
}

TimeoutError MachineImpl::global_timeout_error(std::string_view during,
                                               std::string_view operation) const {
  return TimeoutError(
      fmt::format("machine '{}': {}: the global timeout of {} expired{}", name(), during,
                  format_duration(driver_.global_timeout()), global_timeout_hint),
      name(), std::string(operation), driver_.global_timeout());
}

void MachineImpl::throw_global_timeout(std::string_view operation) const {
  throw global_timeout_error(operation, operation);
}

std::string MachineImpl::tails(std::size_t console_lines) const {
  std::string out;
  if (backend_)
    out += indent_block(fmt::format("{} stderr (last lines)", backend_->vmm_name()),
                        backend_->stderr_tail(20));
  out += indent_block(fmt::format("console (last {} lines)", console_lines),
                      console_.tail(console_lines));
  return out;
}

VmmEnd MachineImpl::vmm_end(const Boot* boot) const {
  VmmEnd end;
  if (const auto status = backend_->exit_status()) {
    if (status->signaled)
      end.exit_signal = status->code;
    else
      end.exit_code = status->code;
  }
  end.panicked = boot && boot->panicked;
  return end;
}

BootError MachineImpl::down_error(const Boot& boot, const std::string& operation,
                                  std::string_view during) const {
  std::string reason =
      boot.down_reason.empty() ? std::string("the machine went down") : boot.down_reason;
  std::string before_panic;
  if (!boot.panic_context.empty())
    before_panic = indent_block("console up to the panic", boot.panic_context);
  return BootError(fmt::format("machine '{}': {}: {} {}{}{}", name(), operation, reason, during,
                               before_panic, tails()),
                   name(), operation, vmm_end(&boot));
}

Unsupported MachineImpl::unsupported(std::string_view verb, std::string_view what) const {
  return Unsupported(
      fmt::format("machine '{}': {}: the {} backend has {}", name(), verb, backend_->name(), what),
      name(), std::string(verb));
}

std::exception_ptr MachineImpl::aborted_error(const Boot* boot, std::string_view operation,
                                              std::string_view during) const {
  if (driver_.expired() || !boot)
    return std::make_exception_ptr(global_timeout_error(operation, operation));
  if (!boot->abort.is_set())
    return std::make_exception_ptr(
        BootError(fmt::format("machine '{}': {}: the guest rebooted {}; the next command waits "
                              "for its new shell",
                              name(), operation, during),
                  name(), std::string(operation)));
  return std::make_exception_ptr(down_error(*boot, std::string(operation), during));
}

std::exception_ptr MachineImpl::closed_error(const Boot* boot, const Step& step) const {
  if (driver_.expired() || !boot)
    return std::make_exception_ptr(global_timeout_error(step.operation, step.operation));
  if (boot->exited || boot->panicked)
    return std::make_exception_ptr(down_error(*boot, std::string(step.operation), step.during));
  return std::make_exception_ptr(
      BootError(fmt::format("machine '{}': {}: the shell connection closed {}; {}{}", name(),
                            step.operation, step.during, lost_shell_note, tails()),
                name(), std::string(step.operation)));
}

awaitable<void> MachineImpl::settle() {
  auto r =
      co_await race(backend_->wait_exited(), deadline_after(exit_settle), driver_.global_abort());
  (void)r;
}

Event& MachineImpl::step_abort(Boot* boot, const Step& step) {
  if (step.abort) return *step.abort;
  return boot ? boot->abort : driver_.global_abort();
}

std::pair<std::shared_ptr<MachineImpl::Boot>, backend::Events> MachineImpl::new_boot() {
  auto boot = std::make_shared<Boot>(driver_.executor());
  boot->started = Clock::now();
  boot->boot_deadline = deadline_after(config_.boot_timeout);
  boot->reboots_allowed = config_.allow_reboot;
  boot_ = boot;
  console_.on_line = [this, boot](std::string_view line) { on_console_line(boot, line); };

  backend::Events events;
  events.console = [this](std::string_view bytes) { on_console(bytes); };
  events.vmm_stderr = [this](std::string_view line) {
    log_debug(name(), fmt::format("{}: {}", backend_->vmm_name(), line));
  };
  events.exited = [this, boot](const process::ExitStatus& status) { on_exit(boot, status); };
  events.guest_reset = [this, boot] { on_guest_reset(boot); };
  return {boot, std::move(events)};
}

void MachineImpl::wake_console_waiters() {
  ++console_generation_;
  console_changed_.cancel();
}

void MachineImpl::begin_console_boot(std::string_view what) {
  console_.begin_boot(console_log_path(), fmt::format("{} {}", what, backend_->vmm_name()));
}

void MachineImpl::on_console(std::string_view bytes) {
  console_.append(bytes);
  wake_console_waiters();
}

void MachineImpl::on_console_line(const std::shared_ptr<Boot>& boot, std::string_view line) {
  if (boot->panicked) {
    if (line.find("---[ end Kernel panic") != std::string_view::npos) abort_boot(*boot);
    return;
  }
  if (line.find("Kernel panic - not syncing") == std::string_view::npos) return;
  boot->panicked = true;
  boot->panic_context = console_.tail(15);
  auto at = line.find("Kernel panic");
  boot->down_reason = fmt::format("the guest kernel panicked ({})", line.substr(at));
  log_error(name(), boot->down_reason);
  // Give the panic's trace a moment to reach the console, then fail whatever is in flight.
  boot->panic_timer.expires_after(std::chrono::milliseconds(100));
  boot->panic_timer.async_wait([boot](const error_code&) { abort_boot(*boot); });
}

void MachineImpl::abort_boot(Boot& boot) {
  boot.abort.set();
  boot.command_abort.set();
}

void MachineImpl::on_guest_reset(const std::shared_ptr<Boot>& boot) {
  ++boot->resets;
  log_info(name(), "the guest rebooted");
  boot->guest_reset.set();
  // A command running now lost its shell: it fails at once, and the next one waits for the new
  // shell (rearm_shell re-arms this). The new shell's banner is seconds away: nothing has read it.
  boot->command_abort.set();
}

void MachineImpl::on_exit(const std::shared_ptr<Boot>& boot, const process::ExitStatus& status) {
  console_.flush_partial();
  boot->exited = true;
  const auto vmm = backend_->vmm_name();
  if (!boot->panicked) {
    if (status.signaled)
      boot->down_reason = fmt::format("{} was {}", vmm, status.to_string());
    else
      boot->down_reason = fmt::format("{} exited with {}", vmm, status.to_string());
    if (!boot->expect_exit) boot->down_reason += " unexpectedly";
  }
  if (boot->expect_exit)
    log_info(name(), fmt::format("{} exited ({})", vmm, status.to_string()));
  else if (!boot->panicked)
    log_warning(name(), boot->down_reason);
  // Abort first: what races the shell then ends as "the machine went down", before the closed
  // connection fails its pending read.
  abort_boot(*boot);
  if (boot->shell) boot->shell->close();
  wake_console_waiters();
}

namespace {

/// The console's complete lines in `text` from `from` on, as NixOS's wait_for_console_text sees
/// them: each without carriage returns and trailing white space, concatenated with nothing
/// between them; and where each ends (in `joined`, and in `text` after its line feed).
struct JoinedLines {
  std::string joined;
  std::vector<std::pair<std::size_t, std::size_t>> ends;
};

JoinedLines join_lines(std::string_view text, std::size_t from) {
  JoinedLines out;
  for (auto nl = text.find('\n', from); nl != std::string_view::npos;
       from = nl + 1, nl = text.find('\n', from)) {
    auto line = text.substr(from, nl - from);
    const auto last = line.find_last_not_of(" \t\r\v\f");
    line = last == std::string_view::npos ? std::string_view{} : line.substr(0, last + 1);
    for (char c : line)
      if (c != '\r') out.joined += c;
    out.ends.emplace_back(out.joined.size(), nl + 1);
  }
  return out;
}

}  // namespace

awaitable<void> MachineImpl::wait_for_console_text(std::string regex, milliseconds timeout) {
  const std::string operation = fmt::format("wait_for_console_text(/{}/)", regex);
  const std::regex re = compile_regex(regex, name(), operation);
  log_info(name(), fmt::format("{}: waiting", operation));
  Step step{.operation = operation,
            .during = "before the console matched",
            .deadline = deadline_after(timeout),
            .timeout = timeout,
            .timed_out = [&] {
              return fmt::format("no match within {}{}", format_duration(timeout), tails());
            }};
  co_await console_match(re, step);
}

awaitable<void> MachineImpl::console_match(const std::regex& re, const Step& step) {
  const std::string operation(step.operation);
  for (;;) {
    const auto& text = console_.text();
    const std::size_t base = console_.dropped();
    const std::size_t from = std::max(console_cursor_, base) - base;
    // As NixOS: complete lines, joined (a regex may span lines; `.` never meets a line feed).
    const auto lines = join_lines(text, from);
    std::smatch m;
    if (std::regex_search(lines.joined, m, re)) {
      // The wait consumes the console up to the end of the line the match ends in.
      const auto end = static_cast<std::size_t>(m.position(0) + m.length(0));
      std::size_t consumed = from;
      for (const auto& [joined_end, raw_end] : lines.ends) {
        consumed = raw_end;
        if (joined_end >= end && joined_end > 0) break;
      }
      console_cursor_ = base + consumed;
      co_return;
    }
    if (driver_.expired()) throw_global_timeout(operation);
    if (!backend_->running() && boot_ && boot_->exited)
      throw down_error(*boot_, operation, step.during);
    const auto generation = console_generation_;
    auto waiter = [](MachineImpl& self, std::uint64_t gen) -> awaitable<void> {
      while (self.console_generation_ == gen) {
        auto [ec] = co_await self.console_changed_.async_wait(asio::as_tuple(use_awaitable));
        (void)ec;
      }
    };
    auto op = waiter(*this, generation);
    auto r = co_await race(std::move(op), step.deadline, driver_.global_abort());
    if (r.end == RaceEnd::deadline)
      throw TimeoutError(fmt::format("machine '{}': {}: {}", name(), operation, step.timed_out()),
                         name(), operation, step.timeout, elapsed_since(step.started));
    if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
  }
}

awaitable<std::string> MachineImpl::console_log() { co_return console_.text(); }

awaitable<MachineImpl::BootTimings> MachineImpl::boot_timings() {
  auto boot = co_await ensure_shell("boot_timings");
  co_return BootTimings{boot->started, boot->vmm_spawn, boot->vmm_running,
                        boot->shell->banner_seen(), boot->ready_at};
}

awaitable<std::string> MachineImpl::failure_context(std::size_t console_lines) {
  co_return tails(console_lines);
}

}  // namespace attest::detail
