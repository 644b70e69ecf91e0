// The host half of the backdoor shell: banner, setup, one round trip per command, and resync
// after an abandoned command. Runs on the Driver's I/O thread only.
#include "shell/shell.hpp"

#include <fmt/format.h>

#include "core/log.hpp"

namespace attest::shell {

struct Shell::Inflight {
  Inflight(std::string cmd, std::string text, const Nonce& nonce, const Nonce& session)
      : command(std::move(cmd)), line(std::move(text)), response(nonce, session) {}
  std::string command;
  std::string line;
  std::size_t written = 0;
  Response response;
  bool unread = false;  ///< sent without reading its output (check_output=false), not abandoned
  /// How the log names it.
  std::string describe() const {
    const auto shown = detail::excerpt(command, 80);
    return unread ? fmt::format("command `{}` (sent without reading its output)", shown)
                  : fmt::format("abandoned command `{}`", shown);
  }
};

namespace {
constexpr std::size_t read_chunk = std::size_t{64} * 1024;
}

Shell::Shell(Channel channel, std::string machine)
    : control_(std::move(channel.control)),
      data_(std::move(channel.data)),
      output_(control_.get()),
      machine_(std::move(machine)),
      rng_(std::random_device{}()) {
  session_ = make_nonce(rng_);
}

Shell::~Shell() = default;

const std::string& Shell::busy_command() const {
  static const std::string none;
  return inflight_ ? inflight_->command : none;
}

void Shell::reset() {
  inflight_.reset();
  ready_ = false;
  rotate_ = false;
  output_ = control_.get();
  // A new session, so the old shell's last words (its closed sentinel) mean nothing now. After a
  // reboot they never come (the reset ended every guest process), but after a switch of root the
  // old shell's copier may outlive the old shell, and write them on the same connection while the
  // new shell runs: they are dropped (drop_retired).
  retired_sentinel_ = closed_sentinel(session_);
  session_ = make_nonce(rng_);
}

Session Shell::session() const { return Session{session_, output_ == data_.get()}; }

awaitable<void> Shell::resume(Session session) {
  inflight_.reset();
  rotate_ = false;
  session_ = session.id;
  if (session.data_port && !data_)
    throw ChannelError(ChannelError::Kind::malformed,
                       "the restored guest writes output to a data port the VMM does not offer");
  output_ = session.data_port ? data_.get() : control_.get();
  const Nonce sync = make_nonce(rng_);
  inflight_ = std::make_unique<Inflight>("(attest shell resync)", command_line(":", sync, {}), sync,
                                         session_);
  co_await write_rest(*inflight_);
  co_await read_until_end(*inflight_);
  inflight_.reset();
  ready_ = true;
}

void Shell::close() noexcept {
  closed_ = true;
  error_code ec;
  for (Socket* s : {control_.get(), data_.get()}) {
    if (s == nullptr) continue;
    s->shutdown(Socket::shutdown_both, ec);
    s->close(ec);
  }
}

void Shell::aborted(const error_code& ec) const {
  // close() cancels what is pending: the connection is gone, which the caller must learn as
  // such (not as a cancellation, which is how a race's loser ends).
  if (closed_)
    throw ChannelError(ChannelError::Kind::eof, "the shell connection was closed (the VMM ended)");
  throw boost::system::system_error(ec);
}

template <class Done>
awaitable<void> Shell::read_until(Socket& socket, Done done, std::string_view waiting_for) {
  std::string chunk(4096, '\0');
  for (;;) {
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(chunk), asio::as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) aborted(ec);
    if (ec == asio::error::eof)
      throw ChannelError(ChannelError::Kind::eof,
                         fmt::format("the shell connection closed before {} arrived", waiting_for));
    if (ec)
      throw ChannelError(ChannelError::Kind::io,
                         fmt::format("reading from the shell failed: {}", ec.message()));
    if (done(std::string_view(chunk.data(), n))) co_return;
  }
}

awaitable<void> Shell::handshake() {
  BannerSearch banner_search;
  auto feed_banner = [&banner_search](std::string_view bytes) { return banner_search.feed(bytes); };
  co_await read_until(*control_, feed_banner, "the backdoor banner");
  banner_seen_ = std::chrono::steady_clock::now();
  const Nonce route = make_nonce(rng_);
  const Nonce sync = make_nonce(rng_);
  std::string setup = setup_script(session_, route, sync);
  co_await asio::async_write(*control_, asio::buffer(setup), use_awaitable);
  RouteSearch route_search(route);
  auto feed_route = [&route_search](std::string_view bytes) { return route_search.feed(bytes); };
  if (!route_search.feed(banner_search.after()))
    co_await read_until(*control_, feed_route, "the shell's setup report");
  if (route_search.device() != "none") {
    if (!data_)
      throw ChannelError(
          ChannelError::Kind::malformed,
          fmt::format("the guest routed output to {}, but the VMM offers no data port",
                      route_search.device()));
    output_ = data_.get();
  }
  detail::log_debug(machine_,
                    fmt::format("command output travels over {}", route_search.device() == "none"
                                                                      ? std::string("the console")
                                                                      : route_search.device()));
  // The sync marker comes through the copier, on the chosen path.
  inflight_ = std::make_unique<Inflight>("(attest shell setup)", std::string(), sync, session_);
  if (output_ == control_.get()) inflight_->response.feed(route_search.after());
  co_await read_until_end(*inflight_);
  inflight_.reset();
  ready_ = true;
}

awaitable<void> Shell::write_rest(Inflight& f) {
  while (f.written < f.line.size()) {
    auto buf = asio::buffer(f.line.data() + f.written, f.line.size() - f.written);
    auto [ec, n] = co_await control_->async_write_some(buf, asio::as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) aborted(ec);
      throw ChannelError(ChannelError::Kind::eof,
                         fmt::format("writing to the shell failed: {}", ec.message()));
    }
    f.written += n;
  }
}

awaitable<void> Shell::read_until_end(Inflight& f) {
  auto& r = f.response;
  while (r.state() == Response::State::reading) {
    char* region = r.prepare(read_chunk);
    auto [ec, n] = co_await output_->async_read_some(asio::buffer(region, r.capacity_left()),
                                                     asio::as_tuple(use_awaitable));
    if (ec == asio::error::eof)
      throw ChannelError(ChannelError::Kind::eof, "the shell connection closed");
    if (ec) {
      if (ec == asio::error::operation_aborted) aborted(ec);
      throw ChannelError(ChannelError::Kind::io,
                         fmt::format("reading from the shell failed: {}", ec.message()));
    }
    r.commit(n);
  }
  if (r.state() == Response::State::closed)
    throw ChannelError(ChannelError::Kind::shell_exited,
                       "the guest's backdoor shell exited (its output pipe closed)");
  if (r.state() == Response::State::malformed)
    throw ChannelError(ChannelError::Kind::malformed,
                       fmt::format("malformed end of command output: …{}",
                                   detail::excerpt(r.received_tail(), 200)));
}

void Shell::drop_retired(std::string& bytes) const {
  if (retired_sentinel_.empty()) return;
  const auto at = bytes.find(retired_sentinel_);
  if (at == std::string::npos) return;
  bytes.erase(at, retired_sentinel_.size());
  detail::log_debug(machine_, "the earlier guest shell's closed sentinel arrived late; dropped");
}

void Shell::warn_stray(std::string_view bytes, std::string_view why) const {
  detail::log_warning(machine_, fmt::format("{} bytes of output arrived {} (a background process "
                                            "still writing to the stdout it inherited?): {}",
                                            bytes.size(), why, detail::excerpt(bytes, 160)));
}

void Shell::report_stray(std::string_view bytes, std::string_view why) {
  if (bytes.empty()) return;
  warn_stray(bytes, why);
  // Whoever wrote them may write again while the next command runs.
  rotate_ = true;
}

void Shell::note_strays(const Inflight& f) {
  if (!f.response.strays()) return;
  detail::log_debug(machine_, fmt::format("background processes of `{}` outlived it",
                                          detail::excerpt(f.command, 80)));
  rotate_ = true;
}

awaitable<void> Shell::rotate_output() {
  if (!rotate_) co_return;
  rotate_ = false;
  detail::log_info(machine_,
                   "a background process of an earlier command may still write to the stdout it "
                   "inherited: what it writes goes to the console log from now on, and commands "
                   "get a new output pipe");
  const Nonce sync = make_nonce(rng_);
  inflight_ =
      std::make_unique<Inflight>("(attest output rotation)", rotate_line(sync), sync, session_);
  co_await write_rest(*inflight_);
  co_await read_until_end(*inflight_);
  // What arrived first came through the old copier before it stopped.
  auto early = inflight_->response.take_output();
  drop_retired(early);
  inflight_.reset();
  // Their writer now writes to the console: no further rotation for them.
  if (!early.empty()) warn_stray(early, "between commands");
}

awaitable<void> Shell::finish_abandoned() {
  if (!inflight_) co_return;
  detail::log_info(machine_, fmt::format("waiting for the {} to end before the next one",
                                         inflight_->describe()));
  co_await write_rest(*inflight_);
  co_await read_until_end(*inflight_);
  auto& r = inflight_->response;
  detail::log_info(machine_,
                   fmt::format("{} ended with status {}; its {} bytes of output were discarded",
                               inflight_->describe(), r.status(), r.bytes()));
  note_strays(*inflight_);
  std::string leftover(r.leftover());
  drop_retired(leftover);
  report_stray(leftover, inflight_->unread ? "after the unread command ended"
                                           : "after the abandoned command ended");
  inflight_.reset();
}

awaitable<void> Shell::drain_stray() {
  error_code ec;
  std::size_t avail = output_->available(ec);
  if (ec || avail == 0) co_return;
  std::string stray(avail, '\0');
  auto [rec, n] =
      co_await output_->async_read_some(asio::buffer(stray), asio::as_tuple(use_awaitable));
  if (rec) co_return;  // the next read reports it
  stray.resize(n);
  if (stray.find(closed_sentinel(session_)) != std::string::npos)
    throw ChannelError(ChannelError::Kind::shell_exited,
                       "the guest's backdoor shell exited (its output pipe closed)");
  drop_retired(stray);
  report_stray(stray, "between commands");
}

awaitable<Result> Shell::run(std::string command,
                             std::optional<std::chrono::milliseconds> guest_timeout,
                             bool read_output) {
  co_await finish_abandoned();
  co_await drain_stray();
  co_await rotate_output();
  const Nonce nonce = make_nonce(rng_);
  std::string line = command_line(command, nonce, guest_timeout);
  inflight_ = std::make_unique<Inflight>(std::move(command), std::move(line), nonce, session_);
  inflight_->unread = !read_output;
  co_await write_rest(*inflight_);
  // Its end is read, and its output discarded, before the next command (finish_abandoned).
  if (!read_output) co_return Result{-2, {}};
  co_await read_until_end(*inflight_);
  auto& r = inflight_->response;
  note_strays(*inflight_);
  std::string leftover(r.leftover());
  drop_retired(leftover);
  report_stray(leftover, "after the command's end");
  Result result{r.status(), r.take_output()};
  drop_retired(result.output);
  inflight_.reset();
  co_return result;
}

awaitable<std::size_t> Shell::raw_exchange(std::string line, std::string terminator) {
  co_await send_line(std::move(line));
  std::string chunk(std::size_t{256} * 1024, '\0');
  std::string tail;
  std::size_t total = 0;
  for (;;) {
    auto [ec, n] =
        co_await output_->async_read_some(asio::buffer(chunk), asio::as_tuple(use_awaitable));
    if (ec) throw ChannelError(ChannelError::Kind::eof, "the shell connection closed");
    total += n;
    tail.append(chunk.data(), n);
    if (tail.size() > terminator.size()) tail.erase(0, tail.size() - terminator.size());
    if (tail == terminator) co_return total;
  }
}

awaitable<void> Shell::send_line(std::string line) {
  co_await finish_abandoned();
  co_await drain_stray();
  co_await rotate_output();
  auto [write_ec, written] =
      co_await asio::async_write(*control_, asio::buffer(line), asio::as_tuple(use_awaitable));
  (void)written;
  if (write_ec)
    throw ChannelError(ChannelError::Kind::eof,
                       fmt::format("the shell connection closed ({})", write_ec.message()));
}

}  // namespace attest::shell
