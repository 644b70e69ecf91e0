// The image content key (key.hpp). What goes in is written out in docs/images.md ("The cache"):
// changing the format changes every key, which only costs one rebuild of each cached image.
#include "image/key.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "image/sha256.hpp"

namespace attest::image {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string octal_mode(fs::perms perms) {
  return fmt::format("{:04o}", static_cast<unsigned>(perms & fs::perms::mask));
}

/// One entry of a files[] source's listing: type, mode, path relative to the source ("." for the
/// source itself) and the content's SHA-256 or the link's target, each ended by a NUL, which no
/// path or link target holds.
void add_entry(Sha256& listing, const fs::path& path, const std::string& relative,
               const fs::file_status& st, const ImageSpec& spec, const std::string& field) {
  std::string type;
  std::string payload;
  if (fs::is_regular_file(st)) {
    type = "file";
    payload = sha256_file(path);
  } else if (fs::is_directory(st)) {
    type = "directory";
  } else if (fs::is_symlink(st)) {
    type = "symlink";
    payload = fs::read_symlink(path).string();
  } else {
    spec_error(spec.file, field,
               fmt::format("{} is not a regular file, a directory or a symlink", path.string()));
  }
  for (const auto& part : {type, octal_mode(st.permissions()), relative, payload}) {
    listing.update(part);
    listing.update(std::string_view("\0", 1));
  }
}

/// The SHA-256 of a files[] source's listing: the source itself (a symlink there is followed, as
/// the copy will) and, for a directory, everything under it in the byte order of the relative
/// paths (symlinks under it are listed, not followed).
std::string source_digest(const fs::path& source, const ImageSpec& spec, const std::string& field) {
  Sha256 listing;
  add_entry(listing, source, ".", fs::status(source), spec, field);
  if (!fs::is_directory(fs::status(source))) return listing.hex_digest();
  std::vector<std::pair<std::string, fs::path>> entries;
  for (const auto& entry : fs::recursive_directory_iterator(source))
    entries.emplace_back(entry.path().lexically_relative(source).generic_string(), entry.path());
  std::sort(entries.begin(), entries.end());
  for (const auto& [relative, path] : entries)
    add_entry(listing, path, relative, fs::symlink_status(path), spec, field);
  return listing.hex_digest();
}

/// `digest()`, with a file system error (a file gone or unreadable since load_spec) turned into
/// the spec's ConfigError for `field`.
template <class F>
std::string digest_for(const ImageSpec& spec, const std::string& field, F digest) {
  try {
    return digest();
  } catch (const fs::filesystem_error& e) {
    spec_error(spec.file, field,
               fmt::format("cannot read {}: {}", e.path1().string(), e.code().message()));
  }
}

json files_value(const ImageSpec& spec) {
  json files = json::array();
  for (std::size_t i = 0; i < spec.files.size(); ++i) {
    const auto& f = spec.files[i];
    const auto field = fmt::format("files[{}].source", i);
    json entry = json::object();
    entry["source"] = digest_for(spec, field, [&] { return source_digest(f.source, spec, field); });
    entry["target"] = f.target;
    entry["mode"] = f.mode ? json(fmt::format("{:04o}", *f.mode)) : json(nullptr);
    entry["owner"] = f.owner;
    entry["group"] = f.group;
    files.push_back(std::move(entry));
  }
  return files;
}

json accounts_value(const ImageSpec& spec) {
  json out = json::object();
  out["groups"] = json::array();
  for (const auto& g : spec.groups)
    out["groups"].push_back(json{{"name", g.name}, {"gid", g.gid ? json(*g.gid) : json(nullptr)}});
  out["users"] = json::array();
  for (const auto& u : spec.users) {
    json user = json::object();
    user["name"] = u.name;
    user["uid"] = u.uid ? json(*u.uid) : json(nullptr);
    user["groups"] = u.groups;
    user["shell"] = u.shell;
    user["home"] = u.home;
    out["users"].push_back(std::move(user));
  }
  return out;
}

}  // namespace

std::string canonical_json(const ImageSpec& spec) {
  json doc = accounts_value(spec);  // groups, users
  doc["distribution"] = std::string(to_string(spec.distribution));
  doc["release"] = spec.release;
  doc["packages"] = spec.packages;
  doc["debs"] = json::array();
  for (std::size_t i = 0; i < spec.debs.size(); ++i) {
    const auto field = fmt::format("debs[{}]", i);
    doc["debs"].push_back(digest_for(spec, field, [&] { return sha256_file(spec.debs[i]); }));
  }
  doc["files"] = files_value(spec);
  doc["units"] = json::array();
  for (std::size_t i = 0; i < spec.units.size(); ++i) {
    const auto& u = spec.units[i];
    const auto field = fmt::format("units[{}].source", i);
    const auto digest = digest_for(spec, field, [&] { return sha256_file(u.source); });
    doc["units"].push_back(json{{"source", digest}, {"name", u.name}, {"enable", u.enable}});
  }
  doc["cmdline"] = spec.cmdline;
  doc["root"] =
      json{{"kind", std::string(to_string(spec.root.kind))}, {"size_mib", spec.root.size_mib}};
  // nlohmann's objects are std::maps: dump() writes the keys sorted, whatever the spec's order.
  return doc.dump();
}

std::string content_key(const ImageSpec& spec, std::string_view resolved_packages,
                        std::string_view builder_version) {
  const auto spec_json = canonical_json(spec);
  // Each part as a netstring ("LENGTH:BYTES,"), so that no two different sets of parts hash the
  // same bytes: a text cannot end early and pass its tail to the next part.
  Sha256 h;
  for (const std::string_view part :
       {std::string_view("attest image key 1"), std::string_view(spec_json), resolved_packages,
        builder_version}) {
    h.update(fmt::format("{}:", part.size()));
    h.update(part);
    h.update(",");
  }
  return h.hex_digest();
}

}  // namespace attest::image
