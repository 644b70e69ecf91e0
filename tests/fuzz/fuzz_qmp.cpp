// Fuzz target: the QMP reader (lib/protocol/qmp.hpp). The input is what QEMU sends. Fed whole
// or in chunks, MessageReader must produce the same messages and the same failures in the same
// order; QmpError is the only failure allowed, every message is a JSON object, there are no more
// messages than lines, and each message survives encode_command() and a second reader.
#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include "fuzz.hpp"
#include "protocol/qmp.hpp"

namespace attest::qmp {
namespace {

using fuzz::check;

/// A message, or the text of the QmpError that took its place.
using Item = std::variant<json, std::string>;

/// Takes every complete message; a bad line is skipped after its error, as it is erased.
void drain(MessageReader& reader, std::vector<Item>& items) {
  for (;;) {
    try {
      auto msg = reader.next();
      if (!msg) return;
      check(msg->is_object(), "every message is a JSON object");
      items.emplace_back(std::move(*msg));
    } catch (const QmpError& e) {
      check(e.error_class().empty(), "a framing error has no QEMU error class");
      items.emplace_back(std::string(e.what()));
    }
  }
}

std::vector<Item> read(const std::vector<std::string_view>& chunks) {
  MessageReader reader;
  std::vector<Item> items;
  for (std::string_view chunk : chunks) {
    reader.feed(chunk);
    drain(reader, items);
  }
  return items;
}

void round_trip(const json& message, std::uint64_t id) {
  MessageReader reader;
  const std::string text = encode_command("fuzz", message, id);
  check(text.find('\n') == text.size() - 1, "an encoded command is exactly one line");
  reader.feed(text);
  const auto back = reader.next();
  check(back.has_value() && !reader.next().has_value(), "an encoded command reads as one message");
  check((*back)["execute"] == "fuzz" && (*back)["id"] == id && (*back)["arguments"] == message,
        "an encoded command reads back as what was encoded");
}

}  // namespace
}  // namespace attest::qmp

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace attest;
  const std::string_view in = fuzz::as_text(data, size);
  const auto whole = qmp::read({in});
  const auto split = qmp::read(fuzz::split(in, 1));
  fuzz::check(whole == split, "the read boundaries do not change the messages");
  fuzz::check(whole.size() <= static_cast<std::size_t>(std::count(in.begin(), in.end(), '\n')),
              "at most one message per line");
  std::uint64_t id = size;
  for (const auto& item : whole)
    if (const auto* message = std::get_if<qmp::json>(&item)) qmp::round_trip(*message, id++);
  return 0;
}
