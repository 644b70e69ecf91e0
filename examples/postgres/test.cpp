// A database on one machine, read from another over a vlan: both machines boot the image that
// machines.json names (postgres.json, built on first use: README.md).
#include <gmock/gmock.h>

#include "attest/test.hpp"

ATTEST_TEST(postgres_over_the_vlan) {
  start_all();
  auto& db = machine("db");
  auto& client = machine("client");

  db.wait_for_unit("postgresql.service");
  db.wait_for_open_port(5432);
  db.succeed(R"(psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE fruit (name text);
INSERT INTO fruit VALUES ('apple'), ('pear');
SQL)");

  const auto rows =
      client.succeed("psql -h db -U postgres -tA -c 'SELECT name FROM fruit ORDER BY name'");
  EXPECT_EQ(rows, "apple\npear\n");
  EXPECT_THAT(client.fail("psql -h db -U postgres -tA -c 'SELECT * FROM no_such_table' 2>&1"),
              ::testing::HasSubstr("does not exist"));
}
