// hixd's parts on their own: the strict frame reader (every protocol error
// of docs/specs/hix-session.md §2 found from the header, PUT bytes streamed
// to their window or discarded, bytes arriving in any split), the staging
// windows (the ring area in one extent, windows in pieces, release and
// merge) and the status file.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "frame_reader.hpp"
#include "staging.hpp"
#include "status_file.hpp"
#include "window_pool.hpp"

namespace hix::hixd {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Event = FrameReader::Event;

Bytes frame(std::uint16_t type, const Bytes& payload, std::uint32_t magic = HIX_FRAME_MAGIC,
            std::uint16_t flags = 0, std::uint32_t status = 0) {
  hix_frame_header h{magic, type, flags, static_cast<std::uint32_t>(payload.size()), status};
  Bytes b(sizeof h);
  std::memcpy(b.data(), &h, sizeof h);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// Feeds `in` whole; the events in order (a PUT's bytes go to `sink`).
std::vector<Event> feed_all(FrameReader& r, const Bytes& in, std::span<std::uint8_t> sink = {}) {
  std::vector<Event> events;
  std::size_t at = 0;
  for (;;) {
    const auto s = r.feed(std::span(in).subspan(at));
    at += s.consumed;
    if (s.event == Event::need_more) break;
    events.push_back(s.event);
    if (s.event == Event::error) break;
    if (s.event == Event::put_begin)
      r.set_sink(sink.size() == r.put_bytes() ? sink : std::span<std::uint8_t>{});
  }
  return events;
}

TEST(FrameReader, ReadsEveryRequestTypeWithItsExactSize) {
  FrameReader r;
  Bytes in = frame(HIX_FRAME_INFO, {});
  const Bytes open = frame(HIX_FRAME_OPEN, Bytes(sizeof(hix_open_request), 7));
  const Bytes get = frame(HIX_FRAME_GET, Bytes(16, 1));
  const Bytes load = frame(HIX_FRAME_LOAD, Bytes(32, 2));
  const Bytes call = frame(HIX_FRAME_CALL, Bytes(48, 3));
  const Bytes close = frame(HIX_FRAME_CLOSE, {});
  for (const Bytes* f : {&open, &get, &load, &call, &close})
    in.insert(in.end(), f->begin(), f->end());
  const auto ev = feed_all(r, in);
  EXPECT_EQ(ev, std::vector<Event>(6, Event::frame));
  EXPECT_EQ(r.header().type, HIX_FRAME_CLOSE);
  EXPECT_FALSE(r.inside_frame());
}

TEST(FrameReader, AByteAtATimeGivesTheSameFrame) {
  FrameReader r;
  const Bytes f = frame(HIX_FRAME_CALL, Bytes(100, 9));
  for (std::size_t i = 0; i + 1 < f.size(); ++i) {
    const auto s = r.feed(std::span(f).subspan(i, 1));
    ASSERT_EQ(s.event, Event::need_more) << i;
    ASSERT_EQ(s.consumed, 1u);
    EXPECT_TRUE(r.inside_frame());
  }
  EXPECT_EQ(r.feed(std::span(f).last(1)).event, Event::frame);
  EXPECT_EQ(r.payload().size(), 100u);
  EXPECT_EQ(r.payload()[99], 9);
}

struct BadFrame {
  const char* what;
  Bytes bytes;
};

TEST(FrameReader, EveryProtocolErrorIsFoundFromTheHeader) {
  const std::vector<BadFrame> cases = {
      {"bad magic", frame(HIX_FRAME_INFO, {}, 0x31445849)},
      {"non-zero flags", frame(HIX_FRAME_INFO, {}, HIX_FRAME_MAGIC, 1)},
      {"non-zero status", frame(HIX_FRAME_INFO, {}, HIX_FRAME_MAGIC, 0, 1)},
      {"unknown type 0", frame(0, {})},
      {"unknown type 8", frame(8, {})},
      {"a reply's type", frame(HIX_FRAME_INFO | HIX_FRAME_REPLY, {})},
      {"INFO with a payload", frame(HIX_FRAME_INFO, Bytes(1))},
      {"OPEN short", frame(HIX_FRAME_OPEN, Bytes(71))},
      {"OPEN long", frame(HIX_FRAME_OPEN, Bytes(73))},
      {"GET long", frame(HIX_FRAME_GET, Bytes(17))},
      {"LOAD short", frame(HIX_FRAME_LOAD, Bytes(31))},
      {"CALL below header and tag", frame(HIX_FRAME_CALL, Bytes(47))},
      {"PUT without its offset", frame(HIX_FRAME_PUT, Bytes(7))},
  };
  for (const BadFrame& c : cases) {
    FrameReader r;
    // Only the header is sent: the error must not wait for the payload.
    const auto s = r.feed(std::span(c.bytes).first(sizeof(hix_frame_header)));
    EXPECT_EQ(s.event, Event::error) << c.what;
    EXPECT_TRUE(r.dead()) << c.what;
    EXPECT_FALSE(r.error().empty()) << c.what;
    EXPECT_EQ(r.feed(c.bytes).event, Event::error) << c.what << ": stays dead";
  }
}

TEST(FrameReader, OversizedLengthsAreRefusedBeforeAnyPayload) {
  for (const std::uint16_t type : {HIX_FRAME_CALL, HIX_FRAME_PUT}) {
    FrameReader r;
    hix_frame_header h{HIX_FRAME_MAGIC, type, 0,
                       type == HIX_FRAME_PUT ? HIX_FRAME_MAX + 1 : kSealedRequestMax + 1, 0};
    Bytes b(sizeof h);
    std::memcpy(b.data(), &h, sizeof h);
    EXPECT_EQ(r.feed(b).event, Event::error) << type;
  }
  FrameReader r;
  hix_frame_header h{HIX_FRAME_MAGIC, HIX_FRAME_CALL, 0, kSealedRequestMax, 0};
  Bytes b(sizeof h);
  std::memcpy(b.data(), &h, sizeof h);
  EXPECT_EQ(r.feed(b).event, Event::need_more);  // the largest sealed request is fine
}

TEST(FrameReader, PutBytesGoStraightToTheSink) {
  FrameReader r;
  Bytes payload(8 + 1000);
  const std::uint64_t offset = 4096;
  std::memcpy(payload.data(), &offset, 8);
  for (std::size_t i = 0; i < 1000; ++i) payload[8 + i] = static_cast<std::uint8_t>(i * 7);
  Bytes in = frame(HIX_FRAME_PUT, payload);
  const Bytes info = frame(HIX_FRAME_INFO, {});
  in.insert(in.end(), info.begin(), info.end());
  Bytes sink(1000);
  const auto ev = feed_all(r, in, sink);
  EXPECT_EQ(ev, (std::vector<Event>{Event::put_begin, Event::put_end, Event::frame}));
  EXPECT_EQ(Bytes(payload.begin() + 8, payload.end()), sink);
}

TEST(FrameReader, ARefusedPutIsConsumedAndTheStreamStaysInStep) {
  FrameReader r;
  Bytes in = frame(HIX_FRAME_PUT, Bytes(8 + 5000, 1));
  const Bytes get = frame(HIX_FRAME_GET, Bytes(16, 2));
  in.insert(in.end(), get.begin(), get.end());
  const auto ev = feed_all(r, in);  // no sink: discarded
  EXPECT_EQ(ev, (std::vector<Event>{Event::put_begin, Event::put_end, Event::frame}));
  EXPECT_EQ(r.header().type, HIX_FRAME_GET);
}

TEST(FrameReader, AnEmptyPutEndsAtOnce) {
  FrameReader r;
  const Bytes in = frame(HIX_FRAME_PUT, Bytes(8, 0));
  EXPECT_EQ(feed_all(r, in), (std::vector<Event>{Event::put_begin, Event::put_end}));
}

// ---- staging windows ----------------------------------------------------------

constexpr std::uint64_t kMiB = 1 << 20;

TEST(WindowPool, TheRingAreaLiesInOneExtent) {
  auto mem = host_staging({.bytes = 8 * kMiB, .extent_bytes = 2 * kMiB}, GuestPhys{0x40000000});
  ASSERT_NE(mem, nullptr);
  ASSERT_EQ(mem->extents().size(), 4u);
  WindowPool pool(*mem);
  const auto ring = pool.reserve_contiguous(kMiB + 4096);
  ASSERT_TRUE(ring.has_value());
  EXPECT_EQ(ring->pool_offset, 0u);
  EXPECT_EQ(ring->gpa.value, 0x40000000u);
  // A second one of 1.5 MiB does not fit what is left of extent 0: extent 1.
  const auto second = pool.reserve_contiguous(3 * kMiB / 2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->pool_offset, 2 * kMiB);
  EXPECT_EQ(second->gpa.value, 0x40000000u + 2 * kMiB + 4096);  // the gap between extents
  EXPECT_FALSE(pool.reserve_contiguous(3 * kMiB).has_value());
}

TEST(WindowPool, WindowsComeInPiecesAndMergeBackOnRelease) {
  auto mem = host_staging({.bytes = 8 * kMiB, .extent_bytes = 2 * kMiB}, GuestPhys{0x40000000});
  WindowPool pool(*mem);
  ASSERT_TRUE(pool.reserve_contiguous(kMiB).has_value());
  const auto w1 = pool.alloc({.bytes = 2 * kMiB, .max_pieces = HIX_SESSION_MAX_EXTENTS});
  ASSERT_TRUE(w1.has_value());
  // [1 MiB, 3 MiB): the end of extent 0 and the start of extent 1.
  ASSERT_EQ(w1->pieces.size(), 2u);
  EXPECT_EQ(w1->pieces[0].window_offset, 0u);
  EXPECT_EQ(w1->pieces[0].area.bytes, kMiB);
  EXPECT_EQ(w1->pieces[0].area.gpa.value, 0x40000000u + kMiB);
  EXPECT_EQ(w1->pieces[1].window_offset, kMiB);
  EXPECT_EQ(w1->pieces[1].area.gpa.value, 0x40000000u + 2 * kMiB + 4096);
  const auto w2 = pool.alloc({.bytes = 4 * kMiB, .max_pieces = HIX_SESSION_MAX_EXTENTS});
  ASSERT_TRUE(w2.has_value());
  EXPECT_FALSE(pool.alloc({.bytes = 2 * kMiB, .max_pieces = HIX_SESSION_MAX_EXTENTS}).has_value());
  EXPECT_FALSE(pool.alloc({.bytes = 4096, .max_pieces = 0}).has_value());  // no pieces allowed
  EXPECT_FALSE(
      pool.alloc({.bytes = 100, .max_pieces = HIX_SESSION_MAX_EXTENTS}).has_value());  // not pages
  EXPECT_EQ(pool.free_bytes(), kMiB);
  pool.release(*w1);
  pool.release(*w2);
  EXPECT_EQ(pool.free_bytes(), 7 * kMiB);
  EXPECT_EQ(pool.largest_free(), 7 * kMiB);
  // A window's bytes are the pool's, bounds checked.
  const auto w3 = pool.alloc({.bytes = 4096, .max_pieces = 1});
  ASSERT_TRUE(w3.has_value());
  EXPECT_TRUE(w3->range(pool.memory(), 0, 4096).has_value());
  EXPECT_FALSE(w3->range(pool.memory(), 1, 4096).has_value());
  EXPECT_FALSE(w3->range(pool.memory(), ~0ull, 2).has_value());
}

TEST(StatusFile, NamesEveryCounter) {
  Counters c;
  c.sessions_opened = 3;
  c.rejected[HIX_SESSION_FORGED] = 2;
  gpu_enclave_stats e{};
  e.rejected[HIX_SESSION_REPLAYED] = 4;
  StatusSnapshot s;
  s.counters = &c;
  s.mode = "protected";
  s.identity = "mrenclave=ab";
  s.ready = true;
  s.port = 7000;
  s.enclave = &e;
  const std::string text = format_status(s);
  for (const char* line : {"mode=protected\n", "mrenclave=ab\n", "ready=1\n", "port=7000\n",
                           "sessions_opened=3\n", "rejected_forged=2\n",
                           "enclave_rejected_replayed=4\n", "enclave_validation_dma_range=0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace hix::hixd
