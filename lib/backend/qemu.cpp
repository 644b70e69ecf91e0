// The QEMU backend: process, QMP and virtconsole for one machine (its command line: qemu_args.cpp).
#include "backend/qemu.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <vector>

#include "attest/error.hpp"
#include "attest/machine.hpp"
#include "backend/microvm.hpp"
#include "core/log.hpp"
#include "protocol/qmp.hpp"

namespace attest::backend {

namespace fs = std::filesystem;

namespace {

class QemuBackend final : public Backend,
                          public Screen,
                          public Keyboard,
                          public ConsoleInput,
                          public Monitor,
                          public LinkControl,
                          public PortForwarding,
                          public InPlaceRestore,
                          public PortableSnapshots {
 public:
  QemuBackend(const asio::any_io_executor& ex, MachineConfig config, MachinePaths paths)
      : ex_(ex), config_(std::move(config)), paths_(std::move(paths)) {}

  ~QemuBackend() override { kill(); }

  std::string_view name() const noexcept override { return "qemu"; }
  std::string_view vmm_name() const noexcept override { return "QEMU"; }

  bool has(Capability c) const noexcept override {
    return c == Capability::snapshot || c == Capability::reboot || Backend::has(c);
  }

  awaitable<void> start(Events events, net::Attachment network) override {
    co_await launch(std::move(events), std::move(network), false);
  }

  shell::Transport& transport() override { return *transport_; }

  bool running() const noexcept override { return process_ && process_->running(); }

  std::optional<process::ExitStatus> exit_status() const override {
    return process_ ? process_->exit_status() : std::nullopt;
  }

  awaitable<void> wait_exited() override {
    if (process_) co_await process_->wait_exited();
  }

  awaitable<void> quit() override {
    if (!running()) co_return;
    try {
      if (qmp_ && qmp_->connected()) co_await qmp_->execute("quit");
    } catch (const qmp::QmpError& e) {
      // QEMU may close the connection before its reply arrives; the exit below is what counts.
      detail::log_debug(config_.name, fmt::format("QMP quit: {}", e.what()));
    }
    if (!qmp_ || !qmp_->connected()) process_->signal_group(SIGKILL);
    co_await process_->wait_exited();
  }

  // Under -no-reboot (allow_reboot false) a guest reboot ends QEMU; reboot() must reset it.
  awaitable<void> begin_guest_reboot() override {
    if (!config_.allow_reboot) co_await set_reboot_action("reset");
  }
  awaitable<void> end_guest_reboot() override {
    if (!config_.allow_reboot) co_await set_reboot_action("shutdown");
  }

  awaitable<void> set_vlan_links(bool up) override {
    for (const auto& link : network_.links) {
      auto arguments = qmp::json::object();
      arguments["name"] = link.iface.netdev_id();
      arguments["up"] = up;
      co_await checked_qmp(
          "set_link", std::move(arguments),
          fmt::format("set_link {} {}", link.iface.netdev_id(), up ? "on" : "off"));
    }
  }

  awaitable<void> forward_port(std::uint16_t host_port, std::uint16_t guest_port) override {
    const auto command =
        fmt::format("hostfwd_add user.0 tcp:127.0.0.1:{}-:{}", host_port, guest_port);
    auto arguments = qmp::json::object();
    arguments["command-line"] = command;
    const auto reply = co_await checked_qmp("human-monitor-command", std::move(arguments), command);
    // HMP answers errors as text.
    if (reply.is_string() && !reply.get<std::string>().empty())
      throw BackendError(fmt::format("machine '{}': QEMU refused `{}`: {}", config_.name, command,
                                     reply.get<std::string>()),
                         config_.name, "forward_port", {command, "", 0});
  }

  awaitable<void> request_guest_shutdown() override {
    co_await checked_qmp("system_powerdown", nullptr, "system_powerdown");
  }

  // Snapshots are QEMU internal snapshots (savevm/loadvm): the machine state goes into a qcow2
  // image of the state directory, each writable qcow2 disk keeps its own snapshot, and read-only
  // images need none. Loading one in the running QEMU (InPlaceRestore) takes a fraction of a cold
  // boot, and the virtconsole connection, with its shell session, outlives it.

  awaitable<void> snapshot_create(std::filesystem::path dir) override {
    const std::string operation = fmt::format("snapshot_create({})", dir.filename().string());
    co_await attach_vmstate(operation);
    co_await hmp_checked("savevm " + dir.filename().string(), operation);
  }

  awaitable<void> snapshot_load(std::filesystem::path dir) override {
    const std::string operation = fmt::format("snapshot_restore({})", dir.filename().string());
    co_await attach_vmstate(operation);
    co_await hmp_checked("loadvm " + dir.filename().string(), operation);
  }

  awaitable<void> snapshot_restore(std::filesystem::path dir, Events events,
                                   net::Attachment network) override {
    const std::string operation = fmt::format("snapshot_restore({})", dir.filename().string());
    if (running()) co_await quit();
    co_await launch(std::move(events), std::move(network), true);
    std::optional<std::string> failure;
    try {
      co_await attach_vmstate(operation);
      co_await hmp_checked("loadvm " + dir.filename().string(), operation);
      co_await checked_qmp("cont", nullptr, "cont");
    } catch (const BackendError& e) {
      failure = e.what();
    }
    if (failure) throw StartFailure(*failure);
  }

  // Warm starts (the boot cache): a snapshot's state is vmstate.qcow2 and the machine's own
  // qcow2 disks, all in the state directory.
  std::string boot_identity(const net::Attachment& network) const override {
    return qemu_boot_identity(config_, network);
  }
  std::vector<std::filesystem::path> snapshot_files() const override {
    return qemu_snapshot_files(config_, paths_);
  }
  awaitable<void> pause() override { co_await checked_qmp("stop", nullptr, "stop"); }
  awaitable<void> resume() override { co_await checked_qmp("cont", nullptr, "cont"); }

  awaitable<void> screendump(std::filesystem::path path) override {
    // QEMU writes the file itself (PNG since QEMU 7.1), from its current display surface.
    auto arguments = qmp::json::object();
    arguments["filename"] = path.string();
    arguments["format"] = "png";
    std::string operation = "screenshot";
    std::string command = "screendump";
    std::string description = "screendump " + path.string();
    co_await checked_qmp_as(std::move(operation), std::move(command), std::move(arguments),
                            std::move(description));
  }

  awaitable<void> send_key(std::vector<detail::KeyPart> keys) override {
    auto list = qmp::json::array();
    std::string description;
    for (const auto& k : keys) {
      auto value = qmp::json::object();
      value["type"] = k.is_number ? "number" : "qcode";
      if (k.is_number)
        value["data"] = k.number;
      else
        value["data"] = k.qcode;
      description += fmt::format("{}{}", description.empty() ? "" : "-",
                                 k.is_number ? fmt::format("{:#04x}", k.number) : k.qcode);
      list.push_back(std::move(value));
    }
    auto arguments = qmp::json::object();
    arguments["keys"] = std::move(list);
    std::string operation = "send_key";
    std::string command = "send-key";
    description = "send-key " + description;
    co_await checked_qmp_as(std::move(operation), std::move(command), std::move(arguments),
                            std::move(description));
  }

  awaitable<void> send_console(std::string bytes) override {
    if (!running())
      throw BackendError(
          fmt::format("machine '{}': send_console: QEMU is not running", config_.name),
          config_.name, "send_console");
    std::string failure;
    try {
      co_await process_->write_stdin(std::move(bytes));
    } catch (const boost::system::system_error& e) {
      failure = e.code().message();
    }
    if (!failure.empty())
      throw BackendError(fmt::format("machine '{}': send_console: writing to QEMU's serial "
                                     "console (its stdin) failed: {}",
                                     config_.name, failure),
                         config_.name, "send_console");
  }

  awaitable<std::string> monitor_command(std::string command) override {
    auto arguments = qmp::json::object();
    arguments["command-line"] = command;
    std::string operation = "send_monitor_command";
    std::string qmp_command = "human-monitor-command";
    std::string description = "human-monitor-command " + command;
    const auto reply = co_await checked_qmp_as(std::move(operation), std::move(qmp_command),
                                               std::move(arguments), std::move(description));
    co_return reply.is_string() ? reply.get<std::string>() : reply.dump();
  }

  awaitable<QmpEvent> next_event() override {
    for (;;) {
      if (!qmp_)
        throw BackendError(
            fmt::format("machine '{}': wait_for_qmp_event: QEMU is not running", config_.name),
            config_.name, "wait_for_qmp_event");
      auto& queue = qmp_->events();
      if (!queue.empty()) {
        const qmp::json event = std::move(queue.front());
        queue.pop_front();
        co_return qmp::to_public_event(event);
      }
      if (!qmp_->connected())
        throw BackendError(fmt::format("machine '{}': wait_for_qmp_event: QEMU's QMP connection "
                                       "is closed",
                                       config_.name),
                           config_.name, "wait_for_qmp_event");
      co_await qmp_->wait_event();
    }
  }

  void kill() noexcept override {
    if (process_) process_->signal_group(SIGKILL);
    if (qmp_) qmp_->close();
  }

  std::string stderr_tail(std::size_t lines) const override {
    return process_ ? process_->stderr_tail(lines) : std::string{};
  }

  std::string command_line() const override { return command_line_; }

 private:
  /// Starts QEMU (with its CPUs stopped when `paused`) and connects QMP.
  awaitable<void> launch(Events events, net::Attachment network, bool paused) {
    network_ = std::move(network);
    bool accel_explicit = false;
    const Accel accel = effective_accel(config_, &accel_explicit);
    sockets_ = {(paths_.state_dir / "shell").string(), (paths_.state_dir / "shell-data").string(),
                (paths_.state_dir / "qmp").string()};
    error_code ec;
    fs::remove(sockets_.qmp, ec);
    transport_.reset();  // its destructor unlinks the socket path
    transport_ = std::make_unique<shell::VirtconsoleTransport>(ex_, sockets_.shell, sockets_.data);
    co_await create_fresh_disks();
    const bool display =
        std::getenv("DISPLAY") != nullptr || std::getenv("WAYLAND_DISPLAY") != nullptr;
    // SeaBIOS (QEMU's default), not qboot, on the direct path too: qboot does not run the VGA
    // card's option ROM, so the guest kernel finds no text mode and its consoles never reach the
    // screen (screendump shows "Guest has not initialized the display"). It costs about half a
    // second of boot under TCG.
    const std::string bios;
    const auto launch = qemu_launch(config_, paths_, sockets_, accel, accel_explicit, display, bios,
                                    network_, paused);
    command_line_ = qemu_command_line(launch);

    process::SpawnSpec spec{launch.program, launch.args, launch.env, launch.cwd};
    // On the TAP path QEMU runs inside the test's namespace, where its TAPs are.
    spec.join_user_ns = network_.user_ns_fd;
    spec.join_net_ns = network_.net_ns_fd;
    guest_reset_ = events.guest_reset;
    process::Hooks hooks{events.console, events.vmm_stderr, events.exited};
    vmstate_attached_ = false;
    try {
      process_ = std::make_unique<process::VmmProcess>(ex_, spec, std::move(hooks));
    } catch (const process::SpawnError& e) {
      throw StartFailure(fmt::format(
          "cannot start QEMU ({}): {}; {}", launch.program, e.what(),
          config_.start_command.empty()
              ? "install QEMU (Debian: apt-get install qemu-system-x86; Nix: pkgs.qemu) or set "
                "\"qemu_binary\" in the machine's configuration to the QEMU program"
              : "check the machine's \"start_command\""));
    }
    co_await connect_qmp();
  }

  /// Runs qemu-img with `args` and waits for it. Returns its failure (empty on success).
  awaitable<std::string> run_qemu_img(std::vector<std::string> args) {
    process::SpawnSpec spec{qemu_img_program(config_.qemu_binary), std::move(args), {}, {}};
    std::unique_ptr<process::VmmProcess> p;
    try {
      p = std::make_unique<process::VmmProcess>(ex_, spec, process::Hooks{});
    } catch (const process::SpawnError& e) {
      co_return fmt::format(
          "cannot run {}: {} (qemu-img comes with QEMU; Debian: apt-get install "
          "qemu-utils)",
          spec.program, e.what());
    }
    auto r = co_await detail::race(p->wait_exited(), deadline_after(std::chrono::seconds(60)));
    if (r.end != detail::RaceEnd::done) co_return fmt::format("{} took over 60 s", spec.program);
    if (!p->exit_status()->success())
      co_return fmt::format("{} exited with {}: {}", spec.program, p->exit_status()->to_string(),
                            p->stderr_tail(5));
    co_return std::string{};
  }

  /// Creates the machine's own disks that do not exist yet as qcow2 images, so they survive
  /// reboots and restarts within the test and can hold snapshots: the fresh disks, and an overlay
  /// over each writable image, which the machine writes instead of the image (so two machines,
  /// or two runs, never write one image). Throws: StartFailure.
  awaitable<void> create_fresh_disks() {
    for (std::size_t i = 0; i < config_.disks.size(); ++i) {
      const auto& disk = config_.disks[i];
      if (!qemu_disk_is_own(disk)) continue;
      const auto path = qemu_fresh_disk_path(paths_, i);
      std::error_code ec;
      if (fs::exists(path, ec)) continue;
      const auto failure = co_await run_qemu_img(qemu_img_create_args(disk, path));
      if (!failure.empty()) {
        fs::remove(path, ec);
        throw StartFailure(
            fmt::format("cannot create disks[{}] at {}: {}", i, path.string(), failure));
      }
      ::chmod(path.c_str(), 0600);
    }
  }

  /// Gives this QEMU the qcow2 image that holds snapshots' machine state (RAM and devices), so
  /// guests without a writable qcow2 disk (a RAM root) can be snapshotted too: created on first
  /// use in the state directory and attached as a block node no device sees.
  /// Throws: BackendError.
  awaitable<void> attach_vmstate(const std::string& operation) {
    if (vmstate_attached_) co_return;
    const auto path = paths_.state_dir / "vmstate.qcow2";
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      std::vector<std::string> args = {"create", "-q", "-f", "qcow2", path.string(), "1M"};
      const auto failure = co_await run_qemu_img(std::move(args));
      if (!failure.empty())
        throw BackendError(fmt::format("machine '{}': {}: cannot create the snapshot state image "
                                       "{}: {}",
                                       config_.name, operation, path.string(), failure),
                           config_.name, operation);
      ::chmod(path.c_str(), 0600);
    }
    auto file = qmp::json::object();
    file["driver"] = "file";
    file["filename"] = path.string();
    auto arguments = qmp::json::object();
    arguments["driver"] = "qcow2";
    arguments["node-name"] = vmstate_node;
    arguments["file"] = std::move(file);
    co_await checked_qmp("blockdev-add", std::move(arguments), "blockdev-add " + path.string());
    vmstate_attached_ = true;
  }

  /// Runs an HMP command whose only output is an error message (savevm, loadvm).
  /// Throws: BackendError with QEMU's message.
  awaitable<void> hmp_checked(std::string command, std::string operation) {
    auto arguments = qmp::json::object();
    arguments["command-line"] = command;
    const auto reply = co_await checked_qmp("human-monitor-command", std::move(arguments), command);
    if (reply.is_string() && !reply.get<std::string>().empty()) {
      std::string text = reply.get<std::string>();
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      throw BackendError(fmt::format("machine '{}': {}: QEMU refused `{}`: {}", config_.name,
                                     operation, command, text),
                         config_.name, operation, {command, "", 0});
    }
  }

  /// QMP set-action reboot=ACTION: what a guest reboot does (reset the guest or end QEMU).
  awaitable<void> set_reboot_action(std::string action) {
    auto arguments = qmp::json::object({{"reboot", action}});
    co_await checked_qmp("set-action", std::move(arguments), "set-action reboot=" + action);
  }

  awaitable<qmp::json> checked_qmp(std::string command, qmp::json arguments,
                                   std::string description) {
    std::string operation = command;
    return checked_qmp_as(std::move(operation), std::move(command), std::move(arguments),
                          std::move(description));
  }

  /// Runs a QMP command; its errors name `operation` (the facade's name for it).
  awaitable<qmp::json> checked_qmp_as(std::string operation, std::string command,
                                      qmp::json arguments, std::string description) {
    if (!qmp_ || !qmp_->connected())
      throw BackendError(fmt::format("machine '{}': {}: QEMU's QMP connection is closed",
                                     config_.name, description),
                         config_.name, operation);
    std::string failure;
    std::string error_class;
    std::exception_ptr cause;
    qmp::json reply;
    try {
      reply = co_await qmp_->execute(command, std::move(arguments));
    } catch (const qmp::QmpError& e) {
      failure = e.what();
      error_class = e.error_class();
      cause = std::current_exception();
    }
    if (!failure.empty()) {
      BackendError error(
          fmt::format("machine '{}': QMP {}: {}", config_.name, description, failure), config_.name,
          operation, {command, error_class, 0});
      error.set_cause(cause);
      throw error;
    }
    co_return reply;
  }

  awaitable<void> connect_qmp() {
    // QEMU creates the QMP socket early in its start-up; poll until it accepts, or QEMU dies.
    const auto deadline = deadline_after(std::chrono::seconds(60));
    asio::steady_timer timer(ex_);
    std::string failure;
    for (;;) {
      qmp_ = std::make_unique<qmp::Client>(ex_);
      if (!process_->running()) break;
      try {
        co_await qmp_->connect(sockets_.qmp);
        qmp_->on_event = [this](const qmp::json& event) {
          if (event.value("event", "") == "RESET" && guest_reset_) guest_reset_();
        };
        co_return;
      } catch (const boost::system::system_error& e) {
        const auto code = e.code().value();
        if (code != ENOENT && code != ECONNREFUSED)
          failure = fmt::format("cannot connect to QEMU's QMP socket {}: {}", sockets_.qmp,
                                e.code().message());
      } catch (const qmp::QmpError& e) {
        failure = fmt::format("QMP handshake with QEMU failed: {}", e.what());
      }
      if (!failure.empty()) break;
      if (Clock::now() > deadline) {
        failure =
            fmt::format("QEMU's QMP socket {} did not accept connections within 60s", sockets_.qmp);
        break;
      }
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(use_awaitable);
    }
    // A QEMU that refuses its arguments exits right away: report that rather than the socket.
    auto exited =
        co_await detail::race(process_->wait_exited(), deadline_after(std::chrono::seconds(1)));
    if (exited.end == detail::RaceEnd::done) {
      std::string err = process_->stderr_tail(20);
      std::transform(err.begin(), err.end(), err.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      const bool kvm = err.find("kvm") != std::string::npos;
      throw StartFailure(fmt::format(
          "QEMU exited with {} while starting{}", process_->exit_status()->to_string(),
          kvm ? "; KVM is not usable here: check that /dev/kvm exists and that this user may open "
                "it (group kvm), or run without KVM: ATTEST_ACCEL=tcg or \"accel\": \"tcg\" "
                "(slower)"
          : config_.qemu_args.empty() ? ""
                                      : "; check the machine's \"qemu_args\""));
    }
    throw StartFailure(failure);
  }

  asio::any_io_executor ex_;
  MachineConfig config_;
  MachinePaths paths_;
  QemuSockets sockets_;
  std::unique_ptr<shell::VirtconsoleTransport> transport_;
  std::unique_ptr<process::VmmProcess> process_;
  std::unique_ptr<qmp::Client> qmp_;
  std::string command_line_;
  std::function<void()> guest_reset_;
  net::Attachment network_;
  /// Whether this QEMU process has the snapshot state image attached.
  bool vmstate_attached_ = false;
  static constexpr const char* vmstate_node = "attest-vmstate";
};

}  // namespace

std::unique_ptr<Backend> make_qemu_backend(const asio::any_io_executor& ex,
                                           const MachineConfig& config, const MachinePaths& paths) {
  return std::make_unique<QemuBackend>(ex, config, paths);
}

}  // namespace attest::backend
