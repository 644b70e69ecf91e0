// The synchronous Machine facade: each method submits a coroutine to the Driver's I/O thread
// and waits for it; an attest::Error leaving here carries the caller's source location.
#include "attest/machine.hpp"

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
#include "core/screen.hpp"
#include "core/systemd.hpp"
#include "core/util.hpp"

namespace attest {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

std::string op_name(std::string_view op, std::string_view arg) {
  return fmt::format("{}({})", op, detail::excerpt(arg, 120));
}

/// Runs a guest command's coroutine once the due polling conditions held (NixOS checks them
/// before every command).
template <class T>
T polled(detail::MachineImpl& m, std::string_view operation, awaitable<T> op) {
  m.driver().check_polling_conditions(m.name(), operation);
  return m.driver().run(std::move(op));
}

/// The same for a wait, whose coroutine also has them checked before each further attempt.
template <class Make>
auto polled_wait(detail::MachineImpl& m, std::string_view operation, Make make) {
  auto& d = m.driver();
  d.check_polling_conditions(m.name(), operation);
  auto link = std::make_shared<detail::CallerLink>(d.executor());
  return d.run_polled(make(link), link, m.name(), operation);
}

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
  constexpr std::size_t chunk = 3 * 1024 * 1024;
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

/// Runs `command` until its success equals `want_success` (the waits built on commands).
std::string wait_until(detail::MachineImpl& m, std::string command, bool want_success,
                       milliseconds timeout, const std::string& operation,
                       std::string waiting_for) {
  return polled_wait(m, operation, [&](std::shared_ptr<detail::CallerLink> link) {
    return m.wait_until(std::move(command), want_success, timeout, operation,
                        std::move(waiting_for), std::move(link));
  });
}

}  // namespace

Machine::Machine(std::unique_ptr<detail::MachineImpl> impl) : impl_(std::move(impl)) {}
Machine::~Machine() = default;

const std::string& Machine::name() const noexcept { return impl_->name(); }
std::string_view Machine::backend() const noexcept { return impl_->backend().name(); }
bool Machine::has(Capability c) const noexcept { return impl_->backend().has(c); }
const fs::path& Machine::state_dir() const noexcept { return impl_->state_dir(); }

bool Machine::is_up() const { return impl_->driver().run(impl_->is_up()); }

void Machine::start(Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->start()); });
}

void Machine::connect(Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->connect()); });
}

CommandResult Machine::execute(std::string_view command, milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    return polled(*impl_, "execute", impl_->execute(std::string(command), timeout, "execute"));
  });
}

std::string Machine::succeed(std::string_view command, milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    auto r = polled(*impl_, "succeed", impl_->execute(std::string(command), timeout, "succeed"));
    if (r.status != 0) {
      // The message is built before the output moves into the error.
      std::string meaning;
      if (r.status == 124 && timeout != default_timeout)
        meaning = fmt::format(": it ran out of its {} timeout", detail::format_duration(timeout));
      else if (r.status == 127)
        meaning = detail::missing_program_note;
      auto message = fmt::format(
          "machine '{}': command `{}` failed (exit code {}{}){}{}\n(its stderr is not captured: "
          "it went to the guest's serial console, the '{} # ' lines of the log and {})",
          name(), detail::excerpt(command, 400), r.status, meaning,
          r.output.empty() ? "" : "\noutput: ", detail::excerpt(r.output, 2000), name(),
          impl_->console_log_path().string());
      throw CommandFailed(std::move(message), name(), "succeed", std::string(command), r.status,
                          std::move(r.output), where);
    }
    return std::move(r.output);
  });
}

std::string Machine::fail(std::string_view command, milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    auto r = polled(*impl_, "fail", impl_->execute(std::string(command), timeout, "fail"));
    if (r.status == 0) {
      auto message =
          fmt::format("machine '{}': command `{}` unexpectedly succeeded{}{}", name(),
                      detail::excerpt(command, 400),
                      r.output.empty() ? "" : "\noutput: ", detail::excerpt(r.output, 2000));
      throw CommandFailed(std::move(message), name(), "fail", std::string(command), r.status,
                          std::move(r.output), where);
    }
    return std::move(r.output);
  });
}

std::string Machine::wait_until_succeeds(std::string_view command, milliseconds timeout,
                                         Where where) {
  return detail::at(where, [&] {
    return wait_until(*impl_, std::string(command), true, timeout,
                      op_name("wait_until_succeeds", command), "the command to succeed");
  });
}

std::string Machine::wait_until_fails(std::string_view command, milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    return wait_until(*impl_, std::string(command), false, timeout,
                      op_name("wait_until_fails", command), "the command to fail");
  });
}

void Machine::wait_for_file(std::string_view path, milliseconds timeout, Where where) {
  detail::at(where, [&] {
    wait_until(*impl_, "test -e " + shell_quote(path), true, timeout,
               op_name("wait_for_file", path), fmt::format("file {} to exist", path));
  });
}

void Machine::wait_for_open_port(std::uint16_t port, std::string_view addr, milliseconds timeout,
                                 Where where) {
  detail::at(where, [&] {
    wait_until(*impl_, fmt::format("nc -z {} {}", shell_quote(addr), port), true, timeout,
               fmt::format("wait_for_open_port({}, {})", port, addr),
               fmt::format("TCP port {} on {} to accept connections", port, addr));
  });
}

void Machine::wait_for_closed_port(std::uint16_t port, std::string_view addr, milliseconds timeout,
                                   Where where) {
  detail::at(where, [&] {
    wait_until(*impl_, fmt::format("nc -z {} {}", shell_quote(addr), port), false, timeout,
               fmt::format("wait_for_closed_port({}, {})", port, addr),
               fmt::format("TCP port {} on {} to refuse connections", port, addr));
  });
}

void Machine::wait_for_open_unix_socket(std::string_view path, bool is_datagram,
                                        milliseconds timeout, Where where) {
  detail::at(where, [&] {
    wait_until(*impl_, fmt::format("nc -z {} {}", is_datagram ? "-uU" : "-U", shell_quote(path)),
               true, timeout, op_name("wait_for_open_unix_socket", path),
               fmt::format("unix {} socket {} to accept connections",
                           is_datagram ? "datagram" : "stream", path));
  });
}

void Machine::wait_for_console_text(std::string_view regex, milliseconds timeout, Where where) {
  detail::at(where, [&] {
    impl_->driver().run(impl_->wait_for_console_text(std::string(regex), timeout));
  });
}

std::string Machine::get_console_log() const { return impl_->driver().run(impl_->console_log()); }

void Machine::sleep(milliseconds duration, Where where) {
  detail::at(where, [&] {
    const auto secs =
        duration.count() % 1000 == 0
            ? fmt::format("{}", duration.count() / 1000)
            : fmt::format("{}.{:03}", duration.count() / 1000, duration.count() % 1000);
    const auto operation = fmt::format("sleep({})", secs);
    auto r = polled(*impl_, operation, impl_->execute("sleep " + secs, default_timeout, operation));
    if (r.status != 0)
      throw CommandFailed(fmt::format("machine '{}': sleep({}): `sleep {}` failed (exit code {})",
                                      name(), secs, secs, r.status),
                          name(), "sleep", "sleep " + secs, r.status, std::move(r.output), where);
  });
}

void Machine::shutdown(milliseconds timeout, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->shutdown(timeout)); });
}

void Machine::crash(Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->crash()); });
}

void Machine::wait_for_shutdown(milliseconds timeout, Where where) {
  detail::at(where,
             [&] { impl_->driver().run(impl_->wait_for_shutdown(timeout, "wait_for_shutdown")); });
}

void Machine::halt() noexcept {
  try {
    impl_->driver().run(impl_->halt());
  } catch (const std::exception& e) {
    detail::log_error(name(), fmt::format("halt failed: {}", e.what()));
  }
}

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
    const fs::path dest = dir / base;
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

void Machine::wait_for_unit(std::string_view unit, std::string_view user, milliseconds timeout,
                            Where where) {
  detail::at(where, [&] {
    polled_wait(*impl_, op_name("wait_for_unit", unit), [&](auto link) {
      return impl_->wait_for_unit(std::string(unit), std::string(user), timeout, std::move(link));
    });
  });
}

std::map<std::string, std::string> Machine::get_unit_info(std::string_view unit,
                                                          std::string_view user, Where where) {
  return detail::at(where, [&] {
    const auto command = detail::show_command(unit, {}, user);
    const auto operation = op_name("get_unit_info", unit);
    auto r = polled(*impl_, operation, impl_->execute(command, default_timeout, operation));
    return detail::checked_unit_info(name(), operation, command, r.status, std::move(r.output));
  });
}

std::string Machine::get_unit_property(std::string_view unit, std::string_view property,
                                       std::string_view user, Where where) {
  return detail::at(where, [&] {
    const auto command = detail::show_command(unit, property, user);
    const auto operation = fmt::format("get_unit_property({}, {})", unit, property);
    auto r = polled(*impl_, operation, impl_->execute(command, default_timeout, operation));
    return detail::checked_unit_info(name(), operation, command, r.status, std::move(r.output),
                                     property)
        .at(std::string(property));
  });
}

void Machine::require_unit_state(std::string_view unit, std::string_view state, Where where) {
  const auto actual = get_unit_property(unit, "ActiveState", {}, where);
  if (actual == state) return;
  const auto operation = fmt::format("require_unit_state({}, {})", unit, state);
  throw UnitError(fmt::format("machine '{}': {}: unit {} is {}, expected {}", name(), operation,
                              unit, actual, state),
                  name(), operation, std::string(unit), actual, where);
}

CommandResult Machine::systemctl(std::string_view args, std::string_view user, Where where) {
  return detail::at(where, [&] {
    const auto operation = op_name("systemctl", args);
    return polled(
        *impl_, operation,
        impl_->execute(detail::systemctl_command(args, user), default_timeout, operation));
  });
}

CommandResult Machine::start_job(std::string_view unit, std::string_view user, Where where) {
  return systemctl(fmt::format("start {}", shell_quote(unit)), user, where);
}

CommandResult Machine::stop_job(std::string_view unit, std::string_view user, Where where) {
  return systemctl(fmt::format("stop {}", shell_quote(unit)), user, where);
}

void Machine::block(Where where) {
  detail::at(where, [&] { polled(*impl_, "block", impl_->set_vlan_links(false, "block")); });
}

void Machine::unblock(Where where) {
  detail::at(where, [&] { polled(*impl_, "unblock", impl_->set_vlan_links(true, "unblock")); });
}

void Machine::forward_port(std::uint16_t host_port, std::uint16_t guest_port, Where where) {
  detail::at(where,
             [&] { polled(*impl_, "forward_port", impl_->forward_port(host_port, guest_port)); });
}

void Machine::reboot(milliseconds timeout, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->reboot(timeout)); });
}

void Machine::snapshot_create(std::string_view name, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->snapshot_create(std::string(name))); });
}

void Machine::snapshot_restore(std::string_view name, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->snapshot_restore(std::string(name))); });
}

fs::path Machine::screenshot(std::string_view name, Where where) {
  return detail::at(where, [&] {
    auto& drv = impl_->driver();
    return drv.run(impl_->screenshot(detail::screenshot_path(name, drv.output_dir())));
  });
}

std::string Machine::get_screen_text(Where where) {
  return detail::at(where, [&] {
    auto texts = impl_->driver().run(impl_->screen_text(false, "get_screen_text"));
    return texts.empty() ? std::string() : std::move(texts.front());
  });
}

std::vector<std::string> Machine::get_screen_text_variants(Where where) {
  return detail::at(where, [&] {
    return impl_->driver().run(impl_->screen_text(true, "get_screen_text_variants"));
  });
}

void Machine::wait_for_text(std::string_view regex, milliseconds timeout, Where where) {
  detail::at(where,
             [&] { impl_->driver().run(impl_->wait_for_text(std::string(regex), timeout)); });
}

void Machine::send_key(std::string_view key, milliseconds delay, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->send_keys(std::string(key), false, delay)); });
}

void Machine::send_chars(std::string_view chars, milliseconds delay, Where where) {
  detail::at(where,
             [&] { impl_->driver().run(impl_->send_keys(std::string(chars), true, delay)); });
}

void Machine::send_console(std::string_view chars, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->send_console(std::string(chars))); });
}

std::string Machine::send_monitor_command(std::string_view command, Where where) {
  return detail::at(where, [&] {
    return impl_->driver().run(impl_->send_monitor_command(std::string(command)));
  });
}

QmpEvent Machine::wait_for_qmp_event(const std::function<bool(const QmpEvent&)>& filter,
                                     milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    // The filter runs here, on the test thread: it may do anything a test may.
    const auto deadline = deadline_after(timeout);
    for (;;) {
      auto event =
          impl_->driver().run(impl_->next_qmp_event(deadline, timeout, "wait_for_qmp_event"));
      if (filter(event)) return event;
    }
  });
}

std::string Machine::get_tty_text(int tty, Where where) {
  return detail::at(where, [&] { return impl_->driver().run(impl_->get_tty_text(tty)); });
}

void Machine::wait_until_tty_matches(int tty, std::string_view regex, milliseconds timeout,
                                     Where where) {
  detail::at(where, [&] {
    impl_->driver().run(impl_->wait_until_tty_matches(tty, std::string(regex), timeout));
  });
}

void Machine::dump_tty_contents(int tty, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->dump_tty_contents(tty)); });
}

void Machine::wait_for_x(milliseconds timeout, Where where) {
  detail::at(where, [&] {
    impl_->driver().run(
        impl_->wait_until(detail::x_ready_command(), true, timeout, "wait_for_x", "the X server"));
  });
}

std::vector<std::string> Machine::get_window_names(Where where) {
  return detail::at(where, [&] { return impl_->driver().run(impl_->get_window_names()); });
}

void Machine::wait_for_window(std::string_view regex, milliseconds timeout, Where where) {
  detail::at(where,
             [&] { impl_->driver().run(impl_->wait_for_window(std::string(regex), timeout)); });
}

void Machine::log(std::string_view message) const { detail::log_info(name(), message); }

LogBlock Machine::nested(std::string_view message) const {
  return LogBlock(fmt::format("{}: {}", name(), message));
}

}  // namespace attest
