// The hybrid vsock transport against an in-process fake VMM that behaves like Firecracker's vsock
// muxer (vmm-api.md §4.1): it takes the CONNECT line from its first read only, closes the
// connection while the "guest" has no listener, and answers OK with the guest's first bytes in the
// same write. Every test also checks that nothing is left pending on the io_context afterwards.
#include "shell/vsock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <exception>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "shell/shell.hpp"

extern char** environ;

namespace attest::shell {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

constexpr std::uint32_t guest_port = 1234;
constexpr std::string_view banner = "Spawning backdoor root shell...\n";

// ---------------------------------------------------------------------------------------------
// parse_connect_reply

TEST(vsock_reply_test, accepts_ok_with_a_port) {
  auto reply = parse_connect_reply("OK 1073741824\n");
  EXPECT_EQ(reply.state, ConnectReply::State::ok);
  EXPECT_EQ(reply.host_port, 1073741824u);
  EXPECT_EQ(parse_connect_reply("OK 0\n").host_port, 0u);
  EXPECT_EQ(parse_connect_reply("OK 4294967295\n").host_port, 4294967295u);
}

TEST(vsock_reply_test, incomplete_until_the_newline) {
  for (std::string_view partial : {"", "O", "OK", "OK 10737", "OK 1073741824"})
    EXPECT_EQ(parse_connect_reply(partial).state, ConnectReply::State::incomplete) << partial;
  EXPECT_EQ(parse_connect_reply(std::string(max_connect_reply - 1, 'x')).state,
            ConnectReply::State::incomplete);
}

TEST(vsock_reply_test, rejects_anything_but_ok_and_a_u32) {
  for (std::string_view bad : {"OK\n", "OK \n", "OK x\n", "OK 12x\n", "OK -1\n", "OK +1\n",
                               "OK 4294967296\n", "OK 1073741824\r\n", "ok 1\n", "\n", "ERR\n"}) {
    auto reply = parse_connect_reply(bad);
    EXPECT_EQ(reply.state, ConnectReply::State::rejected) << bad;
    EXPECT_THAT(reply.reason, HasSubstr("instead of \"OK <port>\"")) << bad;
  }
  EXPECT_THAT(parse_connect_reply("ERR\n").reason, HasSubstr("answered \"ERR\""));
}

TEST(vsock_reply_test, rejects_a_line_longer_than_the_limit) {
  auto endless = parse_connect_reply(std::string(max_connect_reply, 'x'));
  EXPECT_EQ(endless.state, ConnectReply::State::rejected);
  EXPECT_THAT(endless.reason, HasSubstr("no newline within 64 bytes"));
  auto long_line = parse_connect_reply("OK " + std::string(70, '1') + "\n");
  EXPECT_EQ(long_line.state, ConnectReply::State::rejected);
  EXPECT_THAT(long_line.reason, HasSubstr("no newline within 64 bytes"));
}

// ---------------------------------------------------------------------------------------------
// The fake VMM

class TempDir {
 public:
  TempDir() {
    std::string path = (std::filesystem::temp_directory_path() / "attest-vsock-XXXXXX").string();
    if (::mkdtemp(path.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = path;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// What the fake does with a well-formed `CONNECT <listener port>\n`, per connection.
enum class Guest {
  no_listener,  ///< closes the connection, as FC does when the guest answers RST
  garbage,      ///< answers "ERR nope\n", then closes
  endless,      ///< answers 100 bytes without a newline and keeps the connection open
  hang,         ///< never answers; keeps the connection open
  listening,    ///< answers "OK 1073741824\n" and the banner in one write
  bash,         ///< as listening, then a host bash on the connection plays the backdoor shell
};

void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

class FakeVmm {
 public:
  FakeVmm(asio::io_context& io, std::string path)
      : io_(io), path_(std::move(path)), acceptor_(io) {}
  ~FakeVmm() {
    stop();
    if (bash_pid_ > 0) {
      ::kill(-bash_pid_, SIGKILL);
      ::waitpid(bash_pid_, nullptr, 0);
    }
  }

  /// Binds the socket (replacing a stale file, as cloud-hypervisor v53 does) and serves
  /// connections: the i-th is handled by `script[i]`, the last entry repeating. A CONNECT for
  /// any port but `listener_port` is closed, like a port without a guest listener.
  void listen(std::vector<Guest> script, std::uint32_t listener_port = guest_port) {
    script_ = std::move(script);
    listener_port_ = listener_port;
    ::unlink(path_.c_str());
    asio::local::stream_protocol::endpoint ep(path_);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    asio::co_spawn(io_, accept_loop(), rethrow);
  }
  awaitable<void> listen_after(std::chrono::milliseconds delay, std::vector<Guest> script) {
    asio::steady_timer timer(io_, delay);
    co_await timer.async_wait(use_awaitable);
    listen(std::move(script));
  }
  /// Stops accepting. Open connections stay (no operation pending on them) until destruction,
  /// so that an operation the transport left behind would still be pending.
  void stop() {
    error_code ec;
    acceptor_.close(ec);
  }

  std::size_t connections() const noexcept { return connections_; }
  std::size_t split_rejects() const noexcept { return split_rejects_; }
  /// The first read of every connection.
  const std::vector<std::string>& commands() const noexcept { return commands_; }

 private:
  awaitable<void> accept_loop() {
    for (;;) {
      auto socket = std::make_unique<Socket>(io_);
      auto [ec] = co_await acceptor_.async_accept(*socket, asio::as_tuple(use_awaitable));
      if (ec) co_return;  // stopped
      const Guest guest = script_[std::min(connections_, script_.size() - 1)];
      ++connections_;
      asio::co_spawn(io_, serve(std::move(socket), guest), rethrow);
    }
  }

  awaitable<void> serve(std::unique_ptr<Socket> socket, Guest guest) {
    std::array<char, 64> buf{};
    auto [ec, n] =
        co_await socket->async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (ec) co_return;
    std::string first(buf.data(), n);
    commands_.push_back(first);
    // Firecracker needs at least 10 bytes in its first read and drops the connection otherwise;
    // demanding the whole line makes any split write visible, however the bytes were divided.
    if (first.back() != '\n') {
      ++split_rejects_;
      co_return;
    }
    if (first != fmt::format("CONNECT {}\n", listener_port_)) co_return;
    std::string reply;
    switch (guest) {
      case Guest::no_listener:
        co_return;
      case Guest::garbage:
        reply = "ERR nope\n";
        break;
      case Guest::endless:
        reply = std::string(100, 'x');
        break;
      case Guest::hang:
        break;
      case Guest::listening:
      case Guest::bash:
        reply = fmt::format("OK 1073741824\n{}", banner);
        break;
    }
    if (!reply.empty()) {
      auto [wec, written] =
          co_await asio::async_write(*socket, asio::buffer(reply), asio::as_tuple(use_awaitable));
      (void)written;
      if (wec) co_return;
    }
    if (guest == Guest::garbage) co_return;
    if (guest == Guest::bash) {
      // The guest's end shares the file description, and cat would fail with EAGAIN on the
      // non-blocking mode Asio switched it to.
      socket->native_non_blocking(false);
      spawn_bash(socket->native_handle());
    }
    held_.push_back(std::move(socket));
  }

  /// The stock backdoor's shell (as in shell_test), minus the banner the "VMM" already sent.
  void spawn_bash(int fd) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    // Otherwise bash would keep the fake's listening socket open after stop().
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    const char* argv[] = {"bash", "--norc", "-c", "exec bash --norc <(exec cat)", nullptr};
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group, killed as one
    posix_spawnattr_setpgroup(&attr, 0);
    if (posix_spawnp(&bash_pid_, "bash", &fa, &attr, const_cast<char**>(argv), environ) != 0)
      bash_pid_ = -1;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
  }

  asio::io_context& io_;
  std::string path_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::vector<Guest> script_;
  std::uint32_t listener_port_ = guest_port;
  std::size_t connections_ = 0;
  std::size_t split_rejects_ = 0;
  std::vector<std::string> commands_;
  std::vector<std::unique_ptr<Socket>> held_;
  pid_t bash_pid_ = -1;
};

/// Reads exactly `size` bytes.
awaitable<std::string> read_exactly(Socket& socket, std::size_t size) {
  std::string bytes(size, '\0');
  co_await asio::async_read(socket, asio::buffer(bytes), use_awaitable);
  co_return bytes;
}

class vsock_test : public ::testing::Test {
 protected:
  /// Runs `body()` (a coroutine factory) on io_, stops the fake when it ends, and then requires
  /// the io_context to run out of work: nothing the transport started may still be pending.
  template <class F>
  void run(F body) {
    std::exception_ptr failure;
    bool finished = false;
    asio::co_spawn(io_, body(), [&](std::exception_ptr e) {
      failure = e;
      finished = true;
      vmm_.stop();
    });
    io_.run_for(30s);
    EXPECT_TRUE(finished) << "the test body did not finish";
    EXPECT_TRUE(io_.stopped()) << "operations were still pending after the test body ended";
    if (failure) std::rethrow_exception(failure);
  }

  /// connect() with a generous deadline, so a transport bug fails the test instead of hanging it.
  awaitable<Channel> connect(HybridVsockTransport& transport) {
    auto op = transport.connect();
    auto raced = co_await detail::race(std::move(op), deadline_after(10s), never_);
    if (raced.end != detail::RaceEnd::done)
      throw std::runtime_error("connect() did not succeed within 10s: " + transport.describe());
    co_return std::move(*raced.value);
  }

  /// The bytes right after the OK line: the banner, which the transport must not have consumed.
  awaitable<std::string> read_banner(Socket& socket) {
    auto op = read_exactly(socket, banner.size());
    auto raced = co_await detail::race(std::move(op), deadline_after(5s), never_);
    if (raced.end != detail::RaceEnd::done) co_return "(the banner never came)";
    co_return std::move(*raced.value);
  }

  TempDir dir_;
  std::string path_ = dir_.file("v.sock");
  asio::io_context io_;
  detail::Event never_{io_.get_executor()};
  FakeVmm vmm_{io_, path_};
};

// ---------------------------------------------------------------------------------------------
// The transport

TEST_F(vsock_test, retries_until_the_guest_listens_and_keeps_the_banner) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::no_listener, Guest::no_listener, Guest::no_listener,
                                 Guest::listening};
    vmm_.listen(std::move(script));
    Channel channel = co_await connect(transport);
    EXPECT_EQ(channel.data, nullptr);
    const std::string after_ok = co_await read_banner(*channel.control);
    EXPECT_EQ(after_ok, banner);
    EXPECT_EQ(channel.control->available(), 0u);
    EXPECT_EQ(vmm_.connections(), 4u);
    EXPECT_EQ(vmm_.split_rejects(), 0u);
    EXPECT_THAT(vmm_.commands(), ::testing::Each(std::string("CONNECT 1234\n")));
    EXPECT_EQ(transport.last_failure(),
              "the VMM closed the connection after CONNECT: no guest listener on port 1234 yet");
    EXPECT_EQ(transport.describe(),
              fmt::format("hybrid vsock {} port 1234 (last attempt: the VMM closed the connection "
                          "after CONNECT: no guest listener on port 1234 yet)",
                          path_));
  });
}

TEST_F(vsock_test, waits_for_the_socket_to_appear) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::listening};
    asio::co_spawn(io_, vmm_.listen_after(300ms, std::move(script)), rethrow);
    const auto start = Clock::now();
    Channel channel = co_await connect(transport);
    EXPECT_GE(Clock::now() - start, 300ms);
    const std::string after_ok = co_await read_banner(*channel.control);
    EXPECT_EQ(after_ok, banner);
    EXPECT_EQ(vmm_.connections(), 1u);
    EXPECT_THAT(transport.last_failure(), HasSubstr("the socket does not exist yet"));
  });
}

TEST_F(vsock_test, wrong_port_is_closed_until_the_deadline) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::listening};
    vmm_.listen(std::move(script), 5678);
    auto op = transport.connect();
    auto raced = co_await detail::race(std::move(op), deadline_after(500ms), never_);
    EXPECT_EQ(raced.end, detail::RaceEnd::deadline);
    EXPECT_GE(vmm_.connections(), 2u);
    EXPECT_EQ(vmm_.split_rejects(), 0u);
    EXPECT_THAT(transport.describe(),
                HasSubstr("(last attempt: the VMM closed the connection after CONNECT: no guest "
                          "listener on port 1234 yet)"));
  });
}

TEST_F(vsock_test, garbage_reply_is_retried) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::garbage, Guest::listening};
    vmm_.listen(std::move(script));
    Channel channel = co_await connect(transport);
    const std::string after_ok = co_await read_banner(*channel.control);
    EXPECT_EQ(after_ok, banner);
    EXPECT_EQ(vmm_.connections(), 2u);
    EXPECT_EQ(transport.last_failure(), "the VMM answered \"ERR nope\" instead of \"OK <port>\"");
  });
}

TEST_F(vsock_test, endless_reply_is_retried) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::endless, Guest::listening};
    vmm_.listen(std::move(script));
    Channel channel = co_await connect(transport);
    const std::string after_ok = co_await read_banner(*channel.control);
    EXPECT_EQ(after_ok, banner);
    EXPECT_EQ(vmm_.connections(), 2u);
    EXPECT_THAT(transport.last_failure(), HasSubstr("no newline within 64 bytes"));
  });
}

TEST_F(vsock_test, hanging_vmm_is_retried_after_the_reply_timeout) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port, 200ms);
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::hang, Guest::listening};
    vmm_.listen(std::move(script));
    const auto start = Clock::now();
    Channel channel = co_await connect(transport);
    EXPECT_GE(Clock::now() - start, 200ms);
    const std::string after_ok = co_await read_banner(*channel.control);
    EXPECT_EQ(after_ok, banner);
    EXPECT_EQ(vmm_.connections(), 2u);
    EXPECT_EQ(transport.last_failure(), "no reply to CONNECT within 200ms");
  });
}

TEST_F(vsock_test, deadline_without_a_socket_names_the_reason) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    auto op = transport.connect();
    auto raced = co_await detail::race(std::move(op), deadline_after(300ms), never_);
    EXPECT_EQ(raced.end, detail::RaceEnd::deadline);
    EXPECT_EQ(transport.describe(),
              fmt::format("hybrid vsock {} port 1234 (last attempt: the socket does not exist yet "
                          "(the VMM has not bound it))",
                          path_));
  });
}

TEST_F(vsock_test, stale_socket_file_refuses_until_the_vmm_binds) {
  {
    // A socket file nobody listens on any more, as a killed VMM leaves behind.
    asio::local::stream_protocol::acceptor stale(io_,
                                                 asio::local::stream_protocol::endpoint(path_));
  }
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    detail::Event abort(io_.get_executor());
    auto op = transport.connect();
    asio::steady_timer abort_timer(io_, 300ms);
    abort_timer.async_wait([&](error_code) { abort.set(); });
    auto raced = co_await detail::race(std::move(op), Deadline::max(), abort);
    EXPECT_EQ(raced.end, detail::RaceEnd::aborted);
    EXPECT_THAT(transport.last_failure(), HasSubstr("the socket refuses connections"));

    std::vector<Guest> script = {Guest::listening};
    vmm_.listen(std::move(script));
    Channel channel = co_await connect(transport);
    const std::string after_ok = co_await read_banner(*channel.control);
    EXPECT_EQ(after_ok, banner);
    EXPECT_THAT(transport.last_failure(), IsEmpty());  // a new connect() starts afresh
  });
}

TEST_F(vsock_test, cancellation_mid_handshake_leaves_nothing_pending) {
  // The reply timeout is far away: an attempt left running after the race would keep the
  // io_context busy (and the test slow) instead of ending with it.
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port, 20s);
  const auto start = Clock::now();
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::hang};
    vmm_.listen(std::move(script));
    auto op = transport.connect();
    auto raced = co_await detail::race(std::move(op), deadline_after(200ms), never_);
    EXPECT_EQ(raced.end, detail::RaceEnd::deadline);
    EXPECT_EQ(vmm_.connections(), 1u);
    // The cancelled attempt did not fail on its own, so it must not be reported as a timeout.
    EXPECT_THAT(transport.last_failure(), IsEmpty());
  });
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(vsock_test, fake_rejects_a_split_connect_line) {
  // Proves the fake notices a split CONNECT, so that split_rejects() == 0 elsewhere shows the
  // transport sends the line in one write.
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::listening};
    vmm_.listen(std::move(script));
    Socket client(io_);
    co_await client.async_connect(asio::local::stream_protocol::endpoint(path_), use_awaitable);
    const std::string head = "CONN";
    const std::string tail = "ECT 1234\n";
    co_await asio::async_write(client, asio::buffer(head), use_awaitable);
    asio::steady_timer pause(io_, 100ms);
    co_await pause.async_wait(use_awaitable);
    auto [wec, written] =
        co_await asio::async_write(client, asio::buffer(tail), asio::as_tuple(use_awaitable));
    (void)wec;
    (void)written;
    std::array<char, 16> buf{};
    auto [rec, n] =
        co_await client.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    EXPECT_TRUE(rec == asio::error::eof || rec == asio::error::connection_reset) << rec.message();
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(vmm_.split_rejects(), 1u);
  });
}

TEST_F(vsock_test, shell_runs_over_the_channel) {
  HybridVsockTransport transport(io_.get_executor(), path_, guest_port);
  run([&]() -> awaitable<void> {
    std::vector<Guest> script = {Guest::no_listener, Guest::bash};
    vmm_.listen(std::move(script));
    Channel channel = co_await connect(transport);
    Shell shell(std::move(channel), "vsock-guest");
    // The banner came in the same write as OK: the handshake finds it only if the transport
    // left it in the socket.
    co_await shell.handshake();
    EXPECT_TRUE(shell.ready());
    auto r = co_await shell.run("echo hello over vsock; exit 7", std::nullopt);
    EXPECT_EQ(r.status, 7);
    EXPECT_EQ(r.output, "hello over vsock\n");
    shell.close();
  });
}

TEST(vsock_lifetime_test, destroying_the_io_context_mid_connect_is_safe) {
  TempDir dir;
  auto io = std::make_unique<asio::io_context>();
  HybridVsockTransport transport(io->get_executor(), dir.file("absent.sock"), guest_port);
  bool completed = false;
  asio::co_spawn(*io, transport.connect(), [&](std::exception_ptr, Channel) { completed = true; });
  io->run_for(200ms);
  EXPECT_FALSE(completed);
  io.reset();  // destroys the suspended connect() with its timer and socket
  EXPECT_FALSE(completed);
  EXPECT_THAT(transport.last_failure(), HasSubstr("does not exist"));
}

TEST(vsock_lifetime_test, over_long_path_throws_at_construction) {
  asio::io_context io;
  EXPECT_THROW(HybridVsockTransport(io.get_executor(), "/" + std::string(200, 'x'), guest_port),
               boost::system::system_error);
}

}  // namespace
}  // namespace attest::shell
