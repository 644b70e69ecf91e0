// attest-cloud-hypervisor-double: a stand-in for the cloud-hypervisor binary (v53.0) for attest's
// tests. Same API socket handling, same /api/v1 endpoints, status codes and error chains
// (shared/reference/vmm-api.md §1.2, §2.2, §3, §4, §5.2); the guest runs under QEMU and the
// hybrid vsock is emulated over a user-mode NIC (see double_core.hpp).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "double_core.hpp"

namespace attest::doubles {
namespace {

constexpr std::string_view ch_version = "53.0";
constexpr std::string_view snapshot_format = "attest-cloud-hypervisor-double-snapshot";

// The request bodies of cloud-hypervisor.yaml that the double acts on, with their required
// fields, types and bounds. cloud-hypervisor does not deny unknown fields; members the double does
// not model are typed loosely ("object"/"array") so that their shape is still checked.
constexpr std::string_view ch_schemas = R"json({
  "PayloadConfig": {"x-rust": "PayloadConfig",
    "properties": {"firmware": {"type": "string"}, "kernel": {"type": "string"},
                   "cmdline": {"type": "string"}, "initramfs": {"type": "string"},
                   "igvm": {"type": "string"}, "host_data": {"type": "string"}}},
  "CpusConfig": {"x-rust": "CpusConfig", "required": ["boot_vcpus", "max_vcpus"],
    "properties": {"boot_vcpus": {"type": "integer", "format": "u32", "minimum": 1},
                   "max_vcpus": {"type": "integer", "format": "u32", "minimum": 1},
                   "topology": {"type": "object"}, "kvm_hyperv": {"type": "boolean"},
                   "max_phys_bits": {"type": "integer", "format": "u8"},
                   "nested": {"type": "boolean"},
                   "affinity": {"type": "array", "items": {"type": "object"}},
                   "features": {"type": "object"},
                   "core_scheduling": {"type": "string", "enum": ["Vm", "Vcpu", "Off"]}}},
  "MemoryConfig": {"x-rust": "MemoryConfig", "required": ["size"],
    "properties": {"size": {"type": "integer", "format": "u64"},
                   "hotplug_size": {"type": "integer", "format": "u64"},
                   "hotplugged_size": {"type": "integer", "format": "u64"},
                   "mergeable": {"type": "boolean"}, "hotplug_method": {"type": "string"},
                   "shared": {"type": "boolean"}, "hugepages": {"type": "boolean"},
                   "hugepage_size": {"type": "integer", "format": "u64"},
                   "prefault": {"type": "boolean"}, "reserve": {"type": "boolean"},
                   "thp": {"type": "boolean"},
                   "zones": {"type": "array", "items": {"type": "object"}}}},
  "TokenBucket": {"x-rust": "TokenBucketConfig", "required": ["size", "refill_time"],
    "properties": {"size": {"type": "integer", "format": "u64"},
                   "one_time_burst": {"type": "integer", "format": "u64"},
                   "refill_time": {"type": "integer", "format": "u64"}}},
  "RateLimiterConfig": {"x-rust": "RateLimiterConfig",
    "properties": {"bandwidth": {"$ref": "TokenBucket"}, "ops": {"$ref": "TokenBucket"}}},
  "DiskConfig": {"x-rust": "DiskConfig",
    "properties": {"path": {"type": "string"}, "readonly": {"type": "boolean"},
                   "direct": {"type": "boolean"}, "iommu": {"type": "boolean"},
                   "num_queues": {"type": "integer", "format": "usize"},
                   "queue_size": {"type": "integer", "format": "u16"},
                   "vhost_user": {"type": "boolean"}, "vhost_socket": {"type": "string"},
                   "rate_limiter_config": {"$ref": "RateLimiterConfig"},
                   "pci_segment": {"type": "integer", "format": "u16"},
                   "pci_device_id": {"type": "integer", "format": "u8"},
                   "id": {"type": "string"}, "serial": {"type": "string"},
                   "rate_limit_group": {"type": "string"},
                   "queue_affinity": {"type": "array", "items": {"type": "object"}},
                   "backing_files": {"type": "boolean"}, "sparse": {"type": "boolean"},
                   "image_type": {"type": "string",
                     "enum": ["FlatVmdk", "FixedVhd", "Qcow2", "Raw", "Vhdx", "Unknown"]},
                   "lock_granularity": {"type": "string", "enum": ["ByteRange", "Full"]}}},
  "NetConfig": {"x-rust": "NetConfig",
    "properties": {"tap": {"type": "string"}, "ip": {"type": "string"},
                   "mask": {"type": "string"}, "mac": {"type": "string"},
                   "host_mac": {"type": "string"}, "mtu": {"type": "integer", "format": "u16"},
                   "iommu": {"type": "boolean"},
                   "num_queues": {"type": "integer", "format": "usize"},
                   "queue_size": {"type": "integer", "format": "u16"},
                   "vhost_user": {"type": "boolean"}, "vhost_socket": {"type": "string"},
                   "vhost_mode": {"type": "string"}, "id": {"type": "string"},
                   "pci_segment": {"type": "integer", "format": "u16"},
                   "pci_device_id": {"type": "integer", "format": "u8"},
                   "rate_limiter_config": {"$ref": "RateLimiterConfig"},
                   "offload_tso": {"type": "boolean"}, "offload_ufo": {"type": "boolean"},
                   "offload_csum": {"type": "boolean"}}},
  "RngConfig": {"x-rust": "RngConfig", "required": ["src"],
    "properties": {"src": {"type": "string"}, "iommu": {"type": "boolean"}}},
  "ConsoleConfig": {"x-rust": "ConsoleConfig", "required": ["mode"],
    "properties": {"file": {"type": "string"}, "socket": {"type": "string"},
                   "mode": {"type": "string",
                     "enum": ["Off", "Pty", "Tty", "File", "Socket", "Null"]},
                   "iommu": {"type": "boolean"}}},
  "SerialConfig": {"x-rust": "ConsoleConfig", "required": ["mode"],
    "properties": {"file": {"type": "string"}, "socket": {"type": "string"},
                   "mode": {"type": "string",
                     "enum": ["Off", "Pty", "Tty", "File", "Socket", "Null"]}}},
  "VsockConfig": {"x-rust": "VsockConfig", "required": ["cid", "socket"],
    "properties": {"cid": {"type": "integer", "format": "u32", "minimum": 3},
                   "socket": {"type": "string"}, "iommu": {"type": "boolean"},
                   "pci_segment": {"type": "integer", "format": "u16"},
                   "id": {"type": "string"}}},
  "VmConfig": {"x-rust": "VmConfig", "required": ["payload"],
    "properties": {"cpus": {"$ref": "CpusConfig"}, "memory": {"$ref": "MemoryConfig"},
                   "payload": {"$ref": "PayloadConfig"},
                   "rate_limit_groups": {"type": "array", "items": {"type": "object"}},
                   "disks": {"type": "array", "items": {"$ref": "DiskConfig"}},
                   "net": {"type": "array", "items": {"$ref": "NetConfig"}},
                   "rng": {"$ref": "RngConfig"}, "balloon": {"type": "object"},
                   "fs": {"type": "array", "items": {"type": "object"}},
                   "pmem": {"type": "array", "items": {"type": "object"}},
                   "serial": {"$ref": "SerialConfig"}, "console": {"$ref": "ConsoleConfig"},
                   "debug_console": {"type": "object"},
                   "devices": {"type": "array", "items": {"type": "object"}},
                   "user_devices": {"type": "array", "items": {"type": "object"}},
                   "vdpa": {"type": "array", "items": {"type": "object"}},
                   "vsock": {"$ref": "VsockConfig"},
                   "numa": {"type": "array", "items": {"type": "object"}},
                   "iommu": {"type": "boolean"}, "watchdog": {"type": "boolean"},
                   "pvpanic": {"type": "boolean"},
                   "pci_segments": {"type": "array", "items": {"type": "object"}},
                   "platform": {"type": "object"}, "tpm": {"type": "object"},
                   "landlock_enable": {"type": "boolean"},
                   "landlock_rules": {"type": "array", "items": {"type": "object"}}}},
  "VmSnapshotConfig": {"x-rust": "VmSnapshotConfig",
    "properties": {"destination_url": {"type": "string"}}},
  "RestoreConfig": {"x-rust": "RestoreConfig", "required": ["source_url"],
    "properties": {"source_url": {"type": "string"}, "prefault": {"type": "boolean"},
                   "memory_restore_mode": {"type": "string",
                     "enum": ["Copy", "OnDemand"]},
                   "resume": {"type": "boolean"},
                   "net_fds": {"type": "array", "items": {"type": "object"}}}},
  "VmResize": {"x-rust": "VmResizeData",
    "properties": {"desired_vcpus": {"type": "integer", "format": "u32", "minimum": 1},
                   "desired_ram": {"type": "integer", "format": "u64"},
                   "desired_balloon": {"type": "integer", "format": "u64"}}},
  "VmRemoveDevice": {"x-rust": "VmRemoveDeviceData", "properties": {"id": {"type": "string"}}},
  "VmCoredumpData": {"x-rust": "VmCoredumpData",
    "properties": {"destination_url": {"type": "string"}}},
  "Any": {"x-rust": "Value"}
})json";

/// How an endpoint takes its body.
enum class Body { none, required };

struct Endpoint {
  const char* method;
  Body body;
  const char* schema;  ///< for Body::required
};

const std::map<std::string, Endpoint>& endpoints() {
  static const std::map<std::string, Endpoint> e = {
      {"vmm.ping", {"GET", Body::none, nullptr}},
      {"vmm.shutdown", {"PUT", Body::none, nullptr}},
      {"vm.info", {"GET", Body::none, nullptr}},
      {"vm.counters", {"GET", Body::none, nullptr}},
      {"vm.create", {"PUT", Body::required, "VmConfig"}},
      {"vm.delete", {"PUT", Body::none, nullptr}},
      {"vm.boot", {"PUT", Body::none, nullptr}},
      {"vm.pause", {"PUT", Body::none, nullptr}},
      {"vm.resume", {"PUT", Body::none, nullptr}},
      {"vm.shutdown", {"PUT", Body::none, nullptr}},
      {"vm.reboot", {"PUT", Body::none, nullptr}},
      {"vm.power-button", {"PUT", Body::none, nullptr}},
      {"vm.nmi", {"PUT", Body::none, nullptr}},
      {"vm.snapshot", {"PUT", Body::required, "VmSnapshotConfig"}},
      {"vm.restore", {"PUT", Body::required, "RestoreConfig"}},
      {"vm.coredump", {"PUT", Body::required, "VmCoredumpData"}},
      {"vm.resize", {"PUT", Body::required, "VmResize"}},
      {"vm.resize-zone", {"PUT", Body::required, "Any"}},
      {"vm.resize-disk", {"PUT", Body::required, "Any"}},
      {"vm.add-device", {"PUT", Body::required, "Any"}},
      {"vm.add-disk", {"PUT", Body::required, "DiskConfig"}},
      {"vm.add-fs", {"PUT", Body::required, "Any"}},
      {"vm.add-pmem", {"PUT", Body::required, "Any"}},
      {"vm.add-net", {"PUT", Body::required, "NetConfig"}},
      {"vm.add-vsock", {"PUT", Body::required, "VsockConfig"}},
      {"vm.add-vdpa", {"PUT", Body::required, "Any"}},
      {"vm.add-user-device", {"PUT", Body::required, "Any"}},
      {"vm.remove-device", {"PUT", Body::required, "VmRemoveDevice"}},
      {"vm.receive-migration", {"PUT", Body::required, "Any"}},
      {"vm.send-migration", {"PUT", Body::required, "Any"}},
  };
  return e;
}

/// cloud-hypervisor's error body: the error chain, outermost first.
Response chain(int status, std::vector<std::string> messages) {
  json a = json::array();
  for (auto& m : messages) a.push_back(std::move(m));
  return Response::json_body(status, a.dump());
}

/// An API error with its chain (the leading "Error from API" is added when answering).
struct ApiError : std::runtime_error {
  ApiError(int status, std::vector<std::string> chain)
      : std::runtime_error(chain.empty() ? "" : chain.back()),
        status(status),
        messages(std::move(chain)) {}
  int status;
  std::vector<std::string> messages;
};

[[noreturn]] void not_created(const char* what) {
  throw ApiError(404, {what, "VM is not created"});
}
/// Most actions need the VM object, which exists only once booted: VmNotRunning, a 500.
[[noreturn]] void not_running(const char* what) {
  throw ApiError(500, {what, "VM is not running"});
}

std::string file_url_path(const std::string& url) {
  constexpr std::string_view scheme = "file://";
  if (url.rfind(scheme, 0) != 0) return {};
  return url.substr(scheme.size());
}

class CloudHypervisor {
 public:
  explicit CloudHypervisor(asio::io_context& io)
      : schemas_(ch_schemas, false), qemu_(io), vsock_(io, VsockMux::Dialect::cloud_hypervisor) {
    qemu_.on_exit = [this](int status) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        // The guest powered off: the VMM ends (no --no-shutdown).
        Log::get().info("VM exited; the VMM shuts down.");
        vsock_.close(true);
        exit_process(0);
      }
      const auto msg = fmt::format("QEMU running the guest ended unexpectedly: {}",
                                   describe_wait_status(status));
      Log::get().error(msg);
      std::fprintf(stderr, "attest-cloud-hypervisor-double: %s\n", msg.c_str());
      exit_process(1);
    };
  }

  awaitable<Response> handle(Request request) {
    Log::get().info(fmt::format("HTTP API request: {} {}", request.method, request.path));
    constexpr std::string_view prefix = "/api/v1/";
    if (request.path.rfind(prefix, 0) != 0) co_return chain(404, {"Not Found"});
    const std::string name = request.path.substr(prefix.size());
    const auto it = endpoints().find(name);
    if (it == endpoints().end()) co_return chain(404, {"Not Found"});
    const Endpoint& ep = it->second;
    if (request.method != ep.method) co_return chain(400, {"Bad Request"});
    json body;
    if (ep.body == Body::none) {
      if (request.body) co_return chain(400, {"Bad Request"});
    } else {
      if (!request.body) co_return chain(400, {"Bad Request"});
      Violation v;
      auto parsed = parse_body(*request.body, v);
      if (parsed) {
        if (auto violation = schemas_.validate(*parsed, *request.body, ep.schema)) {
          v = *violation;
          if (v.kind == Violation::Kind::range) {
            // Deserialised fine; the VMM's own validation rejects it.
            co_return chain(
                500, {"Error from API", action_text(name), "Invalid VM configuration", v.message});
          }
          parsed.reset();
        }
      }
      if (!parsed)
        co_return chain(400, {"Failed to deserialize JSON", v.serde_text(*request.body)});
      body = std::move(*parsed);
    }
    Response r;
    std::optional<ApiError> error;
    try {
      r = co_await dispatch(name, body);
    } catch (const ApiError& e) {
      error = e;
    }
    if (error) {
      std::vector<std::string> messages = {"Error from API"};
      messages.insert(messages.end(), error->messages.begin(), error->messages.end());
      Log::get().error(fmt::format("{}", fmt::join(messages, ": ")));
      co_return chain(error->status, messages);
    }
    co_return r;
  }

 private:
  enum class State { none, created, running, paused, shutdown };

  static std::string action_text(const std::string& name) {
    if (name == "vm.create") return "The VM could not be created";
    if (name == "vm.restore") return "The VM could not be restored";
    if (name == "vm.resize") return "The VM could not be resized";
    return fmt::format("The {} request could not be handled", name);
  }

  bool booted() const { return state_ == State::running || state_ == State::paused; }

  awaitable<Response> dispatch(const std::string& name, const json& body) {
    if (name == "vmm.ping") co_return Response::json_body(200, ping().dump());
    if (name == "vmm.shutdown") {
      // 200 with an empty JSON body, then the process ends.
      Response r = Response::json_body(200, "");
      r.after = [this] {
        qemu_.kill();
        vsock_.close(true);
        exit_process(0);
      };
      co_return r;
    }
    if (name == "vm.info") {
      if (state_ == State::none) not_created("The VM information could not be retrieved");
      json info;
      info["config"] = *config_;
      info["state"] = state_name();
      info["memory_actual_size"] = config_->at("memory").at("size");
      info["device_tree"] = json::object();
      co_return Response::json_body(200, info.dump());
    }
    if (name == "vm.counters") {
      if (!booted()) not_running("The VM counters could not be retrieved");
      co_return Response::json_body(200, "{}");
    }
    if (name == "vm.create") co_return create(body);
    if (name == "vm.boot") co_return co_await boot();
    if (name == "vm.pause") {
      if (state_ != State::running) not_running("The VM could not be paused");
      co_await qemu_.stop();
      state_ = State::paused;
      co_return Response{};
    }
    if (name == "vm.resume") {
      if (!booted()) not_running("The VM could not resume");
      if (state_ != State::paused)
        throw ApiError(500,
                       {"The VM could not resume",
                        fmt::format("invalid VM state transition: {} to Running", state_name())});
      co_await qemu_.cont();
      state_ = State::running;
      co_return Response{};
    }
    if (name == "vm.shutdown") {
      if (!booted()) not_running("The VM could not shut down");
      tear_down();
      state_ = State::shutdown;
      co_return Response{};
    }
    if (name == "vm.reboot" || name == "vm.power-button" || name == "vm.nmi") {
      const char* what = name == "vm.reboot"         ? "The VM could not reboot"
                         : name == "vm.power-button" ? "The power button could not be triggered"
                                                     : "The NMI could not be injected";
      if (state_ != State::running) not_running(what);
      std::string c = name == "vm.reboot"         ? "system_reset"
                      : name == "vm.power-button" ? "system_powerdown"
                                                  : "inject-nmi";
      nlohmann::json a = nullptr;
      co_await qemu_.qmp(c, a);
      co_return Response{};
    }
    if (name == "vm.delete") {
      if (booted()) tear_down();
      config_.reset();
      state_ = State::none;
      co_return Response{};
    }
    if (name == "vm.snapshot") co_return co_await snapshot(body);
    if (name == "vm.restore") co_return co_await restore(body);
    if (!booted()) not_running(action_text(name).c_str());
    throw ApiError(500,
                   {action_text(name),
                    fmt::format("{} is not emulated by attest's cloud-hypervisor double", name)});
  }

  const char* state_name() const {
    switch (state_) {
      case State::created:
        return "Created";
      case State::running:
        return "Running";
      case State::paused:
        return "Paused";
      case State::shutdown:
        return "Shutdown";
      case State::none:
        break;
    }
    return "Created";
  }

  json ping() const {
    return json{{"build_version", fmt::format("v{}", ch_version)},
                {"version", fmt::format("{}.0", ch_version)},
                {"pid", ::getpid()},
                {"features", json::array({"kvm", "io_uring"})}};
  }

  /// The VmConfig with cloud-hypervisor's defaults filled in (what vm.info and config.json show).
  static json with_defaults(json c) {
    if (!c.contains("cpus") || c["cpus"].is_null())
      c["cpus"] = json{{"boot_vcpus", 1}, {"max_vcpus", 1}};
    if (!c.contains("memory") || c["memory"].is_null())
      c["memory"] = json{{"size", std::uint64_t(512) << 20}};
    if (!c.contains("serial") || c["serial"].is_null()) c["serial"] = json{{"mode", "Null"}};
    if (!c.contains("console") || c["console"].is_null()) c["console"] = json{{"mode", "Tty"}};
    if (!c.contains("rng") || c["rng"].is_null()) c["rng"] = json{{"src", "/dev/urandom"}};
    std::size_t device = 0;
    if (c.contains("disks") && c["disks"].is_array())
      for (auto& d : c["disks"]) {
        if (!d.contains("readonly")) d["readonly"] = false;
        if (!d.contains("id") || d["id"].is_null()) d["id"] = fmt::format("_disk{}", device);
        ++device;
      }
    if (c.contains("net") && c["net"].is_array())
      for (auto& n : c["net"]) {
        if (!n.contains("id") || n["id"].is_null()) n["id"] = fmt::format("_net{}", device);
        ++device;
      }
    if (c.contains("vsock") && c["vsock"].is_object() &&
        (!c["vsock"].contains("id") || c["vsock"]["id"].is_null()))
      c["vsock"]["id"] = fmt::format("_vsock{}", device);
    return c;
  }

  Response create(const json& body) {
    if (config_) throw ApiError(500, {"The VM could not be created", "VM is already created"});
    const auto& payload = body.at("payload");
    if (!payload.contains("kernel") && !payload.contains("firmware"))
      throw ApiError(500, {"The VM could not be created", "Invalid VM configuration",
                           "No kernel or firmware specified"});
    const auto& cpus = body.contains("cpus") ? body["cpus"] : json(nullptr);
    if (cpus.is_object() &&
        cpus.at("boot_vcpus").get<unsigned>() > cpus.at("max_vcpus").get<unsigned>())
      throw ApiError(500, {"The VM could not be created", "Invalid VM configuration",
                           "Max is less than boot"});
    config_ = with_defaults(body);
    state_ = State::created;
    return Response{};
  }

  static ConsoleSpec console_spec(const json& c, const char* which) {
    ConsoleSpec s;
    const std::string mode = c.value("mode", "Null");
    if (mode == "Off") {
      s.mode = ConsoleSpec::Mode::off;
    } else if (mode == "Tty") {
      s.mode = ConsoleSpec::Mode::stdio;
    } else if (mode == "File") {
      if (!c.contains("file") || !c["file"].is_string())
        throw ApiError(500, {"The VM could not boot", "Error booting VM",
                             fmt::format("{} mode File needs a file", which)});
      s.mode = ConsoleSpec::Mode::file;
      s.path = c["file"].get<std::string>();
    } else if (mode == "Socket") {
      s.mode = ConsoleSpec::Mode::socket;
      s.path = c.value("socket", "");
    } else {
      s.mode = ConsoleSpec::Mode::null;  // Null; Pty is not emulated
    }
    return s;
  }

  MachineSpec machine_spec(const std::string& what) const {
    const json& c = *config_;
    MachineSpec spec;
    const auto& payload = c.at("payload");
    if (!payload.contains("kernel"))
      throw ApiError(500, {what, "Error booting VM",
                           "firmware boot is not emulated by attest's cloud-hypervisor double"});
    spec.kernel = payload["kernel"].get<std::string>();
    spec.initrd = payload.value("initramfs", "");
    // cloud-hypervisor adds nothing to the cmdline; the emulation parameter is the double's.
    spec.cmdline = payload.value("cmdline", "");
    if (c.contains("vsock") && c["vsock"].is_object()) {
      spec.cmdline += spec.cmdline.empty() ? "" : " ";
      spec.cmdline += vsock_emulation_param();
      spec.vsock_ports = emulated_vsock_ports();
    }
    spec.vcpus = c.at("cpus").at("boot_vcpus").get<unsigned>();
    const auto bytes = c.at("memory").at("size").get<std::uint64_t>();
    spec.mem_mib = (bytes + (1 << 20) - 1) >> 20;
    if (c.contains("disks") && c["disks"].is_array())
      for (const auto& d : c["disks"]) {
        if (!d.contains("path") || !d["path"].is_string())
          throw ApiError(500, {what, "Error booting VM",
                               "vhost-user disks are not emulated by attest's cloud-hypervisor "
                               "double"});
        spec.disks.push_back({d.at("id").get<std::string>(), d["path"].get<std::string>(),
                              d.value("readonly", false)});
      }
    if (c.contains("net") && c["net"].is_array())
      for (const auto& n : c["net"]) {
        if (!n.contains("tap") || !n["tap"].is_string())
          throw ApiError(500, {what, "Error booting VM",
                               "only net devices on a named tap are emulated by attest's "
                               "cloud-hypervisor double"});
        spec.nets.push_back(
            {n.at("id").get<std::string>(), n["tap"].get<std::string>(), n.value("mac", "")});
      }
    spec.serial = console_spec(c.at("serial"), "serial");
    spec.console = console_spec(c.at("console"), "console");
    spec.rng = true;
    spec.no_reboot = false;  // a guest reboot reboots the VM inside the process
    return spec;
  }

  /// Takes the disk-image locks (write for rw, read for readonly) and binds the vsock socket,
  /// as cloud-hypervisor does while creating the devices. Throws: ApiError.
  void claim_devices(const std::string& what) {
    const json& c = *config_;
    std::vector<FileLock> locks;
    if (c.contains("disks") && c["disks"].is_array())
      for (const auto& d : c["disks"]) {
        if (!d.contains("path") || !d["path"].is_string()) continue;
        const auto path = d["path"].get<std::string>();
        const bool ro = d.value("readonly", false);
        FileLock lock;
        if (const int err = lock.acquire(path, !ro)) {
          const std::string why =
              err == EAGAIN || err == EACCES
                  ? fmt::format("The disk image {} is locked by another process", path)
                  : fmt::format("Failed to open disk image {}: {}", path, os_error_text(err));
          throw ApiError(500, {what, "Error booting VM", "Error creating VM devices", why});
        }
        locks.push_back(std::move(lock));
      }
    if (c.contains("vsock") && c["vsock"].is_object()) {
      const auto path = c["vsock"].at("socket").get<std::string>();
      if (auto ec = vsock_.bind(path))
        throw ApiError(500, {what, "Error booting VM", "Error creating VM devices",
                             "Cannot create virtio-vsock device",
                             fmt::format("Error binding to the host-side Unix socket {}: {}", path,
                                         os_error_text(ec.value()))});
    }
    disk_locks_ = std::move(locks);
  }

  void release_devices() {
    vsock_.close(true);  // Vsock::shutdown removes the socket file
    disk_locks_.clear();
  }

  void tear_down() {
    qemu_.kill();
    release_devices();
  }

  awaitable<Response> boot() {
    if (state_ == State::none)
      throw ApiError(404, {"The VM could not boot", "VM config is missing"});
    if (booted()) throw ApiError(500, {"The VM could not boot", "VM is already running"});
    const MachineSpec spec = machine_spec("The VM could not boot");
    claim_devices("The VM could not boot");
    std::string failure;
    try {
      co_await qemu_.start(spec, false);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      release_devices();
      throw ApiError(500, {"The VM could not boot", "Error booting VM", failure});
    }
    spec_ = spec;
    vsock_.set_forwards(qemu_.forwards());
    vsock_.start_accepting();
    state_ = State::running;
    co_return Response{};
  }

  awaitable<Response> snapshot(const json& body) {
    const char* what = "The VM could not be snapshotted";
    if (!booted()) not_running(what);
    if (state_ != State::paused)
      throw ApiError(500,
                     {what, "Error snapshotting VM", "Trying to snapshot while VM is running"});
    const std::string url = body.value("destination_url", "");
    const std::string dir = file_url_path(url);
    if (dir.empty())
      throw ApiError(500, {what, "Error snapshotting VM",
                           fmt::format("Invalid snapshot destination URL {:?}", url)});
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw ApiError(500, {what, "Error snapshotting VM",
                           fmt::format("Failed to create the snapshot in {}: {}", dir,
                                       os_error_text(errno ? errno : ENOTDIR))});
    const std::string memory = dir + "/memory-ranges";
    std::string failure;
    try {
      co_await qemu_.save_state(std::filesystem::absolute(memory).string());
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty())
      throw ApiError(500,
                     {what, "Error snapshotting VM", "Failed to save the guest memory", failure});
    if (::stat(memory.c_str(), &st) != 0)
      throw ApiError(500, {what, "Error snapshotting VM", os_error_text(errno)});
    json state;
    state["format"] = snapshot_format;
    state["version"] = 1;
    state["cloud_hypervisor_version"] = ch_version;
    state["machine"] = spec_.to_json();
    state["memory_ranges_size"] = std::uint64_t(st.st_size);
    state["config_checksum"] = fmt::format("{:016x}", fnv1a(config_->dump()));
    state["checksum"] = fmt::format("{:016x}", fnv1a(state.dump()));
    try {
      write_file(dir + "/config.json", config_->dump(2) + "\n");
      write_file(dir + "/state.json", state.dump(2) + "\n");
    } catch (const std::system_error& e) {
      throw ApiError(500, {what, "Error snapshotting VM", e.what()});
    }
    co_return Response{};
  }

  struct RestorePlan {
    MachineSpec spec;
    std::string memory;
  };

  /// Everything of vm.restore before QEMU starts: reads and checks the snapshot, re-creates the
  /// configuration, claims the devices. Throws: ApiError.
  RestorePlan prepare_restore(const json& body) {
    const char* what = "The VM could not be restored";
    if (config_) throw ApiError(500, {what, "VM is already created"});
    const std::string url = body.at("source_url").get<std::string>();
    const std::string dir = file_url_path(url);
    if (dir.empty()) throw ApiError(500, {what, fmt::format("Invalid source URL {:?}", url)});
    json config, state;
    try {
      config = json::parse(read_file(dir + "/config.json"));
      state = json::parse(read_file(dir + "/state.json"));
    } catch (const std::exception& e) {
      throw ApiError(500, {what, "Error restoring VM",
                           fmt::format("Cannot read the snapshot in {}: {}", dir, e.what())});
    }
    json unsummed = state;
    unsummed.erase("checksum");
    if (state.value("format", "") != snapshot_format ||
        state.value("checksum", "") != fmt::format("{:016x}", fnv1a(unsummed.dump())))
      throw ApiError(500, {what, "Error restoring VM",
                           fmt::format("{} is not an intact snapshot of attest's "
                                       "cloud-hypervisor double",
                                       dir)});
    RestorePlan plan;
    plan.memory = dir + "/memory-ranges";
    struct stat st {};
    if (::stat(plan.memory.c_str(), &st) != 0 ||
        std::uint64_t(st.st_size) != state.value("memory_ranges_size", std::uint64_t(0)))
      throw ApiError(500, {what, "Error restoring VM",
                           fmt::format("The memory file {} is missing or does not belong to this "
                                       "snapshot",
                                       plan.memory)});
    // Devices are re-created from config.json (which the user may have edited).
    config_ = with_defaults(config);
    try {
      plan.spec = machine_spec(what);
      claim_devices(what);
    } catch (const ApiError& e) {
      config_.reset();
      throw ApiError(500, {what, "Error restoring VM", e.what()});
    }
    plan.spec.vsock_ports = MachineSpec::from_json(state.at("machine")).vsock_ports;
    return plan;
  }

  awaitable<Response> restore(const json& body) {
    RestorePlan plan = prepare_restore(body);
    std::string failure;
    try {
      co_await qemu_.start(plan.spec, true);
      co_await qemu_.load_state(std::filesystem::absolute(plan.memory).string());
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      // cloud-hypervisor deletes the half-restored VM.
      tear_down();
      config_.reset();
      throw ApiError(500, {"The VM could not be restored", "Error restoring VM", failure});
    }
    spec_ = plan.spec;
    state_ = State::paused;
    vsock_.set_forwards(qemu_.forwards());
    vsock_.start_accepting();
    if (body.value("resume", false)) {
      co_await qemu_.cont();
      state_ = State::running;
    }
    co_return Response{};
  }

  SchemaSet schemas_;
  Qemu qemu_;
  VsockMux vsock_;
  State state_ = State::none;
  std::optional<json> config_;
  MachineSpec spec_;
  std::vector<FileLock> disk_locks_;
};

// ---- command line ----

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr,
               "error: %s\n\nUsage: cloud-hypervisor [OPTIONS]\n\nFor more information, try "
               "'--help'.\n",
               message.c_str());
  std::exit(2);
}

int run(int argc, char** argv) {
  die_with_parent();
  std::string api_socket;
  std::string log_file;
  int verbosity = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_value = false;
    if (a.rfind("--", 0) == 0) {
      if (const auto eq = a.find('='); eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_value = true;
      }
    }
    auto take = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc)
        usage_error(
            fmt::format("a value is required for '{} <{}>' but none was supplied", a, a.substr(2)));
      return argv[++i];
    };
    if (a == "--api-socket") {
      api_socket = take();
    } else if (a == "--log-file") {
      log_file = take();
    } else if (a == "--seccomp" || a == "--event-monitor") {
      (void)take();
    } else if (a == "-v") {
      ++verbosity;
    } else if (a.size() > 2 && a[0] == '-' && a[1] == 'v' &&
               a.find_first_not_of('v', 1) == std::string::npos) {
      verbosity += int(a.size()) - 1;
    } else if (a == "-V" || a == "--version") {
      std::printf(
          "cloud-hypervisor v%s\nattest's test double of cloud-hypervisor (guests run under "
          "QEMU)\n",
          std::string(ch_version).c_str());
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "attest-cloud-hypervisor-double: cloud-hypervisor's API, guests under QEMU.\n"
          "  --api-socket <path>|path=<path>|fd=<fd>  --log-file <path>  -v  --seccomp <v>\n"
          "  --event-monitor <v>  -V, --version\n");
      return 0;
    } else {
      usage_error(fmt::format("unexpected argument '{}' found", a));
    }
  }
  auto& log = Log::get();
  log.set_prefix("cloud-hypervisor");
  log.set_level(verbosity >= 2   ? Log::Level::debug
                : verbosity == 1 ? Log::Level::info
                                 : Log::Level::warning);
  if (!log_file.empty()) {
    try {
      log.open(log_file);
      if (verbosity == 0) log.set_level(Log::Level::info);
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "Error creating log file: %s\n", e.what());
      return 1;
    }
  }
  asio::io_context io;
  asio::local::stream_protocol::acceptor acceptor(io);
  FileLock api_lock;
  if (!api_socket.empty()) {
    std::string path = api_socket;
    if (path.rfind("fd=", 0) == 0) {
      const int fd = std::atoi(path.c_str() + 3);
      acceptor.assign(asio::local::stream_protocol(), fd);
    } else {
      if (path.rfind("path=", 0) == 0) path = path.substr(5);
      // v53: an OFD write lock on <socket>.lock, then the stale socket file goes, then bind.
      if (const int err = api_lock.acquire(path + ".lock", true, true)) {
        const std::string msg =
            err == EAGAIN || err == EACCES
                ? fmt::format(
                      "Error booting VMM: ApiSocketInUse: the API socket {} is in use by "
                      "another cloud-hypervisor process",
                      path)
                : fmt::format("Error booting VMM: cannot lock {}.lock: {}", path,
                              os_error_text(err));
        std::fprintf(stderr, "%s\n", msg.c_str());
        log.error(msg);
        return 1;
      }
      ::unlink(path.c_str());
      if (auto ec = bind_unix(acceptor, path)) {
        const auto msg = fmt::format("Error booting VMM: Error binding the API socket {}: {}", path,
                                     os_error_text(ec.value()));
        std::fprintf(stderr, "%s\n", msg.c_str());
        log.error(msg);
        return 1;
      }
    }
  }
  log.info(fmt::format("Cloud Hypervisor v{} (attest double) starting", ch_version));
  CloudHypervisor vmm(io);
  ApiServer::Options options;
  options.server_name = "Cloud Hypervisor API";
  options.methods = {"GET", "PUT", "PATCH"};
  options.fc_payload_error = false;
  ApiServer server(io, options, [&vmm](Request r) { return vmm.handle(std::move(r)); });
  if (acceptor.is_open()) server.start(std::move(acceptor));
  // Without an API socket the VMM just idles (there is no VM without --kernel).
  asio::signal_set idle(io);
  asio::executor_work_guard<asio::io_context::executor_type> work(io.get_executor());
  io.run();
  exit_process(0);
}

}  // namespace
}  // namespace attest::doubles

int main(int argc, char** argv) { return attest::doubles::run(argc, argv); }
