#include "process/foreground.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>

namespace attest::process {

namespace {

/// Reads `fd` to its end.
std::string drain(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

ForegroundResult run_foreground(const std::vector<std::string>& argv,
                                const ForegroundOptions& options) {
  if (argv.empty()) throw std::invalid_argument("run_foreground: no program");
  int pipefd[2] = {-1, -1};
  if (options.capture_stdout && ::pipe2(pipefd, O_CLOEXEC) != 0)
    throw std::runtime_error(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // What this process buffered must not be written twice (by the child's copy too).
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const std::string who(options.who);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    if (options.capture_stdout) {
      ::close(pipefd[0]);
      ::close(pipefd[1]);
    }
    throw std::runtime_error(fmt::format("cannot fork: {}", std::strerror(err)));
  }
  if (pid == 0) {
    if (options.capture_stdout) ::dup2(pipefd[1], STDOUT_FILENO);
    if (options.search_path)
      ::execvp(args[0], args.data());
    else
      ::execv(args[0], args.data());
    std::fprintf(stderr, "%s: cannot run %s: %s\n", who.c_str(), args[0], std::strerror(errno));
    ::_exit(127);
  }
  ForegroundResult result;
  if (options.capture_stdout) {
    ::close(pipefd[1]);
    result.out = drain(pipefd[0]);
    ::close(pipefd[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
  result.status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return result;
}

}  // namespace attest::process
