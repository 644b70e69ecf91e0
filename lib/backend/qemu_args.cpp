// The command line of the QEMU backend: the accelerator, QEMU's arguments and environment, and the
// qemu-img program. The arguments given to a NixOS start script follow nixos/lib/test-driver's
// QemuMachine.start (minus -monitor: attest drives HMP through QMP's human-monitor-command instead
// of a second socket).
#include "backend/qemu.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "attest/error.hpp"
#include "attest/machine.hpp"
#include "backend/registry.hpp"
#include "core/boot_cache.hpp"
#include "shell/framing.hpp"

namespace attest::backend {

namespace fs = std::filesystem;

namespace {

/// QEMU's arguments, in order.
using Args = std::vector<std::string>;
/// Environment variables as (name, value).
using Env = std::vector<std::pair<std::string, std::string>>;

/// QMP's server socket, as -qmp takes it.
std::string qmp_option(const QemuSockets& sockets) {
  return fmt::format("unix:{},server=on,wait=off", sockets.qmp);
}

/// Appends the NixOS shell console and attest's output port on one virtio-serial bus.
void add_shell_ports(Args& a, const QemuSockets& sockets) {
  const Args ports = {"-chardev",
                      fmt::format("socket,id=shell,path={}", sockets.shell),
                      "-chardev",
                      fmt::format("socket,id=attest-data,path={}", sockets.data),
                      "-device",
                      "virtio-serial,id=attest-serial",
                      "-device",
                      "virtconsole,chardev=shell,bus=attest-serial.0",
                      "-device",
                      fmt::format("virtserialport,chardev=attest-data,name={},bus=attest-serial.0",
                                  shell::data_port_name)};
  a.insert(a.end(), ports.begin(), ports.end());
}

/// The environment of a NixOS start script: the NixOS driver's variables and the vlans'.
Env start_script_env(const MachinePaths& paths, const net::Attachment& network) {
  Env env = {{"TMPDIR", paths.state_dir.string()},
             {"SHARED_DIR", paths.shared_dir.string()},
             {"USE_TMPDIR", "1"}};
  env.insert(env.end(), network.env.begin(), network.env.end());
  // Keep the guest's user-mode network (eth0) from reaching the host or beyond, unless the
  // caller chose its own options.
  if (std::getenv("QEMU_NET_OPTS") == nullptr) env.emplace_back("QEMU_NET_OPTS", "restrict=on");
  return env;
}

/// The arguments a NixOS start script gets, which adds them to its own.
Args start_script_args(const MachineConfig& config, const QemuSockets& sockets, Accel accel,
                       bool accel_explicit, bool display) {
  Args a = {"-qmp", qmp_option(sockets)};
  add_shell_ports(a, sockets);
  a.insert(a.end(), {"-device", "virtio-rng-pci", "-serial", "stdio"});
  if (!config.allow_reboot) a.push_back("-no-reboot");
  if (!display) a.push_back("-nographic");
  if (accel_explicit) {
    a.push_back("-machine");
    a.push_back(fmt::format("accel={}", to_string(accel)));
  }
  return a;
}

/// Appends the -accel options of `accel`, with multi-threaded TCG when `multi` (several vCPUs).
void add_accelerators(Args& a, Accel accel, bool multi) {
  const std::string tcg = multi ? "tcg,thread=multi" : "tcg";
  switch (accel) {
    case Accel::kvm:
      a.insert(a.end(), {"-accel", "kvm"});
      break;
    case Accel::tcg:
      a.insert(a.end(), {"-accel", tcg});
      break;
    case Accel::kvm_or_tcg:
      a.insert(a.end(), {"-accel", "kvm", "-accel", tcg});
      break;
  }
}

/// Appends one virtio -drive per disk of the configuration, in order.
void add_disks(Args& a, const MachineConfig& config, const MachinePaths& paths) {
  // The machine's own disks are qcow2, so snapshots can hold their state.
  for (std::size_t i = 0; i < config.disks.size(); ++i) {
    const auto& d = config.disks[i];
    const bool own = qemu_disk_is_own(d);
    a.push_back("-drive");
    a.push_back(fmt::format("file={},format={},if=virtio{}",
                            own ? qemu_fresh_disk_path(paths, i).string() : d.path.string(),
                            own ? std::string("qcow2") : d.format,
                            d.read_only ? ",readonly=on" : ""));
  }
}

/// Appends the network cards: eth0 on user-mode networking, then one card per vlan link.
void add_network(Args& a, const net::Attachment& network) {
  // eth0: user-mode networking as in NixOS, but isolated (restrict=on: no packet leaves for
  // the host or the outside; forward_port's rules still work; ipv6=off: no router
  // advertisement gives the guest an IPv6 default route). Then one card per vlan.
  a.insert(a.end(),
           {"-netdev", "user,id=user.0,restrict=on,ipv6=off", "-device",
            fmt::format("virtio-net-pci,netdev=user.0,mac={},romfile=", net::user_net_mac)});
  for (const auto& link : network.links) {
    a.push_back("-netdev");
    if (!link.tap.empty())
      a.push_back(fmt::format("tap,id={},ifname={},script=no,downscript=no", link.iface.netdev_id(),
                              link.tap));
    else
      a.push_back(fmt::format("vde,id={},sock={}", link.iface.netdev_id(), link.vde_socket));
    a.push_back("-device");
    a.push_back(fmt::format("virtio-net-pci,netdev={},mac={},romfile=", link.iface.netdev_id(),
                            link.iface.mac));
  }
}

/// The whole command line of a direct boot of the configuration's kernel, as QEMU's arguments.
Args direct_boot_args(const MachineConfig& config, const MachinePaths& paths,
                      const QemuSockets& sockets, Accel accel, const std::string& bios,
                      const net::Attachment& network) {
  Args a = {"-name", config.name, "-nodefaults", "-no-user-config", "-machine", "pc"};
  add_accelerators(a, accel, config.vcpus > 1);
  a.insert(a.end(), {"-cpu", "max", "-m", std::to_string(config.memory_mib), "-smp",
                     std::to_string(config.vcpus)});
  if (!bios.empty()) a.insert(a.end(), {"-bios", bios});
  a.insert(a.end(), {"-kernel", config.kernel.string()});
  if (!config.initrd.empty()) a.insert(a.end(), {"-initrd", config.initrd.string()});
  if (auto cmdline = kernel_cmdline(config); !cmdline.empty())
    a.insert(a.end(), {"-append", std::move(cmdline)});
  add_disks(a, config, paths);
  add_network(a, network);
  add_shell_ports(a, sockets);
  // A standard VGA card gives the guest a screen (its text console, tty1..) that screendump
  // reads while nothing shows it (-display none); the pc machine's PS/2 keyboard takes
  // send-key.
  a.insert(a.end(), {"-device", "virtio-rng-pci", "-device", "VGA", "-qmp", qmp_option(sockets),
                     "-serial", "stdio", "-display", "none"});
  if (!config.allow_reboot) a.push_back("-no-reboot");
  return a;
}

/// `s` as one shell word: unchanged when no character in it needs quoting, else shell-quoted.
std::string quote_arg(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`;&|<>()*?[]{}!#~") == std::string::npos) return s;
  return shell_quote(s);
}

}  // namespace

Accel effective_accel(const MachineConfig& config, bool* explicit_choice) {
  if (const char* env = std::getenv(accel_variable); env != nullptr && *env != '\0') {
    // The configuration's validation has checked it already; it may have changed since.
    if (auto why = accel_variable_error(); !why.empty())
      throw ConfigError(fmt::format("machine '{}': {}", config.name, why), config.name, "start");
    if (explicit_choice != nullptr) *explicit_choice = true;
    return parse_accel(env);
  }
  if (explicit_choice != nullptr) *explicit_choice = config.accel.has_value();
  return config.accel.value_or(Accel::kvm_or_tcg);
}

bool qemu_disk_is_own(const DiskConfig& disk) { return disk.size_mib > 0 || !disk.read_only; }

std::vector<std::string> qemu_img_create_args(const DiskConfig& disk, const fs::path& path) {
  std::vector<std::string> args = {"create", "-q", "-f", "qcow2"};
  if (disk.size_mib == 0)
    args.insert(args.end(), {"-b", fs::absolute(disk.path).string(), "-F", disk.format});
  args.push_back(path.string());
  if (disk.size_mib > 0) args.push_back(fmt::format("{}M", disk.size_mib));
  return args;
}

fs::path qemu_fresh_disk_path(const MachinePaths& paths, std::size_t index) {
  return paths.disks() / fmt::format("disk{}.qcow2", index);
}

QemuLaunch qemu_launch(const MachineConfig& config, const MachinePaths& paths,
                       const QemuSockets& sockets, Accel accel, bool accel_explicit, bool display,
                       const std::string& bios, const net::Attachment& network, bool paused) {
  QemuLaunch l;
  l.cwd = paths.state_dir.string();
  if (!config.start_command.empty()) {
    l.program = config.start_command.string();
    l.env = start_script_env(paths, network);
    l.args = start_script_args(config, sockets, accel, accel_explicit, display);
  } else {
    l.program = config.qemu_binary;
    l.args = direct_boot_args(config, paths, sockets, accel, bios, network);
  }
  // A snapshot restore loads the saved state before the CPUs ever run.
  if (paused) l.args.push_back("-S");
  l.args.insert(l.args.end(), config.qemu_args.begin(), config.qemu_args.end());
  return l;
}

std::string qemu_command_line(const QemuLaunch& launch) {
  std::string line = quote_arg(launch.program);
  for (const auto& arg : launch.args) line += " " + quote_arg(arg);
  return line;
}

namespace {

/// `program` as a path: unchanged when it has a slash, else the first executable of that name
/// in PATH (itself when none is).
fs::path find_program(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    const auto dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    fs::path candidate = fs::path(dir.empty() ? "." : std::string(dir)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return program;
}

}  // namespace

std::string qemu_boot_identity(const MachineConfig& config, const net::Attachment& network) {
  if (!config.start_command.empty()) return {};
  bool accel_explicit = false;
  const Accel accel = effective_accel(config, &accel_explicit);
  const MachinePaths paths{"/STATE", "/SHARED", "/OUTPUT", {}};
  const QemuSockets sockets{"/STATE/shell", "/STATE/shell-data", "/STATE/qmp"};
  net::Attachment links;
  links.mode = network.mode;
  for (auto link : network.links) {
    if (!link.tap.empty()) link.tap = "TAP";
    if (!link.vde_socket.empty()) link.vde_socket = "/VDE";
    links.links.push_back(std::move(link));
  }
  const auto launch = qemu_launch(config, paths, sockets, accel, accel_explicit, false, {}, links);
  std::string text = qemu_command_line(launch) + "\n";
  if (accel == Accel::kvm_or_tcg)
    text += fmt::format("kvm {}\n", ::access("/dev/kvm", R_OK | W_OK) == 0 ? "usable" : "none");
  text += "binary " + detail::file_identity(find_program(config.qemu_binary)) + "\n";
  text += "kernel " + detail::file_identity(config.kernel) + "\n";
  if (!config.initrd.empty()) text += "initrd " + detail::file_identity(config.initrd) + "\n";
  // A fresh disk's size is not on QEMU's command line (its qcow2 image is made beforehand).
  for (std::size_t i = 0; i < config.disks.size(); ++i)
    text += config.disks[i].size_mib > 0
                ? fmt::format("disk{} fresh {} MiB\n", i, config.disks[i].size_mib)
                : fmt::format("disk{} {}\n", i, detail::file_identity(config.disks[i].path));
  return text;
}

std::vector<fs::path> qemu_snapshot_files(const MachineConfig& config, const MachinePaths& paths) {
  std::vector<fs::path> files = {paths.state_dir / "vmstate.qcow2"};
  for (std::size_t i = 0; i < config.disks.size(); ++i)
    if (qemu_disk_is_own(config.disks[i])) files.push_back(qemu_fresh_disk_path(paths, i));
  return files;
}

std::string qemu_img_program(const std::string& qemu_program) {
  const auto slash = qemu_program.rfind('/');
  if (slash == std::string::npos) return "qemu-img";
  auto sibling = qemu_program.substr(0, slash + 1) + "qemu-img";
  std::error_code ec;
  return fs::exists(sibling, ec) ? sibling : std::string("qemu-img");
}

}  // namespace attest::backend
