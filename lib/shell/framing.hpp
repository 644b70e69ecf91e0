// Internal: the shell protocol's bytes, kept free of I/O so it can be unit-tested.
//
// The guest runs the stock NixOS backdoor: `bash --norc /dev/hvc0` (or a vsock stream), stdout on
// the channel, stderr on the serial console. After the banner attest sends setup_script() once:
// stdin becomes /dev/null (a command can no longer eat the protocol), stdout becomes a pipe into
// one long-lived `cat` that copies to the output path (so commands see a pipe, as under NixOS, and
// a background job holding stdout cannot block anything), and `-u -o pipefail` are set for every
// command to inherit.
//
// The output path is the virtio-serial port named data_port_name when the VMM offers one, else
// the console itself. QEMU drops console (hvc) output whenever the host's socket buffer is full
// (hw/char/virtio-console.c does not throttle console ports), so bulk output would lose bytes
// under load; a plain virtio-serial port is throttled instead, and so is lossless. The setup
// reports the path it chose on the console ("<route nonce> <device or none>").
//
// Each command is then one line and one round trip:
//
//     ( set -e; eval '<command>' ) 8>&-; echo <nonce-half>''<nonce-half> $?
//
// The output is every byte before the nonce; the status follows it. The 96-bit nonce is random
// per command and never appears literally in the text sent (its halves are joined by bash), so
// neither the command's text nor its echo can forge the end of its output. When the shell itself
// dies, the `cat` wrapper prints the session's sentinel, so the host learns it at once.
//
// Background processes. A process a command leaves running keeps the stdout it inherited: the
// copier's pipe, which the next commands write to as well. So that a command's output is only its
// own, a command whose text starts background jobs (`&`, `coproc`: starts_background_jobs) runs
// in a process group of its own, and its marker carries a `+` when any process of that group
// outlived it; output arriving outside any command (after a marker, between commands) says the
// same of processes that left the group. Either way the host sends rotate_line() before the next
// command: the shell's stdout moves to a new pipe and copier, and what is written to the old pipe
// from then on goes to the guest's console (the machine's console log), where it is still seen
// but never taken for a command's output. Commands without `&` pay nothing for this: the process
// group costs a fifth of a command's time in the guest (bash's job control), and is spent only
// where the text asks for background jobs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace attest::shell {

/// The name of the virtio-serial port that carries command output beside the console.
inline constexpr std::string_view data_port_name = "org.attest.data";

/// The text the NixOS backdoor prints before the shell reads commands.
inline constexpr std::string_view banner = "Spawning backdoor root shell...";

/// A random token written to the guest as two halves.
struct Nonce {
  std::string first;
  std::string second;
  std::string joined() const { return first + second; }
};

/// 96 random bits as two 12-digit hex halves.
Nonce make_nonce(std::mt19937_64& rng);

/// What a command ends with once bash has joined the nonce: "<nonce> <status>\n".
std::string end_marker(const Nonce& nonce);
/// What the output pipe prints when the guest shell exits: "<nonce> closed\n".
std::string closed_sentinel(const Nonce& session);

/// The one-time setup sent after the banner. It prints "<route> <device>\n" on the console (the
/// data port's device, or "none"), then `sync` like a command's marker with status 0 on the
/// chosen output path.
std::string setup_script(const Nonce& session, const Nonce& route, const Nonce& sync);

/// Finds the setup's route line in the console stream.
class RouteSearch {
 public:
  explicit RouteSearch(const Nonce& route);
  /// Adds bytes; returns true once the whole line has arrived.
  bool feed(std::string_view bytes);
  /// The device the guest writes output to, or "none".
  const std::string& device() const noexcept { return device_; }
  /// Bytes after the route line.
  std::string_view after() const;

 private:
  std::string buffer_;
  std::string pattern_;
  std::size_t end_ = std::string::npos;
  std::string device_;
};

/// The line that moves the shell's stdout to a new copier (see setup_script) and then prints
/// `sync` like a command's marker with status 0 through it. What background processes of earlier
/// commands write to the old one goes to the guest's console from then on.
std::string rotate_line(const Nonce& sync);

/// Whether `command` may leave background processes behind by its own text: `&` as an operator
/// (not `&&`, `>&`, `<&`, `&>`, `|&`) or `coproc`. Such a command runs in a process group of its
/// own, and its end marker says whether any of them outlived it.
bool starts_background_jobs(std::string_view command);

/// The line that runs `command` once. With `guest_timeout` the guest kills the command at that
/// deadline (`timeout -k 5 T bash -c ...`, status 124 as in NixOS); otherwise it runs in a
/// subshell of the persistent shell, costing one fork. Either way with NixOS's `set -euo pipefail`.
std::string command_line(std::string_view command, const Nonce& nonce,
                         std::optional<std::chrono::milliseconds> guest_timeout);

/// Finds `pattern` in a growing buffer in linear time: each call scans only the bytes added since
/// the previous call (plus an overlap of pattern length - 1).
class StreamSearch {
 public:
  explicit StreamSearch(std::string pattern) : pattern_(std::move(pattern)) {}
  /// Position of the first match in `buffer`, or npos. `buffer` must only have grown since the
  /// last call.
  std::size_t find(std::string_view buffer);
  const std::string& pattern() const noexcept { return pattern_; }

 private:
  std::string pattern_;
  std::size_t from_ = 0;
};

/// Anonymous memory for a response: grows by remapping (no zero-filling, no copying), and gives
/// its pages back while its contents are moved out, so a 20 MiB output peaks at about 20 MiB of
/// driver memory instead of twice that.
class PageBuffer {
 public:
  PageBuffer() = default;
  ~PageBuffer() { release(); }
  PageBuffer(PageBuffer&& other) noexcept;
  PageBuffer& operator=(PageBuffer&& other) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  char* data() const noexcept { return data_; }
  std::size_t capacity() const noexcept { return capacity_; }
  /// Grows to at least `n` bytes (whole pages), keeping the contents. Throws: std::bad_alloc.
  void grow(std::size_t n);
  /// Returns the first `n` bytes as a string and releases the buffer; each megabyte's pages go
  /// back to the system as soon as they are copied.
  std::string drain(std::size_t n);
  void release() noexcept;

 private:
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
};

/// Collects one command's response from raw chunks: the output, then "<nonce> <status>\n".
/// Also notices the session's closed sentinel.
class Response {
 public:
  enum class State { reading, done, closed, malformed };

  Response(const Nonce& nonce, const Nonce& session);

  /// A writable region of at least `min` bytes at the end of the buffer.
  char* prepare(std::size_t min);
  std::size_t capacity_left() const noexcept { return buffer_.capacity() - size_; }
  /// Accounts `n` bytes written into the region from prepare(); returns the new state.
  State commit(std::size_t n);
  /// Feeds bytes that were read earlier (e.g. left over from the previous command).
  State feed(std::string_view bytes);

  State state() const noexcept { return state_; }
  int status() const noexcept { return status_; }
  /// Whether processes the command started in the background outlived it (a `+` after the
  /// status; only for commands that starts_background_jobs()).
  bool strays() const noexcept { return strays_; }
  std::size_t bytes() const noexcept { return size_; }
  /// The output (valid once done); moves it out.
  std::string take_output();
  /// Bytes that came after the end marker (a background job writing late).
  std::string_view leftover() const;
  /// Bytes around a malformed end marker, for the error message.
  std::string_view received_tail() const;

 private:
  void scan();
  PageBuffer buffer_;
  std::size_t size_ = 0;
  StreamSearch marker_;
  StreamSearch closed_;
  std::size_t marker_at_ = std::string::npos;
  std::size_t end_ = 0;
  State state_ = State::reading;
  int status_ = -1;
  bool strays_ = false;
};

/// Waits for the banner in a stream, across read boundaries.
class BannerSearch {
 public:
  /// Adds bytes; returns true once the banner has been seen. Bytes after the banner's line are
  /// kept in after().
  bool feed(std::string_view bytes);
  std::string_view after() const;
  /// The bytes seen so far (bounded), for an error message.
  std::string_view seen() const noexcept { return buffer_; }

 private:
  std::string buffer_;
  StreamSearch search_{std::string(banner)};
  std::size_t after_ = std::string::npos;
};

}  // namespace attest::shell
