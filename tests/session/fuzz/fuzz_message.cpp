// libFuzzer target: sealed messages into a fixed session (docs/specs/
// hix-session.md §5). The input is a sequence of records, each either raw
// bytes passed off as a sealed request or a plaintext the harness seals
// correctly (with a counter one behind, on, or ahead of the expected one),
// so both the opener and the request handlers behind it are reached.
//
// Invariants (a violation traps): CALL never refuses a correctly sized
// buffer; an unsealed answer is one of the §5.3 classes, leaves nothing in
// the buffer and the session exactly as it was; an accepted request was
// authentic (its tag verifies under K_c2e, independently checked) and
// carried the expected counter; its response opens under K_e2c with the
// next counter, the request's type and a status of §8.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_world.hpp"

using namespace hix::session;
using hix::session::fuzz::Bytes;
using hix::session::fuzz::World;

namespace {

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

struct Snapshot {
  std::uint64_t recv, send, highest;
  std::uint32_t slots, buffers;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snap(const Session& s) {
  return {s.recv_expected, s.send_next, s.highest_input_id, s.slots, s.buffer_count};
}

bool authentic(const Bytes& msg, const Key& key, hix_msg_header& h) {
  if (msg.size() < kMsgOverhead) return false;
  std::memcpy(&h, msg.data(), sizeof h);
  if (std::uint64_t{h.length} + kMsgOverhead != msg.size()) return false;
  Bytes plain(h.length);
  const MsgNonce n = message_nonce(1, h.counter);
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
             plain.data(), nullptr, msg.data() + kMsgHeaderBytes, h.length,
             msg.data() + kMsgHeaderBytes + h.length, msg.data(), kMsgHeaderBytes, n.data(),
             key.data()) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World w;
  CHECK(w.start());
  std::uint64_t send = 1;  // the client's next counter
  std::uint64_t recv = 1;  // the response counter it expects
  std::size_t at = 0;
  for (int record = 0; record < 16 && size - at >= 3; ++record) {
    const std::uint8_t kind = data[at];
    std::uint16_t len = 0;
    std::memcpy(&len, data + at + 1, 2);
    at += 3;
    if (len > size - at) len = static_cast<std::uint16_t>(size - at);
    const std::span<const std::uint8_t> payload(data + at, len);
    at += len;

    Bytes msg;
    if ((kind & 1) == 0 || payload.size() < 2) {
      msg.assign(payload.begin(), payload.end());
    } else {
      std::uint16_t type = 0;
      std::memcpy(&type, payload.data(), 2);
      const std::uint64_t counter = send + ((kind >> 1) & 3) - 1;
      msg = w.seal(type, payload.subspan(2), counter);
    }

    const Session* s = w.service->sessions().find(w.sid);
    if (s == nullptr) break;  // closed
    const Snapshot before = snap(*s);
    gpu_enclave_stats stats_before{};
    w.service->stats(stats_before);

    const auto length = static_cast<std::uint32_t>(msg.size());
    Bytes buf(call_buffer_bytes(length));
    gpu_enclave_call call{w.sid, 0, length, 0};
    std::memcpy(buf.data(), &call, sizeof call);
    if (!msg.empty()) std::memcpy(buf.data() + sizeof call, msg.data(), msg.size());
    CHECK(w.service->call(buf) == CallBuffer::ok);
    std::memcpy(&call, buf.data(), sizeof call);

    if (call.status != HIX_SESSION_OK) {
      CHECK(call.status >= HIX_SESSION_MALFORMED && call.status <= HIX_SESSION_REORDERED);
      CHECK(call.length == 0);
      for (std::size_t i = sizeof call; i < buf.size(); ++i) CHECK(buf[i] == 0);
      const Session* after = w.service->sessions().find(w.sid);
      CHECK(after != nullptr && snap(*after) == before);
      gpu_enclave_stats st{};
      w.service->stats(st);
      CHECK(st.rejected[call.status] == stats_before.rejected[call.status] + 1);
      CHECK(st.messages_accepted == stats_before.messages_accepted);
      continue;
    }

    // Accepted: it was authentic and in order.
    hix_msg_header h{};
    CHECK(authentic(msg, w.k_c2e, h));
    CHECK(h.counter == before.recv && h.session == w.sid);
    send = h.counter + 1;
    // Its response opens, in order, for the same type.
    CHECK(call.length >= kMsgOverhead + sizeof(hix_msg_status));
    CHECK(sizeof call + call.length <= buf.size());
    Bytes resp(buf.begin() + sizeof call, buf.begin() + sizeof call + call.length);
    for (std::size_t i = sizeof call + call.length; i < buf.size(); ++i) CHECK(buf[i] == 0);
    hix_msg_header rh{};
    CHECK(parse_header(resp, HIX_MSG_TO_CLIENT, rh) == Status::ok);
    CHECK(rh.type == h.type && rh.session == w.sid && rh.counter == recv);
    CHECK(open_in_place(resp, rh, w.k_e2c));
    ++recv;
    hix_msg_status st{};
    std::memcpy(&st, resp.data() + kMsgHeaderBytes, sizeof st);
    CHECK(st.status <= HIX_SESSION_INTERNAL && st.status != HIX_SESSION_INTERNAL);
    if (st.status == HIX_SESSION_VALIDATION) {
      const std::uint32_t reason = st.detail >> 16;
      CHECK(reason >= HIX_VALID_HEADER && reason <= HIX_VALID_TENSOR_ID);
    }
    const Session* after = w.service->sessions().find(w.sid);
    if (h.type == HIX_MSG_CLOSE && st.status == HIX_SESSION_OK) {
      CHECK(after == nullptr);
      CHECK(w.dev->live_contexts() == 0);
      break;
    }
    CHECK(after != nullptr && after->recv_expected == before.recv + 1);
    CHECK(after->send_next == before.send + 1);
    CHECK(after->highest_input_id >= before.highest);
  }
  return 0;
}
