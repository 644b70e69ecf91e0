// Internal: the content key of an image (docs/images.md, "The cache"): one SHA-256 over the
// normalized spec, the contents of every file it names, the package versions apt resolved and the
// builder's version. The same key is the same image, so the builder reuses a cached one.
#pragma once

#include <string>
#include <string_view>

#include "image/spec.hpp"

namespace attest::image {

/// The spec as the key sees it: compact JSON with sorted keys and every default written out,
/// where each host path is replaced by the SHA-256 of what it names (a .deb's or unit file's
/// contents; for files[], the listing of its tree with modes, contents and symlink targets), so
/// that neither the spec's directory nor its layout on the host is part of it.
/// Throws: ConfigError naming the spec file and the field when a file cannot be read, or a
/// files[] directory holds something other than files, directories and symlinks.
std::string canonical_json(const ImageSpec& spec);

/// The image's key: 64 hexadecimal digits. `resolved_packages` is the builder's text of the
/// package versions apt chose (it changes when the archive does); `builder_version` changes when
/// the builder makes different images from the same inputs.
/// Throws: ConfigError, as canonical_json.
std::string content_key(const ImageSpec& spec, std::string_view resolved_packages,
                        std::string_view builder_version);

}  // namespace attest::image
