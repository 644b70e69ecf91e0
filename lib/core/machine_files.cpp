// The Machine facade's file copies between the host and the guest: through the shared
// directory when the guest mounts it (NixOS's way), else through the shell (a tar archive in
// base64 chunks), and back from the guest into the test's output directory.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>

#include "attest/machine.hpp"
#include "core/driver_impl.hpp"
#include "core/facade.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"

namespace attest {

namespace fs = std::filesystem;
using detail::op_name;
using detail::polled;

namespace {

/// Runs a step of a copy; throws CommandFailed naming `what` on a non-zero status.
CommandResult copy_step(detail::MachineImpl& m, const std::string& cmd,
                        const std::string& operation, std::string_view what, const Where& where) {
  auto r = polled(m, operation, m.execute(cmd, default_timeout, operation));
  if (r.status != 0) {
    auto message = fmt::format(
        "machine '{}': {}: {} failed (exit code {}); the guest's error is on its serial console "
        "({}){}{}",
        m.name(), operation, what, r.status, m.console_log_path().string(),
        r.output.empty() ? "" : "\noutput: ", detail::excerpt(r.output));
    throw CommandFailed(std::move(message), m.name(), operation, detail::excerpt(cmd, 400),
                        r.status, std::move(r.output), where);
  }
  return r;
}

/// Writes `bytes` to `target` in the guest through the shell, in base64 chunks.
void write_via_shell(detail::MachineImpl& m, const std::string& bytes, std::string_view target,
                     const std::string& operation, const Where& where) {
  // The data travels inside the command line; chunks keep each line bounded.
  constexpr std::size_t chunk = std::size_t{3} * 1024 * 1024;
  std::size_t offset = 0;
  do {
    const auto part = std::string_view(bytes).substr(offset, chunk);
    const auto cmd = fmt::format("printf %s {} | base64 -d {} {}", detail::base64_encode(part),
                                 offset == 0 ? ">" : ">>", shell_quote(target));
    copy_step(m, cmd, operation, fmt::format("writing {} in the guest", target), where);
    offset += part.size();
  } while (offset < bytes.size());
}

/// Whether the guest has the host's shared directory at /tmp/shared: a marker file the host
/// writes there must be visible in the guest.
bool guest_mounts_shared_dir(detail::MachineImpl& m, const std::string& operation) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  fs::create_directories(m.shared_dir(), ec);
  const auto marker = fmt::format(".attest-probe-{}-{}-{}", m.name(), ::getpid(), ++counter);
  const auto host_marker = m.shared_dir() / marker;
  std::ofstream(host_marker).put('1');
  auto r =
      polled(m, operation, m.execute("test -e /tmp/shared/" + marker, default_timeout, operation));
  fs::remove(host_marker, ec);
  detail::log_debug(m.name(), fmt::format("{}: the guest {} the shared directory", operation,
                                          r.status == 0 ? "mounts" : "does not mount"));
  return r.status == 0;
}

}  // namespace

void Machine::copy_from_host_via_shell(const fs::path& source, std::string_view target,
                                       Where where) {
  detail::at(where, [&] {
    const std::string operation =
        fmt::format("copy_from_host_via_shell({}, {})", source.string(), target);
    std::ifstream in(source, std::ios::binary);
    if (!in)
      throw Error(fmt::format("machine '{}': {}: cannot read {}: {}", name(), operation,
                              source.string(), std::strerror(errno)),
                  name(), operation, where);
    std::ostringstream data;
    data << in.rdbuf();
    write_via_shell(*impl_, data.str(), target, operation, where);
  });
}

void Machine::copy_from_host(const fs::path& source, std::string_view target, Where where) {
  detail::at(where, [&] {
    const std::string operation = fmt::format("copy_from_host({}, {})", source.string(), target);
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(source, ec)))
      throw Error(fmt::format("machine '{}': {}: cannot read {}: no such file or directory", name(),
                              operation, source.string()),
                  name(), operation, where);
    const fs::path abs = fs::absolute(source).lexically_normal();
    const std::string base = (abs.has_filename() ? abs : abs.parent_path()).filename().string();
    if (guest_mounts_shared_dir(*impl_, operation)) {
      // NixOS's way: the host stages the copy in the shared directory, the guest copies it out.
      std::string templ = (impl_->shared_dir() / "xfer-XXXXXX").string();
      if (::mkdtemp(templ.data()) == nullptr)
        throw Error(fmt::format("machine '{}': {}: cannot create a directory in {}: {}", name(),
                                operation, impl_->shared_dir().string(), std::strerror(errno)),
                    name(), operation, where);
      const fs::path staging{templ};
      struct Cleanup {
        fs::path dir;
        ~Cleanup() {
          std::error_code ignored;  // best effort: the state directory goes at the end anyway
          fs::remove_all(dir, ignored);
        }
      } cleanup{staging};
      fs::copy(abs, staging / base, fs::copy_options::recursive | fs::copy_options::copy_symlinks,
               ec);
      if (ec)
        throw Error(fmt::format("machine '{}': {}: cannot copy {} into the shared directory: {}",
                                name(), operation, source.string(), ec.message()),
                    name(), operation, where);
      const auto staged = fmt::format("/tmp/shared/{}/{}", staging.filename().string(), base);
      copy_step(*impl_, detail::place_copy_command(staged, target), operation,
                "copying out of the shared directory", where);
      return;
    }
    // Through the shell: a tar archive (modes, directories) in base64, unpacked in the guest.
    const auto archive = detail::create_tar(abs, impl_->state_dir(), name(), operation);
    auto dir = copy_step(*impl_, "mktemp -d /tmp/.attest-copy.XXXXXX", operation,
                         "making a staging directory", where)
                   .output;
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
    const auto q = shell_quote(dir);
    write_via_shell(*impl_, archive, dir + "/copy.tar", operation, where);
    copy_step(*impl_,
              fmt::format("{{ tar -xf {0}/copy.tar -C {0} && {1}; }}; s=$?; rm -rf {0}; [ $s = 0 ]",
                          q, detail::place_copy_command(dir + "/" + base, target)),
              operation, "unpacking the copy", where);
  });
}

fs::path Machine::copy_from_machine(std::string_view source, const fs::path& target_dir,
                                    Where where) {
  return detail::at(where, [&]() -> fs::path {
    const std::string operation = op_name("copy_from_machine", source);
    auto& drv = impl_->driver();
    const fs::path dir = drv.output_dir() / target_dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      throw Error(fmt::format("machine '{}': {}: cannot create {}: {}", name(), operation,
                              dir.string(), ec.message()),
                  name(), operation, where);
    const fs::path src{std::string(source)};
    const std::string base =
        src.filename().empty() ? src.parent_path().filename().string() : src.filename().string();
    fs::path dest = dir / base;
    const auto q = shell_quote(source);
    auto is_dir =
        polled(*impl_, operation, impl_->execute("test -d " + q, default_timeout, operation));
    if (is_dir.status == 0) {
      const auto cmd = fmt::format("tar -C {} -cf - {}", shell_quote(src.parent_path().string()),
                                   shell_quote(base));
      auto r = polled(*impl_, operation, impl_->execute(cmd, default_timeout, operation));
      if (r.status != 0)
        throw CommandFailed(fmt::format("machine '{}': {}: `{}` failed (exit code {})", name(),
                                        operation, cmd, r.status),
                            name(), operation, cmd, r.status, std::move(r.output), where);
      detail::extract_tar(r.output, dir, name(), operation);
      return dest;
    }
    const auto cmd = "cat -- " + q;
    auto r = polled(*impl_, operation, impl_->execute(cmd, default_timeout, operation));
    if (r.status != 0)
      throw CommandFailed(
          fmt::format("machine '{}': {}: cannot read {} in the guest (exit code {})", name(),
                      operation, source, r.status),
          name(), operation, cmd, r.status, std::move(r.output), where);
    std::ofstream out(dest, std::ios::binary | std::ios::trunc);
    out.write(r.output.data(), static_cast<std::streamsize>(r.output.size()));
    if (!out)
      throw Error(
          fmt::format("machine '{}': {}: cannot write {}", name(), operation, dest.string()),
          name(), operation, where);
    return dest;
  });
}

fs::path Machine::copy_from_vm(std::string_view source, const fs::path& target_dir, Where where) {
  return copy_from_machine(source, target_dir, where);
}

}  // namespace attest
