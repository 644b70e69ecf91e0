// Internal: what the core knows of a backend, and all it knows: a descriptor found by the
// configuration's "backend" name. The core validates a machine's configuration, plans its
// networks and creates its backend through the descriptor, and never compares a backend's name.
// QEMU, Firecracker and cloud-hypervisor are registered here; a backend of its own (a test's, a
// user's) registers its descriptor with register_backend() before a Driver is made, and needs
// nothing outside lib/backend/ (docs/backends.md, "Writing a backend").
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attest/config.hpp"
#include "core/async.hpp"

namespace attest::backend {

class Backend;
struct MachinePaths;

/// Reports what is wrong with one field of the machine being validated (an empty field: with
/// something else the backend takes, such as an environment variable); does not return.
using FieldError = std::function<void(const std::string& field, const std::string& why)>;

struct Descriptor {
  std::string name;      ///< the configuration's "backend", e.g. "qemu"
  std::string vmm_name;  ///< the VMM in messages, e.g. "QEMU"
  /// Whether its machines may join VDE hubs (QEMU's `-netdev vde`); every backend can use the TAP
  /// path. A test whose machines all can use VDE gets VDE with network "auto".
  bool vde = false;
  /// Checks of a machine's configuration beyond the common ones (which every backend gets:
  /// name, kernel or start_command, files, memory, vCPUs). Reports through `fail`.
  std::function<void(const MachineConfig&, const FieldError& fail)> validate;
  /// Creates the backend of one machine. Throws: StartFailure.
  std::function<std::unique_ptr<Backend>(const asio::any_io_executor&, const MachineConfig&,
                                         const MachinePaths&)>
      make;
};

/// Adds `descriptor`, replacing a registered one of the same name. Call it before the Driver that
/// uses the backend is made (registration is not synchronised with running drivers).
void register_backend(Descriptor descriptor);
/// The descriptor of `name`, or nullptr when no backend has that name.
const Descriptor* find_backend(std::string_view name);
/// The registered backends' names in the order they were registered, the built-in ones first, for
/// messages ("known backends: ...").
std::vector<std::string> backend_names();

// The built-in backends. Their descriptors without `make` (descriptors.cpp: what configuration
// checks need, free of the backends' code) ...
Descriptor qemu_descriptor();
Descriptor firecracker_descriptor();
Descriptor cloud_hypervisor_descriptor();
/// ... and with it (builtins.cpp), which the registry starts with.
std::vector<Descriptor> builtin_descriptors();

/// The environment variable that, when set and not empty, overrides every QEMU machine's
/// "accel".
inline constexpr const char* accel_variable = "ATTEST_ACCEL";
/// What is wrong with ATTEST_ACCEL's value, or empty when it is unset, empty or an accelerator
/// (kvm, tcg, kvm:tcg). The QEMU descriptor reports it with the configuration; the QEMU backend
/// checks it again when it starts a machine (the variable may have changed since).
std::string accel_variable_error();

}  // namespace attest::backend
