// The config target's backend registry: the built-in backends' descriptors without their
// factories. It checks configurations and never starts a machine, and lib/backend/builtins.cpp
// would bring every VMM client (QMP, HTTP, processes, namespaces) into the target.
#include "backend/registry.hpp"

namespace attest::backend {

std::vector<Descriptor> builtin_descriptors() {
  return {qemu_descriptor(), firecracker_descriptor(), cloud_hypervisor_descriptor()};
}

}  // namespace attest::backend
