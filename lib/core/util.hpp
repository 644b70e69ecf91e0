// Internal: small host-side helpers of the facade.
#pragma once

#include <filesystem>
#include <regex>
#include <string>
#include <string_view>

namespace attest::detail {

/// `s` without leading and trailing spaces, tabs and line ends.
inline std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

/// What to do about a unix socket path over the 107-byte limit (the state directory's base is
/// $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp).
inline constexpr const char* socket_path_hint =
    "give the machine a shorter name, or point XDG_RUNTIME_DIR (used first) or TMPDIR at a "
    "shorter directory";

/// Appended to a failed command's exit status 127 in messages.
inline constexpr const char* missing_program_note =
    ": a program it runs is not installed in the guest";

/// Compiles an ECMAScript regular expression given to a machine operation.
/// Throws: Error naming the machine, the operation and what is wrong with the expression.
std::regex compile_regex(const std::string& regex, const std::string& machine,
                         const std::string& operation);

/// Standard base64 (RFC 4648) with padding.
std::string base64_encode(std::string_view bytes);

/// Extracts a tar archive held in memory into `dir` with the host's tar.
/// Throws: Error naming the machine and operation.
void extract_tar(const std::string& archive, const std::filesystem::path& dir,
                 const std::string& machine, const std::string& operation);

/// Archives `source` (a file or a directory, recursively) with the host's tar, entries owned by
/// root, and returns the archive; `scratch` is a directory for the temporary file.
/// Throws: Error naming the machine and operation.
std::string create_tar(const std::filesystem::path& source, const std::filesystem::path& scratch,
                       const std::string& machine, const std::string& operation);

/// The guest command that moves the staged copy `staged` to `target` as `cp -r` would (into an
/// existing directory `target`, else as `target`; parents made), keeping mode bits and making
/// root the owner.
std::string place_copy_command(std::string_view staged, std::string_view target);

}  // namespace attest::detail
