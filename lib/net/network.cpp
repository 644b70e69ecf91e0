// The test's vlans: VDE hubs or a namespace with bridges and TAPs (see network.hpp).
#include "net/network.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <boost/process/v2/environment.hpp>

#include "attest/error.hpp"
#include "core/log.hpp"
#include "net/netns.hpp"
#include "process/vmm_process.hpp"

namespace attest::net {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto switch_ready_timeout = 5s;

[[noreturn]] void fail(const std::string& message) { throw BackendError(message, "", "network"); }

}  // namespace

std::string Network::tap_name(unsigned number, unsigned vlan) {
  return fmt::format("tap{}-{}", number, vlan);
}

std::string Network::bridge_name(unsigned vlan) { return fmt::format("br{}", vlan); }

Network::Network(const asio::any_io_executor& ex, Plan plan, fs::path dir)
    : ex_(ex), plan_(std::move(plan)), dir_(std::move(dir)), started_(ex) {}

Network::~Network() { stop(); }

awaitable<void> Network::start() {
  if (plan_.empty()) co_return;
  if (starting_) {
    co_await started_.wait();
    if (error_) std::rethrow_exception(error_);
    co_return;
  }
  starting_ = true;
  try {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec)
      fail(fmt::format("network: cannot create the directory {}: {}", dir_.string(), ec.message()));
    const auto t0 = Clock::now();
    if (plan_.mode == NetworkMode::tap)
      co_await start_tap();
    else
      co_await start_vde();
    std::string vlans;
    for (unsigned v : plan_.vlans) vlans += fmt::format("{}{}", vlans.empty() ? "" : ", ", v);
    detail::log_info(
        "", fmt::format("vlans {} up ({}, {})", vlans,
                        plan_.mode == NetworkMode::tap ? "bridges and TAPs in a user+net namespace"
                                                       : "VDE hubs",
                        detail::format_duration(Clock::now() - t0)));
  } catch (...) {
    error_ = std::current_exception();
  }
  if (error_) stop();
  started_.set();
  if (error_) std::rethrow_exception(error_);
}

awaitable<void> Network::start_vde() {
  const auto exe = boost::process::v2::environment::find_executable("vde_switch");
  if (exe.empty())
    fail(
        "network: vde_switch is not installed (it makes the vlans of QEMU machines without "
        "privileges): install it (Debian: apt-get install vde2; Nix: pkgs.vde2) or choose "
        "\"network\": \"tap\" in the configuration");
  for (unsigned vlan : plan_.vlans) {
    const auto socket = dir_ / fmt::format("vde{}.ctl", vlan);
    auto ready = std::make_shared<detail::Event>(ex_);
    auto output = std::make_shared<std::string>();
    process::Hooks hooks;
    hooks.on_stdout = [ready, output](std::string_view bytes) {
      output->append(bytes);
      if (output->find("1000 Success") != std::string::npos) ready->set();
    };
    hooks.on_stderr_line = [vlan](std::string_view line) {
      detail::log_debug("", fmt::format("vde_switch {}: {}", vlan, line));
    };
    hooks.on_exit = [ready](const process::ExitStatus&) { ready->set(); };
    process::SpawnSpec spec{
        exe.string(), {"--sock", socket.string(), "--dirmode", "0700", "--hub"}, {}, dir_.string()};
    std::unique_ptr<process::VmmProcess> proc;
    try {
      proc = std::make_unique<process::VmmProcess>(ex_, spec, std::move(hooks));
    } catch (const process::SpawnError& e) {
      fail(fmt::format("network: cannot start vde_switch for vlan {}: {}", vlan, e.what()));
    }
    auto* p = proc.get();
    switches_.emplace_back(vlan, std::move(proc));
    // The switch answers on its console once its socket is bound (NixOS's readiness check).
    co_await p->write_stdin("showinfo\n");
    auto r = co_await detail::race(ready->wait(), deadline_after(switch_ready_timeout));
    if (!p->running())
      fail(fmt::format("network: vde_switch for vlan {} exited with {}{}", vlan,
                       p->exit_status() ? p->exit_status()->to_string() : "?",
                       detail::indent_block("its stderr", p->stderr_tail(20))));
    if (r.end != detail::RaceEnd::done || output->find("1000 Success") == std::string::npos)
      fail(fmt::format("network: vde_switch for vlan {} did not answer within {}{}", vlan,
                       detail::format_duration(switch_ready_timeout),
                       detail::indent_block("its stderr", p->stderr_tail(20))));
  }
}

awaitable<void> Network::start_tap() {
  namespace_ = co_await Namespace::create(ex_);
  bool has_254 = false;
  for (const auto& n : plan_.nodes) has_254 = has_254 || n.number == 254;
  for (unsigned vlan : plan_.vlans) {
    const auto bridge = bridge_name(vlan);
    co_await namespace_->add_bridge(bridge);
    // The namespace's own address on the vlan (never a guest's): .254, as the Elixir attest.
    if (!has_254) {
      co_await namespace_->add_address(bridge, fmt::format("192.168.{}.254/24", vlan));
      co_await namespace_->add_address(bridge, fmt::format("2001:db8:{}::fe/64", vlan));
    }
  }
  for (const auto& n : plan_.nodes)
    for (const auto& i : n.interfaces)
      co_await namespace_->add_tap(tap_name(n.number, i.vlan), bridge_name(i.vlan));
}

Attachment Network::attachment(std::string_view machine) const {
  Attachment a;
  a.mode = plan_.mode;
  if (plan_.empty()) return a;
  // A machine added by create_machine is on no vlan (but in the namespace, like the others).
  if (plan_.contains(machine)) {
    const auto& node = plan_.node(machine);
    for (const auto& i : node.interfaces) {
      Link l;
      l.iface = i;
      if (plan_.mode == NetworkMode::tap)
        l.tap = tap_name(node.number, i.vlan);
      else
        l.vde_socket = (dir_ / fmt::format("vde{}.ctl", i.vlan)).string();
      a.links.push_back(std::move(l));
    }
  }
  if (plan_.mode == NetworkMode::vde)
    for (unsigned v : plan_.vlans)
      a.env.emplace_back(fmt::format("QEMU_VDE_SOCKET_{}", v),
                         (dir_ / fmt::format("vde{}.ctl", v)).string());
  if (namespace_) {
    a.user_ns_fd = namespace_->user_ns_fd();
    a.net_ns_fd = namespace_->net_ns_fd();
  }
  return a;
}

awaitable<void> Network::set_links(std::string_view machine, bool up) {
  if (!namespace_) fail("network: the TAP network is not up");
  const auto& node = plan_.node(machine);
  for (const auto& i : node.interfaces)
    co_await namespace_->set_link(tap_name(node.number, i.vlan), up);
}

awaitable<int> Network::connect_tcp(std::uint16_t port) {
  if (!namespace_) fail("network: the TAP network is not up");
  co_return co_await namespace_->connect_tcp(port);
}

awaitable<void> Network::shutdown() {
  auto switches = std::move(switches_);
  switches_.clear();
  for (auto& [vlan, proc] : switches) proc->signal_group(SIGKILL);
  for (auto& [vlan, proc] : switches) {
    auto r = co_await detail::race(proc->wait_exited(), deadline_after(5s));
    if (r.end != detail::RaceEnd::done)
      detail::log_error(
          "", fmt::format("vde_switch for vlan {} did not exit within 5s of SIGKILL", vlan));
  }
  namespace_.reset();
}

void Network::stop() noexcept {
  // Killing the processes is enough: the hubs remove their sockets' directory when their
  // stdin closes, the namespace and every device in it vanish with the holder.
  for (auto& [vlan, proc] : switches_) proc->signal_group(SIGTERM);
  switches_.clear();
  namespace_.reset();
}

}  // namespace attest::net
