// The loader's error values (STYLE.md §5): a closed Status and an
// expected-like Result<T>. Nothing here throws across the enclave boundary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "hix/expected.hpp"

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
struct Failure {
  Status status = Status::ok;
  std::string detail;
};

template <class T>
class [[nodiscard]] Result : public hix::Expected<T, Failure> {
 public:
  Result(T value) : hix::Expected<T, Failure>(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status, std::string detail = {})                    // NOLINT: implicit by design
      : hix::Expected<T, Failure>(Failure{status, std::move(detail)}) {}

  Status status() const { return this->ok() ? Status::ok : this->error().status; }
  const std::string& detail() const {
    static const std::string none;
    return this->ok() ? none : this->error().detail;
  }
};

// Result<void>: a Status with its detail.
struct [[nodiscard]] Outcome {
  Status status = Status::ok;
  std::string detail;

  bool ok() const { return status == Status::ok; }
};

}  // namespace hix::loader
