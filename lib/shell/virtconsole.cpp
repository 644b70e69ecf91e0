// virtconsole transport: listening unix sockets in the machine's private state dir; QEMU's
// chardevs connect to them when QEMU starts.
#include <fmt/format.h>
#include <unistd.h>

#include "shell/transport.hpp"

namespace attest::shell {

namespace {

void listen_on(asio::local::stream_protocol::acceptor& acceptor, const std::string& path) {
  ::unlink(path.c_str());
  asio::local::stream_protocol::endpoint ep(path);
  acceptor.open(ep.protocol());
  acceptor.bind(ep);
  acceptor.listen(1);
}

}  // namespace

VirtconsoleTransport::VirtconsoleTransport(const asio::any_io_executor& ex, std::string path,
                                           std::string data_path)
    : path_(std::move(path)), data_path_(std::move(data_path)), acceptor_(ex) {
  listen_on(acceptor_, path_);
  if (!data_path_.empty()) {
    data_acceptor_ = std::make_unique<asio::local::stream_protocol::acceptor>(ex);
    listen_on(*data_acceptor_, data_path_);
  }
}

VirtconsoleTransport::~VirtconsoleTransport() {
  error_code ec;
  acceptor_.close(ec);
  ::unlink(path_.c_str());
  if (data_acceptor_) {
    data_acceptor_->close(ec);
    ::unlink(data_path_.c_str());
  }
}

std::string VirtconsoleTransport::describe() const {
  return fmt::format("virtconsole socket {}", path_);
}

awaitable<Channel> VirtconsoleTransport::connect() {
  Channel channel;
  channel.control = std::make_unique<Socket>(acceptor_.get_executor());
  co_await acceptor_.async_accept(*channel.control, use_awaitable);
  if (data_acceptor_) {
    channel.data = std::make_unique<Socket>(acceptor_.get_executor());
    co_await data_acceptor_->async_accept(*channel.data, use_awaitable);
  }
  co_return channel;
}

}  // namespace attest::shell
