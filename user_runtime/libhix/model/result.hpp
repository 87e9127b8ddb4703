// Errors as values for the model compiler: a value or a human-readable
// reason (checkpoints and configs are untrusted files; a bad one is a
// message, never an abort).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace hix::model {

struct Error {
  std::string why;
};

struct Unit {};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design, as std::expected
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // The reason; empty when ok.
  const std::string& why() const {
    static const std::string none;
    return ok() ? none : std::get<Error>(v_).why;
  }
  Error error() const { return Error{why()}; }

 private:
  std::variant<T, Error> v_;
};

using Check = Result<Unit>;

inline Error fail(std::string why) {
  return Error{std::move(why)};
}

}  // namespace hix::model
