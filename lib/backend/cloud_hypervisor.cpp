// The cloud-hypervisor backend: `cloud-hypervisor --api-socket`, one vm.create with the whole
// VmConfig then vm.boot (vmm-api.md §2.2), the serial console on its stdout (serial mode Tty),
// its log on stderr, the shell over hybrid vsock.
#include <fmt/format.h>

#include "backend/microvm.hpp"

namespace attest::backend {

namespace {

class CloudHypervisorBackend final : public MicroVmBackend {
 public:
  CloudHypervisorBackend(const asio::any_io_executor& ex, MachineConfig config, MachinePaths paths)
      : MicroVmBackend(ex, std::move(config), std::move(paths)) {}

  std::string_view name() const noexcept override { return "cloud-hypervisor"; }
  std::string_view vmm_name() const noexcept override { return "cloud-hypervisor"; }

  awaitable<void> request_guest_shutdown() override {
    const ApiRequest request{"PUT", "/api/v1/vm.power-button", json()};
    co_await api(request);
  }

 protected:
  std::string program() const override { return config().cloud_hypervisor_binary; }

  std::vector<std::string> arguments() const override {
    return {"--api-socket", "path=" + files().api_socket, "-v"};
  }

  awaitable<void> configure_and_boot() override {
    const ApiRequest create{"PUT", "/api/v1/vm.create",
                            cloud_hypervisor_vm_config(config(), paths(), network(), files())};
    co_await api(create);
    const ApiRequest boot{"PUT", "/api/v1/vm.boot", json()};
    co_await api(boot);
  }

  awaitable<void> pause() override {
    const ApiRequest request{"PUT", "/api/v1/vm.pause", json()};
    co_await api(request);
  }

  awaitable<void> resume() override {
    const ApiRequest request{"PUT", "/api/v1/vm.resume", json()};
    co_await api(request);
  }

  awaitable<void> save(const std::filesystem::path& dir) override {
    const ApiRequest request{
        "PUT", "/api/v1/vm.snapshot",
        json{{"destination_url", "file://" + std::filesystem::absolute(dir).string()}}};
    const auto timeout = std::chrono::minutes(2);
    co_await api(request, timeout);
  }

  awaitable<void> load(const std::filesystem::path& dir) override {
    // Restored paused (older releases know no "resume" field), then resumed.
    const ApiRequest request{
        "PUT", "/api/v1/vm.restore",
        json{{"source_url", "file://" + std::filesystem::absolute(dir).string()}}};
    const auto timeout = std::chrono::minutes(2);
    co_await api(request, timeout);
    const ApiRequest resume{"PUT", "/api/v1/vm.resume", json()};
    co_await api(resume);
  }
};

}  // namespace

std::unique_ptr<Backend> make_cloud_hypervisor_backend(const asio::any_io_executor& ex,
                                                       const MachineConfig& config,
                                                       const MachinePaths& paths) {
  return std::make_unique<CloudHypervisorBackend>(ex, config, paths);
}

}  // namespace attest::backend
