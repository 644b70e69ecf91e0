// The TAP networks' user+net namespace, the driver's side. A forked holder process
// (netns_holder.cpp) unshares it (no privileges needed), keeps it alive and performs the netlink
// and TUN/TAP work inside it on request; the driver talks to it over a SOCK_SEQPACKET pair, so a
// request or a reply is one message (netns_wire.hpp).
#include "net/netns.hpp"
#include "net/netns_wire.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <stdexcept>
#include <utility>

#include "attest/error.hpp"
#include "process/vmm_process.hpp"

namespace attest::net {

using namespace std::chrono_literals;
using namespace wire;

namespace {

BackendError network_error(const std::string& message) {
  return BackendError(message, "", "network");
}

/// A received descriptor, closed unless released.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// `text` for an error message: control characters (a NUL would end what()) become '?'.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

/// Rejects what the kernel would (dev_valid_name) and what would break the message framing.
void check_ifname(std::string_view what, const std::string& name) {
  static constexpr char bad_list[] = "/: \t\n\r\v\f";  // and the NUL that ends it
  constexpr std::string_view bad_chars(bad_list, sizeof(bad_list));
  const bool bad_char = name.find_first_of(bad_chars) != std::string::npos;
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == ".." || bad_char)
    throw network_error(fmt::format(
        "{}: invalid interface name '{}' (1 to {} characters, no '/', ':' or whitespace)", what,
        printable(name), IFNAMSIZ - 1));
}

/// An O_CLOEXEC descriptor of the holder's namespace `kind`, for setns.
int open_ns(std::string_view what, pid_t pid, std::string_view kind) {
  const std::string file = fmt::format("/proc/{}/ns/{}", pid, kind);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw network_error(fmt::format("{}: opening {}: {}", what, file, errno_text(errno)));
  return fd;
}

}  // namespace

std::string setup_error_message(SetupStep step, int err, std::string_view detail) {
  switch (step) {
    case SetupStep::unshare:
      return fmt::format(
          "cannot create the user+net namespace for the test network: "
          "unshare(CLONE_NEWUSER|CLONE_NEWNET): {}. {}",
          errno_text(err),
          err == EPERM || err == ENOSPC || err == EINVAL || err == EUSERS
              ? "The host must allow unprivileged user namespaces: check the sysctls "
                "kernel.unprivileged_userns_clone (must be 1 where it exists, e.g. Debian) and "
                "user.max_user_namespaces (must be > 0), and that no seccomp sandbox forbids "
                "unshare (Docker's default profile does: run the container with "
                "--security-opt seccomp=unconfined or a profile that allows unshare and setns)"
              : "The kernel must support user and network namespaces (CONFIG_USER_NS, "
                "CONFIG_NET_NS)");
    case SetupStep::id_map:
      return fmt::format(
          "cannot set up the user namespace for the test network: writing {}: {}. The host "
          "must allow an unprivileged user namespace to map its creator's uid and gid (on "
          "Ubuntu 23.10 and later, AppArmor forbids this unless "
          "kernel.apparmor_restrict_unprivileged_userns=0)",
          detail, errno_text(err));
    case SetupStep::tun_device:
      return fmt::format(
          "{} is missing or not accessible: open: {}. The TAP network needs the TUN/TAP "
          "device (character device 10:200, kernel module tun, usually mode 0666) readable "
          "and writable by the test user. In the Nix sandbox add "
          "`extra-sandbox-paths = [ \"/dev/net/tun\" ]` to nix.conf; in a container pass "
          "the device in (docker run --device /dev/net/tun)",
          detail, errno_text(err));
  }
  return fmt::format("cannot set up the test network namespace: {}", errno_text(err));
}

struct Namespace::Reply {
  bool ok = false;
  std::vector<std::string> fields;  // the error message when !ok
  UniqueFd fd;
};

Namespace::Namespace(const asio::any_io_executor& ex, pid_t pid, int fd)
    : socket_(ex), pid_(pid), idle_(ex) {
  socket_.assign(Socket::protocol_type(AF_UNIX, SOCK_SEQPACKET), fd);
}

Namespace::~Namespace() {
  error_code ec;
  socket_.close(ec);
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (user_ns_fd_ >= 0) ::close(user_ns_fd_);
  if (net_ns_fd_ >= 0) ::close(net_ns_fd_);
}

awaitable<std::unique_ptr<Namespace>> Namespace::create(asio::any_io_executor ex,
                                                        const NamespaceOptions& options) {
  return create_holder(std::move(ex), options.tun_device.string());
}

awaitable<std::unique_ptr<Namespace>> Namespace::create(asio::any_io_executor ex) {
  return create(std::move(ex), NamespaceOptions{});
}

awaitable<std::unique_ptr<Namespace>> Namespace::create_holder(asio::any_io_executor ex,
                                                               std::string tun) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    throw network_error(
        fmt::format("cannot start the test network namespace: socketpair: {}", errno_text(errno)));
  // Read before fork: the child's uid_map must name the driver's ids.
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) holder_main(sv[1], parent, uid, gid, std::move(tun));
  ::close(sv[1]);
  if (pid < 0) {
    const int err = errno;
    ::close(sv[0]);
    throw network_error(
        fmt::format("cannot start the test network namespace: fork: {}", errno_text(err)));
  }
  std::unique_ptr<Namespace> ns;
  try {
    ns.reset(new Namespace(ex, pid, sv[0]));
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw;
  }

  constexpr std::string_view what = "cannot create the test network namespace";
  auto ready = co_await detail::race(ns->receive(), deadline_after(request_timeout));
  if (ready.end != detail::RaceEnd::done)
    ns->fail(what, fmt::format("the holder process (pid {}) did not report ready within {}s", pid,
                               request_timeout.count()));
  if (!ready.value->ok) {
    const std::string message =
        ready.value->fields.empty() ? ns->holder_gone() : ready.value->fields.front();
    // The holder's setup messages are complete sentences already.
    throw network_error(ready.value->fields.empty() ? fmt::format("{}: {}", what, message)
                                                    : message);
  }
  ns->user_ns_fd_ = open_ns(what, pid, "user");
  ns->net_ns_fd_ = open_ns(what, pid, "net");
  co_return ns;
}

void Namespace::fail(std::string_view what, std::string_view why) {
  throw network_error(fmt::format("{}: {}", what, why));
}

std::string Namespace::holder_gone() {
  std::string status;
  int wstatus = 0;
  if (!reaped_ && ::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
    reaped_ = true;
    process::ExitStatus st;
    st.signaled = WIFSIGNALED(wstatus);
    st.code = st.signaled ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
    status = fmt::format(" ({})", st.to_string());
  }
  return fmt::format("the namespace holder process (pid {}) has exited{}", pid_, status);
}

awaitable<Namespace::Reply> Namespace::receive() {
  std::string buf(max_message, '\0');
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      co_await socket_.async_wait(Socket::wait_read, use_awaitable);
      continue;
    }
    Reply reply;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int fd;
        ::memcpy(&fd, CMSG_DATA(c), sizeof(int));
        reply.fd = UniqueFd(fd);
      }
    }
    if (n <= 0) co_return reply;  // the holder is gone: not ok, no message
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
      reply.fields = {"the holder's reply was truncated"};
      co_return reply;
    }
    reply.ok = buf[0] == reply_ok;
    reply.fields = split_fields(std::string_view(buf.data() + 1, n - 1));
    if (!reply.ok && reply.fields.empty()) reply.fields = {"the holder's reply is malformed"};
    co_return reply;
  }
}

awaitable<Namespace::Reply> Namespace::exchange(std::string data) {
  for (;;) {
    if (::send(socket_.native_handle(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
      break;
    if (errno == EAGAIN || errno == EINTR) {
      co_await socket_.async_wait(Socket::wait_write, use_awaitable);
      continue;
    }
    co_return Reply{};  // EPIPE, ECONNRESET: the holder is gone
  }
  co_return co_await receive();
}

awaitable<Namespace::Reply> Namespace::request(std::string what, std::vector<std::string> fields) {
  // One request in flight: replies carry no id, so they must come back in order. Waiters
  // queue on idle_; all run on the I/O thread, so a flag is enough.
  while (busy_) {
    idle_.reset();
    co_await idle_.wait();
  }
  busy_ = true;
  struct Release {
    Namespace* ns;
    ~Release() {
      ns->busy_ = false;
      ns->idle_.set();
    }
  } release{this};

  if (!broken_.empty()) fail(what, broken_);
  auto result =
      co_await detail::race(exchange(join_fields(fields)), deadline_after(request_timeout));
  if (result.end != detail::RaceEnd::done) {
    // A late reply would be taken for the next request's: the channel cannot be used again.
    broken_ =
        fmt::format("the namespace holder process (pid {}) did not answer within {}s (it is stuck)",
                    pid_, request_timeout.count());
    fail(what, broken_);
  }
  Reply reply = std::move(*result.value);
  if (!reply.ok) {
    if (reply.fields.empty()) {
      broken_ = holder_gone();
      fail(what, broken_);
    }
    fail(what, reply.fields.front());
  }
  co_return reply;
}

awaitable<void> Namespace::add_bridge(std::string name) {
  const std::string what =
      fmt::format("cannot create bridge '{}' in the test network namespace", printable(name));
  check_ifname(what, name);
  std::vector<std::string> fields{"bridge", name};
  co_await request(what, std::move(fields));
}

awaitable<void> Namespace::add_tap(std::string name, std::string bridge) {
  const std::string what =
      fmt::format("cannot create TAP device '{}' on bridge '{}' in the test network namespace",
                  printable(name), printable(bridge));
  check_ifname(what, name);
  check_ifname(what, bridge);
  std::vector<std::string> fields{"tap", name, bridge};
  co_await request(what, std::move(fields));
}

awaitable<void> Namespace::set_link(std::string ifname, bool up) {
  const std::string what = fmt::format("cannot set link '{}' {} in the test network namespace",
                                       printable(ifname), up ? "up" : "down");
  check_ifname(what, ifname);
  std::vector<std::string> fields{"link", ifname, up ? "1" : "0"};
  co_await request(what, std::move(fields));
}

awaitable<void> Namespace::add_address(std::string ifname, std::string cidr) {
  const std::string what =
      fmt::format("cannot add address {} to '{}' in the test network namespace", printable(cidr),
                  printable(ifname));
  check_ifname(what, ifname);
  if (cidr.find('\0') != std::string::npos) fail(what, "the address contains a NUL character");
  std::vector<std::string> fields{"addr", ifname, cidr};
  co_await request(what, std::move(fields));
}

awaitable<std::vector<Namespace::Link>> Namespace::links() {
  std::vector<std::string> fields{"links"};
  auto reply =
      co_await request("cannot list the links of the test network namespace", std::move(fields));
  std::vector<Link> out;
  const auto& f = reply.fields;
  for (std::size_t i = 0; i + 3 < f.size(); i += 4) {
    Link link{f[i], f[i + 1] == "1", f[i + 2], {}};
    std::string_view addrs = f[i + 3];
    while (!addrs.empty()) {
      const auto sp = addrs.find(' ');
      link.addresses.emplace_back(addrs.substr(0, sp));
      if (sp == std::string_view::npos) break;
      addrs.remove_prefix(sp + 1);
    }
    out.push_back(std::move(link));
  }
  co_return out;
}

awaitable<int> Namespace::connect_tcp(std::uint16_t port) {
  const std::string what =
      fmt::format("cannot connect to 127.0.0.1:{} in the test network namespace", port);
  std::vector<std::string> fields{"connect", std::to_string(port)};
  auto reply = co_await request(what, std::move(fields));
  const int fd = reply.fd.release();
  if (fd < 0) fail(what, "the holder sent no socket");
  co_return fd;
}

}  // namespace attest::net
