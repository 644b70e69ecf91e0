// Internal: one reader of command-line options, for the `attest` tool's commands and for a test
// binary's own flags (attest_main): `--opt VALUE` and `--opt=VALUE`, positional arguments apart.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace attest::detail {

/// A bad command line (an option without its value, an unknown option): the caller prints it
/// with its usage and exits with status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class OptionReader {
 public:
  using Args = std::vector<std::string_view>;

  explicit OptionReader(const Args& args) : args_(args) {}
  /// Moves to the next argument; false at the end.
  bool next() {
    if (++i_ >= args_.size()) return false;
    arg_ = args_[i_];
    option_ = arg_;
    inline_value_.reset();
    if (const auto eq = arg_.find('='); arg_.starts_with("--") && eq != std::string_view::npos) {
      option_ = arg_.substr(0, eq);
      inline_value_ = arg_.substr(eq + 1);
    }
    return true;
  }
  /// The whole argument, e.g. "--output=dir".
  std::string_view arg() const { return arg_; }
  /// The option's name, e.g. "--output".
  std::string_view option() const { return option_; }
  bool is_option() const { return arg_.size() >= 2 && arg_[0] == '-'; }
  /// The option's value: after its '=', else the next argument. Throws: UsageError.
  std::string value() {
    if (inline_value_) return std::string(*inline_value_);
    if (++i_ >= args_.size()) throw UsageError("option " + std::string(option_) + " needs a value");
    return std::string(args_[i_]);
  }
  /// The arguments after the current one.
  Args rest() const {
    return Args(args_.begin() + static_cast<std::ptrdiff_t>(i_ + 1), args_.end());
  }

 private:
  const Args& args_;
  std::size_t i_ = static_cast<std::size_t>(-1);
  std::string_view arg_, option_;
  std::optional<std::string_view> inline_value_;
};

}  // namespace attest::detail
