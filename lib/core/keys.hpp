// Internal: the virtual keyboard's vocabulary. NixOS key names ("ctrl-alt-delete", "shift-a",
// "0x0C") become the key lists of QMP `send-key` (QEMU's qapi/ui.json: QKeyCode names, or raw
// scancodes as numbers), and characters become key names the way the NixOS driver's CHAR_TO_KEY
// maps them for send_chars. Pure functions, unit-tested.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attest::detail {

/// One key of a combination: a QKeyCode name, or a raw scancode (`0x..` in NixOS key names).
struct KeyPart {
  bool is_number = false;
  unsigned number = 0;  ///< the scancode when is_number
  std::string qcode;    ///< the QKeyCode name otherwise, e.g. "ctrl"
  bool operator==(const KeyPart&) const = default;
};

/// The key name that types `c` on a US layout ("A" → "shift-a", "-" → "0x0C", "\n" → "ret",
/// " " → "spc"; lower-case letters and digits name themselves; "\t" → "tab").
/// Throws: std::invalid_argument for a character no key types.
std::string key_for_char(char c);

/// A key name as send_key takes it: a single character that CHAR_TO_KEY maps is translated (as
/// NixOS does), anything else is a key name already.
std::string normalize_key(std::string_view key);

/// Splits a key name into the keys pressed together: on '-'; hex numbers (`0x0C`) become
/// scancodes, the rest QKeyCode names ("1" is the key 1, as in QEMU's HMP `sendkey`).
/// Throws: std::invalid_argument for an empty part or a name QEMU cannot know.
std::vector<KeyPart> parse_key_combo(std::string_view combo);

}  // namespace attest::detail
