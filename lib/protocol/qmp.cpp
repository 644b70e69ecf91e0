// QMP client. Replies are routed by id (qmp-spec §2.4: "id" is echoed); anything without an id
// that carries "event" goes to the event queue; an unknown id is logged and dropped.
#include "protocol/qmp.hpp"

#include <fmt/format.h>

#include "attest/machine.hpp"
#include "core/log.hpp"

namespace attest::qmp {

void MessageReader::feed(std::string_view bytes) { buffer_.append(bytes); }

std::optional<json> MessageReader::next() {
  for (;;) {
    const auto nl = buffer_.find('\n', scanned_);
    if (nl == std::string::npos) {
      scanned_ = buffer_.size();
      return std::nullopt;
    }
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    scanned_ = 0;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    json msg = json::parse(line, nullptr, false);
    if (msg.is_discarded() || !msg.is_object())
      throw QmpError(fmt::format("QEMU sent a line that is not a JSON object: {}",
                                 detail::excerpt(line, 200)));
    return msg;
  }
}

std::string encode_command(std::string_view command, const json& arguments, std::uint64_t id) {
  json msg = {{"execute", command}, {"id", id}};
  if (!arguments.is_null()) msg["arguments"] = arguments;
  return msg.dump() + "\n";
}

struct Client::Pending {
  explicit Pending(const asio::any_io_executor& ex) : done(ex) {}
  std::optional<json> reply;
  std::string failure;
  detail::Event done;
};

Client::Client(const asio::any_io_executor& ex)
    : socket_(ex), event_timer_(ex, Deadline::max()), alive_(std::make_shared<bool>(true)) {}

Client::~Client() {
  *alive_ = false;
  close();
}

void Client::close() noexcept {
  error_code ec;
  socket_.close(ec);
  connected_ = false;
}

awaitable<json> Client::read_one() {
  std::string buf(8192, '\0');
  for (;;) {
    if (auto msg = reader_.next()) co_return std::move(*msg);
    auto [ec, n] =
        co_await socket_.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
    if (ec) throw QmpError(fmt::format("QMP connection closed: {}", ec.message()));
    reader_.feed(std::string_view(buf.data(), n));
  }
}

awaitable<void> Client::connect(const std::string& path) {
  co_await socket_.async_connect(asio::local::stream_protocol::endpoint(path), use_awaitable);
  greeting_ = co_await read_one();
  if (!greeting_.contains("QMP"))
    throw QmpError(fmt::format("QEMU did not greet with a QMP banner: {}", greeting_.dump()));
  co_await asio::async_write(socket_, asio::buffer(encode_command("qmp_capabilities", nullptr, 0)),
                             use_awaitable);
  for (;;) {
    json reply = co_await read_one();
    if (reply.contains("event")) {
      events_.push_back(std::move(reply));
      continue;
    }
    if (reply.contains("error")) {
      const auto& e = reply["error"];
      throw QmpError(fmt::format("qmp_capabilities failed: {}", e.value("desc", e.dump())),
                     e.value("class", ""));
    }
    break;
  }
  connected_ = true;
  asio::co_spawn(socket_.get_executor(), read_loop(alive_), asio::detached);
}

void Client::dispatch(json msg) {
  if (msg.contains("id") && msg["id"].is_number_unsigned()) {
    auto it = pending_.find(msg["id"].get<std::uint64_t>());
    if (it == pending_.end()) {
      detail::log_debug("", fmt::format("QMP reply for an unknown id dropped: {}", msg.dump()));
      return;
    }
    it->second->reply = std::move(msg);
    it->second->done.set();
    return;
  }
  if (msg.contains("event")) {
    if (on_event) on_event(msg);
    // Nobody may be taking them: keep the newest only.
    if (events_.size() >= max_queued_events) events_.pop_front();
    events_.push_back(std::move(msg));
    ++event_generation_;
    event_timer_.cancel();
    return;
  }
  detail::log_debug("", fmt::format("QMP message dropped: {}", msg.dump()));
}

void Client::fail_all(const std::string& why) {
  connected_ = false;
  closed_reason_ = why;
  for (auto& [id, p] : pending_) {
    p->failure = why;
    p->done.set();
  }
  ++event_generation_;
  event_timer_.cancel();
}

awaitable<void> Client::read_loop(std::shared_ptr<bool> alive) {
  std::string why = "QMP connection closed";
  try {
    for (;;) {
      json msg = co_await read_one();
      if (!*alive) co_return;
      dispatch(std::move(msg));
    }
  } catch (const QmpError& e) {
    why = e.what();
  } catch (const boost::system::system_error& e) {
    why = fmt::format("QMP connection closed: {}", e.code().message());
  }
  if (*alive) fail_all(why);
}

awaitable<json> Client::execute(std::string command, json arguments) {
  if (!connected_)
    throw QmpError(fmt::format("cannot send QMP command '{}': {}", command,
                               closed_reason_.empty() ? "not connected" : closed_reason_));
  const auto id = next_id_++;
  Pending pending(socket_.get_executor());
  pending_[id] = &pending;
  struct Unregister {
    std::map<std::uint64_t, Pending*>& map;
    std::uint64_t id;
    ~Unregister() { map.erase(id); }
  } unregister{pending_, id};
  const std::string text = encode_command(command, arguments, id);
  auto [write_ec, written] =
      co_await asio::async_write(socket_, asio::buffer(text), asio::as_tuple(use_awaitable));
  (void)written;
  if (write_ec)
    // QEMU has gone (EPIPE): a QmpError like every other failure of the connection.
    throw QmpError(fmt::format("cannot send QMP command '{}': the connection is closed ({})",
                               command, write_ec.message()));
  co_await pending.done.wait();
  if (!pending.reply)
    throw QmpError(fmt::format("QMP command '{}' got no reply: {}", command, pending.failure));
  const json& reply = *pending.reply;
  if (reply.contains("error")) {
    const auto& e = reply["error"];
    throw QmpError(fmt::format("QMP command '{}' failed: {}: {}", command, e.value("class", "?"),
                               e.value("desc", e.dump())),
                   e.value("class", ""));
  }
  co_return reply.contains("return") ? reply["return"] : json::object();
}

awaitable<void> Client::wait_event() {
  const auto generation = event_generation_;
  while (connected_ && generation == event_generation_) {
    auto [ec] = co_await event_timer_.async_wait(asio::as_tuple(use_awaitable));
    (void)ec;
  }
}

attest::QmpEvent to_public_event(const json& event) {
  QmpEvent e;
  e.event = event.value("event", "");
  e.data = event.contains("data") ? event["data"].dump() : std::string("{}");
  if (event.contains("timestamp") && event["timestamp"].is_object()) {
    const auto& ts = event["timestamp"];
    const auto us = std::chrono::seconds(ts.value("seconds", std::int64_t{0})) +
                    std::chrono::microseconds(ts.value("microseconds", std::int64_t{0}));
    e.timestamp = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(us));
  }
  return e;
}

}  // namespace attest::qmp
