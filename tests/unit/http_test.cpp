// The HTTP client against a scripted micro-http stand-in on a unix socket. The stand-in answers
// byte for byte as the VMMs do (status lines without a reason phrase, no Content-Length on 204),
// so the quirks reach the client exactly as they would from Firecracker or cloud-hypervisor.
#include "protocol/http.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <unistd.h>

#include <boost/asio/experimental/parallel_group.hpp>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace attest::http {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace local = asio::local;
using Socket = local::stream_protocol::socket;

std::string socket_path_for_test() {
  static int counter = 0;
  return (std::filesystem::path(::testing::TempDir()) /
          fmt::format("http-{}-{}.sock", ::getpid(), ++counter))
      .string();
}

/// A micro-http stand-in: a unix socket whose connections the test scripts; counts accepts.
class FakeVmm {
 public:
  explicit FakeVmm(asio::io_context& io) : path_(socket_path_for_test()), acceptor_(io) {
    ::unlink(path_.c_str());
  }
  ~FakeVmm() {
    stop();
    ::unlink(path_.c_str());
  }
  /// Creates the socket file and listens (tests of connect retries call this late).
  void listen() {
    acceptor_.open();
    acceptor_.bind(local::stream_protocol::endpoint(path_));
    acceptor_.listen();
  }
  const std::string& path() const { return path_; }
  int accepts() const { return accepts_; }

  awaitable<Socket*> accept() {
    sockets_.push_back(co_await acceptor_.async_accept(use_awaitable));
    ++accepts_;
    co_return &sockets_.back();
  }
  /// Ends every server operation still waiting, so the io_context runs out of work.
  void stop() {
    error_code ec;
    acceptor_.close(ec);
    for (auto& s : sockets_) s.close(ec);
  }

 private:
  std::string path_;
  local::stream_protocol::acceptor acceptor_;
  std::deque<Socket> sockets_;  // a deque keeps the sockets in place for the scripts
  int accepts_ = 0;
};

struct Received {
  std::string head;  // request line and headers, up to and including the empty line
  std::string body;
};

/// Reads one request, its body framed by Content-Length as micro-http requires.
awaitable<Received> read_request(Socket& s, std::string& buf) {
  auto more = [&]() -> awaitable<void> {
    char tmp[4096];
    const auto n = co_await s.async_read_some(asio::buffer(tmp), use_awaitable);
    buf.append(tmp, n);
  };
  std::size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) co_await more();
  Received r;
  r.head = buf.substr(0, end + 4);
  std::size_t length = 0;
  if (const auto at = r.head.find("Content-Length: "); at != std::string::npos)
    length = std::stoul(r.head.substr(at + 16));
  while (buf.size() < end + 4 + length) co_await more();
  r.body = buf.substr(end + 4, length);
  buf.erase(0, end + 4 + length);
  co_return r;
}

awaitable<void> send(Socket& s, std::string bytes) {
  co_await asio::async_write(s, asio::buffer(bytes), use_awaitable);
}

/// Reads until the peer closes (or the test stops the server).
awaitable<void> drain(Socket& s) {
  char tmp[256];
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(tmp), asio::as_tuple(use_awaitable));
    (void)n;
    if (ec) co_return;
  }
}

/// Runs a server script; a script ended by FakeVmm::stop() is not a failure.
void serve(asio::io_context& io, awaitable<void> script) {
  asio::co_spawn(io, std::move(script), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error&) {
    } catch (const std::exception& x) {
      ADD_FAILURE() << "fake VMM: " << x.what();
    }
  });
}

/// Runs `body(io, vmm)` until it ends, then stops the fake so that its pending scripts end too;
/// the body's exception is rethrown here.
template <class F>
void run(F body) {
  asio::io_context io;
  FakeVmm vmm(io);
  std::exception_ptr failure;
  asio::co_spawn(io, body(io, vmm), [&](std::exception_ptr e) {
    failure = e;
    vmm.stop();
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
}

// Arguments are built here, outside the co_await expressions of the tests: g++ 12 can destroy
// class-type temporaries in a co_await expression twice.
awaitable<Response> call(Client& client, const char* method, const char* target, const char* body,
                         std::chrono::milliseconds timeout) {
  std::string m = method;
  std::string t = target;
  std::string b = body;
  const Deadline deadline = deadline_after(timeout);
  co_return co_await client.request(m, t, b, deadline);
}

/// The Error a call ends with, or nothing if it succeeded.
awaitable<std::optional<Error>> call_failing(Client& client, const char* method, const char* target,
                                             const char* body, std::chrono::milliseconds timeout) {
  std::optional<Error> error;
  try {
    co_await call(client, method, target, body, timeout);
  } catch (const Error& e) {
    error = e;
  }
  co_return error;
}

constexpr const char* fc_204 =
    "HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n";

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

TEST(http_test, put_sends_the_exact_request) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      const auto put = co_await read_request(*s, buf);
      EXPECT_EQ(put.head,
                "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                "Content-Type: application/json\r\nContent-Length: 35\r\n\r\n");
      EXPECT_EQ(put.body, R"({"vcpu_count":1,"mem_size_mib":256})");
      co_await send(*s, fc_204);
      // Body-less: no Content-Type and no Content-Length, as cloud-hypervisor's actions want.
      const auto boot = co_await read_request(*s, buf);
      EXPECT_EQ(
          boot.head,
          "PUT /api/v1/vm.boot HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n");
      EXPECT_EQ(boot.body, "");
      co_await send(*s, fc_204);
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto put = co_await call(client, "PUT", "/machine-config",
                             R"({"vcpu_count":1,"mem_size_mib":256})", 5s);
    EXPECT_EQ(put.status, 204);
    EXPECT_EQ(put.reason, "");
    EXPECT_EQ(put.body, "");
    auto boot = co_await call(client, "PUT", "/api/v1/vm.boot", "", 5s);
    EXPECT_EQ(boot.status, 204);
  });
}

TEST(http_test, accepts_status_lines_without_a_reason_in_both_forms) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      co_await read_request(*s, buf);
      co_await send(*s,
                    "HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n");
      co_await read_request(*s, buf);
      co_await send(*s,
                    "HTTP/1.1 204\r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n");
      co_await read_request(*s, buf);
      co_await send(*s,
                    "HTTP/1.1 200\r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
                    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      co_await read_request(*s, buf);
      co_await send(*s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]");
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto with_space =
        co_await call(client, "PUT", "/actions", R"({"action_type":"FlushMetrics"})", 5s);
    EXPECT_EQ(with_space.status, 204);
    EXPECT_EQ(with_space.reason, "");
    auto without_space =
        co_await call(client, "PUT", "/actions", R"({"action_type":"FlushMetrics"})", 5s);
    EXPECT_EQ(without_space.status, 204);
    EXPECT_EQ(without_space.reason, "");
    auto ok = co_await call(client, "GET", "/", "", 5s);
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, "{}");
    auto with_reason = co_await call(client, "GET", "/", "", 5s);
    EXPECT_EQ(with_reason.reason, "OK");
    EXPECT_EQ(with_reason.body, "[]");
    EXPECT_EQ(vmm.accepts(), 1);
  });
}

TEST(http_test, returns_the_json_body_of_a_200) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      const auto get = co_await read_request(*s, buf);
      EXPECT_EQ(get.head, "GET / HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n");
      co_await send(
          *s,
          "HTTP/1.1 200 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
          "Content-Type: application/json\r\nContent-Length: 97\r\n\r\n"
          R"({"id":"anonymous-instance","state":"Not started","vmm_version":"1.16.1","app_name":"Firecracker"})");
      // cloud-hypervisor's vmm.shutdown: 200 with Content-Length: 0.
      co_await read_request(*s, buf);
      co_await send(*s,
                    "HTTP/1.1 200 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\n"
                    "Content-Type: application/json\r\nContent-Length: 0\r\n\r\n");
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto info = co_await call(client, "GET", "/", "", 5s);
    EXPECT_EQ(info.status, 200);
    EXPECT_EQ(nlohmann::json::parse(info.body)["state"], "Not started");
    auto shutdown = co_await call(client, "PUT", "/api/v1/vmm.shutdown", "", 5s);
    EXPECT_EQ(shutdown.status, 200);
    EXPECT_EQ(shutdown.body, "");
  });
}

TEST(http_test, a_firecracker_400_carries_the_fault_message) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      co_await read_request(*s, buf);
      co_await send(
          *s,
          "HTTP/1.1 400 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
          "Content-Type: application/json\r\nContent-Length: 89\r\n\r\n"
          R"({"fault_message":"The requested operation is not supported before starting the microVM."})");
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto error = co_await call_failing(client, "PATCH", "/vm", R"({"state":"Paused"})", 5s);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 400);
    EXPECT_EQ(error->vmm_message(),
              "The requested operation is not supported before starting the microVM.");
    EXPECT_STREQ(error->what(),
                 "Firecracker API: PATCH /vm: 400 Bad Request: The requested operation is not "
                 "supported before starting the microVM.");
  });
}

TEST(http_test, a_cloud_hypervisor_500_joins_the_error_chain) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      co_await read_request(*s, buf);
      co_await send(*s,
                    "HTTP/1.1 500 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\n"
                    "Content-Type: application/json\r\nContent-Length: 32\r\n\r\n"
                    R"(["Error from api","Cannot boot"])");
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "cloud-hypervisor");
    auto error = co_await call_failing(client, "PUT", "/api/v1/vm.boot", "", 5s);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 500);
    EXPECT_EQ(error->vmm_message(), "Error from api: Cannot boot");
    EXPECT_STREQ(error->what(),
                 "cloud-hypervisor API: PUT /api/v1/vm.boot: 500 Internal Server Error: Error "
                 "from api: Cannot boot");
  });
}

TEST(http_test, a_404_with_an_empty_body_keeps_the_connection) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      co_await read_request(*s, buf);
      co_await send(*s,
                    "HTTP/1.1 404 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\n"
                    "Content-Type: application/json\r\nContent-Length: 0\r\n\r\n");
      co_await read_request(*s, buf);
      co_await send(*s, fc_204);
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "cloud-hypervisor");
    auto error = co_await call_failing(client, "GET", "/api/v1/vm.info", "", 5s);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 404);
    EXPECT_EQ(error->vmm_message(), "");
    EXPECT_STREQ(error->what(), "cloud-hypervisor API: GET /api/v1/vm.info: 404 Not Found");
    // A complete error answer leaves the connection usable.
    auto next = co_await call(client, "PUT", "/api/v1/vm.boot", "", 5s);
    EXPECT_EQ(next.status, 204);
    EXPECT_EQ(vmm.accepts(), 1);
  });
}

TEST(http_test, a_503_without_a_space_after_the_code_is_an_error_and_closes) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      co_await read_request(*s, buf);
      // micro-http's answer to an 11th connection, verbatim (reference §3.3).
      co_await send(*s,
                    "HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\n"
                    "Content-Length: 40\r\n\r\n{ \"error\": \"Too many open connections\" }");
      s->close();
      auto* again = co_await v.accept();
      co_await read_request(*again, buf);
      co_await send(*again, fc_204);
      co_await drain(*again);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto error = co_await call_failing(client, "GET", "/", "", 5s);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 503);
    EXPECT_STREQ(error->what(),
                 "Firecracker API: GET /: 503 Service Unavailable: Too many open connections");
    auto next = co_await call(client, "GET", "/", "", 5s);
    EXPECT_EQ(next.status, 204);
    EXPECT_EQ(vmm.accepts(), 2);
  });
}

TEST(http_test, keeps_the_connection_alive_between_requests) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      for (int i = 0; i < 2; ++i) {
        co_await read_request(*s, buf);
        co_await send(*s, fc_204);
      }
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    co_await call(client, "PUT", "/logger", R"({"log_path":"/l"})", 5s);
    co_await call(client, "PUT", "/entropy", "{}", 5s);
    EXPECT_EQ(vmm.accepts(), 1);
  });
}

TEST(http_test, resends_once_when_the_server_closed_a_kept_connection) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      std::string buf;
      auto* first = co_await v.accept();
      co_await read_request(*first, buf);
      co_await send(*first, fc_204);
      first->close();  // an idle connection dropped: the client's next write fails
      buf.clear();
      auto* second = co_await v.accept();
      const auto again = co_await read_request(*second, buf);
      EXPECT_EQ(again.body, "{}");
      co_await send(*second, fc_204);
      // Dropped after the request arrived but before an answer: the client reads EOF.
      co_await read_request(*second, buf);
      second->close();
      buf.clear();
      auto* third = co_await v.accept();
      const auto resent = co_await read_request(*third, buf);
      EXPECT_EQ(resent.body, R"({"action_type":"InstanceStart"})");
      co_await send(*third, fc_204);
      co_await drain(*third);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    co_await call(client, "PUT", "/logger", R"({"log_path":"/l"})", 5s);
    // Let the close arrive before the next request is written.
    asio::steady_timer pause(io, 50ms);
    co_await pause.async_wait(use_awaitable);
    auto entropy = co_await call(client, "PUT", "/entropy", "{}", 5s);
    EXPECT_EQ(entropy.status, 204);
    EXPECT_EQ(vmm.accepts(), 2);
    auto start = co_await call(client, "PUT", "/actions", R"({"action_type":"InstanceStart"})", 5s);
    EXPECT_EQ(start.status, 204);
    EXPECT_EQ(vmm.accepts(), 3);
  });
}

TEST(http_test, does_not_resend_on_a_fresh_connection) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      co_await read_request(*s, buf);
      s->close();  // e.g. a failed snapshot/load, after which Firecracker exits
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto error =
        co_await call_failing(client, "PUT", "/snapshot/load", R"({"snapshot_path":"/s"})", 5s);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 0);
    EXPECT_THAT(error->what(),
                HasSubstr("Firecracker API: PUT /snapshot/load: the connection closed without an "
                          "answer"));
    EXPECT_EQ(vmm.accepts(), 1);
  });
}

TEST(http_test, retries_connecting_until_the_socket_appears) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    auto script = [](asio::io_context& i, FakeVmm& v) -> awaitable<void> {
      asio::steady_timer later(i, 300ms);
      co_await later.async_wait(use_awaitable);
      v.listen();
      auto* s = co_await v.accept();
      std::string buf;
      co_await read_request(*s, buf);
      co_await send(*s, fc_204);
      co_await drain(*s);
    };
    serve(io, script(io, vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    const auto start = Clock::now();
    auto r = co_await call(client, "PUT", "/logger", R"({"log_path":"/l"})", 5s);
    EXPECT_EQ(r.status, 204);
    EXPECT_GE(since(start), 300ms);
    EXPECT_LT(since(start), 2s);
  });
}

TEST(http_test, gives_up_connecting_at_the_deadline) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    Client missing(io.get_executor(), vmm.path(), "Firecracker");
    auto start = Clock::now();
    auto error = co_await call_failing(missing, "GET", "/", "", 400ms);
    EXPECT_GE(since(start), 400ms);
    EXPECT_LT(since(start), 1400ms);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 0);
    EXPECT_THAT(error->what(), HasSubstr("Firecracker API: GET /: timed out after"));
    EXPECT_THAT(error->what(), HasSubstr(fmt::format("while connecting to {} (last attempt: No "
                                                     "such file or directory)",
                                                     vmm.path())));

    // A socket file nobody listens on: ECONNREFUSED, retried the same way.
    local::stream_protocol::acceptor bound_only(io);
    bound_only.open();
    bound_only.bind(local::stream_protocol::endpoint(vmm.path()));
    Client refused(io.get_executor(), vmm.path(), "Firecracker");
    start = Clock::now();
    auto refusal = co_await call_failing(refused, "GET", "/", "", 400ms);
    EXPECT_GE(since(start), 400ms);
    EXPECT_LT(since(start), 1400ms);
    if (!refusal) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(refusal->status(), 0);
    EXPECT_THAT(refusal->what(), HasSubstr("(last attempt: Connection refused)"));
  });
}

TEST(http_test, times_out_when_the_server_never_answers) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    const auto start = Clock::now();
    auto error = co_await call_failing(client, "PUT", "/snapshot/create", "{}", 300ms);
    EXPECT_GE(since(start), 300ms);
    EXPECT_LT(since(start), 1300ms);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 0);
    EXPECT_THAT(error->what(), HasSubstr("Firecracker API: PUT /snapshot/create: timed out after"));
    EXPECT_THAT(error->what(), HasSubstr("while waiting for the response"));
  });
}

TEST(http_test, garbage_is_a_framing_error_at_once) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      std::string buf;
      auto* s = co_await v.accept();
      co_await read_request(*s, buf);
      co_await send(*s, "SSH-2.0-OpenSSH_9.2");  // no line end, and the connection stays open
      co_await drain(*s);
      buf.clear();
      auto* again = co_await v.accept();
      co_await read_request(*again, buf);
      co_await send(*again, "HTTP/1.1 2x4 \r\n\r\n");
      co_await drain(*again);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    const auto start = Clock::now();
    auto error = co_await call_failing(client, "GET", "/", "", 5s);
    EXPECT_LT(since(start), 2s);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(error->status(), 0);
    EXPECT_STREQ(error->what(),
                 "Firecracker API: GET /: malformed HTTP response (no \"HTTP/\" status line); "
                 "received \"SSH-2.0-OpenSSH_9.2\"");
    auto bad_status = co_await call_failing(client, "GET", "/", "", 5s);
    if (!bad_status) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_EQ(bad_status->status(), 0);
    EXPECT_THAT(bad_status->what(), HasSubstr("malformed HTTP response (bad status)"));
    EXPECT_EQ(vmm.accepts(), 2);
  });
}

TEST(http_test, reads_to_eof_when_the_server_closes_and_has_no_length) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      std::string buf;
      auto* s = co_await v.accept();
      co_await read_request(*s, buf);
      co_await send(*s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
      s->close();
      buf.clear();
      auto* again = co_await v.accept();
      co_await read_request(*again, buf);
      // Kept alive without a length: micro-http means "no body" (reference §3.5).
      co_await send(*again, "HTTP/1.1 200 \r\nConnection: keep-alive\r\n\r\n");
      co_await drain(*again);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto to_eof = co_await call(client, "GET", "/", "", 5s);
    EXPECT_EQ(to_eof.body, "until the end");
    auto no_length = co_await call(client, "GET", "/", "", 5s);
    EXPECT_EQ(no_length.status, 200);
    EXPECT_EQ(no_length.body, "");
    EXPECT_EQ(vmm.accepts(), 2);
  });
}

TEST(http_test, refuses_a_body_over_the_limit) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      std::string buf;
      auto* s = co_await v.accept();
      co_await read_request(*s, buf);
      co_await send(
          *s, fmt::format("HTTP/1.1 200 \r\nContent-Length: {}\r\n\r\n{{", Client::max_body + 1));
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto error = co_await call_failing(client, "GET", "/", "", 5s);
    if (!error) {
      ADD_FAILURE() << "no error";
      co_return;
    }
    EXPECT_THAT(error->what(), HasSubstr("the response body is larger than 8388608 bytes"));
  });
}

TEST(http_test, serialises_concurrent_requests_on_one_connection) {
  run([](asio::io_context& io, FakeVmm& vmm) -> awaitable<void> {
    vmm.listen();
    auto script = [](FakeVmm& v) -> awaitable<void> {
      auto* s = co_await v.accept();
      std::string buf;
      for (int i = 0; i < 2; ++i) {
        const auto r = co_await read_request(*s, buf);
        // Exactly one request is in flight at a time.
        EXPECT_EQ(buf, "");
        co_await send(*s, fmt::format("HTTP/1.1 200 \r\nContent-Length: {}\r\n\r\n{}",
                                      r.body.size(), r.body));
      }
      co_await drain(*s);
    };
    serve(io, script(vmm));
    Client client(io.get_executor(), vmm.path(), "Firecracker");
    auto group = asio::experimental::make_parallel_group(
        asio::co_spawn(io, call(client, "PUT", "/a", "\"a\"", 5s), asio::deferred),
        asio::co_spawn(io, call(client, "PUT", "/b", "\"b\"", 5s), asio::deferred));
    auto [order, a_error, a, b_error, b] =
        co_await group.async_wait(asio::experimental::wait_for_all(), use_awaitable);
    (void)order;
    EXPECT_FALSE(a_error);
    EXPECT_FALSE(b_error);
    EXPECT_EQ(a.body, "\"a\"");
    EXPECT_EQ(b.body, "\"b\"");
    EXPECT_EQ(vmm.accepts(), 1);
  });
}

TEST(http_test, vmm_message_reads_every_error_body_shape) {
  EXPECT_EQ(vmm_message(R"({"fault_message":"Empty PUT request."})"), "Empty PUT request.");
  EXPECT_EQ(vmm_message(R"(["Error from API","The VM could not be paused","VM is not running"])"),
            "Error from API: The VM could not be paused: VM is not running");
  // micro-http's own parse error: a raw LF inside the JSON string.
  EXPECT_EQ(vmm_message("{ \"error\": \"Invalid header.\nAll previous unanswered requests will be "
                        "dropped.\" }"),
            "Invalid header. All previous unanswered requests will be dropped.");
  EXPECT_EQ(vmm_message("  VM is not running\n"), "VM is not running");  // CH before v47
  EXPECT_EQ(vmm_message("\"just a string\""), "just a string");
  EXPECT_EQ(vmm_message(R"({"other":1})"), R"({"other":1})");
  EXPECT_EQ(vmm_message(" \r\n"), "");
  EXPECT_EQ(vmm_message(""), "");
}

// Found by tests/fuzz (corpus/http/del-in-error-chain, deeply-nested-error-body): a JSON string
// may hold control bytes and DEL, which went into error messages as they were, and a chain with a
// deeply nested part was dump()ed recursively until the stack overflowed.
TEST(http_test, vmm_message_is_printable_and_bounded_for_every_shape) {
  EXPECT_EQ(vmm_message(R"({"fault_message":"bad \u001b[31mred\u001b[0m"})"),
            "bad \\x1b[31mred\\x1b[0m");
  EXPECT_EQ(vmm_message("[\"Error from api\",\"Cannot\x7f boot\"]"),
            "Error from api: Cannot\\x7f boot");
  const std::string long_message = vmm_message(R"({"error":")" + std::string(5000, 'x') + "\"}");
  EXPECT_LT(long_message.size(), 450u);
  EXPECT_THAT(long_message, HasSubstr("(4600 more bytes)"));
  // A chain that is not all strings is shown as sent.
  EXPECT_EQ(vmm_message(R"(["Error from api", 3])"), R"(["Error from api", 3])");
  const std::string deep =
      "[\"Error from api\"," + std::string(100000, '[') + std::string(100000, ']') + "]";
  EXPECT_THAT(vmm_message(deep), ::testing::StartsWith("[\"Error from api\",[[[["));
}

TEST(http_test, parse_response_reads_what_micro_http_sends) {
  const Response empty = parse_response(fc_204);
  EXPECT_EQ(empty.status, 204);
  EXPECT_EQ(empty.reason, "");
  EXPECT_EQ(empty.body, "");
  const Response busy = parse_response(
      "HTTP/1.1 503\r\nConnection: close\r\nContent-Length: 40\r\n\r\n"
      "{ \"error\": \"Too many open connections\" }");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.body, "{ \"error\": \"Too many open connections\" }");
  const Response to_eof =
      parse_response("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
  EXPECT_EQ(to_eof.reason, "OK");
  EXPECT_EQ(to_eof.body, "until the end");
  const Response chunked = parse_response(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n");
  EXPECT_EQ(chunked.body, "Wikipedia ");
}

/// The message parse_response() fails with, or "(no error)".
std::string parse_error_of(std::string_view bytes) {
  try {
    parse_response(bytes, "Firecracker API: GET /");
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 0);
    return e.what();
  }
  return "(no error)";
}

TEST(http_test, parse_response_names_what_is_wrong) {
  EXPECT_EQ(parse_error_of(""),
            "Firecracker API: GET /: the connection closed without an answer (End of file)");
  EXPECT_EQ(parse_error_of("SSH-2.0-OpenSSH_9.2"),
            "Firecracker API: GET /: malformed HTTP response (no \"HTTP/\" status line); received "
            "\"SSH-2.0-OpenSSH_9.2\"");
  EXPECT_THAT(parse_error_of("HTTP/1.1 2x4 \r\n\r\n"),
              HasSubstr("Firecracker API: GET /: malformed HTTP response (bad status)"));
  EXPECT_THAT(parse_error_of("HTTP/1.1 200 \r\nContent-Length: 5\r\n\r\nab"),
              HasSubstr("Firecracker API: GET /: the connection closed in the middle of the "
                        "response (partial message)"));
  EXPECT_THAT(parse_error_of("HTTP/1.1 200 \r\nContent-Length: 9000000\r\n\r\n"),
              HasSubstr("the response body is larger than 8388608 bytes"));
}

// Found by tests/fuzz (corpus/http/header-over-the-limit): Beast applies its header limit to the
// first piece it parses differently than to later ones, so a header just over it could pass.
TEST(http_test, a_header_over_the_limit_fails_however_it_arrives) {
  const std::string wire = "HTTP/1.1 204 \r\nX: " + std::string(8185, 'a') + "\r\n\r\n";
  const std::string expected = "malformed HTTP response (a header longer than 8192 bytes)";
  EXPECT_THAT(parse_error_of(wire), HasSubstr(expected));
  for (const std::size_t piece : {1u, 4000u, 8191u, 8192u}) {
    ResponseParser parser("Firecracker API: GET /");
    try {
      for (std::size_t at = 0; at < wire.size(); at += piece)
        parser.feed(std::string_view(wire).substr(at, piece));
      ADD_FAILURE() << "no error in pieces of " << piece;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(expected)) << piece;
    }
  }
  // Within the limit, it is a response.
  EXPECT_EQ(parse_response("HTTP/1.1 204 \r\nX: " + std::string(8100, 'a') + "\r\n\r\n").status,
            204);
}

TEST(http_test, response_parser_gives_the_same_answer_for_every_split) {
  const std::string fault =
      R"({"fault_message":"The requested operation is not supported before starting the microVM."})";
  const std::string answers[] = {
      fc_204,
      fmt::format("HTTP/1.1 400 \r\nConnection: keep-alive\r\nContent-Length: {}\r\n\r\n{}",
                  fault.size(), fault),
      "HTTP/1.1 200 \r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
      std::string(fc_204) + fc_204,
  };
  const bool reusable[] = {true, true, false, false, false};
  for (std::size_t i = 0; i < std::size(answers); ++i) {
    const std::string& wire = answers[i];
    const Response whole = parse_response(wire);
    for (std::size_t piece = 1; piece <= wire.size(); ++piece) {
      ResponseParser parser("test");
      bool done = false;
      for (std::size_t at = 0; at < wire.size(); at += piece)
        done = parser.feed(std::string_view(wire).substr(at, piece)) || done;
      if (!done) parser.finish(asio::error::eof);
      EXPECT_EQ(parser.reusable(), reusable[i]) << wire;
      const Response r = parser.take();
      EXPECT_EQ(r.status, whole.status) << wire << " in pieces of " << piece;
      EXPECT_EQ(r.reason, whole.reason) << wire << " in pieces of " << piece;
      EXPECT_EQ(r.body, whole.body) << wire << " in pieces of " << piece;
    }
  }
}

// Found by tests/fuzz (corpus/http/bare-cr-in-header): Beast finds a malformed header line only
// when it parses the header in one piece, so the error used to depend on the read boundaries.
TEST(http_test, a_malformed_header_fails_the_same_way_in_one_read_or_many) {
  const std::string wire = "HTTP/1.1 400 \r\nServer: Firecracker API\r\n\rgarbage\r\n\r\n";
  EXPECT_THAT(parse_error_of(wire), HasSubstr("malformed HTTP response (bad line ending)"));
  ResponseParser parser("Firecracker API: GET /");
  try {
    for (char c : wire) parser.feed(std::string_view(&c, 1));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("malformed HTTP response (bad line ending)"));
  }
}

}  // namespace
}  // namespace attest::http
