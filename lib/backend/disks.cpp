// Disks every backend attaches the same way: images from the config, and the per-machine fresh
// disks (the writable layer over the shared read-only root image).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backend/backend.hpp"

namespace attest::backend {

namespace fs = std::filesystem;

fs::path fresh_disk_path(const MachinePaths& paths, std::size_t index) {
  return paths.disks() / fmt::format("disk{}.raw", index);
}

void create_fresh_disks(const MachineConfig& config, const MachinePaths& paths) {
  for (std::size_t i = 0; i < config.disks.size(); ++i) {
    const auto& disk = config.disks[i];
    if (disk.size_mib == 0) continue;
    const auto path = fresh_disk_path(paths, i);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0)
      throw StartFailure(
          fmt::format("cannot create disks[{}] at {}: {}", i, path.string(), std::strerror(errno)));
    const auto size = static_cast<off_t>(disk.size_mib) * 1024 * 1024;
    const int rc = ::ftruncate(fd, size);
    const int saved = errno;
    ::close(fd);
    if (rc != 0) {
      std::error_code ec;
      fs::remove(path, ec);
      throw StartFailure(fmt::format("cannot size disks[{}] at {} to {} MiB: {}", i, path.string(),
                                     disk.size_mib, std::strerror(saved)));
    }
  }
}

}  // namespace attest::backend
