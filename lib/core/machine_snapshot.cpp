// Snapshots of a machine on the I/O thread: saving one in the running VMM, and restoring one
// either in the running VMM (resuming the saved shell session) or in a fresh VMM.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"

namespace attest::detail {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

/// How long a VMM may take to save or load a snapshot.
constexpr milliseconds snapshot_limit = std::chrono::minutes(5);

}  // namespace

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

MachineImpl::Step MachineImpl::snapshot_step(std::string_view operation,
                                             std::string_view verb) const {
  return Step{
      .operation = operation,
      .during = verb == "save" ? "while saving the snapshot" : "while restoring the snapshot",
      .deadline = deadline_after(snapshot_limit),
      .timeout = snapshot_limit,
      .timed_out = [this, verb] {
        return fmt::format("{} did not {} the snapshot within {}{}", backend_->vmm_name(), verb,
                           format_duration(snapshot_limit), tails());
      }};
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
  auto step = snapshot_step(operation, "save");
  co_await run_step(boot, backend_->snapshot_create(dir), std::move(step));
  if (backend::find<backend::InPlaceRestore>(*backend_)) {
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
  // With an in-place restore the shell session is the snapshot's too.
  const bool resumable = backend::find<backend::InPlaceRestore>(*backend_) != nullptr;
  const auto saved_shell = saved_shells_.find(snapshot);
  if (!fs::is_directory(dir, ec) || (resumable && saved_shell == saved_shells_.end()))
    throw Error(fmt::format("machine '{}': {}: there is no snapshot '{}' (take it with "
                            "snapshot_create first)",
                            name(), operation, snapshot),
                name(), operation);
  std::optional<SavedShell> saved;
  if (resumable) saved = saved_shell->second;
  const auto t0 = Clock::now();
  if (saved && backend_->running() && boot_ && boot_->shell && boot_->shell_ready.is_set() &&
      !boot_->shell_error && !boot_->exited && !boot_->panicked)
    co_await restore_in_place(snapshot, dir, *saved, operation);
  else
    co_await restore_fresh(snapshot, dir, saved, operation);
  log_info(name(), fmt::format("snapshot '{}' restored in {}", snapshot,
                               format_duration(Clock::now() - t0)));
}

awaitable<void> MachineImpl::restore_fresh(std::string snapshot, fs::path dir,
                                           std::optional<SavedShell> saved, std::string operation) {
  if (boot_) boot_->expect_exit = true;  // the old VMM goes away
  auto fresh = new_boot();
  auto boot = fresh.first;
  boot->network_configured = true;  // the snapshot has the guest's addresses
  co_await driver_.network().start();
  log_info(name(), fmt::format("restoring snapshot '{}'", snapshot));
  begin_console_boot(fmt::format("restoring snapshot '{}' in a new", snapshot));
  std::optional<std::string> failure;
  try {
    co_await backend_->snapshot_restore(dir, std::move(fresh.second),
                                        driver_.network().attachment(name()));
  } catch (const backend::StartFailure& e) {
    failure = e.what();
  }
  if (failure) co_await fail_start(operation, *failure);
  asio::co_spawn(driver_.executor(), connect_shell(boot, std::move(saved)), asio::detached);
  (void)co_await ensure_shell(operation);
}

awaitable<void> MachineImpl::restore_in_place(std::string snapshot, fs::path dir, SavedShell saved,
                                              std::string operation) {
  auto boot = boot_;
  log_info(name(), fmt::format("restoring snapshot '{}' in the running {}", snapshot,
                               backend_->vmm_name()));
  begin_console_boot(fmt::format("restoring snapshot '{}' in the running", snapshot));
  auto load = snapshot_step(operation, "load");
  auto& in_place = need<backend::InPlaceRestore>(operation, "no in-place restore");
  co_await run_step(boot, in_place.snapshot_load(dir), std::move(load));
  const milliseconds resume_limit = std::chrono::seconds(60);
  std::optional<TimeoutError> silent;
  try {
    Step resume{.operation = operation,
                .during = "while resuming the restored guest's shell",
                .deadline = deadline_after(resume_limit),
                .timeout = resume_limit,
                .timed_out = [&] {
                  return fmt::format(
                      "the restored guest's shell did not answer within "
                      "{}{}",
                      format_duration(resume_limit), tails());
                }};
    co_await run_step(boot, boot->shell->resume(saved.session), std::move(resume));
  } catch (const TimeoutError& e) {
    if (driver_.expired()) throw;
    silent = e;
  }
  // A guest that does not answer is a boot failure, not a slow operation.
  if (silent) throw BootError(silent->what(), name(), operation);
  boot->user_net_ready = saved.user_net_ready;
  boot->network_configured = true;
}

}  // namespace attest::detail
