// attest's own SHA-256 (lib/image/sha256.*), which names cached images: the NIST test vectors
// (FIPS 180-4's examples), the lengths around the padding's block boundary, data in pieces, and
// files read in pieces.
#include "image/sha256.hpp"

#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace attest::image {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// NIST's SHA-256 examples: "abc" is one block, the 448-bit message needs a second block for its
// length, the 896-bit one is two blocks of data.
TEST(sha256_test, nist_test_vectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                 "klmnopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(sha256_test, one_million_a_whole_and_in_pieces) {
  const std::string million(1000000, 'a');
  const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  EXPECT_EQ(sha256_hex(million), expected);
  // Pieces of 1000, and of an odd 997 bytes, which never meet a block boundary the same way.
  for (const std::size_t piece : {std::size_t{1000}, std::size_t{997}}) {
    Sha256 h;
    for (std::size_t at = 0; at < million.size(); at += piece)
      h.update(std::string_view(million).substr(at, piece));
    EXPECT_EQ(h.hex_digest(), expected) << "pieces of " << piece;
  }
}

// The padding's cases: room for the length in the last block (55), just not (56), a full block
// of data (64) and the same a block later (from Python's hashlib).
TEST(sha256_test, lengths_around_the_padding_boundary) {
  const std::pair<std::size_t, const char*> cases[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
      {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
  };
  for (const auto& [length, digest] : cases)
    EXPECT_EQ(sha256_hex(std::string(length, 'a')), digest) << length << " bytes";
}

TEST(sha256_test, any_split_of_the_data_gives_the_same_digest) {
  std::string message;
  for (int i = 0; i < 300; ++i) message += static_cast<char>(i * 7 + 3);
  const auto whole = sha256_hex(message);
  for (std::size_t split = 0; split <= message.size(); ++split) {
    Sha256 h;
    h.update(std::string_view(message).substr(0, split));
    h.update(std::string_view(message).substr(split));
    EXPECT_EQ(h.hex_digest(), whole) << "split at " << split;
  }
}

TEST(sha256_test, a_digest_does_not_end_the_hash) {
  Sha256 h;
  h.update("ab");
  const auto first = h.digest();
  EXPECT_EQ(h.digest(), first);
  h.update("c");
  EXPECT_EQ(h.hex_digest(), sha256_hex("abc"));
  const Sha256 fresh;
  EXPECT_EQ(fresh.hex_digest(), sha256_hex(""));
}

TEST(sha256_test, files_are_read_in_pieces) {
  const auto dir = fs::path(::testing::TempDir()) / ("attest-sha256-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // Larger than the 64 KiB read buffer, and not a multiple of it or of the block size.
  std::string content;
  for (int i = 0; i < 200001; ++i) content += static_cast<char>(i % 251);
  std::ofstream(dir / "big", std::ios::binary) << content;
  std::ofstream(dir / "empty", std::ios::binary).flush();
  EXPECT_EQ(sha256_file(dir / "big"), sha256_hex(content));
  EXPECT_EQ(sha256_file(dir / "empty"), sha256_hex(""));
  EXPECT_THAT(
      [&] { (void)sha256_file(dir / "missing"); },
      ::testing::ThrowsMessage<fs::filesystem_error>(HasSubstr((dir / "missing").string())));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attest::image
