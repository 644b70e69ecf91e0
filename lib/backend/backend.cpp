// What every backend shares: the capabilities its optional interfaces give it.
#include "backend/backend.hpp"

namespace attest::backend {

bool Backend::has(Capability c) const noexcept {
  switch (c) {
    case Capability::screenshot:
    case Capability::send_key:
      return find<Screen>(*this) != nullptr;
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

}  // namespace attest::backend
