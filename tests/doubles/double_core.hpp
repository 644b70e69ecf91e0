// Test doubles of Firecracker and cloud-hypervisor: the parts both share. The doubles speak the
// VMMs' API dialect (micro-http over a unix socket, shared/reference/vmm-api.md §3) byte for byte,
// validate request bodies against schemas taken from the VMMs' own API specifications, and run the
// guest under QEMU, emulating the hybrid vsock (§4) over a user-mode NIC the guest listens on.
#pragma once

#include <sys/types.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace attest::doubles {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using error_code = boost::system::error_code;
/// API bodies keep their key order: serde reports the first offending key in document order.
using json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Process-wide: exit, runtime directory, logging.

/// Ends the process now: kills QEMU (if any) and flushes the standard streams. Used for every
/// exit, so that no QEMU outlives its double.
[[noreturn]] void exit_process(int code);
/// Registers the QEMU process group killed by exit_process (0: none).
void set_child_to_kill(pid_t pid);
/// Makes the process die with its parent (attest sets this too; a double started by hand by a
/// shell that goes away must not keep QEMU running either).
void die_with_parent();

/// The VMM's log (Firecracker --log-path / PUT /logger, cloud-hypervisor --log-file). Without a
/// file, only errors go to stderr: stdout carries the guest's serial console.
class Log {
 public:
  enum class Level { off = 0, error = 1, warning = 2, info = 3, debug = 4, trace = 5 };
  static Log& get();
  /// Opens (creating, appending) `path`. Throws: std::system_error.
  void open(const std::string& path);
  void set_level(Level level) { level_ = level; }
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }
  void set_show_level(bool on) { show_level_ = on; }
  bool has_file() const { return fd_ >= 0; }
  void write(Level level, std::string_view message);
  void error(std::string_view m) { write(Level::error, m); }
  void warn(std::string_view m) { write(Level::warning, m); }
  void info(std::string_view m) { write(Level::info, m); }
  void flush() {}

 private:
  int fd_ = -1;
  Level level_ = Level::info;
  bool show_level_ = false;
  std::string prefix_;
};
/// Parses a Firecracker level name (case-insensitive). Returns nullopt for an unknown one.
std::optional<Log::Level> parse_level(std::string_view name);

// ---------------------------------------------------------------------------------------------
// JSON positions and schemas.

/// 1-based line and column of byte `offset` in `text`, as serde_json reports them.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset);

/// Where a serde error about an object member would point: `path` is the chain of keys from the
/// top-level object. `what` selects the key's closing quote, the value's last byte, or the
/// object's closing brace. Returns the body's last byte when the member cannot be found.
enum class Spot { key, value, object_end };
std::size_t locate(std::string_view body, const std::vector<std::string>& path, Spot what);

/// One violation of a request-body schema.
struct Violation {
  enum class Kind { syntax, unknown_field, missing_field, type, value, range };
  Kind kind = Kind::syntax;
  std::vector<std::string> path;  ///< keys from the top-level object to the offending member
  std::string message;            ///< serde_json's wording, without the location
  std::size_t offset = 0;         ///< where serde_json would report it
  /// serde_json's full message: "<message> at line L column C".
  std::string serde_text(std::string_view body) const;
};

/// Request-body schemas in the shape of the VMMs' OpenAPI definitions: each definition has
/// "properties" (type, format, enum, minimum/maximum, $ref, items) and "required". Loaded from
/// the JSON text the doubles embed; `deny_unknown` is Firecracker's serde(deny_unknown_fields).
class SchemaSet {
 public:
  SchemaSet(std::string_view definitions_json, bool deny_unknown);
  /// Checks `body` (already parsed with key order kept) against definition `name`. Range
  /// violations (minimum/maximum) are reported only after every structural check passed, as
  /// the VMMs check them after deserialising.
  std::optional<Violation> validate(const json& body, std::string_view raw,
                                    std::string_view name) const;
  bool has(std::string_view name) const { return defs_.contains(std::string(name)); }

 private:
  std::optional<Violation> check_object(const json& value, std::string_view raw,
                                        const std::string& def, std::vector<std::string>& path,
                                        bool ranges) const;
  std::optional<Violation> check_value(const json& value, std::string_view raw, const json& prop,
                                       std::vector<std::string>& path, bool ranges) const;
  json defs_;
  bool deny_unknown_;
};

/// Parses a request body; on a syntax error returns nullopt and fills `violation` with a
/// serde-like message ("expected value", "EOF while parsing an object", "trailing comma", ...).
std::optional<json> parse_body(std::string_view raw, Violation& violation);

// ---------------------------------------------------------------------------------------------
// HTTP: micro-http's dialect.

struct Request {
  std::string method;               ///< GET, PUT, PATCH (Firecracker also DELETE)
  std::string uri;                  ///< as sent
  std::string path;                 ///< micro-http's "absolute path" of the URI ("" if none)
  std::optional<std::string> body;  ///< nullopt: no body (no Content-Length, or 0)
};

struct Response {
  int status = 204;
  std::optional<std::string> body;  ///< set: Content-Type + Content-Length (even for "")
  bool deprecation = false;
  std::string allow;
  /// Runs once the response has been written (e.g. the process exits).
  std::function<void()> after;

  static Response json_body(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

/// The bytes micro-http writes for `r`: "HTTP/1.1 <code> \r\n", Server, Connection: keep-alive,
/// Allow / Deprecation, then Content-Type and Content-Length only when a body is set.
std::string render(const Response& r, std::string_view server);
/// micro-http's answer to a request it cannot parse (the LF inside the JSON string is literal).
std::string parse_error_body(std::string_view reason);
/// The raw answer to the 11th concurrent connection (no space after 503, no keep-alive).
inline constexpr std::string_view server_full_response =
    "HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\nContent-Length: 40\r\n\r\n"
    "{ \"error\": \"Too many open connections\" }";

/// The API socket: at most 10 connections, requests parsed with Beast under micro-http's rules
/// and handled strictly one at a time across all connections (the VMM's API thread blocks on
/// each request).
class ApiServer {
 public:
  using Handler = std::function<awaitable<Response>(Request)>;
  struct Options {
    std::string server_name;  ///< "Firecracker API" / "Cloud Hypervisor API"
    std::vector<std::string> methods;
    std::size_t max_payload = 51200;
    /// Whether the payload-size error is a fault_message (Firecracker) or micro-http's own.
    bool fc_payload_error = true;
  };
  ApiServer(asio::io_context& io, Options options, Handler handler);
  /// Takes a listening socket (bound by the caller, which owns the VMM-specific rules).
  void start(asio::local::stream_protocol::acceptor acceptor);
  static constexpr std::size_t max_connections = 10;

 private:
  awaitable<void> accept_loop();
  awaitable<void> session(asio::local::stream_protocol::socket socket);
  awaitable<void> lock();
  void unlock();

  asio::io_context& io_;
  Options options_;
  Handler handler_;
  std::optional<asio::local::stream_protocol::acceptor> acceptor_;
  std::size_t open_ = 0;
  bool busy_ = false;
  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
};

// ---------------------------------------------------------------------------------------------
// Files and sockets.

/// Binds and listens on a unix socket path without removing anything first. Returns the
/// errno-style error on failure.
error_code bind_unix(asio::local::stream_protocol::acceptor& acceptor, const std::string& path);
/// Rust's io::Error text for `ec`: "Address already in use (os error 98)".
std::string os_error_text(int err);
/// An OFD lock (fcntl F_OFD_SETLK) over a whole file; released when the object dies.
class FileLock {
 public:
  FileLock() = default;
  /// Locks `path` (opened read-write for a write lock, read-only for a read lock). Returns the
  /// errno on failure (EAGAIN: somebody else holds a conflicting lock).
  int acquire(const std::string& path, bool write, bool create = false);
  ~FileLock();
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};
/// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_tcp_port();
/// POSIX shell single-quoting.
std::string sh_quote(std::string_view s);
/// 64-bit FNV-1a, the checksum of the doubles' snapshot state files.
std::uint64_t fnv1a(std::string_view data);
std::string read_file(const std::string& path);
/// Writes `data` to `path` (created or truncated). Throws: std::system_error.
void write_file(const std::string& path, std::string_view data);

// ---------------------------------------------------------------------------------------------
// QEMU behind the API.

/// Environment knobs: ATTEST_DOUBLE_QEMU (binary), ATTEST_ACCEL (accelerator, default tcg),
/// ATTEST_DOUBLE_VSOCK_PORTS (comma-separated guest vsock ports to emulate, default 1234).
std::string qemu_binary();
std::string qemu_accel();
std::vector<std::uint32_t> emulated_vsock_ports();

/// The MAC of the NIC the guest helper turns into the vsock emulation (vsockemu0, 10.0.2.15).
inline constexpr std::string_view vsock_emulation_mac = "52:54:00:ff:00:01";
inline constexpr std::string_view vsock_emulation_guest_ip = "10.0.2.15";

struct DiskSpec {
  std::string id;
  std::string path;
  bool read_only = false;
};
struct NetSpec {
  std::string id;
  std::string tap;
  std::string mac;  ///< empty: QEMU's default
};
/// Where a console goes: nowhere, the double's stdout (and stdin), a file, or a unix socket.
struct ConsoleSpec {
  enum class Mode { off, null, stdio, file, socket } mode = Mode::off;
  std::string path;
};
/// Everything QEMU is started with; saved in snapshots so a restore rebuilds the same machine.
struct MachineSpec {
  std::string kernel;
  std::string initrd;
  std::string cmdline;  ///< as the guest will see it (vsock emulation parameter included)
  unsigned vcpus = 1;
  std::uint64_t mem_mib = 128;
  std::vector<DiskSpec> disks;  ///< in guest order: vda, vdb, ...
  std::vector<NetSpec> nets;
  ConsoleSpec serial;
  ConsoleSpec console;  ///< virtio-console (hvc0)
  bool rng = false;
  bool no_reboot = true;                   ///< Firecracker: the VMM ends on a guest reboot
  std::vector<std::uint32_t> vsock_ports;  ///< emulated guest ports (empty: no vsock device)

  json to_json() const;
  static MachineSpec from_json(const json& j);
};

/// The cmdline parameter telling the guest helper which NIC carries the vsock emulation.
std::string vsock_emulation_param();

/// A running QEMU: spawned with a parent-death signal, watched through a pidfd, driven by QMP.
class Qemu {
 public:
  explicit Qemu(asio::io_context& io);
  ~Qemu();
  Qemu(const Qemu&) = delete;
  Qemu& operator=(const Qemu&) = delete;

  /// Starts QEMU for `spec`; `incoming`: wait for a migration stream, paused afterwards. The
  /// hostfwd ports chosen for the vsock emulation are in forwards() afterwards.
  /// Throws: std::runtime_error when QEMU cannot be started or its QMP socket never answers.
  awaitable<void> start(const MachineSpec& spec, bool incoming);
  /// Runs a QMP command. Throws: std::runtime_error (QMP error or QEMU gone).
  awaitable<nlohmann::json> qmp(std::string command, nlohmann::json arguments);
  /// Pauses / resumes the vCPUs.
  awaitable<void> stop();
  awaitable<void> cont();
  /// Writes the full machine state (RAM + devices) to `path`. The VM must be stopped.
  awaitable<void> save_state(const std::string& path);
  /// Loads the state saved by save_state (QEMU started with incoming = true); paused afterwards.
  awaitable<void> load_state(const std::string& path);
  /// Kills QEMU now; on_exit is not called for this exit.
  void kill();
  bool running() const { return pid_ > 0; }
  /// guest vsock port → 127.0.0.1 port forwarded to it.
  const std::map<std::uint32_t, std::uint16_t>& forwards() const { return forwards_; }
  /// Called (once) when QEMU exits by itself, with the raw wait status.
  std::function<void(int)> on_exit;

  /// The argument vector for `spec` (without the QMP socket); exposed for messages and tests.
  static std::vector<std::string> arguments(const MachineSpec& spec,
                                            const std::map<std::uint32_t, std::uint16_t>& fwd,
                                            bool incoming);

 private:
  struct State;
  awaitable<void> watch_exit();
  std::shared_ptr<State> state_;
  asio::io_context& io_;
  pid_t pid_ = -1;
  std::map<std::uint32_t, std::uint16_t> forwards_;
};

/// Describes a wait status: "exit status 1", "killed by signal 9 (SIGKILL)".
std::string describe_wait_status(int status);

// ---------------------------------------------------------------------------------------------
// Hybrid vsock.

/// The host side of the hybrid vsock: a unix socket taking `CONNECT <port>\n` (vmm-api.md §4.1)
/// and splicing each accepted connection to the guest's TCP emulation of that port.
class VsockMux {
 public:
  /// How the CONNECT line is read: Firecracker reads at least 10 bytes in one go and drops the
  /// connection otherwise; cloud-hypervisor keeps a 32-byte buffer and tolerates fragments.
  enum class Dialect { firecracker, cloud_hypervisor };
  VsockMux(asio::io_context& io, Dialect dialect);
  ~VsockMux();
  /// Binds and listens on `path` (nothing is removed first). Returns the bind error, if any.
  error_code bind(const std::string& path);
  /// Starts answering connections (until then they wait in the backlog, as before the guest
  /// driver is up).
  void start_accepting();
  /// Where each guest port is reachable now (empty: no guest; every CONNECT ends in EOF).
  void set_forwards(std::map<std::uint32_t, std::uint16_t> forwards) {
    forwards_ = std::move(forwards);
  }
  /// Closes the listener. `unlink`: remove the socket file too.
  void close(bool unlink);
  /// Ends every established connection (Firecracker's vsock transport reset at snapshot time).
  void reset_connections();
  const std::string& path() const { return path_; }
  bool bound() const { return acceptor_.has_value(); }
  static constexpr std::size_t max_command = 32;
  static constexpr std::chrono::milliseconds request_timeout{2000};

 private:
  struct Shared;
  awaitable<void> accept_loop(std::shared_ptr<Shared> shared);
  awaitable<void> handle(asio::local::stream_protocol::socket s, std::shared_ptr<Shared> shared);
  asio::io_context& io_;
  Dialect dialect_;
  std::string path_;
  std::optional<asio::local::stream_protocol::acceptor> acceptor_;
  std::shared_ptr<Shared> shared_;
  std::map<std::uint32_t, std::uint16_t> forwards_;
  std::uint32_t next_host_port_ = 1u << 30;
  bool accepting_ = false;
};

/// Parses a CONNECT line (without its '\n'): keyword case-insensitive, decimal u32 port.
std::optional<std::uint32_t> parse_connect(std::string_view line);

}  // namespace attest::doubles
