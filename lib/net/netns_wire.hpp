// Internal: what the driver (netns.cpp) and the namespace's holder process (netns_holder.cpp)
// share: the framing of their SOCK_SEQPACKET messages and the holder's entry point.
#pragma once

#include <fmt/format.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace attest::net::wire {

// Every request is answered well within this (the holder's own connect timeout is shorter); a
// holder that does not answer is stuck, and the caller gets an error rather than a hang.
constexpr std::chrono::seconds request_timeout{5};
constexpr int holder_connect_timeout_s = 3;
constexpr std::size_t max_message = std::size_t{64} * 1024;
constexpr int holder_fd = 3;

constexpr char reply_ok = 'o';
constexpr char reply_error = 'e';

inline std::string errno_text(int err) {
  const char* text = ::strerrordesc_np(err);
  return text != nullptr ? text : fmt::format("error {}", err);
}

/// A request is its fields, each NUL-terminated; a reply is a status byte, then its fields.
inline std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    out += f;
    out.push_back('\0');
  }
  return out;
}

inline std::string join_fields(char status, const std::vector<std::string>& fields) {
  return std::string(1, status) + join_fields(fields);
}

inline std::vector<std::string> split_fields(std::string_view data) {
  std::vector<std::string> out;
  while (!data.empty()) {
    const auto end = data.find('\0');
    out.emplace_back(data.substr(0, end));
    if (end == std::string_view::npos) break;
    data.remove_prefix(end + 1);
  }
  return out;
}

inline void send_message(int sock, const std::string& data, int fd = -1) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  if (fd >= 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    ::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

/// The holder process: unshares the namespace, reports ready on `sock` and serves requests until
/// the driver closes its end. Never returns.
[[noreturn]] void holder_main(int sock, pid_t parent, uid_t uid, gid_t gid, std::string tun);

}  // namespace attest::net::wire
