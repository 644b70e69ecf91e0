// The builder's plan of an image spec (lib/image/plan.hpp): what lib/image/builder/build reads.
#include "image/plan.hpp"

#include <gmock/gmock.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "image_fixture.hpp"

namespace attest::image {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class image_plan : public testing_support::ImageSpecDir {};

TEST_F(image_plan, writes_every_list_and_copies_every_file_readable_by_all) {
  write("conf/app.conf", "x=1\n");
  write("site/index.html", "<p>hi</p>\n");
  write("site/css/a.css", "p{}\n");
  write("units/app.service", "[Unit]\nDescription=app\n[Service]\nExecStart=/bin/true\n");
  write_deb("debs/app_1.0_amd64.deb");
  const auto spec = load_spec(this->spec(R"({
    "release": "trixie",
    "packages": ["postgresql", "curl=7.88.1-10"],
    "debs": ["debs/app_1.0_amd64.deb"],
    "files": [{"source": "conf/app.conf", "target": "/etc/app.conf", "mode": "0640",
               "owner": "app", "group": "app"},
              {"source": "site", "target": "/srv/site"}],
    "units": [{"source": "units/app.service"}, {"source": "units/app.service",
               "name": "app2.service", "enable": false}],
    "groups": [{"name": "app", "gid": 1001}, {"name": "ops"}],
    "users": [{"name": "app", "uid": 1001, "groups": ["app", "ops"]}],
    "cmdline": ["quiet", "systemd.log_level=info"],
    "root": {"kind": "ext4", "size_mib": 1024}
  })"));
  umask(077);  // the user's umask must not make the plan unreadable to the builder's root
  const auto plan = dir_ / "plan";
  write_plan(spec, "db-server", plan);
  umask(022);
  EXPECT_EQ(slurp(plan / "plan.env"),
            "image_name='db-server'\ndistribution=debian\nrelease='trixie'\nroot_kind=ext4\n"
            "root_size_mib=1024\ncmdline='quiet systemd.log_level=info'\n");
  EXPECT_EQ(slurp(plan / "packages"), "postgresql\ncurl=7.88.1-10\n");
  EXPECT_EQ(slurp(plan / "groups.tsv"), "app\t1001\nops\t-\n");
  EXPECT_EQ(slurp(plan / "users.tsv"), "app\t1001\tapp,ops\t/bin/bash\t/home/app\n");
  EXPECT_EQ(slurp(plan / "files.tsv"),
            "0\t/etc/app.conf\t0640\tapp\tapp\n1\t/srv/site\t-\troot\troot\n");
  EXPECT_EQ(slurp(plan / "units.tsv"), "app.service\t1\napp2.service\t0\n");
  EXPECT_EQ(slurp(plan / "files" / "0"), "x=1\n");
  EXPECT_EQ(slurp(plan / "files" / "1" / "css" / "a.css"), "p{}\n");
  EXPECT_THAT(slurp(plan / "units" / "app2.service"), HasSubstr("ExecStart=/bin/true"));
  EXPECT_TRUE(fs::exists(plan / "debs" / "app_1.0_amd64.deb"));
  for (const auto& e : fs::recursive_directory_iterator(plan)) {
    struct stat st {};
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    EXPECT_TRUE(st.st_mode & S_IROTH) << e.path();
    if (S_ISDIR(st.st_mode)) {
      EXPECT_TRUE(st.st_mode & S_IXOTH) << e.path();
    }
  }
}

TEST_F(image_plan, an_empty_spec_gives_empty_lists) {
  const auto spec = load_spec(this->spec("{}"));
  write_plan(spec, "plain", dir_ / "plan");
  EXPECT_EQ(slurp(dir_ / "plan" / "plan.env"),
            "image_name='plain'\ndistribution=debian\nrelease='bookworm'\nroot_kind=erofs-overlay\n"
            "root_size_mib=2048\ncmdline=''\n");
  for (const char* list : {"packages", "groups.tsv", "users.tsv", "files.tsv", "units.tsv"})
    EXPECT_EQ(slurp(dir_ / "plan" / list), "") << list;
}

}  // namespace
}  // namespace attest::image
