// The image content key (lib/image/key.*): what must change it (every field, the contents of
// every file the spec names, the resolved package versions, the builder's version) and what must
// not (the order of a JSON object's keys, defaults written out, the spec's directory).
#include "image/key.hpp"
#include "image/sha256.hpp"

#include <gmock/gmock.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "attest/error.hpp"
#include "image_fixture.hpp"

namespace attest::image {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StrEq;
using ::testing::ThrowsMessage;

constexpr const char* base_spec = R"({
  "distribution": "debian", "release": "bookworm",
  "packages": ["postgresql", "curl"],
  "debs": ["build/my-daemon_1.0_amd64.deb"],
  "files": [
    {"source": "conf/my-daemon.conf", "target": "/etc/my-daemon.conf", "mode": "0644"},
    {"source": "site/", "target": "/srv/site", "owner": "www-data"}
  ],
  "units": [{"source": "units/my-daemon.service", "enable": true}],
  "groups": [{"name": "app", "gid": 1001}],
  "users": [{"name": "app", "uid": 1001, "groups": ["app"], "shell": "/bin/bash"}],
  "cmdline": ["systemd.log_level=info"],
  "root": {"kind": "erofs-overlay", "size_mib": 2048}
})";

/// `text` with its one occurrence of `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from << " is there twice";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

class image_key_test : public testing_support::ImageSpecDir {
 protected:
  void SetUp() override {
    ImageSpecDir::SetUp();
    write_deb("build/my-daemon_1.0_amd64.deb");
    write_deb("build/other_2.0_amd64.deb", "2.0 (other)");
    write("conf/my-daemon.conf", "port = 5432\n");
    write("conf/other.conf", "port = 5433\n");
    write("site/index.html", "<p>hello</p>\n");
    write("site/css/site.css", "p { color: red }\n");
    fs::create_symlink("index.html", dir_ / "site/home.html");
    fs::create_directories(dir_ / "site/empty");
    write("units/my-daemon.service", "[Service]\nExecStart=/usr/bin/my-daemon\n");
    write("units/other.service", "[Service]\nExecStart=/usr/bin/other\n");
  }

  /// The key of `text` as the spec in `dir`.
  std::string key_of(const std::string& text, const fs::path& dir, std::string_view resolved = "",
                     std::string_view builder = "1") const {
    std::ofstream(dir / "spec.json") << text;
    return content_key(load_spec(dir / "spec.json"), resolved, builder);
  }
  std::string key_of(const std::string& text) const { return key_of(text, dir_); }
};

TEST_F(image_key_test, the_same_spec_gives_the_same_key) {
  const auto key = key_of(base_spec);
  EXPECT_THAT(key, ::testing::MatchesRegex("[0-9a-f]{64}"));
  EXPECT_EQ(key_of(base_spec), key);
  const auto spec = load_spec(dir_ / "spec.json");
  EXPECT_EQ(canonical_json(spec), canonical_json(load_spec(dir_ / "spec.json")));
}

TEST_F(image_key_test, the_canonical_form_has_every_default_and_no_path) {
  // The whole document for the empty spec: sorted keys, compact, each default written out.
  EXPECT_EQ(canonical_json(load_spec(spec("{}"))),
            R"({"cmdline":[],"debs":[],"distribution":"debian","files":[],"groups":[],)"
            R"("packages":[],"release":"bookworm","root":{"kind":"erofs-overlay","size_mib":2048},)"
            R"("units":[],"users":[]})");
  const auto canonical = canonical_json(load_spec(spec(base_spec)));
  EXPECT_THAT(canonical, Not(HasSubstr(dir_.string())));
  for (const auto* source : {"build/", "conf/", "\"site", "units/", ".deb"})
    EXPECT_THAT(canonical, Not(HasSubstr(source)));
  EXPECT_THAT(canonical, HasSubstr(R"("target":"/etc/my-daemon.conf")"));
  EXPECT_THAT(canonical, HasSubstr(R"("home":"/home/app")"));
  EXPECT_THAT(canonical, HasSubstr(R"("mode":null,"owner":"www-data")"));
  // The unit file's own SHA-256, as sha256sum prints it.
  EXPECT_THAT(canonical, HasSubstr(R"("name":"my-daemon.service","source":")" +
                                   sha256_hex("[Service]\nExecStart=/usr/bin/my-daemon\n") + "\""));
}

TEST_F(image_key_test, defaults_written_out_give_the_same_key) {
  EXPECT_EQ(key_of("{}"),
            key_of(R"({"distribution": "debian", "release": "bookworm", "packages": [],
                       "debs": [], "files": [], "units": [], "groups": [], "users": [],
                       "cmdline": [], "root": {"kind": "erofs-overlay", "size_mib": 2048}})"));
  EXPECT_EQ(key_of(R"({"files": [{"source": "conf/other.conf", "target": "/a"}],
                       "units": [{"source": "units/other.service"}],
                       "users": [{"name": "bob"}]})"),
            key_of(R"({"files": [{"source": "./conf/other.conf", "target": "/a/", "owner": "root",
                                  "group": "root"}],
                       "units": [{"source": "units/other.service", "name": "other.service",
                                  "enable": true}],
                       "users": [{"name": "bob", "shell": "/bin/bash", "home": "/home/bob",
                                  "groups": []}]})"));
}

TEST_F(image_key_test, the_order_of_object_keys_does_not_matter) {
  const auto key = key_of(base_spec);
  EXPECT_EQ(key_of(R"({
    "root": {"size_mib": 2048, "kind": "erofs-overlay"},
    "cmdline": ["systemd.log_level=info"],
    "users": [{"shell": "/bin/bash", "groups": ["app"], "uid": 1001, "name": "app"}],
    "groups": [{"gid": 1001, "name": "app"}],
    "units": [{"enable": true, "source": "units/my-daemon.service"}],
    "files": [
      {"mode": "0644", "target": "/etc/my-daemon.conf", "source": "conf/my-daemon.conf"},
      {"owner": "www-data", "target": "/srv/site", "source": "site/"}
    ],
    "debs": ["build/my-daemon_1.0_amd64.deb"],
    "packages": ["postgresql", "curl"],
    "release": "bookworm", "distribution": "debian"})"),
            key);
}

TEST_F(image_key_test, moving_the_spec_and_its_files_does_not_matter) {
  const auto key = key_of(base_spec);
  const auto moved = dir_ / "elsewhere" / "deeper";
  fs::create_directories(moved);
  for (const auto* part : {"build", "conf", "site", "units"})
    fs::copy(dir_ / part, moved / part,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  // The copy gets the umask's modes, which are part of the key: give it the originals'.
  for (const auto& entry : fs::recursive_directory_iterator(moved))
    if (!entry.is_symlink())
      fs::permissions(entry.path(),
                      fs::status(dir_ / entry.path().lexically_relative(moved)).permissions());
  EXPECT_EQ(key_of(base_spec, moved), key);
}

TEST_F(image_key_test, every_field_changes_the_key) {
  const std::string base = base_spec;
  const std::vector<std::pair<std::string, std::string>> changes = {
      {R"("release": "bookworm")", R"("release": "trixie")"},
      {R"("distribution": "debian", "release": "bookworm")",
       R"("distribution": "ubuntu", "release": "noble")"},
      {R"(["postgresql", "curl"])", R"(["curl", "postgresql"])"},
      {R"(["postgresql", "curl"])", R"(["postgresql", "curl=7.88.1-10"])"},
      {R"(["postgresql", "curl"])", R"(["postgresql"])"},
      {R"("debs": ["build/my-daemon_1.0_amd64.deb"])", R"("debs": ["build/other_2.0_amd64.deb"])"},
      {R"("debs": ["build/my-daemon_1.0_amd64.deb"])", R"("debs": [])"},
      {R"("source": "conf/my-daemon.conf")", R"("source": "conf/other.conf")"},
      {R"("target": "/etc/my-daemon.conf")", R"("target": "/etc/my-daemon.cfg")"},
      {R"("mode": "0644")", R"("mode": "0640")"},
      {R"(, "mode": "0644")", ""},
      {R"("owner": "www-data")", R"("owner": "33")"},
      {R"("owner": "www-data")", R"("owner": "www-data", "group": "www-data")"},
      {R"("enable": true)", R"("enable": false)"},
      {R"("enable": true)", R"("name": "renamed.service")"},
      {R"("source": "units/my-daemon.service")", R"("source": "units/other.service")"},
      {R"("gid": 1001)", R"("gid": 1002)"},
      {R"("name": "app", "gid": 1001)", R"("name": "apps", "gid": 1001)"},
      {R"("uid": 1001)", R"("uid": 1002)"},
      {R"("groups": ["app"])", R"("groups": [])"},
      {R"("shell": "/bin/bash")", R"("shell": "/bin/sh")"},
      {R"("shell": "/bin/bash")", R"("shell": "/bin/bash", "home": "/srv/app")"},
      {R"(["systemd.log_level=info"])", R"(["systemd.log_level=debug"])"},
      {R"(["systemd.log_level=info"])", R"(["systemd.log_level=info", "quiet"])"},
      {R"("kind": "erofs-overlay")", R"("kind": "ext4")"},
      {R"("size_mib": 2048)", R"("size_mib": 2049)"},
  };
  std::set<std::string> keys = {key_of(base)};
  for (const auto& [from, to] : changes)
    EXPECT_TRUE(keys.insert(key_of(replaced(base, from, to))).second) << from << " → " << to;
}

TEST_F(image_key_test, the_contents_of_every_named_file_change_the_key) {
  std::set<std::string> keys = {key_of(base_spec)};
  const auto changed = [&](const std::string& what) {
    EXPECT_TRUE(keys.insert(key_of(base_spec)).second) << what;
  };
  write("conf/my-daemon.conf", "port = 5433\n");
  changed("a file's content");
  write("site/css/site.css", "p { color: blue }\n");
  changed("the content of a file in a source directory");
  write("site/css/more.css", "");
  changed("a new file in a source directory");
  fs::create_directories(dir_ / "site/empty/deeper");
  changed("a new empty directory in a source directory");
  fs::rename(dir_ / "site/css/more.css", dir_ / "site/css/most.css");
  changed("a renamed file in a source directory");
  fs::permissions(dir_ / "site/index.html", fs::perms::owner_exec, fs::perm_options::add);
  changed("a file's mode in a source directory");
  fs::permissions(dir_ / "site", fs::perms::group_write, fs::perm_options::add);
  changed("the source directory's own mode");
  fs::remove(dir_ / "site/home.html");
  fs::create_symlink("css/site.css", dir_ / "site/home.html");
  changed("a symlink's target in a source directory");
  write("units/my-daemon.service", "[Service]\nExecStart=/usr/bin/my-daemon --verbose\n");
  changed("a unit file's content");
  write_deb("build/my-daemon_1.0_amd64.deb", "2.1");
  changed("a .deb's content");
  // The mode of a files[] source counts where the copy keeps it: when the spec gives no mode.
  fs::permissions(dir_ / "conf/my-daemon.conf", fs::perms::owner_exec, fs::perm_options::add);
  changed("the mode of a files[] source");
}

TEST_F(image_key_test, resolved_packages_and_builder_version_change_the_key) {
  const auto key = key_of(base_spec, dir_, "curl 7.88.1-10+deb12u5\n", "1");
  EXPECT_EQ(key_of(base_spec, dir_, "curl 7.88.1-10+deb12u5\n", "1"), key);
  EXPECT_NE(key_of(base_spec, dir_, "curl 7.88.1-10+deb12u6\n", "1"), key);
  EXPECT_NE(key_of(base_spec, dir_, "curl 7.88.1-10+deb12u5\n", "2"), key);
  // The parts cannot run into each other.
  const auto spec = load_spec(dir_ / "spec.json");
  EXPECT_NE(content_key(spec, "ab", "c"), content_key(spec, "a", "bc"));
  EXPECT_NE(content_key(spec, "", "1"), content_key(spec, "1", ""));
}

TEST_F(image_key_test, a_file_gone_after_loading_names_its_field) {
  const auto spec = load_spec(this->spec(base_spec));
  const auto prefix = "image spec " + (dir_ / "spec.json").string() + ": field '";
  fs::remove(dir_ / "site/css/site.css");
  fs::remove(dir_ / "site/css");
  ASSERT_EQ(::mkfifo((dir_ / "site/css").c_str(), 0600), 0);
  EXPECT_THAT([&] { (void)canonical_json(spec); },
              ThrowsMessage<ConfigError>(
                  StrEq(prefix + "files[1].source': " + (dir_ / "site/css").string() +
                        " is not a regular file, a directory or a symlink")));
  fs::remove(dir_ / "site/css");
  fs::remove(dir_ / "units/my-daemon.service");
  EXPECT_THAT([&] { (void)content_key(spec, "", "1"); },
              ThrowsMessage<ConfigError>(StrEq(prefix + "units[0].source': cannot read " +
                                               (dir_ / "units/my-daemon.service").string() +
                                               ": No such file or directory")));
  fs::remove(dir_ / "build/my-daemon_1.0_amd64.deb");
  EXPECT_THAT([&] { (void)canonical_json(spec); },
              ThrowsMessage<ConfigError>(StrEq(prefix + "debs[0]': cannot read " +
                                               (dir_ / "build/my-daemon_1.0_amd64.deb").string() +
                                               ": No such file or directory")));
}

}  // namespace
}  // namespace attest::image
