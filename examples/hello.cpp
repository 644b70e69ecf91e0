// The demo: boot the test guest, run commands in it, wait for things, print what came back.
// Run it with `scripts/demo`, or: attest-example-hello --config build/guests/minimal/minimal.json
#include <gmock/gmock.h>

#include <iostream>

#include "attest/test.hpp"

using namespace std::chrono_literals;

ATTEST_TEST(hello) {
  start_all();
  auto& m = machine("machine");

  subtest("the guest answers", [&] {
    const auto kernel = m.succeed("uname -sr");
    std::cout << "guest kernel: " << kernel;
    EXPECT_THAT(kernel, ::testing::StartsWith("Linux"));
  });

  subtest("a service comes up", [&] {
    m.succeed("mkdir -p /srv/www && echo 'hello from the guest' > /srv/www/index.html");
    m.succeed("httpd -p 80 -h /srv/www");
    m.wait_for_open_port(80, "localhost", 30s);
    const auto page = m.succeed("wget -qO- http://localhost/");
    std::cout << "got: " << page;
    EXPECT_EQ(page, "hello from the guest\n");
  });

  subtest("failures name the machine and the command", [&] {
    try {
      m.succeed("ls /nonexistent");
    } catch (const attest::CommandFailed& e) {
      std::cout << "as expected: " << e.what() << "\n";
    }
  });

  m.shutdown();
}
