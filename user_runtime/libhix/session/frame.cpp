// Frames, client side (docs/specs/hix-session.md §2).
#include "frame.hpp"

namespace hix::client {

hix_frame_header request_header(std::uint16_t type, std::uint32_t length) {
  hix_frame_header h{};
  h.magic = HIX_FRAME_MAGIC;
  h.type = type;
  h.flags = 0;
  h.length = length;
  h.status = HIX_SESSION_OK;
  return h;
}

Check check_reply_header(const hix_frame_header& h, std::uint16_t request_type) {
  if (h.magic != HIX_FRAME_MAGIC) return fail(ErrorKind::protocol, "reply frame: bad magic");
  if (h.type != (request_type | HIX_FRAME_REPLY)) {
    return fail(ErrorKind::protocol, "reply frame: type " + std::to_string(h.type) +
                                         " answers no request of type " +
                                         std::to_string(request_type));
  }
  if (h.flags != 0) return fail(ErrorKind::protocol, "reply frame: non-zero flags");
  if (h.length > kFrameMax) return fail(ErrorKind::protocol, "reply frame: oversized length");
  return ok();
}

Error refusal(const char* what, const Reply& reply) {
  std::string msg = std::string(what) + ": " + session_status_name(reply.status);
  if (!reply.payload.empty()) msg += ": " + reply.message();
  return Error{ErrorKind::refused, reply.status, 0, std::move(msg)};
}

}  // namespace hix::client
