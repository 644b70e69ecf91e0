// The image spec (docs/images.md) → a validated ImageSpec. Strict in the way of the test
// configuration (lib/core/config.cpp), with its words: an unknown field is an error, so that a
// typo never falls back to a default, and every message names the file and the field's path.
#include "image/spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attest/error.hpp"
#include "core/json_read.hpp"
#include "image/spec_check.hpp"

namespace attest::image {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

using detail::json_type_name;

constexpr std::array<std::string_view, 2> debian_releases = {"bookworm", "trixie"};
constexpr std::array<std::string_view, 2> ubuntu_releases = {"noble", "jammy"};
/// A file's owner may also be nobody/nogroup, which no spec user or group may be (max_spec_id).
constexpr unsigned max_owner_id = 65534;

/// The value of `digits` (known to be digits of `base`), or nullopt when it has more than 6
/// significant digits: more than any id or mode, and far from overflowing.
std::optional<unsigned> small_number(const std::string& digits, int base) {
  const auto first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;
  if (digits.size() - first > 6) return std::nullopt;
  return static_cast<unsigned>(std::stoul(digits.substr(first), nullptr, base));
}

/// Reads the spec's values, each error naming the spec file and the field.
class Reader {
 public:
  Reader(fs::path file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

  [[noreturn]] void fail(std::string_view field, std::string_view why) const {
    spec_error(file_, field, why);
  }

  /// Fails unless `v` is an object whose keys are all in `known`; `what` names it in the message
  /// ("a file") and `field` is its path ("files[0]"), empty for the spec itself.
  void object(const json& v, std::string_view field, std::initializer_list<std::string_view> known,
              std::string_view what) const {
    if (!v.is_object())
      fail(field, fmt::format("expected {}, got {}", field.empty() ? "a JSON object" : "an object",
                              json_type_name(v)));
    for (const auto& [key, value] : v.items())
      if (std::find(known.begin(), known.end(), key) == known.end())
        fail(field.empty() ? key : fmt::format("{}.{}", field, key),
             fmt::format("unknown field in {} (known fields: {})", what, fmt::join(known, ", ")));
  }

  const json& array(const json& v, std::string_view field, std::string_view of) const {
    if (!v.is_array())
      fail(field, fmt::format("expected an array of {}, got {}", of, json_type_name(v)));
    return v;
  }

  std::string string(const json& v, std::string_view field) const {
    if (!v.is_string()) fail(field, fmt::format("expected a string, got {}", json_type_name(v)));
    return v.get<std::string>();
  }

  bool boolean(const json& v, std::string_view field) const {
    if (!v.is_boolean())
      fail(field, fmt::format("expected true or false, got {}", json_type_name(v)));
    return v.get<bool>();
  }

  unsigned integer(const json& v, std::string_view field, unsigned min, unsigned max) const {
    if (!v.is_number_integer())
      fail(field, fmt::format("expected an integer, got {}", json_type_name(v)));
    // Compared as the type the number came in, so that neither a huge unsigned number nor a
    // negative one wraps into the range.
    const bool in_range = v.is_number_unsigned()
                              ? v.get<std::uint64_t>() >= min && v.get<std::uint64_t>() <= max
                              : v.get<std::int64_t>() >= min && v.get<std::int64_t>() <= max;
    if (!in_range) fail(field, fmt::format("{} is out of range ({}..{})", v.dump(), min, max));
    return v.get<unsigned>();
  }

  /// A path of the host, relative to the spec's directory unless absolute.
  fs::path host_path(const json& v, std::string_view field) const {
    const auto s = string(v, field);
    if (s.empty()) fail(field, "expected a path, got an empty string");
    fs::path p = (base_ / s).lexically_normal();
    if (p.filename().empty() && p.has_relative_path()) p = p.parent_path();  // "dir/" → "dir"
    return p;
  }

  /// A path in the guest: absolute, without "..", normalized ("/srv//site/" → "/srv/site").
  std::string guest_path(const json& v, std::string_view field) const {
    const auto s = string(v, field);
    if (s.empty() || s.front() != '/') fail(field, fmt::format("'{}' is not an absolute path", s));
    if (s.find('\0') != std::string::npos) fail(field, "the path contains a NUL character");
    std::string out;
    for (const auto& part : fs::path(s)) {
      if (part == "..") fail(field, fmt::format("'{}' has a '..' component", s));
      if (part.empty() || part == "." || part == "/") continue;
      out += '/' + part.string();
    }
    return out.empty() ? "/" : out;
  }

  /// A user or group name; `what` names the kind in messages ("group name").
  std::string account_name(const json& v, std::string_view field, std::string_view what) const {
    auto name = string(v, field);
    if (const auto problem = account_name_problem(name, what)) fail(field, *problem);
    return name;
  }

  /// A file's owner or group: a name, or a number (given as a JSON number or as a string).
  /// `what` names it in messages ("user name or uid").
  std::string owner(const json& v, std::string_view field, std::string_view what) const {
    if (v.is_number()) return std::to_string(integer(v, field, 0, max_owner_id));
    const auto s = string(v, field);
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
      return account_name(v, field, what);
    const auto n = small_number(s, 10);
    if (!n || *n > max_owner_id)
      fail(field, fmt::format("{} is out of range (0..{})", s, max_owner_id));
    return std::to_string(*n);
  }

  /// A path that must name an existing regular file.
  fs::path existing_file(const json& v, std::string_view field) const {
    auto p = host_path(v, field);
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) fail(field, fmt::format("file {} does not exist", p.string()));
    if (!fs::is_regular_file(st)) fail(field, fmt::format("{} is not a regular file", p.string()));
    return p;
  }

 private:
  fs::path file_;
  fs::path base_;
};

std::string at(std::string_view list, std::size_t i) { return fmt::format("{}[{}]", list, i); }

/// The octal permission bits of a files[] entry, which is a string: JSON has no octal numbers,
/// and 644 taken as a decimal number would be the mode 01204.
unsigned mode(const json& v, const std::string& field, const Reader& r) {
  if (!v.is_string())
    r.fail(field, fmt::format("expected an octal mode as a string (e.g. \"0644\"), got {}",
                              json_type_name(v)));
  const auto s = v.get<std::string>();
  if (s.empty() || s.find_first_not_of("01234567") != std::string::npos)
    r.fail(field, fmt::format("{} is not an octal mode (e.g. \"0644\")", json_type_name(v)));
  const auto n = small_number(s, 8);
  if (!n || *n > 07777)
    r.fail(field, fmt::format("{} is out of range (at most \"07777\")", json_type_name(v)));
  return *n;
}

void read_release(const json& doc, const Reader& r, ImageSpec& spec) {
  if (doc.contains("distribution")) {
    const auto d = r.string(doc["distribution"], "distribution");
    if (d == "debian")
      spec.distribution = Distribution::debian;
    else if (d == "ubuntu")
      spec.distribution = Distribution::ubuntu;
    else
      r.fail("distribution", fmt::format("'{}' is not one of debian, ubuntu", d));
  }
  const auto known = known_releases(spec.distribution);
  spec.release = std::string(known.front());
  if (!doc.contains("release")) return;
  spec.release = r.string(doc["release"], "release");
  if (std::find(known.begin(), known.end(), spec.release) == known.end())
    r.fail("release", fmt::format("'{}' is not a {} release attest knows (known: {})", spec.release,
                                  to_string(spec.distribution), fmt::join(known, ", ")));
}

void read_packages(const json& v, const Reader& r, ImageSpec& spec) {
  std::map<std::string, std::size_t, std::less<>> seen;
  for (std::size_t i = 0; i < r.array(v, "packages", "package names").size(); ++i) {
    auto package = r.string(v[i], at("packages", i));
    if (const auto problem = package_problem(package)) r.fail(at("packages", i), *problem);
    const auto name = package.substr(0, package.find('='));
    if (const auto [it, fresh] = seen.emplace(name, i); !fresh)
      r.fail(at("packages", i),
             fmt::format("'{}' is listed twice (also packages[{}])", name, it->second));
    spec.packages.push_back(std::move(package));
  }
}

void read_debs(const json& v, const Reader& r, ImageSpec& spec) {
  for (std::size_t i = 0; i < r.array(v, "debs", "paths").size(); ++i) {
    auto deb = r.existing_file(v[i], at("debs", i));
    if (const auto problem = deb_problem(deb)) r.fail(at("debs", i), *problem);
    spec.debs.push_back(std::move(deb));
  }
}

FileEntry read_file_entry(const json& v, const std::string& field, const Reader& r) {
  r.object(v, field, {"source", "target", "mode", "owner", "group"}, "a file");
  FileEntry f;
  if (!v.contains("source")) r.fail(field + ".source", "missing (the file or directory to copy)");
  f.source = r.host_path(v["source"], field + ".source");
  std::error_code ec;
  const auto st = fs::status(f.source, ec);
  if (ec || !fs::exists(st))
    r.fail(field + ".source", fmt::format("{} does not exist", f.source.string()));
  if (!fs::is_regular_file(st) && !fs::is_directory(st))
    r.fail(field + ".source",
           fmt::format("{} is not a regular file or a directory", f.source.string()));
  if (!v.contains("target"))
    r.fail(field + ".target", "missing (where the copy goes in the guest)");
  f.target = r.guest_path(v["target"], field + ".target");
  if (v.contains("mode")) f.mode = mode(v["mode"], field + ".mode", r);
  if (v.contains("owner")) f.owner = r.owner(v["owner"], field + ".owner", "user name or uid");
  if (v.contains("group")) f.group = r.owner(v["group"], field + ".group", "group name or gid");
  return f;
}

void read_files(const json& v, const Reader& r, ImageSpec& spec) {
  std::map<std::string, std::size_t, std::less<>> targets;
  for (std::size_t i = 0; i < r.array(v, "files", "objects").size(); ++i) {
    auto f = read_file_entry(v[i], at("files", i), r);
    if (const auto [it, fresh] = targets.emplace(f.target, i); !fresh)
      r.fail(at("files", i) + ".target",
             fmt::format("'{}' is also the target of files[{}]", f.target, it->second));
    spec.files.push_back(std::move(f));
  }
}

UnitEntry read_unit(const json& v, const std::string& field, const Reader& r) {
  r.object(v, field, {"source", "name", "enable"}, "a unit");
  UnitEntry u;
  if (!v.contains("source")) r.fail(field + ".source", "missing (the unit file)");
  u.source = r.existing_file(v["source"], field + ".source");
  if (v.contains("name")) {
    u.name = r.string(v["name"], field + ".name");
    if (const auto problem = unit_name_problem(u.name)) r.fail(field + ".name", *problem);
  } else {
    u.name = u.source.filename().string();
    if (const auto problem = unit_name_problem(u.name))
      r.fail(field + ".source", fmt::format("the unit's name is its file's name, and {} (give "
                                            "\"name\" to choose another)",
                                            *problem));
  }
  if (const auto problem = unit_file_problem(u.source)) r.fail(field + ".source", *problem);
  if (v.contains("enable")) u.enable = r.boolean(v["enable"], field + ".enable");
  return u;
}

void read_units(const json& v, const Reader& r, ImageSpec& spec) {
  std::map<std::string, std::size_t, std::less<>> names;
  for (std::size_t i = 0; i < r.array(v, "units", "objects").size(); ++i) {
    auto u = read_unit(v[i], at("units", i), r);
    if (const auto [it, fresh] = names.emplace(u.name, i); !fresh)
      r.fail(at("units", i),
             fmt::format("the unit name '{}' is also units[{}]'s", u.name, it->second));
    spec.units.push_back(std::move(u));
  }
}

void read_groups(const json& v, const Reader& r, ImageSpec& spec) {
  std::map<std::string, std::size_t, std::less<>> names;
  std::map<unsigned, std::size_t> ids;
  for (std::size_t i = 0; i < r.array(v, "groups", "objects").size(); ++i) {
    const auto field = at("groups", i);
    r.object(v[i], field, {"name", "gid"}, "a group");
    GroupEntry g;
    if (!v[i].contains("name")) r.fail(field + ".name", "missing (the group's name)");
    g.name = r.account_name(v[i]["name"], field + ".name", "group name");
    if (const auto [it, fresh] = names.emplace(g.name, i); !fresh)
      r.fail(field + ".name",
             fmt::format("duplicate group name '{}' (groups[{}] has it too)", g.name, it->second));
    if (v[i].contains("gid")) {
      g.gid = r.integer(v[i]["gid"], field + ".gid", 0, max_spec_id);
      if (const auto [it, fresh] = ids.emplace(*g.gid, i); !fresh)
        r.fail(field + ".gid", fmt::format("gid {} is also groups[{}]'s", *g.gid, it->second));
    }
    spec.groups.push_back(std::move(g));
  }
}

UserEntry read_user(const json& v, const std::string& field, const Reader& r) {
  r.object(v, field, {"name", "uid", "groups", "shell", "home"}, "a user");
  UserEntry u;
  if (!v.contains("name")) r.fail(field + ".name", "missing (the user's name)");
  u.name = r.account_name(v["name"], field + ".name", "user name");
  if (v.contains("uid")) u.uid = r.integer(v["uid"], field + ".uid", 0, max_spec_id);
  if (v.contains("groups")) {
    const auto& groups = r.array(v["groups"], field + ".groups", "group names");
    for (std::size_t i = 0; i < groups.size(); ++i)
      u.groups.push_back(r.account_name(groups[i], at(field + ".groups", i), "group name"));
  }
  if (v.contains("shell")) u.shell = r.guest_path(v["shell"], field + ".shell");
  u.home = v.contains("home") ? r.guest_path(v["home"], field + ".home") : "/home/" + u.name;
  return u;
}

void read_users(const json& v, const Reader& r, ImageSpec& spec) {
  std::map<std::string, std::size_t, std::less<>> names;
  std::map<unsigned, std::size_t> ids;
  for (std::size_t i = 0; i < r.array(v, "users", "objects").size(); ++i) {
    const auto field = at("users", i);
    auto u = read_user(v[i], field, r);
    if (const auto [it, fresh] = names.emplace(u.name, i); !fresh)
      r.fail(field + ".name",
             fmt::format("duplicate user name '{}' (users[{}] has it too)", u.name, it->second));
    if (u.uid)
      if (const auto [it, fresh] = ids.emplace(*u.uid, i); !fresh)
        r.fail(field + ".uid", fmt::format("uid {} is also users[{}]'s", *u.uid, it->second));
    spec.users.push_back(std::move(u));
  }
}

void read_cmdline(const json& v, const Reader& r, ImageSpec& spec) {
  for (std::size_t i = 0; i < r.array(v, "cmdline", "kernel parameters").size(); ++i) {
    auto param = r.string(v[i], at("cmdline", i));
    if (param.empty()) r.fail(at("cmdline", i), "expected a kernel parameter, got an empty string");
    if (param.find_first_of(" \t\n\r\v\f") != std::string::npos)
      r.fail(at("cmdline", i), fmt::format("'{}' contains whitespace (give each kernel parameter "
                                           "as an item of its own)",
                                           param));
    spec.cmdline.push_back(std::move(param));
  }
}

void read_root(const json& v, const Reader& r, ImageSpec& spec) {
  r.object(v, "root", {"kind", "size_mib"}, "root");
  if (v.contains("kind")) {
    const auto kind = r.string(v["kind"], "root.kind");
    if (kind == "erofs-overlay")
      spec.root.kind = RootKind::erofs_overlay;
    else if (kind == "ext4")
      spec.root.kind = RootKind::ext4;
    else
      r.fail("root.kind", fmt::format("'{}' is not one of erofs-overlay, ext4", kind));
  }
  if (v.contains("size_mib"))
    spec.root.size_mib =
        r.integer(v["size_mib"], "root.size_mib", min_root_size_mib, max_root_size_mib);
}

ImageSpec parse_spec(std::string_view text, const fs::path& file, const fs::path& base) {
  const Reader r(file, base);
  std::string why;
  const auto parsed = detail::parse_json(text, why);
  if (!parsed) r.fail("", fmt::format("not valid JSON: {}", why));
  const json& doc = *parsed;
  r.object(doc, "",
           {"distribution", "release", "packages", "debs", "files", "units", "groups", "users",
            "cmdline", "root"},
           "the image spec");
  ImageSpec spec;
  spec.file = file;
  read_release(doc, r, spec);
  using Part = void (*)(const json&, const Reader&, ImageSpec&);
  static constexpr std::array<std::pair<const char*, Part>, 8> parts = {{
      {"packages", read_packages},
      {"debs", read_debs},
      {"files", read_files},
      {"units", read_units},
      {"groups", read_groups},
      {"users", read_users},
      {"cmdline", read_cmdline},
      {"root", read_root},
  }};
  for (const auto& [key, read] : parts)
    if (doc.contains(key)) read(doc[key], r, spec);
  return spec;
}

}  // namespace

std::string_view to_string(Distribution distribution) noexcept {
  return distribution == Distribution::ubuntu ? "ubuntu" : "debian";
}

std::string_view to_string(RootKind kind) noexcept {
  return kind == RootKind::ext4 ? "ext4" : "erofs-overlay";
}

std::span<const std::string_view> known_releases(Distribution distribution) noexcept {
  if (distribution == Distribution::ubuntu) return ubuntu_releases;
  return debian_releases;
}

void spec_error(const fs::path& file, std::string_view field, std::string_view why) {
  std::string msg = fmt::format("image spec {}", file.string());
  if (!field.empty()) msg += fmt::format(": field '{}'", field);
  throw ConfigError(fmt::format("{}: {}", msg, why), "", "image");
}

ImageSpec load_spec(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) spec_error(file, "", fmt::format("cannot read: {}", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return parse_spec(text.str(), file, fs::absolute(file).lexically_normal().parent_path());
}

}  // namespace attest::image
