// hixd's frame parser (frame_reader.hpp, docs/specs/hix-session.md §2).
#include "frame_reader.hpp"

#include <algorithm>
#include <cstring>

namespace hix::hixd {
namespace {

constexpr std::uint32_t kPutHead = sizeof(hix_put_request);

}  // namespace

std::optional<FrameRule> frame_rule(std::uint16_t type) {
  switch (type) {
    case HIX_FRAME_INFO:
    case HIX_FRAME_CLOSE:
      return FrameRule{0, 0};
    case HIX_FRAME_OPEN:
      return FrameRule{sizeof(hix_open_request), sizeof(hix_open_request)};
    case HIX_FRAME_CALL:
      return FrameRule{HIX_MSG_HEADER_BYTES + HIX_MSG_TAG_BYTES, kSealedRequestMax};
    case HIX_FRAME_PUT:
      return FrameRule{kPutHead, HIX_FRAME_MAX};
    case HIX_FRAME_GET:
      return FrameRule{sizeof(hix_get_request), sizeof(hix_get_request)};
    case HIX_FRAME_LOAD:
      return FrameRule{sizeof(hix_load_request), sizeof(hix_load_request)};
    default:
      return std::nullopt;
  }
}

bool FrameReader::inside_frame() const {
  switch (state_) {
    case State::header:
      return header_got_ != 0;
    case State::payload:
    case State::bulk:
      return true;
    case State::dead:
      return false;
  }
  return false;
}

FrameReader::Step FrameReader::fail(std::size_t consumed, std::string why) {
  state_ = State::dead;
  error_ = std::move(why);
  payload_.clear();
  return {Event::error, consumed};
}

bool FrameReader::check_header() {
  std::memcpy(&header_, header_bytes_, sizeof header_);
  if (header_.magic != HIX_FRAME_MAGIC) {
    error_ = "bad frame magic";
    return false;
  }
  if (header_.flags != 0) {
    error_ = "non-zero frame flags";
    return false;
  }
  if (header_.status != 0) {
    error_ = "a request with a non-zero status";
    return false;
  }
  const auto rule = frame_rule(header_.type);
  if (!rule) {
    error_ = "unknown frame type " + std::to_string(header_.type);
    return false;
  }
  if (header_.length < rule->min || header_.length > rule->max) {
    error_ = "frame type " + std::to_string(header_.type) + " with a payload of " +
             std::to_string(header_.length) + " bytes (" + std::to_string(rule->min) + ".." +
             std::to_string(rule->max) + " allowed)";
    return false;
  }
  return true;
}

void FrameReader::set_sink(std::span<std::uint8_t> sink) {
  sink_ = sink.size() == bulk_total_ ? sink : std::span<std::uint8_t>{};
  sink_set_ = true;
}

FrameReader::Step FrameReader::feed(std::span<const std::uint8_t> in) {
  std::size_t used = 0;
  for (;;) {
    switch (state_) {
      case State::dead:
        return {Event::error, used};

      case State::header: {
        if (used == in.size()) return {Event::need_more, used};
        const std::size_t n = std::min(sizeof header_bytes_ - header_got_, in.size() - used);
        std::memcpy(header_bytes_ + header_got_, in.data() + used, n);
        header_got_ += n;
        used += n;
        if (header_got_ < sizeof header_bytes_) return {Event::need_more, used};
        header_got_ = 0;
        if (!check_header()) return fail(used, error_);
        payload_want_ = header_.type == HIX_FRAME_PUT ? kPutHead : header_.length;
        payload_.clear();
        payload_.reserve(payload_want_);
        state_ = State::payload;
        break;
      }

      case State::payload: {
        const std::size_t n = std::min(payload_want_ - payload_.size(), in.size() - used);
        payload_.insert(payload_.end(), in.begin() + static_cast<std::ptrdiff_t>(used),
                        in.begin() + static_cast<std::ptrdiff_t>(used + n));
        used += n;
        if (payload_.size() < payload_want_) return {Event::need_more, used};
        if (header_.type != HIX_FRAME_PUT) {
          state_ = State::header;
          return {Event::frame, used};
        }
        bulk_total_ = header_.length - kPutHead;
        bulk_got_ = 0;
        sink_ = {};
        sink_set_ = false;
        state_ = State::bulk;
        return {Event::put_begin, used};
      }

      case State::bulk: {
        if (!sink_set_) set_sink({});  // a caller that forgot: discard, stay in sync
        const std::uint64_t n = std::min<std::uint64_t>(bulk_total_ - bulk_got_, in.size() - used);
        if (!sink_.empty()) std::memcpy(sink_.data() + bulk_got_, in.data() + used, n);
        bulk_got_ += n;
        used += static_cast<std::size_t>(n);
        if (bulk_got_ < bulk_total_) return {Event::need_more, used};
        state_ = State::header;
        return {Event::put_end, used};
      }
    }
  }
}

}  // namespace hix::hixd
