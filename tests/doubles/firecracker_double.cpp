// attest-firecracker-double: a stand-in for the firecracker binary (v1.16.1) for attest's tests.
// Same command line, same API over the same HTTP dialect, same state machine and error texts
// (shared/reference/vmm-api.md §1.1, §2.1, §3, §4, §5.1); the guest runs under QEMU, and the
// hybrid vsock is emulated over a user-mode NIC (see double_core.hpp).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "double_core.hpp"

namespace attest::doubles {
namespace {

constexpr std::string_view fc_version = "1.16.1";
constexpr std::string_view default_boot_args =
    "reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd "
    "swiotlb=noforce";
constexpr std::string_view snapshot_format = "attest-firecracker-double-snapshot";

// The request bodies of firecracker.yaml (v1.16.1: huge_pages has no "Transparent" yet), with
// the Rust integer widths of the structs they deserialise into. Every struct denies unknown
// fields. `x-rust` names the struct for "expected struct ..." messages.
constexpr std::string_view fc_schemas = R"json({
  "TokenBucket": {"x-rust": "TokenBucketConfig", "required": ["size", "refill_time"],
    "properties": {"size": {"type": "integer", "format": "u64"},
                   "one_time_burst": {"type": "integer", "format": "u64"},
                   "refill_time": {"type": "integer", "format": "u64"}}},
  "RateLimiter": {"x-rust": "RateLimiterConfig",
    "properties": {"bandwidth": {"$ref": "TokenBucket"}, "ops": {"$ref": "TokenBucket"}}},
  "Logger": {"x-rust": "LoggerConfig",
    "properties": {"log_path": {"type": "string"}, "level": {"type": "string"},
                   "show_level": {"type": "boolean"}, "show_log_origin": {"type": "boolean"},
                   "module": {"type": "string"}}},
  "Metrics": {"x-rust": "MetricsConfig", "required": ["metrics_path"],
    "properties": {"metrics_path": {"type": "string"}}},
  "BootSource": {"x-rust": "BootSourceConfig", "required": ["kernel_image_path"],
    "properties": {"kernel_image_path": {"type": "string"}, "initrd_path": {"type": "string"},
                   "boot_args": {"type": "string"}}},
  "MachineConfiguration": {"x-rust": "MachineConfig", "required": ["vcpu_count", "mem_size_mib"],
    "properties": {"vcpu_count": {"type": "integer", "format": "u8", "minimum": 1, "maximum": 32},
                   "mem_size_mib": {"type": "integer", "format": "usize"},
                   "smt": {"type": "boolean"},
                   "cpu_template": {"type": "string",
                     "enum": ["C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None"]},
                   "track_dirty_pages": {"type": "boolean"},
                   "huge_pages": {"type": "string", "enum": ["None", "2M"]}}},
  "MachineConfigurationPatch": {"x-rust": "MachineConfigUpdate",
    "properties": {"vcpu_count": {"type": "integer", "format": "u8", "minimum": 1, "maximum": 32},
                   "mem_size_mib": {"type": "integer", "format": "usize"},
                   "smt": {"type": "boolean"},
                   "cpu_template": {"type": "string",
                     "enum": ["C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None"]},
                   "track_dirty_pages": {"type": "boolean"},
                   "huge_pages": {"type": "string", "enum": ["None", "2M"]}}},
  "Drive": {"x-rust": "BlockDeviceConfig", "required": ["drive_id", "is_root_device"],
    "properties": {"drive_id": {"type": "string"}, "partuuid": {"type": "string"},
                   "is_root_device": {"type": "boolean"},
                   "cache_type": {"type": "string", "enum": ["Unsafe", "Writeback"]},
                   "is_read_only": {"type": "boolean"}, "path_on_host": {"type": "string"},
                   "rate_limiter": {"$ref": "RateLimiter"},
                   "io_engine": {"type": "string", "enum": ["Sync", "Async"]},
                   "socket": {"type": "string"}}},
  "PartialDrive": {"x-rust": "BlockDeviceUpdateConfig", "required": ["drive_id"],
    "properties": {"drive_id": {"type": "string"}, "path_on_host": {"type": "string"},
                   "rate_limiter": {"$ref": "RateLimiter"}}},
  "NetworkInterface": {"x-rust": "NetworkInterfaceConfig", "required": ["iface_id", "host_dev_name"],
    "properties": {"iface_id": {"type": "string"}, "host_dev_name": {"type": "string"},
                   "guest_mac": {"type": "string"},
                   "mtu": {"type": "integer", "format": "u16", "minimum": 68, "maximum": 65535},
                   "rx_rate_limiter": {"$ref": "RateLimiter"},
                   "tx_rate_limiter": {"$ref": "RateLimiter"}}},
  "PartialNetworkInterface": {"x-rust": "NetworkInterfaceUpdateConfig", "required": ["iface_id"],
    "properties": {"iface_id": {"type": "string"}, "rx_rate_limiter": {"$ref": "RateLimiter"},
                   "tx_rate_limiter": {"$ref": "RateLimiter"}}},
  "Vsock": {"x-rust": "VsockDeviceConfig", "required": ["guest_cid", "uds_path"],
    "properties": {"vsock_id": {"type": "string"},
                   "guest_cid": {"type": "integer", "format": "u32", "minimum": 3},
                   "uds_path": {"type": "string"}}},
  "SerialDevice": {"x-rust": "SerialConfig",
    "properties": {"serial_out_path": {"type": "string"}, "rate_limiter": {"$ref": "TokenBucket"}}},
  "EntropyDevice": {"x-rust": "EntropyDeviceConfig",
    "properties": {"rate_limiter": {"$ref": "RateLimiter"}}},
  "Balloon": {"x-rust": "BalloonDeviceConfig", "required": ["amount_mib", "deflate_on_oom"],
    "properties": {"amount_mib": {"type": "integer", "format": "u32"},
                   "deflate_on_oom": {"type": "boolean"},
                   "stats_polling_interval_s": {"type": "integer", "format": "u16"},
                   "free_page_hinting": {"type": "boolean"},
                   "free_page_reporting": {"type": "boolean"}}},
  "BalloonUpdate": {"x-rust": "BalloonUpdateConfig", "required": ["amount_mib"],
    "properties": {"amount_mib": {"type": "integer", "format": "u32"}}},
  "BalloonStatsUpdate": {"x-rust": "BalloonUpdateStatsConfig",
    "required": ["stats_polling_interval_s"],
    "properties": {"stats_polling_interval_s": {"type": "integer", "format": "u16"}}},
  "BalloonStartCmd": {"x-rust": "StartHintingCmd",
    "properties": {"acknowledge_on_stop": {"type": "boolean"}}},
  "CpuConfig": {"x-rust": "CustomCpuTemplate",
    "properties": {"kvm_capabilities": {"type": "array", "items": {"type": "string"}},
                   "cpuid_modifiers": {"type": "array", "items": {"type": "object"}},
                   "msr_modifiers": {"type": "array", "items": {"type": "object"}},
                   "reg_modifiers": {"type": "array", "items": {"type": "object"}},
                   "vcpu_features": {"type": "array", "items": {"type": "object"}}}},
  "Pmem": {"x-rust": "PmemConfig", "required": ["id", "path_on_host"],
    "properties": {"id": {"type": "string"}, "path_on_host": {"type": "string"},
                   "root_device": {"type": "boolean"}, "read_only": {"type": "boolean"},
                   "rate_limiter": {"$ref": "RateLimiter"}}},
  "PartialPmem": {"x-rust": "PmemUpdateConfig", "required": ["id"],
    "properties": {"id": {"type": "string"}, "rate_limiter": {"$ref": "RateLimiter"}}},
  "MmdsConfig": {"x-rust": "MmdsConfig", "required": ["network_interfaces"],
    "properties": {"version": {"type": "string", "enum": ["V1", "V2"]},
                   "network_interfaces": {"type": "array", "items": {"type": "string"}},
                   "ipv4_address": {"type": "string"}, "imds_compat": {"type": "boolean"}}},
  "MemoryHotplugConfig": {"x-rust": "MemoryHotplugConfig",
    "properties": {"total_size_mib": {"type": "integer", "format": "usize"},
                   "slot_size_mib": {"type": "integer", "format": "usize", "minimum": 128},
                   "block_size_mib": {"type": "integer", "format": "usize", "minimum": 2}}},
  "MemoryHotplugSizeUpdate": {"x-rust": "MemoryHotplugSizeUpdate",
    "properties": {"requested_size_mib": {"type": "integer", "format": "usize"}}},
  "InstanceActionInfo": {"x-rust": "ActionBody", "required": ["action_type"],
    "properties": {"action_type": {"type": "string",
                     "enum": ["FlushMetrics", "InstanceStart", "SendCtrlAltDel"]}}},
  "Vm": {"x-rust": "Vm", "required": ["state"],
    "properties": {"state": {"type": "string", "enum": ["Paused", "Resumed"]}}},
  "SnapshotCreateParams": {"x-rust": "CreateSnapshotParams",
    "required": ["snapshot_path", "mem_file_path"],
    "properties": {"snapshot_type": {"type": "string", "enum": ["Full", "Diff"]},
                   "snapshot_path": {"type": "string"}, "mem_file_path": {"type": "string"}}},
  "MemoryBackend": {"x-rust": "MemBackendConfig", "required": ["backend_type", "backend_path"],
    "properties": {"backend_type": {"type": "string", "enum": ["File", "Uffd"]},
                   "backend_path": {"type": "string"}}},
  "NetworkOverride": {"x-rust": "NetworkOverride", "required": ["iface_id", "host_dev_name"],
    "properties": {"iface_id": {"type": "string"}, "host_dev_name": {"type": "string"}}},
  "VsockOverride": {"x-rust": "VsockOverride", "required": ["uds_path"],
    "properties": {"uds_path": {"type": "string"}}},
  "SnapshotLoadParams": {"x-rust": "LoadSnapshotConfig", "required": ["snapshot_path"],
    "properties": {"snapshot_path": {"type": "string"}, "mem_file_path": {"type": "string"},
                   "mem_backend": {"$ref": "MemoryBackend"},
                   "enable_diff_snapshots": {"type": "boolean"},
                   "track_dirty_pages": {"type": "boolean"}, "resume_vm": {"type": "boolean"},
                   "network_overrides": {"type": "array", "items": {"$ref": "NetworkOverride"}},
                   "vsock_override": {"$ref": "VsockOverride"},
                   "clock_realtime": {"type": "boolean"}}}
})json";

Response fault(std::string message, int status = 400) {
  return Response::json_body(status, json({{"fault_message", std::move(message)}}).dump());
}

Response no_content() { return Response{}; }

Response ok_json(const json& body) { return Response::json_body(200, body.dump()); }

/// A VMM error, answered as 400 {"fault_message": ...}.
struct Fault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::string_view post_boot_error =
    "The requested operation is not supported after starting the microVM.";
constexpr std::string_view pre_boot_error =
    "The requested operation is not supported before starting the microVM.";

/// FC's checked_id: non-empty, alphanumerics and '_' only.
std::optional<std::string> id_error(const std::optional<std::string>& id) {
  if (!id || id->empty()) return std::string("The ID cannot be empty.");
  for (unsigned char c : *id)
    if (!(std::isalnum(c) || c == '_'))
      return std::string(
          "API Resource IDs can only contain alphanumeric characters and underscores.");
  return std::nullopt;
}

std::string status_text(int status) {
  switch (status) {
    case 200:
      return "200 OK";
    case 204:
      return "204 No Content";
    case 400:
      return "400 Bad Request";
    case 413:
      return "413 Payload Too Large";
    default:
      return std::to_string(status);
  }
}

class Firecracker {
 public:
  Firecracker(asio::io_context& io, std::string id)
      : id_(std::move(id)),
        schemas_(fc_schemas, true),
        qemu_(io),
        vsock_(io, VsockMux::Dialect::firecracker) {
    qemu_.on_exit = [](int status) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        // The guest rebooted or powered off: Firecracker ends with it.
        Log::get().info("Guest requested shutdown or reboot; the microVM exits.");
        exit_process(0);
      }
      const auto msg = fmt::format("QEMU running the guest ended unexpectedly: {}",
                                   describe_wait_status(status));
      Log::get().error(msg);
      std::fprintf(stderr, "attest-firecracker-double: %s\n", msg.c_str());
      exit_process(1);
    };
  }

  awaitable<Response> handle(Request request) {
    auto& log = Log::get();
    log.info(request.body ? fmt::format("The API server received a {} request on {:?} with body "
                                        "{:?}.",
                                        pretty_method(request.method), request.path, *request.body)
                          : fmt::format("The API server received a {} request on {:?}.",
                                        pretty_method(request.method), request.path));
    Response r;
    std::string fault_text;
    deprecated_ = false;
    try {
      r = co_await dispatch(request);
    } catch (const Fault& f) {
      fault_text = f.what();
    }
    if (!fault_text.empty()) r = fault(fault_text);
    // A deprecated field marks the answer, whatever the outcome (api_server/mod.rs).
    if (deprecated_) r.deprecation = true;
    if (r.status >= 400)
      log.error(fmt::format("Received Error. Status code: {}. Message: {}", status_text(r.status),
                            r.body.value_or("")));
    else
      log.info(fmt::format("The request was executed successfully. Status code: {}.",
                           status_text(r.status)));
    co_return r;
  }

 private:
  static std::string pretty_method(const std::string& m) {
    if (m == "GET") return "Get";
    if (m == "PUT") return "Put";
    if (m == "PATCH") return "Patch";
    return m;
  }

  /// Deserialises `body` as `schema`, with serde's messages. Throws: Fault.
  json parse(const std::string& body, std::string_view schema) const {
    Violation v;
    auto parsed = parse_body(body, v);
    if (parsed) {
      auto violation = schemas_.validate(*parsed, body, schema);
      if (!violation) return *parsed;
      v = *violation;
      if (v.kind == Violation::Kind::range) throw RangeError(v);
    }
    throw Fault(fmt::format("An error occurred when deserializing the json body of a request: {}.",
                            v.serde_text(body)));
  }

  struct RangeError : std::runtime_error {
    explicit RangeError(Violation v) : std::runtime_error(v.message), violation(std::move(v)) {}
    Violation violation;
  };

  bool started() const { return state_ != State::not_started; }
  void require_pre_boot() const {
    if (started()) throw Fault(std::string(post_boot_error));
  }
  void require_post_boot() const {
    if (!started()) throw Fault(std::string(pre_boot_error));
  }

  static Response invalid_path(const std::string& method, const std::string& path) {
    return fault(fmt::format("Invalid request method and/or path: {} {}.", method, path));
  }

  awaitable<Response> dispatch(const Request& request) {
    // parsed_request.rs: trim the leading '/', split on '/' dropping a trailing empty token.
    std::string uri = request.path;
    while (!uri.empty() && uri.front() == '/') uri.erase(0, 1);
    std::vector<std::string> tokens;
    {
      std::size_t start = 0;
      while (start < uri.size()) {
        const auto slash = uri.find('/', start);
        if (slash == std::string::npos) {
          tokens.push_back(uri.substr(start));
          break;
        }
        tokens.push_back(uri.substr(start, slash - start));
        start = slash + 1;
      }
    }
    const std::string first = tokens.empty() ? "" : tokens[0];
    auto token = [&](std::size_t i) -> std::optional<std::string> {
      if (i < tokens.size()) return tokens[i];
      return std::nullopt;
    };
    const auto& m = request.method;
    const bool has_body = request.body.has_value();
    const std::string body = request.body.value_or("");

    if (m == "GET" && !has_body) {
      if (first.empty()) co_return ok_json(instance_info());
      if (first == "version") co_return ok_json(json{{"firecracker_version", fc_version}});
      if (first == "vm" && token(1) == "config") co_return ok_json(full_config());
      if (first == "machine-config") co_return ok_json(machine_config_json());
      if (first == "mmds") co_return ok_json(mmds_.is_null() ? json::object() : mmds_);
      if (first == "balloon") {
        if (!balloon_) throw Fault("Balloon config error: No balloon device found.");
        if (token(1)) require_post_boot();
        if (token(1) == "statistics")
          throw Fault("Balloon config error: Statistics for the balloon device are not enabled");
        co_return ok_json(*balloon_);
      }
      if (first == "hotplug" && token(1) == "memory") {
        if (!memory_hotplug_)
          throw Fault("Memory hotplug config error: Memory hotplug device not found.");
        co_return ok_json(*memory_hotplug_);
      }
      co_return invalid_path(m, first);
    }
    if (m == "GET") co_return fault("GET request cannot have a body.");
    if (m == "PUT" && has_body) {
      if (first == "actions") co_return co_await put_actions(body);
      if (first == "boot-source") co_return put_boot_source(body);
      if (first == "machine-config") co_return put_machine_config(body, false);
      if (first == "drives") co_return put_drive(body, token(1));
      if (first == "network-interfaces") co_return put_net(body, token(1));
      if (first == "vsock") co_return put_vsock(body);
      if (first == "logger") co_return put_logger(body);
      if (first == "metrics") co_return put_metrics(body);
      if (first == "serial") co_return put_serial(body);
      if (first == "entropy") co_return put_simple(body, "EntropyDevice", entropy_, true);
      if (first == "balloon") co_return put_simple(body, "Balloon", balloon_, true);
      if (first == "cpu-config") co_return put_simple(body, "CpuConfig", cpu_config_, false);
      if (first == "hotplug" && token(1) == "memory")
        co_return put_simple(body, "MemoryHotplugConfig", memory_hotplug_, true);
      if (first == "pmem") co_return put_pmem(body, token(1));
      if (first == "mmds") {
        if (token(1) == "config") co_return put_simple(body, "MmdsConfig", mmds_config_, false);
        if (token(1)) co_return invalid_path(m, first);
        Violation v;
        auto parsed = parse_body(body, v);
        if (!parsed)
          throw Fault(
              fmt::format("An error occurred when deserializing the json body of a request: {}.",
                          v.serde_text(body)));
        mmds_ = *parsed;
        co_return no_content();
      }
      if (first == "snapshot") {
        if (!token(1)) throw Fault("Missing snapshot operation type.");
        if (token(1) == "create") co_return co_await put_snapshot_create(body);
        if (token(1) == "load") co_return co_await put_snapshot_load(body);
        co_return invalid_path(m, "/snapshot/" + *token(1));
      }
      co_return invalid_path(m, first);
    }
    if (m == "PUT") co_return fault("Empty PUT request.");
    if (m == "PATCH" && first == "balloon") co_return patch_balloon(request.body, token(1));
    if (m == "PATCH" && has_body) {
      if (first == "vm") co_return co_await patch_vm(body);
      if (first == "machine-config") co_return put_machine_config(body, true);
      if (first == "drives") co_return patch_drive(body, token(1));
      if (first == "network-interfaces") co_return patch_net(body, token(1));
      if (first == "mmds") {
        Violation v;
        auto parsed = parse_body(body, v);
        if (!parsed)
          throw Fault(
              fmt::format("An error occurred when deserializing the json body of a request: {}.",
                          v.serde_text(body)));
        if (mmds_.is_null()) mmds_ = json::object();
        mmds_.merge_patch(*parsed);
        co_return no_content();
      }
      if (first == "hotplug" && token(1) == "memory") {
        parse(body, "MemoryHotplugSizeUpdate");
        require_post_boot();
        throw Fault(
            "Memory hotplug update error: attest's Firecracker double does not emulate "
            "memory hotplug.");
      }
      co_return invalid_path(m, first);
    }
    if (m == "PATCH") co_return fault("Empty PATCH request.");
    co_return invalid_path(m, first);
  }

  // ---- GET bodies ----

  json instance_info() const {
    const char* state = state_ == State::not_started ? "Not started"
                        : state_ == State::running   ? "Running"
                                                     : "Paused";
    return json{
        {"id", id_}, {"state", state}, {"vmm_version", fc_version}, {"app_name", "Firecracker"}};
  }

  json machine_config_json() const {
    json j{{"vcpu_count", vcpus_}, {"mem_size_mib", mem_mib_}, {"smt", smt_}};
    if (!cpu_template_.empty() && cpu_template_ != "None") j["cpu_template"] = cpu_template_;
    j["track_dirty_pages"] = track_dirty_pages_;
    j["huge_pages"] = huge_pages_;
    return j;
  }

  json full_config() const {
    json j;
    j["balloon"] = balloon_ ? *balloon_ : json(nullptr);
    j["drives"] = json::array();
    for (const auto& d : drives_) j["drives"].push_back(d);
    j["boot-source"] = boot_source_ ? *boot_source_ : json::object();
    j["cpu-config"] = cpu_config_ ? *cpu_config_ : json(nullptr);
    j["logger"] = nullptr;
    j["machine-config"] = machine_config_json();
    j["metrics"] = metrics_path_.empty() ? json(nullptr) : json{{"metrics_path", metrics_path_}};
    j["mmds-config"] = mmds_config_ ? *mmds_config_ : json(nullptr);
    j["network-interfaces"] = json::array();
    for (const auto& n : nets_) j["network-interfaces"].push_back(n);
    j["vsock"] = vsock_config_ ? *vsock_config_ : json(nullptr);
    j["entropy"] = entropy_ ? *entropy_ : json(nullptr);
    j["pmem"] = json::array();
    for (const auto& p : pmem_) j["pmem"].push_back(p);
    j["memory-hotplug"] = memory_hotplug_ ? *memory_hotplug_ : json(nullptr);
    return j;
  }

  // ---- pre-boot configuration ----

  Response put_boot_source(const std::string& body) {
    auto j = parse(body, "BootSource");
    require_pre_boot();
    const auto kernel = j.at("kernel_image_path").get<std::string>();
    if (::access(kernel.c_str(), R_OK) != 0)
      throw Fault(fmt::format("Boot source error: The kernel file cannot be opened: {}",
                              os_error_text(errno)));
    if (j.contains("initrd_path") && j["initrd_path"].is_string() &&
        ::access(j["initrd_path"].get<std::string>().c_str(), R_OK) != 0)
      throw Fault(fmt::format(
          "Boot source error: The initrd file cannot be opened due to invalid path or invalid "
          "permissions. {}",
          os_error_text(errno)));
    json stored{{"kernel_image_path", kernel}};
    if (j.contains("initrd_path") && !j["initrd_path"].is_null())
      stored["initrd_path"] = j["initrd_path"];
    if (j.contains("boot_args") && !j["boot_args"].is_null()) stored["boot_args"] = j["boot_args"];
    boot_source_ = stored;
    boot_path_ = true;
    return no_content();
  }

  Response put_machine_config(const std::string& body, bool patch) {
    json j;
    try {
      j = parse(body, patch ? "MachineConfigurationPatch" : "MachineConfiguration");
    } catch (const RangeError& e) {
      require_pre_boot();
      if (e.violation.path.back() == "vcpu_count")
        throw Fault(
            "Machine config error: The vCPU number is invalid! The vCPU number can only be 1 or "
            "an even number when SMT is enabled.");
      throw Fault(fmt::format("Machine config error: {}", e.violation.message));
    }
    if (patch && j.empty()) throw Fault("Empty PATCH request.");
    require_pre_boot();
    unsigned vcpus = patch ? vcpus_ : 1;
    std::uint64_t mem = patch ? mem_mib_ : 128;
    bool smt = patch ? smt_ : false;
    bool tdp = patch ? track_dirty_pages_ : false;
    std::string huge = patch ? huge_pages_ : "None";
    std::string tmpl = patch ? cpu_template_ : "";
    if (j.contains("vcpu_count") && !j["vcpu_count"].is_null())
      vcpus = j["vcpu_count"].get<unsigned>();
    if (j.contains("mem_size_mib") && !j["mem_size_mib"].is_null())
      mem = j["mem_size_mib"].get<std::uint64_t>();
    if (j.contains("smt") && !j["smt"].is_null()) smt = j["smt"].get<bool>();
    if (j.contains("track_dirty_pages") && !j["track_dirty_pages"].is_null())
      tdp = j["track_dirty_pages"].get<bool>();
    if (j.contains("huge_pages") && !j["huge_pages"].is_null())
      huge = j["huge_pages"].get<std::string>();
    if (j.contains("cpu_template") && !j["cpu_template"].is_null())
      tmpl = j["cpu_template"].get<std::string>();
    if (vcpus == 0 || vcpus > 32 || (smt && vcpus > 1 && vcpus % 2 == 1))
      throw Fault(
          "Machine config error: The vCPU number is invalid! The vCPU number can only be 1 or an "
          "even number when SMT is enabled.");
    if (mem == 0) throw Fault("Machine config error: The memory size (MiB) is invalid.");
    if (huge == "2M" && mem % 2 != 0)
      throw Fault(
          "Machine config error: The memory size (MiB) is either 0, or not a multiple of the "
          "configured page size.");
    vcpus_ = vcpus;
    mem_mib_ = mem;
    smt_ = smt;
    track_dirty_pages_ = tdp;
    huge_pages_ = huge;
    cpu_template_ = tmpl;
    boot_path_ = true;
    return no_content();
  }

  Response put_drive(const std::string& body, const std::optional<std::string>& id) {
    if (auto e = id_error(id)) throw Fault(*e);
    auto j = parse(body, "Drive");
    if (j.at("drive_id").get<std::string>() != *id)
      throw Fault("The id from the path does not match the id from the body!");
    require_pre_boot();
    if (j.contains("socket") && !j["socket"].is_null())
      throw Fault(
          "Drive config error: attest's Firecracker double does not emulate vhost-user block "
          "devices.");
    if (!j.contains("path_on_host") || j["path_on_host"].is_null())
      throw Fault("Drive config error: path_on_host is required for a virtio-block drive.");
    const auto path = j["path_on_host"].get<std::string>();
    const bool read_only = j.value("is_read_only", false);
    const int fd = ::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
      throw Fault(fmt::format(
          "Drive config error: Unable to create the virtio block device: Virtio backend error: "
          "Error manipulating the backing file: {} {}",
          os_error_text(errno), path));
    ::close(fd);
    const bool root = j.at("is_root_device").get<bool>();
    if (root)
      for (const auto& d : drives_)
        if (d["is_root_device"].get<bool>() && d["drive_id"] != *id)
          throw Fault("Drive config error: A root block device already exists!");
    json stored{{"drive_id", *id},
                {"partuuid", j.contains("partuuid") ? j["partuuid"] : json(nullptr)},
                {"is_root_device", root},
                {"cache_type", j.value("cache_type", "Unsafe")},
                {"is_read_only", read_only},
                {"path_on_host", path},
                {"rate_limiter", j.contains("rate_limiter") ? j["rate_limiter"] : json(nullptr)},
                {"io_engine", j.value("io_engine", "Sync")},
                {"socket", nullptr}};
    for (auto& d : drives_) {
      if (d["drive_id"] == *id) {
        d = stored;
        boot_path_ = true;
        return no_content();
      }
    }
    drives_.push_back(stored);
    boot_path_ = true;
    return no_content();
  }

  Response put_net(const std::string& body, const std::optional<std::string>& id) {
    if (auto e = id_error(id)) throw Fault(*e);
    json j;
    try {
      j = parse(body, "NetworkInterface");
    } catch (const RangeError& e) {
      throw Fault(fmt::format("Network config error: The MTU is invalid: {}", e.violation.message));
    }
    if (j.at("iface_id").get<std::string>() != *id)
      throw Fault("The id from the path does not match the id from the body!");
    require_pre_boot();
    const auto tap = j.at("host_dev_name").get<std::string>();
    const auto mac = j.value("guest_mac", "");
    for (const auto& n : nets_) {
      if (n["iface_id"] == *id) continue;
      if (n["host_dev_name"] == tap)
        throw Fault(fmt::format(
            "Network config error: Could not create the network device: The host device name "
            "{} is already in use.",
            tap));
      if (!mac.empty() && n.value("guest_mac", "") == mac)
        throw Fault(
            fmt::format("Network config error: The MAC address is already in use: {}", mac));
    }
    json stored{{"iface_id", *id}, {"host_dev_name", tap}};
    if (!mac.empty()) stored["guest_mac"] = mac;
    for (const char* k : {"mtu", "rx_rate_limiter", "tx_rate_limiter"})
      if (j.contains(k) && !j[k].is_null()) stored[k] = j[k];
    for (auto& n : nets_) {
      if (n["iface_id"] == *id) {
        n = stored;
        boot_path_ = true;
        return no_content();
      }
    }
    nets_.push_back(stored);
    boot_path_ = true;
    return no_content();
  }

  Response put_vsock(const std::string& body) {
    json j;
    try {
      j = parse(body, "Vsock");
    } catch (const RangeError& e) {
      require_pre_boot();
      throw Fault(fmt::format(
          "Vsock config error: Cannot create backend for vsock device: invalid guest CID {}: CIDs "
          "0, 1 and 2 are reserved",
          locate_value(body, e.violation)));
    }
    deprecated_ = j.contains("vsock_id");
    require_pre_boot();
    const auto path = j.at("uds_path").get<std::string>();
    // The backend binds the socket right here; an existing file makes bind() fail.
    if (auto ec = vsock_.bind(path))
      throw Fault(fmt::format(
          "Vsock config error: Cannot create backend for vsock device: Error binding to the "
          "host-side Unix socket: {}",
          os_error_text(ec.value())));
    vsock_config_ = json{{"guest_cid", j.at("guest_cid")}, {"uds_path", path}};
    boot_path_ = true;
    return no_content();
  }

  static std::string locate_value(const std::string& body, const Violation& v) {
    const auto end = locate(body, v.path, Spot::value);
    std::size_t start = end;
    while (start > 0 && std::isdigit(static_cast<unsigned char>(body[start - 1]))) --start;
    return body.substr(start, end - start + 1);
  }

  Response put_logger(const std::string& body) {
    auto j = parse(body, "Logger");
    require_pre_boot();
    auto& log = Log::get();
    if (j.contains("level") && j["level"].is_string()) {
      auto level = parse_level(j["level"].get<std::string>());
      if (!level)
        throw Fault(
            fmt::format("Logger error: Invalid log level: {}", j["level"].get<std::string>()));
      log.set_level(*level);
    }
    if (j.contains("show_level") && j["show_level"].is_boolean())
      log.set_show_level(j["show_level"].get<bool>());
    if (j.contains("log_path") && j["log_path"].is_string()) {
      try {
        log.open(j["log_path"].get<std::string>());
      } catch (const std::system_error& e) {
        throw Fault(fmt::format("Logger error: Failed to open target file: {}",
                                os_error_text(e.code().value())));
      }
    }
    return no_content();
  }

  Response put_metrics(const std::string& body) {
    auto j = parse(body, "Metrics");
    require_pre_boot();
    if (!metrics_path_.empty())
      throw Fault("Metrics error: Reinitialization of metrics not allowed.");
    const auto path = j.at("metrics_path").get<std::string>();
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
      throw Fault(
          fmt::format("Metrics error: Cannot initialize the metrics system due to bad "
                      "user input: {}",
                      os_error_text(errno)));
    ::close(fd);
    metrics_path_ = path;
    return no_content();
  }

  Response put_serial(const std::string& body) {
    auto j = parse(body, "SerialDevice");
    require_pre_boot();
    serial_out_path_ = j.contains("serial_out_path") && j["serial_out_path"].is_string()
                           ? j["serial_out_path"].get<std::string>()
                           : std::string{};
    return no_content();
  }

  Response put_simple(const std::string& body, std::string_view schema, std::optional<json>& slot,
                      bool boot_resource) {
    json j;
    try {
      j = parse(body, schema);
    } catch (const RangeError& e) {
      throw Fault(e.violation.message);
    }
    require_pre_boot();
    slot = j;
    if (boot_resource) boot_path_ = true;
    return no_content();
  }

  Response put_pmem(const std::string& body, const std::optional<std::string>& id) {
    if (auto e = id_error(id)) throw Fault(*e);
    auto j = parse(body, "Pmem");
    if (j.at("id").get<std::string>() != *id)
      throw Fault("The id from the path does not match the id from the body!");
    require_pre_boot();
    for (auto& p : pmem_)
      if (p["id"] == *id) {
        p = j;
        boot_path_ = true;
        return no_content();
      }
    pmem_.push_back(j);
    boot_path_ = true;
    return no_content();
  }

  // ---- post-boot updates ----

  Response patch_drive(const std::string& body, const std::optional<std::string>& id) {
    if (auto e = id_error(id)) throw Fault(*e);
    auto j = parse(body, "PartialDrive");
    if (j.at("drive_id").get<std::string>() != *id)
      throw Fault("The id from the path does not match the id from the body!");
    require_post_boot();
    for (const auto& d : drives_)
      if (d["drive_id"] == *id) return no_content();
    throw Fault("Drive config error: Invalid block device ID!");
  }

  Response patch_net(const std::string& body, const std::optional<std::string>& id) {
    if (auto e = id_error(id)) throw Fault(*e);
    auto j = parse(body, "PartialNetworkInterface");
    if (j.at("iface_id").get<std::string>() != *id)
      throw Fault("The id from the path does not match the id from the body!");
    require_post_boot();
    for (const auto& n : nets_)
      if (n["iface_id"] == *id) return no_content();
    throw Fault(fmt::format("Network config error: Invalid interface ID - not found: {}", *id));
  }

  Response patch_balloon(const std::optional<std::string>& body,
                         const std::optional<std::string>& sub) {
    if (!sub) {
      if (!body) return fault("Empty PATCH request.");
      parse(*body, "BalloonUpdate");
    } else if (*sub == "statistics") {
      if (!body) return fault("Empty PATCH request.");
      parse(*body, "BalloonStatsUpdate");
    } else if (*sub == "hinting") {
      if (body) parse(*body, "BalloonStartCmd");
    } else {
      return invalid_path("PATCH", "balloon");
    }
    require_post_boot();
    throw Fault("Balloon update error: attest's Firecracker double does not emulate the balloon.");
  }

  awaitable<Response> patch_vm(const std::string& body) {
    auto j = parse(body, "Vm");
    require_post_boot();
    const bool pause = j.at("state") == "Paused";
    if (pause && state_ == State::running) {
      co_await qemu_.stop();
      state_ = State::paused;
    } else if (!pause && state_ == State::paused) {
      co_await qemu_.cont();
      state_ = State::running;
    }
    co_return no_content();
  }

  // ---- actions ----

  awaitable<Response> put_actions(const std::string& body) {
    auto j = parse(body, "InstanceActionInfo");
    const auto action = j.at("action_type").get<std::string>();
    if (action == "InstanceStart") {
      require_pre_boot();
      co_return co_await instance_start();
    }
    require_post_boot();
    if (action == "SendCtrlAltDel") {
      std::string c = "send-key";
      nlohmann::json keys = nlohmann::json::array();
      for (const char* k : {"ctrl", "alt", "delete"})
        keys.push_back({{"type", "qcode"}, {"data", k}});
      nlohmann::json a = {{"keys", keys}};
      co_await qemu_.qmp(c, a);
      co_return no_content();
    }
    co_return no_content();  // FlushMetrics
  }

  MachineSpec machine_spec() const {
    MachineSpec spec;
    spec.kernel = boot_source_->at("kernel_image_path").get<std::string>();
    spec.initrd = boot_source_->value("initrd_path", "");
    std::string cmdline = boot_source_->contains("boot_args")
                              ? boot_source_->at("boot_args").get<std::string>()
                              : std::string(default_boot_args);
    // builder.rs: the root drive becomes root=/dev/vda (or its PARTUUID), ro or rw.
    std::vector<const json*> order;
    for (const auto& d : drives_)
      if (d["is_root_device"].get<bool>()) order.push_back(&d);
    for (const auto& d : drives_)
      if (!d["is_root_device"].get<bool>()) order.push_back(&d);
    if (!order.empty() && (*order[0])["is_root_device"].get<bool>()) {
      const auto& root = *order[0];
      if (root["partuuid"].is_string())
        cmdline += " root=PARTUUID=" + root["partuuid"].get<std::string>();
      else
        cmdline += " root=/dev/vda";
      cmdline += root["is_read_only"].get<bool>() ? " ro" : " rw";
    }
    if (vsock_config_) cmdline += " " + vsock_emulation_param();
    spec.cmdline = cmdline;
    spec.vcpus = vcpus_;
    spec.mem_mib = mem_mib_;
    for (const auto* d : order)
      spec.disks.push_back({(*d)["drive_id"].get<std::string>(),
                            (*d)["path_on_host"].get<std::string>(),
                            (*d)["is_read_only"].get<bool>()});
    for (const auto& n : nets_)
      spec.nets.push_back({n["iface_id"].get<std::string>(), n["host_dev_name"].get<std::string>(),
                           n.value("guest_mac", "")});
    spec.serial = serial_spec();
    spec.rng = entropy_.has_value();
    spec.no_reboot = true;
    if (vsock_config_) spec.vsock_ports = emulated_vsock_ports();
    return spec;
  }

  ConsoleSpec serial_spec() const {
    ConsoleSpec s;
    if (!serial_out_path_.empty()) {
      s.mode = ConsoleSpec::Mode::file;
      s.path = serial_out_path_;
    } else {
      s.mode = ConsoleSpec::Mode::stdio;  // the guest UART is FC's stdout and stdin
    }
    return s;
  }

  awaitable<Response> instance_start() {
    if (!boot_source_)
      throw Fault("Start microvm error: Cannot start microvm without kernel configuration.");
    const MachineSpec spec = machine_spec();
    std::string failure;
    try {
      co_await qemu_.start(spec, false);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty())
      throw Fault(fmt::format("Start microvm error: Error starting the guest: {}", failure));
    spec_ = spec;
    state_ = State::running;
    vsock_.set_forwards(qemu_.forwards());
    vsock_.start_accepting();
    co_return no_content();
  }

  // ---- snapshots ----

  awaitable<Response> put_snapshot_create(const std::string& body) {
    auto j = parse(body, "SnapshotCreateParams");
    require_post_boot();
    if (j.value("snapshot_type", "Full") == "Diff")
      throw Fault(
          "Create snapshot error: Diff snapshots are not supported by attest's Firecracker "
          "double.");
    if (state_ != State::paused)
      throw Fault(
          "Create snapshot error: Cannot save the microVM state: the microVM must be paused "
          "first.");
    const auto snapshot_path = j.at("snapshot_path").get<std::string>();
    const auto mem_path = j.at("mem_file_path").get<std::string>();
    // Firecracker resets the vsock transport: host-side connections end, guest listeners stay.
    vsock_.reset_connections();
    std::string failure;
    try {
      co_await qemu_.save_state(std::filesystem::absolute(mem_path).string());
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty())
      throw Fault(
          fmt::format("Create snapshot error: Cannot save the microVM memory: {}", failure));
    struct stat st {};
    if (::stat(mem_path.c_str(), &st) != 0)
      throw Fault(fmt::format("Create snapshot error: Cannot save the microVM memory: {}",
                              os_error_text(errno)));
    json state;
    state["format"] = snapshot_format;
    state["version"] = 1;
    state["firecracker_version"] = fc_version;
    state["machine"] = spec_.to_json();
    state["config"] = full_config();
    state["mem_file_size"] = std::uint64_t(st.st_size);
    state["checksum"] = fmt::format("{:016x}", fnv1a(state.dump()));
    try {
      write_file(snapshot_path, state.dump(2) + "\n");
    } catch (const std::system_error& e) {
      throw Fault(fmt::format("Create snapshot error: Cannot write the microVM state file: {}",
                              os_error_text(e.code().value())));
    }
    co_return no_content();
  }

  awaitable<Response> put_snapshot_load(const std::string& body) {
    auto j = parse(body, "SnapshotLoadParams");
    const bool has_backend = j.contains("mem_backend") && !j["mem_backend"].is_null();
    const bool has_file = j.contains("mem_file_path") && !j["mem_file_path"].is_null();
    if (has_backend && has_file)
      throw Fault(
          "An error occurred when deserializing the json body of a request: too many fields: "
          "either `mem_backend` or `mem_file_path` exclusively is required.");
    if (!has_backend && !has_file)
      throw Fault(
          "An error occurred when deserializing the json body of a request: missing field: "
          "either `mem_backend` or `mem_file_path` is required.");
    deprecated_ = has_file;
    require_pre_boot();
    if (boot_path_)
      throw Fault(
          "Load snapshot error: Loading a microVM snapshot not allowed after configuring "
          "boot-specific resources.");
    std::string failure;
    try {
      co_await load(j);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      // A failed restore is fatal for Firecracker: the answer goes out, then the process ends.
      Response f =
          fault(fmt::format("Load snapshot error: Failed to restore from snapshot: {}", failure));
      f.after = [] { exit_process(1); };
      Log::get().error("Loading the snapshot failed; the microVM process exits.");
      co_return f;
    }
    co_return no_content();
  }

  awaitable<void> load(const json& params) {
    const auto snapshot_path = params.at("snapshot_path").get<std::string>();
    std::string mem_path;
    if (params.contains("mem_backend") && !params["mem_backend"].is_null()) {
      if (params["mem_backend"].at("backend_type") != "File")
        throw std::runtime_error("the Uffd memory backend is not emulated by attest's double");
      mem_path = params["mem_backend"].at("backend_path").get<std::string>();
    } else {
      mem_path = params.at("mem_file_path").get<std::string>();
    }
    std::string text;
    try {
      text = read_file(snapshot_path);
    } catch (const std::system_error& e) {
      throw std::runtime_error(fmt::format("Failed to open the snapshot file {}: {}", snapshot_path,
                                           os_error_text(e.code().value())));
    }
    json state = json::parse(text, nullptr, false);
    if (state.is_discarded() || !state.is_object() || state.value("format", "") != snapshot_format)
      throw std::runtime_error(
          fmt::format("{} is not a snapshot made by attest's Firecracker double", snapshot_path));
    json unsummed = state;
    unsummed.erase("checksum");
    if (state.value("checksum", "") != fmt::format("{:016x}", fnv1a(unsummed.dump())))
      throw std::runtime_error(
          fmt::format("the snapshot file {} is corrupt (checksum mismatch)", snapshot_path));
    struct stat st {};
    if (::stat(mem_path.c_str(), &st) != 0)
      throw std::runtime_error(
          fmt::format("Failed to open the memory file {}: {}", mem_path, os_error_text(errno)));
    if (std::uint64_t(st.st_size) != state.value("mem_file_size", std::uint64_t(0)))
      throw std::runtime_error(
          fmt::format("the memory file {} does not belong to this snapshot (size {} instead of {})",
                      mem_path, st.st_size, state.value("mem_file_size", std::uint64_t(0))));
    MachineSpec spec = MachineSpec::from_json(state.at("machine"));
    const json config = state.at("config");
    json nets = config.value("network-interfaces", json::array());
    if (params.contains("network_overrides") && params["network_overrides"].is_array()) {
      for (const auto& o : params["network_overrides"]) {
        const auto iface = o.at("iface_id").get<std::string>();
        bool found = false;
        for (auto& n : spec.nets)
          if (n.id == iface) {
            n.tap = o.at("host_dev_name").get<std::string>();
            found = true;
          }
        for (auto& n : nets)
          if (n.value("iface_id", "") == iface) n["host_dev_name"] = o.at("host_dev_name");
        if (!found)
          throw std::runtime_error(fmt::format(
              "Invalid network override: no network interface with iface_id {}", iface));
      }
    }
    // Serial settings are not part of a snapshot: this process's own apply.
    spec.serial = serial_spec();
    json vsock = config.value("vsock", json(nullptr));
    if (!vsock.is_null()) {
      if (params.contains("vsock_override") && params["vsock_override"].is_object())
        vsock["uds_path"] = params["vsock_override"].at("uds_path");
      const auto path = vsock.at("uds_path").get<std::string>();
      if (auto ec = vsock_.bind(path))
        throw std::runtime_error(fmt::format(
            "Cannot create backend for vsock device: Error binding to the host-side Unix socket: "
            "{}",
            os_error_text(ec.value())));
    } else if (params.contains("vsock_override") && params["vsock_override"].is_object()) {
      throw std::runtime_error("Invalid vsock override: the snapshot has no vsock device");
    }
    co_await qemu_.start(spec, true);
    co_await qemu_.load_state(std::filesystem::absolute(mem_path).string());
    // Restore the configuration the snapshot was made with (boot-source is not kept).
    const auto mc = config.value("machine-config", json::object());
    vcpus_ = mc.value("vcpu_count", 1u);
    mem_mib_ = mc.value("mem_size_mib", std::uint64_t(128));
    track_dirty_pages_ = params.value("track_dirty_pages", false);
    drives_.clear();
    for (const auto& d : config.value("drives", json::array())) drives_.push_back(d);
    nets_.clear();
    for (const auto& n : nets) nets_.push_back(n);
    vsock_config_ = vsock.is_null() ? std::nullopt : std::optional<json>(vsock);
    if (config.contains("entropy") && !config["entropy"].is_null()) entropy_ = config["entropy"];
    spec_ = spec;
    state_ = State::paused;
    vsock_.set_forwards(qemu_.forwards());
    vsock_.start_accepting();
    if (params.value("resume_vm", false)) {
      co_await qemu_.cont();
      state_ = State::running;
    }
  }

  enum class State { not_started, running, paused };

  std::string id_;
  SchemaSet schemas_;
  Qemu qemu_;
  VsockMux vsock_;
  State state_ = State::not_started;
  bool boot_path_ = false;
  bool deprecated_ = false;  ///< the current request used a deprecated field
  MachineSpec spec_;

  std::optional<json> boot_source_;
  unsigned vcpus_ = 1;
  std::uint64_t mem_mib_ = 128;
  bool smt_ = false;
  bool track_dirty_pages_ = false;
  std::string huge_pages_ = "None";
  std::string cpu_template_;
  std::vector<json> drives_;
  std::vector<json> nets_;
  std::vector<json> pmem_;
  std::optional<json> vsock_config_;
  std::optional<json> entropy_;
  std::optional<json> balloon_;
  std::optional<json> cpu_config_;
  std::optional<json> mmds_config_;
  std::optional<json> memory_hotplug_;
  json mmds_;
  std::string metrics_path_;
  std::string serial_out_path_;
};

// ---- command line ----

[[noreturn]] void argument_error(const std::string& message) {
  std::fprintf(stderr, "Arguments parsing error: %s\n\nFor more information try --help.\n",
               message.c_str());
  std::exit(153);
}

int run(int argc, char** argv) {
  die_with_parent();
  static const std::vector<std::string> valued = {"--api-sock",
                                                  "--id",
                                                  "--level",
                                                  "--log-path",
                                                  "--metrics-path",
                                                  "--module",
                                                  "--http-api-max-payload-size",
                                                  "--mmds-size-limit",
                                                  "--config-file",
                                                  "--seccomp-filter",
                                                  "--describe-snapshot",
                                                  "--start-time-us",
                                                  "--start-time-cpu-us",
                                                  "--parent-cpu-time-us"};
  static const std::vector<std::string> flags = {
      "--show-level", "--show-log-origin", "--boot-timer", "--no-seccomp",      "--enable-pci",
      "--no-api",     "--version",         "--help",       "--snapshot-version"};
  std::map<std::string, std::string> opts;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (std::find(valued.begin(), valued.end(), a) != valued.end()) {
      if (i + 1 >= argc || std::string_view(argv[i + 1]).rfind("--", 0) == 0)
        argument_error(fmt::format("The argument '{}' requires a value, but none was supplied", a));
      if (opts.contains(a))
        argument_error(fmt::format("The argument '{}' was provided more than once.", a));
      opts[a] = argv[++i];
    } else if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
      opts[a] = "";
    } else {
      argument_error(fmt::format(
          "Found argument '{}' which wasn't expected, or isn't valid in this context.", a));
    }
  }
  if (opts.contains("--help")) {
    std::printf(
        "attest-firecracker-double: Firecracker's command line and API, guests under QEMU.\n"
        "  --api-sock <path> --id <id> --level <level> --log-path <path> --show-level\n"
        "  --show-log-origin --boot-timer --no-seccomp --enable-pci\n"
        "  --http-api-max-payload-size <bytes> --version\n");
    return 0;
  }
  if (opts.contains("--version")) {
    std::printf("Firecracker v%s\n\nattest's test double of Firecracker (guests run under QEMU)\n",
                std::string(fc_version).c_str());
    return 0;
  }
  if (opts.contains("--snapshot-version")) {
    std::printf("v1.0.0\n");
    return 0;
  }
  if (opts.contains("--config-file") || opts.contains("--no-api") ||
      opts.contains("--describe-snapshot")) {
    std::fprintf(stderr,
                 "attest-firecracker-double: --config-file, --no-api and --describe-snapshot are "
                 "not emulated\n");
    return 152;
  }
  auto& log = Log::get();
  const std::string id = opts.contains("--id") ? opts["--id"] : "anonymous-instance";
  log.set_prefix(id + ":fc_api");
  if (opts.contains("--level")) {
    auto level = parse_level(opts["--level"]);
    if (!level) {
      std::fprintf(stderr, "Invalid value for logger level: %s\n", opts["--level"].c_str());
      return 153;
    }
    log.set_level(*level);
  }
  log.set_show_level(opts.contains("--show-level"));
  if (opts.contains("--log-path")) {
    try {
      log.open(opts["--log-path"]);
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "Failed to initialize logger: %s\n", e.what());
      return 1;
    }
  }
  std::size_t max_payload = 51200;
  if (opts.contains("--http-api-max-payload-size")) {
    try {
      max_payload = std::stoul(opts["--http-api-max-payload-size"]);
    } catch (const std::exception&) {
      argument_error("Invalid value for --http-api-max-payload-size");
    }
  }
  const std::string api_sock =
      opts.contains("--api-sock") ? opts["--api-sock"] : "/run/firecracker.socket";
  log.info(fmt::format("Running Firecracker v{} (attest double)", fc_version));

  asio::io_context io;
  asio::local::stream_protocol::acceptor acceptor(io);
  if (bind_unix(acceptor, api_sock)) {
    const auto msg = fmt::format(
        "Failed to open the API socket at: {}. Check that it is not already used.", api_sock);
    log.error(msg);
    std::fprintf(stderr, "%s\n", msg.c_str());
    return 1;
  }
  Firecracker vmm(io, id);
  ApiServer::Options options;
  options.server_name = "Firecracker API";
  options.methods = {"GET", "PUT", "PATCH", "DELETE"};
  options.max_payload = max_payload;
  ApiServer server(io, options, [&vmm](Request r) { return vmm.handle(std::move(r)); });
  server.start(std::move(acceptor));
  io.run();
  exit_process(0);
}

}  // namespace
}  // namespace attest::doubles

int main(int argc, char** argv) { return attest::doubles::run(argc, argv); }
