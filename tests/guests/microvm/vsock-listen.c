// vsock-listen: the guest half of the microVM shell channel. Listens on AF_VSOCK (any CID,
// PORT), or on TCP ADDR:PORT with --tcp (the vsock emulation of the test doubles, which run
// the guest under QEMU without a vsock device), and runs PROGRAM for each connection in a new
// session with the socket as its stdin and stdout (stderr stays where ours goes: the console).
// Finished children are reaped. Until the listening socket can be made (the vsock device has
// no CID yet, the address is not configured yet, ...) it retries, saying so on stderr.
//
// usage: vsock-listen [--tcp ADDR] PORT PROGRAM [ARGS...]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* const kUsage =
    "usage: vsock-listen [--tcp ADDR] PORT PROGRAM [ARGS...]\n"
    "  listens on vsock port PORT (any CID), or on TCP ADDR:PORT with --tcp, and runs\n"
    "  PROGRAM with each connection as its stdin and stdout\n";

static void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("vsock-listen: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void usage_error(const char* what) {
  say("%s", what);
  fputs(kUsage, stderr);
  exit(2);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reap_children(int sig) {
  (void)sig;
  const int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

struct listen_spec {
  int tcp;
  unsigned port;
  int family;  // AF_INET or AF_INET6 with --tcp
  struct in_addr addr4;
  struct in6_addr addr6;
  const char* addr_text;
};

// The guest's vsock CID, or VMADDR_CID_ANY while there is no vsock device (the transport
// module is loaded but no device was probed) or no vsock support at all.
static unsigned vsock_local_cid(char* why, size_t why_len) {
  const int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, why_len, "cannot open /dev/vsock (%s): is the vsock module loaded?",
             strerror(errno));
    return VMADDR_CID_ANY;
  }
  unsigned cid = VMADDR_CID_ANY;
  if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) != 0) {
    snprintf(why, why_len, "cannot get the local CID from /dev/vsock (%s)", strerror(errno));
    cid = VMADDR_CID_ANY;
  } else if (cid == VMADDR_CID_ANY) {
    snprintf(why, why_len,
             "no vsock device (the guest has no CID; vmw_vsock_virtio_transport loaded?)");
  }
  close(fd);
  return cid;
}

// One attempt at the listening socket: its fd, or -1 with the reason in `why`.
static int try_listen(const struct listen_spec* spec, char* why, size_t why_len) {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_vm vm;
  } addr;
  socklen_t addr_len;
  memset(&addr, 0, sizeof addr);
  int family;
  if (spec->tcp) {
    family = spec->family;
    if (family == AF_INET) {
      addr.in4.sin_family = AF_INET;
      addr.in4.sin_port = htons((unsigned short)spec->port);
      addr.in4.sin_addr = spec->addr4;
      addr_len = sizeof addr.in4;
    } else {
      addr.in6.sin6_family = AF_INET6;
      addr.in6.sin6_port = htons((unsigned short)spec->port);
      addr.in6.sin6_addr = spec->addr6;
      addr_len = sizeof addr.in6;
    }
  } else {
    family = AF_VSOCK;
    if (vsock_local_cid(why, why_len) == VMADDR_CID_ANY) return -1;
    addr.vm.svm_family = AF_VSOCK;
    addr.vm.svm_port = spec->port;
    addr.vm.svm_cid = VMADDR_CID_ANY;
    addr_len = sizeof addr.vm;
  }
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, why_len, "socket: %s", strerror(errno));
    return -1;
  }
  if (spec->tcp) {
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (bind(fd, &addr.sa, addr_len) != 0) {
    snprintf(why, why_len, "bind: %s", strerror(errno));
    close(fd);
    return -1;
  }
  if (listen(fd, 16) != 0) {
    snprintf(why, why_len, "listen: %s", strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static void describe(const struct listen_spec* spec, char* out, size_t len) {
  if (spec->tcp)
    snprintf(out, len, "tcp %s%s%s:%u", spec->family == AF_INET6 ? "[" : "", spec->addr_text,
             spec->family == AF_INET6 ? "]" : "", spec->port);
  else
    snprintf(out, len, "vsock port %u", spec->port);
}

// Retries every 100 ms until the socket is made, repeating the reason every 10 s (and whenever
// it changes).
static int listen_with_retry(const struct listen_spec* spec) {
  char where[96], why[256], last_why[256] = "";
  describe(spec, where, sizeof where);
  double last_said = 0;
  for (;;) {
    why[0] = '\0';
    const int fd = try_listen(spec, why, sizeof why);
    if (fd >= 0) {
      if (spec->tcp) {
        say("listening on %s", where);
      } else {
        char ignored[8];
        say("listening on %s (guest CID %u)", where, vsock_local_cid(ignored, sizeof ignored));
      }
      return fd;
    }
    const double t = now_s();
    if (strcmp(why, last_why) != 0 || t - last_said >= 10) {
      say("cannot listen on %s yet: %s; retrying", where, why);
      snprintf(last_why, sizeof last_why, "%s", why);
      last_said = t;
    }
    sleep_ms(100);
  }
}

static void serve(int conn, const struct listen_spec* spec, char** program) {
  if (spec->tcp) {
    const int one = 1;  // the shell protocol is line by line: no Nagle delays
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  const pid_t pid = fork();
  if (pid < 0) {
    say("fork: %s; dropping the connection", strerror(errno));
    close(conn);
    return;
  }
  if (pid > 0) {
    close(conn);
    return;
  }
  // The child: a session of its own, the socket as stdin and stdout.
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() < 0) say("setsid: %s", strerror(errno));
  if (dup2(conn, 0) < 0 || dup2(conn, 1) < 0) {
    say("dup2: %s", strerror(errno));
    _exit(127);
  }
  if (conn > 1) close(conn);
  execvp(program[0], program);
  say("cannot run %s: %s", program[0], strerror(errno));
  _exit(127);
}

int main(int argc, char** argv) {
  struct listen_spec spec;
  memset(&spec, 0, sizeof spec);
  int i = 1;
  if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
    fputs(kUsage, stdout);
    return 0;
  }
  if (i < argc && strcmp(argv[i], "--tcp") == 0) {
    if (i + 1 >= argc) usage_error("--tcp needs an address");
    spec.tcp = 1;
    spec.addr_text = argv[i + 1];
    if (inet_pton(AF_INET, spec.addr_text, &spec.addr4) == 1) {
      spec.family = AF_INET;
    } else if (inet_pton(AF_INET6, spec.addr_text, &spec.addr6) == 1) {
      spec.family = AF_INET6;
    } else {
      say("--tcp: '%s' is not a numeric IPv4 or IPv6 address", spec.addr_text);
      fputs(kUsage, stderr);
      return 2;
    }
    i += 2;
  }
  if (argc - i < 2) usage_error("missing PORT or PROGRAM");
  char* end;
  errno = 0;
  const unsigned long port = strtoul(argv[i], &end, 10);
  if (errno != 0 || end == argv[i] || *end != '\0' || argv[i][0] == '-' || port == 0 ||
      port > (spec.tcp ? 65535UL : 0xfffffffeUL)) {
    say("invalid port '%s'", argv[i]);
    fputs(kUsage, stderr);
    return 2;
  }
  spec.port = (unsigned)port;
  char** program = argv + i + 1;

  // Descriptors 0-2 must be taken, so that no socket lands on them (dup2 onto itself would
  // keep its close-on-exec flag).
  int null_fd;
  while ((null_fd = open("/dev/null", O_RDWR)) >= 0 && null_fd <= 2) {
  }
  if (null_fd > 2) close(null_fd);

  // Reap finished connections from a handler, so accept() need not be interrupted for it.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = reap_children;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  const int fd = listen_with_retry(&spec);
  for (;;) {
    const int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn >= 0) {
      serve(conn, &spec, program);
      continue;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
        break;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        say("accept: %s; retrying in 100 ms", strerror(errno));
        sleep_ms(100);
        break;
      default:
        say("accept: %s", strerror(errno));
        sleep_ms(100);
        break;
    }
  }
}
