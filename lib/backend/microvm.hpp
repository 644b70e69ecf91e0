// Internal: what the Firecracker and cloud-hypervisor backends share. Both start their VMM with
// only an API socket, configure and boot it over HTTP (protocol/http.hpp), read the guest's serial
// console from the VMM's stdout and reach the backdoor shell over the hybrid vsock
// (shell/vsock.hpp). The request bodies are pure functions of the configuration, unit-tested
// against the VMMs' API specs (shared/reference/vmm-api.md §2).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "net/network.hpp"
#include "protocol/http.hpp"
#include "shell/vsock.hpp"

namespace attest::backend {

using json = nlohmann::json;

/// The guest vsock port of the backdoor shell (one shell per connection).
inline constexpr std::uint32_t backdoor_vsock_port = 1234;
/// The guest's vsock context id (both VMMs: ≥ 3; each VMM has one guest, so all use 3).
inline constexpr std::uint32_t guest_cid = 3;

/// The files a microVM keeps in its state directory.
struct MicroVmFiles {
  std::string api_socket;  ///< the VMM's REST API
  std::string vsock;       ///< the hybrid vsock socket (the VMM binds it)
  std::string log;         ///< Firecracker: the log FIFO the backend reads
};
MicroVmFiles microvm_files(const MachinePaths& paths, std::string_view backend);

/// One API request: `body` null means no body at all.
struct ApiRequest {
  std::string method;
  std::string target;
  json body;
};

/// The image disk `index` uses: the fresh disk or the private copy of a writable image in the
/// state directory, or a read-only image in place (shared by every machine).
std::filesystem::path microvm_disk_image(const MachineConfig& config, const MachinePaths& paths,
                                         std::size_t index);
/// Creates the fresh disks and the private copies of writable images that do not exist yet: the
/// microVMs have no copy-on-write overlay, and two machines must never write one image.
/// Throws: StartFailure.
void prepare_microvm_disks(const MachineConfig& config, const MachinePaths& paths);
/// Copies `from` to `to` (replacing it), keeping holes, cloning the extents where the file system
/// can. Throws: std::system_error.
void copy_sparse(const std::filesystem::path& from, const std::filesystem::path& to);

/// Firecracker: the requests that configure a fresh process, in order, up to (not including)
/// InstanceStart: machine-config, boot-source, drives (disk 0 is the root device only without an
/// initrd), network-interfaces (one per vlan link, by TAP), vsock, entropy.
std::vector<ApiRequest> firecracker_configuration(const MachineConfig& config,
                                                  const MachinePaths& paths,
                                                  const net::Attachment& network,
                                                  const MicroVmFiles& files);
/// Firecracker: the snapshot/load request for a fresh process, resuming the VM, with the vsock
/// socket and the TAPs of this start.
ApiRequest firecracker_snapshot_load(const std::filesystem::path& dir,
                                     const net::Attachment& network, const MicroVmFiles& files);

/// cloud-hypervisor: the VmConfig of vm.create (memory in bytes, serial on the VMM's stdout,
/// disks in order, one net per vlan link, the vsock).
json cloud_hypervisor_vm_config(const MachineConfig& config, const MachinePaths& paths,
                                const net::Attachment& network, const MicroVmFiles& files);

/// The common half of both microVM backends: the process, its API client, the log, the vsock
/// transport, start / restore with the VMM's exit watched throughout, private disks and their
/// copies in snapshots. The VMM-specific requests are the subclass's.
class MicroVmBackend : public Backend {
 public:
  ~MicroVmBackend() override;
  bool has(Capability c) const noexcept override;
  awaitable<void> start(Events events, net::Attachment network) override;
  shell::Transport& transport() override;
  bool running() const noexcept override;
  std::optional<process::ExitStatus> exit_status() const override;
  awaitable<void> wait_exited() override;
  /// A power loss: SIGKILL (neither VMM has a kill request).
  awaitable<void> quit() override;
  awaitable<void> snapshot_create(std::filesystem::path dir) override;
  awaitable<void> snapshot_restore(std::filesystem::path dir, Events events,
                                   net::Attachment network) override;
  void kill() noexcept override;
  std::string stderr_tail(std::size_t lines) const override;
  std::string command_line() const override { return command_line_; }

 protected:
  MicroVmBackend(const asio::any_io_executor& ex, MachineConfig config, MachinePaths paths);

  /// The VMM binary and its arguments for a fresh process with only an API socket.
  virtual std::string program() const = 0;
  virtual std::vector<std::string> arguments() const = 0;
  /// Configures the fresh process and boots the guest.
  virtual awaitable<void> configure_and_boot() = 0;
  virtual awaitable<void> pause() = 0;
  virtual awaitable<void> resume() = 0;
  /// Writes the paused VM's state into `dir`.
  virtual awaitable<void> save(const std::filesystem::path& dir) = 0;
  /// Restores a fresh process from `dir`, running.
  virtual awaitable<void> load(const std::filesystem::path& dir) = 0;

  /// Sends one request, bounded by `timeout` and cut short by the VMM's exit.
  /// Throws: BackendError with the VMM's own message.
  awaitable<json> api(std::string method, std::string target, json body,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  awaitable<json> api(const ApiRequest& request,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return api(request.method, request.target, request.body, timeout);
  }

  const MachineConfig& config() const noexcept { return config_; }
  const MachinePaths& paths() const noexcept { return paths_; }
  const MicroVmFiles& files() const noexcept { return files_; }
  const net::Attachment& network() const noexcept { return network_; }

 private:
  struct LogReader;
  /// Removes stale sockets, opens the log and spawns the VMM. Throws: StartFailure.
  void spawn(Events events);
  /// Runs `op` (configuration, or a snapshot load) on the fresh process; failures and an exit
  /// on the way become StartFailure with what the VMM said.
  awaitable<void> bring_up(awaitable<void> op, std::string what);
  void on_exit(const process::ExitStatus& status);
  [[noreturn]] void fail(std::string_view operation, std::string_view why) const;
  /// Throws the BackendError of an API request the VMM refused or did not answer, keeping the
  /// request, its HTTP status and the exception it came from.
  [[noreturn]] void fail(std::string_view operation, std::string_view why,
                         BackendError::Request request, std::exception_ptr cause) const;

  asio::any_io_executor ex_;
  MachineConfig config_;
  MachinePaths paths_;
  MicroVmFiles files_;
  net::Attachment network_;
  Events events_;
  std::unique_ptr<process::VmmProcess> process_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<shell::HybridVsockTransport> transport_;
  std::shared_ptr<LogReader> log_;
  std::string command_line_;
  std::unique_ptr<detail::Event> exited_;
};

std::unique_ptr<Backend> make_firecracker_backend(const asio::any_io_executor& ex,
                                                  const MachineConfig& config,
                                                  const MachinePaths& paths);
std::unique_ptr<Backend> make_cloud_hypervisor_backend(const asio::any_io_executor& ex,
                                                       const MachineConfig& config,
                                                       const MachinePaths& paths);

}  // namespace attest::backend
