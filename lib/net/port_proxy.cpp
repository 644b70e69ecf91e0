// forward_port on the TAP path: accept on the host, connect inside the namespace, copy both ways.
#include "net/port_proxy.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <list>

#include "attest/error.hpp"
#include "core/log.hpp"

namespace attest::net {

using tcp = asio::ip::tcp;

struct PortProxy::State {
  explicit State(const asio::any_io_executor& ex) : acceptor(ex) {}
  tcp::acceptor acceptor;
  Connect connect;
  std::uint16_t port = 0;
  bool closed = false;
  std::list<std::weak_ptr<tcp::socket>> sockets;  // to close them all when the proxy goes
};

namespace {

awaitable<void> copy(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  std::array<char, std::size_t{16} * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (n > 0) {
      auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buf.data(), n),
                                                  asio::as_tuple(use_awaitable));
      (void)wn;
      if (wec) break;
    }
    if (ec) break;
  }
  // Pass the end on (half-close), so request/response protocols finish cleanly.
  error_code ignored;
  to->shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> carry(std::shared_ptr<PortProxy::State> s, std::shared_ptr<tcp::socket> outer) {
  auto ex = co_await asio::this_coro::executor;
  int fd = -1;
  std::string failure;
  try {
    fd = co_await s->connect();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (fd < 0 || s->closed) {
    if (fd >= 0) ::close(fd);
    if (!failure.empty())
      detail::log_error(
          "", fmt::format("forwarded port {}: cannot reach the guest: {}", s->port, failure));
    co_return;
  }
  auto inner = std::make_shared<tcp::socket>(ex);
  error_code ec;
  inner->assign(tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    co_return;
  }
  s->sockets.push_back(inner);
  asio::co_spawn(ex, copy(outer, inner), asio::detached);
  asio::co_spawn(ex, copy(inner, outer), asio::detached);
}

awaitable<void> accept_loop(std::shared_ptr<PortProxy::State> s) {
  auto ex = co_await asio::this_coro::executor;
  while (!s->closed) {
    auto outer = std::make_shared<tcp::socket>(ex);
    auto [ec] = co_await s->acceptor.async_accept(*outer, asio::as_tuple(use_awaitable));
    if (ec) break;
    s->sockets.remove_if([](const auto& w) { return w.expired(); });
    s->sockets.push_back(outer);
    asio::co_spawn(ex, carry(s, outer), asio::detached);
  }
}

}  // namespace

PortProxy::PortProxy(const asio::any_io_executor& ex, std::uint16_t host_port, Connect connect)
    : state_(std::make_shared<State>(ex)) {
  state_->connect = std::move(connect);
  state_->port = host_port;
  error_code ec;
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), host_port);
  state_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) state_->acceptor.bind(endpoint, ec);
  if (!ec) state_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw BackendError(
        fmt::format("forward_port: cannot listen on 127.0.0.1:{}: {}", host_port, ec.message()), "",
        "forward_port");
  asio::co_spawn(ex, accept_loop(state_), asio::detached);
}

PortProxy::~PortProxy() {
  state_->closed = true;
  error_code ec;
  state_->acceptor.close(ec);
  for (auto& w : state_->sockets)
    if (auto sock = w.lock()) sock->close(ec);
}

}  // namespace attest::net
