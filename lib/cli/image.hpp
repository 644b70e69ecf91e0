// `attest image build SPEC -o DIR` (docs/images.md): an image spec becomes a kernel, an initrd, a
// root image and a test configuration that boots them, built by the image builder
// (lib/image/builder, mmdebstrap) and kept in a cache under the image's content key.
#pragma once

#include <filesystem>
#include <string>

namespace attest::cli {

struct ImageOptions {
  std::filesystem::path spec;
  /// Where the image's files and image.json go (made if missing).
  std::filesystem::path output;
  /// Default: $XDG_CACHE_HOME/attest/images, else ~/.cache/attest/images.
  std::filesystem::path cache_dir;
  /// The image's name (its hostname, the machine's name in image.json); default: the spec file's
  /// name without .json.
  std::string name;
  /// Build even when the cache holds the image.
  bool rebuild = false;
};

/// Builds the image of `options.spec` (or finds it in the cache) and writes it to
/// `options.output`; returns the exit status (0). Throws: ConfigError for a bad spec,
/// std::runtime_error naming the step that failed.
int build_image(const ImageOptions& options);

}  // namespace attest::cli
