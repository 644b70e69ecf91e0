// Internal: a QMP client (QEMU Machine Protocol, docs/interop/qmp-spec). Greeting, capability
// negotiation, commands matched to replies by id, events queued apart from replies, every
// pending command failed when the connection drops (as QEMU's own python/qemu/qmp does).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/async.hpp"

namespace attest {
struct QmpEvent;
}  // namespace attest

namespace attest::qmp {

using json = nlohmann::json;

/// A failed QMP exchange. `error_class` is QEMU's class (e.g. "GenericError") when QEMU answered
/// with an error; empty for connection and framing problems.
class QmpError : public std::runtime_error {
 public:
  QmpError(const std::string& message, std::string error_class = {})
      : std::runtime_error(message), error_class_(std::move(error_class)) {}
  const std::string& error_class() const noexcept { return error_class_; }

 private:
  std::string error_class_;
};

/// Splits a QMP byte stream into JSON messages (one per line; QEMU ends them with "\r\n").
class MessageReader {
 public:
  /// Adds bytes; complete messages can then be taken with next().
  void feed(std::string_view bytes);
  /// The next complete message. Throws: QmpError on a line that is not a JSON object.
  std::optional<json> next();

 private:
  std::string buffer_;
  std::size_t scanned_ = 0;
};

/// A QMP event as the public attest::QmpEvent (QMP spec §2.3: event, data, timestamp).
attest::QmpEvent to_public_event(const json& event);

/// The command text for `execute` with `id` (arguments omitted when null).
std::string encode_command(std::string_view command, const json& arguments, std::uint64_t id);

class Client {
 public:
  explicit Client(const asio::any_io_executor& ex);
  ~Client();

  /// Connects to a unix socket, reads the greeting and negotiates capabilities.
  /// Throws: QmpError, boost::system::system_error (connect).
  awaitable<void> connect(const std::string& path);
  /// Runs a command and returns its "return" value. Throws: QmpError.
  awaitable<json> execute(std::string command, json arguments = nullptr);
  /// Called on the I/O thread for every event as it arrives (before it is queued).
  std::function<void(const json&)> on_event;
  /// How many unconsumed events are kept.
  static constexpr std::size_t max_queued_events = 1024;
  /// Events received so far and not yet taken (the newest max_queued_events).
  std::deque<json>& events() noexcept { return events_; }
  /// Completes when an event arrives (or the connection closes).
  awaitable<void> wait_event();
  const json& greeting() const noexcept { return greeting_; }
  bool connected() const noexcept { return connected_; }
  void close() noexcept;

 private:
  struct Pending;
  awaitable<void> read_loop(std::shared_ptr<bool> alive);
  awaitable<json> read_one();
  void dispatch(json message);
  void fail_all(const std::string& why);

  asio::local::stream_protocol::socket socket_;
  MessageReader reader_;
  json greeting_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Pending*> pending_;
  std::deque<json> events_;
  asio::steady_timer event_timer_;
  std::uint64_t event_generation_ = 0;
  bool connected_ = false;
  std::string closed_reason_;
  std::shared_ptr<bool> alive_;
};

}  // namespace attest::qmp
