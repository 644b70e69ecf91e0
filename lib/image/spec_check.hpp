// Internal: the checks of image spec values that need more than a type test (package names,
// account names, unit names and unit files, .deb headers), apart from the JSON walk in spec.cpp.
// Each returns what is wrong, to follow "field 'x': " in spec.cpp's message, or nullopt.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace attest::image {

/// A Debian package name (Debian policy, the Package field: at least two of a-z 0-9 + - .,
/// starting with a letter or digit), optionally pinned with "=VERSION" (the Version field's
/// syntax, roughly: apt resolves the pin).
std::optional<std::string> package_problem(std::string_view package);

/// A user or group name as useradd and groupadd accept it by default: a lowercase letter or '_',
/// then lowercase letters, digits, '_' or '-', 32 characters at most. `what` names the kind in
/// the message: "user name", "group name or gid".
std::optional<std::string> account_name_problem(std::string_view name, std::string_view what);

/// A systemd unit name: systemd's characters and one of the unit type suffixes.
std::optional<std::string> unit_name_problem(std::string_view name);

/// A unit file in systemd's INI syntax, read from `file`: comments ('#', ';'), [Section] headers
/// and Key=Value lines with backslash continuations, a section first. The problem names the file
/// and its line: "/x/a.service:3: ...".
std::optional<std::string> unit_file_problem(const std::filesystem::path& file);

/// A .deb: its name ends in ".deb" and it starts as dpkg-deb writes it, an ar archive whose first
/// member is debian-binary. The file is known to be a readable regular file.
std::optional<std::string> deb_problem(const std::filesystem::path& file);

}  // namespace attest::image
