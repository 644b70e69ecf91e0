// attest-fake-qemu: what the doubles' unit tests run instead of qemu-system-x86_64
// (ATTEST_DOUBLE_QEMU). It serves QMP on the monitor socket well enough for the doubles (status,
// stop/cont, migrate to/from an exec: URI, send-key, system_powerdown), and plays the guest of the
// vsock emulation: each hostfwd port of the user-mode NIC accepts connections, greets with a
// banner line and echoes. Environment:
//   FAKE_QEMU_ARGS_FILE     write the command line there, one argument per line
//   FAKE_QEMU_GUEST_DELAY_MS  listen on the hostfwd ports only after this long (guest booting)
//   FAKE_QEMU_DIE_AFTER_MS  exit with status 3 after this long (QEMU crashing)
// The QMP monitor is the chardev with id attest-qmp, an abstract unix socket.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view state_stream = "attest-fake-qemu migration stream\n";

long env_ms(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atol(v) : -1;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(std::size_t(n));
  }
}

std::string run_shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

struct Fake {
  std::string qmp_path;
  std::vector<std::pair<int, int>> forwards;  // host port, guest port
  bool running = true;
  bool inmigrate = false;
  std::string migrate_status = "none";
  Clock::time_point exit_at = Clock::time_point::max();
  int exit_code = 0;
};

int listen_tcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
    std::perror("fake qemu: hostfwd listen");
    std::exit(1);
  }
  return fd;
}

json execute(Fake& f, const json& cmd) {
  const std::string name = cmd.value("execute", "");
  const json args = cmd.value("arguments", json::object());
  if (name == "stop") f.running = false;
  if (name == "cont") f.running = true;
  if (name == "query-status") {
    const char* status = f.inmigrate ? "inmigrate" : f.running ? "running" : "paused";
    return json{{"status", status}, {"singlestep", false}, {"running", f.running}};
  }
  if (name == "migrate") {
    const std::string uri = args.value("uri", "");
    if (uri.rfind("exec:", 0) == 0)
      run_shell(fmt::format("printf '%s' '{}' | {}", std::string(state_stream), uri.substr(5)));
    f.migrate_status = "completed";
  }
  if (name == "query-migrate") return json{{"status", f.migrate_status}};
  if (name == "migrate-incoming") {
    const std::string uri = args.value("uri", "");
    const std::string got = uri.rfind("exec:", 0) == 0 ? run_shell(uri.substr(5)) : "";
    if (got != state_stream) {
      std::fprintf(stderr, "fake qemu: load of migration failed\n");
      std::exit(1);
    }
    f.inmigrate = false;
    f.running = false;
  }
  if (name == "send-key" || name == "system_powerdown") {
    // The guest reboots (or powers off); with -no-reboot QEMU then ends with status 0.
    f.exit_at = Clock::now() + std::chrono::milliseconds(100);
    f.exit_code = 0;
  }
  return json::object();
}

}  // namespace

int main(int argc, char** argv) {
  Fake f;
  if (const char* file = std::getenv("FAKE_QEMU_ARGS_FILE"); file && *file) {
    FILE* out = std::fopen(file, "w");
    for (int i = 1; out && i < argc; ++i) std::fprintf(out, "%s\n", argv[i]);
    if (out) std::fclose(out);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const std::string next = i + 1 < argc ? argv[i + 1] : "";
    if (a == "-chardev" && next.find("id=attest-qmp,") != std::string::npos) {
      const auto at = next.find("path=") + 5;
      f.qmp_path = next.substr(at, next.find(',', at) - at);
    }
    if (a == "-incoming") f.inmigrate = true;
    if (a == "-S") f.running = false;
    if (a == "-netdev" && next.rfind("user,", 0) == 0) {
      std::size_t at = 0;
      while ((at = next.find("hostfwd=tcp:127.0.0.1:", at)) != std::string::npos) {
        at += std::strlen("hostfwd=tcp:127.0.0.1:");
        const int host = std::atoi(next.c_str() + at);
        const auto colon = next.find(':', next.find('-', at));
        f.forwards.emplace_back(host, std::atoi(next.c_str() + colon + 1));
      }
    }
  }
  if (f.qmp_path.empty()) {
    std::fprintf(stderr, "fake qemu: no QMP chardev\n");
    return 1;
  }
  if (const long die = env_ms("FAKE_QEMU_DIE_AFTER_MS"); die >= 0) {
    f.exit_at = Clock::now() + std::chrono::milliseconds(die);
    f.exit_code = 3;
  }
  const long delay = env_ms("FAKE_QEMU_GUEST_DELAY_MS");
  const auto guest_up_at = Clock::now() + std::chrono::milliseconds(delay > 0 ? delay : 0);
  bool guest_up = false;

  const int qmp = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  // An abstract socket, as the doubles ask for (abstract=on): a leading NUL, no file.
  std::snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "%s", f.qmp_path.c_str());
  const auto len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + f.qmp_path.size());
  if (::bind(qmp, reinterpret_cast<sockaddr*>(&sa), len) != 0 || ::listen(qmp, 4) != 0) {
    std::perror("fake qemu: qmp");
    return 1;
  }
  enum class Kind { qmp_listener, qmp_client, guest_listener, guest_conn };
  struct Entry {
    Kind kind;
    std::string buffer;
    int guest_port = 0;
  };
  std::map<int, Entry> fds;
  fds[qmp] = {Kind::qmp_listener, {}, 0};
  for (;;) {
    const auto now = Clock::now();
    if (now >= f.exit_at) return f.exit_code;
    if (!guest_up && now >= guest_up_at) {
      guest_up = true;
      for (const auto& [host, guest] : f.forwards)
        fds[listen_tcp(host)] = {Kind::guest_listener, {}, guest};
    }
    std::vector<pollfd> p;
    for (const auto& [fd, e] : fds) p.push_back({fd, POLLIN, 0});
    ::poll(p.data(), p.size(), 20);
    for (const auto& pf : p) {
      if (!(pf.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto it = fds.find(pf.fd);
      if (it == fds.end()) continue;
      Entry& e = it->second;
      if (e.kind == Kind::qmp_listener || e.kind == Kind::guest_listener) {
        const int c = ::accept(pf.fd, nullptr, nullptr);
        if (c < 0) continue;
        if (e.kind == Kind::qmp_listener) {
          fds[c] = {Kind::qmp_client, {}, 0};
          send_all(
              c,
              R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "attest-fake"}, "capabilities": []}})"
              "\r\n");
        } else {
          fds[c] = {Kind::guest_conn, {}, e.guest_port};
          send_all(c, fmt::format("fake-guest-banner port {}\n", e.guest_port));
        }
        continue;
      }
      char buf[4096];
      const ssize_t n = ::recv(pf.fd, buf, sizeof buf, 0);
      if (n <= 0) {
        ::close(pf.fd);
        fds.erase(it);
        continue;
      }
      if (e.kind == Kind::guest_conn) {
        send_all(pf.fd, std::string_view(buf, std::size_t(n)));
        continue;
      }
      e.buffer.append(buf, std::size_t(n));
      std::size_t nl;
      while ((nl = e.buffer.find('\n')) != std::string::npos) {
        const std::string line = e.buffer.substr(0, nl);
        e.buffer.erase(0, nl + 1);
        const json cmd = json::parse(line, nullptr, false);
        if (cmd.is_discarded()) continue;
        json reply{{"return", execute(f, cmd)}};
        if (cmd.contains("id")) reply["id"] = cmd["id"];
        send_all(pf.fd, reply.dump() + "\r\n");
      }
    }
  }
}
