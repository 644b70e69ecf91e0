// `attest image build`: the image found in the cache or built there (lib/image/build), then
// delivered to the output directory with image.json, a configuration that boots it.
#include "cli/image.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "image/build.hpp"

namespace attest::cli {
namespace {

namespace fs = std::filesystem;

/// The test configuration that boots the image (docs/config.md): the machine a configuration
/// naming the spec would get (image::boot_from), with paths relative to image.json.
std::string configuration(const image::BuiltImage& built) {
  MachineConfig m;
  image::boot_from({built.spec, built.name, {}}, m);
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& d : m.disks) {
    if (d.size_mib > 0)
      disks.push_back({{"size_mib", d.size_mib}});
    else if (d.read_only)
      disks.push_back({{"path", d.path.string()}, {"read_only", true}});
    else
      disks.push_back({{"path", d.path.string()}});
  }
  nlohmann::json machine = {{"name", built.name},
                            {"backend", "qemu"},
                            {"kernel", m.kernel.string()},
                            {"initrd", m.initrd.string()},
                            {"cmdline", m.cmdline},
                            {"memory_mib", image::image_memory_mib},
                            {"vcpus", 1},
                            {"disks", disks}};
  return nlohmann::json({{"name", built.name}, {"machines", {machine}}}).dump(2) + "\n";
}

/// Copies the image's files from the cache entry to `output` (hard links where they can be:
/// the cached files are never written again).
void deliver(const fs::path& entry, const fs::path& output, const std::string& config) {
  fs::create_directories(output);
  for (const auto& e : fs::directory_iterator(entry)) {
    const fs::path to = output / e.path().filename();
    std::error_code ec;
    fs::remove(to, ec);
    fs::create_hard_link(e.path(), to, ec);
    if (ec) fs::copy_file(e.path(), to, fs::copy_options::overwrite_existing);
  }
  std::ofstream(output / "image.json", std::ios::trunc) << config;
}

}  // namespace

int build_image(const ImageOptions& options) {
  const image::BuiltImage built =
      image::build_image({options.spec, options.name, options.cache_dir, options.rebuild});
  deliver(built.dir, options.output, configuration(built));
  std::cerr << fmt::format("attest image: {} written to {} (image.json boots it)\n", built.name,
                           options.output.string());
  return 0;
}

}  // namespace attest::cli
