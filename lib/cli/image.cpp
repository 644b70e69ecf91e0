// `attest image build`: the spec is read and validated (lib/image/spec), written as the builder's
// plan, keyed (the spec, its files, the package versions apt resolves, the builder), and built
// by lib/image/builder/build unless the cache has that key. A build goes to a scratch directory
// next to the cache entry and is published by one rename, under a lock per key, so concurrent
// builds of one spec build once and a failed build leaves nothing behind.
#include "cli/image.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "attest/version.hpp"
#include "image/key.hpp"
#include "image/plan.hpp"
#include "image/sha256.hpp"
#include "image/spec.hpp"

#ifndef ATTEST_LIBEXECDIR
#define ATTEST_LIBEXECDIR "libexec"
#endif

namespace attest::cli {
namespace {

namespace fs = std::filesystem;

/// The builder: lib/image/builder beside this executable in a build tree, or
/// <prefix>/<libexecdir>/attest/image-builder when installed.
fs::path builder_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    throw std::runtime_error(fmt::format("cannot find the attest tool's path: {}", ec.message()));
  const fs::path candidates[] = {
      exe.parent_path() / "image" / "builder",
      exe.parent_path().parent_path() / ATTEST_LIBEXECDIR / "attest" / "image-builder",
  };
  for (const auto& c : candidates)
    if (fs::exists(c / "build", ec)) return c;
  throw std::runtime_error(fmt::format("the image builder is not installed (looked for {} and {})",
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
  for (const auto& f : files)
    text += fmt::format("{} {}\n", image::sha256_file(f), f.filename().string());
  return text;
}

/// Runs `argv` (stderr passes through, so the builder's progress and its tools' messages reach
/// the user as they come); returns its stdout, or throws naming `step` when it fails.
std::string run(const std::vector<std::string>& argv, const std::string& step, bool capture) {
  int pipefd[2] = {-1, -1};
  if (capture && ::pipe2(pipefd, O_CLOEXEC) != 0)
    throw std::runtime_error(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::cout.flush();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("cannot fork: {}", std::strerror(errno)));
  if (pid == 0) {
    if (capture) ::dup2(pipefd[1], STDOUT_FILENO);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "attest image: cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  std::string out;
  if (capture) {
    ::close(pipefd[1]);
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipefd[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(fmt::format("{} failed (its message is above)", step));
  return out;
}

fs::path default_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/')
    return fs::path(xdg) / "attest" / "images";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/')
    return fs::path(home) / ".cache" / "attest" / "images";
  return fs::temp_directory_path() / fmt::format("attest-images-{}", ::getuid());
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

/// The test configuration that boots the image (docs/config.md), with paths relative to it.
std::string configuration(const image::ImageSpec& spec, const std::string& name) {
  std::string cmdline = "console=ttyS0 panic=-1 quiet no_timer_check net.ifnames=0";
  nlohmann::json disks = nlohmann::json::array();
  if (spec.root.kind == image::RootKind::erofs_overlay) {
    cmdline += " attest.store=/dev/vda attest.upper=/dev/vdb";
    disks.push_back({{"path", "root.erofs"}, {"read_only", true}});
    disks.push_back({{"size_mib", spec.root.size_mib}});
  } else {
    cmdline += " attest.root=/dev/vda";
    disks.push_back({{"path", "root.ext4"}});
  }
  for (const auto& p : spec.cmdline) cmdline += " " + p;
  nlohmann::json machine = {
      {"name", name},       {"backend", "qemu"},  {"kernel", "vmlinuz"}, {"initrd", "initrd.img"},
      {"cmdline", cmdline}, {"memory_mib", 1024}, {"vcpus", 1},          {"disks", disks}};
  return nlohmann::json({{"name", name}, {"machines", {machine}}}).dump(2) + "\n";
}

/// The image's name: given, or the spec file's name without `.json`, lowercased, with anything
/// but letters, digits and '-' as '-'.
std::string image_name(const ImageOptions& options) {
  if (!options.name.empty()) return options.name;
  std::string name = options.spec.stem().string();
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
  }
  return name.empty() ? std::string("image") : name;
}

/// Copies the image's files from the cache entry to `output` (hard links where they can be:
/// the cached files are never written again).
void deliver(const fs::path& entry, const fs::path& output, const std::string& config) {
  fs::create_directories(output);
  for (const auto& e : fs::directory_iterator(entry)) {
    const fs::path to = output / e.path().filename();
    std::error_code ec;
    fs::remove(to, ec);
    fs::create_hard_link(e.path(), to, ec);
    if (ec) fs::copy_file(e.path(), to, fs::copy_options::overwrite_existing);
  }
  std::ofstream(output / "image.json", std::ios::trunc) << config;
}

}  // namespace

int build_image(const ImageOptions& options) {
  const image::ImageSpec spec = image::load_spec(options.spec);
  const std::string name = image_name(options);
  const fs::path builder = builder_dir();
  const fs::path cache = options.cache_dir.empty() ? default_cache() : options.cache_dir;
  fs::create_directories(cache);

  // The scratch directory: the plan, and the build until it is published.
  std::string templ = (cache / "tmp-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error(fmt::format("cannot make a scratch directory in {}: {}",
                                         cache.string(), std::strerror(errno)));
  const fs::path scratch = templ;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{scratch};
  fs::permissions(scratch, fs::perms(0755));
  image::write_plan(spec, name, scratch / "plan");

  std::cerr << "attest image: resolving the package versions\n";
  const std::string resolved =
      run({(builder / "build").string(), "--resolve", (scratch / "plan").string()},
          "resolving the package versions (apt-cache)", true);
  const std::string key = image::content_key(spec, resolved, builder_version(builder));
  const fs::path entry = cache / key;

  Lock lock(cache / (key + ".lock"));
  if (options.rebuild) fs::remove_all(entry);
  if (fs::exists(entry)) {
    std::cerr << fmt::format("attest image: {} is up to date ({})\n", options.spec.string(),
                             entry.string());
  } else {
    const fs::path out = scratch / "out";
    fs::create_directory(out);
    run({(builder / "build").string(), (scratch / "plan").string(), out.string()},
        fmt::format("building the image of {}", options.spec.string()), false);
    fs::rename(out, entry);  // published whole, or not at all
  }
  deliver(entry, options.output, configuration(spec, name));
  std::cerr << fmt::format("attest image: {} written to {} (image.json boots it)\n", name,
                           options.output.string());
  return 0;
}

}  // namespace attest::cli
