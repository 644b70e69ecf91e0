// The holder process of the TAP networks' namespace (netns.hpp): forked by the driver, it
// unshares a user+net namespace (no privileges needed), keeps it alive and performs the netlink
// and TUN/TAP work inside it on the driver's requests, one SOCK_SEQPACKET message each.
#include "net/netns.hpp"
#include "net/netns_wire.hpp"

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

namespace attest::net::wire {

namespace {

// ---------------------------------------------------------------------------------------------
// The holder. It runs in a forked child of a multi-threaded process: glibc makes malloc safe
// there, and nothing else it uses (libnl, fmt) can have been locked by another driver thread.

/// A request failed; the message becomes the reply.
struct HolderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string nl_text(int err) { return ::nl_geterror(err); }

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

}  // namespace

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

}  // namespace attest::net::wire
