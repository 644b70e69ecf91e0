// Internal: optical character recognition of screenshots, as the NixOS driver does it
// (test_driver/machine/ocr.py): tesseract on the raw screendump and, for the variants, on two
// ImageMagick-preprocessed copies (scaled up, grayscale, contrast-normalised; one negated). The
// tools run as child processes on the I/O thread (process::VmmProcess: own process group,
// killed with the test binary), in parallel, each bounded by a timeout.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/async.hpp"

namespace attest::detail {

/// tesseract's arguments for `image`, printing the text on stdout (page segmentation 11: sparse
/// text, as NixOS; the engine the installed model has).
std::vector<std::string> tesseract_args(const std::filesystem::path& image);

/// ImageMagick `convert` arguments that turn `input` into `output`, easier to read: scaled up
/// four times, grayscale, contrast-stretched, despeckled and sharpened, with `negate` inverting
/// it (tesseract reads dark text on light ground best; consoles are the other way round).
std::vector<std::string> preprocess_args(const std::filesystem::path& input,
                                         const std::filesystem::path& output, bool negate);

/// What a failed OCR step reports: which tool, why (missing, timed out, exit status and stderr).
class OcrError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads `screenshot` (a PNG) with tesseract and returns the texts: the raw image's first; with
/// `variants` also the two preprocessed images' (written next to the screenshot, removed after).
/// The three run in parallel. Each tool run is killed after `tool_timeout`.
/// Throws: OcrError (tool missing from PATH, failed or timed out).
awaitable<std::vector<std::string>> ocr_screenshot(std::filesystem::path screenshot, bool variants,
                                                   std::chrono::milliseconds tool_timeout);

}  // namespace attest::detail
