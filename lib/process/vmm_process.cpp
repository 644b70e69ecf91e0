// VMM supervision on Boost.Process v2: spawn with a child-side setup hook (process group,
// parent-death signal, default signal state), pump stdout/stderr, observe the exit via pidfd.
// The state is shared with the pump coroutines so it outlives the owning object until they end.
#include "process/vmm_process.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
#include <deque>

extern char** environ;

namespace attest::process {

namespace bp = boost::process::v2;

std::string ExitStatus::to_string() const {
  if (!signaled) return fmt::format("exit status {}", code);
  const char* name = ::sigabbrev_np(code);
  return fmt::format("killed by signal {} (SIG{})", code, name != nullptr ? name : "?");
}

namespace {

/// Runs in the child between fork and exec: only async-signal-safe calls.
struct ChildSetup {
  pid_t parent;
  int join_user_ns = -1;
  int join_net_ns = -1;
  error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&,
                           const char* const*) {
    ::setpgid(0, 0);
    // The user namespace first: it grants the capabilities that joining its network namespace
    // needs. Both before PR_SET_PDEATHSIG: the kernel clears that on a credential change it
    // does not see as a capability subset (commit_creds), which joining a user namespace can be.
    if (join_user_ns >= 0 && ::setns(join_user_ns, CLONE_NEWUSER) != 0)
      die("attest: cannot join the test network's user namespace (setns)\n");
    if (join_net_ns >= 0 && ::setns(join_net_ns, CLONE_NEWNET) != 0)
      die("attest: cannot join the test network's network namespace (setns)\n");
    // The kernel kills the VMM when the thread that forked it (the Driver's I/O thread, which
    // lives as long as the Driver) or the whole test binary dies, even by SIGKILL.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Undo what the test binary may have changed: ignored SIGPIPE, blocked signals.
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    return {};
  }

  /// Stderr is the VMM's stderr pipe by now, so the message reaches stderr_tail().
  template <std::size_t N>
  [[noreturn]] static void die(const char (&message)[N]) {
    const auto ignored = ::write(STDERR_FILENO, message, N - 1);
    (void)ignored;
    ::_exit(127);
  }
};

constexpr std::size_t stderr_keep = 200;

}  // namespace

struct VmmProcess::State : std::enable_shared_from_this<VmmProcess::State> {
  State(const asio::any_io_executor& ex) : out(ex), err(ex), in(ex), proc(ex), exited(ex) {}
  asio::readable_pipe out;
  asio::readable_pipe err;
  asio::writable_pipe in;
  bp::process proc;
  int pid = -1;
  Hooks hooks;
  std::optional<ExitStatus> status;
  bool out_done = false;
  bool err_done = false;
  bool wait_done = false;
  detail::Event exited;
  std::deque<std::string> stderr_lines;
  std::string stderr_partial;

  void check_done() {
    if (out_done && err_done && wait_done && !exited.is_set()) {
      exited.set();
      if (hooks.on_exit) hooks.on_exit(*status);
    }
  }

  void stderr_line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (hooks.on_stderr_line) hooks.on_stderr_line(line);
    stderr_lines.push_back(std::move(line));
    if (stderr_lines.size() > stderr_keep) stderr_lines.pop_front();
  }
};

namespace {

awaitable<void> pump_stdout(std::shared_ptr<VmmProcess::State> s) {
  std::string buf(std::size_t{16} * 1024, '\0');
  for (;;) {
    auto [ec, n] =
        co_await s->out.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (n > 0 && s->hooks.on_stdout) s->hooks.on_stdout(std::string_view(buf.data(), n));
    if (ec) break;
  }
  s->out_done = true;
  s->check_done();
}

awaitable<void> pump_stderr(std::shared_ptr<VmmProcess::State> s) {
  std::string buf(4096, '\0');
  for (;;) {
    auto [ec, n] =
        co_await s->err.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    s->stderr_partial.append(buf.data(), n);
    for (auto nl = s->stderr_partial.find('\n'); nl != std::string::npos;
         nl = s->stderr_partial.find('\n')) {
      s->stderr_line(s->stderr_partial.substr(0, nl));
      s->stderr_partial.erase(0, nl + 1);
    }
    if (ec) break;
  }
  if (!s->stderr_partial.empty()) s->stderr_line(std::move(s->stderr_partial));
  s->stderr_partial.clear();
  s->err_done = true;
  s->check_done();
}

awaitable<void> watch_exit(std::shared_ptr<VmmProcess::State> s) {
  auto [ec, code] = co_await s->proc.async_wait(asio::as_tuple(use_awaitable));
  (void)code;
  const int native = s->proc.native_exit_code();
  ExitStatus st;
  if (!ec && WIFSIGNALED(native)) {
    st.signaled = true;
    st.code = WTERMSIG(native);
  } else if (!ec && WIFEXITED(native)) {
    st.code = WEXITSTATUS(native);
  } else {
    st.code = -1;
  }
  s->status = st;
  s->wait_done = true;
  // Children of the VMM (a NixOS start script's helpers) may still hold the pipes: the group is
  // gone with the VMM, so make sure nothing keeps the pumps waiting.
  ::kill(-s->pid, SIGKILL);
  s->check_done();
}

}  // namespace

VmmProcess::VmmProcess(const asio::any_io_executor& ex, const SpawnSpec& spec, Hooks hooks)
    : state_(std::make_shared<State>(ex)) {
  state_->hooks = std::move(hooks);
  bp::filesystem::path exe = spec.program;
  if (spec.program.find('/') == std::string::npos) {
    exe = bp::environment::find_executable(spec.program);
    if (exe.empty()) throw SpawnError(fmt::format("cannot find '{}' in PATH", spec.program));
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv{*e};
    bool overridden = false;
    for (const auto& [k, v] : spec.env)
      overridden = overridden ||
                   (kv.size() > k.size() && kv.substr(0, k.size()) == k && kv[k.size()] == '=');
    if (!overridden) env.emplace_back(kv);
  }
  for (const auto& [k, v] : spec.env) env.push_back(fmt::format("{}={}", k, v));

  error_code ec;
  bp::posix::default_launcher launcher;
  const std::string cwd = spec.cwd.empty() ? std::string(".") : spec.cwd;
  state_->proc =
      launcher(ex, ec, exe, spec.args, bp::process_stdio{state_->in, state_->out, state_->err},
               bp::process_environment{env}, bp::process_start_dir{cwd},
               ChildSetup{::getpid(), spec.join_user_ns, spec.join_net_ns});
  if (ec) throw SpawnError(fmt::format("cannot start {}: {}", exe.string(), ec.message()));
  state_->pid = state_->proc.id();
  // Also from the parent, so that signal_group works even before the child ran its setup.
  ::setpgid(state_->pid, state_->pid);
  asio::co_spawn(ex, pump_stdout(state_), asio::detached);
  asio::co_spawn(ex, pump_stderr(state_), asio::detached);
  asio::co_spawn(ex, watch_exit(state_), asio::detached);
}

VmmProcess::~VmmProcess() {
  if (!state_) return;
  if (!state_->wait_done) ::kill(-state_->pid, SIGKILL);
  // The coroutines keep the state alive; they end once the pipes close and the exit is reaped.
  state_->hooks = {};
  error_code ec;
  state_->in.close(ec);
}

int VmmProcess::pid() const noexcept { return state_->pid; }

bool VmmProcess::running() const noexcept { return !state_->wait_done; }

std::optional<ExitStatus> VmmProcess::exit_status() const { return state_->status; }

void VmmProcess::signal_group(int sig) noexcept {
  if (!state_->wait_done) ::kill(-state_->pid, sig);
}

awaitable<void> VmmProcess::wait_exited() { co_await state_->exited.wait(); }

awaitable<void> VmmProcess::write_stdin(std::string data) {
  co_await asio::async_write(state_->in, asio::buffer(data), use_awaitable);
}

std::string VmmProcess::stderr_tail(std::size_t lines) const {
  std::string out;
  const auto& all = state_->stderr_lines;
  const std::size_t from = all.size() > lines ? all.size() - lines : 0;
  for (std::size_t i = from; i < all.size(); ++i) {
    out += all[i];
    out += '\n';
  }
  return out;
}

}  // namespace attest::process
