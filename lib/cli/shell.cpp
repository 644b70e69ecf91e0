// `attest shell`: the session (Repl) and the terminal around it. Line editing and history come
// from libedit when standard input is a terminal; otherwise lines are read plainly, so the shell
// also takes a script on standard input.
#include "cli/shell.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

#include "attest/error.hpp"
#include "attest/machine.hpp"
#include "core/log.hpp"
#include "core/util.hpp"

#ifdef ATTEST_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

namespace attest::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using detail::trim;

/// The first word of `s` and what follows it (trimmed).
std::pair<std::string_view, std::string_view> split_word(std::string_view s) {
  s = trim(s);
  const auto space = s.find_first_of(" \t");
  if (space == std::string_view::npos) return {s, {}};
  return {s.substr(0, space), trim(s.substr(space))};
}

std::string seconds(Clock::duration d) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(d).count());
}

/// The argument of ':timeout': a number of seconds above 0 and at most 10^6.
std::chrono::milliseconds parse_timeout(std::string_view rest) {
  char* end = nullptr;
  const std::string text(rest);
  const double s = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(s > 0) || s > 1e6)
    throw std::invalid_argument(":timeout takes a number of seconds, e.g. ':timeout 30'");
  return std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

constexpr std::string_view help_text =
    R"(Lines are shell commands for the current machine (bash, as root), except these:
  :machines             the machines and whether they are up
  :use NAME             send commands to NAME from now on
  :on NAME COMMAND      run COMMAND on NAME once
  :start [NAME|all]     boot a machine (default: the current one), or every machine
  :shutdown [NAME]      power the machine off cleanly and wait for it
  :crash [NAME]         simulate a power loss
  :screenshot NAME      save the current machine's screen as <output dir>/NAME.png
  :snapshot NAME        save the current machine's state as snapshot NAME
  :restore NAME         bring the current machine back to snapshot NAME
  :serial on|off        echo the machines' serial consoles (off at first)
  :timeout SECONDS      how long a command may run (default 900)
  :help                 this list
  :quit                 halt the machines and leave (also Ctrl-D)
A command that fails prints its exit status; an error (the machine went down, a timeout) is
printed and the session goes on.
)";

}  // namespace

std::string_view shell_help() { return help_text; }

Repl::Repl(Driver& driver, std::ostream& out) : driver_(driver), out_(out) {
  const auto machines = driver_.machines();
  if (!machines.empty()) current_ = machines.front().get().name();
}

std::string Repl::prompt() const { return fmt::format("attest({})> ", current_); }

Machine& Repl::target(std::string_view name) {
  return driver_.machine(name.empty() ? std::string_view(current_) : name);
}

void Repl::execute(Machine& m, std::string_view command) {
  if (!m.is_up()) {
    out_ << fmt::format("({} is not up: starting it)\n", m.name()) << std::flush;
    const auto t0 = Clock::now();
    m.connect();
    out_ << fmt::format("({} is up after {})\n", m.name(), seconds(Clock::now() - t0));
  }
  const auto result = m.execute(command, timeout_);
  out_ << result.output;
  if (!result.output.empty() && result.output.back() != '\n') out_ << '\n';
  if (result.status != 0)
    out_ << (detail::Log::get().serial_echo()
                 ? fmt::format("[exit status {}]\n", result.status)
                 : fmt::format("[exit status {}; stderr goes to the serial console: ':serial on' "
                               "shows it]\n",
                               result.status));
  out_ << std::flush;
}

void Repl::start(std::string_view name) {
  const auto t0 = Clock::now();
  if (name == "all") {
    driver_.start_all();
    for (Machine& m : driver_.machines()) m.connect();
    out_ << fmt::format("every machine is up after {}\n", seconds(Clock::now() - t0));
  } else {
    Machine& m = target(name);
    m.connect();
    out_ << fmt::format("{} is up after {}\n", m.name(), seconds(Clock::now() - t0));
  }
}

void Repl::command(std::string_view name, std::string_view rest) {
  if (name == "help" || name == "h" || name == "?") {
    out_ << help_text;
  } else if (name == "machines") {
    for (Machine& m : driver_.machines())
      out_ << fmt::format("{} {} ({}){}\n", m.name() == current_ ? "*" : " ", m.name(), m.backend(),
                          m.is_up() ? ": up" : "");
  } else if (name == "use") {
    if (rest.empty()) throw std::invalid_argument(":use needs a machine name");
    current_ = driver_.machine(rest).name();
  } else if (name == "on") {
    const auto [machine, cmd] = split_word(rest);
    if (machine.empty() || cmd.empty())
      throw std::invalid_argument(":on needs a machine name and a command");
    execute(driver_.machine(machine), cmd);
  } else if (name == "start") {
    start(rest);
  } else if (name == "shutdown") {
    Machine& m = target(rest);
    m.shutdown();
    out_ << fmt::format("{} is off\n", m.name());
  } else if (name == "crash") {
    Machine& m = target(rest);
    m.crash();
    out_ << fmt::format("{} is off (power loss)\n", m.name());
  } else if (name == "screenshot") {
    if (rest.empty()) throw std::invalid_argument(":screenshot needs a name for the image");
    out_ << target("").screenshot(rest).string() << '\n';
  } else if (name == "snapshot") {
    if (rest.empty()) throw std::invalid_argument(":snapshot needs a snapshot name");
    target("").snapshot_create(rest);
    out_ << fmt::format("saved snapshot '{}' of {}\n", rest, current_);
  } else if (name == "restore") {
    if (rest.empty()) throw std::invalid_argument(":restore needs a snapshot name");
    const auto t0 = Clock::now();
    target("").snapshot_restore(rest);
    out_ << fmt::format("{} is back at snapshot '{}' ({})\n", current_, rest,
                        seconds(Clock::now() - t0));
  } else if (name == "serial") {
    if (rest == "on")
      driver_.serial_stdout_on();
    else if (rest == "off")
      driver_.serial_stdout_off();
    else
      throw std::invalid_argument(":serial takes 'on' or 'off'");
  } else if (name == "timeout") {
    timeout_ = parse_timeout(rest);
  } else {
    throw std::invalid_argument(fmt::format("unknown command ':{}' (':help' lists them)", name));
  }
}

bool Repl::run_line(std::string_view line) {
  const std::string_view text = trim(line);
  if (text.empty() || text.front() == '#') return true;
  try {
    if (text.front() == ':') {
      const auto [name, rest] = split_word(text.substr(1));
      if (name == "quit" || name == "q" || name == "exit") return false;
      command(name, rest);
    } else {
      execute(target(""), text);
    }
  } catch (const Error& e) {
    out_ << "error: " << e.what() << '\n';
  } catch (const std::invalid_argument& e) {
    out_ << "error: " << e.what() << '\n';
  } catch (const std::exception& e) {
    // Whatever else went wrong (a broken connection, a file system error): the session goes on.
    out_ << "error: " << e.what() << '\n';
  }
  out_ << std::flush;
  return true;
}

namespace {

/// Reads lines from the terminal with libedit (line editing, history kept in a file), or plainly
/// from a pipe or file.
class LineReader {
 public:
  explicit LineReader(fs::path history) : history_(std::move(history)) {
#ifdef ATTEST_HAVE_LIBEDIT
    editing_ = ::isatty(STDIN_FILENO) == 1;
    if (editing_) {
      ::using_history();
      std::error_code ec;
      fs::create_directories(history_.parent_path(), ec);
      ::read_history(history_.c_str());
    }
#endif
  }
  ~LineReader() {
#ifdef ATTEST_HAVE_LIBEDIT
    if (editing_) {
      ::write_history(history_.c_str());
      ::history_truncate_file(history_.c_str(), 1000);
    }
#endif
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line, or false at the end of input.
  bool read(const std::string& prompt, std::string& line) {
#ifdef ATTEST_HAVE_LIBEDIT
    if (editing_) {
      char* got = ::readline(prompt.c_str());
      if (got == nullptr) {
        std::cout << '\n';
        return false;
      }
      line = got;
      std::free(got);
      if (!trim(line).empty()) ::add_history(line.c_str());
      return true;
    }
#endif
    if (::isatty(STDIN_FILENO) == 1) std::cout << prompt << std::flush;
    return static_cast<bool>(std::getline(std::cin, line));
  }

 private:
  fs::path history_;
  bool editing_ = false;
};

fs::path default_history() {
  if (const char* v = std::getenv("XDG_STATE_HOME"); v != nullptr && *v != '\0')
    return fs::path(v) / "attest" / "shell_history";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return fs::path(home) / ".local" / "state" / "attest" / "shell_history";
  return ".attest_shell_history";
}

}  // namespace

int run_shell(const ShellOptions& options) {
  auto& log = detail::Log::get();
  // The prompt is the interface: the driver's own progress lines only with --verbose.
  if (!options.verbose && log.level() < detail::LogLevel::warning)
    log.set_level(detail::LogLevel::warning);
  DriverOptions driver_options;
  driver_options.output_dir = options.output_dir;
  driver_options.keep_machine_state = options.keep_machine_state;
  Driver driver(options.config, driver_options);
  driver.serial_stdout_off();
  Repl repl(driver, std::cout);
  std::cout << fmt::format("attest shell: {} machine{} from {} (':help' for help)\n",
                           driver.machines().size(), driver.machines().size() == 1 ? "" : "s",
                           options.config.string());
  if (options.start_all) repl.run_line(":start all");
  LineReader reader(options.history.empty() ? default_history() : options.history);
  std::string line;
  while (reader.read(repl.prompt(), line))
    if (!repl.run_line(line)) break;
  std::cout << "halting the machines\n" << std::flush;
  return 0;
}

}  // namespace attest::cli
