// Internal: the boot cache (docs/snapshots.md, "Warm start"): a machine's booted state, saved by
// one run and restored by later ones instead of a cold boot. An entry is a directory named after
// the machine's boot key (a SHA-256 over everything that changes the booted machine), holding the
// backend's snapshot files and manifest.json. It is published whole by one rename and never
// changed afterwards; a run restoring it copies its files into its own state directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace attest::detail {

/// What a cache entry holds besides its files: what the restoring run needs to take the saved
/// guest over.
struct BootCacheManifest {
  std::string machine;     ///< the machine's name (for `attest cache list`)
  std::string backend;     ///< e.g. "qemu"
  std::string session_id;  ///< the saved shell session's nonce (shell::Nonce::joined())
  bool data_port = false;  ///< the saved shell's output travels over the data port
  bool user_net_ready = false;
  std::string key_text;  ///< what the key was computed from, for a person reading it
};

struct BootCacheFile {
  std::string name;  ///< its name in the entry and in the restoring run's state directory
  std::uint64_t size = 0;
};

struct BootCacheEntry {
  std::string key;
  std::filesystem::path dir;
  BootCacheManifest manifest;
  std::vector<BootCacheFile> files;
  std::uint64_t bytes = 0;               ///< the files' sizes together
  std::filesystem::file_time_type used;  ///< last published or restored (least recently used first)
};

class BootCache {
 public:
  /// `dir`: the cache directory; created when an entry is first published.
  explicit BootCache(std::filesystem::path dir);

  /// $ATTEST_BOOT_CACHE, else $XDG_CACHE_HOME/attest/boot, else ~/.cache/attest/boot.
  static std::filesystem::path default_dir();

  const std::filesystem::path& dir() const noexcept { return dir_; }

  /// The entry of `key` when it is whole (its manifest reads, every file has the size the
  /// manifest says and a qcow2 file its header); nullopt on a miss. A damaged entry is removed,
  /// and `damaged` (when given) says what was wrong with it.
  std::optional<BootCacheEntry> find(const std::string& key, std::string* damaged = nullptr) const;

  /// Marks the entry as used now (gc removes the least recently used first).
  void touch(const BootCacheEntry& entry) const noexcept;

  /// Copies `files` (absolute paths) into a new entry for `key` with `manifest`, and publishes it
  /// by one rename. An entry another run published meanwhile is kept (it has the same key, so
  /// the same machine). Throws: std::runtime_error (the caller warns; nothing is left behind).
  void publish(const std::string& key, const BootCacheManifest& manifest,
               const std::vector<std::filesystem::path>& files) const;

  /// Every whole entry, most recently used first.
  std::vector<BootCacheEntry> list() const;
  /// Removes every entry; returns how many.
  std::size_t clear() const;
  /// Removes the least recently used entries until the rest take at most `max_bytes`; returns
  /// the removed ones.
  std::vector<BootCacheEntry> gc(std::uint64_t max_bytes) const;

 private:
  std::filesystem::path dir_;
};

/// Copies `from` to `to` (replacing it), sharing the blocks where the file system can (a reflink
/// on btrfs, XFS, bcachefs), else an ordinary copy that keeps holes. Throws:
/// std::runtime_error naming both paths.
void copy_file_cow(const std::filesystem::path& from, const std::filesystem::path& to);

/// The identity of a file for a cache key: its absolute path, size and modification time (a
/// rebuilt image is a new identity); "missing" when it cannot be read.
std::string file_identity(const std::filesystem::path& file);

}  // namespace attest::detail
