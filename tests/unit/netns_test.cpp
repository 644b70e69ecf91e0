// The TAP networks' namespace without a VM: bridges, TAPs and addresses made by the holder, a
// process joined to the namespace the way VMMs are, and TCP connections made inside it. Needs
// unprivileged user namespaces (or root) and /dev/net/tun; skips when the host forbids them.
// The Nix build sandbox, which runs the unit suite, has no /dev/net/tun unless nix.conf's
// extra-sandbox-paths adds it: the tests that need it skip there, as they genuinely cannot run.
#include "net/netns.hpp"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "attest/error.hpp"
#include "coro.hpp"
#include "process/vmm_process.hpp"

namespace attest::net {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::run;

/// Whether the host lets this process create a user+net namespace at all (Docker's default
/// seccomp profile, for one, does not). Probed directly, so that a bug in Namespace still fails.
bool namespaces_available() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#define NETNS_REQUIRE_HOST_SUPPORT()                                                          \
  do {                                                                                        \
    if (!namespaces_available())                                                              \
      GTEST_SKIP() << "this host does not allow unprivileged user+net namespaces";            \
    if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/net/tun"; \
  } while (false)

/// The interface names in /proc/net/dev output (two header lines, then "  name: counters").
std::set<std::string> proc_net_dev_names(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  for (int n = 0; std::getline(in, line); ++n) {
    const auto colon = line.find(':');
    if (n < 2 || colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(' ');
    out.insert(line.substr(start, colon - start));
  }
  return out;
}

/// The interfaces of this process's network namespace (the host's, as the tests see it), read
/// from /proc: the Nix build sandbox mounts no /sys.
std::set<std::string> host_links() {
  std::ifstream in("/proc/self/net/dev");
  std::ostringstream text;
  text << in.rdbuf();
  return proc_net_dev_names(text.str());
}

const Namespace::Link* find_link(const std::vector<Namespace::Link>& links,
                                 const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(), [&](const auto& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

/// The message of the BackendError `op` throws, or "" when it succeeds.
template <class T>
awaitable<std::string> backend_error(awaitable<T> op) {
  try {
    co_await std::move(op);
  } catch (const BackendError& e) {
    EXPECT_EQ(e.operation(), "network");
    co_return std::string(e.what());
  }
  co_return std::string();
}

/// A one-connection TCP server inside the namespace: a forked child joins it with setns, as the
/// VMMs do, listens on an ephemeral loopback port and greets whoever connects.
class NamespaceListener {
 public:
  explicit NamespaceListener(const Namespace& ns) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls: the test binary may have other threads.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::setns(ns.user_ns_fd(), CLONE_NEWUSER) != 0 ||
          ::setns(ns.net_ns_fd(), CLONE_NEWNET) != 0)
        ::_exit(2);
      const int s = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof(addr);
      if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(s, 1) != 0 ||
          ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        ::_exit(3);
      const std::uint16_t port = ntohs(addr.sin_port);
      if (::write(p[1], &port, sizeof(port)) != sizeof(port)) ::_exit(4);
      const int c = ::accept(s, nullptr, nullptr);
      if (c < 0 || ::write(c, "hello\n", 6) != 6) ::_exit(5);
      ::close(c);
      ::_exit(0);
    }
    ::close(p[1]);
    if (pid_ < 0 || ::read(p[0], &port_, sizeof(port_)) != sizeof(port_)) port_ = 0;
    ::close(p[0]);
  }
  ~NamespaceListener() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

/// Reads what the peer sends until EOF, for at most 5 s.
std::string read_all(int fd) {
  std::string out;
  char buf[256];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, n);
  }
  return out;
}

TEST(NetnsMessage, unshare_refused_names_the_host_settings) {
  const std::string m = setup_error_message(SetupStep::unshare, EPERM, "");
  EXPECT_THAT(m, HasSubstr("unshare(CLONE_NEWUSER|CLONE_NEWNET): Operation not permitted"));
  EXPECT_THAT(m, HasSubstr("kernel.unprivileged_userns_clone"));
  EXPECT_THAT(m, HasSubstr("user.max_user_namespaces"));
  EXPECT_THAT(m, HasSubstr("seccomp"));
  for (int err : {ENOSPC, EINVAL, EUSERS})
    EXPECT_THAT(setup_error_message(SetupStep::unshare, err, ""),
                HasSubstr("user.max_user_namespaces"));
  EXPECT_THAT(setup_error_message(SetupStep::unshare, ENOMEM, ""), Not(HasSubstr("seccomp")));
}

TEST(NetnsMessage, id_map_names_the_file) {
  const std::string m = setup_error_message(SetupStep::id_map, EPERM, "/proc/self/uid_map");
  EXPECT_THAT(m, HasSubstr("writing /proc/self/uid_map: Operation not permitted"));
  EXPECT_THAT(m, HasSubstr("apparmor_restrict_unprivileged_userns"));
}

TEST(NetnsMessage, tun_device_names_the_nix_sandbox_fix) {
  const std::string m = setup_error_message(SetupStep::tun_device, ENOENT, "/dev/net/tun");
  EXPECT_THAT(m, HasSubstr("/dev/net/tun is missing or not accessible: open: No such file"));
  EXPECT_THAT(m, HasSubstr("extra-sandbox-paths = [ \"/dev/net/tun\" ]"));
}

TEST(NetnsTest, bridges_taps_and_addresses) {
  NETNS_REQUIRE_HOST_SUPPORT();
  const auto host_before = host_links();
  run([&](asio::io_context& io) -> awaitable<void> {
    auto ns = co_await Namespace::create(io.get_executor());
    EXPECT_GT(ns->pid(), 0);
    EXPECT_GE(ns->user_ns_fd(), 0);
    EXPECT_GE(ns->net_ns_fd(), 0);
    co_await ns->add_bridge("br1");
    co_await ns->add_tap("tap1", "br1");
    co_await ns->add_tap("tap2", "br1");
    co_await ns->add_address("br1", "192.168.1.254/24");
    co_await ns->add_address("br1", "2001:db8:1::fe/64");

    auto links = co_await ns->links();
    const auto* lo = find_link(links, "lo");
    const auto* br1 = find_link(links, "br1");
    const auto* tap1 = find_link(links, "tap1");
    const auto* tap2 = find_link(links, "tap2");
    EXPECT_EQ(links.size(), 4u);
    if (lo == nullptr || br1 == nullptr || tap1 == nullptr || tap2 == nullptr) {
      ADD_FAILURE() << "links missing";
      co_return;
    }
    EXPECT_TRUE(lo->up);
    EXPECT_THAT(lo->addresses, Contains("127.0.0.1/8"));
    EXPECT_TRUE(br1->up);
    EXPECT_EQ(br1->master, "");
    EXPECT_THAT(br1->addresses, Contains("192.168.1.254/24"));
    EXPECT_THAT(br1->addresses, Contains("2001:db8:1::fe/64"));
    for (const auto* tap : {tap1, tap2}) {
      EXPECT_TRUE(tap->up) << tap->name;
      EXPECT_EQ(tap->master, "br1") << tap->name;
    }

    co_await ns->set_link("tap2", false);
    links = co_await ns->links();
    EXPECT_FALSE(find_link(links, "tap2")->up);
    EXPECT_TRUE(find_link(links, "tap1")->up);
    co_await ns->set_link("tap2", true);
    links = co_await ns->links();
    EXPECT_TRUE(find_link(links, "tap2")->up);
    EXPECT_EQ(find_link(links, "tap2")->master, "br1");

    const auto host_after = host_links();
    EXPECT_EQ(host_after, host_before);
    EXPECT_THAT(host_after, Not(Contains("tap1")));
    if (!host_before.contains("br1")) {
      EXPECT_THAT(host_after, Not(Contains("br1")));
    }
  });
}

TEST(NetnsTest, request_errors_name_the_device) {
  NETNS_REQUIRE_HOST_SUPPORT();
  run([&](asio::io_context& io) -> awaitable<void> {
    auto ns = co_await Namespace::create(io.get_executor());
    auto m = co_await backend_error(ns->add_tap("tap1", "nobridge"));
    EXPECT_THAT(m, HasSubstr("cannot create TAP device 'tap1' on bridge 'nobridge'"));
    EXPECT_THAT(m, HasSubstr("there is no bridge 'nobridge'"));
    co_await ns->add_bridge("br1");
    m = co_await backend_error(ns->add_bridge("br1"));
    EXPECT_THAT(m, HasSubstr("cannot create bridge 'br1' in the test network namespace: "));
    m = co_await backend_error(ns->add_tap("br1", "br1"));
    EXPECT_THAT(m, HasSubstr("a link named 'br1' already exists"));
    m = co_await backend_error(ns->add_bridge("a-name-longer-than-15"));
    EXPECT_THAT(m, HasSubstr("invalid interface name 'a-name-longer-than-15'"));
    m = co_await backend_error(ns->add_bridge(std::string("br\0x", 4)));
    EXPECT_THAT(m, HasSubstr("invalid interface name 'br?x'"));
    m = co_await backend_error(ns->add_bridge("br 2"));
    EXPECT_THAT(m, HasSubstr("invalid interface name 'br 2'"));
    m = co_await backend_error(ns->set_link("eth7", true));
    EXPECT_THAT(m, HasSubstr("cannot set link 'eth7' up"));
    EXPECT_THAT(m, HasSubstr("no link 'eth7'"));
    m = co_await backend_error(ns->add_address("br1", "not-an-address"));
    EXPECT_THAT(m, HasSubstr("cannot add address not-an-address to 'br1'"));
    // The failed TAP left nothing behind, and the channel still works.
    auto links = co_await ns->links();
    EXPECT_EQ(links.size(), 2u);
    EXPECT_EQ(find_link(links, "tap1"), nullptr);
  });
}

TEST(NetnsTest, process_joins_the_namespace) {
  NETNS_REQUIRE_HOST_SUPPORT();
  const auto host = host_links();
  run([&](asio::io_context& io) -> awaitable<void> {
    auto ns = co_await Namespace::create(io.get_executor());
    co_await ns->add_bridge("br1");
    co_await ns->add_tap("tap1", "br1");
    process::SpawnSpec spec;
    spec.program = "cat";
    // /proc/self/net shows the reader's network namespace (/sys would show the mounter's).
    spec.args = {"/proc/self/net/dev"};
    spec.join_user_ns = ns->user_ns_fd();
    spec.join_net_ns = ns->net_ns_fd();
    std::string out;
    process::Hooks hooks;
    hooks.on_stdout = [&](std::string_view s) { out += s; };
    process::VmmProcess cat(io.get_executor(), spec, std::move(hooks));
    co_await cat.wait_exited();
    EXPECT_TRUE(cat.exit_status()->success()) << cat.exit_status()->to_string() << "\n"
                                              << cat.stderr_tail(10);
    const auto names = proc_net_dev_names(out);
    EXPECT_EQ(names, (std::set<std::string>{"br1", "lo", "tap1"})) << out;
    for (const auto& name : host) {
      if (name != "lo" && name != "br1" && name != "tap1") {
        EXPECT_THAT(names, Not(Contains(name)));
      }
    }
  });
}

TEST(NetnsTest, connect_tcp_inside_the_namespace) {
  NETNS_REQUIRE_HOST_SUPPORT();
  run([&](asio::io_context& io) -> awaitable<void> {
    auto ns = co_await Namespace::create(io.get_executor());
    // Nothing listens in a fresh namespace.
    auto m = co_await backend_error(ns->connect_tcp(9));
    EXPECT_THAT(m, HasSubstr("cannot connect to 127.0.0.1:9 in the test network namespace: "
                             "Connection refused"));
    NamespaceListener listener(*ns);
    EXPECT_NE(listener.port(), 0);
    if (listener.port() == 0) co_return;
    const int fd = co_await ns->connect_tcp(listener.port());
    EXPECT_GE(fd, 0);
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(read_all(fd), "hello\n");
    ::close(fd);
  });
}

TEST(NetnsTest, missing_tun_device_is_reported_with_the_fix) {
  if (!namespaces_available()) GTEST_SKIP() << "no unprivileged user+net namespaces here";
  run([&](asio::io_context& io) -> awaitable<void> {
    NamespaceOptions options;
    options.tun_device = "/nonexistent/net/tun";
    auto m = co_await backend_error(Namespace::create(io.get_executor(), options));
    EXPECT_THAT(m, HasSubstr("/nonexistent/net/tun is missing or not accessible"));
    EXPECT_THAT(m, HasSubstr("extra-sandbox-paths"));
  });
}

TEST(NetnsTest, dead_holder_is_an_error_not_a_hang) {
  NETNS_REQUIRE_HOST_SUPPORT();
  run([&](asio::io_context& io) -> awaitable<void> {
    auto ns = co_await Namespace::create(io.get_executor());
    ::kill(ns->pid(), SIGKILL);
    const auto t0 = Clock::now();
    auto m = co_await backend_error(ns->add_bridge("br1"));
    EXPECT_THAT(m, HasSubstr("cannot create bridge 'br1'"));
    EXPECT_THAT(m, HasSubstr(fmt::format("holder process (pid {}) has exited", ns->pid())));
    m = co_await backend_error(ns->links());
    EXPECT_THAT(m, HasSubstr("has exited"));
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  });
}

TEST(NetnsTest, destruction_reaps_the_holder) {
  NETNS_REQUIRE_HOST_SUPPORT();
  pid_t pid = -1;
  run([&](asio::io_context& io) -> awaitable<void> {
    auto ns = co_await Namespace::create(io.get_executor());
    co_await ns->add_bridge("br1");
    pid = ns->pid();
  });
  ASSERT_GT(pid, 0);
  // Reaped, not a zombie: kill() fails only once the pid is gone entirely.
  errno = 0;
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
}  // namespace attest::net
