// Building an image spec into the image cache (build.hpp).
#include "image/build.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "attest/version.hpp"
#include "image/key.hpp"
#include "image/plan.hpp"
#include "image/sha256.hpp"
#include "process/foreground.hpp"

#ifndef ATTEST_BUILDER_FROM_LIBDIR
#define ATTEST_BUILDER_FROM_LIBDIR "../libexec/attest/image-builder"
#endif

namespace attest::image {
namespace {

namespace fs = std::filesystem;

/// The builder: $ATTEST_IMAGE_BUILDER when set; else lib/image/builder beside libattest in a
/// build tree, or <prefix>/<libexecdir>/attest/image-builder, found from libattest's own
/// directory (so an installed tree moved elsewhere, or unpacked under a DESTDIR, still finds it).
fs::path builder_dir() {
  std::error_code ec;
  if (const char* env = std::getenv("ATTEST_IMAGE_BUILDER"); env != nullptr && *env != '\0') {
    if (!fs::exists(fs::path(env) / "build", ec))
      throw std::runtime_error(
          fmt::format("ATTEST_IMAGE_BUILDER={} is not an image builder (it has no `build`); unset "
                      "it to use the installed one",
                      env));
    return env;
  }
  Dl_info info{};
  if (::dladdr(reinterpret_cast<const void*>(&builder_dir), &info) == 0 ||
      info.dli_fname == nullptr)
    throw std::runtime_error("cannot find libattest's own path (dladdr failed)");
  const fs::path lib = fs::canonical(info.dli_fname, ec).parent_path();
  const fs::path candidates[] = {lib / "image" / "builder",
                                 (lib / ATTEST_BUILDER_FROM_LIBDIR).lexically_normal()};
  for (const auto& c : candidates)
    if (fs::exists(c / "build", ec)) return c;
  throw std::runtime_error(fmt::format(
      "the image builder is not installed (looked for {} and {}; ATTEST_IMAGE_BUILDER names "
      "another place)",
      candidates[0].string(), candidates[1].string()));
}

/// attest's version and the SHA-256 of every file of the builder: a changed builder makes
/// different images from the same spec.
std::string builder_version(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string text = fmt::format("attest {}\n", attest::version);
  for (const auto& f : files) text += fmt::format("{} {}\n", sha256_file(f), f.filename().string());
  return text;
}

/// Runs `argv` (stderr passes through, so the builder's progress and its tools' messages reach
/// the user as they come); returns its stdout, or throws naming `step` when it fails.
std::string run(const std::vector<std::string>& argv, const std::string& step, bool capture) {
  auto result = process::run_foreground(argv, {.capture_stdout = capture, .who = "attest image"});
  if (result.status != 0)
    throw std::runtime_error(fmt::format("{} failed (its message is above)", step));
  return std::move(result.out);
}

/// An exclusive lock on `file` for this object's life (concurrent builds of one key wait).
class Lock {
 public:
  explicit Lock(const fs::path& file) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw std::runtime_error(
          fmt::format("cannot open the lock {}: {}", file.string(), std::strerror(errno)));
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR)
        throw std::runtime_error(
            fmt::format("cannot lock {}: {}", file.string(), std::strerror(errno)));
  }
  ~Lock() { ::close(fd_); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  int fd_ = -1;
};

/// Removes a directory tree when it goes out of scope.
struct RemoveOnExit {
  fs::path dir;
  ~RemoveOnExit() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

fs::path default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/')
    return fs::path(xdg) / "attest" / "images";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/')
    return fs::path(home) / ".cache" / "attest" / "images";
  return fs::temp_directory_path() / fmt::format("attest-images-{}", ::getuid());
}

std::string image_name_of(const fs::path& spec_file) {
  std::string name = spec_file.stem().string();
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
  }
  return name.empty() ? std::string("image") : name;
}

std::string boot_cmdline(const ImageSpec& spec) {
  std::string cmdline = "console=ttyS0 panic=-1 quiet no_timer_check net.ifnames=0";
  cmdline += spec.root.kind == RootKind::erofs_overlay
                 ? " attest.store=/dev/vda attest.upper=/dev/vdb"
                 : " attest.root=/dev/vda";
  for (const auto& p : spec.cmdline) cmdline += " " + p;
  return cmdline;
}

void boot_from(const BuiltImage& image, MachineConfig& machine) {
  machine.kernel = image.dir / "vmlinuz";
  machine.initrd = image.dir / "initrd.img";
  machine.cmdline = boot_cmdline(image.spec);
  machine.disks.clear();
  DiskConfig root;
  if (image.spec.root.kind == RootKind::erofs_overlay) {
    root.path = image.dir / "root.erofs";
    root.read_only = true;
    DiskConfig upper;
    upper.size_mib = image.spec.root.size_mib;
    machine.disks = {root, upper};
  } else {
    root.path = image.dir / "root.ext4";
    machine.disks = {root};
  }
}

BuiltImage build_image(const BuildRequest& request) {
  BuiltImage built{load_spec(request.spec_file),
                   request.name.empty() ? image_name_of(request.spec_file) : request.name,
                   {}};
  const fs::path builder = builder_dir();
  const fs::path cache = request.cache_dir.empty() ? default_cache_dir() : request.cache_dir;
  fs::create_directories(cache);

  // The scratch directory: the plan, and the build until it is published.
  std::string templ = (cache / "tmp-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error(fmt::format("cannot make a scratch directory in {}: {}",
                                         cache.string(), std::strerror(errno)));
  const RemoveOnExit scratch{templ};
  fs::permissions(scratch.dir, fs::perms(0755));
  write_plan(built.spec, built.name, scratch.dir / "plan");

  std::cerr << fmt::format("attest image: {}: resolving the package versions\n",
                           request.spec_file.string());
  const std::string resolved =
      run({(builder / "build").string(), "--resolve", (scratch.dir / "plan").string()},
          "resolving the package versions (apt-cache)", true);
  // The name is the image's hostname: part of what the builder makes.
  const std::string key = content_key(
      built.spec, resolved, builder_version(builder) + fmt::format("name {}\n", built.name));
  built.dir = cache / key;

  Lock lock(cache / (key + ".lock"));
  if (request.rebuild) fs::remove_all(built.dir);
  if (fs::exists(built.dir)) {
    std::cerr << fmt::format("attest image: {} is up to date ({})\n", request.spec_file.string(),
                             built.dir.string());
    return built;
  }
  const fs::path out = scratch.dir / "out";
  fs::create_directory(out);
  run({(builder / "build").string(), (scratch.dir / "plan").string(), out.string()},
      fmt::format("building the image of {}", request.spec_file.string()), false);
  fs::rename(out, built.dir);  // published whole, or not at all
  return built;
}

}  // namespace attest::image
