// Shared machinery of the Firecracker and cloud-hypervisor doubles: micro-http's wire dialect,
// schema checks with serde_json's wording, QEMU supervision over QMP, and the hybrid vsock
// emulation. Single-threaded: everything runs on the one io_context of the double.
#include "double_core.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include "protocol/qmp.hpp"

namespace attest::doubles {

namespace beast = boost::beast;
namespace http = beast::http;
using local_socket = asio::local::stream_protocol::socket;
using tcp = asio::ip::tcp;

// =============================================================================================
// Process-wide state.

namespace {
pid_t child_to_kill = 0;
}  // namespace

void set_child_to_kill(pid_t pid) { child_to_kill = pid; }

void exit_process(int code) {
  if (child_to_kill > 0) {
    ::kill(child_to_kill, SIGKILL);
    ::waitpid(child_to_kill, nullptr, 0);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(code);
}

void die_with_parent() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Writing to a closed console pipe must not kill the double silently.
  ::signal(SIGPIPE, SIG_IGN);
}

// =============================================================================================
// Log.

Log& Log::get() {
  static Log log;
  return log;
}

void Log::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), path);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void Log::write(Level level, std::string_view message) {
  if (level > level_ || level_ == Level::off) return;
  if (fd_ < 0 && level != Level::error) return;
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  ::gmtime_r(&ts.tv_sec, &tm);
  static constexpr const char* names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
  std::string line =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09} [{}{}] {}\n", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, prefix_,
                  show_level_ ? fmt::format(":{}", names[int(level)]) : "", message);
  const int fd = fd_ >= 0 ? fd_ : STDERR_FILENO;
  const auto ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
}

std::optional<Log::Level> parse_level(std::string_view name) {
  std::string n(name);
  for (auto& c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (n == "off") return Log::Level::off;
  if (n == "error") return Log::Level::error;
  if (n == "warning" || n == "warn") return Log::Level::warning;
  if (n == "info") return Log::Level::info;
  if (n == "debug") return Log::Level::debug;
  if (n == "trace") return Log::Level::trace;
  return std::nullopt;
}

// =============================================================================================
// JSON positions.

std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  if (offset >= text.size()) offset = text.empty() ? 0 : text.size() - 1;
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  return {line, offset - line_start + 1};
}

namespace {

std::size_t skip_ws(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

/// s[i] == '"'; returns the index just past the closing quote.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

/// Returns the index just past the value starting at (or after whitespace from) i.
std::size_t skip_value(std::string_view s, std::size_t i) {
  i = skip_ws(s, i);
  if (i >= s.size()) return s.size();
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    for (; i < s.size(); ++i) {
      if (s[i] == '"') {
        i = skip_string(s, i) - 1;
      } else if (s[i] == '{' || s[i] == '[') {
        ++depth;
      } else if (s[i] == '}' || s[i] == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return s.size();
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
         s[i] != '\r' && s[i] != '\t')
    ++i;
  return i;
}

struct Member {
  std::size_t key_end = std::string_view::npos;  // the key's closing quote
  std::size_t value = std::string_view::npos;    // first byte of the value
};

/// Finds member `key` of the object or the element "#n" of the array starting at `at`.
Member find_member(std::string_view s, std::size_t at, const std::string& key) {
  Member m;
  at = skip_ws(s, at);
  if (at >= s.size()) return m;
  if (s[at] == '[' && !key.empty() && key[0] == '#') {
    const std::size_t want = std::stoul(key.substr(1));
    std::size_t i = at + 1;
    for (std::size_t n = 0; i < s.size(); ++n) {
      i = skip_ws(s, i);
      if (n == want) {
        m.value = i;
        m.key_end = i;
        return m;
      }
      i = skip_ws(s, skip_value(s, i));
      if (i >= s.size() || s[i] != ',') return m;
      ++i;
    }
    return m;
  }
  if (s[at] != '{') return m;
  std::size_t i = at + 1;
  while (i < s.size()) {
    i = skip_ws(s, i);
    if (i >= s.size() || s[i] != '"') return m;
    const std::size_t end = skip_string(s, i);
    const std::string_view name = s.substr(i + 1, end - i - 2);
    i = skip_ws(s, end);
    if (i < s.size() && s[i] == ':') ++i;
    const std::size_t value = skip_ws(s, i);
    if (name == key) {
      m.key_end = end - 1;
      m.value = value;
      return m;
    }
    i = skip_ws(s, skip_value(s, value));
    if (i >= s.size() || s[i] != ',') return m;
    ++i;
  }
  return m;
}

}  // namespace

std::size_t locate(std::string_view body, const std::vector<std::string>& path, Spot what) {
  const std::size_t fallback = body.empty() ? 0 : body.size() - 1;
  std::size_t at = skip_ws(body, 0);
  const std::size_t walk = what == Spot::object_end ? path.size() : path.size() - 1;
  for (std::size_t i = 0; i < walk && i < path.size(); ++i) {
    const Member m = find_member(body, at, path[i]);
    if (m.value == std::string_view::npos) return fallback;
    at = m.value;
  }
  if (what == Spot::object_end) {
    const std::size_t end = skip_value(body, at);
    return end == 0 ? 0 : end - 1;
  }
  if (path.empty()) return fallback;
  const Member m = find_member(body, at, path.back());
  if (m.value == std::string_view::npos) return fallback;
  if (what == Spot::key) return m.key_end;
  const std::size_t end = skip_value(body, m.value);
  return end == 0 ? 0 : end - 1;
}

std::string Violation::serde_text(std::string_view body) const {
  const auto [line, column] = line_column(body, offset);
  return fmt::format("{} at line {} column {}", message, line, column);
}

// =============================================================================================
// Schemas.

namespace {

std::string describe(const json& v) {
  if (v.is_string()) return fmt::format("string {}", v.dump());
  if (v.is_boolean()) return fmt::format("boolean `{}`", v.get<bool>() ? "true" : "false");
  if (v.is_number_float()) return fmt::format("floating point `{}`", v.dump());
  if (v.is_number()) return fmt::format("integer `{}`", v.dump());
  if (v.is_null()) return "null";
  if (v.is_object()) return "map";
  return "sequence";
}

std::string expected_list(const std::vector<std::string>& names, const char* none) {
  if (names.empty()) return none;
  if (names.size() == 1) return fmt::format("expected `{}`", names[0]);
  if (names.size() == 2) return fmt::format("expected `{}` or `{}`", names[0], names[1]);
  std::string out = "expected one of ";
  for (std::size_t i = 0; i < names.size(); ++i)
    out += fmt::format("{}`{}`", i ? ", " : "", names[i]);
  return out;
}

struct IntRange {
  bool is_signed;
  std::int64_t min;
  std::uint64_t max;
};

IntRange int_range(const std::string& format) {
  if (format == "u8") return {false, 0, 255};
  if (format == "u16") return {false, 0, 65535};
  if (format == "u32") return {false, 0, 4294967295ull};
  if (format == "i8" || format == "int8") return {true, -128, 127};
  if (format == "i16" || format == "int16") return {true, -32768, 32767};
  if (format == "i32" || format == "int32") return {true, INT32_MIN, INT32_MAX};
  if (format == "i64" || format == "int64") return {true, INT64_MIN, INT64_MAX};
  return {false, 0, UINT64_MAX};  // u64, usize
}

}  // namespace

SchemaSet::SchemaSet(std::string_view definitions_json, bool deny_unknown)
    : defs_(json::parse(definitions_json)), deny_unknown_(deny_unknown) {}

std::optional<Violation> SchemaSet::validate(const json& body, std::string_view raw,
                                             std::string_view name) const {
  std::vector<std::string> path;
  if (auto v = check_object(body, raw, std::string(name), path, false)) return v;
  path.clear();
  return check_object(body, raw, std::string(name), path, true);
}

std::optional<Violation> SchemaSet::check_object(const json& value, std::string_view raw,
                                                 const std::string& def,
                                                 std::vector<std::string>& path,
                                                 bool ranges) const {
  const json& d = defs_.at(def);
  if (!value.is_object()) {
    if (ranges) return std::nullopt;
    Violation v;
    v.kind = Violation::Kind::type;
    v.path = path;
    v.message = fmt::format("invalid type: {}, expected struct {}", describe(value),
                            d.value("x-rust", def));
    v.offset = path.empty() ? skip_value(raw, 0) - 1 : locate(raw, path, Spot::value);
    return v;
  }
  const json empty = json::object();
  const json& props = d.contains("properties") ? d.at("properties") : empty;
  const bool deny = d.value("additionalProperties", !deny_unknown_) == false;
  std::vector<std::string> required;
  if (d.contains("required")) required = d.at("required").get<std::vector<std::string>>();
  for (const auto& [key, member] : value.items()) {
    if (!props.contains(key)) {
      if (!deny || ranges) continue;
      std::vector<std::string> names;
      for (const auto& [n, p] : props.items()) {
        (void)p;
        names.push_back(n);
      }
      Violation v;
      v.kind = Violation::Kind::unknown_field;
      v.path = path;
      v.path.push_back(key);
      v.message =
          fmt::format("unknown field `{}`, {}", key, expected_list(names, "there are no fields"));
      v.offset = locate(raw, v.path, Spot::key);
      return v;
    }
    const bool is_required = std::find(required.begin(), required.end(), key) != required.end();
    if (member.is_null() && !is_required) continue;  // Option<T>: null is None
    path.push_back(key);
    auto v = check_value(member, raw, props.at(key), path, ranges);
    path.pop_back();
    if (v) return v;
  }
  if (!ranges) {
    for (const auto& r : required) {
      if (value.contains(r)) continue;
      Violation v;
      v.kind = Violation::Kind::missing_field;
      v.path = path;
      v.path.push_back(r);
      v.message = fmt::format("missing field `{}`", r);
      v.offset = locate(raw, path, Spot::object_end);
      return v;
    }
  }
  return std::nullopt;
}

std::optional<Violation> SchemaSet::check_value(const json& value, std::string_view raw,
                                                const json& prop, std::vector<std::string>& path,
                                                bool ranges) const {
  auto fail = [&](Violation::Kind kind, std::string message) {
    Violation v;
    v.kind = kind;
    v.path = path;
    v.message = std::move(message);
    v.offset = locate(raw, path, Spot::value);
    return std::optional<Violation>(std::move(v));
  };
  if (prop.contains("$ref")) return check_object(value, raw, prop.at("$ref"), path, ranges);
  const std::string type = prop.value("type", "");
  if (type == "string") {
    if (ranges) return std::nullopt;
    if (prop.contains("enum")) {
      const auto names = prop.at("enum").get<std::vector<std::string>>();
      if (!value.is_string())
        return fail(Violation::Kind::type,
                    fmt::format("invalid type: {}, expected variant identifier", describe(value)));
      const auto s = value.get<std::string>();
      if (std::find(names.begin(), names.end(), s) == names.end())
        return fail(Violation::Kind::value,
                    fmt::format("unknown variant `{}`, {}", s,
                                expected_list(names, "there are no variants")));
      return std::nullopt;
    }
    if (!value.is_string())
      return fail(Violation::Kind::type,
                  fmt::format("invalid type: {}, expected a string", describe(value)));
    return std::nullopt;
  }
  if (type == "boolean") {
    if (!ranges && !value.is_boolean())
      return fail(Violation::Kind::type,
                  fmt::format("invalid type: {}, expected a boolean", describe(value)));
    return std::nullopt;
  }
  if (type == "integer") {
    const std::string format = prop.value("format", "u64");
    const IntRange r = int_range(format);
    if (!ranges) {
      if (!value.is_number_integer())
        return fail(Violation::Kind::type,
                    fmt::format("invalid type: {}, expected {}", describe(value), format));
      bool ok;
      if (value.is_number_unsigned())
        ok = value.get<std::uint64_t>() <= r.max;
      else
        ok = r.is_signed && value.get<std::int64_t>() >= r.min;
      if (!ok)
        return fail(Violation::Kind::value,
                    fmt::format("invalid value: {}, expected {}", describe(value), format));
      return std::nullopt;
    }
    // Range pass: the VMM's own checks after deserialising.
    const bool neg =
        value.is_number_integer() && !value.is_number_unsigned() && value.get<std::int64_t>() < 0;
    if (prop.contains("minimum")) {
      const auto min = prop.at("minimum").get<std::int64_t>();
      if (neg ? value.get<std::int64_t>() < min
              : (min > 0 && value.get<std::uint64_t>() < std::uint64_t(min)))
        return fail(Violation::Kind::range, fmt::format("`{}` must be at least {}, got {}",
                                                        path.back(), min, value.dump()));
    }
    if (prop.contains("maximum")) {
      const auto max = prop.at("maximum").get<std::uint64_t>();
      if (!neg && value.get<std::uint64_t>() > max)
        return fail(Violation::Kind::range,
                    fmt::format("`{}` must be at most {}, got {}", path.back(), max, value.dump()));
    }
    return std::nullopt;
  }
  if (type == "array") {
    if (!value.is_array()) {
      if (ranges) return std::nullopt;
      return fail(Violation::Kind::type,
                  fmt::format("invalid type: {}, expected a sequence", describe(value)));
    }
    if (!prop.contains("items")) return std::nullopt;
    for (std::size_t i = 0; i < value.size(); ++i) {
      path.push_back(fmt::format("#{}", i));
      auto v = check_value(value[i], raw, prop.at("items"), path, ranges);
      path.pop_back();
      if (v) return v;
    }
    return std::nullopt;
  }
  if (type == "object") {
    if (!ranges && !value.is_object())
      return fail(Violation::Kind::type,
                  fmt::format("invalid type: {}, expected a map", describe(value)));
    return std::nullopt;
  }
  return std::nullopt;  // untyped: anything goes
}

std::optional<json> parse_body(std::string_view raw, Violation& violation) {
  auto parsed = json::parse(raw, nullptr, false);
  if (!parsed.is_discarded()) {
    // serde_json rejects a body with something after the value; nlohmann already does too.
    return parsed;
  }
  // Find where the text stops being JSON, for a serde-like message.
  std::size_t byte = raw.size();
  try {
    const auto ignored = json::parse(raw);
    (void)ignored;
  } catch (const json::parse_error& e) {
    byte = e.byte;
  }
  violation.kind = Violation::Kind::syntax;
  const std::size_t at = byte == 0 ? 0 : byte - 1;
  const bool at_end = byte >= raw.size() || skip_ws(raw, at) >= raw.size();
  const std::size_t first = skip_ws(raw, 0);
  if (at_end) {
    const char open = first < raw.size() ? raw[first] : ' ';
    violation.message = open == '{'   ? "EOF while parsing an object"
                        : open == '[' ? "EOF while parsing a list"
                        : open == '"' ? "EOF while parsing a string"
                                      : "EOF while parsing a value";
    violation.offset = raw.empty() ? 0 : raw.size() - 1;
  } else {
    const char c = raw[at];
    violation.message = (c == '}' || c == ']') ? "trailing comma" : "expected value";
    violation.offset = at;
  }
  return std::nullopt;
}

// =============================================================================================
// HTTP.

std::string render(const Response& r, std::string_view server) {
  std::string out =
      fmt::format("HTTP/1.1 {} \r\nServer: {}\r\nConnection: keep-alive\r\n", r.status, server);
  if (!r.allow.empty()) out += fmt::format("Allow: {}\r\n", r.allow);
  if (r.deprecation) out += "Deprecation: true\r\n";
  if (r.body) {
    out +=
        fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", r.body->size());
    out += *r.body;
  } else {
    out += "\r\n";
  }
  return out;
}

std::string parse_error_body(std::string_view reason) {
  return fmt::format("{{ \"error\": \"{}\nAll previous unanswered requests will be dropped.\" }}",
                     reason);
}

namespace {

/// micro-http's Uri::get_abs_path.
std::string abs_path(const std::string& uri) {
  constexpr std::string_view scheme = "http://";
  if (uri.rfind(scheme, 0) == 0) {
    const auto rest = uri.substr(scheme.size());
    const auto slash = rest.find('/');
    return slash == std::string::npos ? "" : rest.substr(slash);
  }
  return uri.rfind('/', 0) == 0 ? uri : "";
}

std::string parse_reason(const error_code& ec) {
  if (ec == http::error::bad_method) return "Invalid HTTP Method: Unsupported HTTP method.";
  if (ec == http::error::bad_version) return "Invalid HTTP Version: Unsupported HTTP version.";
  if (ec == http::error::bad_target) return "Invalid URI: Empty URI not allowed.";
  if (ec == http::error::bad_content_length) return "Invalid header.";
  return "Invalid request.";
}

bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == http::error::partial_message;
}

}  // namespace

ApiServer::ApiServer(asio::io_context& io, Options options, Handler handler)
    : io_(io), options_(std::move(options)), handler_(std::move(handler)) {}

void ApiServer::start(asio::local::stream_protocol::acceptor acceptor) {
  acceptor_.emplace(std::move(acceptor));
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

awaitable<void> ApiServer::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_->async_accept(asio::as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    if (open_ >= max_connections) {
      // micro-http accepts, writes its canned 503 once and drops the stream.
      error_code ignored;
      asio::write(socket, asio::buffer(server_full_response), ignored);
      socket.close(ignored);
      continue;
    }
    ++open_;
    asio::co_spawn(io_, session(std::move(socket)), asio::detached);
  }
}

awaitable<void> ApiServer::lock() {
  while (busy_) {
    auto timer = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    waiters_.push_back(timer);
    auto [ec] = co_await timer->async_wait(asio::as_tuple(use_awaitable));
    (void)ec;
  }
  busy_ = true;
}

void ApiServer::unlock() {
  busy_ = false;
  if (!waiters_.empty()) {
    auto next = waiters_.front();
    waiters_.erase(waiters_.begin());
    next->cancel();
  }
}

awaitable<void> ApiServer::session(local_socket socket) {
  struct Count {
    std::size_t& open;
    ~Count() { --open; }
  } count{open_};
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(std::max<std::size_t>(options_.max_payload * 4, 16 * 1024 * 1024));
    auto [ec, n] =
        co_await http::async_read_header(socket, buffer, parser, asio::as_tuple(use_awaitable));
    (void)n;
    std::string error_reason;
    if (ec) {
      if (is_disconnect(ec) || !socket.is_open()) co_return;
      error_reason = parse_reason(ec);
    } else {
      const auto& h = parser.get();
      const std::string method(h.method_string());
      const std::string target(h.target());
      if (std::find(options_.methods.begin(), options_.methods.end(), method) ==
          options_.methods.end()) {
        error_reason = "Invalid HTTP Method: Unsupported HTTP method.";
      } else if (h.version() != 10 && h.version() != 11) {
        error_reason = "Invalid HTTP Version: Unsupported HTTP version.";
      } else if (method.size() + target.size() + 10 >= 1024) {
        error_reason = "Invalid request.";
      } else if ((method == "GET" || method == "DELETE") && parser.content_length() &&
                 *parser.content_length() > 0) {
        error_reason = "Invalid request.";
      }
    }
    if (!error_reason.empty()) {
      // micro-http drops what it buffered and answers the request that failed.
      buffer.consume(buffer.size());
      const std::string out =
          render(Response::json_body(400, parse_error_body(error_reason)), "Firecracker API");
      auto [wec, wn] =
          co_await asio::async_write(socket, asio::buffer(out), asio::as_tuple(use_awaitable));
      (void)wn;
      if (wec) co_return;
      continue;
    }
    const std::uint64_t length = parser.content_length().value_or(0);
    if (length > 0) {
      const auto& h = parser.get();
      const auto expect = h[http::field::expect];
      if (beast::iequals(expect, "100-continue")) {
        const std::string cont = "HTTP/1.1 100 \r\nServer: Firecracker API\r\n\r\n";
        auto [cec, cn] =
            co_await asio::async_write(socket, asio::buffer(cont), asio::as_tuple(use_awaitable));
        (void)cn;
        if (cec) co_return;
      }
      auto [bec, bn] =
          co_await http::async_read(socket, buffer, parser, asio::as_tuple(use_awaitable));
      (void)bn;
      if (bec) co_return;
    }
    Request request;
    request.method = std::string(parser.get().method_string());
    request.uri = std::string(parser.get().target());
    request.path = abs_path(request.uri);
    if (length > 0) request.body = parser.get().body();

    Response response;
    if (length > options_.max_payload) {
      const std::string reason = fmt::format(
          "Request payload with size {} is larger than the limit of {} allowed by server.", length,
          options_.max_payload);
      response = options_.fc_payload_error
                     ? Response::json_body(400, json({{"fault_message", reason}}).dump())
                     : Response::json_body(400, parse_error_body(reason));
    } else {
      co_await lock();
      std::string failure;
      try {
        response = co_await handler_(std::move(request));
      } catch (const std::exception& e) {
        failure = e.what();
      }
      unlock();
      if (!failure.empty()) {
        Log::get().error(fmt::format("request handler failed: {}", failure));
        response = Response::json_body(500, json({{"fault_message", failure}}).dump());
      }
    }
    const std::string out = render(response, options_.server_name);
    auto [wec, wn] =
        co_await asio::async_write(socket, asio::buffer(out), asio::as_tuple(use_awaitable));
    (void)wn;
    if (response.after) response.after();
    if (wec) co_return;
  }
}

// =============================================================================================
// Files and sockets.

error_code bind_unix(asio::local::stream_protocol::acceptor& acceptor, const std::string& path) {
  error_code ec;
  if (path.size() >= sizeof(sockaddr_un::sun_path)) return asio::error::name_too_long;
  acceptor.open(asio::local::stream_protocol(), ec);
  if (ec) return ec;
  ::fcntl(acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  acceptor.bind(asio::local::stream_protocol::endpoint(path), ec);
  if (ec) {
    error_code ignored;
    acceptor.close(ignored);
    return ec;
  }
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return ec;
}

std::string os_error_text(int err) { return fmt::format("{} (os error {})", ::strerror(err), err); }

int FileLock::acquire(const std::string& path, bool write, bool create) {
  const int flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return errno;
  struct flock fl {};
  fl.l_type = write ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  return 0;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

std::uint16_t free_tcp_port() {
  // A random port that binds now, rather than the kernel's ephemeral pick: in a fresh network
  // namespace two doubles asking at the same moment get the same ephemeral port once the first
  // has closed its probe, and QEMU's hostfwd then fails for the second.
  std::random_device seed;
  std::mt19937 rng(seed());
  std::uniform_int_distribution<int> pick(20000, 60999);
  asio::io_context io;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto port = static_cast<std::uint16_t>(pick(rng));
    tcp::acceptor a(io);
    error_code ec;
    a.open(tcp::v4(), ec);
    if (!ec) a.bind(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
    if (!ec) return port;
  }
  tcp::acceptor a(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return a.local_endpoint().port();
}

std::string sh_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::uint64_t fnv1a(std::string_view data) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::system_error(errno, std::generic_category(), path);
  out.write(data.data(), std::streamsize(data.size()));
  out.flush();
  if (!out) throw std::system_error(errno, std::generic_category(), path);
}

// =============================================================================================
// QEMU.

std::string qemu_binary() {
  const char* v = std::getenv("ATTEST_DOUBLE_QEMU");
  return v && *v ? v : "qemu-system-x86_64";
}

std::string qemu_accel() {
  const char* v = std::getenv("ATTEST_ACCEL");
  return v && *v ? v : "tcg";
}

std::vector<std::uint32_t> emulated_vsock_ports() {
  const char* v = std::getenv("ATTEST_DOUBLE_VSOCK_PORTS");
  std::string s = v && *v ? v : "1234";
  std::vector<std::uint32_t> ports;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      ports.push_back(std::uint32_t(std::stoul(item)));
    } catch (const std::exception&) {
      std::fprintf(stderr, "ignoring bad port '%s' in ATTEST_DOUBLE_VSOCK_PORTS\n", item.c_str());
    }
  }
  return ports;
}

std::string vsock_emulation_param() {
  return fmt::format("attest.vsock_emulation=tcp:{}", vsock_emulation_mac);
}

namespace {

json console_json(const ConsoleSpec& c) {
  static constexpr const char* names[] = {"off", "null", "stdio", "file", "socket"};
  return json{{"mode", names[int(c.mode)]}, {"path", c.path}};
}

ConsoleSpec console_from(const json& j) {
  ConsoleSpec c;
  const auto mode = j.value("mode", "off");
  c.mode = mode == "null"     ? ConsoleSpec::Mode::null
           : mode == "stdio"  ? ConsoleSpec::Mode::stdio
           : mode == "file"   ? ConsoleSpec::Mode::file
           : mode == "socket" ? ConsoleSpec::Mode::socket
                              : ConsoleSpec::Mode::off;
  c.path = j.value("path", "");
  return c;
}

/// QEMU option values double their commas.
std::string qemu_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

}  // namespace

json MachineSpec::to_json() const {
  json j;
  j["kernel"] = kernel;
  j["initrd"] = initrd;
  j["cmdline"] = cmdline;
  j["vcpus"] = vcpus;
  j["mem_mib"] = mem_mib;
  j["disks"] = json::array();
  for (const auto& d : disks)
    j["disks"].push_back({{"id", d.id}, {"path", d.path}, {"read_only", d.read_only}});
  j["nets"] = json::array();
  for (const auto& n : nets) j["nets"].push_back({{"id", n.id}, {"tap", n.tap}, {"mac", n.mac}});
  j["serial"] = console_json(serial);
  j["console"] = console_json(console);
  j["rng"] = rng;
  j["no_reboot"] = no_reboot;
  j["vsock_ports"] = vsock_ports;
  return j;
}

MachineSpec MachineSpec::from_json(const json& j) {
  MachineSpec s;
  s.kernel = j.at("kernel").get<std::string>();
  s.initrd = j.value("initrd", "");
  s.cmdline = j.value("cmdline", "");
  s.vcpus = j.value("vcpus", 1u);
  s.mem_mib = j.value("mem_mib", std::uint64_t(128));
  for (const auto& d : j.at("disks"))
    s.disks.push_back({d.at("id").get<std::string>(), d.at("path").get<std::string>(),
                       d.value("read_only", false)});
  for (const auto& n : j.at("nets"))
    s.nets.push_back(
        {n.at("id").get<std::string>(), n.at("tap").get<std::string>(), n.value("mac", "")});
  s.serial = console_from(j.at("serial"));
  s.console = console_from(j.at("console"));
  s.rng = j.value("rng", false);
  s.no_reboot = j.value("no_reboot", true);
  s.vsock_ports = j.value("vsock_ports", std::vector<std::uint32_t>{});
  return s;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return fmt::format("killed by signal {} (SIG{})", WTERMSIG(status), name ? name : "?");
  }
  return fmt::format("wait status {}", status);
}

std::vector<std::string> Qemu::arguments(const MachineSpec& spec,
                                         const std::map<std::uint32_t, std::uint16_t>& fwd,
                                         bool incoming) {
  std::string accel = qemu_accel();
  if (accel == "tcg" && spec.vcpus > 1) accel += ",thread=multi";
  std::vector<std::string> a = {"-name",       "attest-double",
                                "-nodefaults", "-no-user-config",
                                "-machine",    "q35",
                                "-accel",      accel,
                                "-cpu",        "max",
                                "-m",          std::to_string(spec.mem_mib),
                                "-smp",        std::to_string(spec.vcpus),
                                "-kernel",     spec.kernel};
  if (!spec.initrd.empty()) a.insert(a.end(), {"-initrd", spec.initrd});
  // no_timer_check: under TCG on a busy host the guest kernel's check of the 8254 timer interrupt
  // can fail and panic the boot ("IO-APIC + timer doesn't work!"); the real VMMs run on KVM.
  a.insert(a.end(), {"-append", spec.cmdline + " no_timer_check"});
  for (std::size_t i = 0; i < spec.disks.size(); ++i) {
    const auto& d = spec.disks[i];
    a.push_back("-drive");
    // Locking off: the VMMs do their own (cloud-hypervisor) or none (Firecracker).
    a.push_back(fmt::format("file={},format=raw,if=none,id=disk{},file.locking=off{}",
                            qemu_escape(d.path), i, d.read_only ? ",readonly=on" : ""));
    a.push_back("-device");
    a.push_back(fmt::format("virtio-blk-pci,drive=disk{}", i));
  }
  for (std::size_t i = 0; i < spec.nets.size(); ++i) {
    const auto& n = spec.nets[i];
    a.push_back("-netdev");
    a.push_back(
        fmt::format("tap,id=net{},ifname={},script=no,downscript=no", i, qemu_escape(n.tap)));
    a.push_back("-device");
    a.push_back(fmt::format("virtio-net-pci,netdev=net{}{},romfile=", i,
                            n.mac.empty() ? "" : ",mac=" + n.mac));
  }
  if (spec.rng)
    a.insert(a.end(), {"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device",
                       "virtio-rng-pci,rng=rng0"});
  const bool both_stdio =
      spec.serial.mode == ConsoleSpec::Mode::stdio && spec.console.mode == ConsoleSpec::Mode::stdio;
  bool stdio_defined = false;
  auto chardev = [&](const ConsoleSpec& c, const std::string& id) -> std::string {
    switch (c.mode) {
      case ConsoleSpec::Mode::off:
        return {};
      case ConsoleSpec::Mode::null:
        a.insert(a.end(), {"-chardev", "null,id=" + id});
        return id;
      case ConsoleSpec::Mode::stdio:
        if (!stdio_defined) {
          a.insert(a.end(), {"-chardev", fmt::format("stdio,id=stdio0,signal=off{}",
                                                     both_stdio ? ",mux=on" : "")});
          stdio_defined = true;
        }
        return "stdio0";
      case ConsoleSpec::Mode::file:
        a.insert(a.end(), {"-chardev",
                           fmt::format("file,id={},path={},append=on", id, qemu_escape(c.path))});
        return id;
      case ConsoleSpec::Mode::socket:
        a.insert(a.end(), {"-chardev", fmt::format("socket,id={},path={},server=on,wait=off", id,
                                                   qemu_escape(c.path))});
        return id;
    }
    return {};
  };
  if (const auto id = chardev(spec.serial, "serial0"); !id.empty())
    a.insert(a.end(), {"-serial", "chardev:" + id});
  if (const auto id = chardev(spec.console, "console0"); !id.empty())
    a.insert(a.end(), {"-device", "virtio-serial-pci,id=vcon", "-device",
                       fmt::format("virtconsole,chardev={},bus=vcon.0", id)});
  if (!fwd.empty()) {
    // Last, so that the VMM's own NICs keep eth0, eth1, ... in the guest.
    std::string netdev = "user,id=vsockemu,restrict=on,ipv6=off";
    for (const auto& [port, host] : fwd)
      netdev +=
          fmt::format(",hostfwd=tcp:127.0.0.1:{}-{}:{}", host, vsock_emulation_guest_ip, port);
    a.insert(a.end(),
             {"-netdev", netdev, "-device",
              fmt::format("virtio-net-pci,netdev=vsockemu,mac={},romfile=", vsock_emulation_mac)});
  }
  a.insert(a.end(), {"-display", "none"});
  if (spec.no_reboot) a.push_back("-no-reboot");
  if (incoming) a.insert(a.end(), {"-S", "-incoming", "defer"});
  return a;
}

struct Qemu::State {
  explicit State(asio::io_context& io) : pidfd(io), qmp(io.get_executor()) {}
  asio::posix::stream_descriptor pidfd;
  qmp::Client qmp;
  bool exited = false;
  bool killed = false;
  int status = 0;
};

Qemu::Qemu(asio::io_context& io) : io_(io) {}

Qemu::~Qemu() { kill(); }

awaitable<void> Qemu::start(const MachineSpec& spec, bool incoming) {
  if (running()) throw std::runtime_error("QEMU is already running");
  forwards_.clear();
  for (const auto port : spec.vsock_ports) forwards_[port] = free_tcp_port();
  // QMP on an abstract unix socket: nothing in the file system to clean up, even when the double
  // is SIGKILLed along with its parent.
  static int counter = 0;
  const std::string qmp_name = fmt::format("attest-double-qmp-{}-{}", ::getpid(), ++counter);
  std::vector<std::string> args = arguments(spec, forwards_, incoming);
  args.insert(args.end(),
              {"-chardev",
               fmt::format("socket,id=attest-qmp,path={},abstract=on,server=on,wait=off", qmp_name),
               "-mon", "chardev=attest-qmp,mode=control"});
  const std::string program = qemu_binary();
  args.insert(args.begin(), program);
  Log::get().info(fmt::format("starting {}", fmt::join(args, " ")));

  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    ::execvp(argv[0], argv.data());
    static constexpr char msg[] = "attest double: cannot execute QEMU\n";
    const auto ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(127);
  }
  pid_ = pid;
  set_child_to_kill(pid);
  state_ = std::make_shared<State>(io_);
  const int pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    kill();
    throw std::system_error(errno, std::generic_category(), "pidfd_open");
  }
  state_->pidfd.assign(pidfd);
  asio::co_spawn(io_, watch_exit(), asio::detached);

  // QMP: the socket appears as soon as QEMU has parsed its options.
  auto state = state_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    if (state->exited)
      throw std::runtime_error(
          fmt::format("QEMU ended during startup: {}", describe_wait_status(state->status)));
    bool connected = false;
    std::string why;
    try {
      co_await state->qmp.connect(std::string(1, '\0') + qmp_name);
      connected = true;
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (connected) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill();
      throw std::runtime_error(fmt::format("QEMU's QMP socket never answered: {}", why));
    }
    asio::steady_timer t(io_, std::chrono::milliseconds(20));
    co_await t.async_wait(use_awaitable);
  }
}

awaitable<void> Qemu::watch_exit() {
  auto state = state_;
  auto [ec] = co_await state->pidfd.async_wait(asio::posix::descriptor_base::wait_read,
                                               asio::as_tuple(use_awaitable));
  if (ec || state->killed) co_return;
  int status = 0;
  const pid_t pid = pid_;
  if (::waitpid(pid, &status, 0) != pid) co_return;
  state->exited = true;
  state->status = status;
  error_code ignored;
  state->pidfd.close(ignored);
  state->qmp.close();
  if (state_ == state) {
    pid_ = -1;
    set_child_to_kill(0);
  }
  if (on_exit) on_exit(status);
}

void Qemu::kill() {
  if (pid_ <= 0 || !state_) return;
  state_->killed = true;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  error_code ignored;
  state_->pidfd.close(ignored);
  state_->qmp.close();
  pid_ = -1;
  set_child_to_kill(0);
}

awaitable<nlohmann::json> Qemu::qmp(std::string command, nlohmann::json arguments) {
  if (!state_ || !running() || !state_->qmp.connected())
    throw std::runtime_error("QEMU is not running");
  auto state = state_;
  co_return co_await state->qmp.execute(command, arguments);
}

awaitable<void> Qemu::stop() {
  std::string c = "stop";
  nlohmann::json a = nullptr;
  co_await qmp(c, a);
}

awaitable<void> Qemu::cont() {
  std::string c = "cont";
  nlohmann::json a = nullptr;
  co_await qmp(c, a);
}

awaitable<void> Qemu::save_state(const std::string& path) {
  {
    std::string c = "migrate-set-parameters";
    nlohmann::json a = {{"max-bandwidth", std::int64_t(1) << 40}};
    co_await qmp(c, a);
  }
  {
    std::string c = "migrate";
    nlohmann::json a = {{"uri", "exec:cat > " + sh_quote(path)}};
    co_await qmp(c, a);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  for (;;) {
    std::string c = "query-migrate";
    nlohmann::json a = nullptr;
    const auto r = co_await qmp(c, a);
    const std::string status = r.value("status", "");
    if (status == "completed") co_return;
    if (status == "failed" || status == "cancelled")
      throw std::runtime_error(
          fmt::format("saving the machine state failed: {}", r.value("error-desc", status)));
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("saving the machine state timed out");
    asio::steady_timer t(io_, std::chrono::milliseconds(20));
    co_await t.async_wait(use_awaitable);
  }
}

awaitable<void> Qemu::load_state(const std::string& path) {
  {
    std::string c = "migrate-incoming";
    nlohmann::json a = {{"uri", "exec:cat " + sh_quote(path)}};
    co_await qmp(c, a);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  for (;;) {
    std::string c = "query-status";
    nlohmann::json a = nullptr;
    const auto r = co_await qmp(c, a);
    const std::string status = r.value("status", "");
    if (status == "paused") co_return;
    if (status != "inmigrate")
      throw std::runtime_error(fmt::format("loading the machine state failed: QEMU is {}", status));
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("loading the machine state timed out");
    asio::steady_timer t(io_, std::chrono::milliseconds(20));
    co_await t.async_wait(use_awaitable);
  }
}

// =============================================================================================
// Hybrid vsock.

std::optional<std::uint32_t> parse_connect(std::string_view line) {
  // Firecracker: split_whitespace; keyword compared lower-cased; port parsed as u32; nothing
  // may follow.
  std::vector<std::string> words;
  std::string word;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
      if (!word.empty()) words.push_back(std::move(word)), word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (words.size() != 2) return std::nullopt;
  std::string kw = words[0];
  for (auto& c : kw) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (kw != "connect") return std::nullopt;
  const std::string& p = words[1];
  if (p.empty() || p.size() > 10) return std::nullopt;
  std::uint64_t port = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + std::uint64_t(c - '0');
  }
  if (port > 0xffffffffull) return std::nullopt;
  return std::uint32_t(port);
}

struct VsockMux::Shared {
  std::map<std::uint32_t, std::uint16_t>* forwards = nullptr;
  std::uint32_t* next_host_port = nullptr;
  bool closed = false;
  std::set<std::pair<local_socket*, tcp::socket*>> live;
};

void VsockMux::reset_connections() {
  auto live = shared_->live;
  for (auto [u, t] : live) {
    error_code ignored;
    u->close(ignored);
    t->close(ignored);
  }
}

VsockMux::VsockMux(asio::io_context& io, Dialect dialect)
    : io_(io), dialect_(dialect), shared_(std::make_shared<Shared>()) {
  shared_->forwards = &forwards_;
  shared_->next_host_port = &next_host_port_;
}

VsockMux::~VsockMux() {
  shared_->closed = true;
  close(false);
}

error_code VsockMux::bind(const std::string& path) {
  asio::local::stream_protocol::acceptor a(io_);
  if (auto ec = bind_unix(a, path)) return ec;
  close(false);
  acceptor_.emplace(std::move(a));
  path_ = path;
  if (accepting_) asio::co_spawn(io_, accept_loop(shared_), asio::detached);
  return {};
}

void VsockMux::start_accepting() {
  if (accepting_) return;
  accepting_ = true;
  if (acceptor_) asio::co_spawn(io_, accept_loop(shared_), asio::detached);
}

void VsockMux::close(bool unlink) {
  if (acceptor_) {
    error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
    if (unlink && !path_.empty()) ::unlink(path_.c_str());
  }
}

awaitable<void> VsockMux::accept_loop(std::shared_ptr<Shared> shared) {
  auto* acceptor = &*acceptor_;
  for (;;) {
    auto [ec, s] = co_await acceptor->async_accept(asio::as_tuple(use_awaitable));
    if (shared->closed) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      continue;
    }
    asio::co_spawn(io_, handle(std::move(s), shared), asio::detached);
  }
}

namespace {

awaitable<void> pump_uds_to_tcp(local_socket& from, tcp::socket& to) {
  std::array<char, 16384> buf;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (ec || n == 0) break;
    auto [wec, wn] =
        co_await asio::async_write(to, asio::buffer(buf.data(), n), asio::as_tuple(use_awaitable));
    (void)wn;
    if (wec) break;
  }
  error_code ignored;
  to.shutdown(asio::socket_base::shutdown_send, ignored);
}

awaitable<void> pump_tcp_to_uds(tcp::socket& from, local_socket& to) {
  std::array<char, 16384> buf;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (ec || n == 0) break;
    auto [wec, wn] =
        co_await asio::async_write(to, asio::buffer(buf.data(), n), asio::as_tuple(use_awaitable));
    (void)wn;
    if (wec) break;
  }
  error_code ignored;
  to.shutdown(asio::socket_base::shutdown_send, ignored);
}

}  // namespace

awaitable<void> VsockMux::handle(local_socket s, std::shared_ptr<Shared> shared) {
  std::string line;
  bool ok = false;
  if (dialect_ == Dialect::firecracker) {
    // Firecracker's muxer read_exact()s 10 bytes from the non-blocking stream as soon as it is
    // readable, then single bytes up to '\n'; whatever is not there yet fails the request.
    auto [ec] = co_await s.async_wait(asio::socket_base::wait_read, asio::as_tuple(use_awaitable));
    if (!ec) {
      char peek[max_command];
      const ssize_t n = ::recv(s.native_handle(), peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
      if (n >= 10) {
        const std::string_view got(peek, std::size_t(n));
        const auto nl = got.find('\n');
        if (nl != std::string_view::npos) {
          line.assign(peek, nl);
          const auto consumed = ::recv(s.native_handle(), peek, nl + 1, MSG_DONTWAIT);
          ok = consumed == ssize_t(nl + 1);
        }
      }
    }
  } else {
    // cloud-hypervisor keeps the partial command and waits for the rest.
    for (;;) {
      char c;
      auto [ec, n] = co_await s.async_read_some(asio::buffer(&c, 1), asio::as_tuple(use_awaitable));
      if (ec || n == 0) break;
      if (c == '\n') {
        ok = true;
        break;
      }
      line += c;
      if (line.size() >= max_command) break;
    }
  }
  if (shared->closed) co_return;
  std::optional<std::uint32_t> port;
  if (ok) port = parse_connect(line);
  std::optional<std::uint16_t> forward;
  if (port) {
    if (auto it = shared->forwards->find(*port); it != shared->forwards->end())
      forward = it->second;
  }
  if (!forward) {
    Log::get().write(Log::Level::debug,
                     fmt::format("vsock: dropping connection (command {:?})", line));
    co_return;  // closing the socket: EOF, no text, as the VMMs do
  }
  std::uint32_t& next = *shared->next_host_port;
  const std::uint32_t host_port = next;
  next = ((next + 1) & ((1u << 30) - 1)) | (1u << 30);

  // The guest side: the user-mode NIC forwards 127.0.0.1:<forward> to the guest's listener.
  // slirp accepts the TCP connection before the guest does, so the guest's acceptance shows as
  // its first bytes (the backdoor greets with a banner); a refusal shows as EOF.
  tcp::socket t(io_);
  const tcp::endpoint ep(asio::ip::address_v4::loopback(), *forward);
  asio::steady_timer timer(io_, request_timeout);
  auto [cec] = co_await t.async_connect(ep, asio::as_tuple(use_awaitable));
  if (cec) co_return;
  std::array<char, 4096> first;
  auto group = asio::experimental::make_parallel_group(
      t.async_read_some(asio::buffer(first), asio::deferred), timer.async_wait(asio::deferred));
  auto [order, rec, rn, tec] =
      co_await group.async_wait(asio::experimental::wait_for_one(), use_awaitable);
  (void)tec;
  if (order[0] != 0 || rec || rn == 0 || shared->closed) co_return;
  const std::string hello = fmt::format("OK {}\n", host_port) + std::string(first.data(), rn);
  auto [wec, wn] =
      co_await asio::async_write(s, asio::buffer(hello), asio::as_tuple(use_awaitable));
  (void)wn;
  if (wec) co_return;
  using namespace asio::experimental::awaitable_operators;
  const std::pair<local_socket*, tcp::socket*> entry{&s, &t};
  shared->live.insert(entry);
  co_await (pump_uds_to_tcp(s, t) && pump_tcp_to_uds(t, s));
  shared->live.erase(entry);
}

}  // namespace attest::doubles
