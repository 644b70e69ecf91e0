// The boot cache's store (boot_cache.hpp): entries, their check, publishing and collection.
#include "core/boot_cache.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace attest::detail {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int manifest_format = 1;
constexpr const char* manifest_name = "manifest.json";

bool is_key(const std::string& name) {
  return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// A file descriptor closed when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// Copies bytes [pos, end) of `in` to the same offsets of `out`.
void copy_range(int in, int out, off_t pos, off_t end) {
  while (pos < end) {
    off_t in_off = pos;
    off_t out_off = pos;
    const ssize_t n =
        ::copy_file_range(in, &in_off, out, &out_off, static_cast<std::size_t>(end - pos), 0);
    if (n > 0) {
      pos += n;
      continue;
    }
    if (n == 0) throw std::runtime_error("the file ended early");
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
      throw std::runtime_error(std::strerror(errno));
    // No copy_file_range between these files: read and write.
    char buf[1 << 16];
    const ssize_t r = ::pread(in, buf, std::min<off_t>(sizeof buf, end - pos), pos);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw std::runtime_error(r == 0 ? "the file ended early" : std::strerror(errno));
    for (ssize_t done = 0; done < r;) {
      const ssize_t w = ::pwrite(out, buf + done, static_cast<std::size_t>(r - done), pos + done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw std::runtime_error(std::strerror(errno));
      done += w;
    }
    pos += r;
  }
}

/// Why the entry in `dir` is not whole ("" when it is), and its contents when it is.
std::string read_entry(const fs::path& dir, BootCacheEntry& entry) {
  std::ifstream in(dir / manifest_name, std::ios::binary);
  if (!in) return "it has no manifest.json";
  json m;
  try {
    m = json::parse(in);
    if (m.at("format").get<int>() != manifest_format)
      return fmt::format("its manifest is of format {}", m.at("format").dump());
    entry.manifest.machine = m.at("machine").get<std::string>();
    entry.manifest.backend = m.at("backend").get<std::string>();
    entry.manifest.session_id = m.at("session_id").get<std::string>();
    entry.manifest.data_port = m.at("data_port").get<bool>();
    entry.manifest.user_net_ready = m.at("user_net_ready").get<bool>();
    entry.manifest.key_text = m.at("key_text").get<std::string>();
    for (const auto& f : m.at("files"))
      entry.files.push_back({f.at("name").get<std::string>(), f.at("size").get<std::uint64_t>()});
  } catch (const json::exception& e) {
    return fmt::format("its manifest.json does not read: {}", e.what());
  }
  entry.bytes = 0;
  for (const auto& f : entry.files) {
    if (f.name.empty() || f.name.find('/') != std::string::npos || f.name == manifest_name)
      return fmt::format("its manifest names a file '{}'", f.name);
    std::error_code ec;
    const auto size = fs::file_size(dir / f.name, ec);
    if (ec) return fmt::format("{} is missing", f.name);
    if (size != f.size)
      return fmt::format("{} has {} bytes, not the {} it was saved with (truncated?)", f.name, size,
                         f.size);
    if (f.name.ends_with(".qcow2")) {
      std::ifstream file(dir / f.name, std::ios::binary);
      char magic[4] = {};
      file.read(magic, sizeof magic);
      if (!file || std::memcmp(magic, "QFI\xfb", 4) != 0)
        return fmt::format("{} is not a qcow2 image", f.name);
    }
    entry.bytes += size;
  }
  std::error_code ec;
  entry.used = fs::last_write_time(dir / manifest_name, ec);
  return {};
}

/// Removes `dir` so that no reader sees it half removed: renamed aside first.
void remove_entry(const fs::path& dir) {
  std::error_code ec;
  const fs::path aside =
      dir.parent_path() / fmt::format("gone-{}-{}", ::getpid(), dir.filename().string());
  fs::rename(dir, aside, ec);
  fs::remove_all(ec ? dir : aside, ec);
}

}  // namespace

BootCache::BootCache(fs::path dir) : dir_(std::move(dir)) {}

fs::path BootCache::default_dir() {
  if (const char* v = std::getenv("ATTEST_BOOT_CACHE"); v != nullptr && *v != '\0') return v;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/')
    return fs::path(xdg) / "attest" / "boot";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/')
    return fs::path(home) / ".cache" / "attest" / "boot";
  return fs::temp_directory_path() / fmt::format("attest-boot-{}", ::getuid());
}

std::optional<BootCacheEntry> BootCache::find(const std::string& key, std::string* damaged) const {
  const fs::path dir = dir_ / key;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  BootCacheEntry entry;
  entry.key = key;
  entry.dir = dir;
  const std::string why = read_entry(dir, entry);
  if (why.empty()) return entry;
  remove_entry(dir);
  if (damaged != nullptr) *damaged = why;
  return std::nullopt;
}

void BootCache::touch(const BootCacheEntry& entry) const noexcept {
  std::error_code ec;
  fs::last_write_time(entry.dir / manifest_name, fs::file_time_type::clock::now(), ec);
}

void BootCache::publish(const std::string& key, const BootCacheManifest& manifest,
                        const std::vector<fs::path>& files) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot create the boot cache {}: {}", dir_.string(), ec.message()));
  std::string templ = (dir_ / "tmp-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error(fmt::format("cannot make a directory in the boot cache {}: {}",
                                         dir_.string(), std::strerror(errno)));
  const fs::path tmp = templ;
  try {
    json list = json::array();
    for (const auto& f : files) {
      copy_file_cow(f, tmp / f.filename());
      list.push_back(
          {{"name", f.filename().string()}, {"size", fs::file_size(tmp / f.filename())}});
    }
    const json m = {{"format", manifest_format},       {"machine", manifest.machine},
                    {"backend", manifest.backend},     {"session_id", manifest.session_id},
                    {"data_port", manifest.data_port}, {"user_net_ready", manifest.user_net_ready},
                    {"key_text", manifest.key_text},   {"files", list}};
    std::ofstream out(tmp / manifest_name, std::ios::binary);
    out << m.dump(2) << '\n';
    out.close();
    if (!out) throw std::runtime_error("cannot write manifest.json");
    fs::rename(tmp, dir_ / key, ec);
    // Another run published this key first: its entry is the same machine; keep it.
    if (ec) fs::remove_all(tmp, ec);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

std::vector<BootCacheEntry> BootCache::list() const {
  std::vector<BootCacheEntry> entries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const auto name = e.path().filename().string();
    if (!is_key(name) || !e.is_directory(ec)) continue;
    BootCacheEntry entry;
    entry.key = name;
    entry.dir = e.path();
    if (read_entry(e.path(), entry).empty()) entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.used > b.used; });
  return entries;
}

std::size_t BootCache::clear() const {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const auto name = e.path().filename().string();
    if (is_key(name)) ++n;
    if (is_key(name) || name.starts_with("gone-")) remove_entry(e.path());
  }
  return n;
}

std::vector<BootCacheEntry> BootCache::gc(std::uint64_t max_bytes) const {
  auto entries = list();
  std::uint64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  std::vector<BootCacheEntry> removed;
  while (total > max_bytes && !entries.empty()) {
    total -= entries.back().bytes;
    remove_entry(entries.back().dir);
    removed.push_back(std::move(entries.back()));
    entries.pop_back();
  }
  return removed;
}

void copy_file_cow(const fs::path& from, const fs::path& to) {
  const auto fail = [&](const std::string& why) {
    return std::runtime_error(
        fmt::format("cannot copy {} to {}: {}", from.string(), to.string(), why));
  };
  Fd in{::open(from.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) throw fail(std::strerror(errno));
  Fd out{::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (out.fd < 0) throw fail(std::strerror(errno));
  if (::ioctl(out.fd, FICLONE, in.fd) == 0) return;
  try {
    // The data segments only: holes stay holes.
    for (off_t pos = 0; pos < st.st_size;) {
      const off_t data = ::lseek(in.fd, pos, SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;  // only a hole is left
      if (data < 0) {
        copy_range(in.fd, out.fd, pos, st.st_size);
        break;
      }
      off_t hole = ::lseek(in.fd, data, SEEK_HOLE);
      if (hole < 0) hole = st.st_size;
      copy_range(in.fd, out.fd, data, hole);
      pos = hole;
    }
    if (::ftruncate(out.fd, st.st_size) != 0) throw std::runtime_error(std::strerror(errno));
  } catch (const std::runtime_error& e) {
    throw fail(e.what());
  }
}

std::string file_identity(const fs::path& file) {
  std::error_code ec;
  const fs::path abs = fs::absolute(file, ec);
  struct stat st {};
  if (::stat(abs.c_str(), &st) != 0) return fmt::format("{} missing", abs.string());
  return fmt::format("{} {} {}.{:09}", abs.string(), st.st_size, st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec);
}

}  // namespace attest::detail
