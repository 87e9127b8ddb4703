// Receiving (docs/specs/hix-session.md §5.3): every rejection class, each
// counted in STATS, answered unsealed with nothing of the request left in
// the buffer, and leaving the session exactly as it was — the next correct
// message still works.
#include <cstring>
#include <functional>
#include <string>

#include "harness.hpp"

namespace hix::session::test {
namespace {

Bytes alloc_one() {
  hix_msg_alloc a{};
  a.count = 1;
  Bytes b(sizeof a + 8);
  std::memcpy(b.data(), &a, sizeof a);
  const std::uint64_t size = 256;
  std::memcpy(b.data() + sizeof a, &size, 8);
  return b;
}

class Rejections;

struct Message {
  std::uint32_t call_session;
  Bytes sealed;
};

struct RejectCase {
  std::string name;
  Status expected;
  std::function<Message(Rejections&)> make;
};

class Rejections : public SessionTest, public ::testing::WithParamInterface<RejectCase> {
 protected:
  void SetUp() override {
    init();
    a = open(0);
    b = open(1);
  }

 public:
  // A correct ALLOC from `c` (the counter is consumed).
  Message good(Client& c) { return {c.sid, c.seal(HIX_MSG_ALLOC, alloc_one())}; }
  Message changed(std::size_t at, std::uint8_t xor_mask) {
    Message m = good(a);
    --a.send_counter;  // never delivered as sealed
    m.sealed[at] ^= xor_mask;
    return m;
  }
  Client a, b;
};

// What must not change when a message is rejected.
struct Snapshot {
  std::uint64_t recv_expected, send_next, highest_input_id;
  std::uint32_t slots, buffer_count;
  Key k_c2e, k_e2c, k_t;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Session& s) {
  return {s.recv_expected, s.send_next, s.highest_input_id, s.slots, s.buffer_count, s.k_c2e,
          s.k_e2c,         s.k_t};
}

std::vector<RejectCase> reject_cases() {
  std::vector<RejectCase> v;
  const auto frame = [](std::string name, std::size_t at, std::uint8_t value) {
    return RejectCase{std::move(name), Status::malformed, [at, value](Rejections& f) {
                        Message m = f.good(f.a);
                        --f.a.send_counter;
                        m.sealed[at] = value;
                        return m;
                      }};
  };
  v.push_back({"MalformedShorterThanHeaderAndTag", Status::malformed, [](Rejections& f) {
                 Message m = f.good(f.a);
                 --f.a.send_counter;
                 m.sealed.resize(47);
                 return m;
               }});
  v.push_back({"MalformedLengthFieldDisagreesWithTheSize", Status::malformed, [](Rejections& f) {
                 Message m = f.good(f.a);
                 --f.a.send_counter;
                 m.sealed.push_back(0);
                 return m;
               }});
  v.push_back(frame("MalformedBadMagic", 0, 0x00));
  v.push_back(frame("MalformedBadVersion", 4, 2));
  v.push_back(frame("MalformedDirectionEnclaveToClient", 5, 2));
  v.push_back(frame("MalformedReservedSet", 13, 1));
  v.push_back(frame("MalformedReserved2Set", 31, 1));
  v.push_back(
      {"MalformedCallNamesAnotherSessionThanTheHeader", Status::malformed, [](Rejections& f) {
         Message m = f.good(f.a);
         --f.a.send_counter;
         m.call_session = f.b.sid;
         return m;
       }});
  v.push_back({"UnknownSession", Status::unknown_session, [](Rejections& f) {
                 Client ghost = f.a;
                 ghost.sid = 0x7777;
                 return f.good(ghost);
               }});
  v.push_back({"ForgedHeaderType", Status::forged, [](Rejections& f) { return f.changed(6, 1); }});
  v.push_back(
      {"ForgedHeaderCounter", Status::forged, [](Rejections& f) { return f.changed(16, 1); }});
  v.push_back({"ForgedCiphertext", Status::forged, [](Rejections& f) { return f.changed(33, 4); }});
  v.push_back({"ForgedTag", Status::forged, [](Rejections& f) {
                 Message m = f.good(f.a);
                 --f.a.send_counter;
                 m.sealed.back() ^= 0x80;
                 return m;
               }});
  v.push_back({"ForgedAnotherSessionsMessageRelabelled", Status::forged, [](Rejections& f) {
                 Message m = f.good(f.b);
                 --f.b.send_counter;  // never delivered as b's
                 std::memcpy(m.sealed.data() + 8, &f.a.sid, 4);
                 m.call_session = f.a.sid;
                 return m;
               }});
  v.push_back({"ForgedSealedUnderAnotherSessionsKeys", Status::forged, [](Rejections& f) {
                 Client impostor = f.b;
                 impostor.sid = f.a.sid;
                 impostor.send_counter = f.a.send_counter;
                 return f.good(impostor);
               }});
  v.push_back({"ReplayedAnAcceptedMessage", Status::replayed, [](Rejections& f) {
                 Message m = f.good(f.a);
                 const CallResult first = f.call_raw(m.call_session, m.sealed);
                 EXPECT_EQ(first.status, Status::ok);
                 EXPECT_TRUE(f.a.open(first.response, HIX_MSG_ALLOC).has_value());
                 return m;
               }});
  v.push_back(
      {"ReorderedACounterAhead", Status::reordered, [](Rejections& f) {
         return Message{f.a.sid, f.a.seal(HIX_MSG_ALLOC, alloc_one(), f.a.send_counter + 1)};
       }});
  return v;
}

TEST_P(Rejections, IsCountedAnsweredUnsealedAndLeavesTheSessionWorking) {
  const RejectCase& rc = GetParam();
  Message m = rc.make(*this);
  const Session* s = service->sessions().find(a.sid);
  ASSERT_NE(s, nullptr);
  const Snapshot before = snapshot(*s);
  const gpu_enclave_stats stats_before = stats();

  const auto length = static_cast<std::uint32_t>(m.sealed.size());
  Bytes buf(call_buffer_bytes(length));
  gpu_enclave_call call{m.call_session, 0, length, 0};
  std::memcpy(buf.data(), &call, sizeof call);
  std::memcpy(buf.data() + sizeof call, m.sealed.data(), m.sealed.size());
  ASSERT_EQ(service->call(buf), CallBuffer::ok);
  std::memcpy(&call, buf.data(), sizeof call);
  EXPECT_EQ(static_cast<Status>(call.status), rc.expected)
      << to_string(static_cast<Status>(call.status));
  EXPECT_EQ(call.length, 0u);
  for (std::size_t i = sizeof call; i < buf.size(); ++i) {
    ASSERT_EQ(buf[i], 0) << "byte " << i << " of a rejected request left in the buffer";
  }

  EXPECT_TRUE(snapshot(*s) == before) << "the session changed";
  const gpu_enclave_stats after = stats();
  const auto cls = static_cast<std::size_t>(rc.expected);
  EXPECT_EQ(after.rejected[cls], stats_before.rejected[cls] + 1);
  EXPECT_EQ(after.messages_accepted, stats_before.messages_accepted);

  // The next correct message of the session still works, and so does the
  // other session.
  const auto handles = alloc(a, std::array<std::uint64_t, 1>{128});
  EXPECT_EQ(handles.size(), 1u);
  EXPECT_EQ(alloc(b, std::array<std::uint64_t, 1>{128}).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Receiving, Rejections, ::testing::ValuesIn(reject_cases()),
                         [](const ::testing::TestParamInfo<RejectCase>& p) {
                           return p.param.name;
                         });

class Responses : public SessionTest {
 protected:
  void SetUp() override { init(); }
};

TEST_F(Responses, CarryTheNextCounterTheSessionAndTheRequestsType) {
  Client c = open(0);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    const Bytes sealed = c.seal(HIX_MSG_ALLOC, alloc_one());
    const CallResult r = call_raw(c.sid, sealed);
    ASSERT_EQ(r.status, Status::ok);
    hix_msg_header h{};
    std::memcpy(&h, r.response.data(), sizeof h);
    EXPECT_EQ(h.counter, i);
    EXPECT_EQ(h.direction, HIX_MSG_TO_CLIENT);
    EXPECT_EQ(h.type, HIX_MSG_ALLOC);
    EXPECT_EQ(h.session, c.sid);
    // A client that lost this response cannot ask again: the repeat is a replay.
    EXPECT_TRUE(c.open(r.response, HIX_MSG_ALLOC).has_value());
  }
  const CallResult again = call_raw(c.sid, c.seal(HIX_MSG_ALLOC, alloc_one(), 3));
  EXPECT_EQ(again.status, Status::replayed);
}

}  // namespace
}  // namespace hix::session::test
