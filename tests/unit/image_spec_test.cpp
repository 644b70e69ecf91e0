// The image spec reader (lib/image/spec.*): a spec with every field, the defaults, and the exact
// message of each kind of mistake, which names the spec file and the field's path.
#include "image/spec.hpp"

#include <gmock/gmock.h>
#include <sys/stat.h>

#include <functional>
#include <string>

#include "attest/error.hpp"
#include "image_fixture.hpp"

namespace attest::image {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::StrEq;
using ::testing::ThrowsMessage;

/// A spec of one package.
std::string fmt_packages(const std::string& package) {
  return R"({"packages": [")" + package + R"("]})";
}

class image_spec_test : public testing_support::ImageSpecDir {
 protected:
  /// Loading `json` as the spec file, for EXPECT_THAT.
  std::function<void()> loading(const std::string& json) {
    const auto file = spec(json);
    return [file] { (void)load_spec(file); };
  }
  /// The whole message of a mistake in `field` (none: the spec as a whole).
  ::testing::Matcher<std::function<void()>> fails_with(const std::string& field,
                                                       const std::string& why) const {
    const auto where = field.empty() ? "" : "field '" + field + "': ";
    return ThrowsMessage<ConfigError>(StrEq(prefix() + where + why));
  }
  std::string prefix() const { return "image spec " + (dir_ / "spec.json").string() + ": "; }
  /// dir_/relative as the messages show it.
  std::string at(const std::string& relative) const { return (dir_ / relative).string(); }
};

TEST_F(image_spec_test, reads_every_field) {
  write_deb("build/my-daemon_1.0_amd64.deb");
  write("conf/my-daemon.conf", "port = 5\n");
  write("site/index.html", "<p>hi</p>\n");
  write("units/my-daemon.service", "[Unit]\nDescription=d\n[Service]\nExecStart=/bin/true\n");
  const auto s = load_spec(spec(R"({
    "distribution": "ubuntu", "release": "jammy",
    "packages": ["postgresql", "g++", "curl=7.81.0-1ubuntu1.15"],
    "debs": ["build/my-daemon_1.0_amd64.deb"],
    "files": [
      {"source": "conf/my-daemon.conf", "target": "/etc/my-daemon.conf", "mode": "0644"},
      {"source": "site/", "target": "/srv//site/", "owner": "www-data", "group": 33},
      {"source": "./conf/../conf/my-daemon.conf", "target": "/etc/x", "mode": "4755",
       "owner": "0", "group": "007"}
    ],
    "units": [{"source": "units/my-daemon.service", "enable": false},
              {"source": "units/my-daemon.service", "name": "other@.service"}],
    "groups": [{"name": "app", "gid": 1001}, {"name": "_sys"}],
    "users": [{"name": "app", "uid": 1001, "groups": ["app", "sudo"], "shell": "/bin/sh",
               "home": "/var/lib/app/"}, {"name": "bob"}],
    "cmdline": ["systemd.log_level=info", "quiet"],
    "root": {"kind": "ext4", "size_mib": 4096}})"));
  EXPECT_EQ(s.file, dir_ / "spec.json");
  EXPECT_EQ(s.distribution, Distribution::ubuntu);
  EXPECT_EQ(s.release, "jammy");
  EXPECT_THAT(s.packages, ::testing::ElementsAre("postgresql", "g++", "curl=7.81.0-1ubuntu1.15"));
  EXPECT_THAT(s.debs, ::testing::ElementsAre(dir_ / "build/my-daemon_1.0_amd64.deb"));
  ASSERT_EQ(s.files.size(), 3u);
  EXPECT_EQ(s.files[0].source, dir_ / "conf/my-daemon.conf");
  EXPECT_EQ(s.files[0].target, "/etc/my-daemon.conf");
  EXPECT_EQ(s.files[0].mode, 0644u);
  EXPECT_EQ(s.files[0].owner, "root");
  EXPECT_EQ(s.files[0].group, "root");
  EXPECT_EQ(s.files[1].source, dir_ / "site");
  EXPECT_EQ(s.files[1].target, "/srv/site");
  EXPECT_EQ(s.files[1].mode, std::nullopt);
  EXPECT_EQ(s.files[1].owner, "www-data");
  EXPECT_EQ(s.files[1].group, "33");
  EXPECT_EQ(s.files[2].source, dir_ / "conf/my-daemon.conf");
  EXPECT_EQ(s.files[2].mode, 04755u);
  EXPECT_EQ(s.files[2].owner, "0");
  EXPECT_EQ(s.files[2].group, "7");
  ASSERT_EQ(s.units.size(), 2u);
  EXPECT_EQ(s.units[0].source, dir_ / "units/my-daemon.service");
  EXPECT_EQ(s.units[0].name, "my-daemon.service");
  EXPECT_FALSE(s.units[0].enable);
  EXPECT_EQ(s.units[1].name, "other@.service");
  EXPECT_TRUE(s.units[1].enable);
  ASSERT_EQ(s.groups.size(), 2u);
  EXPECT_EQ(s.groups[0].gid, 1001u);
  EXPECT_EQ(s.groups[1].name, "_sys");
  EXPECT_EQ(s.groups[1].gid, std::nullopt);
  ASSERT_EQ(s.users.size(), 2u);
  EXPECT_EQ(s.users[0].uid, 1001u);
  EXPECT_THAT(s.users[0].groups, ::testing::ElementsAre("app", "sudo"));
  EXPECT_EQ(s.users[0].shell, "/bin/sh");
  EXPECT_EQ(s.users[0].home, "/var/lib/app");
  EXPECT_EQ(s.users[1].uid, std::nullopt);
  EXPECT_EQ(s.users[1].shell, "/bin/bash");
  EXPECT_EQ(s.users[1].home, "/home/bob");
  EXPECT_THAT(s.cmdline, ::testing::ElementsAre("systemd.log_level=info", "quiet"));
  EXPECT_EQ(s.root.kind, RootKind::ext4);
  EXPECT_EQ(s.root.size_mib, 4096u);
}

TEST_F(image_spec_test, an_empty_spec_is_a_plain_debian_root) {
  const auto s = load_spec(spec("{}"));
  EXPECT_EQ(s.distribution, Distribution::debian);
  EXPECT_EQ(s.release, "bookworm");
  EXPECT_TRUE(s.packages.empty() && s.debs.empty() && s.files.empty() && s.units.empty());
  EXPECT_TRUE(s.groups.empty() && s.users.empty() && s.cmdline.empty());
  EXPECT_EQ(s.root.kind, RootKind::erofs_overlay);
  EXPECT_EQ(s.root.size_mib, 2048u);
  // Each distribution has its own default release.
  EXPECT_EQ(load_spec(spec(R"({"distribution": "ubuntu"})")).release, "noble");
  EXPECT_EQ(load_spec(spec(R"({"root": {"kind": "ext4"}})")).root.size_mib, 2048u);
  EXPECT_EQ(load_spec(spec(R"({"root": {"size_mib": 64}})")).root.kind, RootKind::erofs_overlay);
}

TEST_F(image_spec_test, a_relative_spec_path_resolves_against_its_directory) {
  write("sub/a.conf", "a\n");
  write("sub/spec.json", R"({"files": [{"source": "a.conf", "target": "/a"}]})");
  struct InDir {  // the working directory for a scope
    explicit InDir(const fs::path& dir) : saved(fs::current_path()) { fs::current_path(dir); }
    ~InDir() { fs::current_path(saved); }
    fs::path saved;
  };
  const auto s = [this] {
    const InDir in(dir_);
    return load_spec("sub/spec.json");
  }();
  EXPECT_EQ(s.file, "sub/spec.json");
  EXPECT_EQ(s.files.at(0).source, dir_ / "sub/a.conf");
  EXPECT_TRUE(s.files.at(0).source.is_absolute());
}

TEST_F(image_spec_test, a_file_that_is_no_json_object) {
  EXPECT_THAT([this] { (void)load_spec(dir_ / "missing.json"); },
              ThrowsMessage<ConfigError>(StrEq("image spec " + at("missing.json") +
                                               ": cannot read: No such file or directory")));
  // The parser's own words, after the file and "not valid JSON".
  EXPECT_THAT(loading("{\"packages\": [}"),
              fails_with("",
                         "not valid JSON: parse error at line 1, column 15: syntax error "
                         "while parsing value - unexpected '}'; expected '[', '{', or a "
                         "literal"));
  EXPECT_THAT(loading(""), ThrowsMessage<ConfigError>(StartsWith(
                               prefix() + "not valid JSON: parse error at line 1, column 1: ")));
  EXPECT_THAT(loading("[]"), fails_with("", "expected a JSON object, got an array"));
  EXPECT_THAT(loading("\"debian\""),
              fails_with("", "expected a JSON object, got string \"debian\""));
}

TEST_F(image_spec_test, unknown_fields_anywhere) {
  write("a", "a");
  write("u.service", "[Unit]\n");
  EXPECT_THAT(loading(R"({"pakages": []})"),
              fails_with("pakages",
                         "unknown field in the image spec (known fields: distribution, release, "
                         "packages, debs, files, units, groups, users, cmdline, root)"));
  EXPECT_THAT(loading(R"({"files": [{"source": "a", "target": "/a", "perms": "0644"}]})"),
              fails_with("files[0].perms",
                         "unknown field in a file (known fields: source, target, mode, owner, "
                         "group)"));
  EXPECT_THAT(loading(R"({"units": [{"source": "u.service", "enabled": true}]})"),
              fails_with("units[0].enabled",
                         "unknown field in a unit (known fields: source, name, enable)"));
  EXPECT_THAT(loading(R"({"users": [{"name": "a"}, {"name": "b", "uid": 5, "gecos": "B"}]})"),
              fails_with("users[1].gecos",
                         "unknown field in a user (known fields: name, uid, groups, shell, home)"));
  EXPECT_THAT(loading(R"({"groups": [{"name": "a", "system": true}]})"),
              fails_with("groups[0].system", "unknown field in a group (known fields: name, gid)"));
  EXPECT_THAT(loading(R"({"root": {"kind": "ext4", "size": 100}})"),
              fails_with("root.size", "unknown field in root (known fields: kind, size_mib)"));
}

TEST_F(image_spec_test, wrong_types) {
  write("u.service", "[Unit]\n");
  EXPECT_THAT(loading(R"({"distribution": 12})"),
              fails_with("distribution", "expected a string, got number 12"));
  EXPECT_THAT(loading(R"({"release": null})"),
              fails_with("release", "expected a string, got null"));
  EXPECT_THAT(loading(R"({"packages": "curl"})"),
              fails_with("packages", "expected an array of package names, got string \"curl\""));
  EXPECT_THAT(loading(R"({"packages": ["curl", true]})"),
              fails_with("packages[1]", "expected a string, got boolean true"));
  EXPECT_THAT(loading(R"({"debs": {}})"),
              fails_with("debs", "expected an array of paths, got an object"));
  EXPECT_THAT(loading(R"({"files": [["a", "/a"]]})"),
              fails_with("files[0]", "expected an object, got an array"));
  EXPECT_THAT(loading(R"({"units": [{"source": "u.service", "enable": "yes"}]})"),
              fails_with("units[0].enable", "expected true or false, got string \"yes\""));
  EXPECT_THAT(loading(R"({"units": [{"source": 3}]})"),
              fails_with("units[0].source", "expected a string, got number 3"));
  EXPECT_THAT(loading(R"({"users": [{"name": "a", "uid": "1001"}]})"),
              fails_with("users[0].uid", "expected an integer, got string \"1001\""));
  EXPECT_THAT(
      loading(R"({"users": [{"name": "a", "groups": "app"}]})"),
      fails_with("users[0].groups", "expected an array of group names, got string \"app\""));
  EXPECT_THAT(loading(R"({"groups": {"name": "a"}})"),
              fails_with("groups", "expected an array of objects, got an object"));
  EXPECT_THAT(
      loading(R"({"cmdline": "quiet"})"),
      fails_with("cmdline", "expected an array of kernel parameters, got string \"quiet\""));
  EXPECT_THAT(loading(R"({"cmdline": [null]})"),
              fails_with("cmdline[0]", "expected a string, got null"));
  EXPECT_THAT(loading(R"({"root": "ext4"})"),
              fails_with("root", "expected an object, got string \"ext4\""));
}

TEST_F(image_spec_test, distributions_and_their_releases) {
  EXPECT_THAT(loading(R"({"distribution": "fedora"})"),
              fails_with("distribution", "'fedora' is not one of debian, ubuntu"));
  EXPECT_THAT(loading(R"({"release": "jammy"})"),
              fails_with("release",
                         "'jammy' is not a debian release attest knows (known: bookworm, trixie)"));
  EXPECT_THAT(loading(R"({"release": "bookworm", "distribution": "ubuntu"})"),
              fails_with("release",
                         "'bookworm' is not a ubuntu release attest knows (known: noble, jammy)"));
  EXPECT_EQ(load_spec(spec(R"({"release": "trixie"})")).release, "trixie");
  EXPECT_EQ(load_spec(spec(R"({"distribution": "ubuntu", "release": "noble"})")).release, "noble");
}

TEST_F(image_spec_test, package_names) {
  for (const auto* good : {"curl", "g++", "libc6", "0ad", "lib.x-y+z", "curl=7.88.1-10+deb12u5",
                           "tzdata=1:2024a-0+deb12u1", "vim=2:9.0.1378-2~bpo11+1"})
    EXPECT_NO_THROW((void)load_spec(spec(fmt_packages(good)))) << good;
  const std::string rules =
      " is not a valid package name (Debian's names have at least 2 of a-z, 0-9, '+', '-' and "
      "'.', and start with a letter or digit; a version may follow as '=VERSION')";
  for (const auto* bad : {"Curl", "c", "-curl", "+x", "curl_x", "curl:amd64", "cu rl", "=1.0"})
    EXPECT_THAT(loading(fmt_packages(bad)),
                fails_with("packages[0]", "'" + std::string(bad) + "'" + rules));
  EXPECT_THAT(loading(R"({"packages": [""]})"),
              fails_with("packages[0]", "expected a package name, got an empty string"));
  EXPECT_THAT(loading(R"({"packages": ["curl="]})"),
              fails_with("packages[0]", "'curl=' has an empty version after '='"));
  const std::string version_rules =
      " (a version starts with a digit, after an optional 'EPOCH:', and has letters, digits, '.', "
      "'+', '~', '-' or ':')";
  EXPECT_THAT(
      loading(R"({"packages": ["curl=latest"]})"),
      fails_with("packages[0]", "'curl=latest' has an invalid version 'latest'" + version_rules));
  EXPECT_THAT(
      loading(R"({"packages": ["curl=x:1.0"]})"),
      fails_with("packages[0]", "'curl=x:1.0' has an invalid version 'x:1.0'" + version_rules));
  EXPECT_THAT(loading(R"({"packages": ["curl=1.0 beta"]})"),
              fails_with("packages[0]",
                         "'curl=1.0 beta' has an invalid version '1.0 beta'" + version_rules));
  EXPECT_THAT(loading(R"({"packages": ["curl", "vim", "curl=7.88"]})"),
              fails_with("packages[2]", "'curl' is listed twice (also packages[0])"));
}

TEST_F(image_spec_test, debs) {
  write_deb("ok.deb");
  write("plain.tar", "x");
  write("fake.deb", "PK\x03\x04 a zip file");
  write_deb("sub/named.deb.txt");
  fs::create_directories(dir_ / "dir.deb");
  EXPECT_THAT(load_spec(spec(R"({"debs": ["ok.deb", "./ok.deb"]})")).debs,
              ::testing::ElementsAre(dir_ / "ok.deb", dir_ / "ok.deb"));
  EXPECT_THAT(loading(R"({"debs": ["ok.deb", "gone.deb"]})"),
              fails_with("debs[1]", "file " + at("gone.deb") + " does not exist"));
  EXPECT_THAT(
      loading(R"({"debs": ["plain.tar"]})"),
      fails_with("debs[0]", at("plain.tar") + " is not a .deb file (its name must end in .deb)"));
  EXPECT_THAT(loading(R"({"debs": ["sub/named.deb.txt"]})"),
              fails_with("debs[0]", at("sub/named.deb.txt") +
                                        " is not a .deb file (its name must end in .deb)"));
  EXPECT_THAT(
      loading(R"({"debs": ["fake.deb"]})"),
      fails_with("debs[0]", at("fake.deb") + " is not a Debian package (it does not start as an ar "
                                             "archive holding debian-binary)"));
  EXPECT_THAT(loading(R"({"debs": ["dir.deb"]})"),
              fails_with("debs[0]", at("dir.deb") + " is not a regular file"));
  EXPECT_THAT(loading(R"({"debs": [""]})"),
              fails_with("debs[0]", "expected a path, got an empty string"));
}

TEST_F(image_spec_test, file_sources_and_targets) {
  write("a.conf", "a");
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf", "target": "/a"}, {"target": "/b"}]})"),
              fails_with("files[1].source", "missing (the file or directory to copy)"));
  EXPECT_THAT(loading(R"({"files": [{"source": "gone", "target": "/a"}]})"),
              fails_with("files[0].source", at("gone") + " does not exist"));
  EXPECT_THAT(loading(R"({"files": [{"source": "fifo", "target": "/a"}]})"),
              fails_with("files[0].source", at("fifo") + " is not a regular file or a directory"));
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf"}]})"),
              fails_with("files[0].target", "missing (where the copy goes in the guest)"));
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf", "target": "etc/a"}]})"),
              fails_with("files[0].target", "'etc/a' is not an absolute path"));
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf", "target": ""}]})"),
              fails_with("files[0].target", "'' is not an absolute path"));
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf", "target": "/etc/../root/a"}]})"),
              fails_with("files[0].target", "'/etc/../root/a' has a '..' component"));
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf", "target": "/etc/a/.."}]})"),
              fails_with("files[0].target", "'/etc/a/..' has a '..' component"));
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf", "target": "/a\u0000b"}]})"),
              fails_with("files[0].target", "the path contains a NUL character"));
  // Targets are compared normalized.
  EXPECT_THAT(loading(R"({"files": [{"source": "a.conf", "target": "/etc/a"},
                                    {"source": "a.conf", "target": "/etc//./a/"}]})"),
              fails_with("files[1].target", "'/etc/a' is also the target of files[0]"));
  EXPECT_EQ(load_spec(spec(R"({"files": [{"source": "a.conf", "target": "/"}]})")).files[0].target,
            "/");
}

TEST_F(image_spec_test, file_modes) {
  write("a", "a");
  const auto with_mode = [](const std::string& mode) {
    return R"({"files": [{"source": "a", "target": "/a", "mode": )" + mode + "}]}";
  };
  EXPECT_EQ(load_spec(spec(with_mode("\"755\""))).files[0].mode, 0755u);
  EXPECT_EQ(load_spec(spec(with_mode("\"7777\""))).files[0].mode, 07777u);
  EXPECT_EQ(load_spec(spec(with_mode("\"0\""))).files[0].mode, 0u);
  EXPECT_THAT(loading(with_mode("\"755x\"")),
              fails_with("files[0].mode", "string \"755x\" is not an octal mode (e.g. \"0644\")"));
  EXPECT_THAT(loading(with_mode("\"0o644\"")),
              fails_with("files[0].mode", "string \"0o644\" is not an octal mode (e.g. \"0644\")"));
  EXPECT_THAT(loading(with_mode("\"0648\"")),
              fails_with("files[0].mode", "string \"0648\" is not an octal mode (e.g. \"0644\")"));
  EXPECT_THAT(loading(with_mode("\"\"")),
              fails_with("files[0].mode", "string \"\" is not an octal mode (e.g. \"0644\")"));
  EXPECT_THAT(loading(with_mode("\"10000\"")),
              fails_with("files[0].mode", "string \"10000\" is out of range (at most \"07777\")"));
  EXPECT_THAT(
      loading(with_mode("\"777777777777\"")),
      fails_with("files[0].mode", "string \"777777777777\" is out of range (at most \"07777\")"));
  EXPECT_EQ(load_spec(spec(with_mode("\"000000000644\""))).files[0].mode, 0644u);
  EXPECT_THAT(loading(with_mode("644")),
              fails_with("files[0].mode",
                         "expected an octal mode as a string (e.g. \"0644\"), got number 644"));
}

TEST_F(image_spec_test, file_owners_and_groups) {
  write("a", "a");
  const auto owned = [](const std::string& owner, const std::string& group) {
    return R"({"files": [{"source": "a", "target": "/a", "owner": )" + owner + R"(, "group": )" +
           group + "}]}";
  };
  const auto s = load_spec(spec(owned("\"_apt\"", "65534")));
  EXPECT_EQ(s.files[0].owner, "_apt");
  EXPECT_EQ(s.files[0].group, "65534");
  const std::string name_rules =
      " (a name is a lowercase letter or '_', then lowercase letters, digits, '_' or '-'; 32 "
      "characters at most)";
  EXPECT_THAT(
      loading(owned("\"Www-Data\"", "0")),
      fails_with("files[0].owner", "'Www-Data' is not a valid user name or uid" + name_rules));
  EXPECT_THAT(loading(owned("\"\"", "0")),
              fails_with("files[0].owner", "'' is not a valid user name or uid" + name_rules));
  EXPECT_THAT(loading(owned("\"-1\"", "0")),
              fails_with("files[0].owner", "'-1' is not a valid user name or uid" + name_rules));
  EXPECT_THAT(
      loading(owned("\"root\"", "\"www data\"")),
      fails_with("files[0].group", "'www data' is not a valid group name or gid" + name_rules));
  EXPECT_THAT(loading(owned("\"root\"", "\"" + std::string(33, 'g') + "\"")),
              fails_with("files[0].group", "'" + std::string(33, 'g') +
                                               "' is not a valid group name or gid" + name_rules));
  EXPECT_THAT(loading(owned("70000", "0")),
              fails_with("files[0].owner", "70000 is out of range (0..65534)"));
  EXPECT_THAT(loading(owned("\"70000\"", "0")),
              fails_with("files[0].owner", "70000 is out of range (0..65534)"));
  EXPECT_THAT(loading(owned("\"99999999999999999999\"", "0")),
              fails_with("files[0].owner", "99999999999999999999 is out of range (0..65534)"));
  EXPECT_EQ(load_spec(spec(owned("\"00000000000000000001\"", "\"0\""))).files[0].owner, "1");
  EXPECT_THAT(loading(owned("-1", "0")),
              fails_with("files[0].owner", "-1 is out of range (0..65534)"));
  EXPECT_THAT(loading(owned("0", "1.5")),
              fails_with("files[0].group", "expected an integer, got number 1.5"));
}

TEST_F(image_spec_test, unit_files_and_names) {
  write("units/ok.service",
        "# comment\n; comment\n\n[Unit]\r\nDescription = a \\\n  b\n"
        "[Service]\nExecStart=/bin/sh -c \\\n   'echo [x]'\nEnvironment=\n");
  write("units/my.conf", "[Unit]\n");
  write("units/bad name.service", "[Unit]\n");
  EXPECT_EQ(load_spec(spec(R"({"units": [{"source": "units/ok.service"}]})")).units[0].name,
            "ok.service");
  EXPECT_THAT(loading(R"({"units": [{"enable": true}]})"),
              fails_with("units[0].source", "missing (the unit file)"));
  EXPECT_THAT(
      loading(R"({"units": [{"source": "units/gone.service"}]})"),
      fails_with("units[0].source", "file " + at("units/gone.service") + " does not exist"));
  EXPECT_THAT(loading(R"({"units": [{"source": "units"}]})"),
              fails_with("units[0].source", at("units") + " is not a regular file"));
  const std::string suffixes =
      "(.service .socket .timer .target .path .mount .automount .slice .scope)";
  EXPECT_THAT(loading(R"({"units": [{"source": "units/my.conf"}]})"),
              fails_with("units[0].source",
                         "the unit's name is its file's name, and 'my.conf' does not end in a unit "
                         "type " +
                             suffixes + " (give \"name\" to choose another)"));
  EXPECT_EQ(load_spec(spec(R"({"units": [{"source": "units/my.conf", "name": "my.socket"}]})"))
                .units[0]
                .name,
            "my.socket");
  EXPECT_THAT(loading(R"({"units": [{"source": "units/ok.service", "name": "ok.services"}]})"),
              fails_with("units[0].name", "'ok.services' does not end in a unit type " + suffixes));
  EXPECT_THAT(loading(R"({"units": [{"source": "units/ok.service", "name": ".service"}]})"),
              fails_with("units[0].name", "'.service' does not end in a unit type " + suffixes));
  const std::string name_rules =
      " is not a valid unit name (letters, digits, ':', '-', '_', '.', '\\' and '@'; 255 "
      "characters at most)";
  EXPECT_THAT(loading(R"({"units": [{"source": "units/ok.service", "name": "a/b.service"}]})"),
              fails_with("units[0].name", "'a/b.service'" + name_rules));
  EXPECT_THAT(loading(R"({"units": [{"source": "units/bad name.service"}]})"),
              fails_with("units[0].source",
                         "the unit's name is its file's name, and 'bad "
                         "name.service'" +
                             name_rules + " (give \"name\" to choose another)"));
  EXPECT_THAT(loading(R"({"units": [{"source": "units/ok.service"},
                                    {"source": "units/my.conf", "name": "ok.service"}]})"),
              fails_with("units[1]", "the unit name 'ok.service' is also units[0]'s"));
}

TEST_F(image_spec_test, unit_file_syntax) {
  const auto error_in = [this](const std::string& content) {
    write("u.service", content);
    return loading(R"({"units": [{"source": "u.service"}]})");
  };
  const auto where = [this](int line) {
    return at("u.service") + ":" + std::to_string(line) + ": ";
  };
  EXPECT_THAT(error_in("# a unit\n\nDescription=x\n[Unit]\n"),
              fails_with("units[0].source",
                         where(3) + "\"Description=x\" comes before any [Section] header"));
  EXPECT_THAT(error_in("[Unit]\nDescription=x\n[Service\n"),
              fails_with("units[0].source", where(3) + "\"[Service\" is not a [Section] header"));
  EXPECT_THAT(error_in("[]\n"),
              fails_with("units[0].source", where(1) + "\"[]\" is not a [Section] header"));
  EXPECT_THAT(error_in("[Unit]]\n"),
              fails_with("units[0].source", where(1) + "\"[Unit]]\" is not a [Section] header"));
  EXPECT_THAT(error_in("[Service]\nExecStart=/bin/a \\\n  --flag\nExecStop\n"),
              fails_with("units[0].source",
                         where(4) + "expected a [Section] header, Key=Value or a comment, got "
                                    "\"ExecStop\""));
  EXPECT_THAT(
      error_in("[Service]\nExec Start=/bin/a\n"),
      fails_with("units[0].source",
                 where(2) + "'Exec Start' is not a key (letters, digits, '-', '_' or '.')"));
  EXPECT_THAT(error_in("[Service]\n=/bin/a\n"),
              fails_with("units[0].source",
                         where(2) + "'' is not a key (letters, digits, '-', '_' or '.')"));
  EXPECT_THAT(error_in("[Service]\n" + std::string(70, 'x') + "\n"),
              fails_with("units[0].source",
                         where(2) + "expected a [Section] header, Key=Value or a comment, got \"" +
                             std::string(60, 'x') + "...\""));
}

TEST_F(image_spec_test, users_and_groups) {
  const std::string name_rules =
      " (a name is a lowercase letter or '_', then lowercase letters, digits, '_' or '-'; 32 "
      "characters at most)";
  EXPECT_THAT(loading(R"({"groups": [{"gid": 5}]})"),
              fails_with("groups[0].name", "missing (the group's name)"));
  EXPECT_THAT(loading(R"({"users": [{"uid": 5}]})"),
              fails_with("users[0].name", "missing (the user's name)"));
  EXPECT_THAT(loading(R"({"users": [{"name": "App"}]})"),
              fails_with("users[0].name", "'App' is not a valid user name" + name_rules));
  EXPECT_THAT(loading(R"({"groups": [{"name": "1001"}]})"),
              fails_with("groups[0].name", "'1001' is not a valid group name" + name_rules));
  EXPECT_THAT(loading(R"({"users": [{"name": "a", "groups": ["app", "Wheel"]}]})"),
              fails_with("users[0].groups[1]", "'Wheel' is not a valid group name" + name_rules));
  EXPECT_THAT(loading(R"({"users": [{"name": "app"}, {"name": "bob"}, {"name": "app"}]})"),
              fails_with("users[2].name", "duplicate user name 'app' (users[0] has it too)"));
  EXPECT_THAT(loading(R"({"groups": [{"name": "app"}, {"name": "app", "gid": 7}]})"),
              fails_with("groups[1].name", "duplicate group name 'app' (groups[0] has it too)"));
  EXPECT_THAT(loading(R"({"users": [{"name": "a", "uid": 1001}, {"name": "b", "uid": 1001}]})"),
              fails_with("users[1].uid", "uid 1001 is also users[0]'s"));
  EXPECT_THAT(loading(R"({"groups": [{"name": "a", "gid": 0}, {"name": "b", "gid": 0}]})"),
              fails_with("groups[1].gid", "gid 0 is also groups[0]'s"));
  EXPECT_THAT(loading(R"({"users": [{"name": "a", "uid": 65534}]})"),
              fails_with("users[0].uid", "65534 is out of range (0..65533)"));
  EXPECT_THAT(loading(R"({"users": [{"name": "a", "uid": 18446744073709551615}]})"),
              fails_with("users[0].uid", "18446744073709551615 is out of range (0..65533)"));
  EXPECT_THAT(loading(R"({"groups": [{"name": "a", "gid": -1}]})"),
              fails_with("groups[0].gid", "-1 is out of range (0..65533)"));
  EXPECT_THAT(loading(R"({"users": [{"name": "a", "shell": "bash"}]})"),
              fails_with("users[0].shell", "'bash' is not an absolute path"));
  EXPECT_THAT(loading(R"({"users": [{"name": "a", "home": "/home/../etc"}]})"),
              fails_with("users[0].home", "'/home/../etc' has a '..' component"));
  // A user and a group may share a name: useradd's group of the user.
  EXPECT_NO_THROW((void)load_spec(spec(R"({"groups": [{"name": "app"}], "users": [{"name": "app",
      "uid": 0, "groups": ["app"]}]})")));
}

TEST_F(image_spec_test, kernel_parameters) {
  EXPECT_THAT(loading(R"({"cmdline": ["quiet", ""]})"),
              fails_with("cmdline[1]", "expected a kernel parameter, got an empty string"));
  EXPECT_THAT(loading(R"({"cmdline": ["quiet splash"]})"),
              fails_with("cmdline[0]",
                         "'quiet splash' contains whitespace (give each kernel "
                         "parameter as an item of its own)"));
  EXPECT_THAT(loading(R"({"cmdline": ["a=\tb"]})"),
              fails_with("cmdline[0]",
                         "'a=\tb' contains whitespace (give each kernel parameter "
                         "as an item of its own)"));
}

TEST_F(image_spec_test, root) {
  EXPECT_THAT(loading(R"({"root": {"kind": "squashfs"}})"),
              fails_with("root.kind", "'squashfs' is not one of erofs-overlay, ext4"));
  EXPECT_THAT(loading(R"({"root": {"kind": 4}})"),
              fails_with("root.kind", "expected a string, got number 4"));
  for (const std::string size : {"63", "0", "-5", "16777217", "18446744073709551615"})
    EXPECT_THAT(loading(R"({"root": {"size_mib": )" + size + "}}"),
                fails_with("root.size_mib", size + " is out of range (64..16777216)"))
        << size;
  EXPECT_THAT(loading(R"({"root": {"size_mib": 1e30}})"),
              fails_with("root.size_mib", "expected an integer, got number 1e+30"));
  EXPECT_THAT(loading(R"({"root": {"size_mib": 1.5}})"),
              fails_with("root.size_mib", "expected an integer, got number 1.5"));
  EXPECT_THAT(loading(R"({"root": {"size_mib": "2048"}})"),
              fails_with("root.size_mib", "expected an integer, got string \"2048\""));
  EXPECT_EQ(load_spec(spec(R"({"root": {"size_mib": 16777216}})")).root.size_mib, 16777216u);
}

}  // namespace
}  // namespace attest::image
