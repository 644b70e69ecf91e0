// Fuzz target: the HTTP response parser of the Firecracker/cloud-hypervisor client
// (lib/protocol/http.hpp), the same ResponseParser the client reads every answer with. The input
// is what the VMM sends on the connection, which then ends. Fed whole or in chunks, as the answer
// to a GET or a HEAD, the parser must reach the same response (or the same error: an http::Error
// with status 0, the only failure allowed); parse_response() must agree; and vmm_message() must
// never throw and must give a bounded, printable text for any body.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "protocol/http.hpp"

namespace attest::http {
namespace {

using fuzz::check;

constexpr std::string_view what = "fuzz API: GET /";

struct Outcome {
  bool ok = false;
  Response response;
  bool reusable = false;
  /// The error's message without its excerpt of the bytes received, which shows as many bytes
  /// as had arrived when the error was found.
  std::string error;

  bool operator==(const Outcome& o) const {
    return ok == o.ok && response.status == o.response.status &&
           response.reason == o.response.reason && response.body == o.response.body &&
           reusable == o.reusable && error == o.error;
  }
};

std::string error_kind(const Error& e) {
  const std::string_view message = e.what();
  check(e.status() == 0, "a parse error has no HTTP status");
  check(message.starts_with(what), "an error message starts with the request");
  return std::string(message.substr(0, message.find("received \"")));
}

bool printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

void check_vmm_message(std::string_view body) {
  const std::string message = vmm_message(body);
  // detail::excerpt's limit, an escape, and its "… (N more bytes)".
  check(message.size() <= 400 + 64, "vmm_message() is bounded");
  check(printable(message), "vmm_message() is printable");
}

Outcome read(const std::vector<std::string_view>& chunks, bool head, const error_code& end) {
  ResponseParser parser(std::string(what), head);
  Outcome o;
  try {
    bool done = false;
    // Bytes after a complete response are fed too: they make the connection unusable.
    for (std::string_view chunk : chunks) done = parser.feed(chunk) || done;
    check(done == parser.done(), "feed() returns done()");
    if (!done) parser.finish(end);
    check(parser.done(), "finish() completes the response or throws");
    o.reusable = parser.reusable();
    o.response = parser.take();
    o.ok = true;
  } catch (const Error& e) {
    o.error = error_kind(e);
  }
  return o;
}

void check_response(const Outcome& o) {
  if (!o.ok) return;
  const Response& r = o.response;
  check(r.status >= 0 && r.status <= 999, "the status has three digits");
  check(r.body.size() <= max_body, "the body is at most max_body");
  check(r.reason.find_first_of("\r\n") == std::string::npos, "the reason is one line");
  check_vmm_message(r.body);
}

}  // namespace
}  // namespace attest::http

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace attest;
  using attest::fuzz::check;
  const std::string_view in = fuzz::as_text(data, size);
  for (const bool head : {false, true}) {
    const auto whole = http::read({in}, head, asio::error::eof);
    const auto split = http::read(fuzz::split(in, head ? 2 : 1), head, asio::error::eof);
    check(whole == split, "the read boundaries do not change the response or the error");
    http::check_response(whole);
    // A connection reset instead of an orderly end: the same response if it was complete.
    const auto reset = http::read({in}, head, asio::error::connection_reset);
    if (reset.ok) check(reset == whole, "a reset after a complete response changes nothing");
  }
  http::Outcome parsed;
  try {
    parsed.response = http::parse_response(in, std::string(http::what));
    parsed.ok = true;
  } catch (const http::Error& e) {
    parsed.error = http::error_kind(e);
  }
  const auto whole = http::read({in}, false, asio::error::eof);
  check(parsed.ok == whole.ok && parsed.error == whole.error &&
            parsed.response.status == whole.response.status &&
            parsed.response.body == whole.response.body,
        "parse_response() is the parser fed the whole stream");
  http::check_vmm_message(in);
  return 0;
}
