// A value or the error that explains why there is none (STYLE.md §5: errors
// are values). The one implementation behind every module's Result<T>: each
// module names its error type and adds the accessors its vocabulary wants
// (vgpu's status(), the loader's status() and detail(), the model
// compiler's why()).
#pragma once

#include <utility>
#include <variant>

namespace hix {

template <class T, class E>
class [[nodiscard]] Expected {
 public:
  // Implicit on purpose, as std::expected: `return value;` and
  // `return error;` both read well.
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Only when ok() (as std::optional's *): nothing here throws, so callers
  // that must not throw (main, the enclave) can use it.
  T& value() & { return *std::get_if<0>(&v_); }
  const T& value() const& { return *std::get_if<0>(&v_); }
  T&& value() && { return std::move(*std::get_if<0>(&v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; only when !ok().
  const E& error() const { return *std::get_if<1>(&v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace hix
