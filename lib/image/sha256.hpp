// Internal: SHA-256 (FIPS 180-4) for image content keys (lib/image/key.cpp). Our own, written
// from the standard, because attest links no crypto library; it is used to name cached images,
// where only collision resistance matters, never for secrets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace attest::image {

/// An incremental SHA-256: update() with the message in pieces of any size, then digest().
///
/// **Example**: `Sha256 h; h.update("ab"); h.update("c"); h.hex_digest() == sha256_hex("abc")`
class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256() noexcept;
  void update(std::string_view data) noexcept;
  void update(const void* data, std::size_t size) noexcept;
  /// The digest of everything given so far. The hash can take more data afterwards: this pads a
  /// copy of the state, so update() then digest() again gives the digest of the longer message.
  [[nodiscard]] Digest digest() const noexcept;
  /// digest() as 64 lowercase hexadecimal digits.
  [[nodiscard]] std::string hex_digest() const;

 private:
  void compress(const std::uint8_t* block) noexcept;

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_used_ = 0;
  std::uint64_t length_ = 0;  // bytes so far; the standard's length field is in bits
};

/// The SHA-256 of `data` as 64 lowercase hexadecimal digits.
std::string sha256_hex(std::string_view data);

/// The SHA-256 of a file's contents as 64 lowercase hexadecimal digits, read in pieces (a .deb
/// can be hundreds of megabytes).
/// Throws: std::filesystem::filesystem_error naming the file when it cannot be opened or read.
std::string sha256_file(const std::filesystem::path& file);

}  // namespace attest::image
