// Internal: the test's network as NixOS lays it out (nixos/lib/testing/network.nix): node numbers
// by alphabetical order of names, per-vlan addresses and MACs, /etc/hosts, and the guest-side
// step that gives a direct-boot guest its addresses. Pure functions: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attest/config.hpp"

namespace attest::net {

/// QEMU's user-mode network card: the guest's eth0 (NixOS's SLiRP NIC).
inline constexpr std::string_view user_net_mac = "52:54:00:12:34:56";
inline constexpr std::string_view user_net_address = "10.0.2.15/24";

/// One vlan interface of a machine.
struct Interface {
  unsigned vlan = 0;
  unsigned index = 0;  ///< k: the guest's eth<k> and the QEMU netdev vlan<k> (from 1)
  std::string mac;     ///< lower case
  std::string ipv4;    ///< 192.168.v.n
  std::string ipv6;    ///< 2001:db8:v::n
  std::string netdev_id() const { return "vlan" + std::to_string(index); }
  std::string ifname() const { return "eth" + std::to_string(index); }
};

/// One machine's place in the network.
struct Node {
  std::string name;
  unsigned number = 0;  ///< 1..254
  std::vector<Interface> interfaces;
};

/// The whole test's network.
struct Plan {
  NetworkMode mode = NetworkMode::vde;  ///< resolved: never automatic
  std::vector<unsigned> vlans;          ///< sorted, unique: the vlans some machine is on
  std::vector<Node> nodes;              ///< in the configuration's (alphabetical) order
  std::string hosts;                    ///< /etc/hosts for every guest

  bool empty() const noexcept { return vlans.empty(); }
  /// Whether a node is named `name` (machines added by create_machine are not).
  bool contains(std::string_view name) const noexcept;
  /// The node named `name`. Throws: std::out_of_range.
  const Node& node(std::string_view name) const;
};

/// NixOS's MAC for node `node` on vlan `vlan`: 52:54:00:12:vv:nn in hex.
std::string mac_for(unsigned vlan, unsigned node);
/// Whether `mac` is six colon-separated pairs of hex digits.
bool valid_mac(std::string_view mac);

/// Lays out the network of a configuration whose machines are valid each. Throws: ConfigError
/// (more than 254 machines, a vlan out of range or not in the configuration's vlans, duplicate
/// node numbers or MAC addresses, a network mode the machines cannot use).
Plan plan_network(const Config& config);

/// The bash command that, run once in a fresh direct-boot guest, names its network cards by MAC
/// (eth0 user-mode when `user_net`, eth<k> the vlans), gives them their addresses, and writes
/// /etc/hosts and the hostname. Needs `ip` (iproute2 or busybox) in the guest.
std::string guest_setup_script(const Plan& plan, const Node& node, bool user_net = true);
/// Only the eth0 part (for forward_port on a machine without vlans).
std::string guest_user_net_script();

}  // namespace attest::net
