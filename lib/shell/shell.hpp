// Internal: the host half of the NixOS backdoor shell over any connected stream socket
// (virtconsole for QEMU, hybrid vsock for the microVMs). One command at a time; a command
// abandoned by its caller (deadline, abort) stays "in flight" and is finished, output discarded,
// before the next one is sent, so the channel is always back in sync.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "core/async.hpp"
#include "shell/framing.hpp"
#include "shell/transport.hpp"

namespace attest::shell {

/// Why the channel stopped working.
class ChannelError : public std::runtime_error {
 public:
  enum class Kind { eof, shell_exited, malformed, io };
  ChannelError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

struct Result {
  int status = 0;
  std::string output;
};

/// The guest side of a connected shell as the host knows it: enough to take the shell over again
/// after a snapshot restore brought the guest back to that moment.
struct Session {
  Nonce id;
  bool data_port = false;  ///< output travels over the data port (else the console)
};

class Shell {
 public:
  Shell(Channel channel, std::string machine);
  ~Shell();

  /// Waits for the banner (across reads), then installs the protocol (setup_script()) and learns
  /// where the guest writes output.
  awaitable<void> handshake();
  /// Forgets the current guest shell after the guest rebooted or switched root: the connection
  /// stays (the VMM kept it), a new session starts, and handshake() must run again. The old
  /// session's closed sentinel means nothing from then on: where it still turns up (an old
  /// shell's copier outliving the switch), it is dropped from the output.
  void reset();
  /// The connected session (valid once ready()).
  Session session() const;
  /// Takes over `session` after a snapshot restore put the guest back at the moment it was saved
  /// (its shell idle, the protocol installed): no banner, no setup. A command in flight is
  /// forgotten (it never ran in the restored guest), and one sync round trip skips whatever the
  /// connection still held from before the restore. Throws: ChannelError.
  awaitable<void> resume(Session session);
  /// Runs one command. With `read_output` false, returns {-2, ""} as soon as the command is sent
  /// (NixOS's check_output=False): it stays in flight, and the next command or line first waits
  /// for its end and discards its output, as for an abandoned one. Throws: ChannelError.
  awaitable<Result> run(std::string command, std::optional<std::chrono::milliseconds> guest_timeout,
                        bool read_output = true);
  /// Sends a raw line (e.g. NixOS's `poweroff`), after finishing any abandoned command.
  awaitable<void> send_line(std::string line);

  /// Benchmarks only: sends `line` as it is and reads the output path until the bytes read end
  /// with `terminator`; returns how many bytes were read. This is the protocol-free floor.
  awaitable<std::size_t> raw_exchange(std::string line, std::string terminator);

  /// True when an abandoned command has not produced its end marker yet.
  bool busy() const noexcept { return inflight_ != nullptr; }
  const std::string& busy_command() const;
  bool ready() const noexcept { return ready_; }
  /// When the last handshake saw the banner (the guest's shell started); benchmarks read it.
  std::chrono::steady_clock::time_point banner_seen() const noexcept { return banner_seen_; }
  void close() noexcept;

 private:
  struct Inflight;
  awaitable<void> write_rest(Inflight& f);
  awaitable<void> read_until_end(Inflight& f);
  awaitable<void> finish_abandoned();
  awaitable<void> drain_stray();
  /// Logs stray bytes (output outside any command) as a warning.
  void warn_stray(std::string_view bytes, std::string_view why) const;
  /// Logs stray bytes (output outside any command) and asks for rotate_output().
  void report_stray(std::string_view bytes, std::string_view why);
  /// Asks for rotate_output() when the command's background processes outlived it.
  void note_strays(const Inflight& f);
  /// Before the next line, when asked: the guest's shell moves its stdout to a new copier
  /// (rotate_line), so background processes of earlier commands cannot write into later output.
  awaitable<void> rotate_output();
  /// Removes the closed sentinel of the session before the last reset() from `bytes`, where it
  /// arrived late (logged). The sentinel is one short write of the old copier, so it arrives
  /// whole.
  void drop_retired(std::string& bytes) const;
  /// An I/O operation ended with operation_aborted: a ChannelError after close(), else the
  /// cancellation itself (a race cancelled the operation).
  [[noreturn]] void aborted(const error_code& ec) const;

  /// Reads from `socket` until `done(chunk)` returns true; EOF and errors throw ChannelError.
  template <class Done>
  awaitable<void> read_until(Socket& socket, Done done, std::string_view waiting_for);

  std::unique_ptr<Socket> control_;
  std::unique_ptr<Socket> data_;
  Socket* output_;  ///< where responses arrive: data_ when the guest routed output there
  std::string machine_;
  std::mt19937_64 rng_;
  Nonce session_;
  /// closed_sentinel() of the session before the last reset() (empty before the first).
  std::string retired_sentinel_;
  std::unique_ptr<Inflight> inflight_;
  bool ready_ = false;
  bool closed_ = false;
  bool rotate_ = false;  ///< rotate_output() before the next line
  std::chrono::steady_clock::time_point banner_seen_;
};

}  // namespace attest::shell
