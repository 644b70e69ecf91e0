// An environment variable set (or unset) for one scope of a test, and restored after it: the
// unit tests run with the environment of whoever runs them (scripts/test exports ATTEST_ACCEL).
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace attest::testing_support {

class ScopedEnv {
 public:
  /// Sets `name` to `value`, or unsets it for nullopt.
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    set(value);
  }
  ~ScopedEnv() { set(saved_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void set(const std::optional<std::string>& value) const {
    if (value)
      ::setenv(name_, value->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  const char* name_;
  std::optional<std::string> saved_;
};

}  // namespace attest::testing_support
