// Networks between real guests, on both paths (VDE hubs; bridges and TAPs in a user+net
// namespace): names and addresses as NixOS gives them, a router between two vlans, block() and
// unblock(), forward_port, and proof that no packet leaves the test's own networks.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "attest/driver.hpp"
#include "attest/error.hpp"
#include "vm_util.hpp"

using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

/// A TCP listener on the host's loopback: the only host address a test may use.
class HostListener {
 public:
  HostListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 8) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
  }
  ~HostListener() { ::close(fd_); }
  std::uint16_t port() const { return port_; }
  /// Whether anyone connected so far.
  bool contacted() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

std::string fmt_port(const std::string& prefix, std::uint16_t port) {
  return prefix + std::to_string(port) + "/";
}

/// A port nobody listens on right now.
std::uint16_t free_port() {
  HostListener l;
  return l.port();
}

/// An HTTP GET of / on 127.0.0.1:`port`; the whole response.
std::string http_get(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
    }
  }
  ::close(fd);
  return out;
}

/// The test binary's child processes (VMMs, VDE hubs, the namespace holder).
int children() {
  int n = 0;
  const auto self = std::to_string(::getpid());
  attest::vmtest::for_each_process([&](int pid, const std::string&) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name (in parentheses): state, ppid.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream rest(stat.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    n += ppid == self;
    return false;
  });
  return n;
}

attest::Config config_from(const char* variable) {
  const char* path = std::getenv(variable);
  if (path == nullptr) throw std::runtime_error(std::string(variable) + " is not set");
  return attest::load_config(path);
}

/// Copies of the guest's one machine under the given names, each on the given vlans.
attest::Config machines(const char* variable, attest::NetworkMode mode,
                        const std::vector<std::pair<std::string, std::vector<unsigned>>>& nodes) {
  auto base = config_from(variable);
  attest::Config c;
  c.name = "network";
  c.network = mode;
  for (const auto& [name, vlans] : nodes) {
    auto m = base.machines.at(0);
    m.name = name;
    m.vlans = vlans;
    c.machines.push_back(std::move(m));
  }
  return c;
}

class network : public ::testing::TestWithParam<attest::NetworkMode> {};

TEST_P(network, two_machines_reach_each_other_by_name_and_nothing_else) {
  attest::Driver driver(
      machines("ATTEST_SYSTEMD_CONFIG", GetParam(), {{"client", {1}}, {"server", {1}}}));
  auto& client = driver.machine("client");
  auto& server = driver.machine("server");
  driver.start_all();
  server.wait_for_unit("nginx.service");

  // NixOS addressing: client is node 1, server node 2; names from /etc/hosts; hostnames set.
  EXPECT_EQ(client.succeed("hostname"), "client\n");
  EXPECT_THAT(client.succeed("cat /etc/hosts"),
              HasSubstr("192.168.1.2 server\n2001:db8:1::2 server\n"));
  EXPECT_THAT(server.succeed("ip -o addr show dev eth1"),
              testing::AllOf(HasSubstr("192.168.1.2/24"), HasSubstr("2001:db8:1::2/64")));
  EXPECT_THAT(server.succeed("cat /sys/class/net/eth1/address"), HasSubstr("52:54:00:12:01:02"));
  client.succeed("ping -c1 -W10 server");
  server.succeed("ping -c1 -W10 client");
  server.succeed("ping -c1 -W10 2001:db8:1::1");
  EXPECT_THAT(client.succeed("curl --fail -sS --max-time 20 http://server/"),
              HasSubstr("Welcome to nginx"));

  // block() cuts the vlan, unblock() restores it; eth0 is not part of it.
  server.block();
  client.fail("ping -c1 -W2 server");
  server.unblock();
  client.wait_until_succeeds("ping -c1 -W2 server", 60s);

  // forward_port: host loopback → guest port 80, through QEMU's user-mode network.
  const auto port = free_port();
  server.forward_port(port, 80);
  EXPECT_THAT(http_get(port), HasSubstr("Welcome to nginx"));

  // No packet leaves the test's networks: no route to anything outside them, and the user-mode
  // network's way to the host (10.0.2.2) is closed, as a listener on the host proves.
  HostListener host;
  EXPECT_THAT(client.fail("ip route get 203.0.113.1 2>&1"), HasSubstr("unreachable"));
  EXPECT_THAT(client.fail("ip -6 route get 2001:db8:ffff::1 2>&1"), HasSubstr("unreachable"));
  client.fail(fmt_port("curl -sS --max-time 3 http://10.0.2.2:", host.port()));
  client.fail(fmt_port("curl -sS --max-time 3 http://10.0.2.3:", host.port()));
  EXPECT_FALSE(host.contacted());
}

TEST_P(network, a_router_joins_two_vlans) {
  // a (node 1) on vlan 1, b (node 2) on vlan 2, router (node 3) on both.
  auto driver_owner = std::make_unique<attest::Driver>(
      machines("ATTEST_CONFIG", GetParam(), {{"a", {1}}, {"b", {2}}, {"router", {1, 2}}}));
  auto& driver = *driver_owner;
  auto& a = driver.machine("a");
  auto& b = driver.machine("b");
  auto& router = driver.machine("router");
  driver.start_all();
  router.succeed("echo 1 > /proc/sys/net/ipv4/ip_forward");
  a.succeed("ip route add 192.168.2.0/24 via 192.168.1.3");
  b.succeed("ip route add 192.168.1.0/24 via 192.168.2.3");
  // Not on a shared vlan: only through the router.
  a.succeed("ping -c1 -W10 192.168.2.2");
  b.succeed("ping -c1 -W10 192.168.1.1");
  EXPECT_THAT(router.succeed("ip -o -4 addr show dev eth1"), HasSubstr("192.168.1.3/24"));
  EXPECT_THAT(router.succeed("ip -o -4 addr show dev eth2"), HasSubstr("192.168.2.3/24"));
  router.succeed("echo 0 > /proc/sys/net/ipv4/ip_forward");
  a.fail("ping -c1 -W2 192.168.2.2");
  // block() on the router cuts both of its vlans.
  router.succeed("echo 1 > /proc/sys/net/ipv4/ip_forward");
  router.block();
  a.fail("ping -c1 -W2 192.168.1.3");
  b.fail("ping -c1 -W2 192.168.2.3");
  router.unblock();
  a.wait_until_succeeds("ping -c1 -W2 192.168.2.2", 60s);
  // Three VMMs plus the hubs or the namespace holder; all gone with the Driver.
  EXPECT_GE(children(), 4);
  driver_owner.reset();
  EXPECT_EQ(children(), 0);
}

INSTANTIATE_TEST_SUITE_P(paths, network,
                         ::testing::Values(attest::NetworkMode::vde, attest::NetworkMode::tap),
                         [](const auto& info) {
                           return std::string(attest::to_string(info.param));
                         });

TEST(network_errors, block_needs_a_vlan) {
  auto c = machines("ATTEST_CONFIG", attest::NetworkMode::automatic, {{"alone", {}}});
  attest::Driver driver(c);
  auto& m = driver.machine("alone");
  EXPECT_THAT([&] { m.block(); }, testing::ThrowsMessage<attest::Error>(HasSubstr(
                                      "machine 'alone': block: the machine is on no vlan")));
  // forward_port works without vlans too: eth0 gets its address on the first call.
  m.succeed("true");
  const auto port = free_port();
  m.forward_port(port, 8000);
  m.succeed(
      "(cd /tmp && echo hello-from-guest > index.html && "
      "busybox httpd -p 8000 -h /tmp) >/dev/null 2>&1");
  EXPECT_THAT(http_get(port), HasSubstr("hello-from-guest"));
}

}  // namespace
