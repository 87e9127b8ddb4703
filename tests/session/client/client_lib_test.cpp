// The session client library (user_runtime/libhix/session) against the
// spec: sealed tensors byte for byte against the device's own sealer
// (hypervisor_shim/vgpu, here only), sealed messages and their receive
// checks, the key schedule and the report binding derived independently,
// the attestation refusals in their order, and the frame header checks.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <vector>

#include "sealed_chunk.hpp"
#include "session/client.hpp"
#include "session/frame.hpp"
#include "session/keys.hpp"
#include "session/sealed_message.hpp"
#include "session/tensor_seal.hpp"

namespace hix::client {
namespace {

using Bytes = std::vector<std::uint8_t>;

Key key_of(std::uint8_t v) {
  Key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(v + 7 * i);
  return k;
}

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 31 + (i >> 8));
  return b;
}

std::span<const std::byte> as_bytes_u8(const Bytes& b) {
  return std::as_bytes(std::span(b));
}

// ---- sealed tensors (hix-gpu §7.1) -----------------------------------------

class TensorSealing : public ::testing::TestWithParam<std::size_t> {};

TEST_P(TensorSealing, MatchesTheDeviceSealerByteForByte) {
  const Bytes plain = pattern(GetParam(), 3);
  const Key k = key_of(9);
  Bytes ours(sealed_size(plain.size()));
  ASSERT_TRUE(seal_tensor(ours, plain, {2, 77}, k));
  std::vector<std::byte> theirs(vgpu::sealed_size(plain.size()));
  ASSERT_EQ(theirs.size(), ours.size());
  ASSERT_EQ(vgpu::seal_tensor(theirs, as_bytes_u8(plain), {2, 77}, k), vgpu::Status::ok);
  EXPECT_EQ(std::memcmp(ours.data(), theirs.data(), ours.size()), 0);
}

TEST_P(TensorSealing, OpensWhatTheDeviceSealed) {
  const Bytes plain = pattern(GetParam(), 5);
  const Key k = key_of(1);
  const std::uint64_t id = kDeviceTensorBit | 5;
  std::vector<std::byte> sealed(vgpu::sealed_size(plain.size()));
  ASSERT_EQ(vgpu::seal_tensor(sealed, as_bytes_u8(plain), {0, id}, k), vgpu::Status::ok);
  Bytes out(plain.size());
  // reinterpret_cast: the device's bytes as the client's.
  const std::span<const std::uint8_t> s(reinterpret_cast<const std::uint8_t*>(sealed.data()),
                                        sealed.size());
  ASSERT_TRUE(open_tensor(out, s, {0, id}, k));
  EXPECT_EQ(out, plain);
}

TEST_P(TensorSealing, TheDeviceOpensWhatTheClientSealed) {
  const Bytes plain = pattern(GetParam(), 8);
  const Key k = key_of(4);
  Bytes sealed(sealed_size(plain.size()));
  ASSERT_TRUE(seal_tensor(sealed, plain, {1, 12}, k));
  std::vector<std::byte> out(plain.size());
  ASSERT_EQ(vgpu::open_tensor(out, as_bytes_u8(sealed), {1, 12}, k), vgpu::Status::ok);
  EXPECT_EQ(std::memcmp(out.data(), plain.data(), plain.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Sizes, TensorSealing,
                         ::testing::Values(1, 4, 4095, 65535, 65536, 65537, 2 * 65536 + 100),
                         [](const auto& param_info) {
                           return std::to_string(param_info.param) + "_bytes";
                         });

TEST(TensorSeal, SizeIsPlaintextPlus48PerChunk) {
  EXPECT_EQ(sealed_size(0), 0u);
  EXPECT_EQ(sealed_size(1), 49u);
  EXPECT_EQ(sealed_size(65536), 65536u + 48);
  EXPECT_EQ(sealed_size(65537), 65537u + 96);
  EXPECT_EQ(sealed_size(kTensorMaxBytes + 1), 0u);
  for (std::uint64_t n : {1ull, 100ull, 65536ull, 1000000ull}) {
    EXPECT_EQ(sealed_size(n), vgpu::sealed_size(n)) << n;
  }
}

TEST(TensorSeal, RefusesAWrongOutputSize) {
  const Bytes plain = pattern(100, 1);
  Bytes out(sealed_size(100) + 1);
  EXPECT_FALSE(seal_tensor(out, plain, {0, 1}, key_of(1)));
}

// Every byte of a two-chunk sealed tensor matters: a change anywhere (header,
// ciphertext, tag) makes open fail, and the output is zeroed.
TEST(TensorSeal, AnyFlippedByteFailsAndZeroesTheOutput) {
  const Bytes plain = pattern(65536 + 10, 2);
  const Key k = key_of(3);
  Bytes sealed(sealed_size(plain.size()));
  ASSERT_TRUE(seal_tensor(sealed, plain, {0, 9}, k));
  const std::size_t second = kChunkStride;
  for (const std::size_t at :
       {std::size_t{0}, std::size_t{5}, std::size_t{8}, std::size_t{16}, std::size_t{20},
        std::size_t{24}, std::size_t{40}, second - 1, second + 4, sealed.size() - 1}) {
    Bytes bad = sealed;
    bad[at] ^= 0x01;
    Bytes out(plain.size(), 0xAA);
    EXPECT_FALSE(open_tensor(out, bad, {0, 9}, k)) << "byte " << at;
    EXPECT_EQ(out, Bytes(plain.size(), 0)) << "byte " << at;
  }
}

TEST(TensorSeal, IsBoundToSlotIdSizeAndKey) {
  const Bytes plain = pattern(300, 4);
  const Key k = key_of(5);
  Bytes sealed(sealed_size(plain.size()));
  ASSERT_TRUE(seal_tensor(sealed, plain, {0, 9}, k));
  Bytes out(plain.size());
  EXPECT_TRUE(open_tensor(out, sealed, {0, 9}, k));
  EXPECT_FALSE(open_tensor(out, sealed, {1, 9}, k));          // another slot
  EXPECT_FALSE(open_tensor(out, sealed, {0, 10}, k));         // another tensor id
  EXPECT_FALSE(open_tensor(out, sealed, {0, 9}, key_of(6)));  // another key
  Bytes shorter(plain.size() - 1);
  EXPECT_FALSE(open_tensor(shorter, std::span(sealed).first(sealed_size(shorter.size())), {0, 9},
                           k));  // truncated
}

TEST(TensorSeal, ChunksCannotBeSwapped) {
  const Bytes plain = pattern(std::size_t{2} * 65536, 6);
  const Key k = key_of(7);
  Bytes sealed(sealed_size(plain.size()));
  ASSERT_TRUE(seal_tensor(sealed, plain, {0, 3}, k));
  Bytes swapped(sealed.size());
  std::memcpy(swapped.data(), sealed.data() + kChunkStride, kChunkStride);
  std::memcpy(swapped.data() + kChunkStride, sealed.data(), kChunkStride);
  Bytes out(plain.size());
  EXPECT_FALSE(open_tensor(out, swapped, {0, 3}, k));
}

// ---- sealed messages (hix-session §5) ----------------------------------------

TEST(SealedMessage, HeaderIsTheSpecLayoutAndTheTagVerifiesIndependently) {
  const Key k = key_of(11);
  const Bytes plain = pattern(40, 1);
  const Bytes m = seal_message({HIX_MSG_TO_ENCLAVE, HIX_MSG_SUBMIT, 0x01020304, 7}, plain, k);
  ASSERT_EQ(m.size(), 32 + plain.size() + 16);
  const Bytes want_header = {0x48, 0x58, 0x53, 0x4D,              // "HXSM"
                             1,    1,    0x04, 0x00,              // version, direction, type
                             0x04, 0x03, 0x02, 0x01,              // session
                             0,    0,    0,    0,                 // reserved
                             7,    0,    0,    0,    0, 0, 0, 0,  // counter
                             40,   0,    0,    0,                 // length
                             0,    0,    0,    0};
  EXPECT_EQ(Bytes(m.begin(), m.begin() + 32), want_header);
  // nonce = direction u32 LE || counter u64 LE, AD = the header.
  const std::uint8_t nonce[12] = {1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
  Bytes out(plain.size());
  ASSERT_EQ(crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                out.data(), nullptr, m.data() + 32, plain.size(), m.data() + 32 + plain.size(),
                m.data(), 32, nonce, k.data()),
            0);
  EXPECT_EQ(out, plain);
}

TEST(SealedMessage, OpenChecksInTheSpecOrder) {
  const Key k = key_of(12);
  const Bytes plain = pattern(16, 2);
  const MessageFields f{HIX_MSG_TO_CLIENT, HIX_MSG_ALLOC, 5, 3};
  const Bytes m = seal_message(f, plain, k);
  Bytes out;
  EXPECT_EQ(open_message(m, f, k, out), OpenStatus::ok);
  EXPECT_EQ(out, plain);

  EXPECT_EQ(open_message(std::span(m).first(47), f, k, out), OpenStatus::malformed);
  Bytes bad = m;
  bad[24] ^= 1;  // length field disagrees with the size
  EXPECT_EQ(open_message(bad, f, k, out), OpenStatus::malformed);
  bad = m;
  bad[12] = 1;  // reserved
  EXPECT_EQ(open_message(bad, f, k, out), OpenStatus::malformed);
  MessageFields other = f;
  other.direction = HIX_MSG_TO_ENCLAVE;
  EXPECT_EQ(open_message(m, other, k, out), OpenStatus::malformed);
  other = f;
  other.session = 6;
  EXPECT_EQ(open_message(m, other, k, out), OpenStatus::unknown_session);
  bad = m;
  bad[40] ^= 1;  // ciphertext
  EXPECT_EQ(open_message(bad, f, k, out), OpenStatus::forged);
  EXPECT_TRUE(out.empty());
  other = f;
  other.counter = 4;
  EXPECT_EQ(open_message(m, other, k, out), OpenStatus::replayed);
  other.counter = 2;
  EXPECT_EQ(open_message(m, other, k, out), OpenStatus::reordered);
  other = f;
  other.type = HIX_MSG_FREE;
  EXPECT_EQ(open_message(m, other, k, out), OpenStatus::wrong_type);
  EXPECT_EQ(open_message(m, f, key_of(13), out), OpenStatus::forged);
}

// A Channel's counters: requests use 1, 2, 3...; a response that fails to
// open does not advance the expected counter.
TEST(Channel, CountersAdvancePerDirection) {
  const KeyPair client = KeyPair::generate();
  PublicKey epk{};
  Key esk{};
  crypto_kx_keypair(epk.data(), esk.data());
  auto keys = client_session_keys(client, epk);
  ASSERT_TRUE(keys.has_value());
  Key rx{}, tx{};
  ASSERT_EQ(crypto_kx_server_session_keys(rx.data(), tx.data(), epk.data(), esk.data(),
                                          client.public_key().data()),
            0);
  Channel ch(9, std::move(*keys));
  const Bytes r1 = ch.seal_request(HIX_MSG_ALLOC, pattern(8, 1));
  const Bytes r2 = ch.seal_request(HIX_MSG_FREE, pattern(8, 2));
  Bytes out;
  EXPECT_EQ(open_message(r1, {HIX_MSG_TO_ENCLAVE, HIX_MSG_ALLOC, 9, 1}, rx, out), OpenStatus::ok);
  EXPECT_EQ(open_message(r2, {HIX_MSG_TO_ENCLAVE, HIX_MSG_FREE, 9, 2}, rx, out), OpenStatus::ok);

  const Bytes status_ok(8, 0);
  const Bytes resp1 = seal_message({HIX_MSG_TO_CLIENT, HIX_MSG_ALLOC, 9, 1}, status_ok, tx);
  const Bytes resp2 = seal_message({HIX_MSG_TO_CLIENT, HIX_MSG_FREE, 9, 2}, status_ok, tx);
  EXPECT_FALSE(ch.open_response(HIX_MSG_FREE, resp2).ok());  // reordered
  EXPECT_EQ(ch.expected_receive(), 1u);
  EXPECT_TRUE(ch.open_response(HIX_MSG_ALLOC, resp1).ok());
  EXPECT_FALSE(ch.open_response(HIX_MSG_ALLOC, resp1).ok());  // replayed
  EXPECT_TRUE(ch.open_response(HIX_MSG_FREE, resp2).ok());
  EXPECT_EQ(ch.expected_receive(), 3u);
}

// ---- keys (hix-session §3) ---------------------------------------------------

TEST(KeySchedule, MatchesTheEnclaveSideAndAnIndependentTensorKey) {
  const KeyPair client = KeyPair::generate();
  PublicKey epk{};
  Key esk{};
  crypto_kx_keypair(epk.data(), esk.data());
  auto keys = client_session_keys(client, epk);
  ASSERT_TRUE(keys.has_value());
  Key e_rx{}, e_tx{};
  ASSERT_EQ(crypto_kx_server_session_keys(e_rx.data(), e_tx.data(), epk.data(), esk.data(),
                                          client.public_key().data()),
            0);
  EXPECT_EQ(keys->c2e, e_rx);
  EXPECT_EQ(keys->e2c, e_tx);
  EXPECT_NE(keys->c2e, keys->e2c);
  // K_t with BLAKE2b's multi-part API, key = K_c2e || K_e2c.
  std::uint8_t kk[64];
  std::memcpy(kk, e_rx.data(), 32);
  std::memcpy(kk + 32, e_tx.data(), 32);
  crypto_generichash_blake2b_state st;
  crypto_generichash_blake2b_init(&st, kk, sizeof kk, 32);
  const char label[] = "OpenHIX-tensor-key-v1";
  // reinterpret_cast: the label's chars as bytes.
  crypto_generichash_blake2b_update(&st, reinterpret_cast<const unsigned char*>(label),
                                    sizeof label - 1);
  Key kt{};
  crypto_generichash_blake2b_final(&st, kt.data(), kt.size());
  EXPECT_EQ(keys->tensor, kt);
}

TEST(KeySchedule, RefusesAnAllZeroEnclaveKey) {
  const KeyPair client = KeyPair::generate();
  const PublicKey zero{};
  EXPECT_FALSE(client_session_keys(client, zero).has_value());
}

TEST(Binding, IsSha256OfLabelKeysNonceAndSessionLittleEndian) {
  PublicKey epk{}, cpk{};
  Nonce nonce{};
  for (std::size_t i = 0; i < 32; ++i) {
    epk[i] = static_cast<std::uint8_t>(i);
    cpk[i] = static_cast<std::uint8_t>(100 + i);
    nonce[i] = static_cast<std::uint8_t>(200 + i);
  }
  Bytes msg = {'O', 'p', 'e', 'n', 'H', 'I', 'X', '-', 's',
               'e', 's', 's', 'i', 'o', 'n', '-', 'v', '1'};
  msg.insert(msg.end(), epk.begin(), epk.end());
  msg.insert(msg.end(), cpk.begin(), cpk.end());
  msg.insert(msg.end(), nonce.begin(), nonce.end());
  msg.insert(msg.end(), {0x78, 0x56, 0x34, 0x12});
  std::uint8_t want[32];
  crypto_hash_sha256(want, msg.data(), msg.size());
  const ReportData got = session_binding(epk, cpk, nonce, 0x12345678);
  EXPECT_EQ(std::memcmp(got.data(), want, 32), 0);
  EXPECT_EQ(Bytes(got.begin() + 32, got.end()), Bytes(32, 0));
}

// ---- OPEN's checks (hix-session §3.2) ----------------------------------------

class OpenReply : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    crypto_sign_keypair(platform_pk.data(), platform_sk.data());
    for (std::size_t i = 0; i < 32; ++i) mrenclave[i] = static_cast<std::uint8_t>(0xA0 + i);
    Key esk{};
    crypto_kx_keypair(epk.data(), esk.data());
    random_bytes(nonce);
    reply.session = 42;
    std::memcpy(reply.enclave_pk, epk.data(), 32);
    sign(session_binding(epk, client.public_key(), nonce, 42));
  }
  // A report as a correct platform makes it over `data`.
  void sign(const ReportData& data, std::uint64_t attributes = 0) {
    hix_report r{};
    r.version = HIX_REPORT_VERSION;
    r.isa_version = 1;
    r.attributes = attributes;
    std::memcpy(r.mrenclave, mrenclave.data(), 32);
    std::memcpy(r.report_data, data.data(), data.size());
    crypto_hash_sha256(r.platform_key_id, platform_pk.data(), platform_pk.size());
    // reinterpret_cast: the report's bytes, signed as they travel.
    crypto_sign_detached(r.signature, nullptr, reinterpret_cast<const unsigned char*>(&r),
                         HIX_REPORT_SIGNED_SIZE, platform_sk.data());
    std::memcpy(reply.report, &r, sizeof r);
  }
  Check check(const Expectations& e) {
    return check_open_reply(reply, e, client.public_key(), nonce);
  }
  Expectations expect() const { return Expectations::attested(platform_pk, mrenclave); }

  std::array<std::uint8_t, 32> platform_pk{};
  std::array<std::uint8_t, 64> platform_sk{};
  std::array<std::uint8_t, 32> mrenclave{};
  PublicKey epk{};
  KeyPair client = KeyPair::generate();
  Nonce nonce{};
  hix_open_reply reply{};
};

TEST_F(OpenReply, AcceptsABoundReportFromTheExpectedEnclave) {
  EXPECT_TRUE(check(expect()).ok());
}

TEST_F(OpenReply, RefusesAReportUnderAnotherPlatformKey) {
  Expectations e = expect();
  e.platform_key[0] ^= 1;
  const Check c = check(e);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::attestation);
  EXPECT_NE(c.error().message.find("bad_signature"), std::string::npos) << c.error().message;
}

TEST_F(OpenReply, RefusesAnotherEnclave) {
  Expectations e = expect();
  e.mrenclave[31] ^= 1;
  const Check c = check(e);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("wrong_mrenclave"), std::string::npos) << c.error().message;
}

TEST_F(OpenReply, RefusesAnUnenforcedPlatform) {
  sign(session_binding(epk, client.public_key(), nonce, 42), HIX_ATTR_UNENFORCED);
  const Check c = check(expect());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("unenforced"), std::string::npos) << c.error().message;
}

TEST_F(OpenReply, RefusesATamperedReport) {
  reply.report[70] ^= 1;  // report_data, under the signature
  const Check c = check(expect());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("bad_signature"), std::string::npos) << c.error().message;
}

TEST_F(OpenReply, RefusesAReportBindingAnotherNonceKeyOrSession) {
  const KeyPair other = KeyPair::generate();
  Nonce other_nonce = nonce;
  other_nonce[0] ^= 1;
  for (const ReportData& d : {session_binding(epk, client.public_key(), other_nonce, 42),
                              session_binding(epk, other.public_key(), nonce, 42),
                              session_binding(epk, client.public_key(), nonce, 43)}) {
    sign(d);
    const Check c = check(expect());
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind, ErrorKind::attestation);
    EXPECT_NE(c.error().message.find("does not bind"), std::string::npos) << c.error().message;
  }
  // A genuine report for this client, but hixd swapped in another enclave key.
  sign(session_binding(epk, client.public_key(), nonce, 42));
  reply.enclave_pk[0] ^= 1;
  EXPECT_FALSE(check(expect()).ok());
}

TEST_F(OpenReply, RefusesAPlainReplyWhenProtectionWasAsked) {
  reply.flags = HIX_OPEN_PLAIN;
  std::memset(reply.report, 0, sizeof reply.report);
  const Check c = check(expect());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::attestation);
  EXPECT_NE(c.error().message.find("plain mode"), std::string::npos) << c.error().message;
  EXPECT_TRUE(check(Expectations::plain_mode()).ok());
}

TEST_F(OpenReply, APlainClientRefusesAProtectedHixd) {
  const Check c = check(Expectations::plain_mode());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::attestation);
}

TEST_F(OpenReply, RefusesUnknownFlags) {
  reply.flags = 0x2;
  EXPECT_FALSE(check(expect()).ok());
}

// ---- frames (hix-session §2) -------------------------------------------------

TEST(Frame, RequestHeaderIsTheSpecLayout) {
  const hix_frame_header h = request_header(HIX_FRAME_CALL, 0x1234);
  Bytes b(sizeof h);
  std::memcpy(b.data(), &h, sizeof h);
  EXPECT_EQ(b, (Bytes{'H', 'X', 'D', '1', 3, 0, 0, 0, 0x34, 0x12, 0, 0, 0, 0, 0, 0}));
}

TEST(Frame, ReplyHeadersAreChecked) {
  hix_frame_header h = request_header(HIX_FRAME_GET | HIX_FRAME_REPLY, 10);
  EXPECT_TRUE(check_reply_header(h, HIX_FRAME_GET).ok());
  EXPECT_FALSE(check_reply_header(h, HIX_FRAME_PUT).ok());  // answers another request
  hix_frame_header bad = h;
  bad.magic ^= 1;
  EXPECT_FALSE(check_reply_header(bad, HIX_FRAME_GET).ok());
  bad = h;
  bad.flags = 1;
  EXPECT_FALSE(check_reply_header(bad, HIX_FRAME_GET).ok());
  bad = h;
  bad.length = HIX_FRAME_MAX + 1;
  EXPECT_FALSE(check_reply_header(bad, HIX_FRAME_GET).ok());
  bad = request_header(HIX_FRAME_GET, 0);  // no reply bit
  EXPECT_FALSE(check_reply_header(bad, HIX_FRAME_GET).ok());
}

TEST(Status, NamesDescribeDetails) {
  EXPECT_EQ(describe_status(
                {.status = HIX_SESSION_VALIDATION, .detail = (HIX_VALID_DMA_RANGE << 16) | 3}),
            "validation (dma_range, op 3)");
  EXPECT_EQ(
      describe_status({.status = HIX_SESSION_DEVICE, .detail = (7u << 16) | HIX_VGPU_AUTH_FAILED}),
      "device (auth_failed, op 7)");
  EXPECT_EQ(session_status_name(HIX_SESSION_FORGED), "forged");
  EXPECT_EQ(session_status_name(99), "status 99");
}

}  // namespace
}  // namespace hix::client
