// The seed's quick start as an attest test: a server runs nginx; wait for the unit and the
// port, fetch the page, print what came back. Run it with `scripts/demo`, or:
//   attest-example-nginx --config build/guests/systemd/systemd.json
#include <gmock/gmock.h>

#include <iostream>

#include "attest/test.hpp"

ATTEST_TEST(nginx) {
  start_all();
  auto& server = machine("server");

  server.wait_for_unit("nginx.service");
  server.wait_for_open_port(80);
  const auto page = server.succeed("curl -s http://localhost");
  std::cout << "server answered:\n" << page;
  EXPECT_THAT(page, ::testing::HasSubstr("Welcome to nginx!"));
}
