// Frames between a client and hixd (docs/specs/hix-session.md §2), client
// side: the 16-byte header of a request, and the checks a reply's header
// must pass before its payload is read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hix/abi/hix_session.h"
#include "result.hpp"

namespace hix::client {

inline constexpr std::uint32_t kFrameMax = HIX_FRAME_MAX;

// A reply: its status (§8) and payload (a UTF-8 message when not OK).
struct Reply {
  std::uint32_t status = HIX_SESSION_OK;
  std::vector<std::uint8_t> payload;
  bool ok() const { return status == HIX_SESSION_OK; }
  std::string message() const { return {payload.begin(), payload.end()}; }
};

// The header of a request of `type` with `length` payload bytes.
hix_frame_header request_header(std::uint16_t type, std::uint32_t length);

// A reply header to a request of `type`: magic, reply bit and type, flags
// 0, length ≤ HIX_FRAME_MAX. A failure is a protocol error (the stream
// cannot be trusted further).
Check check_reply_header(const hix_frame_header& h, std::uint16_t request_type);

// A non-OK reply as an Error of kind `refused`, naming the request.
Error refusal(const char* what, const Reply& reply);

}  // namespace hix::client
