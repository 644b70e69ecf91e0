// Host-side helpers: base64 for copy_from_host_via_shell, tar extraction for copy_from_machine.
#include "core/util.hpp"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/execute.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <fstream>

#include "attest/error.hpp"

namespace attest::detail {

std::string base64_encode(std::string_view in) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += table[v >> 18 & 63];
    out += table[v >> 12 & 63];
    out += table[v >> 6 & 63];
    out += table[v & 63];
  }
  if (const auto rest = in.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += table[v >> 18 & 63];
    out += table[v >> 12 & 63];
    out += rest == 2 ? table[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

void extract_tar(const std::string& archive, const std::filesystem::path& dir,
                 const std::string& machine, const std::string& operation) {
  namespace bp = boost::process::v2;
  const auto tmp = dir / fmt::format(".attest-copy-{}.tar", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(archive.data(), static_cast<std::streamsize>(archive.size()));
    if (!out)
      throw Error(
          fmt::format("machine '{}': {}: cannot write {}", machine, operation, tmp.string()),
          machine, operation);
  }
  const auto tar = bp::environment::find_executable("tar");
  if (tar.empty())
    throw Error(fmt::format("machine '{}': {}: the host has no 'tar' in PATH", machine, operation),
                machine, operation);
  boost::asio::io_context ctx;
  const int rc = bp::execute(bp::process(ctx, tar, {"-xf", tmp.string(), "-C", dir.string()}));
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (rc != 0)
    throw Error(
        fmt::format("machine '{}': {}: host tar could not extract the archive (exit code {})",
                    machine, operation, rc),
        machine, operation);
}

}  // namespace attest::detail
