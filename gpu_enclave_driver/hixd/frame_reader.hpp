// Frames from a client (docs/specs/hix-session.md §2), hixd's side: an
// incremental, strict parser fed whatever bytes the socket gave. A frame
// with a bad magic, non-zero flags or status, an unknown type or a length
// outside its type's bounds is a protocol error, found from the header
// alone, before any payload is buffered. The bounds (frame_rule) are
// tighter than HIX_FRAME_MAX: fixed-size requests must have exactly their
// size, a CALL at most one sealed message. A PUT's bytes are not buffered
// here: after its 8-byte head the caller names where they go (the window,
// or nowhere when the PUT is refused) and they are copied straight there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hix/abi/hix_session.h"

namespace hix::hixd {

inline constexpr std::uint32_t kSealedRequestMax =
    HIX_MSG_HEADER_BYTES + HIX_MSG_MAX + HIX_MSG_TAG_BYTES;

// Payload bytes a request of a type may have.
struct FrameRule {
  std::uint32_t min = 0;
  std::uint32_t max = 0;
};

// The rule for request type `type`; nullopt for an unknown type (a reply's
// type, with bit 15, is unknown here too).
std::optional<FrameRule> frame_rule(std::uint16_t type);

class FrameReader {
 public:
  enum class Event : std::uint8_t {
    need_more,  // all of the input consumed, no event yet
    frame,      // header() and payload() hold one request other than PUT
    put_begin,  // a PUT's header and head (payload()) are in: call set_sink()
    put_end,    // the PUT's bytes have all gone to the sink
    error,      // a protocol error (error() says which); the stream is dead
  };
  struct Step {
    Event event = Event::need_more;
    std::size_t consumed = 0;  // bytes of the input used before the event
  };

  // Consumes input up to the next event. After frame or put_end the next
  // call starts a new frame; after put_begin it continues with the PUT's
  // bytes (possibly none: feed an empty span to get put_end).
  Step feed(std::span<const std::uint8_t> in);

  // Where the current PUT's put_bytes() bytes go: exactly that many bytes,
  // or an empty span to discard them.
  void set_sink(std::span<std::uint8_t> sink);

  const hix_frame_header& header() const { return header_; }
  // The request's payload (for PUT: its 8-byte head).
  std::span<const std::uint8_t> payload() const { return payload_; }
  std::uint64_t put_bytes() const { return bulk_total_; }
  const std::string& error() const { return error_; }
  // Some bytes of a frame have arrived and not all (what the stall timer
  // watches).
  bool inside_frame() const;
  bool dead() const { return state_ == State::dead; }

 private:
  enum class State : std::uint8_t { header, payload, bulk, dead };
  Step fail(std::size_t consumed, std::string why);
  [[nodiscard]] bool check_header();

  State state_ = State::header;
  std::size_t header_got_ = 0;
  std::uint8_t header_bytes_[sizeof(hix_frame_header)] = {};
  hix_frame_header header_{};
  std::vector<std::uint8_t> payload_;
  std::size_t payload_want_ = 0;
  std::uint64_t bulk_total_ = 0;
  std::uint64_t bulk_got_ = 0;
  std::span<std::uint8_t> sink_;
  bool sink_set_ = false;
  std::string error_;
};

}  // namespace hix::hixd
