// The built-in backends with their factories: what the registry starts with.
#include "backend/microvm.hpp"
#include "backend/qemu.hpp"
#include "backend/registry.hpp"

namespace attest::backend {

std::vector<Descriptor> builtin_descriptors() {
  std::vector<Descriptor> out;
  out.push_back(qemu_descriptor());
  out.back().make = make_qemu_backend;
  out.push_back(firecracker_descriptor());
  out.back().make = make_firecracker_backend;
  out.push_back(cloud_hypervisor_descriptor());
  out.back().make = make_cloud_hypervisor_backend;
  return out;
}

}  // namespace attest::backend
