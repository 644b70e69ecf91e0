// `attest cache` (cache.hpp).
#include "cli/cache.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <iostream>
#include <stdexcept>

#include "core/boot_cache.hpp"

namespace attest::cli {

namespace {

std::string mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

/// When the entry was last used, in local time.
std::string when(std::filesystem::file_time_type t) {
  const auto system = std::chrono::file_clock::to_sys(t);
  return fmt::format(
      "{:%Y-%m-%d %H:%M}",
      fmt::localtime(std::chrono::system_clock::to_time_t(
          std::chrono::time_point_cast<std::chrono::system_clock::duration>(system))));
}

}  // namespace

std::uint64_t parse_size(const std::string& text) {
  std::size_t end = 0;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end == 0 || end > 15)
    throw std::invalid_argument(
        fmt::format("'{}' is not a size (bytes, or a number with K, M, G or T, e.g. 2G)", text));
  std::uint64_t n = std::stoull(text.substr(0, end));
  std::string unit = text.substr(end);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* suffix : {"ib", "b"})
    if (unit.size() > 1 && unit.ends_with(suffix)) {
      unit.resize(unit.size() - std::string_view(suffix).size());
      break;
    }
  const std::string units = "kmgt";
  if (unit.empty()) return n;
  const auto at = unit.size() == 1 ? units.find(unit[0]) : std::string::npos;
  if (at == std::string::npos)
    throw std::invalid_argument(
        fmt::format("'{}' is not a size (bytes, or a number with K, M, G or T, e.g. 2G)", text));
  for (std::size_t i = 0; i <= at; ++i) n *= 1024;
  return n;
}

int run_cache(const CacheOptions& options) {
  const detail::BootCache cache(options.dir.empty() ? detail::BootCache::default_dir()
                                                    : options.dir);
  if (options.command == "list") {
    const auto entries = cache.list();
    std::uint64_t total = 0;
    if (!entries.empty())
      std::cout << fmt::format("{:<18}{:<20}{:<10}{:>12}  {}\n", "KEY", "MACHINE", "BACKEND",
                               "SIZE", "LAST USED");
    for (const auto& e : entries) {
      total += e.bytes;
      std::cout << fmt::format("{:<18}{:<20}{:<10}{:>12}  {}\n", e.key.substr(0, 16),
                               e.manifest.machine, e.manifest.backend, mib(e.bytes), when(e.used));
    }
    std::cout << fmt::format("{} entr{}, {} in {}\n", entries.size(),
                             entries.size() == 1 ? "y" : "ies", mib(total), cache.dir().string());
  } else if (options.command == "clear") {
    const auto n = cache.clear();
    std::cout << fmt::format("removed {} entr{} from {}\n", n, n == 1 ? "y" : "ies",
                             cache.dir().string());
  } else {
    const auto removed = cache.gc(options.max_bytes.value_or(0));
    std::uint64_t freed = 0;
    for (const auto& e : removed) freed += e.bytes;
    std::uint64_t kept = 0;
    for (const auto& e : cache.list()) kept += e.bytes;
    std::cout << fmt::format("removed {} entr{} ({}, least recently used first); {} kept in {}\n",
                             removed.size(), removed.size() == 1 ? "y" : "ies", mib(freed),
                             mib(kept), cache.dir().string());
  }
  return 0;
}

}  // namespace attest::cli
