// hix-session status codes and validation reasons (docs/specs/hix-session.md
// §8, §8.1) as closed C++ enums over the ABI's numbers, and the outcome of
// one operation: a status and its detail word.
#pragma once

#include <cstdint>

#include "hix/abi/hix_session.h"

namespace hix::session {

enum class Status : std::uint32_t {
  ok = HIX_SESSION_OK,
  malformed = HIX_SESSION_MALFORMED,
  unknown_session = HIX_SESSION_UNKNOWN_SESSION,
  forged = HIX_SESSION_FORGED,
  replayed = HIX_SESSION_REPLAYED,
  reordered = HIX_SESSION_REORDERED,
  bad_request = HIX_SESSION_BAD_REQUEST,
  validation = HIX_SESSION_VALIDATION,
  device = HIX_SESSION_DEVICE,
  no_resource = HIX_SESSION_NO_RESOURCE,
  busy = HIX_SESSION_BUSY,
  out_of_range = HIX_SESSION_OUT_OF_RANGE,
  io_error = HIX_SESSION_IO_ERROR,
  not_ready = HIX_SESSION_NOT_READY,
  internal = HIX_SESSION_INTERNAL,
};

// §8.1: why the enclave refused a command buffer (VALIDATION's detail).
enum class Reason : std::uint16_t {
  none = 0,
  header = HIX_VALID_HEADER,
  opcode = HIX_VALID_OPCODE,
  record = HIX_VALID_RECORD,
  handle = HIX_VALID_HANDLE,
  tref = HIX_VALID_TREF,
  loop = HIX_VALID_LOOP,
  dma_range = HIX_VALID_DMA_RANGE,
  key_slot = HIX_VALID_KEY_SLOT,
  tensor_id = HIX_VALID_TENSOR_ID,
};

inline constexpr std::uint32_t kStatusCount = 16;  // gpu_enclave_stats.rejected[]
inline constexpr std::uint32_t kReasonCount = 16;  // gpu_enclave_stats.validation[]

constexpr std::uint32_t to_wire(Status s) {
  return static_cast<std::uint32_t>(s);
}

// A status and its §8 detail word.
struct Outcome {
  Status status = Status::ok;
  std::uint32_t detail = 0;
  constexpr bool ok() const { return status == Status::ok; }
};

// VALIDATION detail: reason in bits 31..16, op index in bits 15..0 (§8.1).
constexpr std::uint32_t validation_detail(Reason r, std::uint32_t op_index) {
  return (std::uint32_t{static_cast<std::uint16_t>(r)} << 16) | (op_index & 0xFFFFu);
}
// DEVICE detail: hix-gpu status in bits 15..0, op index in bits 31..16 (§8).
constexpr std::uint32_t device_detail(std::uint32_t device_status, std::uint32_t op_index) {
  return ((op_index & 0xFFFFu) << 16) | (device_status & 0xFFFFu);
}

const char* to_string(Status s);
const char* to_string(Reason r);

}  // namespace hix::session
