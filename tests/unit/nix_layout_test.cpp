// One network layout, two implementations: the driver's plan (lib/net/plan.cpp) must give the
// values that tests/nix/expected.json holds for the Nix side (nix/lib/network.nix, checked by
// tests/nix/default.nix), so that a Nix-built guest and the driver agree on every address.
#include <gmock/gmock.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "net/plan.hpp"

#ifndef ATTEST_NIX_EXPECTED
#error "ATTEST_NIX_EXPECTED must name tests/nix/expected.json"
#endif

namespace attest::net {
namespace {

using json = nlohmann::json;

json expected() {
  std::ifstream in(ATTEST_NIX_EXPECTED);
  if (!in) throw std::runtime_error("cannot read " ATTEST_NIX_EXPECTED);
  return json::parse(in);
}

class nix_layout : public ::testing::TestWithParam<std::string> {};

TEST_P(nix_layout, the_driver_plans_what_nix_lays_out) {
  const auto e = expected().at(GetParam());
  Config config;
  for (const auto& [name, vlans] : e.at("vlans").items()) {
    MachineConfig m;
    m.name = name;
    m.kernel = "/vmlinuz";
    m.vlans = vlans.get<std::vector<unsigned>>();
    config.machines.push_back(std::move(m));
  }
  const Plan plan = plan_network(config);

  EXPECT_EQ(plan.hosts, e.at("hosts").get<std::string>());
  EXPECT_EQ(plan.vlans, e.at("all_vlans").get<std::vector<unsigned>>());
  for (const auto& node : plan.nodes) {
    SCOPED_TRACE("node " + node.name);
    EXPECT_EQ(node.number, e.at("numbers").at(node.name).get<unsigned>());
    const auto& interfaces = e.at("interfaces").at(node.name);
    ASSERT_EQ(node.interfaces.size(), interfaces.size());
    for (std::size_t k = 0; k < interfaces.size(); ++k) {
      const auto& i = node.interfaces[k];
      const auto& x = interfaces[k];
      EXPECT_EQ(i.index, x.at("index").get<unsigned>());
      EXPECT_EQ(i.ifname(), x.at("name").get<std::string>());
      EXPECT_EQ(i.vlan, x.at("vlan").get<unsigned>());
      EXPECT_EQ(i.mac, x.at("mac").get<std::string>());
      EXPECT_EQ(i.ipv4, x.at("ipv4").get<std::string>());
      EXPECT_EQ(i.ipv6, x.at("ipv6").get<std::string>());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(expected_json, nix_layout,
                         ::testing::Values("two-nodes", "router", "numbers-as-text"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace attest::net
