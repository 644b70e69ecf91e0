// Key names for the virtual keyboard: NixOS's character map (test_driver CHAR_TO_KEY, a US
// layout) and the split of combinations into QMP send-key's KeyValue list.
#include "core/keys.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <utility>

namespace attest::detail {

namespace {

/// Characters that are not a key's own name. Upper-case letters are shift + the letter; the
/// punctuation goes by scancode, as NixOS sends it (QEMU knows these keys by number on every
/// layout).
constexpr std::array<std::pair<char, std::string_view>, 35> char_keys{{
    {'\n', "ret"},       {' ', "spc"},        {'\t', "tab"},       {'-', "0x0C"},
    {'_', "shift-0x0C"}, {'=', "0x0D"},       {'+', "shift-0x0D"}, {'[', "0x1A"},
    {'{', "shift-0x1A"}, {']', "0x1B"},       {'}', "shift-0x1B"}, {';', "0x27"},
    {':', "shift-0x27"}, {'\'', "0x28"},      {'"', "shift-0x28"}, {'`', "0x29"},
    {'~', "shift-0x29"}, {'\\', "0x2B"},      {'|', "shift-0x2B"}, {',', "0x33"},
    {'<', "shift-0x33"}, {'.', "0x34"},       {'>', "shift-0x34"}, {'/', "0x35"},
    {'?', "shift-0x35"}, {'!', "shift-0x02"}, {'@', "shift-0x03"}, {'#', "shift-0x04"},
    {'$', "shift-0x05"}, {'%', "shift-0x06"}, {'^', "shift-0x07"}, {'&', "shift-0x08"},
    {'*', "shift-0x09"}, {'(', "shift-0x0A"}, {')', "shift-0x0B"},
}};

bool is_qcode_char(char c) {
  return std::islower(static_cast<unsigned char>(c)) ||
         std::isdigit(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

std::string key_for_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (std::islower(u) || std::isdigit(u)) return std::string(1, c);
  if (std::isupper(u)) return fmt::format("shift-{}", static_cast<char>(std::tolower(u)));
  for (const auto& [ch, key] : char_keys)
    if (ch == c) return std::string(key);
  const std::string shown = std::isprint(u) ? fmt::format("'{}' ", c) : std::string();
  throw std::invalid_argument(
      fmt::format("no key types the character {}(0x{:02x}) on the US layout", shown, u));
}

std::string normalize_key(std::string_view key) {
  if (key.size() != 1) return std::string(key);
  const auto u = static_cast<unsigned char>(key[0]);
  // A single letter or digit is its own key name; everything else goes through the map.
  if (std::islower(u) || std::isdigit(u)) return std::string(key);
  return key_for_char(key[0]);
}

std::vector<KeyPart> parse_key_combo(std::string_view combo) {
  std::vector<KeyPart> parts;
  if (combo.empty()) throw std::invalid_argument("the key name is empty");
  std::size_t start = 0;
  for (;;) {
    const auto dash = combo.find('-', start);
    const auto part = combo.substr(start, dash == std::string_view::npos ? dash : dash - start);
    if (part.empty())
      throw std::invalid_argument(fmt::format("key name '{}' has an empty part", combo));
    KeyPart k;
    if (part.size() > 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
      const auto digits = part.substr(2);
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), k.number, 16);
      if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || k.number > 0xffff)
        throw std::invalid_argument(
            fmt::format("'{}' in key name '{}' is not a scancode (0x0-0xffff)", part, combo));
      k.is_number = true;
    } else {
      for (char c : part)
        if (!is_qcode_char(c))
          throw std::invalid_argument(
              fmt::format("'{}' in key name '{}' is not a QEMU key name (lower-case letters, "
                          "digits and '_', e.g. ctrl, alt, delete, ret, spc, f1, a)",
                          part, combo));
      k.qcode = std::string(part);
    }
    parts.push_back(std::move(k));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  return parts;
}

}  // namespace attest::detail
