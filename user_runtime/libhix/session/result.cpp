// Names of the session client's errors and of the statuses it reports
// (docs/specs/hix-session.md §8, docs/specs/hix-gpu.md §9).
#include "result.hpp"

#include <array>
#include <string_view>

#include "hix/abi/hix_session.h"
#include "hix/abi/vgpu_status.h"

namespace hix::client {
namespace {

// Indexed by the wire value.
constexpr std::array<std::string_view, 15> kSessionStatus = {
    "ok",        "malformed",    "unknown_session", "forged",    "replayed",
    "reordered", "bad_request",  "validation",      "device",    "no_resource",
    "busy",      "out_of_range", "io_error",        "not_ready", "internal",
};
static_assert(kSessionStatus.size() == HIX_SESSION_INTERNAL + 1);

constexpr std::array<std::string_view, 21> kDeviceStatus = {
    "ok",
    "invalid_arg",
    "bad_context",
    "bad_handle",
    "out_of_bounds",
    "no_memory",
    "no_resource",
    "bad_key_slot",
    "auth_failed",
    "dma_denied",
    "bad_opcode",
    "bad_format",
    "bad_dtype",
    "bad_shape",
    "denied_protected",
    "index_out_of_range",
    "replay",
    "limit",
    "ring_stopped",
    "internal",
    "unavailable",
};
static_assert(kDeviceStatus.size() == HIX_VGPU_UNAVAILABLE + 1);

constexpr std::array<std::string_view, 10> kReason = {
    "none", "header", "opcode",    "record",   "handle",
    "tref", "loop",   "dma_range", "key_slot", "tensor_id",
};
static_assert(kReason.size() == HIX_VALID_TENSOR_ID + 1);

template <std::size_t N>
std::string name_of(const std::array<std::string_view, N>& table, std::uint32_t v,
                    std::string_view what) {
  if (v < N) return std::string(table[v]);
  return std::string(what) + " " + std::to_string(v);
}

}  // namespace

const char* to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::io:
      return "io";
    case ErrorKind::protocol:
      return "protocol";
    case ErrorKind::refused:
      return "refused";
    case ErrorKind::attestation:
      return "attestation";
    case ErrorKind::crypto:
      return "crypto";
    case ErrorKind::usage:
      return "usage";
  }
  return "unknown";
}

std::string session_status_name(std::uint32_t status) {
  return name_of(kSessionStatus, status, "status");
}

std::string device_status_name(std::uint32_t status) {
  return name_of(kDeviceStatus, status, "device status");
}

std::string validation_reason_name(std::uint32_t reason) {
  return name_of(kReason, reason, "reason");
}

std::string describe_status(const hix_msg_status& st) {
  const std::uint32_t status = st.status;
  const std::uint32_t detail = st.detail;
  std::string s = session_status_name(status);
  if (status == HIX_SESSION_VALIDATION) {
    s += " (" + validation_reason_name(detail >> 16) + ", op " + std::to_string(detail & 0xFFFFu) +
         ")";
  } else if (status == HIX_SESSION_DEVICE) {
    s += " (" + device_status_name(detail & 0xFFFFu) + ", op " + std::to_string(detail >> 16) + ")";
  }
  return s;
}

}  // namespace hix::client
