// The Firecracker and cloud-hypervisor doubles, driven the way attest's backends drive the real
// VMMs: raw HTTP over the API socket, compared byte for byte with vmm-api.md, and the hybrid vsock
// on its unix socket. Guests are played by attest-fake-qemu, so no test here boots QEMU.
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "double_core.hpp"

extern char** environ;

namespace attest::doubles {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string fc_binary() { return env_or("ATTEST_FIRECRACKER_DOUBLE", "attest-firecracker-double"); }
std::string ch_binary() {
  return env_or("ATTEST_CLOUD_HYPERVISOR_DOUBLE", "attest-cloud-hypervisor-double");
}
std::string fake_qemu() { return env_or("ATTEST_FAKE_QEMU", "attest-fake-qemu"); }

/// A fresh directory per test (unix socket paths must stay short).
class TempDir {
 public:
  TempDir() {
    std::string t = "/tmp/attest-dbl-XXXXXX";
    path_ = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// A spawned double: stdout/stderr to files, extra environment, killed at the end.
class Proc {
 public:
  Proc(const std::string& program, const std::vector<std::string>& args, const TempDir& dir,
       const std::vector<std::string>& env = {}) {
    static int counter = 0;
    const int n = ++counter;
    out_ = dir / fmt::format("stdout-{}", n);
    err_ = dir / fmt::format("stderr-{}", n);
    std::vector<std::string> argv_s = {program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
    env_s.push_back("ATTEST_DOUBLE_QEMU=" + fake_qemu());
    env_s.insert(env_s.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& s : env_s) envp.push_back(s.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (::posix_spawn(&pid_, program.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Proc() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  /// The wait status once the process has ended within `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        break;
      }
      if (std::chrono::steady_clock::now() > until) break;
      std::this_thread::sleep_for(10ms);
    }
    return status_;
  }
  bool running() { return !wait(0ms); }
  std::string err() const { return slurp(err_); }
  std::string out() const { return slurp(out_); }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_, err_;
};

int exit_code(std::optional<int> status) {
  if (!status) return -1;
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

/// A blocking unix-socket connection with a receive timeout.
class Conn {
 public:
  /// Connects, retrying while the socket is missing or refuses (the VMM is still starting).
  explicit Conn(const std::string& path, std::chrono::milliseconds timeout = 3s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
      ::close(fd_);
      fd_ = -1;
      if (std::chrono::steady_clock::now() > until) return;
      std::this_thread::sleep_for(10ms);
    }
    set_timeout(3s);
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  void set_timeout(std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = t.count() / 1000;
    tv.tv_usec = (t.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(std::string_view data) { ASSERT_TRUE(try_send(data)); }
  /// Sends without judging: false when the peer has already closed (or reset) the connection.
  bool try_send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size());
  }
  /// One HTTP response: headers, then Content-Length bytes (none without the header).
  std::string response() {
    std::string got;
    std::size_t end;
    while ((end = got.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more(got)) return got;
    }
    std::size_t length = 0;
    if (const auto at = got.find("Content-Length: "); at != std::string::npos && at < end)
      length = std::stoul(got.substr(at + 16));
    while (got.size() < end + 4 + length)
      if (!read_more(got)) break;
    return got;
  }
  /// Reads up to and including `stop` (or until EOF); what follows stays for the next read.
  std::string read_until(std::string_view stop) {
    std::size_t at;
    while ((at = pending_.find(stop)) == std::string::npos)
      if (!read_more(pending_)) {
        std::string all;
        all.swap(pending_);
        return all;
      }
    std::string line = pending_.substr(0, at + stop.size());
    pending_.erase(0, at + stop.size());
    return line;
  }
  /// Whether the peer closes (EOF or reset) within `t`, with nothing sent first.
  bool closed_within(std::chrono::milliseconds t, std::string* data = nullptr) {
    set_timeout(t);
    char buf[256];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0 && data) data->assign(buf, std::size_t(n));
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool read_more(std::string& into) {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    into.append(buf, std::size_t(n));
    return true;
  }
  int fd_ = -1;
  std::string pending_;
};

std::string request(const std::string& method, const std::string& target,
                    const std::string& body = {}) {
  std::string r = fmt::format("{} {} HTTP/1.1\r\nHost: localhost\r\n", method, target);
  if (!body.empty())
    r += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
  return r + "\r\n" + body;
}

/// One request on a new connection (as attest does), returning the raw response.
std::string call(const std::string& sock, const std::string& method, const std::string& target,
                 const std::string& body = {}) {
  Conn c(sock);
  if (!c.ok()) return "<no connection>";
  c.send(request(method, target, body));
  return c.response();
}

std::string fc_response(int status, const std::string& body) {
  return fmt::format(
      "HTTP/1.1 {} \r\nServer: Firecracker API\r\nConnection: keep-alive\r\nContent-Type: "
      "application/json\r\nContent-Length: {}\r\n\r\n{}",
      status, body.size(), body);
}
std::string fc_fault(const std::string& message) {
  return fc_response(400, fmt::format("{{\"fault_message\":\"{}\"}}", message));
}
const std::string fc_204 =
    "HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n";

std::string ch_response(int status, const std::string& body) {
  return fmt::format(
      "HTTP/1.1 {} \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\nContent-Type: "
      "application/json\r\nContent-Length: {}\r\n\r\n{}",
      status, body.size(), body);
}
const std::string ch_204 =
    "HTTP/1.1 204 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\n\r\n";

/// The command line fake QEMU was started with.
std::vector<std::string> qemu_args(const std::string& file) {
  std::vector<std::string> args;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) args.push_back(line);
  return args;
}

std::string arg_after(const std::vector<std::string>& args, const std::string& flag,
                      std::size_t nth = 0) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag && nth-- == 0) return args[i + 1];
  return {};
}

void touch(const std::string& path, std::size_t size = 4096) {
  std::ofstream(path) << std::string(size, '\0');
}

// =============================================================================================
// Firecracker

TEST(FirecrackerDouble, VersionAndArgumentErrors) {
  TempDir dir;
  Proc version(fc_binary(), {"--version"}, dir);
  EXPECT_EQ(exit_code(version.wait(5s)), 0);
  EXPECT_THAT(version.out(), StartsWith("Firecracker v1.16.1\n"));
  Proc unknown(fc_binary(), {"--api-sock", dir / "api.sock", "--frobnicate"}, dir);
  EXPECT_EQ(exit_code(unknown.wait(5s)), 153);
  EXPECT_THAT(unknown.err(), HasSubstr("Found argument '--frobnicate' which wasn't expected"));
  // Accepted and ignored: the flags attest or a user may pass.
  Proc flags(fc_binary(),
             {"--api-sock", dir / "f.sock", "--id", "vm1", "--level", "Debug", "--log-path",
              dir / "fc.log", "--show-level", "--show-log-origin", "--boot-timer", "--no-seccomp",
              "--enable-pci", "--http-api-max-payload-size", "100000"},
             dir);
  EXPECT_THAT(call(dir / "f.sock", "GET", "/"), HasSubstr(R"("id":"vm1","state":"Not started")"));
  EXPECT_TRUE(flags.running());
}

TEST(FirecrackerDouble, RefusesAnExistingApiSocketPath) {
  TempDir dir;
  touch(dir / "api.sock");
  Proc fc(fc_binary(), {"--api-sock", dir / "api.sock"}, dir);
  EXPECT_EQ(exit_code(fc.wait(5s)), 1);
  EXPECT_THAT(fc.err(), HasSubstr(fmt::format("Failed to open the API socket at: {}. Check that it "
                                              "is not already used.",
                                              dir / "api.sock")));
}

TEST(FirecrackerDouble, WireFormatIsMicroHttps) {
  TempDir dir;
  const auto sock = dir / "api.sock";
  Proc fc(fc_binary(), {"--api-sock", sock}, dir);
  EXPECT_EQ(
      call(sock, "GET", "/"),
      fc_response(
          200,
          R"({"id":"anonymous-instance","state":"Not started","vmm_version":"1.16.1","app_name":"Firecracker"})"));
  EXPECT_EQ(call(sock, "GET", "/version"), fc_response(200, R"({"firecracker_version":"1.16.1"})"));
  EXPECT_EQ(call(sock, "PUT", "/machine-config", R"({"vcpu_count":2,"mem_size_mib":256})"), fc_204);
  EXPECT_EQ(
      call(sock, "GET", "/machine-config"),
      fc_response(
          200,
          R"({"vcpu_count":2,"mem_size_mib":256,"smt":false,"track_dirty_pages":false,"huge_pages":"None"})"));
  // Keep-alive: two requests on one connection, the absolute-form URI too.
  Conn c(sock);
  c.send(request("GET", "http://localhost/version"));
  EXPECT_EQ(c.response(), fc_response(200, R"({"firecracker_version":"1.16.1"})"));
  c.send(request("PATCH", "/machine-config", R"({"vcpu_count":1})"));
  EXPECT_EQ(c.response(), fc_204);
  // A parse error: micro-http's own body, with a literal LF inside the JSON string.
  c.send("POST / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(c.response(),
            fc_response(400,
                        "{ \"error\": \"Invalid HTTP Method: Unsupported HTTP method.\nAll "
                        "previous unanswered requests will be dropped.\" }"));
  // A GET with a body is a parse error too.
  EXPECT_EQ(call(sock, "GET", "/", "{}"),
            fc_response(400,
                        "{ \"error\": \"Invalid request.\nAll previous unanswered requests "
                        "will be dropped.\" }"));
}

TEST(FirecrackerDouble, ValidatesBodiesAgainstTheSchema) {
  TempDir dir;
  const auto sock = dir / "api.sock";
  Proc fc(fc_binary(), {"--api-sock", sock}, dir);
  EXPECT_EQ(call(sock, "PUT", "/machine-config", R"({"vcpu_count":1,"mem_size_mib":128,"foo":1})"),
            fc_fault("An error occurred when deserializing the json body of a request: unknown "
                     "field `foo`, expected one of `vcpu_count`, `mem_size_mib`, `smt`, "
                     "`cpu_template`, `track_dirty_pages`, `huge_pages` at line 1 column 40."));
  EXPECT_EQ(call(sock, "PUT", "/machine-config"), fc_fault("Empty PUT request."));
  EXPECT_EQ(call(sock, "PATCH", "/vm"), fc_fault("Empty PATCH request."));
  EXPECT_EQ(call(sock, "PUT", "/drives/rootfs", R"({"drive_id":"root","is_root_device":true})"),
            fc_fault("The id from the path does not match the id from the body!"));
  EXPECT_EQ(call(sock, "PUT", "/drives/root-fs", R"({"drive_id":"root-fs","is_root_device":true})"),
            fc_fault("API Resource IDs can only contain alphanumeric characters and underscores."));
  EXPECT_EQ(call(sock, "GET", "/foo"), fc_fault("Invalid request method and/or path: GET foo."));
  EXPECT_EQ(call(sock, "PUT", "/foo", "{}"),
            fc_fault("Invalid request method and/or path: PUT foo."));
  EXPECT_THAT(call(sock, "PUT", "/machine-config", R"({"vcpu_count":33,"mem_size_mib":128})"),
              HasSubstr("Machine config error: The vCPU number is invalid!"));
  EXPECT_THAT(call(sock, "PUT", "/machine-config", R"({"mem_size_mib":128})"),
              HasSubstr("missing field `vcpu_count`"));
  EXPECT_THAT(call(sock, "PUT", "/machine-config", R"({"vcpu_count":"2","mem_size_mib":128})"),
              HasSubstr(R"(invalid type: string \"2\", expected u8)"));
  EXPECT_THAT(call(sock, "PUT", "/machine-config",
                   R"({"vcpu_count":2,"mem_size_mib":128,"huge_pages":"1G"})"),
              HasSubstr("unknown variant `1G`, expected `None` or `2M`"));
  EXPECT_THAT(call(sock, "PUT", "/vsock", R"({"guest_cid":2,"uds_path":"/x/v.sock"})"),
              HasSubstr("Vsock config error"));
  EXPECT_THAT(call(sock, "PUT", "/network-interfaces/eth0",
                   R"({"iface_id":"eth0","host_dev_name":"tap0","mtu":40})"),
              HasSubstr("Network config error"));
  EXPECT_THAT(call(sock, "PUT", "/actions", R"({"action_type":"Reboot"})"),
              HasSubstr("unknown variant `Reboot`"));
  EXPECT_THAT(
      call(sock, "PUT", "/drives/rootfs",
           fmt::format(R"({{"drive_id":"rootfs","is_root_device":true,"path_on_host":"{}"}})",
                       dir / "missing.img")),
      HasSubstr("No such file or directory (os error 2)"));
}

TEST(FirecrackerDouble, PhaseRulesBeforeBoot) {
  TempDir dir;
  const auto sock = dir / "api.sock";
  Proc fc(fc_binary(), {"--api-sock", sock}, dir);
  const std::string before =
      fc_fault("The requested operation is not supported before starting the microVM.");
  EXPECT_EQ(call(sock, "PATCH", "/vm", R"({"state":"Paused"})"), before);
  EXPECT_EQ(call(sock, "PUT", "/snapshot/create",
                 R"({"snapshot_path":"/tmp/s","mem_file_path":"/tmp/m"})"),
            before);
  EXPECT_EQ(call(sock, "PUT", "/actions", R"({"action_type":"SendCtrlAltDel"})"), before);
  EXPECT_EQ(call(sock, "PUT", "/actions", R"({"action_type":"InstanceStart"})"),
            fc_fault("Start microvm error: Cannot start microvm without kernel configuration."));
}

TEST(FirecrackerDouble, SnapshotLoadNeedsAFreshProcess) {
  TempDir dir;
  const auto sock = dir / "api.sock";
  Proc fc(fc_binary(), {"--api-sock", sock}, dir);
  EXPECT_EQ(call(sock, "PUT", "/logger", fmt::format(R"({{"log_path":"{}"}})", dir / "fc.log")),
            fc_204);
  EXPECT_THAT(call(sock, "PUT", "/snapshot/load", R"({"snapshot_path":"/s"})"),
              HasSubstr("missing field: either `mem_backend` or `mem_file_path` is required"));
  EXPECT_THAT(
      call(
          sock, "PUT", "/snapshot/load",
          R"({"snapshot_path":"/s","mem_file_path":"/m","mem_backend":{"backend_type":"File","backend_path":"/m"}})"),
      HasSubstr("too many fields"));
  EXPECT_EQ(call(sock, "PUT", "/machine-config", R"({"vcpu_count":1,"mem_size_mib":128})"), fc_204);
  const auto r =
      call(sock, "PUT", "/snapshot/load", R"({"snapshot_path":"/s","mem_file_path":"/m"})");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 400 \r\nServer: Firecracker API\r\nConnection: "
                            "keep-alive\r\nDeprecation: true\r\n"));
  EXPECT_THAT(r, HasSubstr("Load snapshot error: Loading a microVM snapshot not allowed after "
                           "configuring boot-specific resources."));
  EXPECT_TRUE(fc.running()) << "refusing the load is not fatal";
  // The log file has a line for every request and error.
  const auto log = Proc::slurp(dir / "fc.log");
  EXPECT_THAT(log, HasSubstr(R"(The API server received a Put request on "/machine-config")"));
  EXPECT_THAT(log, HasSubstr("Received Error. Status code: 400 Bad Request."));
}

TEST(FirecrackerDouble, AFailedLoadEndsTheProcess) {
  TempDir dir;
  const auto sock = dir / "api.sock";
  Proc fc(fc_binary(), {"--api-sock", sock}, dir);
  const auto r = call(
      sock, "PUT", "/snapshot/load",
      fmt::format(
          R"({{"snapshot_path":"{}","mem_backend":{{"backend_type":"File","backend_path":"{}"}}}})",
          dir / "nope", dir / "mem"));
  EXPECT_THAT(r, StartsWith("HTTP/1.1 400 \r\n"));
  EXPECT_THAT(r, HasSubstr("Load snapshot error: Failed to restore from snapshot: Failed to open "
                           "the snapshot file"));
  EXPECT_EQ(exit_code(fc.wait(5s)), 1);
}

TEST(FirecrackerDouble, TenConnectionsAtMost) {
  TempDir dir;
  const auto sock = dir / "api.sock";
  Proc fc(fc_binary(), {"--api-sock", sock}, dir);
  std::vector<std::unique_ptr<Conn>> open;
  for (int i = 0; i < 10; ++i) {
    open.push_back(std::make_unique<Conn>(sock));
    open.back()->send(request("GET", "/version"));
    EXPECT_THAT(open.back()->response(), StartsWith("HTTP/1.1 200 \r\n"));
  }
  Conn eleventh(sock);
  EXPECT_EQ(eleventh.read_until("connections\" }"), server_full_response);
  EXPECT_TRUE(eleventh.closed_within(2s));
  open.pop_back();
  // The slot is free again once the double has seen the close; until then a new connection
  // is refused (and may be closed before the request is even sent), so retry.
  std::string r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    Conn c(sock);
    if (c.ok() && c.try_send(request("GET", "/version"))) r = c.response();
    if (r.rfind("HTTP/1.1 200", 0) == 0) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 \r\n"));
}

TEST(FirecrackerDouble, VsockSocketIsBoundDuringPutVsock) {
  TempDir dir;
  const auto sock = dir / "api.sock";
  Proc fc(fc_binary(), {"--api-sock", sock}, dir);
  const auto r =
      call(sock, "PUT", "/vsock",
           fmt::format(R"({{"guest_cid":3,"uds_path":"{}","vsock_id":"v"}})", dir / "v.sock"));
  EXPECT_EQ(r,
            "HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\nDeprecation: "
            "true\r\n\r\n");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "v.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  // A stale file: bind fails and Firecracker says so.
  touch(dir / "stale.sock", 0);
  EXPECT_EQ(call(sock, "PUT", "/vsock",
                 fmt::format(R"({{"guest_cid":3,"uds_path":"{}"}})", dir / "stale.sock")),
            fc_fault("Vsock config error: Cannot create backend for vsock device: Error binding to "
                     "the host-side Unix socket: Address already in use (os error 98)"));
}

/// A Firecracker double configured like attest does it, booted on the fake QEMU.
struct BootedFirecracker {
  explicit BootedFirecracker(const TempDir& dir, std::vector<std::string> env = {})
      : sock(dir / "api.sock"),
        args_file(dir / "qemu-args"),
        fc(fc_binary(), {"--api-sock", dir / "api.sock"}, dir,
           with(std::move(env), "FAKE_QEMU_ARGS_FILE=" + dir / "qemu-args")) {
    touch(dir / "vmlinux");
    touch(dir / "rootfs.ext4");
    touch(dir / "store.erofs");
    EXPECT_EQ(call(sock, "PUT", "/machine-config", R"({"vcpu_count":2,"mem_size_mib":256})"),
              fc_204);
    EXPECT_EQ(
        call(sock, "PUT", "/boot-source",
             fmt::format(R"({{"kernel_image_path":"{}","boot_args":"console=ttyS0 reboot=k"}})",
                         dir / "vmlinux")),
        fc_204);
    EXPECT_EQ(
        call(
            sock, "PUT", "/drives/store",
            fmt::format(
                R"({{"drive_id":"store","path_on_host":"{}","is_root_device":false,"is_read_only":true}})",
                dir / "store.erofs")),
        fc_204);
    EXPECT_EQ(
        call(
            sock, "PUT", "/drives/rootfs",
            fmt::format(
                R"({{"drive_id":"rootfs","path_on_host":"{}","is_root_device":true,"is_read_only":false}})",
                dir / "rootfs.ext4")),
        fc_204);
    EXPECT_EQ(call(sock, "PUT", "/network-interfaces/eth0",
                   R"({"iface_id":"eth0","host_dev_name":"t1v1","guest_mac":"AA:FC:00:01:01:01"})"),
              fc_204);
    EXPECT_EQ(call(sock, "PUT", "/vsock",
                   fmt::format(R"({{"guest_cid":3,"uds_path":"{}"}})", dir / "v.sock")),
              fc_204);
    EXPECT_EQ(call(sock, "PUT", "/entropy", "{}"), fc_204);
    EXPECT_EQ(call(sock, "PUT", "/actions", R"({"action_type":"InstanceStart"})"), fc_204);
  }
  static std::vector<std::string> with(std::vector<std::string> v, std::string extra) {
    v.push_back(std::move(extra));
    return v;
  }
  std::string sock;
  std::string args_file;
  Proc fc;
};

TEST(FirecrackerDouble, BootsTheGuestLikeFirecracker) {
  TempDir dir;
  BootedFirecracker vm(dir);
  const auto args = qemu_args(vm.args_file);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(arg_after(args, "-append"),
            "console=ttyS0 reboot=k root=/dev/vda rw attest.vsock_emulation=tcp:52:54:00:ff:00:01 "
            "no_timer_check");
  EXPECT_EQ(arg_after(args, "-m"), "256");
  EXPECT_EQ(arg_after(args, "-smp"), "2");
  // The root drive first, then the others in PUT order; read-only honoured; files in place.
  EXPECT_THAT(arg_after(args, "-drive", 0),
              StartsWith("file=" + dir / "rootfs.ext4" + ",format=raw"));
  EXPECT_THAT(arg_after(args, "-drive", 1),
              StartsWith("file=" + dir / "store.erofs" + ",format=raw"));
  EXPECT_THAT(arg_after(args, "-drive", 1), HasSubstr("readonly=on"));
  EXPECT_EQ(arg_after(args, "-netdev", 0), "tap,id=net0,ifname=t1v1,script=no,downscript=no");
  EXPECT_THAT(arg_after(args, "-netdev", 1), StartsWith("user,id=vsockemu,restrict=on"));
  EXPECT_EQ(arg_after(args, "-chardev"), "stdio,id=stdio0,signal=off");
  EXPECT_NE(std::find(args.begin(), args.end(), "-no-reboot"), args.end());

  EXPECT_THAT(call(vm.sock, "GET", "/"), HasSubstr(R"("state":"Running")"));
  const std::string after =
      fc_fault("The requested operation is not supported after starting the microVM.");
  EXPECT_EQ(call(vm.sock, "PUT", "/actions", R"({"action_type":"InstanceStart"})"), after);
  EXPECT_EQ(call(vm.sock, "PUT", "/machine-config", R"({"vcpu_count":1,"mem_size_mib":128})"),
            after);
  EXPECT_EQ(call(vm.sock, "PATCH", "/vm", R"({"state":"Paused"})"), fc_204);
  EXPECT_THAT(call(vm.sock, "GET", "/"), HasSubstr(R"("state":"Paused")"));
  EXPECT_EQ(call(vm.sock, "PATCH", "/vm", R"({"state":"Paused"})"), fc_204)
      << "repeating is a no-op";
  EXPECT_EQ(call(vm.sock, "PATCH", "/vm", R"({"state":"Resumed"})"), fc_204);
  EXPECT_THAT(call(vm.sock, "GET", "/vm/config"), HasSubstr(R"("host_dev_name":"t1v1")"));

  // Ctrl-Alt-Del: the guest reboots, QEMU ends (-no-reboot), and so does Firecracker, with 0.
  EXPECT_EQ(call(vm.sock, "PUT", "/actions", R"({"action_type":"SendCtrlAltDel"})"), fc_204);
  EXPECT_EQ(exit_code(vm.fc.wait(5s)), 0);
}

TEST(FirecrackerDouble, HybridVsockConnect) {
  TempDir dir;
  BootedFirecracker vm(dir);
  const auto uds = dir / "v.sock";
  {
    Conn c(uds);
    c.send("CONNECT 1234\n");
    EXPECT_EQ(c.read_until("\n"), "OK 1073741824\n");
    EXPECT_EQ(c.read_until("\n"), "fake-guest-banner port 1234\n");
    c.send("echo me\n");
    EXPECT_EQ(c.read_until("\n"), "echo me\n");
  }
  {
    Conn c(uds);
    c.send("connect 1234\n");  // the keyword is case-insensitive
    EXPECT_EQ(c.read_until("\n"), "OK 1073741825\n");
  }
  {
    Conn c(uds);
    c.send("CONNECT 4321\n");  // no guest listener: EOF, no text
    std::string data;
    EXPECT_TRUE(c.closed_within(3s, &data));
    EXPECT_EQ(data, "");
  }
  {
    Conn c(uds);
    c.send("HELLO 1234\n");
    EXPECT_TRUE(c.closed_within(3s));
  }
  {
    // Fewer than 10 bytes in the first read: Firecracker drops the connection at once, before
    // the rest of the command is even sent.
    Conn c(uds);
    c.send("CONN");
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closed_within(2s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  }
}

TEST(FirecrackerDouble, VsockBeforeTheGuestListensEndsInEof) {
  TempDir dir;
  BootedFirecracker vm(dir, {"FAKE_QEMU_GUEST_DELAY_MS=60000"});
  Conn c(dir / "v.sock");
  c.send("CONNECT 1234\n");
  EXPECT_TRUE(c.closed_within(3s));
}

TEST(FirecrackerDouble, SnapshotCreateAndLoad) {
  TempDir dir;
  BootedFirecracker vm(dir);
  const auto snap = dir / "snapshot_file";
  const auto mem = dir / "mem_file";
  const auto create = fmt::format(
      R"({{"snapshot_type":"Full","snapshot_path":"{}","mem_file_path":"{}"}})", snap, mem);
  EXPECT_THAT(call(vm.sock, "PUT", "/snapshot/create", create),
              HasSubstr("the microVM must be paused first"));
  EXPECT_EQ(call(vm.sock, "PATCH", "/vm", R"({"state":"Paused"})"), fc_204);
  EXPECT_EQ(call(vm.sock, "PUT", "/snapshot/create", create), fc_204);
  ASSERT_TRUE(fs::exists(snap));
  ASSERT_TRUE(fs::exists(mem));

  // A second process restores it, on a new vsock path and TAP.
  const auto sock2 = dir / "api2.sock";
  Proc fc2(fc_binary(), {"--api-sock", sock2}, dir, {"FAKE_QEMU_ARGS_FILE=" + dir / "qemu-args2"});
  const auto load = fmt::format(
      R"({{"snapshot_path":"{}","mem_file_path":"{}","resume_vm":true,"network_overrides":[{{"iface_id":"eth0","host_dev_name":"t9v1"}}],"vsock_override":{{"uds_path":"{}"}}}})",
      snap, mem, dir / "v2.sock");
  EXPECT_EQ(call(sock2, "PUT", "/snapshot/load", load),
            "HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\nDeprecation: "
            "true\r\n\r\n");
  EXPECT_THAT(call(sock2, "GET", "/"), HasSubstr(R"("state":"Running")"));
  const auto args = qemu_args(dir / "qemu-args2");
  EXPECT_EQ(arg_after(args, "-netdev", 0), "tap,id=net0,ifname=t9v1,script=no,downscript=no");
  EXPECT_EQ(arg_after(args, "-incoming"), "defer");
  Conn c(dir / "v2.sock");
  c.send("CONNECT 1234\n");
  EXPECT_THAT(c.read_until("banner port 1234\n"), StartsWith("OK 1073741824\n"));

  // An unknown iface_id in the overrides fails the load, and the process with it.
  Proc fc3(fc_binary(), {"--api-sock", dir / "api3.sock"}, dir);
  EXPECT_THAT(
      call(
          dir / "api3.sock", "PUT", "/snapshot/load",
          fmt::format(
              R"({{"snapshot_path":"{}","mem_file_path":"{}","network_overrides":[{{"iface_id":"eth7","host_dev_name":"t"}}]}})",
              snap, mem)),
      HasSubstr("eth7"));
  EXPECT_EQ(exit_code(fc3.wait(5s)), 1);
}

TEST(FirecrackerDouble, ExitsWhenQemuDiesUnexpectedly) {
  TempDir dir;
  BootedFirecracker vm(dir, {"FAKE_QEMU_DIE_AFTER_MS=300"});
  EXPECT_EQ(exit_code(vm.fc.wait(5s)), 1);
  EXPECT_THAT(vm.fc.err(), HasSubstr("QEMU running the guest ended unexpectedly: exit status 3"));
}

// =============================================================================================
// cloud-hypervisor

TEST(CloudHypervisorDouble, ApiSocketLockAndStaleFile) {
  TempDir dir;
  const auto sock = dir / "ch.sock";
  touch(sock, 0);  // a stale socket file from a killed process
  Proc ch(ch_binary(), {"--api-socket", "path=" + sock, "-v", "--seccomp", "false"}, dir);
  EXPECT_THAT(call(sock, "GET", "/api/v1/vmm.ping"), HasSubstr(R"("version":"53.0.0")"));
  EXPECT_TRUE(fs::exists(sock + ".lock"));
  Proc second(ch_binary(), {"--api-socket", sock}, dir);
  EXPECT_NE(exit_code(second.wait(5s)), 0);
  EXPECT_THAT(second.err(), HasSubstr("ApiSocketInUse"));
  EXPECT_TRUE(ch.running());
  Proc version(ch_binary(), {"-V"}, dir);
  EXPECT_EQ(exit_code(version.wait(5s)), 0);
  EXPECT_THAT(version.out(), StartsWith("cloud-hypervisor v53.0\n"));
}

TEST(CloudHypervisorDouble, StatusCodesAndBodies) {
  TempDir dir;
  const auto sock = dir / "ch.sock";
  Proc ch(ch_binary(), {"--api-socket", sock}, dir);
  EXPECT_EQ(call(sock, "GET", "/api/v1/nope"), ch_response(404, R"(["Not Found"])"));
  EXPECT_EQ(call(sock, "GET", "/vmm.ping"), ch_response(404, R"(["Not Found"])"));
  EXPECT_EQ(
      call(sock, "GET", "/api/v1/vm.info"),
      ch_response(
          404,
          R"(["Error from API","The VM information could not be retrieved","VM is not created"])"));
  EXPECT_EQ(
      call(sock, "PUT", "/api/v1/vm.boot"),
      ch_response(404, R"(["Error from API","The VM could not boot","VM config is missing"])"));
  EXPECT_EQ(
      call(sock, "PUT", "/api/v1/vm.pause"),
      ch_response(500, R"(["Error from API","The VM could not be paused","VM is not running"])"));
  EXPECT_EQ(call(sock, "PUT", "/api/v1/vm.pause", "{}"), ch_response(400, R"(["Bad Request"])"));
  EXPECT_EQ(call(sock, "GET", "/api/v1/vm.pause"), ch_response(400, R"(["Bad Request"])"));
  EXPECT_EQ(call(sock, "PUT", "/api/v1/vm.create"), ch_response(400, R"(["Bad Request"])"));
  EXPECT_THAT(call(sock, "PUT", "/api/v1/vm.create", R"({"cpus":{"boot_vcpus":1,"max_vcpus":1}})"),
              StartsWith("HTTP/1.1 400 \r\n"));
  EXPECT_THAT(call(sock, "PUT", "/api/v1/vm.create", R"({"memory":{"size":"1G"},"payload":{}})"),
              HasSubstr("Failed to deserialize JSON"));
  // Unknown fields are accepted; the memory size is in bytes.
  touch(dir / "vmlinux");
  const auto config = fmt::format(
      R"({{"payload":{{"kernel":"{}"}},"memory":{{"size":268435456}},"frobnicate":true}})",
      dir / "vmlinux");
  EXPECT_EQ(call(sock, "PUT", "/api/v1/vm.create", config), ch_204);
  EXPECT_EQ(
      call(sock, "PUT", "/api/v1/vm.create", config),
      ch_response(500,
                  R"(["Error from API","The VM could not be created","VM is already created"])"));
  EXPECT_THAT(call(sock, "GET", "/api/v1/vm.info"),
              HasSubstr(R"("state":"Created","memory_actual_size":268435456)"));
  EXPECT_THAT(call(sock, "PUT", "/api/v1/vm.restore", R"({"source_url":"file:///nonexistent"})"),
              HasSubstr("VM is already created"));
  // vmm.shutdown: 200 with Content-Length 0, then the process ends.
  EXPECT_EQ(
      call(sock, "PUT", "/api/v1/vmm.shutdown"),
      "HTTP/1.1 200 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\nContent-Type: "
      "application/json\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(exit_code(ch.wait(5s)), 0);
}

/// A cloud-hypervisor double with attest's vm.create, booted on the fake QEMU.
struct BootedCloudHypervisor {
  BootedCloudHypervisor(const TempDir& dir, const std::string& name)
      : sock(dir / (name + ".sock")),
        args_file(dir / (name + "-qemu-args")),
        ch(ch_binary(), {"--api-socket", dir / (name + ".sock")}, dir,
           {"FAKE_QEMU_ARGS_FILE=" + dir / (name + "-qemu-args")}) {}

  void create_and_boot(const TempDir& dir) {
    touch(dir / "vmlinux");
    touch(dir / "initrd");
    if (!fs::exists(dir / "rootfs.ext4")) touch(dir / "rootfs.ext4");
    if (!fs::exists(dir / "store.erofs")) touch(dir / "store.erofs");
    const auto config = fmt::format(
        R"({{"payload":{{"kernel":"{0}/vmlinux","initramfs":"{0}/initrd","cmdline":"console=ttyS0 reboot=k panic=1"}},)"
        R"("cpus":{{"boot_vcpus":1,"max_vcpus":1}},"memory":{{"size":268435456}},)"
        R"("disks":[{{"path":"{0}/rootfs.ext4"}},{{"path":"{0}/store.erofs","readonly":true}}],)"
        R"("net":[{{"tap":"t1v1","mac":"AA:C0:00:01:01:01"}}],"serial":{{"mode":"Null"}},"console":{{"mode":"Off"}},)"
        R"("vsock":{{"cid":3,"socket":"{0}/v.sock"}}}})",
        dir.path());
    EXPECT_EQ(call(sock, "PUT", "/api/v1/vm.create", config), ch_204);
    EXPECT_FALSE(fs::exists(dir / "v.sock")) << "cloud-hypervisor binds the vsock socket at boot";
    EXPECT_EQ(call(sock, "PUT", "/api/v1/vm.boot"), ch_204);
    EXPECT_TRUE(fs::exists(dir / "v.sock"));
  }
  std::string sock;
  std::string args_file;
  Proc ch;
};

TEST(CloudHypervisorDouble, BootsTheGuestLikeCloudHypervisor) {
  TempDir dir;
  BootedCloudHypervisor vm(dir, "ch");
  vm.create_and_boot(dir);
  const auto args = qemu_args(vm.args_file);
  EXPECT_EQ(
      arg_after(args, "-append"),
      "console=ttyS0 reboot=k panic=1 attest.vsock_emulation=tcp:52:54:00:ff:00:01 no_timer_check");
  EXPECT_EQ(arg_after(args, "-m"), "256");
  EXPECT_THAT(arg_after(args, "-drive", 0), StartsWith("file=" + dir / "rootfs.ext4"));
  EXPECT_THAT(arg_after(args, "-drive", 1), HasSubstr("readonly=on"));
  EXPECT_EQ(arg_after(args, "-chardev"), "null,id=serial0");
  EXPECT_EQ(std::find(args.begin(), args.end(), "-no-reboot"), args.end()) << "reboots stay inside";
  EXPECT_THAT(call(vm.sock, "GET", "/api/v1/vm.info"), HasSubstr(R"("state":"Running")"));
  EXPECT_EQ(
      call(vm.sock, "PUT", "/api/v1/vm.boot"),
      ch_response(500, R"(["Error from API","The VM could not boot","VM is already running"])"));
  EXPECT_EQ(
      call(vm.sock, "PUT", "/api/v1/vm.resume"),
      ch_response(
          500,
          R"(["Error from API","The VM could not resume","invalid VM state transition: Running to Running"])"));
  EXPECT_EQ(call(vm.sock, "PUT", "/api/v1/vm.pause"), ch_204);
  EXPECT_EQ(call(vm.sock, "PUT", "/api/v1/vm.resume"), ch_204);

  // vm.shutdown stops the VM (and removes the vsock socket); the VMM stays.
  EXPECT_EQ(call(vm.sock, "PUT", "/api/v1/vm.shutdown"), ch_204);
  EXPECT_THAT(call(vm.sock, "GET", "/api/v1/vm.info"), HasSubstr(R"("state":"Shutdown")"));
  EXPECT_FALSE(fs::exists(dir / "v.sock"));
  EXPECT_EQ(call(vm.sock, "PUT", "/api/v1/vm.boot"), ch_204);
  // The power button: the guest powers off and the VMM ends with it.
  EXPECT_EQ(call(vm.sock, "PUT", "/api/v1/vm.power-button"), ch_204);
  EXPECT_EQ(exit_code(vm.ch.wait(5s)), 0);
}

TEST(CloudHypervisorDouble, HybridVsockToleratesFragments) {
  TempDir dir;
  BootedCloudHypervisor vm(dir, "ch");
  vm.create_and_boot(dir);
  const auto uds = dir / "v.sock";
  {
    // cloud-hypervisor keeps a partial command and waits for the rest.
    Conn c(uds);
    c.send("CONN");
    EXPECT_FALSE(c.closed_within(300ms)) << "the partial command must not end the connection";
    c.send("ECT 1234\n");
    c.set_timeout(3s);
    EXPECT_EQ(c.read_until("\n"), "OK 1073741824\n");
    EXPECT_EQ(c.read_until("\n"), "fake-guest-banner port 1234\n");
  }
  {
    Conn c(uds);
    c.send("CONN");
    EXPECT_FALSE(c.closed_within(300ms));
    c.send("ECT 4321\n");  // no guest listener: EOF only once the whole line is in
    EXPECT_TRUE(c.closed_within(3s));
  }
  {
    Conn c(uds);
    c.send(std::string(40, 'x'));  // longer than 32 bytes without a newline
    EXPECT_TRUE(c.closed_within(3s));
  }
}

TEST(CloudHypervisorDouble, SnapshotAndRestoreWithDiskLocks) {
  TempDir dir;
  BootedCloudHypervisor vm(dir, "one");
  vm.create_and_boot(dir);
  const auto snap = dir / "snap";
  fs::create_directory(snap);
  const auto body = fmt::format(R"({{"destination_url":"file://{}"}})", snap);
  EXPECT_THAT(call(vm.sock, "PUT", "/api/v1/vm.snapshot", body),
              HasSubstr("Trying to snapshot while VM is running"));
  EXPECT_EQ(call(vm.sock, "PUT", "/api/v1/vm.pause"), ch_204);
  EXPECT_THAT(call(vm.sock, "PUT", "/api/v1/vm.snapshot",
                   fmt::format(R"({{"destination_url":"file://{}/missing"}})", snap)),
              StartsWith("HTTP/1.1 500 \r\n"));
  EXPECT_EQ(call(vm.sock, "PUT", "/api/v1/vm.snapshot", body), ch_204);
  for (const char* f : {"config.json", "state.json", "memory-ranges"})
    EXPECT_TRUE(fs::exists(snap + "/" + f)) << f;
  EXPECT_THAT(call(vm.sock, "GET", "/api/v1/vm.info"), HasSubstr(R"("state":"Paused")"));

  // The first VMM still holds the rw disk: a restore elsewhere fails.
  BootedCloudHypervisor two(dir, "two");
  const auto restore = fmt::format(R"({{"source_url":"file://{}"}})", snap);
  const auto refused = call(two.sock, "PUT", "/api/v1/vm.restore", restore);
  EXPECT_THAT(refused, StartsWith("HTTP/1.1 500 \r\n"));
  EXPECT_THAT(refused, HasSubstr("rootfs.ext4 is locked by another process"));
  EXPECT_THAT(call(two.sock, "GET", "/api/v1/vm.info"), StartsWith("HTTP/1.1 404 \r\n"))
      << "the half-restored VM is deleted";

  EXPECT_THAT(call(vm.sock, "PUT", "/api/v1/vmm.shutdown"), StartsWith("HTTP/1.1 200 \r\n"));
  EXPECT_EQ(exit_code(vm.ch.wait(5s)), 0);
  EXPECT_EQ(call(two.sock, "PUT", "/api/v1/vm.restore", restore), ch_204);
  EXPECT_THAT(call(two.sock, "GET", "/api/v1/vm.info"), HasSubstr(R"("state":"Paused")"));
  EXPECT_EQ(call(two.sock, "PUT", "/api/v1/vm.resume"), ch_204);
  Conn c(dir / "v.sock");
  c.send("CONNECT 1234\n");
  EXPECT_THAT(c.read_until("banner port 1234\n"), StartsWith("OK 1073741824\n"));
}

}  // namespace
}  // namespace attest::doubles
