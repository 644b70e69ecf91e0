// The built-in backends' descriptors without their factories: the names, what each takes of the
// configuration, the networks it can join. Free of the backends' own code, so that whatever
// checks configurations (the config loader, its fuzz target) has them without the VMM clients.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "attest/error.hpp"
#include "backend/registry.hpp"

namespace attest::backend {

namespace {

bool valid_disk_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

/// What Firecracker and cloud-hypervisor machines cannot have (vmm-api.md §1, §2).
void validate_microvm(const MachineConfig& mc, const FieldError& fail) {
  const std::string_view vmm = mc.backend;
  if (!mc.start_command.empty())
    fail("start_command",
         fmt::format("the {} backend boots a kernel itself (kernel, initrd, cmdline, disks); "
                     "start_command is a NixOS QEMU script",
                     vmm));
  if (!mc.qemu_args.empty())
    fail("qemu_args", fmt::format("only valid with the qemu backend, not {}", vmm));
  if (mc.accel && *mc.accel != Accel::kvm)
    fail("accel", fmt::format("the {} backend always uses KVM; '{}' is a QEMU setting", vmm,
                              to_string(*mc.accel)));
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < mc.disks.size(); ++i) {
    const auto& d = mc.disks[i];
    const auto field = fmt::format("disks[{}]", i);
    if (d.format != "raw")
      fail(field + ".format",
           fmt::format("the {} backend takes raw images only, not '{}'", vmm, d.format));
    const std::string id = disk_id(mc, i);
    if (!valid_disk_id(id))
      fail(field + ".id", fmt::format("'{}' is not a valid disk id (use 1-64 letters, digits or "
                                      "'_', as the VMM APIs require)",
                                      id));
    if (std::find(ids.begin(), ids.end(), id) != ids.end())
      fail(field + ".id", fmt::format("disk id '{}' is used twice", id));
    ids.push_back(id);
  }
}

}  // namespace

std::string accel_variable_error() {
  const char* value = std::getenv(accel_variable);
  if (value == nullptr || *value == '\0') return {};
  try {
    (void)parse_accel(value);
    return {};
  } catch (const ConfigError&) {
    return fmt::format(
        "environment variable {}='{}' is not one of kvm, tcg, kvm:tcg (it sets the accelerator "
        "of every QEMU machine; unset it to use each machine's \"accel\")",
        accel_variable, value);
  }
}

Descriptor qemu_descriptor() {
  Descriptor d;
  d.name = "qemu";
  d.vmm_name = "QEMU";
  d.vde = true;
  // QEMU takes what the common checks let through: start scripts, qemu_args, every accelerator.
  // What it adds is ATTEST_ACCEL, reported here so that a bad value fails with the configuration
  // (load_config, the Driver, create_machine) rather than at the first start.
  d.validate = [](const MachineConfig&, const FieldError& fail) {
    if (auto why = accel_variable_error(); !why.empty()) fail("", why);
  };
  return d;
}

Descriptor firecracker_descriptor() {
  Descriptor d;
  d.name = "firecracker";
  d.vmm_name = "Firecracker";
  d.validate = [](const MachineConfig& mc, const FieldError& fail) {
    validate_microvm(mc, fail);
    if (mc.vcpus > 32)
      fail("vcpus", fmt::format("{} is out of range for Firecracker (1..32)", mc.vcpus));
    if (mc.allow_reboot)
      fail("allow_reboot",
           "Firecracker exits when its guest reboots; a firecracker machine cannot reboot");
  };
  return d;
}

Descriptor cloud_hypervisor_descriptor() {
  Descriptor d;
  d.name = "cloud-hypervisor";
  d.vmm_name = "cloud-hypervisor";
  d.validate = validate_microvm;
  return d;
}

}  // namespace attest::backend
