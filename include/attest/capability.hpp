// attest: what a machine's backend can do, so tests can skip instead of fail.
#pragma once

#include <string_view>

namespace attest {

/// An optional backend feature. `Machine::has` tells whether the machine's backend offers it;
/// calling an operation the backend lacks throws `Unsupported`.
enum class Capability {
  screenshot,       ///< screenshot(), OCR
  send_key,         ///< send_key(), send_chars()
  network_control,  ///< block(), unblock()
  port_forward,     ///< forward_port()
  snapshot,         ///< snapshot_create(), snapshot_restore()
  reboot,           ///< reboot_from_shell(); reboot() needs send_key too (ctrl-alt-delete)
};

/// The capability's name as used in messages, e.g. "screenshot".
std::string_view to_string(Capability c) noexcept;

}  // namespace attest
