// hix-gpu status codes (docs/specs/hix-gpu.md §9) and the Result type the
// device server returns internally: errors are values, never exceptions.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

#include "hix/expected.hpp"

#include "hix/abi/vgpu_status.h"

namespace hix::vgpu {

enum class Status : std::uint16_t {
  ok = HIX_VGPU_OK,
  invalid_arg = HIX_VGPU_INVALID_ARG,
  bad_context = HIX_VGPU_BAD_CONTEXT,
  bad_handle = HIX_VGPU_BAD_HANDLE,
  out_of_bounds = HIX_VGPU_OUT_OF_BOUNDS,
  no_memory = HIX_VGPU_NO_MEMORY,
  no_resource = HIX_VGPU_NO_RESOURCE,
  bad_key_slot = HIX_VGPU_BAD_KEY_SLOT,
  auth_failed = HIX_VGPU_AUTH_FAILED,
  dma_denied = HIX_VGPU_DMA_DENIED,
  bad_opcode = HIX_VGPU_BAD_OPCODE,
  bad_format = HIX_VGPU_BAD_FORMAT,
  bad_dtype = HIX_VGPU_BAD_DTYPE,
  bad_shape = HIX_VGPU_BAD_SHAPE,
  denied_protected = HIX_VGPU_DENIED_PROTECTED,
  index_out_of_range = HIX_VGPU_INDEX_OUT_OF_RANGE,
  replay = HIX_VGPU_REPLAY,
  limit = HIX_VGPU_LIMIT,
  ring_stopped = HIX_VGPU_RING_STOPPED,
  internal = HIX_VGPU_INTERNAL,
  unavailable = HIX_VGPU_UNAVAILABLE,
};

std::string_view to_string(Status s);

constexpr std::uint32_t code_of(Status s) {
  return static_cast<std::uint32_t>(s);
}

// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result : public hix::Expected<T, Status> {
 public:
  using hix::Expected<T, Status>::Expected;  // a value, or a Status other than ok
  Status status() const { return this->ok() ? Status::ok : this->error(); }
};

// Early return for Status-returning code: HIX_TRY(expr) returns expr's
// status from the enclosing function unless it is ok.
#define HIX_TRY(expr)                                   \
  do {                                                  \
    const ::hix::vgpu::Status hix_try_status_ = (expr); \
    if (hix_try_status_ != ::hix::vgpu::Status::ok) {   \
      return hix_try_status_;                           \
    }                                                   \
  } while (0)

}  // namespace hix::vgpu
