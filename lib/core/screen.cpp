// Pure helpers of the screen, tty and X operations: paths, guest commands, xwininfo parsing.
#include "core/screen.hpp"

#include <fmt/format.h>

#include <regex>

namespace attest::detail {

namespace fs = std::filesystem;

fs::path screenshot_path(std::string_view name, const fs::path& output_dir) {
  std::string file(name);
  if (file.find('.') == std::string::npos) file += ".png";
  if (file.find('/') == std::string::npos) return output_dir / file;
  return fs::path(file);
}

std::string tty_text_command(int tty) {
  // stty prints "ROWS COLS"; fold breaks /dev/vcsN's one long line at the console's width.
  return fmt::format("fold -w$(stty -F /dev/tty{0} size | awk '{{print $2}}') /dev/vcs{0}", tty);
}

std::string x_ready_command() {
  return "if ! command -v journalctl >/dev/null; then echo 'the guest has no journalctl (no "
         "systemd journal to find \"Reached target Current graphical\" in)'; exit 1; fi; "
         "if ! journalctl -b SYSLOG_IDENTIFIER=systemd | grep -q 'Reached target Current "
         "graphical'; then echo 'the journal has no \"Reached target Current graphical\" yet'; "
         "exit 1; fi; "
         "if ! [ -e /tmp/.X11-unix/X0 ]; then echo '/tmp/.X11-unix/X0 does not exist yet'; "
         "exit 1; fi";
}

std::vector<std::string> parse_window_names(std::string_view output) {
  static const std::regex named(R"re(0x[0-9a-f]* "([^"]*)")re");
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start < output.size()) {
    auto nl = output.find('\n', start);
    if (nl == std::string_view::npos) nl = output.size();
    const std::string line(output.substr(start, nl - start));
    start = nl + 1;
    // The last id followed by a quoted name, as the greedy `.*0x...` of NixOS's sed takes it.
    std::string last;
    bool found = false;
    for (std::sregex_iterator it(line.begin(), line.end(), named), end; it != end; ++it) {
      last = (*it)[1].str();
      found = true;
    }
    if (found) names.push_back(std::move(last));
  }
  return names;
}

}  // namespace attest::detail
