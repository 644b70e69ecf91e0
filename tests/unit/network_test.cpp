// The network layout (NixOS numbering, addresses, MACs, hosts), its configuration errors, and the
// QEMU arguments of both network paths.
#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>

#include "attest/error.hpp"
#include "backend/qemu.hpp"
#include "net/network.hpp"
#include "net/plan.hpp"

namespace attest::net {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class network_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("attest-network-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "vmlinuz") << "kernel";
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A config with machines named `names` on `vlans` each.
  std::string config(const std::vector<std::pair<std::string, std::string>>& machines,
                     const std::string& extra = "") {
    std::string list;
    for (const auto& [name, fields] : machines)
      list += (list.empty() ? "" : ",") + std::string(R"({"name": ")") + name +
              R"(", "kernel": "vmlinuz")" + (fields.empty() ? "" : ", " + fields) + "}";
    return "{" + extra + R"("machines": [)" + list + "]}";
  }
  Config load(const std::string& text) {
    std::ofstream(dir_ / "net.json") << text;
    return load_config(dir_ / "net.json");
  }
  std::string error_of(const std::string& text) {
    try {
      load(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }

  fs::path dir_;
};

TEST_F(network_test, numbers_nodes_alphabetically_and_addresses_them_as_nixos) {
  const auto c = load(config({{"server", R"("vlans": [1])"},
                              {"client", R"("vlans": [1, 2])"},
                              {"router", R"("vlans": [2, 1])"}}));
  const auto plan = plan_network(c);
  EXPECT_EQ(plan.mode, NetworkMode::vde);
  EXPECT_THAT(plan.vlans, ElementsAre(1u, 2u));
  const auto& client = plan.node("client");
  EXPECT_EQ(client.number, 1u);
  ASSERT_EQ(client.interfaces.size(), 2u);
  EXPECT_EQ(client.interfaces[0].ipv4, "192.168.1.1");
  EXPECT_EQ(client.interfaces[0].ipv6, "2001:db8:1::1");
  EXPECT_EQ(client.interfaces[0].mac, "52:54:00:12:01:01");
  EXPECT_EQ(client.interfaces[0].ifname(), "eth1");
  EXPECT_EQ(client.interfaces[1].netdev_id(), "vlan2");
  EXPECT_EQ(client.interfaces[1].mac, "52:54:00:12:02:01");
  const auto& router = plan.node("router");
  EXPECT_EQ(router.number, 2u);
  EXPECT_EQ(router.interfaces[0].vlan, 2u);  // interface order follows the machine's list
  EXPECT_EQ(router.interfaces[0].ipv4, "192.168.2.2");
  EXPECT_EQ(plan.node("server").interfaces[0].ipv4, "192.168.1.3");
  EXPECT_EQ(plan.hosts,
            "127.0.0.1 localhost\n::1 localhost\n"
            "192.168.1.1 client\n2001:db8:1::1 client\n"
            "192.168.2.2 router\n2001:db8:2::2 router\n"
            "192.168.1.3 server\n2001:db8:1::3 server\n");
}

TEST_F(network_test, macs_are_hex_and_ipv6_has_the_decimal_numbers_as_nixos) {
  EXPECT_EQ(mac_for(17, 200), "52:54:00:12:11:c8");
  const auto c = load(config({{"a", R"("vlans": [17], "node_number": 200)"}}));
  const auto plan = plan_network(c);
  const auto& i = plan.node("a").interfaces.at(0);
  EXPECT_EQ(i.ipv4, "192.168.17.200");
  EXPECT_EQ(i.ipv6, "2001:db8:17::200");
}

TEST_F(network_test, machines_without_vlans_make_no_network) {
  const auto c = load(config({{"a", ""}, {"b", ""}}));
  const auto plan = plan_network(c);
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(plan.node("a").interfaces.empty());
}

TEST_F(network_test, network_mode_is_parsed_and_tap_is_kept) {
  const auto c = load(config({{"a", R"("vlans": [1])"}}, R"("network": "tap", )"));
  EXPECT_EQ(c.network, NetworkMode::tap);
  EXPECT_EQ(plan_network(c).mode, NetworkMode::tap);
  EXPECT_THAT(error_of(config({{"a", ""}}, R"("network": "bridge", )")),
              HasSubstr("field 'network': 'bridge' is not one of auto, vde, tap"));
}

TEST_F(network_test, unknown_vlan_is_a_config_error) {
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [1, 3])"}}, R"("vlans": [1, 2], )")),
              HasSubstr("machine 'a': field 'vlans[1]': unknown vlan 3: the configuration's "
                        "vlans are [1, 2]"));
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [0])"}})),
              HasSubstr("machine 'a': field 'vlans[0]': 0 is out of range (1..254)"));
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [255])"}})),
              HasSubstr("field 'vlans[0]': 255 is out of range (1..254)"));
  EXPECT_THAT(error_of(config({{"a", R"("vlans": "1")"}})),
              HasSubstr("field 'vlans': expected an array of vlan numbers, got string \"1\""));
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [1, 1])"}})),
              HasSubstr("field 'vlans[1]': vlan 1 is listed twice"));
}

TEST_F(network_test, more_than_254_machines_is_a_config_error) {
  std::vector<std::pair<std::string, std::string>> machines;
  for (int i = 0; i < 255; ++i) machines.emplace_back("m" + std::to_string(i), "");
  EXPECT_THAT(error_of(config(machines)),
              HasSubstr("field 'machines': 255 machines, but a test can have at most 254"));
}

TEST_F(network_test, duplicate_mac_is_a_config_error) {
  EXPECT_THAT(
      error_of(config({{"a", R"("vlans": [1])"},
                       {"b", R"("vlans": [1], "macs": {"1": "52:54:00:12:01:01"})"}})),
      HasSubstr("machine 'b': field 'macs.1': duplicate MAC address 52:54:00:12:01:01: machine "
                "'a' on vlan 1 has it too"));
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [1], "macs": {"1": "52:54:00:zz:01:01"})"}})),
              HasSubstr("field 'macs.1': '52:54:00:zz:01:01' is not a MAC address"));
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [1], "macs": {"2": "52:54:00:12:02:01"})"}})),
              HasSubstr("field 'macs.2': the machine is not on vlan 2 (its vlans: [1])"));
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [1], "macs": {"x": "52:54:00:12:02:01"})"}})),
              HasSubstr("field 'macs.x': expected a vlan number (1..254) as the key"));
}

TEST_F(network_test, duplicate_node_number_is_a_config_error) {
  EXPECT_THAT(error_of(config({{"a", R"("vlans": [1])"}, {"b", R"("node_number": 1)"}})),
              HasSubstr("machine 'b': field 'node_number': node number 1 is also machine 'a''s"));
}

TEST_F(network_test, guest_setup_names_cards_by_mac_and_writes_hosts) {
  const auto c = load(config({{"a", R"("vlans": [1])"}, {"b", R"("vlans": [1, 2])"}}));
  const auto plan = plan_network(c);
  const auto script = guest_setup_script(plan, plan.node("b"));
  EXPECT_THAT(script, HasSubstr("__attest_card 52:54:00:12:34:56 || exit 1"));
  EXPECT_THAT(script, HasSubstr("__attest_card 52:54:00:12:02:02 || exit 1"));
  EXPECT_THAT(script, HasSubstr("ip addr add 10.0.2.15/24 dev eth0"));
  EXPECT_THAT(script, HasSubstr("ip addr add 192.168.1.2/24 dev eth1"));
  EXPECT_THAT(script, HasSubstr("ip addr add 2001:db8:2::2/64 dev eth2"));
  EXPECT_THAT(script, HasSubstr("192.168.1.1 a\n2001:db8:1::1 a\n"));
  EXPECT_THAT(script, HasSubstr("echo 'b' > /proc/sys/kernel/hostname"));
  EXPECT_THAT(guest_user_net_script(), Not(HasSubstr("eth1")));
  // The microVMs have no user-mode card: only the vlans.
  const auto microvm = guest_setup_script(plan, plan.node("b"), false);
  EXPECT_THAT(microvm, Not(HasSubstr("52:54:00:12:34:56")));
  EXPECT_THAT(microvm, HasSubstr("ip addr add 192.168.1.2/24 dev eth1"));
}

TEST_F(network_test, tap_path_needs_direct_boot) {
  std::ofstream(dir_ / "run-a-vm") << "#!/bin/sh\n";
  fs::permissions(dir_ / "run-a-vm", fs::perms::owner_all);
  EXPECT_THAT(error_of(R"({"network": "tap", "machines": [{"name": "a", "start_command": "run-a-vm",
                   "vlans": [1]}]})"),
              HasSubstr("machine 'a': field 'start_command': network \"tap\" needs direct boot"));
}

TEST_F(network_test, qemu_gets_isolated_user_net_and_one_card_per_vlan) {
  const auto c = load(config({{"a", R"("vlans": [1, 2])"}}));
  backend::MachinePaths paths{"/s", "/x", "/o", {}};
  Attachment vde;
  Link l1{plan_network(c).node("a").interfaces[0], "/n/vde1.ctl", ""};
  Link l2{plan_network(c).node("a").interfaces[1], "", "tap1-2"};
  vde.links = {l1, l2};
  const auto l = backend::qemu_launch(c.machines[0], paths, {"/s/shell", "/s/data", "/s/qmp"},
                                      Accel::tcg, true, false, "", vde);
  std::string joined;
  for (const auto& a : l.args) joined += a + " ";
  EXPECT_THAT(joined, HasSubstr("-netdev user,id=user.0,restrict=on,ipv6=off -device "
                                "virtio-net-pci,netdev=user.0,mac=52:54:00:12:34:56,romfile= "));
  EXPECT_THAT(joined, HasSubstr("-netdev vde,id=vlan1,sock=/n/vde1.ctl -device "
                                "virtio-net-pci,netdev=vlan1,mac=52:54:00:12:01:01,romfile= "));
  EXPECT_THAT(joined, HasSubstr("-netdev tap,id=vlan2,ifname=tap1-2,script=no,downscript=no "
                                "-device virtio-net-pci,netdev=vlan2,mac=52:54:00:12:02:01"));
}

TEST_F(network_test, start_scripts_get_the_vde_sockets_in_their_environment) {
  std::ofstream(dir_ / "run-a-vm") << "#!/bin/sh\n";
  fs::permissions(dir_ / "run-a-vm", fs::perms::owner_all);
  const auto c =
      load(R"({"machines": [{"name": "a", "start_command": "run-a-vm", "vlans": [1]}]})");
  Attachment a;
  a.env = {{"QEMU_VDE_SOCKET_1", "/n/vde1.ctl"}};
  const auto l =
      backend::qemu_launch(c.machines[0], {"/s", "/x", "/o", {}}, {"/s/shell", "/s/data", "/s/qmp"},
                           Accel::tcg, false, false, "", a);
  EXPECT_THAT(l.env, ::testing::Contains(
                         std::pair<std::string, std::string>("QEMU_VDE_SOCKET_1", "/n/vde1.ctl")));
}

}  // namespace
}  // namespace attest::net
