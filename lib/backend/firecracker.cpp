// The Firecracker backend: `firecracker --api-sock`, configured over its REST API (vmm-api.md
// §2.1), the serial console on its stdout, the log through a FIFO, the shell over hybrid vsock.
#include <fmt/format.h>

#include "backend/microvm.hpp"

namespace attest::backend {

namespace {

class FirecrackerBackend final : public MicroVmBackend {
 public:
  FirecrackerBackend(const asio::any_io_executor& ex, MachineConfig config, MachinePaths paths)
      : MicroVmBackend(ex, std::move(config), std::move(paths)) {}

  std::string_view name() const noexcept override { return "firecracker"; }
  std::string_view vmm_name() const noexcept override { return "Firecracker"; }
  std::string lacking(Capability c) const override {
    return c == Capability::reboot ? "Firecracker exits when its guest reboots" : "";
  }

  awaitable<void> request_guest_shutdown() override {
    // The guest's i8042 sees Ctrl-Alt-Del and reboots, which ends Firecracker.
    const ApiRequest request{"PUT", "/actions", json{{"action_type", "SendCtrlAltDel"}}};
    co_await api(request);
  }

 protected:
  std::string program() const override { return config().firecracker_binary; }

  std::vector<std::string> arguments() const override {
    return {"--api-sock", files().api_socket, "--log-path", files().log, "--level",
            "Info",       "--show-level"};
  }

  awaitable<void> configure_and_boot() override {
    for (const auto& request : firecracker_configuration(config(), paths(), network(), files()))
      co_await api(request);
    const ApiRequest request{"PUT", "/actions", json{{"action_type", "InstanceStart"}}};
    co_await api(request);
  }

  awaitable<void> pause() override {
    const ApiRequest request{"PATCH", "/vm", json{{"state", "Paused"}}};
    co_await api(request);
  }

  awaitable<void> resume() override {
    const ApiRequest request{"PATCH", "/vm", json{{"state", "Resumed"}}};
    co_await api(request);
  }

  awaitable<void> save(const std::filesystem::path& dir) override {
    json body{{"snapshot_type", "Full"},
              {"snapshot_path", (dir / "vmstate").string()},
              {"mem_file_path", (dir / "memory").string()}};
    const ApiRequest request{"PUT", "/snapshot/create", std::move(body)};
    const auto timeout = std::chrono::minutes(2);
    co_await api(request, timeout);
  }

  awaitable<void> load(const std::filesystem::path& dir) override {
    const auto request = firecracker_snapshot_load(dir, network(), files());
    const auto timeout = std::chrono::minutes(2);
    co_await api(request, timeout);
  }
};

}  // namespace

std::unique_ptr<Backend> make_firecracker_backend(const asio::any_io_executor& ex,
                                                  const MachineConfig& config,
                                                  const MachinePaths& paths) {
  return std::make_unique<FirecrackerBackend>(ex, config, paths);
}

}  // namespace attest::backend
