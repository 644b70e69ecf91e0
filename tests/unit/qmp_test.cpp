// The QMP client against a scripted QMP peer on a socket pair: greeting, negotiation, replies by
// id, events kept apart, errors with QEMU's class, and pending commands failed on disconnect.
#include "protocol/qmp.hpp"

#include <gmock/gmock.h>

#include "coro.hpp"

#include <filesystem>

namespace attest::qmp {
namespace {

using ::testing::HasSubstr;
namespace local = asio::local;

/// A QMP peer listening on a unix socket, replying as scripted.
class ScriptedQemu {
 public:
  explicit ScriptedQemu(asio::io_context& io)
      : path_((std::filesystem::path(::testing::TempDir()) /
               ("qmp-" + std::to_string(::getpid()) + ".sock"))
                  .string()),
        acceptor_(io) {
    ::unlink(path_.c_str());
    acceptor_.open();
    acceptor_.bind(local::stream_protocol::endpoint(path_));
    acceptor_.listen();
  }
  ~ScriptedQemu() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

  awaitable<local::stream_protocol::socket> accept() {
    co_return co_await acceptor_.async_accept(use_awaitable);
  }

 private:
  std::string path_;
  local::stream_protocol::acceptor acceptor_;
};

awaitable<std::string> read_line(local::stream_protocol::socket& s, std::string& buf) {
  for (;;) {
    if (auto nl = buf.find('\n'); nl != std::string::npos) {
      auto line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      co_return line;
    }
    char tmp[512];
    auto n = co_await s.async_read_some(asio::buffer(tmp), use_awaitable);
    buf.append(tmp, n);
  }
}

awaitable<void> send(local::stream_protocol::socket& s, const std::string& text) {
  co_await asio::async_write(s, asio::buffer(text), use_awaitable);
}

using testing_support::run;

TEST(qmp_test, message_reader_splits_lines_across_chunks) {
  MessageReader r;
  r.feed("{\"return\": {}}\r\n{\"eve");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->contains("return"));
  EXPECT_FALSE(r.next());
  r.feed("nt\": \"STOP\"}\r\n");
  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)["event"], "STOP");
  r.feed("not json\n");
  EXPECT_THROW(r.next(), QmpError);
}

TEST(qmp_test, encodes_commands_with_and_without_arguments) {
  EXPECT_EQ(encode_command("quit", nullptr, 3), "{\"execute\":\"quit\",\"id\":3}\n");
  EXPECT_EQ(encode_command("screendump", json{{"filename", "/x.png"}}, 4),
            "{\"arguments\":{\"filename\":\"/x.png\"},\"execute\":\"screendump\",\"id\":4}\n");
}

TEST(qmp_test, negotiates_routes_replies_and_queues_events) {
  run([](asio::io_context& io) -> awaitable<void> {
    ScriptedQemu qemu(io);
    auto peer = [](ScriptedQemu& q) -> awaitable<void> {
      auto s = co_await q.accept();
      std::string buf;
      co_await send(s, R"({"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": ["oob"]}})"
                       "\r\n");
      auto caps = json::parse(co_await read_line(s, buf));
      EXPECT_EQ(caps["execute"], "qmp_capabilities");
      co_await send(s, "{\"return\": {}}\r\n");
      auto cmd = json::parse(co_await read_line(s, buf));
      EXPECT_EQ(cmd["execute"], "query-status");
      // An event first, then a reply to an unknown id, then the real reply.
      co_await send(
          s,
          R"({"event": "RESET", "data": {"guest": true}, "timestamp": {"seconds": 1, "microseconds": 2}})"
          "\r\n");
      co_await send(s, R"({"return": {}, "id": 999})"
                       "\r\n");
      json reply;
      reply["return"]["status"] = "running";
      reply["id"] = cmd["id"];
      co_await send(s, reply.dump() + "\r\n");
      auto bad = json::parse(co_await read_line(s, buf));
      json error_reply;
      error_reply["error"]["class"] = "CommandNotFound";
      error_reply["error"]["desc"] = "The command nope has not been found";
      error_reply["id"] = bad["id"];
      co_await send(s, error_reply.dump() + "\r\n");
      co_await read_line(s, buf);  // a command left pending when the peer goes away
    };
    asio::co_spawn(io, peer(qemu), asio::detached);
    Client client(io.get_executor());
    co_await client.connect(qemu.path());
    EXPECT_EQ(client.greeting()["QMP"]["version"]["qemu"]["major"], 7);
    auto status = co_await client.execute("query-status");
    EXPECT_EQ(status["status"], "running");
    EXPECT_EQ(client.events().size(), 1u);
    if (!client.events().empty()) {
      EXPECT_EQ(client.events().front()["event"], "RESET");
    }
    try {
      co_await client.execute("nope");
      ADD_FAILURE() << "no error";
    } catch (const QmpError& e) {
      EXPECT_EQ(e.error_class(), "CommandNotFound");
      EXPECT_THAT(
          e.what(),
          HasSubstr(
              "QMP command 'nope' failed: CommandNotFound: The command nope has not been found"));
    }
    try {
      co_await client.execute("query-block");
      ADD_FAILURE() << "no error";
    } catch (const QmpError& e) {
      EXPECT_THAT(e.what(),
                  HasSubstr("QMP command 'query-block' got no reply: QMP connection closed"));
    }
    EXPECT_FALSE(client.connected());
    try {
      co_await client.execute("query-status");
      ADD_FAILURE() << "no error";
    } catch (const QmpError& e) {
      EXPECT_THAT(e.what(), HasSubstr("cannot send QMP command 'query-status'"));
    }
  });
}

TEST(qmp_test, rejects_a_peer_that_is_not_qmp) {
  run([](asio::io_context& io) -> awaitable<void> {
    ScriptedQemu qemu(io);
    auto peer = [](ScriptedQemu& q) -> awaitable<void> {
      auto s = co_await q.accept();
      co_await send(s, "{\"hello\": 1}\n");
    };
    asio::co_spawn(io, peer(qemu), asio::detached);
    Client client(io.get_executor());
    try {
      co_await client.connect(qemu.path());
      ADD_FAILURE() << "connected";
    } catch (const QmpError& e) {
      EXPECT_THAT(e.what(), HasSubstr("did not greet with a QMP banner"));
    }
  });
}

TEST(qmp_test, reports_a_failed_negotiation_with_the_class) {
  run([](asio::io_context& io) -> awaitable<void> {
    ScriptedQemu qemu(io);
    auto peer = [](ScriptedQemu& q) -> awaitable<void> {
      auto s = co_await q.accept();
      std::string buf;
      co_await send(s, "{\"QMP\": {}}\n");
      co_await read_line(s, buf);
      co_await send(s, R"({"error": {"class": "GenericError", "desc": "no"}})"
                       "\n");
    };
    asio::co_spawn(io, peer(qemu), asio::detached);
    Client client(io.get_executor());
    try {
      co_await client.connect(qemu.path());
      ADD_FAILURE() << "connected";
    } catch (const QmpError& e) {
      EXPECT_EQ(e.error_class(), "GenericError");
      EXPECT_THAT(e.what(), HasSubstr("qmp_capabilities failed: no"));
    }
  });
}

}  // namespace
}  // namespace attest::qmp
