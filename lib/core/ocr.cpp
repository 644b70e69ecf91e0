// OCR of screenshots with the host's tesseract and ImageMagick, run as bounded child processes
// on the I/O thread; the variants run in parallel (a ranged parallel group), each tesseract with
// one OpenMP thread so that three of them share the host's cores instead of fighting over them.
#include "core/ocr.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>

#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/process/v2/environment.hpp>
#include <memory>

#include "core/log.hpp"
#include "process/vmm_process.hpp"

namespace attest::detail {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::vector<std::string> tesseract_args(const fs::path& image) {
  // --oem 3: whichever engine the installed model has (NixOS asks for the combined engine,
  // which needs the legacy model that Debian's tesseract-ocr-eng lacks).
  return {image.string(), "-", "--oem", "3", "--psm", "11", "-c", "debug_file=/dev/null"};
}

std::vector<std::string> preprocess_args(const fs::path& input, const fs::path& output,
                                         bool negate) {
  std::vector<std::string> a = {input.string(), "-filter",     "Catrom",   "-resize",
                                "400%",         "-colorspace", "Gray",     "-contrast",
                                "-normalize",   "-despeckle",  "-sharpen", "0x1"};
  if (negate) a.emplace_back("-negate");
  a.push_back(output.string());
  return a;
}

namespace {

struct ToolOutput {
  std::string out;
  std::string err;
};

/// Runs `tool` (looked up in PATH) with `args`; returns its stdout. Throws: OcrError.
awaitable<std::string> run_tool(std::string tool, std::string package,
                                std::vector<std::string> args, milliseconds timeout) {
  namespace bp = boost::process::v2;
  if (bp::environment::find_executable(tool).empty())
    throw OcrError(fmt::format("the host has no '{}' in PATH (install {})", tool, package));
  auto ex = co_await asio::this_coro::executor;
  auto output = std::make_shared<ToolOutput>();
  process::SpawnSpec spec{tool, args, {{"OMP_THREAD_LIMIT", "1"}}, {}};
  process::Hooks hooks;
  hooks.on_stdout = [output](std::string_view bytes) { output->out.append(bytes); };
  hooks.on_stderr_line = [output](std::string_view line) {
    if (output->err.size() < 4000) output->err.append(line).append("\n");
  };
  std::unique_ptr<process::VmmProcess> proc;
  std::string spawn_error;
  try {
    proc = std::make_unique<process::VmmProcess>(ex, spec, std::move(hooks));
  } catch (const process::SpawnError& e) {
    spawn_error = e.what();
  }
  if (!spawn_error.empty()) throw OcrError(fmt::format("cannot start {}: {}", tool, spawn_error));
  auto r = co_await race(proc->wait_exited(), deadline_after(timeout));
  if (r.end != RaceEnd::done) {
    proc->signal_group(SIGKILL);
    co_await proc->wait_exited();
    throw OcrError(
        fmt::format("{} did not finish within {} ms and was killed", tool, timeout.count()));
  }
  const auto status = *proc->exit_status();
  if (!status.success())
    throw OcrError(fmt::format("`{} {}` failed ({}){}{}", tool, fmt::join(args, " "),
                               status.to_string(), output->err.empty() ? "" : ": ", output->err));
  co_return std::move(output->out);
}

awaitable<std::string> read_image(fs::path image, milliseconds timeout) {
  co_return co_await run_tool("tesseract", "tesseract-ocr", tesseract_args(image), timeout);
}

awaitable<std::string> read_processed(fs::path screenshot, bool negate, milliseconds timeout) {
  const fs::path out =
      fs::path(screenshot).replace_extension(negate ? ".negative.png" : ".positive.png");
  auto args = preprocess_args(screenshot, out, negate);
  // ImageMagick 6 names its tool `convert` (7 keeps it as an alias of `magick`).
  (void)co_await run_tool("convert", "imagemagick", std::move(args), timeout);
  auto text = co_await read_image(out, timeout);
  std::error_code ec;
  fs::remove(out, ec);
  co_return text;
}

}  // namespace

awaitable<std::vector<std::string>> ocr_screenshot(fs::path screenshot, bool variants,
                                                   milliseconds tool_timeout) {
  auto ex = co_await asio::this_coro::executor;
  using Op = decltype(asio::co_spawn(ex, read_image(screenshot, tool_timeout), asio::deferred));
  std::vector<Op> ops;
  ops.push_back(asio::co_spawn(ex, read_image(screenshot, tool_timeout), asio::deferred));
  if (variants) {
    ops.push_back(
        asio::co_spawn(ex, read_processed(screenshot, false, tool_timeout), asio::deferred));
    ops.push_back(
        asio::co_spawn(ex, read_processed(screenshot, true, tool_timeout), asio::deferred));
  }
  auto group = asio::experimental::make_parallel_group(std::move(ops));
  auto result = co_await group.async_wait(asio::experimental::wait_for_all(), use_awaitable);
  auto& errors = std::get<1>(result);
  auto& texts = std::get<2>(result);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  co_return std::move(texts);
}

}  // namespace attest::detail
