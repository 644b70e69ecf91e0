// Internal: the test's vlans at run time. On the VDE path one `vde_switch` hub per vlan (QEMU
// connects to its socket, no privileges needed); on the TAP path a user+net namespace holding a
// bridge per vlan and a TAP per machine and vlan, in which the VMMs run. Owned by the Driver,
// brought up by the first machine start, torn down after the machines.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/async.hpp"
#include "net/plan.hpp"

namespace attest::process {
class VmmProcess;
}

namespace attest::net {

class Namespace;

/// One vlan interface of a machine, as its VMM attaches it.
struct Link {
  Interface iface;
  std::string vde_socket;  ///< VDE path: the switch's socket directory
  std::string tap;         ///< TAP path: the TAP device in the namespace
};

/// What a machine's backend needs to attach the machine to its vlans.
struct Attachment {
  NetworkMode mode = NetworkMode::vde;
  std::vector<Link> links;
  int user_ns_fd = -1;  ///< TAP path: the VMM joins these namespaces
  int net_ns_fd = -1;
  /// For NixOS start scripts: QEMU_VDE_SOCKET_<vlan> of every vlan.
  std::vector<std::pair<std::string, std::string>> env;
};

class Network {
 public:
  Network(const asio::any_io_executor& ex, Plan plan, std::filesystem::path dir);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const Plan& plan() const noexcept { return plan_; }
  /// Brings every vlan up; later calls wait for the first and share its outcome.
  /// Throws: BackendError saying what the host lacks.
  awaitable<void> start();
  /// The machine's links; valid after start().
  Attachment attachment(std::string_view machine) const;
  /// Whether the VMMs run inside the namespace (the TAP path is up).
  bool has_namespace() const noexcept { return namespace_ != nullptr; }
  /// Whether the network itself can unplug a machine's cables: on the TAP path its TAPs are the
  /// network's; on VDE hubs only the VMM can (backend::LinkControl).
  bool controls_links() const noexcept { return plan_.mode == NetworkMode::tap; }
  /// TAP path: takes the machine's TAPs down or up.
  awaitable<void> set_links(std::string_view machine, bool up);
  /// TAP path: a TCP connection to 127.0.0.1:`port` inside the namespace (a fd the caller owns).
  awaitable<int> connect_tcp(std::uint16_t port);
  /// Stops the switches and the namespace, and waits (up to 5 s) until they are gone.
  awaitable<void> shutdown();
  /// Stops the switches and the namespace now, without waiting.
  void stop() noexcept;

  /// The TAP device of node `number` on `vlan`.
  static std::string tap_name(unsigned number, unsigned vlan);
  /// The bridge of `vlan`.
  static std::string bridge_name(unsigned vlan);

 private:
  awaitable<void> start_vde();
  awaitable<void> start_tap();

  asio::any_io_executor ex_;
  Plan plan_;
  std::filesystem::path dir_;
  std::vector<std::pair<unsigned, std::unique_ptr<process::VmmProcess>>> switches_;
  std::unique_ptr<Namespace> namespace_;
  bool starting_ = false;
  detail::Event started_;
  std::exception_ptr error_;
};

}  // namespace attest::net
