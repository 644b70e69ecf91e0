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
#include <fstream>
#include <iostream>
#include <iterator>
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

/// What apt-cache's answer depends on besides the packages asked for: $APT_CONFIG and the path,
/// size and modification time of every file of apt's configuration and lists and of dpkg's
/// status. An `apt-get update` (or a changed source, pin or installed package) changes it.
std::string apt_state() {
  std::vector<std::string> lines;
  const auto note = [&lines](const fs::path& file) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    const auto time = fs::last_write_time(file, ec);
    if (!ec)
      lines.push_back(
          fmt::format("{} {} {}", file.string(), size, time.time_since_epoch().count()));
  };
  for (const char* dir : {"/etc/apt", "/var/lib/apt/lists"}) {
    std::error_code ec;
    for (fs::recursive_directory_iterator
             it(dir, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) note(it->path());
  }
  note("/var/lib/dpkg/status");
  std::sort(lines.begin(), lines.end());
  const char* config = std::getenv("APT_CONFIG");
  std::string text = fmt::format("APT_CONFIG={}\n", config != nullptr ? config : "");
  for (const auto& l : lines) text += l + '\n';
  return text;
}

/// The builder's `--resolve` answer for the plan in `scratch`/plan, remembered in
/// `cache`/resolved/ under a hash of the packages asked for, the builder's version and
/// apt_state(): asking again with nothing changed costs no apt-cache run (an up-to-date check
/// in milliseconds, and `attest run` and its test binary resolve once between them).
std::string resolve(const fs::path& builder, const std::string& version, const fs::path& scratch,
                    const fs::path& cache, const fs::path& spec_file) {
  const fs::path plan_dir = scratch / "plan";
  std::ifstream packages(plan_dir / "packages", std::ios::binary);
  const std::string asked{std::istreambuf_iterator<char>(packages), {}};
  const std::string apt = apt_state();
  const fs::path memo = cache / "resolved" /
                        sha256_hex(fmt::format("{}:{},{}:{},{}:{},", version.size(), version,
                                               asked.size(), asked, apt.size(), apt));
  if (std::ifstream in(memo, std::ios::binary); in) {
    std::string remembered{std::istreambuf_iterator<char>(in), {}};
    if (!remembered.empty()) return remembered;
  }
  std::cerr << fmt::format("attest image: {}: resolving the package versions\n",
                           spec_file.string());
  std::string resolved = run({(builder / "build").string(), "--resolve", plan_dir.string()},
                             "resolving the package versions (apt-cache)", true);
  // Published whole (a reader sees the old memo or the new one), and only a cache: a memo that
  // cannot be written costs the next check an apt-cache run.
  std::error_code ec;
  fs::create_directories(memo.parent_path(), ec);
  const fs::path part = scratch / "resolved";
  std::ofstream out(part, std::ios::binary);
  out << resolved;
  out.close();
  if (out) fs::rename(part, memo, ec);
  return resolved;
}

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

  const std::string version = builder_version(builder);
  const std::string resolved = resolve(builder, version, scratch.dir, cache, request.spec_file);
  // The name is the image's hostname: part of what the builder makes.
  const std::string key =
      content_key(built.spec, resolved, version + fmt::format("name {}\n", built.name));
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
