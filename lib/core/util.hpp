// Internal: small host-side helpers of the facade.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace attest::detail {

/// Standard base64 (RFC 4648) with padding.
std::string base64_encode(std::string_view bytes);

/// Extracts a tar archive held in memory into `dir` with the host's tar.
/// Throws: Error naming the machine and operation.
void extract_tar(const std::string& archive, const std::filesystem::path& dir,
                 const std::string& machine, const std::string& operation);

}  // namespace attest::detail
