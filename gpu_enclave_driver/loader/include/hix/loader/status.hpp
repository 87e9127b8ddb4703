// The loader's error values (STYLE.md §5): a closed Status and an
// expected-like Result<T>. Nothing here throws across the enclave boundary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace hix::loader {

enum class Status : std::uint8_t {
  ok,
  // Reading and checking an image (enclave_image.cpp).
  io_error,
  image_too_large,
  not_elf64_x86_64,
  not_static_executable,
  bad_program_headers,
  bad_segment,
  segment_overlap,
  writable_and_executable,
  no_tcs,
  bad_tcs,
  bad_layout,
  // Talking to /dev/hix (driver.hpp).
  no_device,
  unsupported_platform,
  create_failed,
  add_failed,
  init_failed,
  map_failed,
  lock_failed,
  // Entering the enclave (enclave.hpp).
  enter_failed,
  enclave_aborted,
};

// The lower-case name, as printed by the tools and matched by tests.
const char* to_string(Status s);

// A value or a Status with a human-readable detail. [[nodiscard]]: an
// ignored error is a bug.
template <class T>
class [[nodiscard]] Result {
 public:
  // Implicit on purpose: `return value;` and `return Status::x;` both read well.
  Result(T value) : value_(std::move(value)) {}
  Result(Status status, std::string detail = {}) : status_(status), detail_(std::move(detail)) {}

  bool ok() const { return value_.has_value(); }
  Status status() const { return status_; }
  const std::string& detail() const { return detail_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_ = Status::ok;
  std::string detail_;
};

// Result<void>: a Status with its detail.
struct [[nodiscard]] Outcome {
  Status status = Status::ok;
  std::string detail;

  bool ok() const { return status == Status::ok; }
};

}  // namespace hix::loader
