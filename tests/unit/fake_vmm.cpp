// attest-fake-vmm: a stand-in for a VMM process, so that machine_test.cpp drives MachineImpl's
// state machine (boot, commands, waits, power, reboots, snapshots) in milliseconds instead of
// booting guests under QEMU. The "guest" is a real bash on the host behind the same backdoor
// protocol NixOS uses; the tests make it misbehave from inside with ordinary guest commands.
//
// What it models of a VMM (QEMU with a virtconsole), and how:
// - The shell channel: it connects to the unix socket the host listens on (--shell), as QEMU's
//   `-chardev socket` does, and keeps that connection for its whole life, across guest resets.
//   It owns the connection and relays the bytes between it and the guest's console device (a
//   socket pair), so the connection ends when this process ends, as QEMU's does: the kernel
//   closes it before the host learns of the exit. With --connection direct, the guest's
//   processes hold the host's connection themselves instead (a VMM that lets its children keep
//   the connection): it then closes only when they die, after the exit is known.
// - The guest: `bash --norc -c PREAMBLE` with the console device as stdin and stdout (the
//   preamble prints the banner `Spawning backdoor root shell...`, then `exec bash --norc
//   <(exec cat)`, the trick of shell_test.cpp's HostBash); its stderr is relayed to this
//   program's stdout, the machine's serial console (NixOS sends the backdoor's stderr there).
// - The guest's view of the VMM: ATTEST_FAKE_VMM_PID (this process), ATTEST_FAKE_VMM_CONTROL (a
//   FIFO taking one request a line, below), ATTEST_FAKE_GUEST_BOOT (1, then +1 at every reset),
//   ATTEST_FAKE_GUEST_ROOT (`initrd` or `system`: where the shell runs, below),
//   ATTEST_FAKE_GUEST_SHELL_PID (the backdoor shell, which a test may stop to freeze the guest)
//   and the functions `poweroff` and `reboot`, which ask this program through the FIFO. The
//   guest's working directory is this program's: the machine's private state directory.
//   Guest requests (`echo REQUEST > "$ATTEST_FAKE_VMM_CONTROL"`):
//     poweroff          the guest powers off: "reboot: Power down" on the console, exit 0
//     reboot            the guest reboots: with the reboot action `reset`, the guest processes are
//                       killed, the reset marker goes to the console and, 200 ms later, a new
//                       guest starts on the same connection (its banner again); with `shutdown`
//                       (QEMU -no-reboot), the VMM exits 0
//     exit N            the VMM exits with status N (a VMM crash)
//     hangup            the shell connection closes (the guest shell is killed) while the VMM
//                       goes on
//     switch-root       the initrd switches to the system (in the initrd only): as systemd
//                       stopping the initrd's backdoor service, every guest process gets SIGHUP
//                       (the shell's output copier ignores it, and prints its closed sentinel
//                       once the last writer of its pipe is gone: at once, or later where a
//                       guest job ignores SIGHUP too); once the shell has died,
//                       "systemd[1]: Switching root." goes to the console and the system's shell
//                       starts on the same console device (its banner again; with
//                       --shell-connection per-shell, on a new connection, as the microVMs'
//                       vsock). No reset: no reset marker, ATTEST_FAKE_GUEST_BOOT stays
//     ignore-switch-root
//                       `switch-root` does nothing from now on (a switch that never happens)
//     ignore-poweroff   `poweroff` and `reboot` do nothing from now on (a guest that hangs)
//     ignore-powerdown  the power button does nothing from now on
//     ignore-ctrlaltdel ctrl-alt-delete on the keyboard does nothing from now on
//   The VMM dies by a signal when the guest sends one: `kill -TERM $ATTEST_FAKE_VMM_PID`.
// - A systemd initrd (--root initrd, NixOS's testing.initrdBackdoor): every boot's shell starts in
//   the initrd (ATTEST_FAKE_GUEST_ROOT=initrd). The guest then has a `systemctl` function for the
//   two units Machine::switch_root uses (other units go to the systemctl on PATH): initrd.target
//   is active in the initrd (not found in the system), with no jobs, and `systemctl isolate
//   initrd-switch-root.target` in the initrd sends the `switch-root` request. Without --root the
//   shell starts in the system (ATTEST_FAKE_GUEST_ROOT=system) and there is no such function.
// - The host's control channel (QEMU's QMP) is this program's stdin, one command a line:
//     reboot-action reset|shutdown   QMP set-action reboot=... (what a guest reboot does)
//     powerdown                      the power button (QMP system_powerdown): as `poweroff`
//     send-key KEYS                  QMP send-key (KEYS as "ctrl-alt-delete"): noted on the
//                                    console; ctrl-alt-delete makes the guest reboot, as
//                                    `reboot` does (a guest's init reboots on it)
//     quit                           QMP quit: the VMM exits 0 at once
//     reconnect                      the connection is reset (a microVM's vsock after a
//                                    snapshot): the guest shell is killed, the VMM connects to
//                                    --shell again and starts a new guest shell there
// - Start-up: the ready line on stderr once the shell socket is connected (the backend's start()
//   returns then, as QEMU's does once QMP answers); --fail-start MESSAGE exits 1 before it.
// - Banner options: --banner normal|split|none (split: the banner arrives in two writes 0.1 s
//   apart, after a line of noise; none: the guest never starts its backdoor), --banner-delay-ms.
// - The console device: this program holds it for the VMM's life, as a VMM holds its virtconsole
//   (a reset makes a new one), so the shells of both roots of a boot write to the same device.
//
// Every guest process is in this program's process group, which the host's VmmProcess kills as
// a whole when the VMM exits: nothing of a guest outlives its VMM. (`timeout(1)`, which guest
// commands with their own timeout run under, makes a group of its own: such a command outlives
// the VMM by at most its timeout. Because the guest's stderr reaches the console through this
// program, it never holds the host's console pipe open.)
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

// The same lines as fake_backend.hpp's fake_reset_marker and fake_ready_line.
/// The console line that tells the fake backend that the guest reset (QEMU: the QMP RESET event).
constexpr std::string_view reset_marker = "attest-fake-vmm: guest reset";
/// How long a guest reset takes before the new guest starts.
constexpr useconds_t reset_pause_us = 200000;
/// The start of the stderr line that tells the fake backend the VMM is up.
constexpr std::string_view ready_line = "attest-fake-vmm: ready";
/// The guest's systemctl with --root initrd: the units of Machine::switch_root (see the top of
/// the file), anything else to the systemctl on PATH. Exported, so the `bash -c` of a command
/// with its own timeout has it too.
constexpr const char* initrd_systemctl = R"sh(systemctl() {
  local a verb= unit=
  for a in "$@"; do
    case $a in
      -*|0) ;;
      *) if [ -z "$verb" ]; then verb=$a; elif [ -z "$unit" ]; then unit=$a; fi ;;
    esac
  done
  case $unit in
    initrd.target|initrd-switch-root.target) ;;
    *) command systemctl "$@"; return ;;
  esac
  local state=inactive sub=dead load=not-found
  if [ "$ATTEST_FAKE_GUEST_ROOT" = initrd ]; then state=active; sub=active; load=loaded; fi
  case $verb in
    show)
      printf 'ActiveState=%s\nSubState=%s\n' "$state" "$sub"
      printf 'LoadState=%s\nResult=success\n' "$load" ;;
    status) echo "* $unit"; echo "   Active: $state" ;;
    list-jobs) ;;
    isolate)
      if [ "$unit" != initrd-switch-root.target ] || [ "$state" != active ]; then
        echo "Failed to start $unit: Unit $unit not found." >&2; return 5
      fi
      echo switch-root > "$ATTEST_FAKE_VMM_CONTROL" ;;
    *) echo "attest-fake-vmm: systemctl $verb $unit is not modelled" >&2; return 1 ;;
  esac
}; export -f systemctl; )sh";

struct Options {
  std::string shell_path;
  std::string control_path;
  std::string banner = "normal";
  long banner_delay_ms = 0;
  bool reboot_resets = false;
  bool direct = false;     ///< the guest holds the host's connection itself
  bool initrd = false;     ///< every boot's shell starts in a systemd initrd (--root initrd)
  bool per_shell = false;  ///< a new root's shell gets a new connection (--shell-connection)
  std::string fail_start;
};

int sigchld_pipe[2] = {-1, -1};

void on_sigchld(int) {
  const int saved = errno;
  const char c = 0;
  const auto ignored = ::write(sigchld_pipe[1], &c, 1);
  (void)ignored;
  errno = saved;
}

/// Writes all of `bytes`; false when `fd` failed (the peer is gone).
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void console(std::string_view line) { write_all(STDOUT_FILENO, std::string(line) + "\n"); }

void note(std::string_view line) {
  write_all(STDERR_FILENO, "attest-fake-vmm: " + std::string(line) + "\n");
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "attest-fake-vmm: %s\nusage: attest-fake-vmm --shell SOCKET --control FIFO "
               "[--reboot-action reset|shutdown] [--banner normal|split|none] "
               "[--banner-delay-ms N] [--connection relay|direct] [--root initrd|system] "
               "[--shell-connection kept|per-shell] [--fail-start MESSAGE]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage("missing value");
    const std::string_view value = argv[++i];
    if (arg == "--shell")
      o.shell_path = value;
    else if (arg == "--control")
      o.control_path = value;
    else if (arg == "--banner")
      o.banner = value;
    else if (arg == "--banner-delay-ms")
      o.banner_delay_ms = std::strtol(argv[i], nullptr, 10);
    else if (arg == "--reboot-action")
      o.reboot_resets = value == "reset";
    else if (arg == "--connection")
      o.direct = value == "direct";
    else if (arg == "--root")
      o.initrd = value == "initrd";
    else if (arg == "--shell-connection")
      o.per_shell = value == "per-shell";
    else if (arg == "--fail-start")
      o.fail_start = value;
    else
      usage("unknown option");
  }
  if (o.shell_path.empty() || o.control_path.empty()) usage("--shell and --control are required");
  if (o.banner != "normal" && o.banner != "split" && o.banner != "none")
    usage("--banner takes normal, split or none");
  return o;
}

int connect_shell(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof(addr.sun_path)) return -1;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class FakeVmm {
 public:
  explicit FakeVmm(Options options)
      : o_(std::move(options)), root_(o_.initrd ? "initrd" : "system") {}

  int run() {
    if (!o_.fail_start.empty()) {
      note(o_.fail_start);
      return 1;
    }
    console("[    0.000000] Linux version 6.1.0-attest-fake (attest-fake-vmm)");
    console("[    0.010000] attest-fake-vmm: guest booting");
    if (::pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
        ::pipe2(stderr_relay_, O_CLOEXEC | O_NONBLOCK) != 0) {
      note("cannot create pipes");
      return 1;
    }
    struct sigaction sa {};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    ::sigaction(SIGCHLD, &sa, nullptr);
    ::unlink(o_.control_path.c_str());
    if (::mkfifo(o_.control_path.c_str(), 0600) != 0) {
      note("cannot create the control FIFO " + o_.control_path + ": " + std::strerror(errno));
      return 1;
    }
    // Read and write: a FIFO with a writer never reports EOF between the guest's requests.
    control_ = ::open(o_.control_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    host_ = connect_shell(o_.shell_path);
    if (control_ < 0 || host_ < 0) {
      note("cannot connect to the shell socket " + o_.shell_path + ": " + std::strerror(errno));
      return 1;
    }
    write_all(STDERR_FILENO,
              std::string(ready_line) + " (pid " + std::to_string(::getpid()) + ")\n");
    start_guest();
    return loop();
  }

 private:
  int loop() {
    std::string stdin_buffer;
    std::string control_buffer;
    bool stdin_open = true;
    for (;;) {
      // Relay the connection only when this program holds it (--connection relay).
      const bool relay = !o_.direct;
      pollfd fds[6] = {{stdin_open ? STDIN_FILENO : -1, POLLIN, 0},
                       {control_, POLLIN, 0},
                       {stderr_relay_[0], POLLIN, 0},
                       {sigchld_pipe[0], POLLIN, 0},
                       {relay ? host_ : -1, POLLIN, 0},
                       {relay ? guest_end_ : -1, POLLIN, 0}};
      if (::poll(fds, 6, -1) < 0) {
        if (errno == EINTR) continue;
        note("poll failed");
        return 1;
      }
      // The guest's console first, so that its last lines precede what follows them.
      if (fds[2].revents != 0) relay_stderr();
      if (fds[5].revents != 0) guest_to_host();
      if (fds[4].revents != 0) host_to_guest();
      if (fds[3].revents != 0) reap();
      // The host's commands before the guest's requests: set-action must take effect before the
      // `reboot` the host sends right after it.
      if (fds[0].revents != 0) {
        if (!read_lines(STDIN_FILENO, stdin_buffer)) stdin_open = false;
        for (auto& line : take_lines(stdin_buffer))
          if (const int status = host_command(line); status >= 0) return status;
      }
      if (fds[1].revents != 0) {
        read_lines(control_, control_buffer);
        for (auto& line : take_lines(control_buffer))
          if (const int status = guest_request(line); status >= 0) return status;
      }
    }
  }

  /// Handles one host command; returns the exit status when the VMM must exit, else -1.
  int host_command(const std::string& line) {
    if (line == "reboot-action reset") {
      o_.reboot_resets = true;
    } else if (line == "reboot-action shutdown") {
      o_.reboot_resets = false;
    } else if (line == "powerdown") {
      console("attest-fake-vmm: power button pressed");
      if (!ignore_powerdown_) return power_off();
    } else if (line.rfind("send-key ", 0) == 0) {
      const std::string keys = line.substr(9);
      console("attest-fake-vmm: keys pressed: " + keys);
      // The guest's init answers ctrl-alt-delete with a reboot (busybox's ::ctrlaltdel:,
      // systemd's ctrl-alt-del.target).
      if (keys == "ctrl-alt-delete" && !ignore_ctrlaltdel_) return reboot();
    } else if (line == "quit") {
      note("quit");
      stop_guest();
      return 0;
    } else if (line == "reconnect") {
      stop_guest();
      if (!reconnect_host()) return 1;
      start_guest();
    } else {
      note("unknown host command: " + line);
    }
    return -1;
  }

  /// Handles one guest request; returns the exit status when the VMM must exit, else -1.
  int guest_request(const std::string& line) {
    if (line == "poweroff") {
      if (!ignore_poweroff_) return power_off();
    } else if (line == "reboot") {
      if (!ignore_poweroff_) return reboot();
    } else if (line.rfind("exit ", 0) == 0) {
      const int status = std::atoi(line.c_str() + 5);
      note("exiting with status " + std::to_string(status) + " as the guest asked");
      stop_guest();
      return status;
    } else if (line == "hangup") {
      stop_guest();
      close_fd(host_);
      console("attest-fake-vmm: the shell connection hung up");
    } else if (line == "switch-root") {
      return switch_root();
    } else if (line == "ignore-switch-root") {
      ignore_switch_root_ = true;
    } else if (line == "ignore-poweroff") {
      ignore_poweroff_ = true;
    } else if (line == "ignore-powerdown") {
      ignore_powerdown_ = true;
    } else if (line == "ignore-ctrlaltdel") {
      ignore_ctrlaltdel_ = true;
    } else {
      note("unknown guest request: " + line);
    }
    return -1;
  }

  /// The guest reboots: the VMM exits (QEMU -no-reboot) or resets the guest. Returns the exit
  /// status when the VMM must exit, else -1.
  int reboot() {
    console("reboot: Restarting system");
    stop_guest();
    // QEMU with -no-reboot ends when its guest reboots.
    if (!o_.reboot_resets) return 0;
    console(reset_marker);
    ++boot_;
    root_ = o_.initrd ? "initrd" : "system";  // a reset boots the initrd again
    // A reset takes a real guest seconds of firmware and kernel before its new banner, long
    // after the VMM reported the reset (QEMU's RESET event), and the host relies on that
    // order: the reset is seen before the new shell speaks on the same connection. Here too.
    ::usleep(reset_pause_us);
    start_guest();
    return -1;
  }

  /// The initrd's systemd switches to the system (the `switch-root` request; see the top of the
  /// file). Returns the exit status when the VMM must exit, else -1.
  int switch_root() {
    if (root_ != "initrd" || ignore_switch_root_) {
      note("no switch of root (" +
           std::string(root_ != "initrd" ? "not in the initrd" : "ignore-switch-root") + ")");
      return -1;
    }
    // What the old shell wrote before it was stopped reaches the host first.
    relay_stderr();
    if (guest_end_ >= 0) guest_to_host(true);
    // systemd stops the initrd's backdoor service (NixOS's KillSignal=SIGHUP): every guest
    // process, but not this program, which shares their process group.
    ::signal(SIGHUP, SIG_IGN);
    ::kill(0, SIGHUP);
    ::signal(SIGHUP, SIG_DFL);
    if (guest_ > 0) {
      int status = 0;
      while (::waitpid(guest_, &status, 0) < 0 && errno == EINTR) {
      }
      guest_ = -1;
    }
    relay_stderr();
    console("[    2.000000] systemd[1]: Switching root.");
    root_ = "system";
    if (o_.per_shell) {
      // The connection carried the old shell only: the new one comes on a new connection.
      if (guest_end_ >= 0) guest_to_host(true);
      close_fd(guest_end_);
      close_fd(device_);
      if (!reconnect_host()) return 1;
    }
    start_guest();
    return -1;
  }

  /// Closes the shell connection and connects to the host's socket again (a vsock-like
  /// connection per shell); false, noted on the console, when that fails.
  bool reconnect_host() {
    close_fd(host_);
    host_ = connect_shell(o_.shell_path);
    if (host_ < 0) note("cannot connect to the shell socket again");
    return host_ >= 0;
  }

  int power_off() {
    console("reboot: Power down");
    stop_guest();
    return 0;
  }

  std::string preamble() const {
    // The functions reach every guest command: exported functions pass through the environment
    // to the backdoor shell and to the `bash -c` of a command with its own timeout.
    std::string p =
        "poweroff() { echo poweroff > \"$ATTEST_FAKE_VMM_CONTROL\"; }; "
        "reboot() { echo reboot > \"$ATTEST_FAKE_VMM_CONTROL\"; }; "
        "export -f poweroff reboot; export ATTEST_FAKE_GUEST_SHELL_PID=$$; ";
    if (o_.initrd) p += initrd_systemctl;
    if (o_.banner_delay_ms > 0)
      p += "sleep " + std::to_string(o_.banner_delay_ms / 1000) + "." +
           std::to_string(1000 + o_.banner_delay_ms % 1000).substr(1) + "; ";
    if (o_.banner == "split")
      p += "printf 'login: \\nSpawning back'; sleep 0.1; printf 'door root shell...\\n'; ";
    else
      p += "echo 'Spawning backdoor root shell...'; ";
    p += "exec bash --norc <(exec cat)";
    return p;
  }

  void start_guest() {
    if (host_ < 0) return;
    if (o_.banner == "none") {
      console("attest-fake-vmm: this guest starts no backdoor shell");
      return;
    }
    // The guest's console device: the host's connection itself, or a socket pair relayed to it,
    // made anew after a reset and kept across a switch of root.
    if (!o_.direct && device_ < 0) {
      int pair[2] = {-1, -1};
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        note("socketpair failed");
        return;
      }
      guest_end_ = pair[0];
      device_ = pair[1];
    }
    const int device = o_.direct ? host_ : device_;
    const std::string script = preamble();
    const std::string pid = std::to_string(::getpid());
    const std::string boot = std::to_string(boot_);
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child < 0) note("fork failed");
    if (child == 0) {
      // The guest dies with its VMM, even when the VMM is killed.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::signal(SIGCHLD, SIG_DFL);
      ::signal(SIGPIPE, SIG_DFL);
      ::dup2(device, STDIN_FILENO);
      ::dup2(device, STDOUT_FILENO);
      ::dup2(stderr_relay_[1], STDERR_FILENO);
      ::setenv("ATTEST_FAKE_VMM_PID", pid.c_str(), 1);
      ::setenv("ATTEST_FAKE_VMM_CONTROL", o_.control_path.c_str(), 1);
      ::setenv("ATTEST_FAKE_GUEST_BOOT", boot.c_str(), 1);
      ::setenv("ATTEST_FAKE_GUEST_ROOT", root_.c_str(), 1);
      ::execlp("bash", "bash", "--norc", "-c", script.c_str(), static_cast<char*>(nullptr));
      const char message[] = "attest-fake-vmm: cannot run bash from PATH\n";
      const auto ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
      (void)ignored;
      ::_exit(127);
    }
    guest_ = child;
  }

  /// Kills every guest process (all of them are in this process group), as a reset or a power
  /// loss ends everything in the guest at once, after passing on what the guest wrote.
  void stop_guest() {
    relay_stderr();
    if (guest_end_ >= 0) guest_to_host(true);
    if (guest_ > 0) {
      ::signal(SIGTERM, SIG_IGN);
      ::kill(0, SIGTERM);
      ::signal(SIGTERM, SIG_DFL);
      int status = 0;
      while (::waitpid(guest_, &status, 0) < 0 && errno == EINTR) {
      }
      guest_ = -1;
    }
    close_fd(guest_end_);
    close_fd(device_);
    relay_stderr();
  }

  /// Notices the guest shell ending by itself (it exited or was killed inside the guest). The
  /// VMM goes on, as a guest whose backdoor service died goes on.
  void reap() {
    char drain[64];
    while (::read(sigchld_pipe[0], drain, sizeof drain) > 0) {
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != guest_) continue;
      guest_ = -1;
      note(WIFSIGNALED(status) ? "the guest's backdoor shell was killed by signal " +
                                     std::to_string(WTERMSIG(status))
                               : "the guest's backdoor shell exited with status " +
                                     std::to_string(WEXITSTATUS(status)));
    }
  }

  /// Copies what the guest wrote to its stderr to the console.
  void relay_stderr() {
    char buf[4096];
    for (;;) {
      const auto n = ::read(stderr_relay_[0], buf, sizeof buf);
      if (n <= 0) return;
      write_all(STDOUT_FILENO, std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  /// Passes what the guest wrote on its console device to the host (all of it with `drain`).
  void guest_to_host(bool drain = false) {
    char buf[64 * 1024];
    do {
      const auto n = ::recv(guest_end_, buf, sizeof buf, drain ? MSG_DONTWAIT : 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        // The device broke (this program holds its guest end, so no guest can close it).
        close_fd(guest_end_);
        close_fd(device_);
        return;
      }
      if (n < 0) return;
      if (host_ >= 0 && !write_all(host_, std::string_view(buf, static_cast<std::size_t>(n))))
        close_fd(host_);
    } while (drain);
  }

  /// Passes what the host sent to the guest; a closed connection stays closed (as QEMU's chardev
  /// without `reconnect`), and what the guest writes meanwhile is lost.
  void host_to_guest() {
    char buf[64 * 1024];
    const auto n = ::read(host_, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0 || errno != EINTR) close_fd(host_);
      return;
    }
    if (guest_end_ >= 0) write_all(guest_end_, std::string_view(buf, static_cast<std::size_t>(n)));
  }

  /// Appends what `fd` has to `buffer`; false at EOF.
  static bool read_lines(int fd, std::string& buffer) {
    char buf[1024];
    for (;;) {
      const auto n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        buffer.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) return false;
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
  }

  static std::vector<std::string> take_lines(std::string& buffer) {
    std::vector<std::string> lines;
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      lines.push_back(buffer.substr(0, nl));
      buffer.erase(0, nl + 1);
    }
    return lines;
  }

  Options o_;
  int control_ = -1;
  int host_ = -1;       ///< the connection to the host's shell socket
  int guest_end_ = -1;  ///< this program's end of the guest's console device (relay mode)
  int device_ = -1;     ///< the guest's end of it, which every shell of a boot gets
  int stderr_relay_[2] = {-1, -1};
  pid_t guest_ = -1;
  int boot_ = 1;
  bool ignore_poweroff_ = false;
  bool ignore_powerdown_ = false;
  bool ignore_ctrlaltdel_ = false;
  bool ignore_switch_root_ = false;
  std::string root_;  ///< where the guest's shell runs: "initrd" or "system"
};

}  // namespace

int main(int argc, char** argv) {
  // The host's commands arrive on stdin, a pipe: read it without blocking the loop.
  ::fcntl(STDIN_FILENO, F_SETFL, ::fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  // A closed peer is an error return, not a death.
  ::signal(SIGPIPE, SIG_IGN);
  return FakeVmm(parse(argc, argv)).run();
}
