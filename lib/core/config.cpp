// The JSON test configuration (docs/config.md) → validated structs. Strict on purpose: an unknown
// field is an error, so a typo never silently falls back to a default. Every message names the
// file, the machine and the field.
#include "attest/config.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "attest/error.hpp"
#include "backend/registry.hpp"
#include "core/json_read.hpp"
#include "image/build.hpp"
#include "net/plan.hpp"

namespace attest {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

using detail::json_type_name;

/// Where an error is: file, optional machine, optional field.
class Context {
 public:
  Context(fs::path source) : source_(std::move(source)) {}
  Context machine(std::string name) const {
    Context c = *this;
    c.machine_ = std::move(name);
    return c;
  }
  [[noreturn]] void fail(std::string_view field, std::string_view why) const {
    std::string msg = fmt::format("config {}", source_.empty() ? "<in memory>" : source_.string());
    if (!machine_.empty()) msg += fmt::format(": machine {}", machine_);
    if (!field.empty()) msg += fmt::format(": field '{}'", field);
    msg += fmt::format(": {}", why);
    throw ConfigError(msg, machine_name_for_error(), "load_config");
  }
  const fs::path& source() const { return source_; }

 private:
  std::string machine_name_for_error() const {
    // machine_ is quoted for the message ("'server'" or "#2"); the error's machine() is bare.
    if (machine_.size() >= 2 && machine_.front() == '\'')
      return machine_.substr(1, machine_.size() - 2);
    return {};
  }
  fs::path source_;
  std::string machine_;
};

void check_keys(const json& obj, std::initializer_list<std::string_view> known, const Context& ctx,
                std::string_view what) {
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (auto k : known) ok = ok || k == key;
    if (!ok) {
      std::string list;
      for (auto k : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
      ctx.fail(key, fmt::format("unknown field in {} (known fields: {})", what, list));
    }
  }
}

std::string get_string(const json& v, std::string_view field, const Context& ctx) {
  if (!v.is_string()) ctx.fail(field, fmt::format("expected a string, got {}", json_type_name(v)));
  return v.get<std::string>();
}

bool get_bool(const json& v, std::string_view field, const Context& ctx) {
  if (!v.is_boolean())
    ctx.fail(field, fmt::format("expected true or false, got {}", json_type_name(v)));
  return v.get<bool>();
}

unsigned get_uint(const json& v, std::string_view field, unsigned min, unsigned max,
                  const Context& ctx) {
  if (!v.is_number_integer())
    ctx.fail(field, fmt::format("expected an integer, got {}", json_type_name(v)));
  const auto n = v.get<long long>();
  if (n < min || n > max) ctx.fail(field, fmt::format("{} is out of range ({}..{})", n, min, max));
  return static_cast<unsigned>(n);
}

std::chrono::milliseconds get_seconds(const json& v, std::string_view field, const Context& ctx) {
  if (!v.is_number())
    ctx.fail(field, fmt::format("expected a number of seconds, got {}", json_type_name(v)));
  const double s = v.get<double>();
  if (!(s > 0) || !std::isfinite(s) || s > 1e9)
    ctx.fail(field, fmt::format("expected a positive number of seconds, got {}", v.dump()));
  return std::chrono::milliseconds(static_cast<long long>(std::llround(s * 1000)));
}

fs::path get_path(const json& v, std::string_view field, const fs::path& base, const Context& ctx) {
  const auto s = get_string(v, field, ctx);
  if (s.empty()) ctx.fail(field, "expected a path, got an empty string");
  fs::path p{s};
  if (p.is_relative()) p = base / p;
  p = p.lexically_normal();
  if (p.filename().empty() && p.has_relative_path()) p = p.parent_path();  // "dir/." → "dir"
  return p;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void require_file(const fs::path& p, std::string_view field, bool executable, const Context& ctx) {
  std::error_code ec;
  const auto st = fs::status(p, ec);
  if (ec || !fs::exists(st)) ctx.fail(field, fmt::format("file {} does not exist", p.string()));
  if (!fs::is_regular_file(st))
    ctx.fail(field, fmt::format("{} is not a regular file", p.string()));
  if (::access(p.c_str(), executable ? X_OK : R_OK) != 0)
    ctx.fail(field, fmt::format("{} is not {}: {}", p.string(),
                                executable ? "executable" : "readable", std::strerror(errno)));
}

std::vector<unsigned> get_vlans(const json& v, std::string_view field, const Context& ctx) {
  if (!v.is_array())
    ctx.fail(field, fmt::format("expected an array of vlan numbers, got {}", json_type_name(v)));
  std::vector<unsigned> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(get_uint(v[i], fmt::format("{}[{}]", field, i), 1, 254, ctx));
  return out;
}

/// Checks a machine's object and name (calling it #<index+1> in messages) and returns the name.
std::string parse_machine_name(const json& m, std::size_t index, const Context& file_ctx) {
  const Context ctx = file_ctx.machine(fmt::format("#{}", index + 1));
  if (!m.is_object()) ctx.fail("", fmt::format("expected an object, got {}", json_type_name(m)));
  if (!m.contains("name")) ctx.fail("name", "missing (every machine needs a name)");
  std::string name = get_string(m["name"], "name", ctx);
  if (!valid_name(name))
    ctx.fail("name", fmt::format("'{}' is not a valid machine name (use 1-64 letters, digits, "
                                 "'-' or '_')",
                                 name));
  return name;
}

/// Reads the fields that say what the machine boots and with what (backend to accel).
void parse_boot_fields(const json& m, const fs::path& base, const Context& ctx, MachineConfig& mc) {
  if (m.contains("backend")) mc.backend = get_string(m["backend"], "backend", ctx);
  if (m.contains("start_command"))
    mc.start_command = get_path(m["start_command"], "start_command", base, ctx);
  if (m.contains("kernel")) mc.kernel = get_path(m["kernel"], "kernel", base, ctx);
  if (m.contains("initrd")) mc.initrd = get_path(m["initrd"], "initrd", base, ctx);
  if (m.contains("cmdline")) mc.cmdline = get_string(m["cmdline"], "cmdline", ctx);
  if (m.contains("memory_mib"))
    mc.memory_mib = get_uint(m["memory_mib"], "memory_mib", 16, 1u << 20, ctx);
  if (m.contains("vcpus")) mc.vcpus = get_uint(m["vcpus"], "vcpus", 1, 255, ctx);
  if (m.contains("accel")) {
    const auto a = get_string(m["accel"], "accel", ctx);
    if (a != "kvm" && a != "tcg" && a != "kvm:tcg")
      ctx.fail("accel", fmt::format("'{}' is not one of kvm, tcg, kvm:tcg", a));
    mc.accel = parse_accel(a);
  }
}

/// Reads the fields that choose the VMM programs and their extra arguments.
void parse_vmm_fields(const json& m, const Context& ctx, MachineConfig& mc) {
  if (m.contains("qemu_binary")) {
    mc.qemu_binary = get_string(m["qemu_binary"], "qemu_binary", ctx);
    if (mc.qemu_binary.empty()) ctx.fail("qemu_binary", "expected a program, got an empty string");
  }
  for (auto [key, target] : {std::pair{"firecracker_binary", &mc.firecracker_binary},
                             std::pair{"cloud_hypervisor_binary", &mc.cloud_hypervisor_binary}}) {
    if (!m.contains(key)) continue;
    *target = get_string(m[key], key, ctx);
    if (target->empty()) ctx.fail(key, "expected a program, got an empty string");
  }
  if (m.contains("qemu_args")) {
    const auto& a = m["qemu_args"];
    if (!a.is_array())
      ctx.fail("qemu_args", fmt::format("expected an array of strings, got {}", json_type_name(a)));
    for (std::size_t i = 0; i < a.size(); ++i)
      mc.qemu_args.push_back(get_string(a[i], fmt::format("qemu_args[{}]", i), ctx));
  }
}

/// Reads the boot timeout, reboot and network fields (boot_timeout to node_number).
void parse_run_fields(const json& m, const Context& ctx, MachineConfig& mc) {
  if (m.contains("boot_timeout"))
    mc.boot_timeout = get_seconds(m["boot_timeout"], "boot_timeout", ctx);
  if (m.contains("allow_reboot"))
    mc.allow_reboot = get_bool(m["allow_reboot"], "allow_reboot", ctx);
  if (m.contains("vlans")) mc.vlans = get_vlans(m["vlans"], "vlans", ctx);
  if (m.contains("configure_network"))
    mc.configure_network = get_bool(m["configure_network"], "configure_network", ctx);
  if (m.contains("node_number"))
    mc.node_number = get_uint(m["node_number"], "node_number", 1, 254, ctx);
}

/// Reads the macs object (vlan number → MAC address) into the machine's macs.
void parse_macs(const json& macs, const Context& ctx, MachineConfig& mc) {
  if (!macs.is_object())
    ctx.fail("macs", fmt::format("expected an object from vlan numbers to MAC addresses, got {}",
                                 json_type_name(macs)));
  for (const auto& [key, value] : macs.items()) {
    const auto field = fmt::format("macs.{}", key);
    unsigned vlan = 0;
    const auto [end, err] = std::from_chars(key.data(), key.data() + key.size(), vlan);
    if (err != std::errc() || end != key.data() + key.size() || vlan < 1 || vlan > 254)
      ctx.fail(field, "expected a vlan number (1..254) as the key");
    mc.macs[vlan] = get_string(value, field, ctx);
  }
}

/// Reads one entry of disks, `field` being its name in messages ("disks[0]").
DiskConfig parse_disk(const json& disk, const std::string& field, const fs::path& base,
                      const Context& ctx) {
  if (!disk.is_object())
    ctx.fail(field, fmt::format("expected an object, got {}", json_type_name(disk)));
  for (const auto& [key, value] : disk.items())
    if (key != "path" && key != "format" && key != "read_only" && key != "size_mib" && key != "id")
      ctx.fail(fmt::format("{}.{}", field, key),
               "unknown field in a disk (known fields: path, format, read_only, size_mib, id)");
  const bool has_path = disk.contains("path");
  const bool has_size = disk.contains("size_mib");
  if (has_path == has_size)
    ctx.fail(field, has_path ? "give either path or size_mib, not both"
                             : "missing path (an image) or size_mib (a fresh disk)");
  DiskConfig dc;
  if (has_path) dc.path = get_path(disk["path"], field + ".path", base, ctx);
  if (has_size) dc.size_mib = get_uint(disk["size_mib"], field + ".size_mib", 1, 16u << 20, ctx);
  if (disk.contains("format")) dc.format = get_string(disk["format"], field + ".format", ctx);
  if (disk.contains("id")) dc.id = get_string(disk["id"], field + ".id", ctx);
  if (disk.contains("read_only"))
    dc.read_only = get_bool(disk["read_only"], field + ".read_only", ctx);
  return dc;
}

/// Reads the disks array into the machine's disks.
void parse_disks(const json& d, const fs::path& base, const Context& ctx, MachineConfig& mc) {
  if (!d.is_array()) ctx.fail("disks", fmt::format("expected an array, got {}", json_type_name(d)));
  for (std::size_t i = 0; i < d.size(); ++i)
    mc.disks.push_back(parse_disk(d[i], fmt::format("disks[{}]", i), base, ctx));
}

/// The images of a configuration's machines, by spec file: each is built (or found) once.
using Images = std::map<fs::path, image::BuiltImage>;

/// A machine that names an image spec (docs/images.md): the image, built on first use or found
/// in the cache, gives it its kernel, initrd, command line and disks.
void parse_image(const json& m, const fs::path& base, const Context& ctx, Images& images,
                 MachineConfig& mc) {
  for (const char* field : {"start_command", "kernel", "initrd", "cmdline", "disks"})
    if (m.contains(field))
      ctx.fail(field, "give either image or this field: the image brings its own");
  const fs::path spec = get_path(m["image"], "image", base, ctx);
  if (mc.backend != "qemu")
    ctx.fail("image", fmt::format("images boot on the qemu backend, not {}", mc.backend));
  auto it = images.find(spec);
  if (it == images.end()) {
    try {
      it = images.emplace(spec, image::build_image({spec, {}, {}, false})).first;
    } catch (const std::exception& e) {
      ctx.fail("image", e.what());
    }
  }
  image::boot_from(it->second, mc);
  if (!m.contains("memory_mib")) mc.memory_mib = image::image_memory_mib;
}

MachineConfig parse_machine(const json& m, std::size_t index, const fs::path& base,
                            const Context& file_ctx, Images& images) {
  MachineConfig mc;
  mc.name = parse_machine_name(m, index, file_ctx);
  const Context ctx = file_ctx.machine(fmt::format("'{}'", mc.name));
  check_keys(m,
             {"name",
              "backend",
              "start_command",
              "kernel",
              "initrd",
              "cmdline",
              "memory_mib",
              "vcpus",
              "disks",
              "accel",
              "qemu_binary",
              "qemu_args",
              "firecracker_binary",
              "cloud_hypervisor_binary",
              "boot_timeout",
              "allow_reboot",
              "vlans",
              "node_number",
              "macs",
              "configure_network",
              "image"},
             ctx, "a machine");
  parse_boot_fields(m, base, ctx, mc);
  if (m.contains("image")) parse_image(m, base, ctx, images, mc);
  parse_vmm_fields(m, ctx, mc);
  parse_run_fields(m, ctx, mc);
  if (m.contains("macs")) parse_macs(m["macs"], ctx, mc);
  if (m.contains("disks")) parse_disks(m["disks"], base, ctx, mc);
  validate(mc, file_ctx.source());
  return mc;
}

}  // namespace

Accel parse_accel(std::string_view text) {
  if (text == "kvm") return Accel::kvm;
  if (text == "tcg") return Accel::tcg;
  if (text == "kvm:tcg") return Accel::kvm_or_tcg;
  throw ConfigError(fmt::format("accelerator '{}' is not one of kvm, tcg, kvm:tcg", text), "",
                    "parse_accel");
}

NetworkMode parse_network_mode(std::string_view text) {
  if (text == "auto") return NetworkMode::automatic;
  if (text == "vde") return NetworkMode::vde;
  if (text == "tap") return NetworkMode::tap;
  throw ConfigError(fmt::format("network mode '{}' is not one of auto, vde, tap", text), "",
                    "parse_network_mode");
}

std::string_view to_string(NetworkMode mode) noexcept {
  switch (mode) {
    case NetworkMode::automatic:
      return "auto";
    case NetworkMode::vde:
      return "vde";
    case NetworkMode::tap:
      return "tap";
  }
  return "auto";
}

std::string_view to_string(Accel accel) noexcept {
  switch (accel) {
    case Accel::kvm:
      return "kvm";
    case Accel::tcg:
      return "tcg";
    case Accel::kvm_or_tcg:
      return "kvm:tcg";
  }
  return "kvm:tcg";
}

namespace {}  // namespace

std::string disk_id(const MachineConfig& machine, std::size_t index) {
  const auto& disk = machine.disks.at(index);
  if (!disk.id.empty()) return disk.id;
  return index == 0 ? std::string("rootfs") : fmt::format("disk{}", index);
}

void validate(const MachineConfig& mc, const fs::path& source) {
  Context ctx = Context(source).machine(fmt::format("'{}'", mc.name));
  if (!valid_name(mc.name))
    ctx.fail("name", fmt::format("'{}' is not a valid machine name (use 1-64 letters, digits, "
                                 "'-' or '_')",
                                 mc.name));
  const backend::Descriptor* backend = backend::find_backend(mc.backend);
  if (!backend)
    ctx.fail("backend", fmt::format("unknown backend '{}' (known backends: {})", mc.backend,
                                    fmt::join(backend::backend_names(), ", ")));
  const bool scripted = !mc.start_command.empty();
  const bool direct = !mc.kernel.empty();
  if (scripted && direct)
    ctx.fail("start_command", "give either start_command or kernel, not both");
  backend->validate(
      mc, [&ctx](const std::string& field, const std::string& why) { ctx.fail(field, why); });
  if (!scripted && !direct) ctx.fail("kernel", "missing (a machine needs start_command or kernel)");
  if (scripted) require_file(mc.start_command, "start_command", true, ctx);
  if (direct) {
    require_file(mc.kernel, "kernel", false, ctx);
    if (!mc.initrd.empty()) require_file(mc.initrd, "initrd", false, ctx);
    for (std::size_t i = 0; i < mc.disks.size(); ++i) {
      const auto& d = mc.disks[i];
      if (d.size_mib > 0) {
        if (d.format != "raw")
          ctx.fail(fmt::format("disks[{}].format", i), "a fresh disk (size_mib) is always raw");
        if (d.read_only)
          ctx.fail(fmt::format("disks[{}].read_only", i), "a fresh disk (size_mib) is writable");
        continue;
      }
      require_file(d.path, fmt::format("disks[{}].path", i), false, ctx);
    }
  } else {
    if (!mc.initrd.empty()) ctx.fail("initrd", "only valid with kernel (direct boot)");
    if (!mc.disks.empty()) ctx.fail("disks", "only valid with kernel (direct boot)");
  }
  if (mc.memory_mib < 16)
    ctx.fail("memory_mib", fmt::format("{} is out of range (16..1048576)", mc.memory_mib));
  if (mc.vcpus < 1 || mc.vcpus > 255)
    ctx.fail("vcpus", fmt::format("{} is out of range (1..255)", mc.vcpus));
  if (mc.boot_timeout <= std::chrono::milliseconds::zero())
    ctx.fail("boot_timeout", "expected a positive number of seconds");
}

Config parse_config(std::string_view text, const fs::path& source, const fs::path& base_dir) {
  Context ctx(source);
  std::string why;
  auto parsed = detail::parse_json(text, why);
  if (!parsed) ctx.fail("", fmt::format("not valid JSON: {}", why));
  const json& doc = *parsed;
  if (!doc.is_object())
    ctx.fail("", fmt::format("expected a JSON object, got {}", json_type_name(doc)));
  check_keys(doc, {"name", "global_timeout", "machines", "vlans", "network"}, ctx,
             "the configuration");
  Config config;
  config.source = source;
  if (doc.contains("name")) config.name = get_string(doc["name"], "name", ctx);
  if (doc.contains("global_timeout"))
    config.global_timeout = get_seconds(doc["global_timeout"], "global_timeout", ctx);
  if (doc.contains("vlans")) config.vlans = get_vlans(doc["vlans"], "vlans", ctx);
  if (doc.contains("network")) {
    const auto mode = get_string(doc["network"], "network", ctx);
    if (mode != "auto" && mode != "vde" && mode != "tap")
      ctx.fail("network", fmt::format("'{}' is not one of auto, vde, tap", mode));
    config.network = parse_network_mode(mode);
  }
  if (!doc.contains("machines")) ctx.fail("machines", "missing (list the test's machines)");
  const auto& machines = doc["machines"];
  if (!machines.is_array())
    ctx.fail("machines", fmt::format("expected an array, got {}", json_type_name(machines)));
  if (machines.empty()) ctx.fail("machines", "empty (a test needs at least one machine)");
  std::set<std::string> names;
  Images images;
  for (std::size_t i = 0; i < machines.size(); ++i) {
    auto mc = parse_machine(machines[i], i, base_dir, ctx, images);
    if (!names.insert(mc.name).second)
      ctx.machine(fmt::format("'{}'", mc.name))
          .fail("name", "duplicate machine name (each machine needs its own)");
    config.machines.push_back(std::move(mc));
  }
  std::sort(config.machines.begin(), config.machines.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  (void)net::plan_network(config);
  return config;
}

void validate(const Config& config) {
  Context ctx(config.source);
  if (config.machines.empty()) ctx.fail("machines", "empty (a test needs at least one machine)");
  std::set<std::string> names;
  for (const auto& m : config.machines) {
    validate(m, config.source);
    if (!names.insert(m.name).second)
      ctx.machine(fmt::format("'{}'", m.name))
          .fail("name", "duplicate machine name (each machine needs its own)");
  }
  (void)net::plan_network(config);
}

Config load_config(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ConfigError(fmt::format("config {}: cannot read: {}", file.string(), std::strerror(err)),
                      "", "load_config");
  }
  std::stringstream text;
  text << in.rdbuf();
  fs::path abs = fs::absolute(file).lexically_normal();
  return parse_config(text.str(), file, abs.parent_path());
}

}  // namespace attest
