// attest/script.hpp (optional): the small helpers a test script needs that std lacks in one
// call, named after the Python a NixOS testScript uses (`out.strip()`, `out.splitlines()`,
// `re.search(...)`, f-strings), so that a ported test stays short. Only std is included.
//
//   using namespace attest::script;
//   auto lines = splitlines(strip(m.succeed("ls /etc")));
//   if (auto v = re_search(R"(nginx/(?P<version>[\d.]+))", m.succeed("nginx -v 2>&1")))
//     m.log(format("nginx {}", v->group("version")));
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attest::script {

namespace detail {
inline constexpr std::string_view spaces = " \t\n\r\v\f";
}  // namespace detail

/// Python's `s.strip()`: without leading and trailing white space.
inline std::string strip(std::string_view s) {
  const auto first = s.find_first_not_of(detail::spaces);
  if (first == std::string_view::npos) return {};
  return std::string(s.substr(first, s.find_last_not_of(detail::spaces) - first + 1));
}

/// Python's `s.lstrip()`.
inline std::string lstrip(std::string_view s) {
  const auto first = s.find_first_not_of(detail::spaces);
  return first == std::string_view::npos ? std::string() : std::string(s.substr(first));
}

/// Python's `s.rstrip()`.
inline std::string rstrip(std::string_view s) {
  const auto last = s.find_last_not_of(detail::spaces);
  return last == std::string_view::npos ? std::string() : std::string(s.substr(0, last + 1));
}

/// Python's `s.split()`: the words between runs of white space (none for a blank string).
inline std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while ((i = s.find_first_not_of(detail::spaces, i)) != std::string_view::npos) {
    const auto end = s.find_first_of(detail::spaces, i);
    out.emplace_back(s.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
    i = end;
  }
  return out;
}

/// Python's `s.split(sep)`: the pieces between each `sep` (empty pieces kept).
/// Throws: std::invalid_argument for an empty `sep`, as Python raises ValueError.
inline std::vector<std::string> split(std::string_view s, std::string_view sep) {
  if (sep.empty()) throw std::invalid_argument("attest::script::split: empty separator");
  std::vector<std::string> out;
  for (std::size_t from = 0;;) {
    const auto at = s.find(sep, from);
    if (at == std::string_view::npos) {
      out.emplace_back(s.substr(from));
      return out;
    }
    out.emplace_back(s.substr(from, at - from));
    from = at + sep.size();
  }
}

/// Python's `s.splitlines()`: the lines without their line ends (`\n`, `\r\n` or `\r`); no
/// empty last line for a trailing line end.
inline std::vector<std::string> splitlines(std::string_view s) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from < s.size()) {
    const auto end = s.find_first_of("\r\n", from);
    if (end == std::string_view::npos) {
      out.emplace_back(s.substr(from));
      break;
    }
    out.emplace_back(s.substr(from, end - from));
    from = end + (s[end] == '\r' && end + 1 < s.size() && s[end + 1] == '\n' ? 2 : 1);
  }
  return out;
}

/// Python's `needle in haystack` for strings.
inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

/// Python's `sep.join(items)`.
inline std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

/// Python's `"... {} ...".format(a, b)` and f-strings' `{}` fields: each `{}` takes the next
/// argument as `operator<<` writes it; `{{` and `}}` are braces. Format specifications
/// (`{:.2f}`) are not supported: use std::ostringstream or {fmt} for those.
/// Throws: std::invalid_argument for a specification, an unmatched brace or a wrong count.
template <class... Args>
std::string format(std::string_view pattern, const Args&... args) {
  std::vector<std::string> values;
  values.reserve(sizeof...(Args));
  (
      [&] {
        std::ostringstream s;
        s << args;
        values.push_back(std::move(s).str());
      }(),
      ...);
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if ((c == '{' || c == '}') && i + 1 < pattern.size() && pattern[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '{' && i + 1 < pattern.size() && pattern[i + 1] == '}') {
      if (next == values.size())
        throw std::invalid_argument("attest::script::format: more {} than arguments in \"" +
                                    std::string(pattern) + "\"");
      out += values[next++];
      ++i;
    } else if (c == '{' || c == '}') {
      throw std::invalid_argument(
          "attest::script::format: only {} fields are supported (no specifications, no "
          "unmatched braces) in \"" +
          std::string(pattern) + "\"");
    } else {
      out += c;
    }
  }
  if (next != values.size())
    throw std::invalid_argument("attest::script::format: fewer {} than arguments in \"" +
                                std::string(pattern) + "\"");
  return out;
}

/// A match of re_search / re_match: Python's `m.group(...)`. It holds copies of the groups'
/// text, so it outlives the string searched.
class Match {
 public:
  Match(std::vector<std::string> groups, std::map<std::string, std::size_t> names,
        std::size_t start)
      : groups_(std::move(groups)), names_(std::move(names)), start_(start) {}
  /// The text of group `n` (0: the whole match; "" for a group that did not take part).
  /// Throws: std::out_of_range.
  const std::string& group(std::size_t n = 0) const {
    if (n >= groups_.size()) throw std::out_of_range("attest::script::Match: no such group");
    return groups_[n];
  }
  /// The text of the group named `name` (`(?P<name>...)`). Throws: std::out_of_range.
  const std::string& group(std::string_view name) const {
    const auto it = names_.find(std::string(name));
    if (it == names_.end())
      throw std::out_of_range("attest::script::Match: no group named '" + std::string(name) + "'");
    return group(it->second);
  }
  /// Python's `m.groups()`: every group but the whole match.
  std::vector<std::string> groups() const { return {groups_.begin() + 1, groups_.end()}; }
  /// Where the match starts in the text searched.
  std::size_t start() const noexcept { return start_; }

 private:
  std::vector<std::string> groups_;
  std::map<std::string, std::size_t> names_;
  std::size_t start_;
};

namespace detail {

/// A Python regular expression as an ECMAScript one, with its named groups' numbers.
/// Throws: std::invalid_argument naming a construct ECMAScript lacks.
inline std::pair<std::string, std::map<std::string, std::size_t>> python_regex(std::string_view p) {
  std::string out;
  std::map<std::string, std::size_t> names;
  std::size_t group = 0;
  bool in_class = false;
  const auto unsupported = [&](std::string_view what) {
    return std::invalid_argument("attest::script: the regular expression \"" + std::string(p) +
                                 "\" uses " + std::string(what) +
                                 ", which ECMAScript (std::regex) does not have");
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      if (e == 'A') {
        out += '^';
      } else if (e == 'Z') {
        out += '$';
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (in_class) {
      in_class = c != ']';
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // "[]...]": a literal ]
      continue;
    }
    if (c != '(') {
      out += c;
      continue;
    }
    const auto rest = p.substr(i);
    if (rest.substr(0, 4) == "(?P<") {
      const auto end = rest.find('>');
      if (end == std::string_view::npos) throw unsupported("an unfinished (?P<name>");
      names[std::string(rest.substr(4, end - 4))] = ++group;
      out += '(';
      i += end;
    } else if (rest.substr(0, 4) == "(?P=") {
      const auto end = rest.find(')');
      const auto it = names.find(std::string(rest.substr(4, end - 4)));
      if (end == std::string_view::npos || it == names.end())
        throw unsupported("a back reference to an unknown group");
      out += "(?:\\" + std::to_string(it->second) + ")";
      i += end;
    } else if (rest.substr(0, 3) == "(?<") {
      throw unsupported("a look-behind");
    } else if (rest.substr(0, 2) == "(?" && rest.size() > 2 && rest[2] != ':' && rest[2] != '=' &&
               rest[2] != '!') {
      throw unsupported("inline flags (use the pattern without them)");
    } else {
      if (rest.substr(0, 2) != "(?") ++group;
      out += c;
    }
  }
  return {out, names};
}

inline std::optional<Match> search(std::string_view pattern, std::string_view text, bool anchored) {
  auto [ecma, names] = python_regex(pattern);
  std::regex re;
  try {
    re = std::regex(ecma, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("attest::script: invalid regular expression \"" +
                                std::string(pattern) + "\": " + e.what());
  }
  std::match_results<std::string_view::const_iterator> m;
  const auto flags =
      anchored ? std::regex_constants::match_continuous : std::regex_constants::match_default;
  if (!std::regex_search(text.begin(), text.end(), m, re, flags)) return std::nullopt;
  std::vector<std::string> groups;
  for (const auto& g : m) groups.push_back(g.str());
  return Match(std::move(groups), std::move(names), static_cast<std::size_t>(m.position(0)));
}

}  // namespace detail

/// Python's `re.search(pattern, text)`: the first match anywhere, or nothing. `pattern` is in
/// Python's syntax as far as ECMAScript has it: `(?P<name>...)`, `(?P=name)`, `\A` and `\Z` are
/// translated; look-behind and inline flags are rejected.
/// Throws: std::invalid_argument naming what the pattern uses that cannot be translated.
inline std::optional<Match> re_search(std::string_view pattern, std::string_view text) {
  return detail::search(pattern, text, false);
}

/// Python's `re.match(pattern, text)`: a match at the start of `text`, or nothing.
inline std::optional<Match> re_match(std::string_view pattern, std::string_view text) {
  return detail::search(pattern, text, true);
}

}  // namespace attest::script
