// The backend registry: the built-in descriptors (builtin_descriptors()) and those registered at
// run time, by name.
#include "backend/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <mutex>

#include "attest/error.hpp"
#include "backend/backend.hpp"

namespace attest::backend {

namespace {

/// The descriptors in the order they were registered, the built-in ones first (so messages list
/// qemu, firecracker, cloud-hypervisor, then the others). A deque: an element never moves, so a
/// descriptor found stays valid while others are added.
struct Registry {
  std::mutex mutex;
  std::deque<Descriptor> descriptors;

  Registry() {
    for (auto& d : builtin_descriptors()) descriptors.push_back(std::move(d));
  }
  Descriptor* find(std::string_view name) {
    const auto it = std::find_if(descriptors.begin(), descriptors.end(),
                                 [name](const Descriptor& d) { return d.name == name; });
    return it == descriptors.end() ? nullptr : &*it;
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_backend(Descriptor descriptor) {
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  if (Descriptor* known = r.find(descriptor.name))
    *known = std::move(descriptor);
  else
    r.descriptors.push_back(std::move(descriptor));
}

const Descriptor* find_backend(std::string_view name) {
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  return r.find(name);
}

std::vector<std::string> backend_names() {
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& d : r.descriptors) names.push_back(d.name);
  return names;
}

std::unique_ptr<Backend> make_backend(const asio::any_io_executor& ex, const MachineConfig& config,
                                      const MachinePaths& paths) {
  const Descriptor* d = find_backend(config.backend);
  if (!d)
    throw ConfigError(fmt::format("machine '{}': unknown backend '{}' (known backends: {})",
                                  config.name, config.backend, fmt::join(backend_names(), ", ")),
                      config.name, "start");
  if (!d->make)
    throw ConfigError(fmt::format("machine '{}': the {} backend cannot start machines here",
                                  config.name, config.backend),
                      config.name, "start");
  return d->make(ex, config, paths);
}

}  // namespace attest::backend
