// The TAP networks' user+net namespace. A forked holder process unshares it (no privileges
// needed), keeps it alive and performs the netlink and TUN/TAP work inside it on request; the
// driver talks to it over a SOCK_SEQPACKET pair, so a request or a reply is one message.
#include "net/netns.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>

#include <array>
#include <stdexcept>
#include <utility>

#include "attest/error.hpp"
#include "process/vmm_process.hpp"

namespace attest::net {

using namespace std::chrono_literals;

namespace {

// Every request is answered well within this (the holder's own connect timeout is shorter); a
// holder that does not answer is stuck, and the caller gets an error rather than a hang.
constexpr auto request_timeout = 5s;
constexpr int holder_connect_timeout_s = 3;
constexpr std::size_t max_message = 64 * 1024;
constexpr int holder_fd = 3;

constexpr char reply_ok = 'o';
constexpr char reply_error = 'e';

std::string errno_text(int err) {
  const char* text = ::strerrordesc_np(err);
  return text != nullptr ? text : fmt::format("error {}", err);
}

/// A request is its fields, each NUL-terminated; a reply is a status byte, then its fields.
std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    out += f;
    out.push_back('\0');
  }
  return out;
}

std::string join_fields(char status, const std::vector<std::string>& fields) {
  return std::string(1, status) + join_fields(fields);
}

std::vector<std::string> split_fields(std::string_view data) {
  std::vector<std::string> out;
  while (!data.empty()) {
    const auto end = data.find('\0');
    out.emplace_back(data.substr(0, end));
    if (end == std::string_view::npos) break;
    data.remove_prefix(end + 1);
  }
  return out;
}

BackendError network_error(std::string message) {
  return BackendError(std::move(message), "", "network");
}

// ---------------------------------------------------------------------------------------------
// The holder. It runs in a forked child of a multi-threaded process: glibc makes malloc safe
// there, and nothing else it uses (libnl, fmt) can have been locked by another driver thread.

/// A request failed; the message becomes the reply.
struct HolderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string nl_text(int err) { return ::nl_geterror(err); }

void send_message(int sock, const std::string& data, int fd = -1) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  if (fd >= 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    ::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void setup_failed(int sock, const std::string& message) {
  send_message(sock, join_fields(reply_error, {message}));
  ::_exit(1);
}

void write_file(int sock, const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && std::string_view(path) == "/proc/self/setgroups")
    return;  // kernels before 3.19 have no setgroups file and need no "deny"
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    setup_failed(sock, setup_error_message(SetupStep::id_map, errno, path));
  ::close(fd);
}

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;

class Holder {
 public:
  Holder(int sock, std::string tun) : sock_(sock), tun_(std::move(tun)) {}

  /// Everything up to "ready"; a failure is reported to the driver and ends the process.
  void setup(uid_t uid, gid_t gid) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
      setup_failed(sock_, setup_error_message(SetupStep::unshare, errno, ""));
    // Without "deny" an unprivileged process may not write gid_map (user_namespaces(7)).
    write_file(sock_, "/proc/self/setgroups", "deny");
    write_file(sock_, "/proc/self/uid_map", fmt::format("0 {} 1", uid));
    write_file(sock_, "/proc/self/gid_map", fmt::format("0 {} 1", gid));
    // Checked now, as the namespace's root, so that a missing device is reported before any
    // bridge is made, and in the terms the host must fix.
    const int tun = ::open(tun_.c_str(), O_RDWR | O_CLOEXEC);
    if (tun < 0) setup_failed(sock_, setup_error_message(SetupStep::tun_device, errno, tun_));
    ::close(tun);
    // The socket is bound to the namespace it is created in: this one.
    sk_ = ::nl_socket_alloc();
    if (sk_ == nullptr) setup_failed(sock_, "cannot allocate a netlink socket");
    if (int err = ::nl_connect(sk_, NETLINK_ROUTE); err < 0)
      setup_failed(sock_, fmt::format("cannot open a netlink socket in the test network "
                                      "namespace: {}",
                                      nl_text(err)));
    try {
      set_up("lo", true);
    } catch (const HolderError& e) {
      setup_failed(sock_,
                   fmt::format("cannot bring up lo in the test network namespace: {}", e.what()));
    }
    send_message(sock_, join_fields(reply_ok, {}));
  }

  /// Answers requests until the driver closes its end.
  [[noreturn]] void serve() {
    std::string buf(max_message, '\0');
    for (;;) {
      const ssize_t n = ::recv(sock_, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(0);
      const auto fields = split_fields(std::string_view(buf.data(), n));
      int fd = -1;
      std::string reply;
      try {
        reply = join_fields(reply_ok, handle(fields, fd));
      } catch (const std::exception& e) {
        reply = join_fields(reply_error, {e.what()});
      }
      send_message(sock_, reply, fd);
      if (fd >= 0) ::close(fd);
    }
  }

 private:
  std::vector<std::string> handle(const std::vector<std::string>& f, int& fd) {
    const auto arg = [&](std::size_t i) -> const std::string& {
      if (i >= f.size()) throw HolderError("malformed request");
      return f[i];
    };
    const std::string& op = arg(0);
    if (op == "bridge") {
      add_bridge(arg(1));
    } else if (op == "tap") {
      add_tap(arg(1), arg(2));
    } else if (op == "link") {
      set_up(arg(1), arg(2) == "1");
    } else if (op == "addr") {
      add_address(arg(1), arg(2));
    } else if (op == "links") {
      return links();
    } else if (op == "connect") {
      fd = connect_tcp(static_cast<std::uint16_t>(std::stoul(arg(1))));
    } else {
      throw HolderError(fmt::format("unknown request '{}'", op));
    }
    return {};
  }

  LinkPtr find_link(const std::string& name) {
    rtnl_link* link = nullptr;
    ::rtnl_link_get_kernel(sk_, 0, name.c_str(), &link);
    return LinkPtr(link);
  }

  LinkPtr get_link(const std::string& name) {
    rtnl_link* link = nullptr;
    if (int err = ::rtnl_link_get_kernel(sk_, 0, name.c_str(), &link); err < 0)
      throw HolderError(fmt::format("no link '{}': {}", name, nl_text(err)));
    return LinkPtr(link);
  }

  void set_up(const std::string& name, bool up) {
    auto link = get_link(name);
    LinkPtr change(::rtnl_link_alloc());
    if (up)
      ::rtnl_link_set_flags(change.get(), IFF_UP);
    else
      ::rtnl_link_unset_flags(change.get(), IFF_UP);
    if (int err = ::rtnl_link_change(sk_, link.get(), change.get(), 0); err < 0)
      throw HolderError(fmt::format("setting '{}' {}: {}", name, up ? "up" : "down", nl_text(err)));
  }

  void add_bridge(const std::string& name) {
    // Not rtnl_link_bridge_add(): without NLM_F_EXCL it silently reuses an existing link.
    LinkPtr link(::rtnl_link_bridge_alloc());
    if (!link) throw HolderError("out of memory");
    ::rtnl_link_set_name(link.get(), name.c_str());
    if (int err = ::rtnl_link_add(sk_, link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
      throw HolderError(fmt::format("RTM_NEWLINK (bridge): {}", nl_text(err)));
    // Without STP (the kernel's default for a new bridge) a port forwards as soon as it is up.
    set_up(name, true);
  }

  void add_tap(const std::string& name, const std::string& bridge) {
    // TUNSETIFF on an existing name attaches to that device instead of failing, and a missing
    // bridge would leave a stray TAP behind: check both first.
    if (find_link(name)) throw HolderError(fmt::format("a link named '{}' already exists", name));
    auto master = find_link(bridge);
    if (!master) throw HolderError(fmt::format("there is no bridge '{}'", bridge));
    const int fd = ::open(tun_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) throw HolderError(fmt::format("opening {}: {}", tun_, errno_text(errno)));
    bool persistent = false;
    try {
      ifreq ifr{};
      ::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
      if (::ioctl(fd, TUNSETIFF, &ifr) != 0)
        throw HolderError(fmt::format("TUNSETIFF: {}", errno_text(errno)));
      // The VMM opens the TAP by name after this fd is closed, so the device must outlive it.
      if (::ioctl(fd, TUNSETPERSIST, 1) != 0)
        throw HolderError(fmt::format("TUNSETPERSIST: {}", errno_text(errno)));
      persistent = true;
      auto tap = get_link(name);
      if (int err = ::rtnl_link_enslave_ifindex(sk_, ::rtnl_link_get_ifindex(master.get()),
                                                ::rtnl_link_get_ifindex(tap.get()));
          err < 0)
        throw HolderError(fmt::format("enslaving to '{}': {}", bridge, nl_text(err)));
      set_up(name, true);
    } catch (...) {
      // Clearing persistence makes the device vanish with the fd: a retry starts clean.
      if (persistent) ::ioctl(fd, TUNSETPERSIST, 0);
      ::close(fd);
      throw;
    }
    ::close(fd);
  }

  void add_address(const std::string& ifname, const std::string& cidr) {
    nl_addr* parsed = nullptr;
    if (int err = ::nl_addr_parse(cidr.c_str(), AF_UNSPEC, &parsed); err < 0)
      throw HolderError(fmt::format("invalid address '{}': {}", cidr, nl_text(err)));
    NlAddrPtr local(parsed);
    const int family = ::nl_addr_get_family(local.get());
    if (family != AF_INET && family != AF_INET6)
      throw HolderError(fmt::format("'{}' is not an IPv4 or IPv6 address", cidr));
    auto link = get_link(ifname);
    AddrPtr addr(::rtnl_addr_alloc());
    ::rtnl_addr_set_ifindex(addr.get(), ::rtnl_link_get_ifindex(link.get()));
    if (int err = ::rtnl_addr_set_local(addr.get(), local.get()); err < 0)
      throw HolderError(fmt::format("invalid address '{}': {}", cidr, nl_text(err)));
    // Duplicate address detection would keep an IPv6 address tentative (unusable) for a second
    // or more; nothing else on a test network can own the host's address.
    if (family == AF_INET6) ::rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
    if (int err = ::rtnl_addr_add(sk_, addr.get(), 0); err < 0)
      throw HolderError(fmt::format("RTM_NEWADDR: {}", nl_text(err)));
  }

  /// Four fields per link: name, "1"/"0" (up), master, space-separated addresses.
  std::vector<std::string> links() {
    nl_cache* raw = nullptr;
    if (int err = ::rtnl_link_alloc_cache(sk_, AF_UNSPEC, &raw); err < 0)
      throw HolderError(fmt::format("RTM_GETLINK: {}", nl_text(err)));
    CachePtr link_cache(raw);
    raw = nullptr;
    if (int err = ::rtnl_addr_alloc_cache(sk_, &raw); err < 0)
      throw HolderError(fmt::format("RTM_GETADDR: {}", nl_text(err)));
    CachePtr addr_cache(raw);
    std::vector<std::string> out;
    for (nl_object* o = ::nl_cache_get_first(link_cache.get()); o != nullptr;
         o = ::nl_cache_get_next(o)) {
      auto* link = reinterpret_cast<rtnl_link*>(o);
      const int index = ::rtnl_link_get_ifindex(link);
      out.emplace_back(::rtnl_link_get_name(link));
      out.emplace_back((::rtnl_link_get_flags(link) & IFF_UP) != 0 ? "1" : "0");
      std::array<char, IFNAMSIZ + 1> master{};
      if (int m = ::rtnl_link_get_master(link); m > 0)
        ::rtnl_link_i2name(link_cache.get(), m, master.data(), master.size());
      out.emplace_back(master.data());
      std::string addresses;
      for (nl_object* a = ::nl_cache_get_first(addr_cache.get()); a != nullptr;
           a = ::nl_cache_get_next(a)) {
        auto* addr = reinterpret_cast<rtnl_addr*>(a);
        nl_addr* local = ::rtnl_addr_get_local(addr);
        if (::rtnl_addr_get_ifindex(addr) != index || local == nullptr) continue;
        std::array<char, INET6_ADDRSTRLEN> text{};
        if (::inet_ntop(::nl_addr_get_family(local), ::nl_addr_get_binary_addr(local), text.data(),
                        text.size()) == nullptr)
          continue;
        if (!addresses.empty()) addresses.push_back(' ');
        addresses += fmt::format("{}/{}", text.data(), ::rtnl_addr_get_prefixlen(addr));
      }
      out.push_back(std::move(addresses));
    }
    return out;
  }

  int connect_tcp(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw HolderError(fmt::format("socket: {}", errno_text(errno)));
    // A full accept backlog makes connect() retry SYNs for minutes: bound it below the
    // driver's request deadline so the driver gets the reason rather than a timeout.
    timeval limit{holder_connect_timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc;
    while ((rc = ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to))) != 0 &&
           errno == EINTR) {
    }
    if (rc != 0) {
      const int err = errno;
      ::close(fd);
      throw HolderError(errno_text(err));
    }
    // The caller gets an ordinary blocking-mode socket, without our send timeout.
    timeval none{0, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
    return fd;
  }

  int sock_;
  std::string tun_;
  nl_sock* sk_ = nullptr;
};

/// Moves `sock` to fd 3 and closes every other descriptor above stderr: a holder that kept
/// the driver's pipes open would keep, say, a VMM's output pipe from ever reaching EOF.
void isolate_fds(int sock) {
  if (sock != holder_fd) {
    ::dup2(sock, holder_fd);
    if (sock > holder_fd) ::close(sock);
  }
  if (::close_range(holder_fd + 1, ~0U, 0) != 0) {
    rlimit lim{};
    const int max = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
                        ? static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 1 << 20))
                        : 65536;
    for (int fd = holder_fd + 1; fd < max; ++fd) ::close(fd);
  }
}

[[noreturn]] void holder_main(int sock, pid_t parent, uid_t uid, gid_t gid, std::string tun) {
  try {
    // The kernel kills the holder (and so frees the namespace) when the forking thread, the
    // driver's I/O thread, dies, even by SIGKILL.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    isolate_fds(sock);
    Holder holder(holder_fd, std::move(tun));
    holder.setup(uid, gid);
    holder.serve();
  } catch (...) {
  }
  ::_exit(1);
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

Namespace::Namespace(asio::any_io_executor ex, pid_t pid, int fd)
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
                                                        NamespaceOptions options) {
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
