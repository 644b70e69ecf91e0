// image::build_image's cache (lib/image/build.cpp) against a builder of the test's own
// (ATTEST_IMAGE_BUILDER): which inputs make a new entry, that an entry is reused, and that a
// failed build leaves nothing behind and names its step. The real builder (mmdebstrap) is
// exercised by tests/image/check and the examples; this runs in milliseconds.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "image/build.hpp"
#include "image_fixture.hpp"
#include "scoped_env.hpp"

namespace attest::image {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_support::ScopedEnv;

/// A builder that resolves one package, records each resolution in ../resolves and each build in
/// ../builds, and fails (with a message of its own) while ../fail exists.
constexpr const char* fake_builder = R"(#!/bin/sh
here=$(dirname "$0")/..
if [ "$1" = --resolve ]; then echo resolve >> "$here/resolves"; echo "hello=2.12-1"; exit 0; fi
echo build >> "$here/builds"
if [ -e "$here/fail" ]; then echo "fake builder: the root does not fit" >&2; exit 1; fi
touch "$2/vmlinuz" "$2/initrd.img" "$2/root.erofs"
)";

class ImageBuild : public testing_support::ImageSpecDir {
 protected:
  void SetUp() override {
    ImageSpecDir::SetUp();
    const auto build = write("builder/build", fake_builder);
    fs::permissions(build, fs::perms(0755));
    builder_ = std::make_unique<ScopedEnv>("ATTEST_IMAGE_BUILDER", (dir_ / "builder").string());
    spec_ = spec(R"({"packages": ["hello"]})");
  }

  BuiltImage build(const std::string& name = "") const {
    return build_image({spec_, name, dir_ / "cache", false});
  }

  /// How many times the builder built (not resolved).
  int builds() const { return lines("builds"); }
  /// How many times the builder resolved the package versions.
  int resolves() const { return lines("resolves"); }

  int lines(const char* file) const {
    std::ifstream in(dir_ / file);
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }

  /// The names in the cache directory, sorted.
  std::vector<std::string> cache_names() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_ / "cache"))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::unique_ptr<ScopedEnv> builder_;
  fs::path spec_;
};

TEST_F(ImageBuild, TheSameInputsAreBuiltOnce) {
  const auto first = build();
  EXPECT_TRUE(fs::exists(first.dir / "root.erofs"));
  EXPECT_EQ(first.name, "spec");  // from spec.json
  const auto second = build();
  EXPECT_EQ(second.dir, first.dir);
  EXPECT_EQ(builds(), 1);
}

TEST_F(ImageBuild, TheVersionsAreResolvedOnceWhileAptsStateStays) {
  // An up-to-date check, or `attest run` and its test binary loading one configuration, runs
  // no apt-cache a second time.
  build();
  build("another-name");
  EXPECT_EQ(resolves(), 1);
  // Other packages, or another apt (its configuration, lists or dpkg's status), resolve anew.
  spec(R"({"packages": ["hello", "curl"]})");
  build();
  EXPECT_EQ(resolves(), 2);
  {
    const ScopedEnv apt("APT_CONFIG", (dir_ / "apt.conf").string());
    build();
    EXPECT_EQ(resolves(), 3);
  }
  // The cache entries of both are still there, and found.
  build();
  EXPECT_EQ(resolves(), 3);
}

TEST_F(ImageBuild, TheImageNameIsPartOfTheKey) {
  // The name is the image's hostname: a different name is a different image.
  const auto a = build("alpha");
  const auto b = build("beta");
  EXPECT_NE(a.dir, b.dir);
  EXPECT_EQ(build("alpha").dir, a.dir);
  EXPECT_EQ(builds(), 2);
}

TEST_F(ImageBuild, AChangedSpecOrBuilderFileIsANewImage) {
  const auto first = build();
  spec(R"({"packages": ["hello"], "cmdline": ["quiet"]})");
  const auto changed_spec = build();
  EXPECT_NE(changed_spec.dir, first.dir);
  write("builder/lib.sh", "# a changed builder\n");
  EXPECT_NE(build().dir, changed_spec.dir);
  EXPECT_EQ(builds(), 3);
}

TEST_F(ImageBuild, RebuildBuildsAgainIntoTheSameEntry) {
  const auto first = build();
  const auto again = build_image({spec_, "", dir_ / "cache", true});
  EXPECT_EQ(again.dir, first.dir);
  EXPECT_EQ(builds(), 2);
}

TEST_F(ImageBuild, AFailedBuildNamesItsStepAndLeavesNothing) {
  write("fail", "");
  EXPECT_THAT([&] { build(); }, ThrowsMessage<std::runtime_error>(AllOf(
                                    HasSubstr("building the image of"), HasSubstr("spec.json"))));
  // The key's lock file and the resolution's memo: no entry, no scratch directory.
  const auto names = cache_names();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_THAT(names[0], HasSubstr(".lock"));
  EXPECT_EQ(names[1], "resolved");
  // The next build, once the cause is gone, succeeds.
  fs::remove(dir_ / "fail");
  EXPECT_TRUE(fs::exists(build().dir / "vmlinuz"));
}

TEST_F(ImageBuild, AMissingBuilderSaysWhereItLooked) {
  const ScopedEnv gone("ATTEST_IMAGE_BUILDER", (dir_ / "nowhere").string());
  EXPECT_THAT([&] { build(); }, ThrowsMessage<std::runtime_error>(HasSubstr("nowhere")));
}

}  // namespace
}  // namespace attest::image
