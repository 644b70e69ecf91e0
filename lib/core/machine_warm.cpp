// Warm starts on the I/O thread (docs/snapshots.md, "Warm start"): a machine's first start
// restores the booted machine an earlier run saved in the boot cache, or boots cold and saves
// it there once its shell is ready.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "attest/version.hpp"
#include "core/boot_cache.hpp"
#include "core/driver_impl.hpp"
#include "core/log.hpp"
#include "core/machine_impl.hpp"
#include "core/util.hpp"
#include "image/sha256.hpp"

namespace attest::detail {

namespace fs = std::filesystem;

namespace {

/// The snapshot a warm start restores (and a cold boot saves): one per machine.
constexpr const char* boot_snapshot = "attest-boot";

/// How long a restored guest may take to set its clock (its shell's first command).
constexpr std::chrono::seconds clock_limit(30);

/// A shell nonce from its joined text (Nonce::joined(): two halves of equal length).
shell::Nonce nonce_of(const std::string& joined) {
  const auto half = joined.size() / 2;
  return {joined.substr(0, half), joined.substr(half)};
}

// The host pool's parts of a warm start. Functions, not lambdas in the coroutines below: there,
// g++ 12 at -O2 takes the coroutine frame's delete for a mismatched one.

/// The entry of `key` and, when it was damaged (and removed), why.
awaitable<std::pair<std::optional<BootCacheEntry>, std::string>> find_entry(
    DriverImpl& driver, const BootCache& cache, const std::string& key) {
  return driver.host_work([&cache, key] {
    std::string why;
    auto entry = cache.find(key, &why);
    return std::make_pair(std::move(entry), std::move(why));
  });
}

/// Copies each (from, to); returns the failure ("" when all were copied).
awaitable<std::string> copy_files(DriverImpl& driver,
                                  const std::vector<std::pair<fs::path, fs::path>>& copies) {
  return driver.host_work([copies] {
    try {
      for (const auto& [from, to] : copies) copy_file_cow(from, to);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  });
}

awaitable<void> publish_entry(DriverImpl& driver, const BootCache& cache, const std::string& key,
                              const BootCacheManifest& manifest,
                              const std::vector<fs::path>& files) {
  return driver.host_work([&cache, key, manifest, files] { cache.publish(key, manifest, files); });
}

/// The shell command that sets the guest's clock to the host's, now: to the nanosecond where
/// `date` takes a fraction (coreutils), else to the nearest second (busybox).
std::string set_clock_command() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  return fmt::format("date -u -s @{}.{:09} >/dev/null 2>&1 || date -u -s @{} >/dev/null",
                     ns / 1000000000, ns % 1000000000, (ns + 500000000) / 1000000000);
}

}  // namespace

awaitable<bool> MachineImpl::warm_start() {
  const BootCache& cache = *driver_.boot_cache();
  auto* portable = backend::find<backend::PortableSnapshots>(*backend_);
  if (portable == nullptr) {
    log_info(name(), fmt::format("warm start: the {} backend cannot carry a booted machine to "
                                 "another run; booting cold",
                                 backend_->name()));
    co_return false;
  }
  co_await driver_.network().start();
  const std::string identity = portable->boot_identity(driver_.network().attachment(name()));
  if (identity.empty()) {
    log_info(name(),
             "warm start: a NixOS start script's machine boots cold (its host "
             "directories cannot be saved)");
    co_return false;
  }
  std::string key_text =
      fmt::format("attest boot key 1\nattest {}\nmachine {}\nbackend {}\nready shell\n{}",
                  attest::version, name(), backend_->name(), identity);
  std::string key = image::sha256_hex(key_text);
  auto found = co_await find_entry(driver_, cache, key);
  if (!found.second.empty())
    log_warning(name(), fmt::format("warm start: the boot cache entry {} was damaged ({}); "
                                    "removed it, booting cold",
                                    (cache.dir() / key).string(), found.second));
  std::string failure = "not in the boot cache yet";
  if (found.first) {
    const auto t0 = Clock::now();
    failure = co_await warm_restore(*found.first);
    if (failure.empty()) {
      cache.touch(*found.first);
      set_warm_stat(fmt::format("restored from the boot cache ({:.0f} MiB)",
                                static_cast<double>(found.first->bytes) / (1 << 20)));
      log_info(name(), fmt::format("warm start: restored from the boot cache in {} (key {})",
                                   format_duration(Clock::now() - t0), key.substr(0, 16)));
      co_return true;
    }
    log_warning(name(), fmt::format("warm start from {} failed: {}; removed the entry",
                                    found.first->dir.string(), failure));
  }
  log_info(name(), fmt::format("warm start: {} (key {}); booting cold and saving the booted "
                               "machine",
                               failure, key.substr(0, 16)));
  warm_key_ = std::move(key);
  warm_key_text_ = std::move(key_text);
  set_warm_stat("not in the boot cache: booted cold");
  co_return false;
}

awaitable<std::string> MachineImpl::warm_restore(const BootCacheEntry& entry) {
  auto& portable = *backend::find<backend::PortableSnapshots>(*backend_);
  // The entry's files, copied into this run's state directory where the backend keeps them.
  std::vector<std::pair<fs::path, fs::path>> copies;
  for (const auto& target : portable.snapshot_files()) {
    const auto file = target.filename().string();
    if (std::none_of(entry.files.begin(), entry.files.end(),
                     [&](const auto& f) { return f.name == file; }))
      co_return fmt::format("the entry lacks {}", file);
    copies.emplace_back(entry.dir / file, target);
  }
  std::string failure = co_await copy_files(driver_, copies);
  if (failure.empty()) {
    const auto dir = snapshot_dir(boot_snapshot, "start");
    std::error_code ec;
    fs::create_directories(dir, ec);
    ::chmod(dir.c_str(), 0700);
    const SavedShell saved{
        shell::Session{nonce_of(entry.manifest.session_id), entry.manifest.data_port},
        entry.manifest.user_net_ready};
    saved_shells_[boot_snapshot] = saved;
    try {
      co_await restore_fresh(boot_snapshot, dir, saved, "start");
      // The guest's clock stood still in the cache.
      if ((co_await helper(boot_, set_clock_command(), clock_limit, "start")).status != 0)
        log_warning(name(),
                    "warm start: the guest's clock could not be set (`date -s` failed); "
                    "it runs on from the moment the machine was saved");
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (failure.empty()) co_return failure;
  // Back to nothing: the next step is a cold boot with fresh disks.
  backend_->kill();
  co_await settle();
  std::error_code ec;
  fs::remove_all(entry.dir, ec);
  for (const auto& copy : copies) fs::remove(copy.second, ec);
  saved_shells_.erase(boot_snapshot);
  co_return failure;
}

awaitable<void> MachineImpl::warm_save(std::shared_ptr<Boot> boot) {
  const std::string key = std::exchange(warm_key_, {});
  const std::string key_text = std::exchange(warm_key_text_, {});
  auto* portable = backend::find<backend::PortableSnapshots>(*backend_);
  const BootCache* cache = driver_.boot_cache();
  if (portable == nullptr || cache == nullptr || !boot->shell) co_return;
  const auto t0 = Clock::now();
  std::string failure;
  bool paused = false;
  try {
    const auto dir = snapshot_dir(boot_snapshot, "start");
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    ::chmod(dir.c_str(), 0700);
    // Paused from before the snapshot until its files are copied: they stay as saved.
    co_await portable->pause();
    paused = true;
    co_await backend_->snapshot_create(dir);
    const SavedShell saved{boot->shell->session(), boot->user_net_ready};
    saved_shells_[boot_snapshot] = saved;
    const BootCacheManifest manifest{name(),
                                     std::string(backend_->name()),
                                     saved.session.id.joined(),
                                     saved.session.data_port,
                                     saved.user_net_ready,
                                     key_text};
    const auto files = portable->snapshot_files();
    co_await publish_entry(driver_, *cache, key, manifest, files);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (paused) {
    try {
      co_await portable->resume();
    } catch (const std::exception& e) {
      failure +=
          fmt::format("{}resuming the guest failed: {}", failure.empty() ? "" : "; ", e.what());
    }
  }
  if (!failure.empty()) {
    set_warm_stat("not in the boot cache: booted cold, saving it failed");
    log_warning(name(), fmt::format("warm start: saving the booted machine in the boot cache {} "
                                    "failed: {}",
                                    cache->dir().string(), failure));
    co_return;
  }
  set_warm_stat("not in the boot cache: booted cold and saved");
  log_info(name(), fmt::format("warm start: saved the booted machine in the boot cache in {} "
                               "(key {})",
                               format_duration(Clock::now() - t0), key.substr(0, 16)));
}

}  // namespace attest::detail
