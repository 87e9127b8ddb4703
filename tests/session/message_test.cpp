// Sealed-message framing (docs/specs/hix-session.md §5.1, §5.3) in the
// core, checked against the test client's independent implementation.
#include <sodium.h>

#include <cstring>

#include "harness.hpp"
#include "hix/session/message.hpp"

namespace hix::session::test {
namespace {

class Message : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    crypto_kx_keypair(client.cpk.data(), client.csk.data());
    client.sid = 7;
    randombytes_buf(client.k_c2e.data(), 32);
    randombytes_buf(client.k_e2c.data(), 32);
    std::memcpy(k_c2e.data(), client.k_c2e.data(), 32);
    std::memcpy(k_e2c.data(), client.k_e2c.data(), 32);
  }
  Client client;
  Key k_c2e{}, k_e2c{};
};

TEST_F(Message, NonceIsDirectionThenCounterLittleEndian) {
  const MsgNonce n = message_nonce(2, 0x0102030405060708ull);
  const std::array<std::uint8_t, 12> want{2, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  EXPECT_EQ(n, want);
}

TEST_F(Message, ARequestTheClientSealedOpensInPlace) {
  const Bytes plain = pattern(10, 3.0f);
  Bytes msg = client.seal(HIX_MSG_SUBMIT, plain);
  hix_msg_header h{};
  ASSERT_EQ(parse_header(msg, HIX_MSG_TO_ENCLAVE, h), Status::ok);
  EXPECT_EQ(h.type, HIX_MSG_SUBMIT);
  EXPECT_EQ(h.session, 7u);
  EXPECT_EQ(h.counter, 1u);
  ASSERT_TRUE(open_in_place(msg, h, k_c2e));
  EXPECT_EQ(0, std::memcmp(msg.data() + 32, plain.data(), plain.size()));
}

TEST_F(Message, AResponseTheCoreSealedOpensAtTheClient) {
  Bytes msg(48 + 12);
  const hix_msg_status st{HIX_SESSION_OK, 0};
  std::memcpy(msg.data() + 32, &st, sizeof st);
  std::memcpy(msg.data() + 40, "abcd", 4);
  const hix_msg_header h = make_header(HIX_MSG_TO_CLIENT, HIX_MSG_ALLOC, 7, 1, 12);
  ASSERT_TRUE(seal_in_place(msg, h, k_e2c));
  const auto reply = client.open(msg, HIX_MSG_ALLOC);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, Status::ok);
  EXPECT_EQ(Bytes(reply->data.begin(), reply->data.end()), (Bytes{'a', 'b', 'c', 'd'}));
  // A size that disagrees with the header is not sealed.
  Bytes small(40);
  EXPECT_FALSE(seal_in_place(small, h, k_e2c));
}

TEST_F(Message, FramingFaultsAreMalformed) {
  const Bytes good = client.seal(HIX_MSG_ALLOC, pattern(4, 1.0f));
  hix_msg_header h{};
  ASSERT_EQ(parse_header(good, HIX_MSG_TO_ENCLAVE, h), Status::ok);
  const auto with = [&good](std::size_t at, std::uint8_t v) {
    Bytes b = good;
    b[at] = v;
    return b;
  };
  EXPECT_EQ(parse_header(std::span(good).first(47), 1, h), Status::malformed) << "too short";
  EXPECT_EQ(parse_header(std::span(good).first(good.size() - 1), 1, h), Status::malformed)
      << "length disagrees";
  EXPECT_EQ(parse_header(with(0, 0), 1, h), Status::malformed) << "magic";
  EXPECT_EQ(parse_header(with(4, 2), 1, h), Status::malformed) << "version";
  EXPECT_EQ(parse_header(with(5, 2), 1, h), Status::malformed) << "direction";
  EXPECT_EQ(parse_header(good, HIX_MSG_TO_CLIENT, h), Status::malformed) << "wrong way";
  EXPECT_EQ(parse_header(with(12, 1), 1, h), Status::malformed) << "reserved";
  EXPECT_EQ(parse_header(with(28, 1), 1, h), Status::malformed) << "reserved2";
  EXPECT_EQ(parse_header(with(27, 0x10), 1, h), Status::malformed) << "length above HIX_MSG_MAX";
}

TEST_F(Message, AFailedOpenZeroesTheCiphertextAndReportsFailure) {
  Bytes msg = client.seal(HIX_MSG_SUBMIT, pattern(8, 2.0f));
  hix_msg_header h{};
  ASSERT_EQ(parse_header(msg, 1, h), Status::ok);
  msg[40] ^= 1;
  EXPECT_FALSE(open_in_place(msg, h, k_c2e));
  for (std::size_t i = 32; i < msg.size() - 16; ++i) ASSERT_EQ(msg[i], 0) << i;
  Bytes other = client.seal(HIX_MSG_SUBMIT, pattern(8, 2.0f));
  ASSERT_EQ(parse_header(other, 1, h), Status::ok);
  EXPECT_FALSE(open_in_place(other, h, k_e2c)) << "the other direction's key";
}

TEST_F(Message, CountersBelowAreReplaysAndAboveAreReordered) {
  EXPECT_EQ(check_counter(5, 5), Status::ok);
  EXPECT_EQ(check_counter(4, 5), Status::replayed);
  EXPECT_EQ(check_counter(0, 1), Status::replayed);
  EXPECT_EQ(check_counter(6, 5), Status::reordered);
  EXPECT_EQ(check_counter(~std::uint64_t{0}, 1), Status::reordered);
}

}  // namespace
}  // namespace hix::session::test
