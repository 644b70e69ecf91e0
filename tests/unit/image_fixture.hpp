// A directory of its own for each image spec test (lib/image/), with the files a spec names:
// the tests write the spec and its files there, and the directory goes when the test ends.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace attest::testing_support {

class ImageSpecDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("attest-image-" + std::to_string(::getpid()) + "-" + test->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// Writes `content` to `relative` under the directory, making its parent directories.
  std::filesystem::path write(const std::string& relative, const std::string& content) const {
    const auto p = dir_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  /// A file that passes for a .deb: the ar archive header dpkg-deb writes, debian-binary first.
  std::filesystem::path write_deb(const std::string& relative,
                                  const std::string& version = "2.0") const {
    return write(
        relative,
        "!<arch>\ndebian-binary   0           0     0     100644  4         `\n" + version + "\n");
  }

  /// Writes the spec as spec.json.
  std::filesystem::path spec(const std::string& json) const { return write("spec.json", json); }

  std::filesystem::path dir_;
};

}  // namespace attest::testing_support
