// Internal: the unprivileged user+net namespace that holds the TAP networks (one bridge per vlan,
// TAPs enslaved to it). A "holder" child process creates the namespace and keeps it alive; the
// driver asks it over a socket pair to create devices (libnl, TUNSETIFF) and joins VMMs to it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/async.hpp"

namespace attest::net {

struct NamespaceOptions {
  /// The TUN/TAP clone device; another path only for tests and unusual hosts.
  std::filesystem::path tun_device = "/dev/net/tun";
};

/// The step of the namespace setup that failed, for setup_error_message().
enum class SetupStep {
  unshare,     ///< unshare(CLONE_NEWUSER | CLONE_NEWNET)
  id_map,      ///< writing /proc/self/{setgroups,uid_map,gid_map}; detail: the file
  tun_device,  ///< opening the TUN/TAP clone device; detail: its path
};

/// The complete message for a failed setup step: what failed, strerror(err), and what the host
/// needs to allow it. Pure; used by the holder and unit-tested.
std::string setup_error_message(SetupStep step, int err, std::string_view detail);

/// A user+net namespace kept alive by a holder child process. Use on the I/O thread only; one
/// request runs at a time, each bounded by a deadline, so a dead or stuck holder is an error.
class Namespace {
 public:
  /// Forks the holder and waits until the namespace is ready.
  /// Throws: BackendError (operation "network") naming what failed and what the host needs.
  static awaitable<std::unique_ptr<Namespace>> create(asio::any_io_executor ex,
                                                      const NamespaceOptions& options);
  /// The same with the default options. An overload, not a default argument: GCC 12 destroys
  /// a default argument's temporary twice when the call is the operand of co_await.
  static awaitable<std::unique_ptr<Namespace>> create(asio::any_io_executor ex);
  /// Closes the socket, kills and reaps the holder; the namespace and its devices vanish with it
  /// (unless a process that joined it still runs).
  ~Namespace();
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  /// Creates a bridge and brings it up. Throws: BackendError.
  awaitable<void> add_bridge(std::string name);
  /// Creates a persistent TAP (IFF_TAP | IFF_NO_PI), enslaves it to `bridge` and brings it up.
  /// Throws: BackendError.
  awaitable<void> add_tap(std::string name, std::string bridge);
  /// Sets a link administratively up or down. Throws: BackendError.
  awaitable<void> set_link(std::string ifname, bool up);
  /// Adds an address with its prefix length, "192.168.1.254/24" or "2001:db8:1::fe/64".
  /// Throws: BackendError.
  awaitable<void> add_address(std::string ifname, std::string cidr);

  struct Link {
    std::string name;
    bool up = false;                     ///< administratively up (IFF_UP)
    std::string master;                  ///< the bridge it is enslaved to, or empty
    std::vector<std::string> addresses;  ///< "address/prefix"
  };
  /// Every link in the namespace, for tests and diagnostics. Throws: BackendError.
  awaitable<std::vector<Link>> links();

  /// Connects to 127.0.0.1:`port` (TCP) inside the namespace and returns the connected socket
  /// (close-on-exec); the caller owns it. Throws: BackendError (e.g. connection refused).
  awaitable<int> connect_tcp(std::uint16_t port);

  /// The holder's pid.
  pid_t pid() const noexcept { return pid_; }
  /// Open (close-on-exec) descriptors of the namespaces, for process::SpawnSpec::join_*_ns.
  int user_ns_fd() const noexcept { return user_ns_fd_; }
  int net_ns_fd() const noexcept { return net_ns_fd_; }

 private:
  struct Reply;
  using Socket = asio::generic::seq_packet_protocol::socket;

  Namespace(const asio::any_io_executor& ex, pid_t pid, int fd);
  // The coroutine behind both create()s, which are plain functions so that their class-type
  // parameter never lives in a coroutine frame.
  static awaitable<std::unique_ptr<Namespace>> create_holder(asio::any_io_executor ex,
                                                             std::string tun_device);
  /// Sends one request and reads its reply, after the previous request has ended. `what`
  /// describes the operation for error messages.
  awaitable<Reply> request(std::string what, std::vector<std::string> fields);
  awaitable<Reply> exchange(std::string fields);
  awaitable<Reply> receive();
  [[noreturn]] void fail(std::string_view what, std::string_view why);
  std::string holder_gone();

  Socket socket_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int user_ns_fd_ = -1;
  int net_ns_fd_ = -1;
  bool busy_ = false;
  detail::Event idle_;
  std::string broken_;  // why the channel is unusable (a timed-out request), or empty
};

}  // namespace attest::net
