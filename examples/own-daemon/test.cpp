// Your own daemon in a VM, reached from another VM over a vlan: both boot the image that
// machines.json names (own-daemon.json, with the daemon this example builds).
#include <gmock/gmock.h>

#include "attest/test.hpp"

ATTEST_TEST(greeter_answers_over_the_vlan) {
  start_all();
  auto& server = machine("server");
  auto& client = machine("client");

  server.wait_for_unit("greeter.service");
  server.wait_for_open_port(7000);
  EXPECT_EQ(client.succeed("nc -N server 7000"), "hello from greeter on server\n");
  // A stopped daemon is a refused connection, as it would be on a real host.
  server.succeed("systemctl stop greeter.service");
  client.fail("nc -N -w 2 server 7000");
}
