// Internal: building an image spec into the image cache (docs/images.md, "The cache"), for
// `attest image build` and for machines of a test configuration that name an image spec: the
// spec is written as the builder's plan, keyed (the spec, its files, the package versions apt
// resolves, the builder, the image's name), and built by the image builder (lib/image/builder)
// unless the cache has that key. A build goes to a scratch directory in the cache and is
// published by one rename, under a lock per key, so concurrent builds of one key build once and
// a failed build leaves nothing behind.
#pragma once

#include <filesystem>
#include <string>

#include "attest/config.hpp"
#include "image/spec.hpp"

namespace attest::image {

struct BuildRequest {
  std::filesystem::path spec_file;
  /// The image's name (its hostname); default: image_name_of(spec_file).
  std::string name;
  /// Default: default_cache_dir().
  std::filesystem::path cache_dir;
  /// Build even when the cache holds the image.
  bool rebuild = false;
};

struct BuiltImage {
  ImageSpec spec;
  std::string name;
  /// The cache entry: vmlinuz, initrd.img and root.erofs or root.ext4. Never written again.
  std::filesystem::path dir;
};

/// Finds the image of `request` in the cache or builds it there; reports on stderr (the
/// builder's progress and its tools' messages pass through).
/// Throws: ConfigError for a bad spec (naming the file and the field); std::runtime_error naming
/// the step that failed (the tool's own message is above it on stderr).
BuiltImage build_image(const BuildRequest& request);

/// $XDG_CACHE_HOME/attest/images, else ~/.cache/attest/images.
std::filesystem::path default_cache_dir();

/// The spec file's name without `.json`, lowercased, anything but letters and digits as '-'.
std::string image_name_of(const std::filesystem::path& spec_file);

/// The kernel command line that boots an image of `spec` (its root's parameters and the spec's
/// own `cmdline` items).
std::string boot_cmdline(const ImageSpec& spec);

/// A machine's memory when it boots an image and its configuration does not say, and in the
/// image.json `attest image build` writes.
constexpr unsigned image_memory_mib = 1024;

/// Makes `machine` boot `image`: its kernel, initrd, command line (boot_cmdline) and disks (the
/// shared read-only erofs store and a fresh overlay disk of root.size_mib, or the ext4 root,
/// which the machine writes through an overlay of its own).
void boot_from(const BuiltImage& image, MachineConfig& machine);

}  // namespace attest::image
