// The systemd commands as text and the parsing of `systemctl show`.
#include "core/systemd.hpp"

#include <gtest/gtest.h>

namespace attest::detail {
namespace {

TEST(SystemdTest, SystemctlForTheSystemManager) {
  EXPECT_EQ(systemctl_command("start nginx.service", ""), "systemctl start nginx.service");
}

TEST(SystemdTest, SystemctlForAUserGoesThroughSuAndTheUsersRuntimeDir) {
  EXPECT_EQ(systemctl_command("start 'a b.service'", "alice"),
            "su -l 'alice' --shell /bin/sh -c 'XDG_RUNTIME_DIR=/run/user/$(id -u) systemctl "
            "--user start '\\''a b.service'\\'''");
}

TEST(SystemdTest, ParseUnitInfoSplitsAtTheFirstEquals) {
  const auto info = parse_unit_info(
      "Id=env.service\nEnvironment=FOO=bar BAZ=qux\nDescription=\nnot a property\n=nokey\n");
  ASSERT_EQ(info.size(), 3u);
  EXPECT_EQ(info.at("Id"), "env.service");
  EXPECT_EQ(info.at("Environment"), "FOO=bar BAZ=qux");
  EXPECT_EQ(info.at("Description"), "");
}

TEST(SystemdTest, ParseUnitInfoOfNothingIsEmpty) {
  EXPECT_TRUE(parse_unit_info("").empty());
  EXPECT_TRUE(parse_unit_info("\n\n").empty());
  // The last line needs no newline.
  EXPECT_EQ(parse_unit_info("ActiveState=active").at("ActiveState"), "active");
}

}  // namespace
}  // namespace attest::detail
