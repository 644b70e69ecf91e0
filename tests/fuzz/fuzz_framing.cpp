// Fuzz target: the shell protocol's framing (lib/shell/framing.hpp). The input is the byte
// stream a guest sends. A Response fed it whole, in chunks, and through prepare()/commit() must
// reach what a model over the whole buffer says (std::string_view::find on the end marker and
// the closed sentinel), whatever the read boundaries; BannerSearch, RouteSearch and StreamSearch
// must find what find() finds.
#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "fuzz.hpp"
#include "shell/framing.hpp"

namespace attest::shell {
namespace {

using fuzz::check;

const Nonce nonce{"0123456789ab", "cdef01234567"};
const Nonce session{"a1b2c3d4e5f6", "0f1e2d3c4b5a"};
const Nonce route{"fedcba987654", "3210fedcba98"};

/// What a response ends as, and after how many of the stream's bytes.
struct Outcome {
  Response::State state = Response::State::reading;
  int status = -1;
  bool strays = false;
  std::string output;
  /// What came after the end marker's line, among the bytes fed.
  std::string leftover;
  /// How many bytes were fed until the state left `reading` (all of them otherwise).
  std::size_t fed = 0;
  std::size_t received = 0;
};

/// The protocol over the whole stream: the first of the end marker and the closed sentinel wins;
/// after the marker come one to three decimal digits (0..255), a `+` when background processes
/// outlived the command, and a line end.
Outcome model(std::string_view in) {
  Outcome o;
  o.fed = in.size();
  const std::string marker = end_marker(nonce);
  const auto m = in.find(marker);
  const auto c = in.find(closed_sentinel(session));
  if (c != std::string_view::npos && (m == std::string_view::npos || c < m)) {
    o.state = Response::State::closed;
    o.fed = c + closed_sentinel(session).size();
    return o;
  }
  if (m == std::string_view::npos) return o;
  const std::size_t digits = m + marker.size();
  const auto nl = in.find('\n', digits);
  const std::string_view text = in.substr(digits, nl == std::string_view::npos ? nl : nl - digits);
  if (nl == std::string_view::npos) {
    if (text.size() > 4) {
      o.state = Response::State::malformed;
      o.fed = digits + 5;
    }
    return o;
  }
  const bool plus = text.ends_with('+');
  const std::string_view number = plus ? text.substr(0, text.size() - 1) : text;
  const bool numeric =
      !number.empty() && number.size() <= 3 &&
      std::all_of(number.begin(), number.end(), [](char d) { return d >= '0' && d <= '9'; });
  int status = 0;
  if (numeric) std::from_chars(number.data(), number.data() + number.size(), status);
  o.fed = nl + 1;
  if (!numeric || status > 255) {
    o.state = Response::State::malformed;
    // Malformed as soon as a fifth byte arrives without a line end.
    if (text.size() > 4) o.fed = digits + 5;
    return o;
  }
  o.state = Response::State::done;
  o.status = status;
  o.strays = plus;
  o.output = std::string(in.substr(0, m));
  o.leftover = std::string(in.substr(nl + 1));
  return o;
}

Outcome result(Response& r, std::size_t fed) {
  Outcome o;
  o.state = r.state();
  o.fed = fed;
  o.received = r.bytes();
  check(r.bytes() == fed, "Response::bytes() counts every byte fed");
  if (o.state == Response::State::done) {
    o.status = r.status();
    o.strays = r.strays();
    o.leftover = std::string(r.leftover());
    o.output = r.take_output();
  }
  return o;
}

Outcome by_feed(std::string_view in, bool chunked) {
  Response r(nonce, session);
  std::size_t fed = 0;
  for (std::string_view chunk : chunked ? fuzz::split(in, 1) : std::vector{in}) {
    if (r.state() != Response::State::reading) break;
    r.feed(chunk);
    fed += chunk.size();
    const std::string_view tail = r.received_tail();
    check(tail.size() == std::min<std::size_t>(fed, 200) && in.substr(0, fed).ends_with(tail),
          "received_tail() is the end of what was received");
  }
  return result(r, fed);
}

Outcome by_prepare_commit(std::string_view in) {
  Response r(nonce, session);
  fuzz::Choices choices(in, 2);
  std::size_t fed = 0;
  while (fed < in.size() && r.state() == Response::State::reading) {
    const std::size_t min = 1 + choices.next() % 70000;
    char* region = r.prepare(min);
    check(r.capacity_left() >= min, "prepare(min) leaves at least min bytes");
    const std::size_t n = std::min({choices.chunk(in.size() - fed), r.capacity_left()});
    std::copy_n(in.data() + fed, n, region);
    r.commit(n);
    fed += n;
  }
  return result(r, fed);
}

void check_response(std::string_view in) {
  const Outcome want = model(in);
  const Outcome whole = by_feed(in, false);
  check(whole.state == want.state, "one feed() reaches the model's state");
  check(whole.status == want.status, "one feed() reads the model's status");
  check(whole.strays == want.strays, "one feed() reads the model's `+`");
  check(whole.output == want.output, "the output is every byte before the end marker");
  check(whole.leftover == want.leftover, "leftover() is every byte after the marker's line");
  if (whole.state == Response::State::done)
    check(whole.status >= 0 && whole.status <= 255 && in.starts_with(whole.output),
          "a done response has a status 0..255 and its output is a prefix of the stream");
  for (const Outcome& split : {by_feed(in, true), by_prepare_commit(in)}) {
    check(split.state == want.state, "the read boundaries do not change the state");
    check(split.status == want.status, "the read boundaries do not change the status");
    check(split.strays == want.strays, "the read boundaries do not change the `+`");
    check(split.output == want.output, "the read boundaries do not change the output");
    check(split.fed >= want.fed || split.state == Response::State::reading,
          "the state does not change before the bytes that decide it");
    // Bytes after the marker's line are either in leftover() or were never fed: none is lost.
    if (split.state == Response::State::done)
      check(split.leftover + std::string(in.substr(split.fed)) == want.leftover,
            "leftover() and the unread bytes are every byte after the marker's line");
  }
}

void check_banner(std::string_view in) {
  const auto p = in.find(banner);
  BannerSearch search;
  std::size_t fed = 0;
  for (std::string_view chunk : fuzz::split(in, 3)) {
    const bool seen = search.feed(chunk);
    fed += chunk.size();
    check(seen == (p != std::string_view::npos && p + banner.size() <= fed),
          "BannerSearch sees the banner exactly when its last byte has arrived");
  }
  check(search.seen() == in, "BannerSearch::seen() is what was fed");
  const std::string_view after = search.after();
  if (p == std::string_view::npos) {
    check(after.empty(), "no banner, no after()");
    return;
  }
  const std::size_t end = p + banner.size();
  const auto nl = in.find('\n', end);
  check(in.ends_with(after) && after.size() <= in.size() - end,
        "after() is the stream's end after the banner");
  if (nl != std::string_view::npos)
    check(after.size() >= in.size() - (nl + 1), "after() holds every byte after the banner's line");
}

void check_route(std::string_view in) {
  const std::string pattern = route.joined() + ' ';
  const auto p = in.find(pattern);
  const auto nl = p == std::string_view::npos ? p : in.find('\n', p + pattern.size());
  RouteSearch search(route);
  std::size_t fed = 0;
  for (std::string_view chunk : fuzz::split(in, 4)) {
    const bool found = search.feed(chunk);
    fed += chunk.size();
    check(found == (nl != std::string_view::npos && nl < fed),
          "RouteSearch finds the route line exactly when its line end has arrived");
  }
  if (nl == std::string_view::npos) return;
  check(search.device() == in.substr(p + pattern.size(), nl - p - pattern.size()),
        "the device is the rest of the route line");
  check(search.after() == in.substr(nl + 1), "RouteSearch::after() is what follows the line");
}

void check_stream_search(std::string_view in) {
  if (in.size() < 2) return;
  const std::size_t length = 1 + static_cast<unsigned char>(in[0]) % 12;
  const std::string_view pattern = in.substr(1, length);
  const std::string_view haystack = in.substr(1 + pattern.size());
  StreamSearch search{std::string(pattern)};
  std::size_t fed = 0;
  for (std::string_view chunk : fuzz::split(haystack, 5)) {
    fed += chunk.size();
    const std::string_view buffer = haystack.substr(0, fed);
    const auto at = search.find(buffer);
    check(at == buffer.find(pattern), "StreamSearch finds the first match find() finds");
    if (at != std::string_view::npos) return;
  }
}

}  // namespace
}  // namespace attest::shell

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = attest::fuzz::as_text(data, size);
  attest::shell::check_response(in);
  attest::shell::check_banner(in);
  attest::shell::check_route(in);
  attest::shell::check_stream_search(in);
  return 0;
}
