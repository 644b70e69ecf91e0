// The boot cache's store (lib/core/boot_cache.*): publishing, finding a whole entry, removing a
// damaged one, least-recently-used collection, and the copy that shares blocks where it can.
#include "core/boot_cache.hpp"

#include <gmock/gmock.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace attest::detail {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string key_a(64, 'a');
const std::string key_b(64, 'b');

class BootCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("attest-boot-cache-" + std::to_string(::getpid()) + "-" + test->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "run");
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A file of the saving run's state directory.
  fs::path state_file(const std::string& name, const std::string& content) const {
    const auto p = dir_ / "run" / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  BootCacheManifest manifest() const {
    return {"server", "qemu", "0123456789ab0123456789ab", true, true, "attest boot key 1\n"};
  }

  /// Publishes an entry of a qcow2-looking state image and a disk under `key`.
  void publish(const BootCache& cache, const std::string& key, std::size_t size = 100) const {
    cache.publish(key, manifest(),
                  {state_file("vmstate.qcow2", "QFI\xfb" + std::string(size, 'x')),
                   state_file("disk1.qcow2", std::string("QFI\xfb") + "disk")});
  }

  fs::path dir_;
};

TEST_F(BootCacheTest, APublishedEntryIsFoundWithItsManifest) {
  const BootCache cache(dir_ / "cache");
  EXPECT_FALSE(cache.find(key_a));
  publish(cache, key_a);
  const auto entry = cache.find(key_a);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->dir, dir_ / "cache" / key_a);
  EXPECT_EQ(entry->manifest.machine, "server");
  EXPECT_EQ(entry->manifest.session_id, "0123456789ab0123456789ab");
  EXPECT_TRUE(entry->manifest.data_port);
  EXPECT_EQ(entry->files.size(), 2u);
  EXPECT_EQ(entry->bytes, 104u + 8u);
  EXPECT_EQ(read(entry->dir / "disk1.qcow2"), std::string("QFI\xfb") + "disk");
  // Nothing but the entry is left in the cache (no scratch directory).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "cache"), fs::directory_iterator()), 1);
}

TEST_F(BootCacheTest, ATruncatedEntryIsReportedAndRemoved) {
  const BootCache cache(dir_ / "cache");
  publish(cache, key_a);
  fs::resize_file(dir_ / "cache" / key_a / "vmstate.qcow2", 50);
  std::string why;
  EXPECT_FALSE(cache.find(key_a, &why));
  EXPECT_THAT(why, HasSubstr("vmstate.qcow2 has 50 bytes, not the 104"));
  EXPECT_FALSE(fs::exists(dir_ / "cache" / key_a));
  EXPECT_TRUE(cache.list().empty());
}

TEST_F(BootCacheTest, AnEntryWithoutItsManifestOrHeaderIsDamaged) {
  const BootCache cache(dir_ / "cache");
  publish(cache, key_a);
  fs::remove(dir_ / "cache" / key_a / "manifest.json");
  std::string why;
  EXPECT_FALSE(cache.find(key_a, &why));
  EXPECT_THAT(why, HasSubstr("no manifest.json"));

  publish(cache, key_b);
  std::ofstream(dir_ / "cache" / key_b / "disk1.qcow2", std::ios::binary | std::ios::in) << "XXXX";
  EXPECT_FALSE(cache.find(key_b, &why));
  EXPECT_THAT(why, HasSubstr("disk1.qcow2 is not a qcow2 image"));
}

TEST_F(BootCacheTest, TheFirstPublishedEntryOfAKeyStays) {
  // Two runs saved the same machine: the second finds the key taken and keeps the first's.
  const BootCache cache(dir_ / "cache");
  publish(cache, key_a, 10);
  publish(cache, key_a, 20);
  EXPECT_EQ(cache.find(key_a)->bytes, 14u + 8u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "cache"), fs::directory_iterator()), 1);
}

TEST_F(BootCacheTest, GcRemovesTheLeastRecentlyUsedFirst) {
  const BootCache cache(dir_ / "cache");
  publish(cache, key_a, 1000);
  publish(cache, key_b, 1000);
  // a was published first, then used last.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  cache.touch(*cache.find(key_a));
  const auto listed = cache.list();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, key_a);
  const auto removed = cache.gc(1500);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].key, key_b);
  EXPECT_TRUE(cache.find(key_a));
  EXPECT_TRUE(cache.gc(1 << 20).empty());
  EXPECT_EQ(cache.gc(0).size(), 1u);
  EXPECT_TRUE(cache.list().empty());
}

TEST_F(BootCacheTest, ClearRemovesEveryEntry) {
  const BootCache cache(dir_ / "cache");
  publish(cache, key_a);
  publish(cache, key_b);
  EXPECT_EQ(cache.clear(), 2u);
  EXPECT_TRUE(cache.list().empty());
  EXPECT_EQ(BootCache(dir_ / "nowhere").clear(), 0u);
}

TEST_F(BootCacheTest, CopyKeepsHolesAndContents) {
  const auto from = dir_ / "sparse";
  {
    std::ofstream out(from, std::ios::binary);
    out << "head";
  }
  fs::resize_file(from, 8 << 20);  // a 8 MiB hole after the head
  {
    std::ofstream out(from, std::ios::binary | std::ios::app);
    out << "tail";
  }
  const auto to = dir_ / "copy";
  copy_file_cow(from, to);
  EXPECT_EQ(fs::file_size(to), fs::file_size(from));
  const std::string copy = read(to);
  EXPECT_EQ(copy.substr(0, 4), "head");
  EXPECT_EQ(copy.substr(copy.size() - 4), "tail");
  EXPECT_EQ(copy, read(from));
  EXPECT_THROW(copy_file_cow(dir_ / "missing", to), std::runtime_error);
}

TEST_F(BootCacheTest, FileIdentityChangesWithTheFile) {
  const auto f = state_file("kernel", "one");
  const auto first = file_identity(f);
  EXPECT_THAT(first, HasSubstr(f.string() + " 3 "));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  state_file("kernel", "two");
  EXPECT_NE(file_identity(f), first);
  EXPECT_THAT(file_identity(dir_ / "none"), HasSubstr("missing"));
}

}  // namespace
}  // namespace attest::detail
