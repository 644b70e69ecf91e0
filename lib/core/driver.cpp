// The Driver: I/O thread, machines, global timeout, state and output directories, teardown.
// Polling conditions are polling.cpp's.
#include <fcntl.h>
#include <fmt/format.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "attest/driver.hpp"
#include "core/driver_impl.hpp"
#include "core/facade.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"

namespace attest {
namespace detail {

namespace fs = std::filesystem;

namespace {

/// Where private state goes: $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp (short paths matter:
/// unix socket paths are limited to 107 bytes).
fs::path state_base() {
  for (const char* var : {"XDG_RUNTIME_DIR", "TMPDIR"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0' && ::access(v, W_OK | X_OK) == 0) return v;
  }
  return "/tmp";
}

/// Removes state directories left by test binaries that were killed (their pid is gone).
void remove_stale_state(const fs::path& base) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("attest-", 0) != 0) continue;
    const auto dash = name.find('-', 7);
    if (dash == std::string::npos) continue;
    const int pid = std::atoi(name.substr(7, dash - 7).c_str());
    if (pid <= 0 || pid == ::getpid()) continue;
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0 || st.st_uid != ::getuid()) continue;
    if (::kill(pid, 0) == 0 || errno == EPERM) continue;  // still alive
    fs::remove_all(entry.path(), ec);
    if (!ec) log_debug("", fmt::format("removed stale state directory {}", entry.path().string()));
  }
}

fs::path make_state_root() {
  const fs::path base = state_base();
  remove_stale_state(base);
  std::string templ = (base / fmt::format("attest-{}-XXXXXX", ::getpid())).string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw Error(fmt::format("driver: cannot create a state directory under {}: {} (the base is "
                            "$XDG_RUNTIME_DIR, else $TMPDIR, else /tmp: point one of them at a "
                            "writable directory with a short path)",
                            base.string(), std::strerror(errno)),
                "", "Driver");
  return templ;
}

/// Whether warm starts are on: DriverOptions::warm, else $ATTEST_WARM. Throws: Error for an
/// $ATTEST_WARM that is neither "1" nor "0" (nor empty).
bool choose_warm(const DriverOptions& options) {
  if (options.warm) return *options.warm;
  const char* v = std::getenv("ATTEST_WARM");
  if (v == nullptr || *v == '\0' || std::string_view(v) == "0") return false;
  if (std::string_view(v) == "1") return true;
  throw Error(fmt::format("driver: ATTEST_WARM is '{}'; it takes 1 (warm starts from the boot "
                          "cache) or 0 (cold boots)",
                          v),
              "", "Driver");
}

fs::path choose_output_dir(const DriverOptions& options) {
  if (!options.output_dir.empty()) return options.output_dir;
  if (const char* v = std::getenv("ATTEST_OUTPUT_DIR"); v != nullptr && *v != '\0') return v;
  return "attest-out";
}

}  // namespace

DriverImpl::DriverImpl(Config config, const DriverOptions& options)
    : config_(std::move(config)),
      work_(asio::make_work_guard(io_)),
      global_abort_(io_.get_executor()),
      global_timer_(io_),
      grace_timer_(io_),
      global_timeout_(options.global_timeout.value_or(config_.global_timeout)) {
  if (config_.machines.empty())
    throw ConfigError(fmt::format("config {}: no machines", config_.source.string()), "", "Driver");
  validate(config_);
  // A VMM or guest closing a connection must not kill the test binary.
  ::signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
  // Command outputs of a megabyte or more live in their own mappings, given back when freed. By
  // default glibc raises this threshold after the first such free, so later outputs come from
  // the I/O thread's arena and each freed one stays resident: a 20 MiB output then costs the
  // test process about 40 MiB instead of 20 (attest-bench measures it).
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  output_dir_ = fs::absolute(choose_output_dir(options));
  std::error_code ec;
  fs::create_directories(output_dir_, ec);
  if (ec || ::access(output_dir_.c_str(), W_OK) != 0)
    throw Error(fmt::format("driver: the output directory {} is not writable: {}; choose another "
                            "with --output-dir DIR or ATTEST_OUTPUT_DIR",
                            output_dir_.string(), ec ? ec.message() : std::strerror(errno)),
                "", "Driver");
  state_root_ = make_state_root();
  if (options.keep_machine_state) {
    kept_state_root_ = output_dir_ / "machine-state";
    fs::create_directories(kept_state_root_, ec);
    ::chmod(kept_state_root_.c_str(), 0700);
  }
  if (choose_warm(options)) {
    if (options.keep_machine_state)
      log_info("", "warm starts are off: --keep-machine-state keeps the machines' disks instead");
    else
      boot_cache_ = std::make_unique<BootCache>(
          options.boot_cache_dir.empty() ? BootCache::default_dir() : options.boot_cache_dir);
  }
  network_ = std::make_unique<net::Network>(io_.get_executor(), net::plan_network(config_),
                                            state_root_ / "net");
  for (const auto& m : config_.machines)
    machines_.push_back(std::make_unique<Machine>(std::make_unique<MachineImpl>(*this, m)));
  global_timer_.expires_after(global_timeout_);
  global_timer_.async_wait([this](const error_code& ec) {
    if (!ec) on_global_timeout();
  });
  thread_ = std::thread([this] { io_.run(); });
}

void DriverImpl::on_global_timeout() {
  expired_ = true;
  log_error("", fmt::format("the global timeout of {} expired: halting every machine",
                            format_duration(global_timeout_)));
  for (auto* m : machines()) m->impl().backend().kill();
  global_abort_.set();
  // Whatever the test thread is doing, it must end: failing attest calls end it unless user code
  // is stuck elsewhere, so exit after a grace period (NixOS kills the test in the same way).
  grace_timer_.expires_after(std::chrono::seconds(30));
  grace_timer_.async_wait([](const error_code& ec) {
    if (ec) return;
    log_error("", "the test did not end within 30s of the global timeout: exiting");
    std::_Exit(1);
  });
}

void DriverImpl::check_expired(std::string_view machine, std::string_view operation) const {
  if (!expired_) return;
  const std::string who = machine.empty() ? "driver" : fmt::format("machine '{}'", machine);
  throw TimeoutError(fmt::format("{}: {}: the global timeout of {} expired{}", who, operation,
                                 format_duration(global_timeout_), global_timeout_hint),
                     std::string(machine), std::string(operation), global_timeout_);
}

void DriverImpl::halt_all() noexcept {
  try {
    auto op = [](DriverImpl& d) -> awaitable<void> {
      const auto all = d.machines();
      for (auto* m : all) co_await m->impl().halt();
    };
    run(op(*this));
  } catch (const std::exception& e) {
    log_error("", fmt::format("halting the machines failed: {}", e.what()));
  }
}

DriverImpl::~DriverImpl() {
  halt_all();
  try {
    auto op = [](DriverImpl& d) -> awaitable<void> {
      d.global_timer_.cancel();
      d.grace_timer_.cancel();
      {
        std::lock_guard lock(d.machines_mutex_);
        d.machines_.clear();
      }
      co_await d.network_->shutdown();
    };
    run(op(*this));
  } catch (const std::exception& e) {
    log_error("", fmt::format("tearing down the machines failed: {}", e.what()));
  }
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  fs::remove_all(state_root_, ec);
}

std::vector<Machine*> DriverImpl::machines() const {
  std::lock_guard lock(machines_mutex_);
  std::vector<Machine*> out;
  out.reserve(machines_.size());
  for (const auto& m : machines_) out.push_back(m.get());
  return out;
}

Machine& DriverImpl::add_machine(MachineConfig config) {
  const std::string name = config.name;
  auto taken = [&] {
    for (const auto& m : machines_)
      if (m->name() == name) return true;
    return false;
  };
  auto duplicate = [&] {
    return ConfigError(fmt::format("driver: create_machine: machine '{}': field 'name': a machine "
                                   "of that name exists already",
                                   name),
                       name, "create_machine");
  };
  {
    std::lock_guard lock(machines_mutex_);
    if (taken()) throw duplicate();
  }
  // Backends and consoles are made on the I/O thread, where all VM state lives.
  auto make = [](DriverImpl& d, MachineConfig mc) -> awaitable<std::unique_ptr<Machine>> {
    co_return std::make_unique<Machine>(std::make_unique<MachineImpl>(d, std::move(mc)));
  };
  auto machine = run(make(*this, std::move(config)));
  std::lock_guard lock(machines_mutex_);
  if (taken()) throw duplicate();  // added by another thread meanwhile
  auto& added = *machine;
  const auto at = std::find_if(machines_.begin(), machines_.end(),
                               [&](const auto& m) { return m->name() > name; });
  machines_.insert(at, std::move(machine));
  return added;
}

void DriverImpl::host_sleep(std::chrono::milliseconds duration, std::string_view operation) {
  check_expired("", operation);
  auto op = [](DriverImpl& d, std::chrono::milliseconds t, std::string op) -> awaitable<void> {
    if (!co_await sleep_until(deadline_after(t), d.global_abort())) d.check_expired("", op);
  };
  run(op(*this, duration, std::string(operation)));
}

void DriverImpl::cancel_global_timeout() {
  auto op = [](DriverImpl& d) -> awaitable<void> {
    d.global_timer_.cancel();
    co_return;
  };
  run(op(*this));
}

}  // namespace detail

Driver::Driver(const std::filesystem::path& config_file, const DriverOptions& options)
    : impl_(std::make_unique<detail::DriverImpl>(load_config(config_file), options)) {}

Driver::Driver(Config config, const DriverOptions& options)
    : impl_(std::make_unique<detail::DriverImpl>(std::move(config), options)) {}

Driver::~Driver() = default;

Machine& Driver::machine(std::string_view name, Where where) {
  const auto all = impl_->machines();
  for (auto* m : all)
    if (m->name() == name) return *m;
  // As in NixOS, the one machine of a single-machine test is also `machine`, whatever its name.
  if (name == "machine" && all.size() == 1) return *all.front();
  std::string known;
  for (auto* m : all) known += fmt::format("{}{}", known.empty() ? "" : ", ", m->name());
  Error e(fmt::format("driver: there is no machine named '{}' (machines: {})", name, known), "",
          "machine", where);
  throw e;
}

std::vector<std::reference_wrapper<Machine>> Driver::machines() {
  std::vector<std::reference_wrapper<Machine>> out;
  for (auto* m : impl_->machines()) out.emplace_back(*m);
  return out;
}

void Driver::start_all(Where where) {
  detail::at(where, [&] {
    impl_->check_expired("", "start_all");
    auto op = [](detail::DriverImpl& d) -> awaitable<void> {
      // All VMMs start at once; each start returns when its control socket answers, and the
      // guests then boot side by side while the test goes on.
      auto ex = co_await asio::this_coro::executor;
      const auto all = d.machines();
      using Op = decltype(asio::co_spawn(ex, all.front()->impl().start(), asio::deferred));
      std::vector<Op> ops;
      ops.reserve(all.size());
      for (auto* m : all) ops.push_back(asio::co_spawn(ex, m->impl().start(), asio::deferred));
      auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                 .async_wait(asio::experimental::wait_for_all(), use_awaitable);
      (void)order;
      // The first failure is thrown; the others are logged, so that a second machine's
      // problem is not found only after the first one is fixed.
      std::exception_ptr first;
      for (auto& e : errors) {
        if (!e) continue;
        if (!first) {
          first = e;
          continue;
        }
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& other) {
          detail::log_error("",
                            fmt::format("start_all: another machine failed too: {}", other.what()));
        }
      }
      if (first) std::rethrow_exception(first);
    };
    impl_->run(op(*impl_));
  });
}

void Driver::halt_all() noexcept { impl_->halt_all(); }

const Config& Driver::config() const noexcept { return impl_->config(); }

const std::filesystem::path& Driver::output_dir() const noexcept { return impl_->output_dir(); }

void Driver::host_sleep(std::chrono::milliseconds duration) {
  impl_->check_expired("", "host_sleep");
  impl_->host_sleep(duration, "host_sleep");
}

void Driver::join_all(std::chrono::milliseconds timeout, Where where) {
  detail::at(where, [&] {
    detail::log_info("", "waiting for every machine to power off (join_all)");
    for (Machine& m : machines()) m.wait_for_shutdown(timeout, where);
    impl_->cancel_global_timeout();
  });
}

Machine& Driver::create_machine(MachineConfig config, Where where) {
  return detail::at(where, [&]() -> Machine& {
    const std::string name = config.name;
    try {
      validate(config);
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("driver: create_machine: {}", e.what()), name,
                        "create_machine");
    }
    if (!config.vlans.empty())
      throw ConfigError(fmt::format("driver: create_machine: machine '{}': field 'vlans': machines "
                                    "added during the test cannot join vlans (declare the machine "
                                    "in the configuration instead)",
                                    name),
                        name, "create_machine");
    auto& m = impl_->add_machine(std::move(config));
    detail::log_info(name, "created (create_machine)");
    return m;
  });
}

void Driver::wait_all(const std::vector<std::reference_wrapper<Machine>>& machines,
                      const std::function<void(Machine&)>& fn, Where where) {
  struct Failure {
    Machine* machine;
    std::exception_ptr error;
  };
  std::mutex mutex;
  std::vector<Failure> failures;  // in the order they happened
  {
    std::vector<std::jthread> threads;
    threads.reserve(machines.size());
    for (Machine& m : machines)
      threads.emplace_back([&, mp = &m] {
        try {
          fn(*mp);
        } catch (...) {
          std::lock_guard lock(mutex);
          failures.push_back({mp, std::current_exception()});
        }
      });
  }  // joins every thread
  if (failures.empty()) return;
  for (std::size_t i = 1; i < failures.size(); ++i) {
    try {
      std::rethrow_exception(failures[i].error);
    } catch (const std::exception& e) {
      detail::log_error(failures[i].machine->name(),
                        fmt::format("wait_all: also failed: {}", e.what()));
    } catch (...) {
      detail::log_error(failures[i].machine->name(), "wait_all: also failed (unknown exception)");
    }
  }
  const auto& first = failures.front();
  try {
    std::rethrow_exception(first.error);
  } catch (const Error&) {
    throw;  // names its machine and keeps its type and call site
  } catch (const std::exception& e) {
    throw Error(fmt::format("machine '{}': wait_all: {}", first.machine->name(), e.what()),
                first.machine->name(), "wait_all", where);
  } catch (...) {
    throw Error(fmt::format("machine '{}': wait_all: a non-standard exception was thrown",
                            first.machine->name()),
                first.machine->name(), "wait_all", where);
  }
}

void Driver::serial_stdout_on() noexcept { detail::Log::get().set_serial_echo(true); }

void Driver::serial_stdout_off() noexcept { detail::Log::get().set_serial_echo(false); }

}  // namespace attest
