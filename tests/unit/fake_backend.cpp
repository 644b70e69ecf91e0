// The fake backend (see fake_backend.hpp): attest-fake-vmm as a VmmProcess, its shell on a
// VirtconsoleTransport, its stdin as the control channel, and its registration under "fake".
#include "fake_backend.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>

#include "attest/error.hpp"
#include "backend/registry.hpp"

#ifndef ATTEST_FAKE_VMM_PATH
#error "meson passes the path of attest-fake-vmm as ATTEST_FAKE_VMM_PATH"
#endif

namespace attest::testing_support {

namespace fs = std::filesystem;

fs::path FakeControls::default_program() {
  if (const char* env = std::getenv("ATTEST_FAKE_VMM"); env != nullptr && *env != '\0') return env;
  return ATTEST_FAKE_VMM_PATH;
}

void FakeControls::record_guest_reboot(bool reset) {
  const std::lock_guard lock(mutex_);
  guest_reboot_calls_.push_back(reset);
}

void FakeControls::record_snapshot_saved() {
  const std::lock_guard lock(mutex_);
  ++snapshots_saved_;
}

void FakeControls::record_snapshot_restored() {
  const std::lock_guard lock(mutex_);
  ++snapshots_restored_;
}

std::vector<bool> FakeControls::guest_reboot_calls() const {
  const std::lock_guard lock(mutex_);
  return guest_reboot_calls_;
}

int FakeControls::snapshots_saved() const {
  const std::lock_guard lock(mutex_);
  return snapshots_saved_;
}

int FakeControls::snapshots_restored() const {
  const std::lock_guard lock(mutex_);
  return snapshots_restored_;
}

void register_fake_backend(FakeControls& controls) {
  backend::Descriptor d;
  d.name = "fake";
  d.vmm_name = "attest-fake-vmm";
  d.validate = [](const MachineConfig& mc, const backend::FieldError& fail) {
    if (!mc.vlans.empty()) fail("vlans", "the fake backend has no network cards");
    if (!mc.start_command.empty()) fail("start_command", "the fake backend runs no start script");
    if (!mc.qemu_args.empty()) fail("qemu_args", "only valid with the qemu backend, not fake");
  };
  d.make = [&controls](const asio::any_io_executor& ex, const MachineConfig& config,
                       const backend::MachinePaths& paths) -> std::unique_ptr<backend::Backend> {
    if (controls.keyboard)
      return std::make_unique<FakeBackendWithKeyboard>(ex, config, paths, controls);
    return std::make_unique<FakeBackend>(ex, config, paths, controls);
  };
  backend::register_backend(std::move(d));
}

namespace {

/// The fake's shell transport: QEMU's virtconsole, which, with FakeControls::shell_per_connection,
/// says that a connection carries one guest shell only, as the microVMs' vsock does.
class FakeTransport final : public shell::Transport {
 public:
  FakeTransport(std::unique_ptr<shell::VirtconsoleTransport> virtconsole, bool per_shell)
      : virtconsole_(std::move(virtconsole)), per_shell_(per_shell) {}
  std::string describe() const override { return virtconsole_->describe(); }
  awaitable<shell::Channel> connect() override { return virtconsole_->connect(); }
  bool one_shell_per_connection() const noexcept override { return per_shell_; }

 private:
  std::unique_ptr<shell::VirtconsoleTransport> virtconsole_;
  bool per_shell_;
};

}  // namespace

/// What belongs to one fake VMM process: the machine's events for it, the start-up handshake and
/// the console's unfinished line (where the reset marker is looked for). The process's hooks
/// share it, so a hook of an old process never reaches a newer boot's events.
struct FakeBackend::Lifetime {
  explicit Lifetime(const asio::any_io_executor& ex, backend::Events e)
      : events(std::move(e)), ready(ex) {}
  backend::Events events;
  detail::Event ready;  ///< set when the fake VMM is up, or has exited
  std::string line;     ///< the console's last, unfinished line

  void on_console(std::string_view bytes) {
    if (events.console) events.console(bytes);
    for (char c : bytes) {
      if (c != '\n') {
        if (line.size() < 4096) line += c;
        continue;
      }
      if (line == fake_reset_marker && events.guest_reset) events.guest_reset();
      line.clear();
    }
  }
};

FakeBackend::FakeBackend(const asio::any_io_executor& ex, MachineConfig config,
                         backend::MachinePaths paths, FakeControls& controls)
    : ex_(ex), config_(std::move(config)), paths_(std::move(paths)), controls_(controls) {}

FakeBackend::~FakeBackend() { kill(); }

bool FakeBackend::has(Capability c) const noexcept {
  if (c == Capability::reboot) return controls_.can_reboot;
  if (c == Capability::snapshot) return controls_.can_snapshot;
  return Backend::has(c);  // none of the optional interfaces
}

std::string FakeBackend::lacking(Capability c) const {
  if (c == Capability::reboot && !controls_.can_reboot) return "the test turned reboots off";
  return {};
}

awaitable<void> FakeBackend::start(backend::Events events, net::Attachment) {
  co_await launch(std::move(events));
}

awaitable<void> FakeBackend::launch(backend::Events events) {
  const auto shell = (paths_.state_dir / "shell").string();
  transport_.reset();  // its destructor unlinks the socket path
  transport_ = std::make_unique<FakeTransport>(
      std::make_unique<shell::VirtconsoleTransport>(ex_, shell, std::string()),
      controls_.shell_per_connection);
  process::SpawnSpec spec;
  spec.program = controls_.program.string();
  spec.args = {"--shell",           shell,
               "--control",         (paths_.state_dir / "fake-vmm.ctl").string(),
               "--reboot-action",   config_.allow_reboot ? "reset" : "shutdown",
               "--banner",          controls_.banner,
               "--banner-delay-ms", std::to_string(controls_.banner_delay.count())};
  if (controls_.guest_holds_connection) {
    spec.args.push_back("--connection");
    spec.args.push_back("direct");
  }
  if (controls_.initrd) {
    spec.args.push_back("--root");
    spec.args.push_back("initrd");
  }
  if (controls_.shell_per_connection) {
    spec.args.push_back("--shell-connection");
    spec.args.push_back("per-shell");
  }
  if (!controls_.start_failure.empty()) {
    spec.args.push_back("--fail-start");
    spec.args.push_back(controls_.start_failure);
  }
  spec.cwd = paths_.state_dir.string();
  if (!controls_.guest_path.empty()) {
    const char* path = std::getenv("PATH");
    spec.env.emplace_back("PATH", controls_.guest_path.string() + ":" + (path ? path : ""));
  }
  command_line_ = spec.program;
  for (const auto& arg : spec.args) command_line_ += " " + shell_quote(arg);

  auto life = std::make_shared<Lifetime>(ex_, std::move(events));
  process::Hooks hooks;
  hooks.on_stdout = [life](std::string_view bytes) { life->on_console(bytes); };
  hooks.on_stderr_line = [life](std::string_view line) {
    if (line.starts_with(fake_ready_line)) life->ready.set();
    if (life->events.vmm_stderr) life->events.vmm_stderr(line);
  };
  hooks.on_exit = [life](const process::ExitStatus& status) {
    life->ready.set();
    if (life->events.exited) life->events.exited(status);
  };
  try {
    process_ = std::make_unique<process::VmmProcess>(ex_, spec, std::move(hooks));
  } catch (const process::SpawnError& e) {
    throw backend::StartFailure(fmt::format("cannot start the fake VMM: {}", e.what()));
  }
  detail::Event never(ex_);
  auto up =
      co_await detail::race(life->ready.wait(), deadline_after(std::chrono::seconds(10)), never);
  if (up.end != detail::RaceEnd::done)
    throw backend::StartFailure("attest-fake-vmm did not report that it is up within 10 s");
  if (!process_->running()) {
    throw backend::StartFailure(fmt::format("attest-fake-vmm exited with {} while starting: {}",
                                            process_->exit_status()->to_string(),
                                            process_->stderr_tail(5)));
  }
}

bool FakeBackend::running() const noexcept { return process_ && process_->running(); }

std::optional<process::ExitStatus> FakeBackend::exit_status() const {
  return process_ ? process_->exit_status() : std::nullopt;
}

awaitable<void> FakeBackend::wait_exited() {
  if (process_) co_await process_->wait_exited();
}

awaitable<void> FakeBackend::send(std::string line, std::string operation) {
  if (!running())
    throw BackendError(
        fmt::format("machine '{}': {}: attest-fake-vmm is not running", config_.name, operation),
        config_.name, operation);
  std::string failure;
  try {
    co_await process_->write_stdin(line + "\n");
  } catch (const boost::system::system_error& e) {
    failure = e.code().message();
  }
  if (!failure.empty())
    throw BackendError(fmt::format("machine '{}': {}: writing `{}` to attest-fake-vmm failed: {}",
                                   config_.name, operation, line, failure),
                       config_.name, operation);
}

awaitable<void> FakeBackend::quit() {
  if (!running()) co_return;
  std::optional<std::string> failure;
  try {
    co_await send("quit", "crash");
  } catch (const BackendError& e) {
    failure = e.what();
  }
  if (failure) kill();
  co_await process_->wait_exited();
}

// As QEMU's: a VMM that ends on a guest reboot (allow_reboot false) resets it for reboot().
awaitable<void> FakeBackend::begin_guest_reboot() {
  if (config_.allow_reboot) co_return;
  controls_.record_guest_reboot(true);
  co_await send("reboot-action reset", "reboot");
}

awaitable<void> FakeBackend::end_guest_reboot() {
  if (config_.allow_reboot) co_return;
  controls_.record_guest_reboot(false);
  co_await send("reboot-action shutdown", "reboot");
}

awaitable<void> FakeBackend::request_guest_shutdown() { co_await send("powerdown", "shutdown"); }

awaitable<void> FakeBackend::snapshot_create(fs::path dir) {
  const std::string operation = fmt::format("snapshot_create({})", dir.filename().string());
  if (!controls_.snapshot_failure.empty())
    throw BackendError(fmt::format("machine '{}': {}: attest-fake-vmm could not save the "
                                   "snapshot: {}",
                                   config_.name, operation, controls_.snapshot_failure),
                       config_.name, operation);
  std::ofstream(dir / "fake-snapshot") << config_.name << '\n';
  controls_.record_snapshot_saved();
  // As the microVMs' vsock: the snapshot resets the connection, and a new shell answers on the
  // next one.
  co_await send("reconnect", operation);
}

awaitable<void> FakeBackend::snapshot_restore(fs::path dir, backend::Events events,
                                              net::Attachment) {
  std::error_code ec;
  if (!fs::exists(dir / "fake-snapshot", ec))
    throw backend::StartFailure(fmt::format("{} holds no fake snapshot", dir.string()));
  if (running()) co_await quit();
  co_await launch(std::move(events));
  controls_.record_snapshot_restored();
}

awaitable<void> FakeBackendWithKeyboard::send_key(std::vector<detail::KeyPart> keys) {
  std::string names;
  for (const auto& k : keys)
    names +=
        (names.empty() ? "" : "-") + (k.is_number ? fmt::format("{:#04x}", k.number) : k.qcode);
  co_await send("send-key " + names, "send_key");
}

void FakeBackend::kill() noexcept {
  if (process_) process_->signal_group(SIGKILL);
}

std::string FakeBackend::stderr_tail(std::size_t lines) const {
  return process_ ? process_->stderr_tail(lines) : std::string();
}

}  // namespace attest::testing_support
