// The Machine facade's file copies between the host and the guest: each submits one operation
// to the I/O thread (machine_copy.cpp) and waits, checking the polling conditions before it and
// whenever the copy asks before a further guest step.
#include <fmt/format.h>

#include "attest/machine.hpp"
#include "core/facade.hpp"
#include "core/machine_impl.hpp"

namespace attest {

namespace fs = std::filesystem;
using detail::op_name;
using detail::polled_wait;

void Machine::copy_from_host_via_shell(const fs::path& source, std::string_view target,
                                       Where where) {
  detail::at(where, [&] {
    auto operation = fmt::format("copy_from_host_via_shell({}, {})", source.string(), target);
    polled_wait(*impl_, operation, [&](std::shared_ptr<detail::CallerLink> link) {
      return impl_->copy_from_host_via_shell(source, std::string(target), operation,
                                             std::move(link));
    });
  });
}

void Machine::copy_from_host(const fs::path& source, std::string_view target, Where where) {
  detail::at(where, [&] {
    auto operation = fmt::format("copy_from_host({}, {})", source.string(), target);
    polled_wait(*impl_, operation, [&](std::shared_ptr<detail::CallerLink> link) {
      return impl_->copy_from_host(source, std::string(target), operation, std::move(link));
    });
  });
}

fs::path Machine::copy_from_machine(std::string_view source, const fs::path& target_dir,
                                    Where where) {
  return detail::at(where, [&] {
    auto operation = op_name("copy_from_machine", source);
    return polled_wait(*impl_, operation, [&](std::shared_ptr<detail::CallerLink> link) {
      return impl_->copy_from_machine(std::string(source), target_dir, operation, std::move(link));
    });
  });
}

fs::path Machine::copy_from_vm(std::string_view source, const fs::path& target_dir, Where where) {
  return copy_from_machine(source, target_dir, where);
}

}  // namespace attest
