// The NixOS network layout: node numbers, addresses, MACs, /etc/hosts, and the guest step.
#include "net/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "attest/error.hpp"
#include "attest/machine.hpp"
#include "backend/registry.hpp"

namespace attest::net {

namespace {

constexpr unsigned max_nodes = 254;
constexpr unsigned max_vlan = 254;

[[noreturn]] void fail(const Config& config, std::string_view machine, std::string_view field,
                       std::string_view why) {
  std::string msg = fmt::format(
      "config {}", config.source.empty() ? std::string("<in memory>") : config.source.string());
  if (!machine.empty()) msg += fmt::format(": machine '{}'", machine);
  if (!field.empty()) msg += fmt::format(": field '{}'", field);
  msg += fmt::format(": {}", why);
  throw ConfigError(msg, std::string(machine), "load_config");
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string join(const std::vector<unsigned>& v) {
  std::string out;
  for (unsigned x : v) out += fmt::format("{}{}", out.empty() ? "" : ", ", x);
  return out;
}

}  // namespace

bool Plan::contains(std::string_view name) const noexcept {
  return std::any_of(nodes.begin(), nodes.end(), [&](const Node& n) { return n.name == name; });
}

const Node& Plan::node(std::string_view name) const {
  for (const auto& n : nodes)
    if (n.name == name) return n;
  throw std::out_of_range(fmt::format("no node named '{}'", name));
}

std::string mac_for(unsigned vlan, unsigned node) {
  return fmt::format("52:54:00:12:{:02x}:{:02x}", vlan, node);
}

bool valid_mac(std::string_view mac) {
  if (mac.size() != 17) return false;
  for (std::size_t i = 0; i < mac.size(); ++i) {
    const char c = mac[i];
    if (i % 3 == 2) {
      if (c != ':') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

namespace {

/// Fails when there are more machines than node numbers or a configuration vlan is out of range.
void check_limits(const Config& config) {
  if (config.machines.size() > max_nodes)
    fail(config, "", "machines",
         fmt::format("{} machines, but a test can have at most {} (node numbers 1..{} are the "
                     "last byte of every address)",
                     config.machines.size(), max_nodes, max_nodes));
  for (unsigned v : config.vlans)
    if (v < 1 || v > max_vlan)
      fail(config, "", "vlans", fmt::format("vlan {} is out of range (1..{})", v, max_vlan));
}

/// Each machine's node number, in the configuration's order; fails when one is bad or shared.
std::vector<unsigned> node_numbers(const Config& config) {
  // By alphabetical order of names, as NixOS does, unless set.
  std::vector<std::string> sorted;
  for (const auto& m : config.machines) sorted.push_back(m.name);
  std::sort(sorted.begin(), sorted.end());
  std::vector<unsigned> out;
  std::map<unsigned, std::string> numbers;
  for (const auto& m : config.machines) {
    const auto rank = std::lower_bound(sorted.begin(), sorted.end(), m.name) - sorted.begin();
    const unsigned n = m.node_number.value_or(static_cast<unsigned>(rank + 1));
    if (n < 1 || n > max_nodes)
      fail(config, m.name, "node_number", fmt::format("{} is out of range (1..{})", n, max_nodes));
    if (auto [it, fresh] = numbers.emplace(n, m.name); !fresh)
      fail(config, m.name, m.node_number ? "node_number" : "name",
           fmt::format("node number {} is also machine '{}''s: both would get the addresses "
                       "192.168.<vlan>.{} (set node_number to tell them apart)",
                       n, it->second, n));
    out.push_back(n);
  }
  return out;
}

/// Fails when vlan `k` of machine `m` is out of range, unknown or in `seen`; adds it to `seen`.
void check_vlan(const Config& config, const MachineConfig& m, std::size_t k,
                const std::string& field, std::set<unsigned>& seen) {
  const unsigned v = m.vlans[k];
  if (v < 1 || v > max_vlan)
    fail(config, m.name, field, fmt::format("vlan {} is out of range (1..{})", v, max_vlan));
  if (!config.vlans.empty() &&
      std::find(config.vlans.begin(), config.vlans.end(), v) == config.vlans.end())
    fail(config, m.name, field,
         fmt::format("unknown vlan {}: the configuration's vlans are [{}]", v, join(config.vlans)));
  if (!seen.insert(v).second)
    fail(config, m.name, field, fmt::format("vlan {} is listed twice", v));
}

/// The interface of machine `m`, node number `number`, on its vlan `k` (from 0).
Interface make_interface(const MachineConfig& m, std::size_t k, unsigned number) {
  const unsigned v = m.vlans[k];
  Interface iface;
  iface.vlan = v;
  iface.index = static_cast<unsigned>(k + 1);
  iface.mac = mac_for(v, number);
  if (auto it = m.macs.find(v); it != m.macs.end()) iface.mac = lower(it->second);
  iface.ipv4 = fmt::format("192.168.{}.{}", v, number);
  // The decimal numbers as text, as NixOS writes them (`toString`): vlan 17, node 200 is
  // 2001:db8:17::200.
  iface.ipv6 = fmt::format("2001:db8:{}::{}", v, number);
  return iface;
}

/// Fails when machine `m` sets a MAC for a vlan not in `seen` (its vlans) or one that is malformed.
void check_macs(const Config& config, const MachineConfig& m, const std::set<unsigned>& seen) {
  for (const auto& [v, mac] : m.macs) {
    if (!seen.count(v))
      fail(config, m.name, fmt::format("macs.{}", v),
           fmt::format("the machine is not on vlan {} (its vlans: [{}])", v, join(m.vlans)));
    if (!valid_mac(mac))
      fail(config, m.name, fmt::format("macs.{}", v),
           fmt::format("'{}' is not a MAC address (expected six hex pairs such as "
                       "52:54:00:12:01:01)",
                       mac));
  }
}

/// Lays out machine `m` as node `number`, adding its MACs and vlans to the earlier machines'.
Node plan_node(const Config& config, const MachineConfig& m, unsigned number,
               std::map<std::string, std::string>& macs, std::set<unsigned>& vlans) {
  Node node;
  node.name = m.name;
  node.number = number;
  std::set<unsigned> seen;
  for (std::size_t k = 0; k < m.vlans.size(); ++k) {
    const unsigned v = m.vlans[k];
    const auto field = fmt::format("vlans[{}]", k);
    check_vlan(config, m, k, field, seen);
    vlans.insert(v);
    Interface iface = make_interface(m, k, node.number);
    const auto owner = fmt::format("machine '{}' on vlan {}", m.name, v);
    if (auto [it, fresh] = macs.emplace(iface.mac, owner); !fresh)
      fail(config, m.name, m.macs.count(v) ? fmt::format("macs.{}", v) : field,
           fmt::format("duplicate MAC address {}: {} has it too", iface.mac, it->second));
    node.interfaces.push_back(std::move(iface));
  }
  check_macs(config, m, seen);
  return node;
}

/// Whether the machine's VMM joins VDE hubs (QEMU's -netdev vde), which are for such backends only.
bool joins_vde(const MachineConfig& m) {
  const backend::Descriptor* d = backend::find_backend(m.backend);
  return d && d->vde;
}

/// The network mode the configuration resolves to, failing when a machine cannot use it.
NetworkMode resolve_mode(const Config& config) {
  const bool any_vlans = std::any_of(config.machines.begin(), config.machines.end(),
                                     [](const auto& m) { return !m.vlans.empty(); });
  const bool all_vde = std::all_of(config.machines.begin(), config.machines.end(), joins_vde);
  NetworkMode mode = NetworkMode::vde;
  switch (config.network) {
    case NetworkMode::automatic:
      mode = all_vde ? NetworkMode::vde : NetworkMode::tap;
      break;
    case NetworkMode::vde:
      if (!all_vde && any_vlans)
        for (const auto& m : config.machines)
          if (!joins_vde(m))
            fail(config, m.name, "backend",
                 fmt::format("network \"vde\" works with QEMU only, and this machine uses '{}' "
                             "(use network \"tap\")",
                             m.backend));
      mode = NetworkMode::vde;
      break;
    case NetworkMode::tap:
      mode = NetworkMode::tap;
      break;
  }
  if (mode == NetworkMode::tap)
    for (const auto& m : config.machines)
      if (!m.vlans.empty() && !m.start_command.empty())
        fail(config, m.name, "start_command",
             "network \"tap\" needs direct boot (kernel): a NixOS start script brings its own "
             "VDE network cards (use network \"vde\")");
  return mode;
}

/// /etc/hosts: every node by its first vlan's addresses (NixOS: primaryIPAddress).
std::string hosts_file(const std::vector<Node>& nodes) {
  std::string hosts = "127.0.0.1 localhost\n::1 localhost\n";
  for (const auto& n : nodes) {
    if (n.interfaces.empty()) continue;
    hosts += fmt::format("{} {}\n{} {}\n", n.interfaces.front().ipv4, n.name,
                         n.interfaces.front().ipv6, n.name);
  }
  return hosts;
}

}  // namespace

Plan plan_network(const Config& config) {
  Plan plan;
  check_limits(config);
  const std::vector<unsigned> numbers = node_numbers(config);
  std::map<std::string, std::string> macs;  // mac → "machine vlan v"
  std::set<unsigned> vlans;
  for (std::size_t i = 0; i < config.machines.size(); ++i)
    plan.nodes.push_back(plan_node(config, config.machines[i], numbers[i], macs, vlans));
  plan.vlans.assign(vlans.begin(), vlans.end());
  plan.mode = resolve_mode(config);
  plan.hosts = hosts_file(plan.nodes);
  return plan;
}

namespace {

/// Finds a card by MAC, reading sysfs with bash builtins (no process per card).
constexpr std::string_view find_card = R"(__attest_card() {
  local d a
  for d in /sys/class/net/*; do
    read -r a < "$d/address" 2>/dev/null || continue
    if [ "$a" = "$1" ]; then REPLY=${d##*/}; return 0; fi
  done
  echo "attest: the guest has no network card with the MAC address $1" >&2
  return 1
}
)";

struct Card {
  std::string mac;
  std::string ifname;
  std::vector<std::string> cidrs;
};

std::string setup_cards(const std::vector<Card>& cards) {
  std::string s(find_card);
  for (std::size_t i = 0; i < cards.size(); ++i) {
    const auto& c = cards[i];
    s += fmt::format(
        "__attest_card {} || exit 1\n"
        "if [ \"$REPLY\" != {} ]; then ip link set dev \"$REPLY\" down && "
        "ip link set dev \"$REPLY\" name attest-net{} || exit 1; fi\n",
        c.mac, c.ifname, i);
  }
  for (std::size_t i = 0; i < cards.size(); ++i) {
    const auto& c = cards[i];
    s += fmt::format(
        "if [ -e /sys/class/net/attest-net{0} ]; then ip link set dev attest-net{0} name {1} || "
        "exit 1; fi\n",
        i, c.ifname);
    // No duplicate address detection: the addresses are unique by construction, and DAD would
    // leave IPv6 unusable for a second or two after every start.
    s += fmt::format(
        "if [ -e /proc/sys/net/ipv6/conf/{0}/accept_dad ]; then echo 0 > "
        "/proc/sys/net/ipv6/conf/{0}/accept_dad; fi\n"
        "ip addr flush dev {0} && ip link set dev {0} up || exit 1\n",
        c.ifname);
    for (const auto& cidr : c.cidrs)
      s += fmt::format("ip addr add {} dev {} || exit 1\n", cidr, c.ifname);
  }
  return s;
}

}  // namespace

std::string guest_user_net_script() {
  return setup_cards({{std::string(user_net_mac), "eth0", {std::string(user_net_address)}}});
}

std::string guest_setup_script(const Plan& plan, const Node& node, bool user_net) {
  std::vector<Card> cards;
  if (user_net)
    cards.push_back({std::string(user_net_mac), "eth0", {std::string(user_net_address)}});
  for (const auto& i : node.interfaces)
    cards.push_back(
        {i.mac, i.ifname(), {fmt::format("{}/24", i.ipv4), fmt::format("{}/64", i.ipv6)}});
  std::string s = setup_cards(cards);
  s += fmt::format("printf %s {} > /etc/hosts || exit 1\n", shell_quote(plan.hosts));
  s += fmt::format("echo {} > /proc/sys/kernel/hostname\n", shell_quote(node.name));
  return s;
}

}  // namespace attest::net
