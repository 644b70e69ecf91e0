// A machine's serial console: line assembly, bounded memory, raw log file, echo.
#include "core/console.hpp"

#include "core/log.hpp"

namespace attest::detail {

Console::Console(std::string machine, std::size_t memory_limit)
    : machine_(std::move(machine)), limit_(memory_limit) {}

Console::~Console() {
  if (file_ != nullptr) std::fclose(file_);
}

void Console::restart(const std::filesystem::path& file) {
  if (file_ != nullptr) std::fclose(file_);
  file_ = std::fopen(file.c_str(), "wb");
  if (file_ != nullptr) std::setvbuf(file_, nullptr, _IONBF, 0);
  text_.clear();
  partial_.clear();
  dropped_ = 0;
}

void Console::append(std::string_view bytes) {
  if (file_ != nullptr) std::fwrite(bytes.data(), 1, bytes.size(), file_);
  std::size_t start = 0;
  for (;;) {
    const auto nl = bytes.find('\n', start);
    if (nl == std::string_view::npos) break;
    if (partial_.empty()) {
      add_line(bytes.substr(start, nl - start));
    } else {
      partial_.append(bytes.substr(start, nl - start));
      add_line(partial_);
      partial_.clear();
    }
    start = nl + 1;
  }
  partial_.append(bytes.substr(start));
}

void Console::flush_partial() {
  if (partial_.empty()) return;
  std::string line = std::move(partial_);
  partial_.clear();
  add_line(line);
}

void Console::add_line(std::string_view raw) {
  std::string line;
  line.reserve(raw.size());
  for (char c : raw)
    if (c != '\r') line.push_back(c);
  text_ += line;
  text_ += '\n';
  if (text_.size() > limit_) {
    // Drop whole lines from the front, a quarter of the limit at a time.
    auto cut = text_.find('\n', text_.size() - limit_ + limit_ / 4);
    if (cut == std::string::npos) cut = text_.size() - 1;
    dropped_ += cut + 1;
    text_.erase(0, cut + 1);
  }
  Log::get().serial(machine_, line);
  if (on_line) on_line(line);
}

std::string Console::tail(std::size_t lines) const {
  std::size_t start = 0;
  std::size_t seen = 0;
  for (std::size_t i = text_.size(); lines > 0 && i-- > 0;) {
    if (text_[i] == '\n' && i + 1 != text_.size() && ++seen == lines) {
      start = i + 1;
      break;
    }
  }
  std::string out = lines == 0 ? std::string{} : text_.substr(start);
  if (!partial_.empty()) out += partial_ + "\n";
  return out;
}

}  // namespace attest::detail
