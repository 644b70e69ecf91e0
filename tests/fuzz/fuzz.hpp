// What the fuzz targets share: the input as text, split into chunks at boundaries derived from
// the input itself (so a corpus file is a real byte stream, and every mutation also moves the
// read boundaries), and a check that turns a broken invariant into a crash libFuzzer records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace attest::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Aborts, printing what broke, when `ok` is false: libFuzzer saves the input as a crash.
inline void check(bool ok, const char* invariant) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", invariant);
  std::abort();
}

/// A deterministic stream of numbers from the input (FNV-1a, then splitmix64): the same input
/// always gives the same chunks; `salt` gives another split of the same input.
class Choices {
 public:
  Choices(std::string_view data, std::uint64_t salt) : state_(0xcbf29ce484222325ull ^ salt) {
    for (unsigned char c : data) state_ = (state_ ^ c) * 0x100000001b3ull;
  }
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// A chunk length in 1..left: mostly short (a byte, a few bytes), sometimes a page or more, as
  /// reads from a socket come.
  std::size_t chunk(std::size_t left) {
    const std::uint64_t r = next();
    static constexpr std::size_t limits[] = {1, 4, 17, 300, 5000};
    const std::size_t limit = limits[r % std::size(limits)];
    const std::size_t n = 1 + static_cast<std::size_t>((r >> 8) % limit);
    return n < left ? n : left;
  }

 private:
  std::uint64_t state_;
};

/// `data` cut into consecutive non-empty chunks that together are `data`.
inline std::vector<std::string_view> split(std::string_view data, std::uint64_t salt) {
  Choices choices(data, salt);
  std::vector<std::string_view> chunks;
  for (std::size_t at = 0; at < data.size();) {
    const std::size_t n = choices.chunk(data.size() - at);
    chunks.push_back(data.substr(at, n));
    at += n;
  }
  return chunks;
}

}  // namespace attest::fuzz
