// Host-side helpers: base64 for copy_from_host_via_shell, the host tar for copy_from_machine and
// copy_from_host.
#include "core/util.hpp"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/execute.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <fstream>
#include <iterator>
#include <vector>

#include <fmt/ranges.h>

#include "attest/error.hpp"
#include "attest/machine.hpp"

namespace attest::detail {

std::regex compile_regex(const std::string& regex, const std::string& machine,
                         const std::string& operation) {
  try {
    return std::regex(regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error(fmt::format("machine '{}': {}: invalid regular expression: {}", machine, operation,
                            e.what()),
                machine, operation);
  }
}

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

namespace {

/// Runs the host's tar with `args`. Throws: Error.
void host_tar(const std::vector<std::string>& args, const std::string& machine,
              const std::string& operation) {
  namespace bp = boost::process::v2;
  const auto tar = bp::environment::find_executable("tar");
  if (tar.empty())
    throw Error(fmt::format("machine '{}': {}: the host has no 'tar' in PATH", machine, operation),
                machine, operation);
  boost::asio::io_context ctx;
  const int rc = bp::execute(bp::process(ctx, tar, args));
  if (rc != 0)
    throw Error(fmt::format("machine '{}': {}: host `tar {}` failed (exit code {})", machine,
                            operation, fmt::join(args, " "), rc),
                machine, operation);
}

}  // namespace

void extract_tar(const std::string& archive, const std::filesystem::path& dir,
                 const std::string& machine, const std::string& operation) {
  const auto tmp = dir / fmt::format(".attest-copy-{}.tar", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(archive.data(), static_cast<std::streamsize>(archive.size()));
    if (!out)
      throw Error(
          fmt::format("machine '{}': {}: cannot write {}", machine, operation, tmp.string()),
          machine, operation);
  }
  std::error_code ec;
  try {
    host_tar({"-xf", tmp.string(), "-C", dir.string()}, machine, operation);
  } catch (const Error&) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
  std::filesystem::remove(tmp, ec);
}

std::string create_tar(const std::filesystem::path& source, const std::filesystem::path& scratch,
                       const std::string& machine, const std::string& operation) {
  const auto tmp = scratch / fmt::format(".attest-copy-{}.tar", ::getpid());
  const auto abs = std::filesystem::absolute(source).lexically_normal();
  const auto parent = abs.has_filename() ? abs.parent_path() : abs.parent_path().parent_path();
  const auto name = abs.has_filename() ? abs.filename() : abs.parent_path().filename();
  std::error_code ec;
  try {
    host_tar({"-cf", tmp.string(), "--owner=0", "--group=0", "--numeric-owner", "-C",
              parent.string(), "--", name.string()},
             machine, operation);
  } catch (const Error&) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
  std::ifstream in(tmp, std::ios::binary);
  std::string archive((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const bool read_ok = !in.bad();
  std::filesystem::remove(tmp, ec);
  if (!read_ok)
    throw Error(fmt::format("machine '{}': {}: cannot read {}", machine, operation, tmp.string()),
                machine, operation);
  return archive;
}

std::string place_copy_command(std::string_view staged, std::string_view target) {
  const auto src = shell_quote(staged);
  const auto dst = shell_quote(target);
  return fmt::format(
      "if [ -d {dst} ]; then d={dst}/$(basename {src}); else d={dst}; "
      "mkdir -p \"$(dirname \"$d\")\"; fi && cp -Rp {src} \"$d\" && chown -R 0:0 \"$d\"",
      fmt::arg("src", src), fmt::arg("dst", dst));
}

}  // namespace attest::detail
