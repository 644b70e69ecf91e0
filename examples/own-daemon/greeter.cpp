// greeter: a small daemon of "your own": it listens on a TCP port and answers every connection
// with one line naming the host, then closes it. Built by this example's Makefile, copied into
// the image by the spec (own-daemon.json) and started by its unit (greeter.service).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 7000;
  const int server = ::socket(AF_INET6, SOCK_STREAM, 0);
  const int off = 0, on = 1;
  ::setsockopt(server, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);  // IPv4 too
  ::setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(static_cast<unsigned short>(port));
  addr.sin6_addr = in6addr_any;
  if (::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(server, 16) != 0) {
    std::perror("greeter: cannot listen");
    return 1;
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string line = std::string("hello from greeter on ") + host + "\n";
  std::fprintf(stderr, "greeter: listening on port %d\n", port);
  for (;;) {
    const int client = ::accept(server, nullptr, nullptr);
    if (client < 0) continue;
    (void)::write(client, line.data(), line.size());
    ::close(client);
  }
}
