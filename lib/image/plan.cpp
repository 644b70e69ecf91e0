// The builder's plan of an image spec (see plan.hpp and the header of lib/image/builder/build).
#include "image/plan.hpp"

#include <fmt/format.h>

#include <fstream>
#include <string>
#include <vector>

#include "attest/machine.hpp"

namespace attest::image {
namespace {

namespace fs = std::filesystem;

/// Every file and directory of the plan readable (and directories searchable) by all: the
/// builder's namespace root is another user (a subordinate uid) under --mode=unshare.
constexpr fs::perms readable = fs::perms::owner_all | fs::perms::group_read |
                               fs::perms::group_exec | fs::perms::others_read |
                               fs::perms::others_exec;

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw fs::filesystem_error("cannot write", file, std::error_code());
}

/// A value of a tab-separated list: "-" when not given. The spec reader admits no tabs or line
/// ends in these values (names, numbers, absolute paths without control characters).
std::string cell(const std::string& value) { return value.empty() ? "-" : value; }
std::string cell(const std::optional<unsigned>& value) {
  return value ? std::to_string(*value) : "-";
}

/// Copies `from` (a file, or a directory with everything in it, symlinks as symlinks) to `to`,
/// and makes the copy readable by all.
void copy_in(const fs::path& from, const fs::path& to, const ImageSpec& spec,
             std::string_view field) {
  std::error_code ec;
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec)
    spec_error(spec.file, field, fmt::format("cannot copy {}: {}", from.string(), ec.message()));
  auto open_up = [](const fs::path& p) {
    std::error_code ignored;
    if (!fs::is_symlink(p))
      fs::permissions(p, fs::perms::others_read | fs::perms::group_read, fs::perm_options::add,
                      ignored);
    if (fs::is_directory(p) && !fs::is_symlink(p))
      fs::permissions(p, fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add,
                      ignored);
  };
  open_up(to);
  if (fs::is_directory(to) && !fs::is_symlink(to))
    for (const auto& e : fs::recursive_directory_iterator(to)) open_up(e.path());
}

std::string plan_env(const ImageSpec& spec, std::string_view name) {
  std::string cmdline;
  for (const auto& p : spec.cmdline) cmdline += (cmdline.empty() ? "" : " ") + p;
  return fmt::format(
      "image_name={}\ndistribution={}\nrelease={}\nroot_kind={}\nroot_size_mib={}\ncmdline={}\n",
      shell_quote(name), to_string(spec.distribution), shell_quote(spec.release),
      to_string(spec.root.kind), spec.root.size_mib, shell_quote(cmdline));
}

}  // namespace

void write_plan(const ImageSpec& spec, std::string_view name, const fs::path& dir) {
  fs::create_directory(dir);
  for (const char* sub : {"debs", "files", "units"}) fs::create_directory(dir / sub);
  write_text(dir / "plan.env", plan_env(spec, name));

  std::string packages;
  for (const auto& p : spec.packages) packages += p + "\n";
  write_text(dir / "packages", packages);

  for (std::size_t i = 0; i < spec.debs.size(); ++i)
    copy_in(spec.debs[i], dir / "debs" / spec.debs[i].filename(), spec, fmt::format("debs[{}]", i));

  std::string groups;
  for (const auto& g : spec.groups) groups += fmt::format("{}\t{}\n", g.name, cell(g.gid));
  write_text(dir / "groups.tsv", groups);

  std::string users;
  for (const auto& u : spec.users) {
    std::string member_of;
    for (const auto& g : u.groups) member_of += (member_of.empty() ? "" : ",") + g;
    users += fmt::format("{}\t{}\t{}\t{}\t{}\n", u.name, cell(u.uid), cell(member_of),
                         cell(u.shell), cell(u.home));
  }
  write_text(dir / "users.tsv", users);

  std::string files;
  for (std::size_t i = 0; i < spec.files.size(); ++i) {
    const auto& f = spec.files[i];
    copy_in(f.source, dir / "files" / std::to_string(i), spec, fmt::format("files[{}]", i));
    const std::string mode = f.mode ? fmt::format("{:04o}", *f.mode) : std::string();
    files +=
        fmt::format("{}\t{}\t{}\t{}\t{}\n", i, f.target, cell(mode), cell(f.owner), cell(f.group));
  }
  write_text(dir / "files.tsv", files);

  std::string units;
  for (std::size_t i = 0; i < spec.units.size(); ++i) {
    const auto& u = spec.units[i];
    copy_in(u.source, dir / "units" / u.name, spec, fmt::format("units[{}]", i));
    units += fmt::format("{}\t{}\n", u.name, u.enable ? 1 : 0);
  }
  write_text(dir / "units.tsv", units);

  // The plan's own files are written with the user's umask: open them up as the copies are.
  for (const auto& e : fs::directory_iterator(dir)) {
    std::error_code ignored;
    fs::permissions(e.path(), fs::is_directory(e.path()) ? readable : fs::perms(0644),
                    fs::perm_options::replace, ignored);
  }
  fs::permissions(dir, readable);
}

}  // namespace attest::image
