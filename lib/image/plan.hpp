// Internal: an ImageSpec as the builder script reads it (lib/image/builder/build): a directory of
// plain files (shell assignments, one package a line, tab-separated lists, and copies of every
// file the spec names), readable by everyone, because with `mmdebstrap --mode=unshare` the
// customization runs as a root that is not the user who runs attest.
#pragma once

#include <filesystem>
#include <string_view>

#include "image/spec.hpp"

namespace attest::image {

/// Writes the plan of `spec` into `dir` (created; must not exist): plan.env, packages, debs/,
/// groups.tsv, users.tsv, files.tsv with files/, units.tsv with units/. `name` becomes the
/// image's name (its hostname, and the prefix of the builder's messages).
/// Throws: ConfigError naming the spec file and the field when a file cannot be copied;
/// std::filesystem::filesystem_error for `dir` itself.
void write_plan(const ImageSpec& spec, std::string_view name, const std::filesystem::path& dir);

}  // namespace attest::image
