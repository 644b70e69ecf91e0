// The synchronous Machine facade: each method submits a coroutine to the Driver's I/O thread
// and waits for it; an attest::Error leaving here carries the caller's source location. The file
// copies are machine_files.cpp's.
#include "attest/machine.hpp"

#include <fmt/format.h>

#include <charconv>

#include "core/driver_impl.hpp"
#include "core/facade.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/screen.hpp"
#include "core/systemd.hpp"
#include "core/util.hpp"

namespace attest {

namespace fs = std::filesystem;
using detail::op_name;
using detail::polled;
using detail::polled_wait;
using std::chrono::milliseconds;

namespace {

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

void Machine::start(StartOptions options, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->start(options.allow_reboot)); });
}

void Machine::connect(Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->connect()); });
}

CommandResult Machine::execute(std::string_view command, milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    return polled(*impl_, "execute", impl_->execute(std::string(command), timeout, "execute"));
  });
}

CommandResult Machine::execute(std::string_view command, ExecuteOptions options, Where where) {
  if (!options.check_output)  // NixOS's check_output=False: sent, not read; {-2, ""}
    return detail::at(where, [&] {
      return polled(*impl_, "execute",
                    impl_->execute(std::string(command), options.timeout, "execute", false));
    });
  auto r = execute(command, options.timeout, where);
  if (!options.check_return) r.status = -1;  // NixOS's check_return=False
  return r;
}

std::string Machine::succeed(std::string_view command, milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    return polled(*impl_, "succeed", impl_->expect(std::string(command), timeout, true, "succeed"));
  });
}

std::string Machine::fail(std::string_view command, milliseconds timeout, Where where) {
  return detail::at(where, [&] {
    return polled(*impl_, "fail", impl_->expect(std::string(command), timeout, false, "fail"));
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
  detail::at(where, [&] { impl_->driver().run(impl_->reboot(timeout, false)); });
}

void Machine::reboot_from_shell(milliseconds timeout, Where where) {
  detail::at(where, [&] { impl_->driver().run(impl_->reboot(timeout, true)); });
}

void Machine::switch_root(milliseconds timeout, Where where) {
  detail::at(where, [&] {
    polled_wait(*impl_, "switch_root", [&](std::shared_ptr<detail::CallerLink> link) {
      return impl_->switch_root(timeout, std::move(link));
    });
  });
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
    // As NixOS's send_monitor_command, it runs the polling conditions first.
    return polled(*impl_, "send_monitor_command",
                  impl_->send_monitor_command(std::string(command)));
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

namespace {

/// A virtual console's number given as text (NixOS passes "1"). Throws: Error naming it.
int tty_number(std::string_view machine, std::string_view operation, std::string_view tty,
               const Where& where) {
  int n = 0;
  const auto [end, ec] = std::from_chars(tty.data(), tty.data() + tty.size(), n);
  if (ec != std::errc{} || end != tty.data() + tty.size() || tty.empty())
    throw Error(fmt::format("machine '{}': {}: \"{}\" is not a virtual console number (give "
                            "\"1\" for /dev/tty1)",
                            machine, operation, tty),
                std::string(machine), std::string(operation), where);
  return n;
}

}  // namespace

std::string Machine::get_tty_text(std::string_view tty, Where where) {
  return get_tty_text(tty_number(name(), "get_tty_text", tty, where), where);
}

void Machine::wait_until_tty_matches(std::string_view tty, std::string_view regex,
                                     milliseconds timeout, Where where) {
  wait_until_tty_matches(tty_number(name(), "wait_until_tty_matches", tty, where), regex, timeout,
                         where);
}

void Machine::dump_tty_contents(std::string_view tty, Where where) {
  dump_tty_contents(tty_number(name(), "dump_tty_contents", tty, where), where);
}

std::string Machine::get_tty_text(int tty, Where where) {
  return detail::at(where,
                    [&] { return polled(*impl_, "get_tty_text", impl_->get_tty_text(tty)); });
}

void Machine::wait_until_tty_matches(int tty, std::string_view regex, milliseconds timeout,
                                     Where where) {
  detail::at(where, [&] {
    polled_wait(*impl_, "wait_until_tty_matches", [&](std::shared_ptr<detail::CallerLink> link) {
      return impl_->wait_until_tty_matches(tty, std::string(regex), timeout, std::move(link));
    });
  });
}

void Machine::dump_tty_contents(int tty, Where where) {
  detail::at(where, [&] { polled(*impl_, "dump_tty_contents", impl_->dump_tty_contents(tty)); });
}

void Machine::wait_for_x(milliseconds timeout, Where where) {
  detail::at(where, [&] {
    (void)wait_until(*impl_, detail::x_ready_command(), true, timeout, "wait_for_x",
                     "the X server");
  });
}

std::vector<std::string> Machine::get_window_names(Where where) {
  return detail::at(where,
                    [&] { return polled(*impl_, "get_window_names", impl_->get_window_names()); });
}

void Machine::wait_for_window(std::string_view regex, milliseconds timeout, Where where) {
  detail::at(where, [&] {
    polled_wait(*impl_, "wait_for_window", [&](std::shared_ptr<detail::CallerLink> link) {
      return impl_->wait_for_window(std::string(regex), timeout, std::move(link));
    });
  });
}

void Machine::log(std::string_view message) const { detail::log_info(name(), message); }

LogBlock Machine::nested(std::string_view message) const {
  return LogBlock(fmt::format("{}: {}", name(), message));
}

}  // namespace attest
