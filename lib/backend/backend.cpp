// What every backend shares: the capabilities its optional interfaces give it, and the kernel
// command line of a direct boot.
#include "backend/backend.hpp"

#include <fmt/format.h>

#include <cctype>

namespace attest::backend {

bool Backend::has(Capability c) const noexcept {
  switch (c) {
    case Capability::screenshot:
      return find<Screen>(*this) != nullptr;
    case Capability::send_key:
      return find<Keyboard>(*this) != nullptr;
    case Capability::network_control:
      return find<LinkControl>(*this) != nullptr;
    case Capability::port_forward:
      return find<PortForwarding>(*this) != nullptr;
    case Capability::snapshot:
    case Capability::reboot:
      return false;
  }
  return false;
}

namespace {

/// Where the word `--` starts in a kernel command line (the end of the kernel's parameters), or
/// npos.
std::size_t init_args_start(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    std::size_t end = i;
    while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) ++end;
    if (line.substr(i, end - i) == "--") return i;
    i = end;
  }
  return std::string_view::npos;
}

}  // namespace

std::string kernel_cmdline(const MachineConfig& config, std::string_view fallback) {
  std::string line = config.cmdline.empty() ? std::string(fallback) : config.cmdline;
  if (!config.configure_network) return line;
  const std::string names =
      fmt::format("hostname={0} systemd.hostname={0} attest.hostname={0}", config.name);
  if (const auto at = init_args_start(line); at != std::string_view::npos)
    return line.insert(at, names + ' ');
  return line.empty() ? names : line + ' ' + names;
}

}  // namespace attest::backend
