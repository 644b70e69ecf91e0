// File copies between the host and the guest on the I/O thread, each one operation under one
// deadline (copy_limit for all its steps together): into the guest through the shared directory
// when the guest mounts it (NixOS's way), else through the shell (a tar archive in base64 chunks);
// back from the guest into the test's output directory. The host's side of a copy (copying files,
// running tar) runs off the I/O thread (DriverImpl::host_work), so other machines' consoles and
// timers keep going meanwhile.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/driver_impl.hpp"
#include "core/facade.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"

namespace attest::detail {

namespace fs = std::filesystem;

namespace {

/// The time all the steps of one copy may take together: what one command gets by default.
constexpr std::chrono::milliseconds copy_limit = default_timeout;

}  // namespace

/// One copy in progress: its machine's boot, its deadline and the caller to check the polling
/// conditions with.
struct MachineImpl::Copy {
  std::string operation;
  std::shared_ptr<CallerLink> link;
  std::shared_ptr<Boot> boot{};
  Clock::time_point started{};
  Deadline deadline{};
  unsigned guest_steps = 0;
};

awaitable<MachineImpl::Copy> MachineImpl::begin_copy(std::string operation,
                                                     std::shared_ptr<CallerLink> link) {
  Copy copy{.operation = std::move(operation), .link = std::move(link)};
  copy.boot = co_await ensure_shell(copy.operation);
  copy.started = Clock::now();
  copy.deadline = deadline_after(copy_limit);
  co_return copy;
}

awaitable<shell::Result> MachineImpl::copy_command(Copy& copy, const std::string& command,
                                                   std::string_view what) {
  // NixOS checks the polling conditions before every command a copy runs.
  if (copy.guest_steps++ > 0 && copy.link && driver_.polling_active())
    co_await copy.link->check_conditions();
  const auto t0 = Clock::now();
  auto r = co_await run_command(copy.boot, command, std::nullopt, copy.deadline, copy.operation);
  log_info(name(),
           fmt::format("{}: `{}` → {} ({}, {} bytes)", copy.operation, excerpt(command, 120),
                       r.status, format_duration(Clock::now() - t0), r.output.size()));
  if (!what.empty() && r.status != 0) {
    auto message = fmt::format(
        "machine '{}': {}: {} failed (exit code {}); the guest's error is on its serial console "
        "(boot {} in {}){}{}",
        name(), copy.operation, what, r.status, console_.boot(), console_log_path().string(),
        r.output.empty() ? "" : "\noutput: ", excerpt(r.output));
    throw CommandFailed(message, name(), copy.operation, excerpt(command, 400), r.status,
                        std::move(r.output));
  }
  co_return r;
}

template <class F>
awaitable<std::invoke_result_t<F&>> MachineImpl::copy_host_step(Copy& copy, std::string during,
                                                                F fn) {
  Step step{.operation = copy.operation,
            .during = "while " + during,
            .deadline = copy.deadline,
            .timeout = copy_limit,
            .timed_out =
                [during] {
                  return fmt::format("the copy did not finish within {} (it was {})",
                                     format_duration(copy_limit), during);
                },
            .started = copy.started};
  auto work = driver_.host_work(std::move(fn));
  co_return co_await run_step(copy.boot, std::move(work), std::move(step));
}

awaitable<bool> MachineImpl::mounts_shared_dir(Copy& copy) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  fs::create_directories(shared_dir(), ec);
  const auto marker = fmt::format(".attest-probe-{}-{}-{}", name(), ::getpid(), ++counter);
  struct Marker {
    fs::path path;
    ~Marker() {
      std::error_code ignored;  // best effort: the state directory goes at the end anyway
      fs::remove(path, ignored);
    }
  } host_marker{shared_dir() / marker};
  std::ofstream(host_marker.path).put('1');
  const std::string probe = "test -e /tmp/shared/" + marker;
  const auto r = co_await copy_command(copy, probe, {});
  log_debug(name(), fmt::format("{}: the guest {} the shared directory", copy.operation,
                                r.status == 0 ? "mounts" : "does not mount"));
  co_return r.status == 0;
}

awaitable<void> MachineImpl::write_via_shell(Copy& copy, std::shared_ptr<const std::string> bytes,
                                             std::string target, bool make_parent) {
  // The data travels inside the command line; chunks keep each line bounded.
  constexpr std::size_t chunk = std::size_t{3} * 1024 * 1024;
  const auto what = fmt::format("writing {} in the guest", target);
  std::size_t offset = 0;
  do {
    const auto part = std::string_view(*bytes).substr(offset, chunk);
    const auto cmd =
        fmt::format("{}printf %s {} | base64 -d {} {}",
                    offset == 0 && make_parent
                        ? fmt::format("mkdir -p -- \"$(dirname -- {})\" && ", shell_quote(target))
                        : "",
                    base64_encode(part), offset == 0 ? ">" : ">>", shell_quote(target));
    co_await copy_command(copy, cmd, what);
    offset += part.size();
  } while (offset < bytes->size());
}

awaitable<void> MachineImpl::copy_in_shared_dir(Copy& copy, fs::path source, std::string target) {
  std::string templ = (shared_dir() / "xfer-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw Error(fmt::format("machine '{}': {}: cannot create a directory in {}: {}", name(),
                            copy.operation, shared_dir().string(), std::strerror(errno)),
                name(), copy.operation);
  const fs::path staging{templ};
  const auto base = source.filename().string();
  auto remove_staging = [staging] {
    std::error_code ignored;  // best effort: the state directory goes at the end anyway
    fs::remove_all(staging, ignored);
  };
  // Every argument of a co_await below is a named variable (GCC 12: see run_step).
  auto stage = [source, to = staging / base, machine = name(), operation = copy.operation] {
    std::error_code ec;
    fs::copy(source, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec)
      throw Error(fmt::format("machine '{}': {}: cannot copy {} into the shared directory: {}",
                              machine, operation, source.string(), ec.message()),
                  machine, operation);
  };
  std::string staging_step = "copying into the shared directory";
  const auto place = place_copy_command(
      fmt::format("/tmp/shared/{}/{}", staging.filename().string(), base), target);
  try {
    co_await copy_host_step(copy, std::move(staging_step), std::move(stage));
    co_await copy_command(copy, place, "copying out of the shared directory");
  } catch (...) {
    // After the pool's current work, which may be this copy's, abandoned.
    asio::post(driver_.host_pool(), remove_staging);
    throw;
  }
  co_await driver_.host_work(remove_staging);
}

awaitable<void> MachineImpl::copy_in_tar(Copy& copy, fs::path source, std::string target) {
  // Every argument of a co_await below is a named variable (GCC 12: see run_step).
  const auto base = source.filename().string();
  auto pack = [source, scratch = state_dir(), machine = name(), operation = copy.operation] {
    return create_tar(source, scratch, machine, operation);
  };
  std::string packing = "packing the copy";
  auto packed = co_await copy_host_step(copy, std::move(packing), std::move(pack));
  auto archive = std::make_shared<const std::string>(std::move(packed));
  const std::string mktemp = "mktemp -d /tmp/.attest-copy.XXXXXX";
  const auto made = co_await copy_command(copy, mktemp, "making a staging directory");
  const std::string dir(trim(made.output));  // mktemp's line
  std::string archive_path = dir + "/copy.tar";
  co_await write_via_shell(copy, std::move(archive), std::move(archive_path), false);
  const auto unpack =
      fmt::format("{{ tar -xf {0}/copy.tar -C {0} && {1}; }}; s=$?; rm -rf {0}; [ $s = 0 ]",
                  shell_quote(dir), place_copy_command(dir + "/" + base, target));
  co_await copy_command(copy, unpack, "unpacking the copy");
}

awaitable<void> MachineImpl::copy_from_host(fs::path source, std::string target,
                                            std::string operation,
                                            std::shared_ptr<CallerLink> link) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(source, ec)))
    throw Error(fmt::format("machine '{}': {}: cannot read {}: no such file or directory", name(),
                            operation, source.string()),
                name(), operation);
  // "dir/" copies the directory itself, as "dir" does.
  fs::path abs = fs::absolute(source).lexically_normal();
  if (!abs.has_filename()) abs = abs.parent_path();
  auto copy = co_await begin_copy(std::move(operation), std::move(link));
  if (co_await mounts_shared_dir(copy))
    co_await copy_in_shared_dir(copy, std::move(abs), std::move(target));
  else
    co_await copy_in_tar(copy, std::move(abs), std::move(target));
}

awaitable<void> MachineImpl::copy_from_host_via_shell(fs::path source, std::string target,
                                                      std::string operation,
                                                      std::shared_ptr<CallerLink> link) {
  auto read = [source, machine = name(), operation] {
    std::ifstream in(source, std::ios::binary);
    if (!in)
      throw Error(fmt::format("machine '{}': {}: cannot read {}: {}", machine, operation,
                              source.string(), std::strerror(errno)),
                  machine, operation);
    std::ostringstream data;
    data << in.rdbuf();
    return std::make_shared<const std::string>(std::move(data).str());
  };
  auto bytes = co_await driver_.host_work(std::move(read));
  auto copy = co_await begin_copy(std::move(operation), std::move(link));
  // As NixOS's, the target's parent directory is made.
  co_await write_via_shell(copy, std::move(bytes), std::move(target), true);
}

awaitable<fs::path> MachineImpl::copy_from_machine(std::string source, fs::path target_dir,
                                                   std::string operation,
                                                   std::shared_ptr<CallerLink> link) {
  const fs::path dir = driver_.output_dir() / target_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error(fmt::format("machine '{}': {}: cannot create {}: {}", name(), operation,
                            dir.string(), ec.message()),
                name(), operation);
  const fs::path src{source};
  const std::string base =
      src.filename().empty() ? src.parent_path().filename().string() : src.filename().string();
  const fs::path dest = dir / base;
  auto copy = co_await begin_copy(std::move(operation), std::move(link));
  const auto q = shell_quote(source);
  const std::string test_dir = "test -d " + q;
  const bool is_dir = (co_await copy_command(copy, test_dir, {})).status == 0;
  const auto cmd = is_dir ? fmt::format("tar -C {} -cf - {}",
                                        shell_quote(src.parent_path().string()), shell_quote(base))
                          : "cat -- " + q;
  auto r = co_await copy_command(copy, cmd, {});
  if (r.status != 0)
    throw CommandFailed(
        is_dir ? fmt::format("machine '{}': {}: `{}` failed (exit code {})", name(), copy.operation,
                             cmd, r.status)
               : fmt::format("machine '{}': {}: cannot read {} in the guest (exit code {})", name(),
                             copy.operation, source, r.status),
        name(), copy.operation, cmd, r.status, std::move(r.output));
  auto output = std::make_shared<const std::string>(std::move(r.output));
  auto store = [output, is_dir, dir, dest, machine = name(), operation = copy.operation] {
    if (is_dir) {
      extract_tar(*output, dir, machine, operation);
      return;
    }
    std::ofstream out(dest, std::ios::binary | std::ios::trunc);
    out.write(output->data(), static_cast<std::streamsize>(output->size()));
    if (!out)
      throw Error(
          fmt::format("machine '{}': {}: cannot write {}", machine, operation, dest.string()),
          machine, operation);
  };
  std::string storing = is_dir ? "unpacking the copy" : "writing the copy";
  co_await copy_host_step(copy, std::move(storing), std::move(store));
  co_return dest;
}

}  // namespace attest::detail
