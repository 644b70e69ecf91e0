// The value checks of image specs (spec_check.hpp). Each is as strict as the tool that will take
// the value in the builder (apt, useradd, systemd, dpkg), so that a spec that loads does not fail
// minutes into a build for a typo.
#include "image/spec_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace attest::image {
namespace {

bool lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool letter_or_digit(char c) { return lower_or_digit(c) || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

/// A line of a unit file as a message shows it: quoted, and cut when long.
std::string shown(std::string_view line) {
  constexpr std::size_t max = 60;
  if (line.size() <= max) return fmt::format("\"{}\"", line);
  return fmt::format("\"{}...\"", line.substr(0, max));
}

std::optional<std::string> version_problem(std::string_view package, std::string_view version) {
  if (version.empty()) return fmt::format("'{}' has an empty version after '='", package);
  // [EPOCH:]UPSTREAM[-REVISION]: the epoch is a number, the upstream version starts with a digit.
  std::string_view upstream = version;
  if (const auto colon = version.find(':'); colon != std::string_view::npos) {
    const auto epoch = version.substr(0, colon);
    if (epoch.empty() || !std::all_of(epoch.begin(), epoch.end(), digit))
      upstream = {};
    else
      upstream = version.substr(colon + 1);
  }
  const bool chars_ok = std::all_of(version.begin(), version.end(), [](char c) {
    return letter_or_digit(c) || std::strchr(".+~-:", c) != nullptr;
  });
  if (!chars_ok || upstream.empty() || !digit(upstream.front()))
    return fmt::format(
        "'{}' has an invalid version '{}' (a version starts with a digit, after an optional "
        "'EPOCH:', and has letters, digits, '.', '+', '~', '-' or ':')",
        package, version);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> package_problem(std::string_view package) {
  if (package.empty()) return "expected a package name, got an empty string";
  const auto eq = package.find('=');
  const auto name = package.substr(0, eq);
  const bool ok = name.size() >= 2 && lower_or_digit(name.front()) &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return lower_or_digit(c) || c == '+' || c == '-' || c == '.';
                  });
  if (!ok)
    return fmt::format(
        "'{}' is not a valid package name (Debian's names have at least 2 of a-z, 0-9, '+', "
        "'-' and '.', and start with a letter or digit; a version may follow as '=VERSION')",
        package);
  if (eq != std::string_view::npos) return version_problem(package, package.substr(eq + 1));
  return std::nullopt;
}

std::optional<std::string> account_name_problem(std::string_view name, std::string_view what) {
  const bool ok = !name.empty() && name.size() <= 32 &&
                  ((name.front() >= 'a' && name.front() <= 'z') || name.front() == '_') &&
                  std::all_of(name.begin(), name.end(),
                              [](char c) { return lower_or_digit(c) || c == '_' || c == '-'; });
  if (ok) return std::nullopt;
  return fmt::format(
      "'{}' is not a valid {} (a name is a lowercase letter or '_', then lowercase letters, "
      "digits, '_' or '-'; 32 characters at most)",
      name, what);
}

std::optional<std::string> unit_name_problem(std::string_view name) {
  static constexpr std::array<std::string_view, 9> suffixes = {".service",   ".socket", ".timer",
                                                               ".target",    ".path",   ".mount",
                                                               ".automount", ".slice",  ".scope"};
  // systemd's unit name characters (unit-name.c's VALID_CHARS_WITH_AT), 255 bytes at most.
  const bool chars_ok =
      !name.empty() && name.size() <= 255 && std::all_of(name.begin(), name.end(), [](char c) {
        return letter_or_digit(c) || std::strchr(":-_.\\@", c) != nullptr;
      });
  if (!chars_ok)
    return fmt::format(
        "'{}' is not a valid unit name (letters, digits, ':', '-', '_', '.', '\\' and '@'; 255 "
        "characters at most)",
        name);
  for (const auto suffix : suffixes)
    if (name.size() > suffix.size() && name.ends_with(suffix)) return std::nullopt;
  std::string list;
  for (const auto suffix : suffixes) list += fmt::format("{}{}", list.empty() ? "" : " ", suffix);
  return fmt::format("'{}' does not end in a unit type ({})", name, list);
}

std::optional<std::string> unit_file_problem(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fmt::format("cannot read {}: {}", file.string(), std::strerror(errno));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  bool in_section = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto at = fmt::format("{}:{}: ", file.string(), i + 1);
    const auto line = trim(lines[i]);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      const bool closed = line.size() >= 3 && line.back() == ']';
      if (!closed || line.substr(1, line.size() - 2).find_first_of("[]") != std::string_view::npos)
        return at + fmt::format("{} is not a [Section] header", shown(line));
      in_section = true;
      continue;
    }
    if (!in_section) return at + fmt::format("{} comes before any [Section] header", shown(line));
    const auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return at + fmt::format("expected a [Section] header, Key=Value or a comment, got {}",
                              shown(line));
    const auto key = trim(line.substr(0, eq));
    const bool key_ok = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
      return letter_or_digit(c) || c == '-' || c == '_' || c == '.';
    });
    if (!key_ok)
      return at + fmt::format("'{}' is not a key (letters, digits, '-', '_' or '.')", key);
    // A value ending in a backslash goes on in the next line, whatever that line holds.
    while (i + 1 < lines.size() && trim(lines[i]).ends_with('\\')) ++i;
  }
  return std::nullopt;
}

std::optional<std::string> deb_problem(const std::filesystem::path& file) {
  if (file.extension() != ".deb")
    return fmt::format("{} is not a .deb file (its name must end in .deb)", file.string());
  // "!<arch>\n", then the first member's header, whose name field starts with "debian-binary".
  constexpr std::string_view magic = "!<arch>\ndebian-binary";
  std::ifstream in(file, std::ios::binary);
  std::string head(magic.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (!in || head != magic)
    return fmt::format(
        "{} is not a Debian package (it does not start as an ar archive holding debian-binary)",
        file.string());
  return std::nullopt;
}

}  // namespace attest::image
