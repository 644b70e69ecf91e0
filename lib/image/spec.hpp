// Internal: the image spec of `attest image build` (docs/images.md) read from its JSON file into
// a validated ImageSpec, defaults applied and paths resolved. The image's content key and the
// builder take this struct, never the JSON.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attest::image {

enum class Distribution { debian, ubuntu };

/// How the root file system is given to machines (docs/images.md, "root").
enum class RootKind {
  erofs_overlay,  ///< a read-only erofs image shared by every machine, each with its own overlay
  ext4,           ///< one writable ext4 image, copied for each machine
};

/// A file or directory copied into the image.
struct FileEntry {
  std::filesystem::path source;  ///< absolute; a regular file or a directory (copied whole)
  std::string target;            ///< absolute, normalized, without a trailing '/'
  std::optional<unsigned> mode;  ///< permission bits of the target itself; nullopt: the source's
  std::string owner = "root";    ///< a user name or a decimal uid, for everything copied
  std::string group = "root";    ///< a group name or a decimal gid, for everything copied
};

/// A systemd unit installed in /etc/systemd/system.
struct UnitEntry {
  std::filesystem::path source;  ///< absolute; a unit file
  std::string name;              ///< the installed name; defaults to the source's file name
  bool enable = true;
};

struct GroupEntry {
  std::string name;
  std::optional<unsigned> gid;  ///< nullopt: groupadd chooses
};

struct UserEntry {
  std::string name;
  std::optional<unsigned> uid;      ///< nullopt: useradd chooses
  std::vector<std::string> groups;  ///< supplementary groups
  std::string shell = "/bin/bash";
  std::string home;  ///< defaults to /home/<name>
};

struct RootSpec {
  RootKind kind = RootKind::erofs_overlay;
  /// The writable layer (erofs-overlay) or the whole root (ext4), in MiB.
  unsigned size_mib = 2048;
};

/// The smallest root.size_mib accepted: a writable layer smaller than this fills up on the
/// first apt or journal activity, and no Debian root with systemd fits in it as ext4.
inline constexpr unsigned min_root_size_mib = 64;
/// The largest root.size_mib accepted (16 TiB, the configuration's limit for a fresh disk).
inline constexpr unsigned max_root_size_mib = 16u << 20;
/// The largest uid or gid a user or group of the spec may have: 65534 is nobody/nogroup and
/// 65535 is (uid_t)-1 in 16-bit interfaces.
inline constexpr unsigned max_spec_id = 65533;

/// A validated image spec (docs/images.md, "The spec").
struct ImageSpec {
  /// The spec file, as given to load_spec: for messages only (never part of the content key).
  std::filesystem::path file;
  Distribution distribution = Distribution::debian;
  std::string release = "bookworm";  ///< the distribution's default release when not given
  /// Package names, each with an optional "=version" pin, in the spec's order.
  std::vector<std::string> packages;
  std::vector<std::filesystem::path> debs;  ///< absolute paths of local .deb files
  std::vector<FileEntry> files;
  std::vector<UnitEntry> units;
  std::vector<GroupEntry> groups;
  std::vector<UserEntry> users;
  std::vector<std::string> cmdline;  ///< kernel parameters added to the config fragment's
  RootSpec root;
};

std::string_view to_string(Distribution distribution) noexcept;
std::string_view to_string(RootKind kind) noexcept;

/// The releases a distribution's images can be built from, the default first.
std::span<const std::string_view> known_releases(Distribution distribution) noexcept;

/// Reads and validates an image spec; relative paths are taken from the spec file's directory,
/// and every file the spec names must exist (unit files are checked for systemd's syntax).
/// Throws: ConfigError naming the file, the field and the cause, e.g.
/// `image spec db.json: field 'files[2].mode': string "755x" is not an octal mode (e.g. "0644")`.
ImageSpec load_spec(const std::filesystem::path& file);

/// Throws the ConfigError of load_spec's messages: `image spec FILE: field 'FIELD': WHY` (without
/// the field part when `field` is empty), for what reads the files a spec names later.
[[noreturn]] void spec_error(const std::filesystem::path& file, std::string_view field,
                             std::string_view why);

}  // namespace attest::image
