// One machine on the I/O thread: start, the background wait for the guest shell, commands with
// their deadlines, waits, console watching and the ways a machine goes down.
#include "core/machine_impl.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/util.hpp"

namespace attest::detail {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

/// How long an operation waits for the VMM's exit to be reported after the shell connection
/// dropped, so the error can say why.
constexpr milliseconds exit_settle = std::chrono::seconds(1);
/// How long a benchmark's raw exchange may take before it fails.
constexpr std::chrono::seconds raw_exchange_timeout{60};
/// Extra host-side time for a command the guest's `timeout -k 5` already bounds.
constexpr milliseconds guest_timeout_grace = std::chrono::seconds(10);

}  // namespace

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
                                               const std::string& operation) const {
  return TimeoutError(
      fmt::format("machine '{}': {}: the global timeout of {} expired{}", name(), during,
                  format_duration(driver_.global_timeout()), global_timeout_hint),
      name(), operation, driver_.global_timeout());
}

void MachineImpl::throw_global_timeout(const std::string& operation) const {
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

awaitable<void> MachineImpl::fail_start(std::string operation, std::string failure) {
  backend_->kill();
  // Let the exit and the last stderr lines arrive before reporting.
  auto settle =
      co_await race(backend_->wait_exited(), deadline_after(exit_settle), driver_.global_abort());
  (void)settle;
  throw BootError(fmt::format("machine '{}': {}: {}\ncommand: {}{}", name(), operation, failure,
                              backend_->command_line(), tails()),
                  name(), operation, vmm_end(nullptr));
}

std::pair<std::shared_ptr<MachineImpl::Boot>, backend::Events> MachineImpl::new_boot() {
  auto boot = std::make_shared<Boot>(driver_.executor());
  boot->started = Clock::now();
  boot->boot_deadline = deadline_after(config_.boot_timeout);
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

awaitable<void> MachineImpl::start() {
  if (driver_.expired()) throw_global_timeout("start");
  if (backend_->running()) co_return;
  std::error_code ec;
  fs::create_directories(paths_.state_dir, ec);
  fs::create_directories(paths_.shared_dir, ec);
  ::chmod(paths_.state_dir.c_str(), 0700);
  if (!paths_.disk_dir.empty()) {
    fs::create_directories(paths_.disk_dir, ec);
    ::chmod(paths_.disk_dir.c_str(), 0700);
  }
  console_.restart(console_log_path());
  console_cursor_ = 0;
  wake_console_waiters();

  auto fresh = new_boot();
  auto boot = fresh.first;
  backend::Events events = std::move(fresh.second);
  co_await driver_.network().start();
  port_proxies_.clear();
  log_info(name(), "starting VM");
  std::optional<std::string> failure;
  boot->vmm_spawn = Clock::now();
  try {
    co_await backend_->start(std::move(events), driver_.network().attachment(name()));
  } catch (const backend::StartFailure& e) {
    failure = e.what();
  }
  if (failure) co_await fail_start("start", *failure);
  boot->vmm_running = Clock::now();
  log_debug(name(), fmt::format("VMM command: {}", backend_->command_line()));
  asio::co_spawn(driver_.executor(), connect_shell(boot), asio::detached);
}

awaitable<void> MachineImpl::connect_shell(std::shared_ptr<Boot> boot,
                                           std::optional<SavedShell> resume) {
  auto connect_once = [](backend::Backend& backend, Boot& b, std::string machine, std::string setup,
                         std::optional<SavedShell> saved) -> awaitable<void> {
    if (saved) {
      // A restored snapshot: the guest's shell is idle where it was saved; no banner comes.
      auto channel = co_await backend.transport().connect();
      auto sh = std::make_unique<shell::Shell>(std::move(channel), machine);
      co_await sh->resume(saved->session);
      b.shell = std::move(sh);
      b.user_net_ready = saved->user_net_ready;
      co_return;
    }
    if (b.shell) {
      // After a guest reboot: same connection, a new shell behind it.
      co_await b.shell->handshake();
    } else {
      auto channel = co_await backend.transport().connect();
      auto sh = std::make_unique<shell::Shell>(std::move(channel), machine);
      co_await sh->handshake();
      b.shell = std::move(sh);
    }
    b.user_net_ready = false;
    if (setup.empty() || b.network_configured) co_return;
    // The guest's vlan addresses and /etc/hosts, before the test's first command.
    auto r = co_await b.shell->run("{ " + setup + "} 2>&1", std::chrono::seconds(60));
    if (r.status != 0)
      throw std::runtime_error(
          fmt::format("setting up the guest's vlan addresses failed (exit status {}; the guest "
                      "needs `ip` from iproute2 or busybox, and a guest that configures its own "
                      "network wants \"configure_network\": false){}",
                      r.status, indent_block("output", r.output)));
    b.user_net_ready = true;
    b.network_configured = true;
  };
  const std::string operation = "connect";
  asio::co_spawn(driver_.executor(), boot_progress(boot), asio::detached);
  std::optional<std::string> channel_error;
  std::optional<std::string> other_error;
  try {
    auto op = connect_once(*backend_, *boot, name(), network_setup_, resume);
    auto r = co_await race(std::move(op), boot->boot_deadline, boot->abort);
    if (r.end == RaceEnd::done) {
      // The shell that answered belongs to the guest after every reset seen so far (a reboot can
      // reset twice: the guest's, then SeaBIOS's own hard reset), so no command has lost it.
      boot->shell_resets = boot->resets;
      if (!boot->abort.is_set()) boot->command_abort.reset();
      boot->ready_at = Clock::now();
      const auto took = boot->ready_at - boot->started;
      log_info(name(), fmt::format("connected to guest root shell ({} after start)",
                                   format_duration(took)));
      ++stats_boots_;
      stats_boot_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
    } else if (r.end == RaceEnd::deadline && resume) {
      boot->shell_error = std::make_exception_ptr(BootError(
          fmt::format("machine '{}': the restored guest's shell did not answer within the boot "
                      "timeout of {} on the {}; a snapshot taken by another build or boot of this "
                      "machine cannot be restored: take it again with snapshot_create{}",
                      name(), format_duration(config_.boot_timeout),
                      backend_->transport().describe(), tails()),
          name(), operation));
    } else if (r.end == RaceEnd::deadline) {
      boot->shell_error = std::make_exception_ptr(BootError(
          fmt::format("machine '{}': the guest shell did not come up within the boot timeout of {} "
                      "(no \"{}\" banner on the {}). If the console below is empty, the VMM may "
                      "not run guests here (without KVM: ATTEST_ACCEL=tcg); if the guest is still "
                      "booting, raise the machine's \"boot_timeout\"; if it booted, it does not "
                      "start the test backdoor (NixOS: the test-instrumentation module){}",
                      name(), format_duration(config_.boot_timeout), shell::banner,
                      backend_->transport().describe(), tails()),
          name(), operation));
    } else if (driver_.expired()) {
      boot->shell_error =
          std::make_exception_ptr(global_timeout_error("waiting for the guest shell", operation));
    } else {
      boot->shell_error =
          std::make_exception_ptr(down_error(*boot, operation, "before the guest shell came up"));
    }
  } catch (const shell::ChannelError& e) {
    channel_error = e.what();
  } catch (const std::exception& e) {
    other_error = e.what();
  }
  if (channel_error) {
    auto settle =
        co_await race(backend_->wait_exited(), deadline_after(exit_settle), driver_.global_abort());
    (void)settle;
    if (driver_.expired()) {
      boot->shell_error =
          std::make_exception_ptr(global_timeout_error("waiting for the guest shell", operation));
    } else if (boot->exited || boot->panicked) {
      boot->shell_error =
          std::make_exception_ptr(down_error(*boot, operation, "before the guest shell came up"));
    } else {
      other_error = channel_error;
    }
  }
  if (other_error)
    boot->shell_error = std::make_exception_ptr(
        BootError(fmt::format("machine '{}': connecting to the guest shell failed: {}{}", name(),
                              *other_error, tails()),
                  name(), operation));
  boot->shell_ready.set();
}

awaitable<void> MachineImpl::boot_progress(std::shared_ptr<Boot> boot) {
  // Every 10 s until the shell answers (or the boot fails): how long, and what the console
  // last said, so that a slow boot (TCG, a big guest) is told apart from a stuck one.
  const auto started = boot->started;
  while (co_await sleep_until(deadline_after(std::chrono::seconds(10)), boot->shell_ready)) {
    if (boot_ != boot || boot->started != started) co_return;
    const auto waited =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count();
    std::string last = excerpt(trim(console_.tail(1)), 100);
    log_info(name(),
             last.empty()
                 ? fmt::format("waiting for the guest shell… {} s (no console output yet)", waited)
                 : fmt::format("waiting for the guest shell… {} s (console: {})", waited, last));
  }
}

awaitable<std::shared_ptr<MachineImpl::Boot>> MachineImpl::ensure_shell(
    const std::string& operation) {
  if (driver_.expired()) throw_global_timeout(operation);
  if (!backend_->running() || !boot_) {
    // As in NixOS, a command on a machine that is not running starts it.
    co_await start();
  }
  auto boot = boot_;
  if (boot->shell_ready.is_set() && boot->resets != boot->shell_resets) rearm_shell(boot);
  if (!boot->shell_ready.is_set()) {
    log_info(name(), "waiting for the VM to finish booting");
    co_await boot->shell_ready.wait();
  }
  if (boot->shell_error) std::rethrow_exception(boot->shell_error);
  if (boot->restore_no_reboot) {
    boot->restore_no_reboot = false;
    co_await backend_->set_guest_reboot(false);
  }
  co_return boot;
}

awaitable<void> MachineImpl::connect() { (void)co_await ensure_shell("connect"); }

awaitable<bool> MachineImpl::is_up() {
  // After the global timeout every VMM has been killed, even if its exit is not reaped yet.
  co_return !driver_.expired() && backend_->running() && boot_ && boot_->shell &&
      boot_->shell->ready() && !boot_->shell_error;
}

awaitable<shell::Result> MachineImpl::run_command(std::shared_ptr<Boot> boot,
                                                  const std::string& command,
                                                  std::optional<milliseconds> guest_timeout,
                                                  Deadline deadline, const std::string& operation) {
  if (command.find('\0') != std::string::npos)
    throw Error(fmt::format("machine '{}': {}: the command contains a NUL byte, which bash cannot "
                            "receive",
                            name(), operation),
                name(), operation);
  ++stats_commands_;
  const auto t0 = Clock::now();
  try {
    auto op = boot->shell->run(command, guest_timeout);
    auto r = co_await race(std::move(op), deadline, boot->command_abort);
    if (r.end == RaceEnd::done) co_return std::move(*r.value);
    if (r.end == RaceEnd::aborted) {
      if (driver_.expired()) throw_global_timeout(operation);
      if (!boot->abort.is_set())
        throw BootError(fmt::format("machine '{}': {}: the guest rebooted while running `{}`; the "
                                    "next command waits for its new shell",
                                    name(), operation, excerpt(command, 200)),
                        name(), operation);
      throw down_error(*boot, operation, fmt::format("while running `{}`", excerpt(command, 200)));
    }
    throw TimeoutError(
        fmt::format(
            "machine '{}': {}: command `{}` did not finish within {}{}; it may still run in the "
            "guest, and the next command on this machine first waits for it to end (pass a "
            "longer timeout if the command is only slow)",
            name(), operation, excerpt(command, 200),
            format_duration(guest_timeout.value_or(default_timeout)),
            guest_timeout ? " (the guest's timeout did not stop it)" : ""),
        name(), operation, guest_timeout.value_or(default_timeout), elapsed_since(t0));
  } catch (const shell::ChannelError& e) {
    if (e.kind() == shell::ChannelError::Kind::shell_exited) {
      boot->shell_error = std::make_exception_ptr(BootError(
          fmt::format("machine '{}': the guest's backdoor shell has exited (during `{}`); commands "
                      "cannot run until the machine restarts{}",
                      name(), excerpt(command, 200), tails()),
          name(), operation));
      throw BootError(fmt::format("machine '{}': {}: the guest's backdoor shell exited while "
                                  "running `{}`{}",
                                  name(), operation, excerpt(command, 200), tails()),
                      name(), operation);
    }
    if (e.kind() == shell::ChannelError::Kind::malformed)
      throw ProtocolError(fmt::format("machine '{}': {}: {} (command `{}`)", name(), operation,
                                      e.what(), excerpt(command, 200)),
                          name(), operation);
  }
  // The connection dropped: the VMM is going or gone. Wait briefly so the error can say how.
  auto settle =
      co_await race(backend_->wait_exited(), deadline_after(exit_settle), driver_.global_abort());
  (void)settle;
  if (driver_.expired()) throw_global_timeout(operation);
  if (boot->exited || boot->panicked)
    throw down_error(*boot, operation, fmt::format("while running `{}`", excerpt(command, 200)));
  throw BootError(fmt::format("machine '{}': {}: the shell connection closed while running `{}`{}",
                              name(), operation, excerpt(command, 200), tails()),
                  name(), operation);
}

awaitable<CommandResult> MachineImpl::execute(std::string command, milliseconds timeout,
                                              std::string operation) {
  auto boot = co_await ensure_shell(operation);
  const std::optional<milliseconds> guest_timeout =
      timeout == default_timeout ? std::nullopt : std::optional<milliseconds>(timeout);
  const auto deadline = deadline_after(guest_timeout ? timeout + guest_timeout_grace : timeout);
  const auto t0 = Clock::now();
  auto r = co_await run_command(boot, command, guest_timeout, deadline, operation);
  log_info(name(), fmt::format("{}: `{}` → {} ({}, {} bytes)", operation, excerpt(command, 120),
                               r.status, format_duration(Clock::now() - t0), r.output.size()));
  co_return CommandResult{r.status, std::move(r.output)};
}

awaitable<std::string> MachineImpl::wait_until(std::string command, bool want_success,
                                               milliseconds timeout, std::string operation,
                                               std::string waiting_for,
                                               std::shared_ptr<CallerLink> link) {
  auto boot = co_await ensure_shell(operation);
  const auto t0 = Clock::now();
  const auto deadline = deadline_after(timeout);
  int attempts = 0;
  shell::Result last{-1, {}};
  log_info(name(), fmt::format("{}: waiting for {}", operation, waiting_for));
  auto next_progress = t0 + std::chrono::seconds(10);
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left <= milliseconds::zero()) break;
    wait_progress(name(), "", waiting_for, t0, next_progress);
    if (attempts > 0 && link && driver_.polling_active()) co_await link->check_conditions();
    ++attempts;
    // The guest bounds each attempt by what is left, so the whole wait ends on time.
    last = co_await run_command(boot, command, left, deadline + guest_timeout_grace, operation);
    if ((last.status == 0) == want_success) {
      log_info(name(),
               fmt::format("{}: done after {} ({} attempt{})", operation,
                           format_duration(Clock::now() - t0), attempts, attempts == 1 ? "" : "s"));
      co_return std::move(last.output);
    }
    const auto next = std::min(deadline, Clock::now() + std::chrono::seconds(1));
    if (!co_await sleep_until(next, boot->abort)) {
      if (driver_.expired()) throw_global_timeout(operation);
      throw down_error(*boot, operation, fmt::format("while waiting for {}", waiting_for));
    }
  }
  throw TimeoutError(
      fmt::format("machine '{}': {}: timed out after {} waiting for {} ({} attempts of "
                  "`{}`; last exit status {}{}{}{})",
                  name(), operation, format_duration(timeout), waiting_for, attempts,
                  excerpt(command, 200), last.status,
                  last.status == 127 ? missing_program_note : "",
                  last.output.empty() ? "" : ", last output: ", excerpt(last.output, 400)),
      name(), operation, timeout, elapsed_since(t0));
}

void MachineImpl::wake_console_waiters() {
  ++console_generation_;
  console_changed_.cancel();
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

void MachineImpl::rearm_shell(const std::shared_ptr<Boot>& boot) {
  if (!boot->abort.is_set()) boot->command_abort.reset();
  boot->shell_resets = boot->resets;
  boot->shell_error = nullptr;
  boot->shell_ready.reset();
  boot->started = Clock::now();
  boot->boot_deadline = deadline_after(config_.boot_timeout);
  if (boot->shell) boot->shell->reset();
  asio::co_spawn(driver_.executor(), connect_shell(boot), asio::detached);
}

awaitable<void> MachineImpl::reboot(milliseconds timeout) {
  const std::string operation = "reboot";
  if (!backend_->has(Capability::reboot)) {
    const auto why = backend_->lacking(Capability::reboot);
    throw Unsupported(fmt::format("machine '{}': reboot: the {} backend cannot reboot a guest in "
                                  "place{}",
                                  name(), backend_->name(), why.empty() ? "" : " (" + why + ")"),
                      name(), operation);
  }
  auto boot = co_await ensure_shell(operation);
  const auto deadline = deadline_after(timeout);
  log_info(name(), "rebooting");
  // The guest's reboot must reset it rather than end the VMM (-no-reboot) for this once.
  if (!config_.allow_reboot) co_await backend_->set_guest_reboot(true);
  boot->guest_reset.reset();
  std::optional<RaceEnd> down;
  std::optional<RaceResult<void>> sent;
  std::string send_error;
  try {
    sent = co_await race(boot->shell->send_line("reboot\n"), deadline, boot->abort);
  } catch (const shell::ChannelError& e) {
    send_error = e.what();
  }
  if (!send_error.empty()) {
    // A closed connection: the VMM is exiting; let its exit be seen so that the error says why.
    auto settle =
        co_await race(backend_->wait_exited(), deadline_after(exit_settle), driver_.global_abort());
    (void)settle;
    throw down_error(*boot, operation, fmt::format("while sending `reboot` ({})", send_error));
  }
  if (sent->end == RaceEnd::done) {
    auto r = co_await race(boot->guest_reset.wait(), deadline, boot->abort);
    if (r.end != RaceEnd::done) down = r.end;
  } else {
    down = sent->end;
  }
  if (down == RaceEnd::aborted) {
    if (driver_.expired()) throw_global_timeout(operation);
    throw down_error(*boot, operation, "while rebooting");
  }
  if (down == RaceEnd::deadline)
    throw TimeoutError(fmt::format("machine '{}': reboot: the guest did not go down within {} "
                                   "after `reboot`{}",
                                   name(), format_duration(timeout), tails()),
                       name(), operation, timeout);
  // Back to -no-reboot only once the new shell is up (ensure_shell): SeaBIOS answers the warm
  // reset with a second, hard reset of its own, which must not end the VMM.
  boot->restore_no_reboot = !config_.allow_reboot;
  boot->network_configured = false;
  rearm_shell(boot);
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

awaitable<void> MachineImpl::wait_for_console_text(std::string regex, milliseconds timeout) {
  const std::string operation = fmt::format("wait_for_console_text(/{}/)", regex);
  const std::regex re = compile_regex(regex, name(), operation);
  const auto deadline = deadline_after(timeout);
  log_info(name(), fmt::format("{}: waiting", operation));
  for (;;) {
    const auto& text = console_.text();
    const std::size_t base = console_.dropped();
    const std::size_t from = std::max(console_cursor_, base) - base;
    std::smatch m;
    const std::string window = text.substr(from);
    if (std::regex_search(window, m, re)) {
      const std::size_t end = from + static_cast<std::size_t>(m.position(0) + m.length(0));
      const auto nl = text.find('\n', end == 0 ? 0 : end - 1);
      console_cursor_ = base + (nl == std::string::npos ? text.size() : nl + 1);
      co_return;
    }
    if (driver_.expired()) throw_global_timeout(operation);
    if (!backend_->running() && boot_ && boot_->exited)
      throw down_error(*boot_, operation, "before the console matched");
    const auto generation = console_generation_;
    auto waiter = [](MachineImpl& self, std::uint64_t gen) -> awaitable<void> {
      while (self.console_generation_ == gen) {
        auto [ec] = co_await self.console_changed_.async_wait(asio::as_tuple(use_awaitable));
        (void)ec;
      }
    };
    auto op = waiter(*this, generation);
    auto r = co_await race(std::move(op), deadline, driver_.global_abort());
    if (r.end == RaceEnd::deadline)
      throw TimeoutError(fmt::format("machine '{}': {}: no match within {}{}", name(), operation,
                                     format_duration(timeout), tails()),
                         name(), operation, timeout);
    if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
  }
}

awaitable<std::string> MachineImpl::console_log() { co_return console_.text(); }

awaitable<void> MachineImpl::wait_exit(Deadline deadline, const std::string& operation,
                                       milliseconds timeout) {
  auto r = co_await race(backend_->wait_exited(), deadline, driver_.global_abort());
  if (r.end == RaceEnd::done) co_return;
  if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
  throw TimeoutError(fmt::format("machine '{}': {}: {} did not exit within {}{}", name(), operation,
                                 backend_->vmm_name(), format_duration(timeout), tails()),
                     name(), operation, timeout);
}

awaitable<void> MachineImpl::shutdown(milliseconds timeout) {
  const std::string operation = "shutdown";
  if (!backend_->running()) co_return;
  auto boot = co_await ensure_shell(operation);
  const auto deadline = deadline_after(timeout);
  boot->expect_exit = true;
  log_info(name(), "shutting down (poweroff)");
  std::string send_error;
  try {
    auto op = boot->shell->send_line("poweroff\n");
    auto r = co_await race(std::move(op), deadline, driver_.global_abort());
    if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
  } catch (const shell::ChannelError& e) {
    send_error = e.what();
  }
  if (!send_error.empty())
    log_warning(name(), fmt::format("could not send `poweroff`: {}", send_error));
  // A guest that ignores `poweroff` (or a shell that could not send it) gets the VMM's power
  // button halfway through the timeout; at the timeout the VMM is killed, so none is left behind.
  const auto halfway = std::min(deadline, Clock::now() + timeout / 2);
  auto first = co_await race(backend_->wait_exited(), halfway, driver_.global_abort());
  if (first.end == RaceEnd::done) co_return;
  if (first.end == RaceEnd::aborted) throw_global_timeout(operation);
  log_warning(name(), fmt::format("the guest did not power off after `poweroff`; pressing {}'s "
                                  "power button",
                                  backend_->vmm_name()));
  std::string button_error;
  try {
    co_await backend_->request_guest_shutdown();
  } catch (const Error& e) {
    button_error = e.what();
  }
  if (!button_error.empty()) log_warning(name(), button_error);
  auto second = co_await race(backend_->wait_exited(), deadline, driver_.global_abort());
  if (second.end == RaceEnd::done) co_return;
  if (second.end == RaceEnd::aborted) throw_global_timeout(operation);
  const auto context = tails();
  backend_->kill();
  auto settle =
      co_await race(backend_->wait_exited(), deadline_after(exit_settle), driver_.global_abort());
  (void)settle;
  throw TimeoutError(fmt::format("machine '{}': shutdown: the guest did not power off within {} "
                                 "(neither `poweroff` nor the power button ended {}; it was "
                                 "killed){}",
                                 name(), format_duration(timeout), backend_->vmm_name(), context),
                     name(), operation, timeout);
}

awaitable<void> MachineImpl::crash() {
  const std::string operation = "crash";
  if (!backend_->running()) co_return;
  if (boot_) boot_->expect_exit = true;
  log_info(name(), "simulating a power loss (crash)");
  auto op = backend_->quit();
  const milliseconds limit = std::chrono::seconds(30);
  auto r = co_await race(std::move(op), deadline_after(limit), driver_.global_abort());
  if (r.end == RaceEnd::done) co_return;
  backend_->kill();
  if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
  co_await wait_exit(deadline_after(exit_settle), operation, limit);
}

awaitable<void> MachineImpl::wait_for_shutdown(milliseconds timeout, std::string operation) {
  if (!backend_->running()) co_return;
  if (boot_) boot_->expect_exit = true;  // the test says the guest is going down
  log_info(name(), "waiting for the VM to power off");
  co_await wait_exit(deadline_after(timeout), operation, timeout);
}

awaitable<void> MachineImpl::halt() {
  if (!backend_->running()) co_return;
  if (boot_) boot_->expect_exit = true;
  backend_->kill();
  auto r = co_await race(backend_->wait_exited(), deadline_after(std::chrono::seconds(10)),
                         driver_.global_abort());
  if (r.end != RaceEnd::done)
    log_error(name(), fmt::format("{} (pid group) did not exit within 10s of SIGKILL",
                                  backend_->vmm_name()));
}

awaitable<void> MachineImpl::set_vlan_links(bool up, std::string operation) {
  if (driver_.expired()) throw_global_timeout(operation);
  const auto& plan = driver_.network().plan();
  if (plan.empty() || !plan.contains(name()) || plan.node(name()).interfaces.empty())
    throw Error(fmt::format("machine '{}': {}: the machine is on no vlan (give it \"vlans\" in the "
                            "configuration)",
                            name(), operation),
                name(), operation);
  if (!backend_->running())
    throw Error(fmt::format("machine '{}': {}: the machine is not running (start it first)", name(),
                            operation),
                name(), operation);
  log_info(name(), up ? "unblocking the vlan links" : "blocking the vlan links");
  if (plan.mode == NetworkMode::tap)
    co_await driver_.network().set_links(name(), up);
  else
    co_await backend_->set_vlan_links(up);
}

awaitable<void> MachineImpl::forward_port(std::uint16_t host_port, std::uint16_t guest_port) {
  const std::string operation = "forward_port";
  if (!backend_->has(Capability::port_forward))
    throw Unsupported(fmt::format("machine '{}': forward_port: the {} backend has no user-mode "
                                  "networking to forward ports to",
                                  name(), backend_->name()),
                      name(), operation);
  auto boot = co_await ensure_shell(operation);
  log_info(name(), fmt::format("forwarding host port 127.0.0.1:{} to guest port {}", host_port,
                               guest_port));
  // On the TAP path QEMU listens inside the namespace: the driver listens on the host and
  // connects through.
  std::unique_ptr<net::PortProxy> proxy;
  if (driver_.network().has_namespace())
    proxy = std::make_unique<net::PortProxy>(driver_.executor(), host_port, [this, host_port] {
      return driver_.network().connect_tcp(host_port);
    });
  co_await backend_->forward_port(host_port, guest_port);
  if (proxy) port_proxies_.push_back(std::move(proxy));
  if (config_.start_command.empty() && !boot->user_net_ready) {
    const auto command = "{ " + net::guest_user_net_script() + "} 2>&1";
    auto r = co_await helper(boot, command, std::chrono::seconds(60), operation);
    if (r.status != 0)
      throw CommandFailed(fmt::format("machine '{}': forward_port: giving the guest's eth0 its "
                                      "address failed (exit status {}){}",
                                      name(), r.status, indent_block("output", r.output)),
                          name(), operation, command, r.status, r.output);
    boot->user_net_ready = true;
  }
}

fs::path MachineImpl::snapshot_dir(const std::string& name, const std::string& operation) const {
  const bool valid =
      !name.empty() && name.size() <= 64 && name != "." && name != ".." &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  if (!valid)
    throw Error(fmt::format("machine '{}': {}: '{}' is not a valid snapshot name (use 1-64 "
                            "letters, digits, '-', '_' or '.')",
                            this->name(), operation, name),
                this->name(), operation);
  return driver_.state_root() / "snapshots" / this->name() / name;
}

awaitable<void> MachineImpl::snapshot_create(std::string snapshot) {
  const std::string operation = fmt::format("snapshot_create({})", snapshot);
  if (!backend_->has(Capability::snapshot))
    throw Unsupported(fmt::format("machine '{}': {}: the {} backend has no snapshots", name(),
                                  operation, backend_->name()),
                      name(), operation);
  const auto dir = snapshot_dir(snapshot, operation);
  if (!backend_->running())
    throw Error(fmt::format("machine '{}': {}: the machine is not running (start it first)", name(),
                            operation),
                name(), operation);
  auto boot = co_await ensure_shell(operation);
  // A command abandoned earlier must end first: the saved shell must be idle.
  (void)co_await helper(boot, ":", std::chrono::minutes(5), operation);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec)
    throw Error(fmt::format("machine '{}': {}: cannot create {}: {}", name(), operation,
                            dir.string(), ec.message()),
                name(), operation);
  ::chmod(dir.c_str(), 0700);
  const auto t0 = Clock::now();
  log_info(name(), fmt::format("saving snapshot '{}'", snapshot));
  auto op = backend_->snapshot_create(dir);
  auto r = co_await race(std::move(op), deadline_after(std::chrono::minutes(5)), boot->abort);
  if (r.end == RaceEnd::aborted) {
    if (driver_.expired()) throw_global_timeout(operation);
    throw down_error(*boot, operation, "while saving the snapshot");
  }
  if (r.end == RaceEnd::deadline)
    throw TimeoutError(fmt::format("machine '{}': {}: the VMM did not save the snapshot within 5 "
                                   "minutes{}",
                                   name(), operation, tails()),
                       name(), operation, std::chrono::minutes(5));
  if (backend_->resumable_shell()) {
    // The shell stayed connected; a restore resumes this very session.
    saved_shells_[snapshot] = SavedShell{boot->shell->session(), boot->user_net_ready};
  } else {
    // The VMM reset the guest's vsock connections: a new shell, on a new connection.
    if (boot->shell) boot->shell->close();
    boot->shell.reset();
    rearm_shell(boot);
    (void)co_await ensure_shell(operation);
  }
  log_info(name(),
           fmt::format("snapshot '{}' saved in {}", snapshot, format_duration(Clock::now() - t0)));
}

awaitable<void> MachineImpl::snapshot_restore(std::string snapshot) {
  const std::string operation = fmt::format("snapshot_restore({})", snapshot);
  if (driver_.expired()) throw_global_timeout(operation);
  if (!backend_->has(Capability::snapshot))
    throw Unsupported(fmt::format("machine '{}': {}: the {} backend has no snapshots", name(),
                                  operation, backend_->name()),
                      name(), operation);
  const auto dir = snapshot_dir(snapshot, operation);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(fmt::format("machine '{}': {}: there is no snapshot '{}' (take it with "
                            "snapshot_create first)",
                            name(), operation, snapshot),
                name(), operation);
  std::optional<SavedShell> saved;
  if (backend_->resumable_shell()) {
    const auto it = saved_shells_.find(snapshot);
    if (it == saved_shells_.end())
      throw Error(fmt::format("machine '{}': {}: there is no snapshot '{}' (take it with "
                              "snapshot_create first)",
                              name(), operation, snapshot),
                  name(), operation);
    saved = it->second;
  }
  const auto t0 = Clock::now();
  if (saved && backend_->running() && boot_ && boot_->shell && boot_->shell_ready.is_set() &&
      !boot_->shell_error && !boot_->exited && !boot_->panicked) {
    co_await restore_in_place(snapshot, dir, *saved, operation);
  } else {
    if (boot_) boot_->expect_exit = true;  // the old VMM goes away
    auto fresh = new_boot();
    auto boot = fresh.first;
    backend::Events events = std::move(fresh.second);
    boot->network_configured = true;  // the snapshot has the guest's addresses
    co_await driver_.network().start();
    log_info(name(), fmt::format("restoring snapshot '{}'", snapshot));
    std::optional<std::string> failure;
    auto attachment = driver_.network().attachment(name());
    try {
      co_await backend_->snapshot_restore(dir, std::move(events), std::move(attachment));
    } catch (const backend::StartFailure& e) {
      failure = e.what();
    }
    if (failure) co_await fail_start(operation, *failure);
    asio::co_spawn(driver_.executor(), connect_shell(boot, saved), asio::detached);
    (void)co_await ensure_shell(operation);
  }
  log_info(name(), fmt::format("snapshot '{}' restored in {}", snapshot,
                               format_duration(Clock::now() - t0)));
}

awaitable<void> MachineImpl::restore_in_place(std::string snapshot, fs::path dir, SavedShell saved,
                                              std::string operation) {
  auto boot = boot_;
  log_info(name(), fmt::format("restoring snapshot '{}' in the running {}", snapshot,
                               backend_->vmm_name()));
  const auto deadline = deadline_after(std::chrono::minutes(5));
  auto load = backend_->snapshot_load(dir);
  auto loaded = co_await race(std::move(load), deadline, boot->abort);
  if (loaded.end == RaceEnd::done) {
    auto resume = boot->shell->resume(saved.session);
    auto resumed =
        co_await race(std::move(resume), deadline_after(std::chrono::seconds(60)), boot->abort);
    if (resumed.end == RaceEnd::done) {
      boot->user_net_ready = saved.user_net_ready;
      boot->network_configured = true;
      co_return;
    }
    if (resumed.end == RaceEnd::deadline)
      throw BootError(fmt::format("machine '{}': {}: the restored guest's shell did not answer "
                                  "within 60 s{}",
                                  name(), operation, tails()),
                      name(), operation);
  } else if (loaded.end == RaceEnd::deadline) {
    throw TimeoutError(fmt::format("machine '{}': {}: {} did not load the snapshot within 5 "
                                   "minutes{}",
                                   name(), operation, backend_->vmm_name(), tails()),
                       name(), operation, std::chrono::minutes(5));
  }
  if (driver_.expired()) throw_global_timeout(operation);
  throw down_error(*boot, operation, "while restoring the snapshot");
}

awaitable<MachineImpl::BootTimings> MachineImpl::boot_timings() {
  auto boot = co_await ensure_shell("boot_timings");
  co_return BootTimings{boot->started, boot->vmm_spawn, boot->vmm_running,
                        boot->shell->banner_seen(), boot->ready_at};
}

awaitable<std::size_t> MachineImpl::raw_exchange(std::string line, std::string terminator) {
  auto boot = co_await ensure_shell("raw_exchange");
  const std::string shown = excerpt(line, 120);
  auto op = boot->shell->raw_exchange(std::move(line), std::move(terminator));
  auto r = co_await race(std::move(op), deadline_after(raw_exchange_timeout), boot->abort);
  if (r.end == RaceEnd::done) co_return *r.value;
  if (r.end == RaceEnd::aborted) throw down_error(*boot, "raw_exchange", "while running " + shown);
  throw TimeoutError(fmt::format("machine '{}': raw_exchange: no answer to `{}` within {} that "
                                 "ends as expected",
                                 name(), shown, format_duration(raw_exchange_timeout)),
                     name(), "raw_exchange", raw_exchange_timeout);
}

awaitable<std::string> MachineImpl::failure_context(std::size_t console_lines) {
  co_return tails(console_lines);
}

}  // namespace attest::detail
