// Internal: the guest-side systemd commands of the Machine API, as text, and the parsing of
// their output (pure, unit-tested).
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace attest::detail {

/// `systemctl ARGS` for the system manager (`user` empty), or for `user`'s manager the way
/// NixOS runs it: `su -l USER --shell /bin/sh -c 'XDG_RUNTIME_DIR=/run/user/$(id -u)
/// systemctl --user ARGS'`.
std::string systemctl_command(std::string_view args, std::string_view user);

/// `systemctl --no-pager show UNIT` (for `user`'s manager when not empty), limited to the
/// comma-separated `properties` when not empty.
std::string show_command(std::string_view unit, std::string_view properties, std::string_view user);

/// The result of show_command() as property → value. Throws CommandFailed, naming the machine,
/// the operation and the command, when systemctl failed or did not report `required` (when not
/// empty).
std::map<std::string, std::string> checked_unit_info(std::string_view machine,
                                                     std::string_view operation,
                                                     const std::string& command, int status,
                                                     std::string output,
                                                     std::string_view required = {});

/// `systemctl show` output as property → value: each `KEY=VALUE` line split at its first `=`;
/// lines without `=` are ignored.
std::map<std::string, std::string> parse_unit_info(std::string_view text);

}  // namespace attest::detail
