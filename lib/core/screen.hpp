// Internal: the pure parts of the screen, tty and X operations (lib/core/machine_screen.cpp):
// where a screenshot goes, the guest commands that read a virtual console or the X server's
// state, and the parsing of their output. Unit-tested without a VM.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace attest::detail {

/// Where screenshot(`name`) writes, by NixOS's rules: ".png" is appended when `name` has no '.',
/// and the file lies in `output_dir` when `name` has no '/' (else `name` is taken as it is,
/// relative to the working directory).
std::filesystem::path screenshot_path(std::string_view name,
                                      const std::filesystem::path& output_dir);

/// The guest command printing virtual console `tty`'s text folded at the console's width.
std::string tty_text_command(int tty);

/// The guest command that succeeds once the X server runs, and otherwise prints what is still
/// missing (NixOS wait_for_x's two checks).
std::string x_ready_command();

/// The window names in `xwininfo -root -tree` output: on each line, the quoted name after the
/// last window id (`0x1e00001 "xterm": ("xterm" "XTerm") ...` → xterm); unnamed windows skipped.
std::vector<std::string> parse_window_names(std::string_view xwininfo_output);

}  // namespace attest::detail
