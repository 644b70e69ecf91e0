// attest/script.hpp (optional): the small helpers a test script needs that std lacks in one
// call, named after the Python a NixOS testScript uses (`out.strip()`, `out.splitlines()`,
// `re.search(...)`, f-strings), so that a ported test stays short. Only std is included.
//
//   using namespace attest::script;
//   auto lines = splitlines(strip(m.succeed("ls /etc")));
//   if (auto v = re_search(R"(nginx/(?P<version>[\d.]+))", m.succeed("nginx -v 2>&1")))
//     m.log(format("nginx {}", v->group("version")));
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace attest::script {

namespace detail {
inline constexpr std::string_view spaces = " \t\n\r\v\f";
/// A string type (not merely convertible to one, as a JSON value is).
template <class C>
concept Text =
    std::is_same_v<std::decay_t<C>, std::string> ||
    std::is_same_v<std::decay_t<C>, std::string_view> || std::is_same_v < std::decay_t<C>,
const char* > || std::is_same_v<std::decay_t<C>, char*>;

/// A std::vector, which Python indexes from the end with negative numbers.
template <class C>
concept Vector = std::is_same_v<C, std::vector<typename C::value_type>>;

/// A value as Python's str() shows it: text as it is (a JSON string too, without quotes),
/// anything else as `operator<<` writes it.
template <class T>
std::string text(const T& v) {
  if constexpr (Text<T>) {
    return std::string(v);
  } else {
    if constexpr (requires {
                    v.is_string();
                    v.template get<std::string>();
                  })
      if (v.is_string()) return v.template get<std::string>();
    std::ostringstream s;
    s << v;
    return std::move(s).str();
  }
}
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

/// Python's `x in items` for a list (an element equal to `x`), a map or a JSON object (a key).
template <class R, class T>
requires(!detail::Text<R>) bool contains(const R& items, const T& x) {
  // Generic, so that its body exists only for the kinds of `items` that use it.
  const auto has_element = [&x](const auto& range) {
    for (const auto& item : range)
      if (item == x) return true;
    return false;
  };
  if constexpr (requires {
                  items.is_object();
                  items.contains(x);
                })
    return items.is_object() ? items.contains(x) : has_element(items);
  else if constexpr (requires {
                       typename R::key_type;
                       items.find(x);
                     })
    return items.find(x) != items.end();
  else
    return has_element(items);
}

/// Python's `str(x)`.
template <class T>
std::string str(const T& x) {
  return detail::text(x);
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

/// Python's `s.startswith(prefix)`.
inline bool startswith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// Python's `s.endswith(suffix)`.
inline bool endswith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// Python's `s.replace(old, new)`: every occurrence of `old` (not empty) replaced.
/// Throws: std::invalid_argument for an empty `old`.
inline std::string replace(std::string_view s, std::string_view old, std::string_view with) {
  if (old.empty()) throw std::invalid_argument("attest::script::replace: empty pattern");
  std::string out;
  std::size_t from = 0;
  for (auto at = s.find(old); at != std::string_view::npos; at = s.find(old, from)) {
    out.append(s.substr(from, at - from)).append(with);
    from = at + old.size();
  }
  return out.append(s.substr(from));
}

/// Python's `s.lower()` and `s.upper()`, for ASCII letters.
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}
inline std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

/// Python's `s.count(sub)`: the non-overlapping occurrences of `sub` (not empty).
/// Throws: std::invalid_argument for an empty `sub`.
inline long count(std::string_view s, std::string_view sub) {
  if (sub.empty()) throw std::invalid_argument("attest::script::count: empty pattern");
  long n = 0;
  for (auto at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size())) ++n;
  return n;
}

/// Python's `len(x)`, as a signed number so that it compares with literals without warnings.
template <class C>
long len(const C& c) {
  return static_cast<long>(std::size(c));
}

namespace detail {
/// A Python index (negative counts from the end) into `size` items. Throws: std::out_of_range.
inline std::size_t index(long i, std::size_t size) {
  const long n = static_cast<long>(size);
  if (i < -n || i >= n)
    throw std::out_of_range("attest::script: index " + std::to_string(i) +
                            " out of range for a length of " + std::to_string(n));
  return static_cast<std::size_t>(i < 0 ? i + n : i);
}
/// Python's slice bounds `[lo:hi]` of `size` items as [first, last).
inline std::pair<std::size_t, std::size_t> bounds(std::optional<long> lo, std::optional<long> hi,
                                                  std::size_t size) {
  const long n = static_cast<long>(size);
  const auto clamp = [n](long v) { return v < 0 ? std::max(0L, v + n) : std::min(v, n); };
  const long first = lo ? clamp(*lo) : 0;
  const long last = hi ? clamp(*hi) : n;
  return {static_cast<std::size_t>(first), static_cast<std::size_t>(std::max(first, last))};
}
}  // namespace detail

/// Python's `s[i]` for a string (one character, as a string) and `v[i]` for a vector; a
/// negative `i` counts from the end. Throws: std::out_of_range, as Python raises IndexError.
inline std::string at(std::string_view s, long i) {
  return std::string(1, s[detail::index(i, s.size())]);
}
template <class T>
const T& at(const std::vector<T>& v, long i) {
  return v[detail::index(i, v.size())];
}
/// `c[key]` of anything else with a throwing `at` (std::map, a JSON value): Python's KeyError.
template <class C, class K>
requires(!detail::Text<C> && !detail::Vector<C>) decltype(auto) at(const C& c, const K& key) {
  return c.at(key);
}

/// Python's `s[lo:hi]` and `v[lo:hi]`: a missing bound is std::nullopt; negative bounds count
/// from the end; out-of-range bounds are clamped, as in Python.
inline std::string slice(std::string_view s, std::optional<long> lo, std::optional<long> hi) {
  const auto [first, last] = detail::bounds(lo, hi, s.size());
  return std::string(s.substr(first, last - first));
}
template <class T>
std::vector<T> slice(const std::vector<T>& v, std::optional<long> lo, std::optional<long> hi) {
  const auto [first, last] = detail::bounds(lo, hi, v.size());
  return std::vector<T>(v.begin() + static_cast<long>(first), v.begin() + static_cast<long>(last));
}

/// Python's `int(s)` of a string: a decimal number, white space around it allowed.
/// Throws: std::invalid_argument naming the text, as Python raises ValueError.
inline long to_int(std::string_view s) {
  const auto t = strip(s);
  std::size_t used = 0;
  long value = 0;
  try {
    value = std::stol(t, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (t.empty() || used != t.size())
    throw std::invalid_argument("attest::script::to_int: not a whole number: \"" + std::string(s) +
                                "\"");
  return value;
}

/// Python's truth of a value: a string or container is true when not empty, an optional when
/// it holds a value, a number when it is not zero.
template <class T>
bool truthy(const T& v) {
  if constexpr (detail::Text<T>)
    return !std::string_view(v).empty();
  else if constexpr (requires { v.has_value(); })
    return v.has_value();
  else if constexpr (requires { std::empty(v); })
    return !std::empty(v);
  else
    return static_cast<bool>(v);
}

/// Python's list comprehension `[f(x) for x in items]`.
template <class R, class F>
auto collect(const R& items, F f) {
  std::vector<std::decay_t<decltype(f(*std::begin(items)))>> out;
  for (const auto& x : items) out.push_back(f(x));
  return out;
}
/// Python's `[f(x) for x in items if keep(x)]`.
template <class R, class F, class P>
auto collect(const R& items, F f, P keep) {
  std::vector<std::decay_t<decltype(f(*std::begin(items)))>> out;
  for (const auto& x : items)
    if (keep(x)) out.push_back(f(x));
  return out;
}

/// Python's `"... {} ...".format(a, b)` and f-strings' `{}` fields: each `{}` takes the next
/// argument as str() shows it; `{{` and `}}` are braces. Format specifications
/// (`{:.2f}`) are not supported: use std::ostringstream or {fmt} for those.
/// Throws: std::invalid_argument for a specification, an unmatched brace or a wrong count.
template <class... Args>
std::string format(std::string_view pattern, const Args&... args) {
  std::vector<std::string> values;
  values.reserve(sizeof...(Args));
  ([&] { values.push_back(detail::text(args)); }(), ...);
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
inline std::pair<std::string, std::map<std::string, std::size_t>> python_regex(
    std::string_view p, bool dotall = false) {
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
    if (c == '.' && dotall) {
      out += "[\\s\\S]";  // re.DOTALL: any character, a newline too
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

inline std::optional<Match> search(std::string_view pattern, std::string_view text, bool anchored,
                                   unsigned flags = 0) {
  auto [ecma, names] = python_regex(pattern, (flags & 4U) != 0);
  auto syntax = std::regex::ECMAScript;
  if ((flags & 1U) != 0) syntax |= std::regex::icase;
  if ((flags & 2U) != 0) syntax |= std::regex::multiline;
  std::regex re;
  try {
    re = std::regex(ecma, syntax);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("attest::script: invalid regular expression \"" +
                                std::string(pattern) + "\": " + e.what());
  }
  std::match_results<std::string_view::const_iterator> m;
  const auto how =
      anchored ? std::regex_constants::match_continuous : std::regex_constants::match_default;
  if (!std::regex_search(text.begin(), text.end(), m, re, how)) return std::nullopt;
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

/// Python's `re` flags for re_search and re_match: `re::dotall | re::multiline`.
namespace re {
enum Flags : unsigned { ignorecase = 1U, multiline = 2U, dotall = 4U };
constexpr Flags operator|(Flags a, Flags b) {
  return static_cast<Flags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
}  // namespace re

/// Python's `re.search(pattern, text, flags=re.DOTALL | ...)`: `.` also matches a newline
/// (dotall), `^` and `$` match at each line (multiline), letters match either case (ignorecase).
inline std::optional<Match> re_search(std::string_view pattern, std::string_view text,
                                      re::Flags flags) {
  return detail::search(pattern, text, false, flags);
}

/// Python's `re.match(pattern, text)`: a match at the start of `text`, or nothing.
inline std::optional<Match> re_match(std::string_view pattern, std::string_view text) {
  return detail::search(pattern, text, true);
}

/// Python's `re.match(pattern, text, flags=...)`.
inline std::optional<Match> re_match(std::string_view pattern, std::string_view text,
                                     re::Flags flags) {
  return detail::search(pattern, text, true, flags);
}

/// Python's `time.monotonic()`: seconds of a steady clock.
inline double monotonic() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Python's `time.time()`: seconds since the epoch.
inline double time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Thrown where `attest port` left a statement of a Python testScript to a person.
class NotPorted : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// The placeholder `attest port` writes for a statement it did not translate (kept above it as
/// a comment): the test fails here, naming the Python line and why it was left.
/// Throws: NotPorted, always.
[[noreturn]] inline void not_ported(long line, std::string_view source, std::string_view why) {
  throw NotPorted("not ported: line " + std::to_string(line) + " of the Python testScript (" +
                  std::string(why) + "), to be written in C++ by hand: " + std::string(source));
}

/// The value of a variable (or function) whose definition `attest port` left to a person, so
/// that the statements using it still compile: any use of it fails the test like not_ported.
class Unported {
 public:
  Unported(long line, std::string_view name) : line_(line), name_(name) {}
  [[noreturn]] void fail() const {
    not_ported(line_, name_, "this name's definition was not translated");
  }
  template <class T>
  operator T() const {  // NOLINT(google-explicit-constructor): stands for any value
    fail();
  }
  Unported(const Unported&) = default;
  template <class T>
  Unported& operator=(const T&) {
    fail();
  }
  template <class... A>
  Unported operator()(A&&...) const {
    fail();
  }
  template <class K>
  Unported operator[](const K&) const {
    fail();
  }
  template <class K>
  Unported at(const K&) const {
    fail();
  }
  std::size_t size() const { fail(); }
  bool empty() const { fail(); }
  const Unported* begin() const { fail(); }
  const Unported* end() const { fail(); }
  template <class T>
  friend Unported operator+(const Unported& u, const T&) {
    u.fail();
  }
  template <class T>
  friend Unported operator+(const T&, const Unported& u) {
    u.fail();
  }
  template <class T>
  friend bool operator==(const Unported& u, const T&) {
    u.fail();
  }
  friend std::ostream& operator<<(std::ostream&, const Unported& u) { u.fail(); }

 private:
  long line_;
  std::string name_;
};

}  // namespace attest::script
