// The shell protocol's bytes: what is sent per command and how a response is found in the stream
// (see framing.hpp for the design). Nothing here does I/O.
#include "shell/framing.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <new>
#include <utility>

#include "attest/machine.hpp"

namespace attest::shell {

Nonce make_nonce(std::mt19937_64& rng) {
  const auto a = rng();
  const auto b = rng();
  // 48 bits per half, 12 hex digits each.
  return Nonce{fmt::format("{:012x}", a >> 16), fmt::format("{:012x}", b >> 16)};
}

std::string end_marker(const Nonce& nonce) { return nonce.joined() + ' '; }

std::string closed_sentinel(const Nonce& session) { return session.joined() + " closed\n"; }

std::string setup_script(const Nonce& session, const Nonce& route, const Nonce& sync) {
  // 1. Find the data port by name through sysfs with builtins only (no udev links needed).
  // 2. fd 8 becomes the output path; the route goes to the console (still fd 1). The shell keeps
  //    fd 8 (every command closes it: `8>&-` in command_line) to start a new copier later.
  // 3. __attest_copier starts a coproc (not process substitution, which needs /dev/fd) that copies
  //    the shell's stdout to fd 8 and prints the closed sentinel when every writer is gone. It
  //    ignores SIGHUP: the backdoor shell may lead the session of the console tty, and its death
  //    must not take the copier down before the sentinel is out. Its `cat` runs as a job of the
  //    coproc's subshell, which reports the cat's pid to the shell: __attest_rotate kills that
  //    cat (SIGKILL: systemd starts services with SIGPIPE ignored, and an ignored signal stays
  //    ignored; the `wait` that sees it die says nothing on the console), the subshell then
  //    copies the rest of the old pipe to the console instead (background processes of earlier
  //    commands still writing there never get SIGPIPE), and a new copier takes the shell's
  //    stdout. See rotate_line().
  // 4. The shell's own stdout becomes the copier's pipe; stdin /dev/null, so commands see only
  //    0, 1 and 2, as under NixOS.
  return fmt::format(
      "__attest_data=none; for __attest_f in /sys/class/virtio-ports/*/name; do "
      "read -r __attest_n 2>/dev/null <\"$__attest_f\" || continue; "
      "[ \"$__attest_n\" = {port} ] || continue; __attest_f=${{__attest_f%/name}}; "
      "__attest_data=/dev/${{__attest_f##*/}}; done; "
      "exec 8>&1; {{ [ \"$__attest_data\" != none ] && [ -w \"$__attest_data\" ] && "
      "exec 8>\"$__attest_data\"; }} || __attest_data=none; "
      "echo {r1}''{r2} \"$__attest_data\"; unset __attest_f __attest_n __attest_data; "
      "__attest_copier() {{ coproc __attest_out {{ trap '' HUP; cat <&0 >&8 8>&- & echo $!; "
      "wait $! 2>&-; if [ $? -lt 128 ]; then echo {s1}''{s2} closed >&8; "
      "else exec cat >&2 8>&-; fi; }}; read -r __attest_cat <&\"${{__attest_out[0]}}\"; "
      "exec 1>&\"${{__attest_out[1]}}\" {{__attest_out[0]}}<&- {{__attest_out[1]}}>&-; }}; "
      "__attest_rotate() {{ kill -KILL \"$__attest_cat\" 2>&-; __attest_copier; }}; "
      "__attest_copier; exec 0</dev/null; set -u -o pipefail; echo {y1}''{y2} 0\n",
      fmt::arg("port", data_port_name), fmt::arg("r1", route.first), fmt::arg("r2", route.second),
      fmt::arg("s1", session.first), fmt::arg("s2", session.second), fmt::arg("y1", sync.first),
      fmt::arg("y2", sync.second));
}

std::string rotate_line(const Nonce& sync) {
  return fmt::format("__attest_rotate; echo {}''{} 0\n", sync.first, sync.second);
}

RouteSearch::RouteSearch(const Nonce& route) : pattern_(route.joined() + ' ') {}

bool RouteSearch::feed(std::string_view bytes) {
  buffer_.append(bytes);
  if (end_ != std::string::npos) return true;
  const auto p = buffer_.find(pattern_);
  if (p == std::string::npos) return false;
  const auto nl = buffer_.find('\n', p);
  if (nl == std::string::npos) return false;
  device_ = buffer_.substr(p + pattern_.size(), nl - p - pattern_.size());
  end_ = nl + 1;
  return true;
}

std::string_view RouteSearch::after() const {
  if (end_ == std::string::npos || end_ >= buffer_.size()) return {};
  return std::string_view(buffer_).substr(end_);
}

namespace {

std::string seconds_text(std::chrono::milliseconds t) {
  const auto ms = std::max<long long>(t.count(), 1);
  if (ms % 1000 == 0) return fmt::format("{}", ms / 1000);
  return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

}  // namespace

bool starts_background_jobs(std::string_view command) {
  if (command.find("coproc") != std::string_view::npos) return true;
  // `&` as an operator; the redirections and lists that spell `&` otherwise do not count.
  for (std::size_t i = 0; i < command.size(); ++i) {
    if (command[i] != '&') continue;
    const char before = i > 0 ? command[i - 1] : ' ';
    const char after = i + 1 < command.size() ? command[i + 1] : ' ';
    if (after == '&') {  // `&&`
      ++i;
      continue;
    }
    if (before == '>' || before == '<' || before == '|' || after == '>') continue;
    return true;
  }
  return false;
}

std::string command_line(std::string_view command, const Nonce& nonce,
                         std::optional<std::chrono::milliseconds> guest_timeout) {
  std::string job;
  if (guest_timeout) {
    // A fresh bash does not inherit -u and pipefail, so set all of NixOS's options here.
    std::string script = "set -euo pipefail; ";
    script += command;
    job = fmt::format("timeout -k 5 {} bash -c {} 8>&-", seconds_text(*guest_timeout),
                      shell_quote(script));
  } else {
    // The subshell inherits -u and pipefail from the session (setup_script); -e is set for every
    // command, whatever its text: a simple `source FILE` must stop at the file's first failure
    // too.
    job = fmt::format("( set -e; eval {} ) 8>&-", shell_quote(command));
  }
  if (!starts_background_jobs(command))
    return fmt::format("{}; echo {}''{} $?\n", job, nonce.first, nonce.second);
  // The job gets a process group of its own (job control on for its fork only), which its
  // background processes share: still alive after it, they mark the status with `+`.
  return fmt::format(
      "set -m; {} & set +m; wait $!; __attest_s=$?; kill -0 -- -$! 2>&- && "
      "__attest_s=$__attest_s+; disown $! 2>&-; echo {}''{} $__attest_s\n",
      job, nonce.first, nonce.second);
}

std::size_t StreamSearch::find(std::string_view buffer) {
  const auto n = pattern_.size();
  const std::size_t start = from_ >= n ? from_ - (n - 1) : 0;
  const auto p = buffer.find(pattern_, start);
  from_ = buffer.size();
  return p;
}

Response::Response(const Nonce& nonce, const Nonce& session)
    : marker_(end_marker(nonce)), closed_(closed_sentinel(session)) {}

PageBuffer::PageBuffer(PageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), capacity_(std::exchange(other.capacity_, 0)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void PageBuffer::grow(std::size_t n) {
  if (n <= capacity_) return;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t want = (std::max(n, capacity_ * 2) + page - 1) / page * page;
  void* p = data_ == nullptr
                ? ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                : ::mremap(data_, capacity_, want, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<char*>(p);
  capacity_ = want;
}

std::string PageBuffer::drain(std::size_t n) {
  constexpr std::size_t piece = 1 << 20;  // a multiple of the page size
  std::string out;
  out.reserve(n);  // allocated, not touched: only the copied pieces become resident
  for (std::size_t at = 0; at < n; at += piece) {
    const std::size_t len = std::min(piece, n - at);
    out.append(data_ + at, len);
    if (len == piece) ::madvise(data_ + at, piece, MADV_DONTNEED);
  }
  release();
  return out;
}

void PageBuffer::release() noexcept {
  if (data_ != nullptr) ::munmap(data_, capacity_);
  data_ = nullptr;
  capacity_ = 0;
}

char* Response::prepare(std::size_t min) {
  if (buffer_.capacity() - size_ < min) buffer_.grow(size_ + min);
  return buffer_.data() + size_;
}

Response::State Response::commit(std::size_t n) {
  size_ += n;
  scan();
  return state_;
}

Response::State Response::feed(std::string_view bytes) {
  if (bytes.empty()) return state_;
  std::copy(bytes.begin(), bytes.end(), prepare(bytes.size()));
  return commit(bytes.size());
}

void Response::scan() {
  if (state_ != State::reading) return;
  const std::string_view view(buffer_.data(), size_);
  if (marker_at_ == std::string::npos) {
    marker_at_ = marker_.find(view);
    // The first of the two wins, however the reads split the stream: a sentinel before the marker
    // means the shell died first, even when both arrive in one read.
    const auto closed_at = closed_.find(view);
    if (closed_at != std::string::npos && closed_at < marker_at_) {
      state_ = State::closed;
      return;
    }
    if (marker_at_ == std::string::npos) return;
  }
  // `echo $?` prints 0..255: one to three digits, then (background processes of the command
  // still alive) a `+`, then a line end. A fifth byte without a line end is malformed as soon as
  // it arrives, so the outcome never depends on the read boundaries.
  constexpr std::size_t max_text = 4;
  const std::size_t digits = marker_at_ + marker_.pattern().size();
  const auto nl = view.find('\n', digits);
  if (nl == std::string_view::npos) {
    if (size_ - digits > max_text) state_ = State::malformed;
    return;
  }
  const bool plus = nl > digits && view[nl - 1] == '+';
  unsigned status = 0;
  const auto* first = view.data() + digits;
  const auto* last = view.data() + nl - (plus ? 1 : 0);
  auto [ptr, ec] = std::from_chars(first, last, status);
  if (ec != std::errc() || ptr != last || first == last || last - first > 3 || status > 255) {
    state_ = State::malformed;
    return;
  }
  strays_ = plus;
  status_ = static_cast<int>(status);
  end_ = nl + 1;
  state_ = State::done;
}

std::string Response::take_output() {
  std::string out = buffer_.drain(std::min(marker_at_, size_));
  size_ = 0;
  return out;
}

std::string_view Response::leftover() const {
  if (state_ != State::done || end_ >= size_) return {};
  return std::string_view(buffer_.data() + end_, size_ - end_);
}

std::string_view Response::received_tail() const {
  const std::size_t from = size_ > 200 ? size_ - 200 : 0;
  return std::string_view(buffer_.data() + from, size_ - from);
}

bool BannerSearch::feed(std::string_view bytes) {
  buffer_.append(bytes);
  if (after_ != std::string::npos) return true;
  const auto p = search_.find(buffer_);
  if (p == std::string::npos) return false;
  const auto nl = buffer_.find('\n', p + banner.size());
  after_ = nl == std::string::npos ? p + banner.size() : nl + 1;
  return true;
}

std::string_view BannerSearch::after() const {
  if (after_ == std::string::npos || after_ >= buffer_.size()) return {};
  return std::string_view(buffer_).substr(after_);
}

}  // namespace attest::shell
