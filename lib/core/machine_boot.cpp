// Starting a machine and its guest shell on the I/O thread: the VMM's start (and what a failed
// start reports), the background wait for the backdoor banner with its progress lines, the
// vlan setup step, and the guest's reboots, after which the next command waits for a new shell.
#include <fmt/format.h>
#include <sys/stat.h>

#include <utility>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"

namespace attest::detail {

namespace fs = std::filesystem;

awaitable<void> MachineImpl::fail_start(std::string operation, std::string failure) {
  backend_->kill();
  // Let the exit and the last stderr lines arrive before reporting.
  co_await settle();
  throw BootError(fmt::format("machine '{}': {}: {}\ncommand: {}{}", name(), operation, failure,
                              backend_->command_line(), tails()),
                  name(), operation, vmm_end(nullptr));
}

awaitable<void> MachineImpl::start(bool allow_reboot) {
  if (driver_.expired()) throw_global_timeout("start");
  if (allow_reboot && !backend_->has(Capability::reboot)) throw cannot_reboot("start");
  if (backend_->running()) {
    if (allow_reboot) co_await allow_reboots(boot_);
    co_return;
  }
  std::error_code ec;
  fs::create_directories(paths_.state_dir, ec);
  fs::create_directories(paths_.shared_dir, ec);
  ::chmod(paths_.state_dir.c_str(), 0700);
  if (!paths_.disk_dir.empty()) {
    fs::create_directories(paths_.disk_dir, ec);
    ::chmod(paths_.disk_dir.c_str(), 0700);
  }
  if (!std::exchange(started_once_, true) && driver_.boot_cache() != nullptr &&
      co_await warm_start()) {
    if (allow_reboot) co_await allow_reboots(boot_);
    co_return;
  }
  // get_console_log() is the console since this start; the file keeps the earlier boots.
  console_.clear();
  begin_console_boot("starting");
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
  // After the shell's connection is under way, so that a failure here leaves no wait behind.
  if (allow_reboot) co_await allow_reboots(boot);
}

awaitable<void> MachineImpl::open_shell(std::shared_ptr<Boot> boot,
                                        std::optional<SavedShell> resume) {
  Boot& b = *boot;
  if (resume) {
    // A restored snapshot: the guest's shell is idle where it was saved; no banner comes.
    auto sh = std::make_unique<shell::Shell>(co_await backend_->transport().connect(), name());
    co_await sh->resume(resume->session);
    b.shell = std::move(sh);
    b.user_net_ready = resume->user_net_ready;
    co_return;
  }
  if (b.shell) {
    // After a guest reboot: same connection, a new shell behind it.
    co_await b.shell->handshake();
  } else {
    auto sh = std::make_unique<shell::Shell>(co_await backend_->transport().connect(), name());
    co_await sh->handshake();
    b.shell = std::move(sh);
  }
  b.user_net_ready = false;
  if (network_setup_.empty() || b.network_configured) co_return;
  // The guest's vlan addresses and /etc/hosts, before the test's first command.
  auto r = co_await b.shell->run("{ " + network_setup_ + "} 2>&1", std::chrono::seconds(60));
  if (r.status != 0)
    throw std::runtime_error(
        fmt::format("setting up the guest's vlan addresses failed (exit status {}; the guest "
                    "needs `ip` from iproute2 or busybox, and a guest that configures its own "
                    "network wants \"configure_network\": false){}",
                    r.status, indent_block("output", r.output)));
  b.user_net_ready = true;
  b.network_configured = true;
}

void MachineImpl::shell_connected(Boot& boot) {
  // The shell that answered belongs to the guest after every reset seen so far (a reboot can
  // reset twice: the guest's, then SeaBIOS's own hard reset), so no command has lost it.
  boot.shell_resets = boot.resets;
  if (!boot.abort.is_set()) boot.command_abort.reset();
  boot.ready_at = Clock::now();
  const auto took = boot.ready_at - boot.started;
  log_info(name(),
           fmt::format("connected to guest root shell ({} after start)", format_duration(took)));
  ++stats_boots_;
  stats_boot_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
}

BootError MachineImpl::silent_shell_error(bool resumed) const {
  const std::string operation = "connect";
  if (resumed)
    return BootError(
        fmt::format("machine '{}': the restored guest's shell did not answer within the boot "
                    "timeout of {} on the {}; a snapshot taken by another build or boot of this "
                    "machine cannot be restored: take it again with snapshot_create; {}{}",
                    name(), format_duration(config_.boot_timeout), backend_->transport().describe(),
                    lost_shell_note, tails()),
        name(), operation);
  return BootError(
      fmt::format("machine '{}': the guest shell did not come up within the boot timeout of {} "
                  "(no \"{}\" banner on the {}). If the console below is empty, the VMM may not "
                  "run guests here (without KVM: ATTEST_ACCEL=tcg); if the guest is still "
                  "booting, raise the machine's \"boot_timeout\"; if it booted, it does not "
                  "start the test backdoor (NixOS: the test-instrumentation module). {}{}",
                  name(), format_duration(config_.boot_timeout), shell::banner,
                  backend_->transport().describe(), lost_shell_note, tails()),
      name(), operation);
}

awaitable<void> MachineImpl::connect_shell(std::shared_ptr<Boot> boot,
                                           std::optional<SavedShell> resume) {
  const std::string operation = "connect";
  const bool resumed = resume.has_value();
  asio::co_spawn(driver_.executor(), boot_progress(boot), asio::detached);
  // The machine went down, or the global timeout ended the wait.
  auto went_down = [&] {
    if (driver_.expired())
      return std::make_exception_ptr(
          global_timeout_error("waiting for the guest shell", operation));
    return std::make_exception_ptr(down_error(*boot, operation, "before the guest shell came up"));
  };
  std::optional<std::string> failure;
  bool closed = false;
  try {
    auto r = co_await race(open_shell(boot, std::move(resume)), boot->boot_deadline, boot->abort);
    if (r.end == RaceEnd::done) {
      shell_connected(*boot);
      if (!resumed && !warm_key_.empty()) co_await warm_save(boot);
    } else if (r.end == RaceEnd::deadline)
      boot->shell_error = std::make_exception_ptr(silent_shell_error(resumed));
    else
      boot->shell_error = went_down();
  } catch (const shell::ChannelError& e) {
    failure = e.what();
    closed = true;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (closed) {
    co_await settle();
    if (driver_.expired() || boot->exited || boot->panicked) {
      boot->shell_error = went_down();
      failure.reset();
    }
  }
  if (failure)
    boot->shell_error = std::make_exception_ptr(
        BootError(fmt::format("machine '{}': connecting to the guest shell failed: {}; {}{}",
                              name(), *failure, lost_shell_note, tails()),
                  name(), operation));
  if (boot->shell_error && !driver_.expired()) co_await stop_unreachable(boot);
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
  if (boot->end_reboot) {
    boot->end_reboot = false;
    co_await backend_->end_guest_reboot();
  }
  co_return boot;
}

awaitable<std::shared_ptr<MachineImpl::Boot>> MachineImpl::ensure_vmm(
    const std::string& operation) {
  if (driver_.expired()) throw_global_timeout(operation);
  if (!backend_->running() || !boot_) co_await start();
  co_return boot_;
}

awaitable<void> MachineImpl::connect() { (void)co_await ensure_shell("connect"); }

awaitable<bool> MachineImpl::is_up() {
  // After the global timeout every VMM has been killed, even if its exit is not reaped yet.
  co_return !driver_.expired() && backend_->running() && boot_ && boot_->shell &&
      boot_->shell->ready() && !boot_->shell_error;
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

}  // namespace attest::detail
