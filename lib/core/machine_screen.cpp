// The screen, keyboard and console part of a machine on the I/O thread: screenshots and OCR
// through the backend's display, keys and console bytes, the VMM's monitor and events, and the
// guest-side reads of virtual consoles and of the X server (NixOS's get_tty_text, wait_for_x,
// get_window_names), each wait polling once a second within its timeout.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <regex>

#include "attest/machine.hpp"
#include "core/driver_impl.hpp"
#include "core/keys.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/ocr.hpp"
#include "core/screen.hpp"
#include "core/util.hpp"

namespace attest::detail {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

/// A display, keyboard or monitor request that does not come back within this is reported.
constexpr milliseconds backend_limit = std::chrono::seconds(60);
/// Each guest command of these operations; each host OCR tool run.
constexpr milliseconds command_limit = std::chrono::seconds(60);
constexpr milliseconds ocr_tool_limit = std::chrono::seconds(120);

void check_tty(const std::string& machine, int tty, const std::string& operation) {
  if (tty < 1 || tty > 63)
    throw Error(fmt::format("machine '{}': {}: there is no virtual console {} (1-63)", machine,
                            operation, tty),
                machine, operation);
}

}  // namespace

awaitable<void> MachineImpl::wait_seen(std::shared_ptr<Boot> boot, Wait wait, milliseconds timeout,
                                       AttemptFn attempt, const std::string& last) {
  PollSchedule schedule(timeout);
  if (co_await poll(boot, wait, schedule, std::move(attempt)) == Attempt::done) co_return;
  throw wait_timeout(
      wait, schedule, "",
      fmt::format("; last seen: {}", last.empty() ? "(nothing)" : excerpt(last, 2000)));
}

awaitable<void> MachineImpl::bounded(std::shared_ptr<Boot> boot, awaitable<void> op,
                                     std::string operation) {
  Step step{.operation = operation,
            .during = "meanwhile",
            .deadline = deadline_after(backend_limit),
            .timeout = backend_limit,
            .timed_out = [&] {
              return fmt::format("{} did not answer within {}", backend_->vmm_name(),
                                 format_duration(backend_limit));
            }};
  co_await run_step(boot, std::move(op), std::move(step));
}

awaitable<fs::path> MachineImpl::screenshot(fs::path target) {
  const std::string operation = fmt::format("screenshot({})", target.string());
  auto& screen = need<backend::Screen>("screenshot", "no display to take a screenshot of");
  auto boot = co_await ensure_vmm(operation);
  std::error_code ec;
  const fs::path file = fs::absolute(target, ec);
  if (!ec && file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
  if (ec)
    throw Error(fmt::format("machine '{}': {}: cannot create the directory of {}: {}", name(),
                            operation, target.string(), ec.message()),
                name(), operation);
  const auto t0 = Clock::now();
  co_await bounded(boot, screen.screendump(file), operation);
  log_info(name(),
           fmt::format("screenshot {} ({})", file.string(), format_duration(Clock::now() - t0)));
  co_return file;
}

awaitable<std::vector<std::string>> MachineImpl::screen_text(bool variants, std::string operation) {
  auto& screen = need<backend::Screen>(operation, "no display to read text from");
  auto boot = co_await ensure_vmm(operation);
  const fs::path shot = paths_.state_dir / fmt::format("ocr-{}.png", ++ocr_shots_);
  co_await bounded(boot, screen.screendump(shot), operation);
  const auto t0 = Clock::now();
  std::vector<std::string> texts;
  std::string failure;
  try {
    texts = co_await ocr_screenshot(shot, variants, ocr_tool_limit);
  } catch (const OcrError& e) {
    failure = e.what();
  }
  std::error_code ec;
  fs::remove(shot, ec);
  if (!failure.empty())
    throw Error(fmt::format("machine '{}': {}: OCR failed: {}", name(), operation, failure), name(),
                operation);
  log_debug(name(), fmt::format("{}: OCR of {} image{} took {}", operation, texts.size(),
                                texts.size() == 1 ? "" : "s", format_duration(Clock::now() - t0)));
  co_return texts;
}

awaitable<void> MachineImpl::wait_for_text(std::string regex, milliseconds timeout) {
  const std::string operation = fmt::format("wait_for_text(/{}/)", regex);
  const std::regex re = compile_regex(regex, name(), operation);
  auto boot = co_await ensure_vmm(operation);
  std::string last;
  AttemptFn attempt = [&](PollSchedule&) -> awaitable<Attempt> {
    const auto texts = co_await screen_text(true, operation);
    last = fmt::format("{}", fmt::join(texts, "\n--- next OCR variant ---\n"));
    for (const auto& text : texts)
      if (std::regex_search(text, re)) co_return Attempt::done;
    co_return Attempt::again;
  };
  Wait wait{.operation = operation,
            .waiting_for = fmt::format("text matching /{}/ on the screen (OCR)", regex)};
  co_await wait_seen(boot, std::move(wait), timeout, std::move(attempt), last);
}

awaitable<void> MachineImpl::send_keys(std::string input, bool as_chars, milliseconds delay) {
  const std::string operation =
      fmt::format("{}({})", as_chars ? "send_chars" : "send_key", excerpt(input, 80));
  // Every key is known before the first is pressed, so a bad one types nothing.
  std::vector<std::vector<KeyPart>> combos;
  std::string bad;
  try {
    if (as_chars) {
      for (char c : input) combos.push_back(parse_key_combo(key_for_char(c)));
    } else {
      combos.push_back(parse_key_combo(normalize_key(input)));
    }
  } catch (const std::invalid_argument& e) {
    bad = e.what();
  }
  if (!bad.empty())
    throw Error(fmt::format("machine '{}': {}: {}", name(), operation, bad), name(), operation);
  auto& keyboard = need<backend::Keyboard>(as_chars ? "send_chars" : "send_key", "no keyboard");
  auto boot = co_await ensure_vmm(operation);
  log_info(name(), fmt::format("{}: {} key press{}", operation, combos.size(),
                               combos.size() == 1 ? "" : "es"));
  asio::steady_timer timer(driver_.executor());
  for (auto& combo : combos) {
    co_await bounded(boot, keyboard.send_key(std::move(combo)), operation);
    if (delay > milliseconds::zero()) {
      timer.expires_after(delay);
      co_await timer.async_wait(use_awaitable);
    }
  }
}

awaitable<void> MachineImpl::send_console(std::string chars) {
  const std::string operation = fmt::format("send_console({})", excerpt(chars, 80));
  auto& input = need<backend::ConsoleInput>("send_console", "no console input");
  auto boot = co_await ensure_vmm(operation);
  log_info(name(), fmt::format("{}: {} bytes to the serial console", operation, chars.size()));
  co_await bounded(boot, input.send_console(std::move(chars)), operation);
}

awaitable<std::string> MachineImpl::send_monitor_command(std::string command) {
  const std::string operation = fmt::format("send_monitor_command({})", excerpt(command, 80));
  auto& monitor = need<backend::Monitor>("send_monitor_command", "no monitor (QEMU's HMP)");
  auto boot = co_await ensure_vmm(operation);
  std::string reply;
  auto run = [](backend::Monitor& m, std::string hmp, std::string& out) -> awaitable<void> {
    out = co_await m.monitor_command(std::move(hmp));
  };
  co_await bounded(boot, run(monitor, command, reply), operation);
  log_info(name(), fmt::format("{}: {} bytes of output", operation, reply.size()));
  co_return reply;
}

awaitable<QmpEvent> MachineImpl::next_qmp_event(Deadline deadline, milliseconds timeout,
                                                std::string operation) {
  auto& monitor = need<backend::Monitor>("wait_for_qmp_event", "no QMP events");
  auto boot = co_await ensure_vmm(operation);
  Step step{.operation = operation,
            .during = "while waiting for a QMP event",
            .deadline = deadline,
            .timeout = timeout,
            .timed_out = [&] {
              return fmt::format("no matching QMP event within {}", format_duration(timeout));
            }};
  co_return co_await run_step(boot, monitor.next_event(), std::move(step));
}

awaitable<std::string> MachineImpl::tty_text(std::shared_ptr<Boot> boot, int tty,
                                             std::string operation) {
  const auto command = tty_text_command(tty);
  auto r = co_await helper(boot, command, command_limit, operation);
  if (r.status != 0)
    throw CommandFailed(
        fmt::format("machine '{}': {}: `{}` failed (exit code {}); reading a virtual console "
                    "needs /dev/tty{} and /dev/vcs{} (a kernel with virtual terminals) and fold, "
                    "stty and awk in the guest; see the console log for the guest's error",
                    name(), operation, command, r.status, tty, tty),
        name(), operation, command, r.status, std::move(r.output));
  co_return std::move(r.output);
}

awaitable<std::string> MachineImpl::get_tty_text(int tty) {
  const std::string operation = fmt::format("get_tty_text({})", tty);
  check_tty(name(), tty, operation);
  auto boot = co_await ensure_shell(operation);
  co_return co_await tty_text(boot, tty, operation);
}

awaitable<void> MachineImpl::wait_until_tty_matches(int tty, std::string regex,
                                                    milliseconds timeout,
                                                    std::shared_ptr<CallerLink> link) {
  const std::string operation = fmt::format("wait_until_tty_matches({}, /{}/)", tty, regex);
  check_tty(name(), tty, operation);
  const std::regex re = compile_regex(regex, name(), operation);
  auto boot = co_await ensure_shell(operation);
  std::string last;
  AttemptFn attempt = [&](PollSchedule&) -> awaitable<Attempt> {
    last = co_await tty_text(boot, tty, operation);
    co_return std::regex_search(last, re) ? Attempt::done : Attempt::again;
  };
  Wait wait{.operation = operation,
            .waiting_for = fmt::format("tty{} to match /{}/", tty, regex),
            .link = std::move(link)};
  co_await wait_seen(boot, std::move(wait), timeout, std::move(attempt), last);
}

awaitable<void> MachineImpl::dump_tty_contents(int tty) {
  const std::string operation = fmt::format("dump_tty_contents({})", tty);
  check_tty(name(), tty, operation);
  auto boot = co_await ensure_shell(operation);
  const std::string probe = "command -v systemd-cat >/dev/null";
  auto has_journal = co_await helper(boot, probe, command_limit, operation);
  const auto fold = fmt::format("fold -w 80 /dev/vcs{}", tty);
  const auto command = has_journal.status == 0 ? fold + " | systemd-cat" : fold;
  auto r = co_await helper(boot, command, command_limit, operation);
  if (r.status != 0)
    throw CommandFailed(fmt::format("machine '{}': {}: `{}` failed (exit code {})", name(),
                                    operation, command, r.status),
                        name(), operation, command, r.status, std::move(r.output));
  if (has_journal.status == 0)
    log_info(name(), fmt::format("tty{} written to the guest's journal", tty));
  else  // the guest has no journal: the test log keeps it instead
    log_info(name(), fmt::format("tty{} (the guest has no systemd-cat):{}", tty,
                                 indent_block(fmt::format("/dev/vcs{}", tty), r.output)));
}

awaitable<std::vector<std::string>> MachineImpl::window_names(std::shared_ptr<Boot> boot,
                                                              std::string operation) {
  // The backdoor shell of a NixOS X test has no DISPLAY; the first X server is :0.
  const std::string command = "DISPLAY=${DISPLAY:-:0} xwininfo -root -tree";
  auto r = co_await helper(boot, command, command_limit, operation);
  if (r.status != 0) {
    const auto cause = r.status == 127 ? std::string(
                                             "xwininfo is not installed in the guest (NixOS: "
                                             "pkgs.xorg.xwininfo)")
                                       : fmt::format(
                                             "xwininfo failed (exit code {}): is the X server "
                                             "running? (see the console log for its error)",
                                             r.status);
    throw CommandFailed(fmt::format("machine '{}': {}: {}", name(), operation, cause), name(),
                        operation, command, r.status, std::move(r.output));
  }
  co_return parse_window_names(r.output);
}

awaitable<std::vector<std::string>> MachineImpl::get_window_names() {
  const std::string operation = "get_window_names";
  auto boot = co_await ensure_shell(operation);
  co_return co_await window_names(boot, operation);
}

awaitable<void> MachineImpl::wait_for_window(std::string regex, milliseconds timeout,
                                             std::shared_ptr<CallerLink> link) {
  const std::string operation = fmt::format("wait_for_window(/{}/)", regex);
  const std::regex re = compile_regex(regex, name(), operation);
  auto boot = co_await ensure_shell(operation);
  std::string last;
  AttemptFn attempt = [&](PollSchedule&) -> awaitable<Attempt> {
    const auto names = co_await window_names(boot, operation);
    last = names.empty() ? std::string("no named windows")
                         : "windows: " + fmt::format("{}", fmt::join(names, ", "));
    for (const auto& n : names)
      if (std::regex_search(n, re)) co_return Attempt::done;
    co_return Attempt::again;
  };
  Wait wait{.operation = operation,
            .waiting_for = fmt::format("a window whose name matches /{}/", regex),
            .link = std::move(link)};
  co_await wait_seen(boot, std::move(wait), timeout, std::move(attempt), last);
}

}  // namespace attest::detail
