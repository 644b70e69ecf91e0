// The half of the Firecracker and cloud-hypervisor backends they share: files, private disks,
// the VMM process with its API client and log, bring-up raced against the VMM's exit, snapshots.
#include "backend/microvm.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <system_error>

#include "attest/error.hpp"
#include "core/log.hpp"
#include "core/util.hpp"

namespace attest::backend {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

MicroVmFiles microvm_files(const MachinePaths& paths, std::string_view backend) {
  MicroVmFiles f;
  f.api_socket = (paths.state_dir / fmt::format("{}.sock", backend)).string();
  f.vsock = (paths.state_dir / "v.sock").string();
  if (backend == "firecracker") f.log = (paths.state_dir / "firecracker.log").string();
  return f;
}

namespace {

bool writable(const DiskConfig& disk) { return !disk.read_only; }

/// Where a disk's state goes in a snapshot directory.
fs::path snapshot_disk(const fs::path& dir, const MachineConfig& config, std::size_t index) {
  return dir / fmt::format("disk-{}.img", disk_id(config, index));
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// The kernel command line (kernel_cmdline); without one in the configuration a serial console
/// and Firecracker's reboot/panic behaviour (its own default has no console: 8250.nr_uarts=0).
std::string boot_args(const MachineConfig& config) {
  return kernel_cmdline(config, "console=ttyS0 reboot=k panic=1");
}

}  // namespace

void copy_sparse(const fs::path& from, const fs::path& to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) throw_errno(fmt::format("cannot open {}", from.string()));
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) throw_errno(fmt::format("cannot stat {}", from.string()));
  const fs::path tmp = to.string() + ".tmp";
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (out.fd < 0) throw_errno(fmt::format("cannot create {}", tmp.string()));
  // A reflink shares the extents (btrfs, xfs): instant and no extra space.
  if (::ioctl(out.fd, FICLONE, in.fd) != 0) {
    if (::ftruncate(out.fd, st.st_size) != 0)
      throw_errno(fmt::format("cannot size {}", tmp.string()));
    off_t pos = 0;
    while (pos < st.st_size) {
      off_t data = ::lseek(in.fd, pos, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // only a hole is left
        throw_errno(fmt::format("cannot read {}", from.string()));
      }
      off_t hole = ::lseek(in.fd, data, SEEK_HOLE);
      if (hole < 0) hole = st.st_size;
      off_t at_in = data;
      off_t at_out = data;
      while (at_in < hole) {
        const auto n = ::copy_file_range(in.fd, &at_in, out.fd, &at_out,
                                         static_cast<std::size_t>(hole - at_in), 0);
        if (n < 0) throw_errno(fmt::format("cannot copy {} to {}", from.string(), tmp.string()));
        if (n == 0) break;
      }
      pos = hole;
    }
  }
  if (::fsync(out.fd) != 0) throw_errno(fmt::format("cannot write {}", tmp.string()));
  std::error_code ec;
  fs::rename(tmp, to, ec);
  if (ec)
    throw std::system_error(ec, fmt::format("cannot rename {} to {}", tmp.string(), to.string()));
}

fs::path microvm_disk_image(const MachineConfig& config, const MachinePaths& paths,
                            std::size_t index) {
  const auto& disk = config.disks.at(index);
  if (disk.size_mib > 0) return fresh_disk_path(paths, index);
  if (disk.read_only) return disk.path;
  return paths.disks() / fmt::format("disk{}-{}", index, disk.path.filename().string());
}

void prepare_microvm_disks(const MachineConfig& config, const MachinePaths& paths) {
  create_fresh_disks(config, paths);
  for (std::size_t i = 0; i < config.disks.size(); ++i) {
    const auto& disk = config.disks[i];
    if (disk.size_mib > 0 || disk.read_only) continue;
    const auto copy = microvm_disk_image(config, paths, i);
    std::error_code ec;
    if (fs::exists(copy, ec)) continue;  // kept across restarts within the test
    try {
      copy_sparse(disk.path, copy);
    } catch (const std::system_error& e) {
      throw StartFailure(fmt::format("cannot make the private copy of disks[{}] ({}): {}", i,
                                     disk.path.string(), e.what()));
    }
  }
}

std::vector<ApiRequest> firecracker_configuration(const MachineConfig& config,
                                                  const MachinePaths& paths,
                                                  const net::Attachment& network,
                                                  const MicroVmFiles& files) {
  std::vector<ApiRequest> out;
  out.push_back({"PUT", "/machine-config",
                 json{{"vcpu_count", config.vcpus}, {"mem_size_mib", config.memory_mib}}});
  json boot{{"kernel_image_path", config.kernel.string()}, {"boot_args", boot_args(config)}};
  if (!config.initrd.empty()) boot["initrd_path"] = config.initrd.string();
  out.push_back({"PUT", "/boot-source", std::move(boot)});
  for (std::size_t i = 0; i < config.disks.size(); ++i) {
    const auto id = disk_id(config, i);
    // Without an initrd the kernel mounts the first disk itself (Firecracker adds root=/dev/vda);
    // with one, the initrd finds its disks from the command line.
    const bool root = i == 0 && config.initrd.empty();
    out.push_back({"PUT", "/drives/" + id,
                   json{{"drive_id", id},
                        {"path_on_host", microvm_disk_image(config, paths, i).string()},
                        {"is_root_device", root},
                        {"is_read_only", config.disks[i].read_only}}});
  }
  for (const auto& link : network.links) {
    const auto id = link.iface.ifname();
    out.push_back(
        {"PUT", "/network-interfaces/" + id,
         json{{"iface_id", id}, {"host_dev_name", link.tap}, {"guest_mac", link.iface.mac}}});
  }
  out.push_back({"PUT", "/vsock", json{{"guest_cid", guest_cid}, {"uds_path", files.vsock}}});
  out.push_back({"PUT", "/entropy", json::object()});
  return out;
}

ApiRequest firecracker_snapshot_load(const fs::path& dir, const net::Attachment& network,
                                     const MicroVmFiles& files) {
  json body{
      {"snapshot_path", (dir / "vmstate").string()},
      {"mem_backend", {{"backend_type", "File"}, {"backend_path", (dir / "memory").string()}}},
      {"resume_vm", true},
      {"vsock_override", {{"uds_path", files.vsock}}}};
  if (!network.links.empty()) {
    json overrides = json::array();
    for (const auto& link : network.links)
      overrides.push_back({{"iface_id", link.iface.ifname()}, {"host_dev_name", link.tap}});
    body["network_overrides"] = std::move(overrides);
  }
  return {"PUT", "/snapshot/load", std::move(body)};
}

json cloud_hypervisor_vm_config(const MachineConfig& config, const MachinePaths& paths,
                                const net::Attachment& network, const MicroVmFiles& files) {
  json payload{{"kernel", config.kernel.string()}, {"cmdline", boot_args(config)}};
  if (!config.initrd.empty()) payload["initramfs"] = config.initrd.string();
  json disks = json::array();
  for (std::size_t i = 0; i < config.disks.size(); ++i)
    disks.push_back({{"path", microvm_disk_image(config, paths, i).string()},
                     {"readonly", config.disks[i].read_only},
                     {"id", disk_id(config, i)}});
  json nets = json::array();
  for (const auto& link : network.links)
    nets.push_back({{"tap", link.tap}, {"mac", link.iface.mac}, {"id", link.iface.ifname()}});
  json vm{{"payload", std::move(payload)},
          {"cpus", {{"boot_vcpus", config.vcpus}, {"max_vcpus", config.vcpus}}},
          {"memory", {{"size", static_cast<std::uint64_t>(config.memory_mib) * 1024 * 1024}}},
          {"serial", {{"mode", "Tty"}}},  // the guest's ttyS0 on the VMM's stdout
          {"console", {{"mode", "Off"}}},
          {"rng", {{"src", "/dev/urandom"}}},
          {"vsock", {{"cid", guest_cid}, {"socket", files.vsock}}}};
  if (!disks.empty()) vm["disks"] = std::move(disks);
  if (!nets.empty()) vm["net"] = std::move(nets);
  return vm;
}

// ---------------------------------------------------------------------------------------------

/// Firecracker's log FIFO: read as lines into the machine's log and a tail for error messages.
struct MicroVmBackend::LogReader : std::enable_shared_from_this<LogReader> {
  LogReader(const asio::any_io_executor& ex, int fd, std::function<void(std::string_view)> line)
      : stream(ex, fd), on_line(std::move(line)) {}

  void start() { read(); }

  void read() {
    stream.async_read_some(asio::buffer(chunk),
                           [self = shared_from_this()](const error_code& ec, std::size_t n) {
                             if (ec) return;
                             self->feed(std::string_view(self->chunk.data(), n));
                             self->read();
                           });
  }

  /// Takes what is in the FIFO now (the last lines of a VMM that just exited).
  void drain() {
    char buf[4096];
    for (;;) {
      const auto n = ::read(stream.native_handle(), buf, sizeof buf);
      if (n <= 0) break;
      feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  void feed(std::string_view bytes) {
    partial.append(bytes);
    std::size_t start = 0;
    for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
      std::string line = partial.substr(start, nl - start);
      start = nl + 1;
      if (on_line) on_line(line);
      lines.push_back(std::move(line));
      if (lines.size() > 200) lines.pop_front();
    }
    partial.erase(0, start);
  }

  void close() {
    error_code ec;
    stream.close(ec);
  }

  asio::posix::stream_descriptor stream;
  std::function<void(std::string_view)> on_line;
  std::array<char, 4096> chunk{};
  std::string partial;
  std::deque<std::string> lines;
};

MicroVmBackend::MicroVmBackend(const asio::any_io_executor& ex, MachineConfig config,
                               MachinePaths paths)
    : ex_(ex), config_(std::move(config)), paths_(std::move(paths)) {
  files_ = microvm_files(paths_, config_.backend);
}

MicroVmBackend::~MicroVmBackend() {
  kill();
  if (log_) log_->close();
}

bool MicroVmBackend::has(Capability c) const noexcept {
  return c == Capability::snapshot || Backend::has(c);
}

shell::Transport& MicroVmBackend::transport() { return *transport_; }

bool MicroVmBackend::running() const noexcept { return process_ && process_->running(); }

std::optional<process::ExitStatus> MicroVmBackend::exit_status() const {
  return process_ ? process_->exit_status() : std::nullopt;
}

awaitable<void> MicroVmBackend::wait_exited() {
  if (process_) co_await process_->wait_exited();
}

void MicroVmBackend::kill() noexcept {
  if (process_) process_->signal_group(SIGKILL);
  if (client_) client_->close();
}

std::string MicroVmBackend::stderr_tail(std::size_t lines) const {
  std::string out = process_ ? process_->stderr_tail(lines) : std::string{};
  if (log_ && !log_->lines.empty()) {
    const auto& all = log_->lines;
    const std::size_t from = all.size() > lines ? all.size() - lines : 0;
    for (std::size_t i = from; i < all.size(); ++i) {
      if (!out.empty() && out.back() != '\n') out += '\n';
      out += "[log] " + all[i];
    }
  }
  return out;
}

void MicroVmBackend::fail(std::string_view operation, std::string_view why) const {
  throw BackendError(fmt::format("machine '{}': {}: {}", config_.name, operation, why),
                     config_.name, std::string(operation));
}

void MicroVmBackend::fail(std::string_view operation, std::string_view why,
                          BackendError::Request request, std::exception_ptr cause) const {
  BackendError error(fmt::format("machine '{}': {}: {}", config_.name, operation, why),
                     config_.name, std::string(operation), std::move(request));
  error.set_cause(std::move(cause));
  throw error;
}

void MicroVmBackend::on_exit(const process::ExitStatus& status) {
  if (log_) log_->drain();
  if (client_) client_->close();
  if (exited_) exited_->set();
  if (events_.exited) events_.exited(status);
}

void MicroVmBackend::spawn(Events events) {
  const std::string vmm{vmm_name()};
  // Firecracker binds the vsock socket and connects guest-initiated streams to "<path>_<port>".
  const std::string longest = files_.vsock + "_" + std::to_string(backdoor_vsock_port);
  for (const auto& path : {files_.api_socket, longest})
    if (path.size() >= 108)
      throw StartFailure(
          fmt::format("the socket path {} is longer than the 107 bytes unix sockets allow; {}",
                      path, detail::socket_path_hint));
  // Firecracker refuses to start on an existing API socket and fails PUT /vsock on an existing
  // vsock socket; a killed VMM leaves both behind.
  std::error_code ec;
  fs::remove(files_.api_socket, ec);
  fs::remove(files_.vsock, ec);
  prepare_microvm_disks(config_, paths_);

  events_ = std::move(events);
  if (log_) log_->close();
  log_.reset();
  if (!files_.log.empty()) {
    fs::remove(files_.log, ec);
    if (::mkfifo(files_.log.c_str(), 0600) != 0)
      throw StartFailure(
          fmt::format("cannot create the log FIFO {}: {}", files_.log, std::strerror(errno)));
    // Read-write: the open does not wait for a writer, and no EOF when the VMM closes it.
    const int fd = ::open(files_.log.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      throw StartFailure(
          fmt::format("cannot open the log FIFO {}: {}", files_.log, std::strerror(errno)));
    auto on_line = events_.vmm_stderr;
    log_ = std::make_shared<LogReader>(ex_, fd, [on_line](std::string_view line) {
      if (on_line) on_line(line);
    });
    log_->start();
  }

  process::SpawnSpec spec{program(), arguments(), {}, paths_.state_dir.string()};
  // On the TAP path the VMM runs inside the test's namespace, where its TAPs are.
  spec.join_user_ns = network_.user_ns_fd;
  spec.join_net_ns = network_.net_ns_fd;
  command_line_ = spec.program;
  for (const auto& arg : spec.args) command_line_ += " " + arg;
  exited_ = std::make_unique<detail::Event>(ex_);
  process::Hooks hooks{events_.console, events_.vmm_stderr,
                       [this](const process::ExitStatus& status) { on_exit(status); }};
  try {
    process_ = std::make_unique<process::VmmProcess>(ex_, spec, std::move(hooks));
  } catch (const process::SpawnError& e) {
    throw StartFailure(fmt::format(
        "cannot start {} ({}): {}; install it or set \"{}\" in the machine's configuration to its "
        "path",
        vmm, spec.program, e.what(),
        config_.backend == "firecracker" ? "firecracker_binary" : "cloud_hypervisor_binary"));
  }
  client_ = std::make_unique<http::Client>(ex_, files_.api_socket, vmm);
  transport_ =
      std::make_unique<shell::HybridVsockTransport>(ex_, files_.vsock, backdoor_vsock_port);
}

awaitable<void> MicroVmBackend::bring_up(awaitable<void> op, std::string what) {
  std::optional<std::string> failure;
  try {
    auto r = co_await detail::race(std::move(op), Deadline::max(), *exited_);
    if (r.end != detail::RaceEnd::done) failure = "";
  } catch (const Error& e) {
    failure = e.what();
  }
  if (!failure) co_return;
  if (!process_->running() || failure->empty()) {
    // Let the exit be reaped and the last log lines arrive, then say how it ended.
    (void)co_await detail::race(process_->wait_exited(), deadline_after(std::chrono::seconds(1)));
    if (auto status = process_->exit_status())
      throw StartFailure(fmt::format("{} exited with {} while {}{}", vmm_name(),
                                     status->to_string(), what,
                                     failure->empty() ? "" : " (" + *failure + ")"));
  }
  throw StartFailure(fmt::format("{} failed while {}: {}", vmm_name(), what, *failure));
}

awaitable<void> MicroVmBackend::start(Events events, net::Attachment network) {
  network_ = std::move(network);
  for (const auto& link : network_.links)
    if (link.tap.empty())
      throw StartFailure(
          fmt::format("{} attaches vlans through TAP devices only; the test's "
                      "network is \"{}\" (use \"tap\" or \"auto\")",
                      vmm_name(), to_string(network_.mode)));
  spawn(std::move(events));
  co_await bring_up(configure_and_boot(), "being configured and booted");
}

awaitable<json> MicroVmBackend::api(std::string method, std::string target, json body,
                                    milliseconds timeout) {
  const std::string what = fmt::format("{} {}", method, target);
  if (!client_) fail(what, fmt::format("{} has not been started", vmm_name()));
  const std::string text = body.is_null() ? std::string() : body.dump();
  std::optional<http::Error> error;
  std::exception_ptr cause;
  http::Response response;
  bool exited = false;
  try {
    auto op = client_->request(method, target, text, deadline_after(timeout));
    auto r = co_await detail::race(std::move(op), Deadline::max(), *exited_);
    if (r.end == detail::RaceEnd::done)
      response = std::move(*r.value);
    else
      exited = true;
  } catch (const http::Error& e) {
    error = e;
    cause = std::current_exception();
  }
  if (error && error->status() == 0 && process_) {
    // No answer: if the VMM is on its way out, that is the story.
    auto settle = co_await detail::race(process_->wait_exited(), deadline_after(milliseconds(500)));
    exited = settle.end == detail::RaceEnd::done;
  }
  if (exited) {
    const auto status = process_->exit_status();
    fail(what, fmt::format("{} exited ({}) before answering", vmm_name(),
                           status ? status->to_string() : std::string("killed")));
  }
  if (error) fail(what, error->what(), {what, "", error->status()}, cause);
  if (response.body.empty()) co_return json();
  co_return json::parse(response.body, nullptr, false);
}

awaitable<void> MicroVmBackend::quit() {
  if (!running()) co_return;
  process_->signal_group(SIGKILL);
  co_await process_->wait_exited();
}

awaitable<void> MicroVmBackend::snapshot_create(fs::path dir) {
  const std::string operation = "snapshot_create";
  if (!running()) fail(operation, fmt::format("{} is not running", vmm_name()));
  co_await pause();
  std::optional<std::string> failure;
  try {
    co_await save(dir);
    // The VMMs leave disks to the caller: keep the writable ones with the snapshot.
    for (std::size_t i = 0; i < config_.disks.size(); ++i)
      if (writable(config_.disks[i]))
        copy_sparse(microvm_disk_image(config_, paths_, i), snapshot_disk(dir, config_, i));
  } catch (const Error& e) {
    failure = e.what();
  } catch (const std::system_error& e) {
    failure = fmt::format("machine '{}': {}: saving the disks failed: {}", config_.name, operation,
                          e.what());
  }
  co_await resume();
  if (failure) throw BackendError(*failure, config_.name, operation);
}

awaitable<void> MicroVmBackend::snapshot_restore(fs::path dir, Events events,
                                                 net::Attachment network) {
  // The old VMM must be gone: its disks are locked (cloud-hypervisor) and its sockets bound.
  if (process_ && process_->running()) {
    process_->signal_group(SIGKILL);
    co_await process_->wait_exited();
  }
  network_ = std::move(network);
  for (std::size_t i = 0; i < config_.disks.size(); ++i) {
    if (!writable(config_.disks[i])) continue;
    const auto saved = snapshot_disk(dir, config_, i);
    std::error_code ec;
    if (!fs::exists(saved, ec))
      throw StartFailure(fmt::format("the snapshot in {} has no copy of disks[{}] ({})",
                                     dir.string(), i, saved.string()));
    try {
      copy_sparse(saved, microvm_disk_image(config_, paths_, i));
    } catch (const std::system_error& e) {
      throw StartFailure(
          fmt::format("restoring disks[{}] from {}: {}", i, saved.string(), e.what()));
    }
  }
  spawn(std::move(events));
  co_await bring_up(load(dir), "restoring the snapshot " + dir.string());
}

}  // namespace attest::backend
