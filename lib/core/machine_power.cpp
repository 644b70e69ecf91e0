// Power and network of a machine on the I/O thread: reboot, shutdown (poweroff, then the power
// button, then a kill), crash, halt, waiting for the VMM to exit, and the vlan links and port
// forwards.
#include <fmt/format.h>

#include "core/driver_impl.hpp"
#include "core/keys.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"

namespace attest::detail {

using std::chrono::milliseconds;

awaitable<void> MachineImpl::reboot(milliseconds timeout, bool from_shell) {
  const std::string operation = from_shell ? "reboot_from_shell" : "reboot";
  if (!backend_->has(Capability::reboot)) throw cannot_reboot(operation);
  backend::Keyboard* keyboard = nullptr;
  if (!from_shell)
    keyboard = &need<backend::Keyboard>(operation, "no keyboard to press ctrl-alt-delete on");
  auto boot = co_await ensure_shell(operation);
  const auto deadline = deadline_after(timeout);
  const std::string how = from_shell ? "`reboot`" : "ctrl-alt-delete";
  log_info(name(), fmt::format("rebooting ({})", how));
  // The guest's reboot must reset it rather than end the VMM (QEMU's -no-reboot) for this once,
  // unless this boot allows reboots already.
  if (!boot->reboots_allowed) co_await backend_->begin_guest_reboot();
  boot->guest_reset.reset();
  auto timed_out = [&] {
    return fmt::format("the guest did not go down within {} after {}{}", format_duration(timeout),
                       how, tails());
  };
  Step send{.operation = operation,
            .during = fmt::format("while sending {}", how),
            .deadline = deadline,
            .timeout = timeout,
            .timed_out = timed_out};
  // Named, not a temporary in the co_await (GCC 12: see run_step).
  std::string line = "reboot\n";
  auto press = from_shell ? boot->shell->send_line(std::move(line))
                          : keyboard->send_key(parse_key_combo("ctrl-alt-delete"));
  co_await run_step(boot, std::move(press), std::move(send));
  Step reset{.operation = operation,
             .during = "while rebooting",
             .deadline = deadline,
             .timeout = timeout,
             .timed_out = timed_out};
  co_await run_step(boot, boot->guest_reset.wait(), std::move(reset));
  // The backend's end_guest_reboot comes once the new shell is up (ensure_shell), unless the boot
  // allows reboots (start's allow_reboot came meanwhile).
  boot->end_reboot = !boot->reboots_allowed;
  boot->network_configured = false;
  rearm_shell(boot);
}

Unsupported MachineImpl::cannot_reboot(const std::string& operation) const {
  const auto why = backend_->lacking(Capability::reboot);
  return Unsupported(
      fmt::format("machine '{}': {}: the {} backend cannot reboot a guest in place{}", name(),
                  operation, backend_->name(), why.empty() ? "" : " (" + why + ")"),
      name(), operation);
}

awaitable<void> MachineImpl::allow_reboots(std::shared_ptr<Boot> boot) {
  if (!boot || boot->reboots_allowed) co_return;
  log_info(name(), "the guest's reboots reset it until the VM stops (allow_reboot)");
  co_await backend_->begin_guest_reboot();
  boot->reboots_allowed = true;
  boot->end_reboot = false;  // a reboot() in progress must not switch them off again
}

awaitable<void> MachineImpl::wait_exit(Deadline deadline, const std::string& operation,
                                       milliseconds timeout) {
  Step step{.operation = operation, .deadline = deadline, .timeout = timeout, .timed_out = [&] {
              return fmt::format("{} did not exit within {}{}", backend_->vmm_name(),
                                 format_duration(timeout), tails());
            }};
  co_await run_step(nullptr, backend_->wait_exited(), std::move(step));
}

awaitable<void> MachineImpl::shutdown(milliseconds timeout) {
  const std::string operation = "shutdown";
  if (!backend_->running()) co_return;
  auto boot = co_await ensure_shell(operation);
  const auto deadline = deadline_after(timeout);
  boot->expect_exit = true;
  log_info(name(), "shutting down (poweroff)");
  // Whether the VMM has exited by `until`.
  auto exited_by = [this, &operation](Deadline until) -> awaitable<bool> {
    auto r = co_await race(backend_->wait_exited(), until, driver_.global_abort());
    if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
    co_return r.end == RaceEnd::done;
  };
  std::string send_error;
  try {
    auto r = co_await race(boot->shell->send_line("poweroff\n"), deadline, driver_.global_abort());
    if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
  } catch (const shell::ChannelError& e) {
    send_error = e.what();
  }
  if (!send_error.empty())
    log_warning(name(), fmt::format("could not send `poweroff`: {}", send_error));
  // A guest that ignores `poweroff` (or a shell that could not send it) gets the VMM's power
  // button halfway through the timeout; at the timeout the VMM is killed, so none is left behind.
  if (co_await exited_by(std::min(deadline, Clock::now() + timeout / 2))) co_return;
  log_warning(name(), fmt::format("the guest did not power off after `poweroff`; pressing {}'s "
                                  "power button",
                                  backend_->vmm_name()));
  std::string button_error;
  try {
    co_await backend_->request_guest_shutdown();
  } catch (const Error& e) {
    button_error = e.what();
  }
  if (!button_error.empty()) log_warning(name(), button_error);
  if (co_await exited_by(deadline)) co_return;
  const auto context = tails();
  backend_->kill();
  co_await settle();
  throw TimeoutError(fmt::format("machine '{}': shutdown: the guest did not power off within {} "
                                 "(neither `poweroff` nor the power button ended {}; it was "
                                 "killed){}",
                                 name(), format_duration(timeout), backend_->vmm_name(), context),
                     name(), operation, timeout, elapsed_since(deadline - timeout));
}

awaitable<void> MachineImpl::crash() {
  const std::string operation = "crash";
  if (!backend_->running()) co_return;
  if (boot_) boot_->expect_exit = true;
  log_info(name(), "simulating a power loss (crash)");
  auto op = backend_->quit();
  const milliseconds limit = std::chrono::seconds(30);
  auto r = co_await race(std::move(op), deadline_after(limit), driver_.global_abort());
  if (r.end == RaceEnd::done) co_return;
  backend_->kill();
  if (r.end == RaceEnd::aborted) throw_global_timeout(operation);
  co_await wait_exit(deadline_after(exit_settle), operation, limit);
}

awaitable<void> MachineImpl::wait_for_shutdown(milliseconds timeout, std::string operation) {
  if (!backend_->running()) co_return;
  if (boot_) boot_->expect_exit = true;  // the test says the guest is going down
  log_info(name(), "waiting for the VM to power off");
  co_await wait_exit(deadline_after(timeout), operation, timeout);
}

awaitable<void> MachineImpl::halt() {
  if (!backend_->running()) co_return;
  if (boot_) boot_->expect_exit = true;
  backend_->kill();
  auto r = co_await race(backend_->wait_exited(), deadline_after(std::chrono::seconds(10)),
                         driver_.global_abort());
  if (r.end != RaceEnd::done)
    log_error(name(), fmt::format("{} (pid group) did not exit within 10s of SIGKILL",
                                  backend_->vmm_name()));
}

awaitable<void> MachineImpl::stop_unreachable(std::shared_ptr<Boot> boot) {
  if (boot != boot_ || boot->exited || !backend_->running()) co_return;
  log_warning(name(), fmt::format("the guest shell cannot be reached: stopping {} (the next "
                                  "command starts the machine again)",
                                  backend_->vmm_name()));
  boot->expect_exit = true;
  backend_->kill();
  co_await settle();
}

awaitable<void> MachineImpl::set_vlan_links(bool up, std::string operation) {
  if (driver_.expired()) throw_global_timeout(operation);
  const auto& plan = driver_.network().plan();
  if (plan.empty() || !plan.contains(name()) || plan.node(name()).interfaces.empty())
    throw Error(fmt::format("machine '{}': {}: the machine is on no vlan (give it \"vlans\" in the "
                            "configuration)",
                            name(), operation),
                name(), operation);
  if (!backend_->running())
    throw Error(fmt::format("machine '{}': {}: the machine is not running (start it first)", name(),
                            operation),
                name(), operation);
  log_info(name(), up ? "unblocking the vlan links" : "blocking the vlan links");
  if (driver_.network().controls_links())
    co_await driver_.network().set_links(name(), up);
  else
    co_await need<backend::LinkControl>(operation, "no link control of its own").set_vlan_links(up);
}

awaitable<void> MachineImpl::forward_port(std::uint16_t host_port, std::uint16_t guest_port) {
  const std::string operation = "forward_port";
  auto& forwarding =
      need<backend::PortForwarding>(operation, "no user-mode networking to forward ports to");
  auto boot = co_await ensure_shell(operation);
  log_info(name(), fmt::format("forwarding host port 127.0.0.1:{} to guest port {}", host_port,
                               guest_port));
  // On the TAP path QEMU listens inside the namespace: the driver listens on the host and
  // connects through.
  std::unique_ptr<net::PortProxy> proxy;
  if (driver_.network().has_namespace())
    proxy = std::make_unique<net::PortProxy>(driver_.executor(), host_port, [this, host_port] {
      return driver_.network().connect_tcp(host_port);
    });
  co_await forwarding.forward_port(host_port, guest_port);
  if (proxy) port_proxies_.push_back(std::move(proxy));
  if (config_.start_command.empty() && !boot->user_net_ready) {
    const auto command = "{ " + net::guest_user_net_script() + "} 2>&1";
    auto r = co_await helper(boot, command, std::chrono::seconds(60), operation);
    if (r.status != 0)
      throw CommandFailed(fmt::format("machine '{}': forward_port: giving the guest's eth0 its "
                                      "address failed (exit status {}){}",
                                      name(), r.status, indent_block("output", r.output)),
                          name(), operation, command, r.status, r.output);
    boot->user_net_ready = true;
  }
}

}  // namespace attest::detail
