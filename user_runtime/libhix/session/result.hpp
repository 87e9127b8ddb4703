// Errors as values for the session client (STYLE §5): every failure is an
// Error naming what failed — the transport, hixd's or the enclave's status
// (docs/specs/hix-session.md §8), the attestation check, a crypto check.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "hix/abi/hix_session.h"
#include "hix/expected.hpp"

namespace hix::client {

enum class ErrorKind : std::uint8_t {
  io,           // the socket: connect, send, receive, closed, timed out
  protocol,     // a reply that breaks the framing (§2) or the sealing (§5.3)
  refused,      // hixd or the enclave answered a non-OK status (`status`, `detail`)
  attestation,  // the OPEN reply failed a check of §3.2
  crypto,       // a sealed tensor or message did not open
  usage,        // the caller's arguments (sizes, offsets, state)
};

const char* to_string(ErrorKind k);

struct Error {
  ErrorKind kind = ErrorKind::io;
  std::uint32_t status = 0;  // enum hix_session_status, for `refused`
  std::uint32_t detail = 0;  // the status's detail word (§8)
  std::string message;
};

struct Unit {};

template <class T>
using Result = hix::Expected<T, Error>;

using Check = Result<Unit>;

inline Check ok() {
  return Unit{};
}

inline Error fail(ErrorKind kind, std::string message) {
  return Error{kind, 0, 0, std::move(message)};
}

// The name of a hix_session_status ("forged", "validation", ...); "status N"
// for a number outside §8.
std::string session_status_name(std::uint32_t status);
// The name of a hix_vgpu_status ("auth_failed", ...).
std::string device_status_name(std::uint32_t status);
// The name of a §8.1 validation reason.
std::string validation_reason_name(std::uint32_t reason);
// "forged", "validation (dma_range, op 3)", "device (auth_failed, op 7)".
std::string describe_status(const hix_msg_status& st);

}  // namespace hix::client
