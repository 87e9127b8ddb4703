// The crypto engine and the sealed-chunk format (spec §7).
#include <gtest/gtest.h>

#include <numeric>

#include "fake_bus.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu::test {
namespace {

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + seed) & 0xFF);
  return v;
}

TEST(SealedChunk, SizesFollowTheSpec) {
  EXPECT_EQ(sealed_chunk_count(0), 0u);
  EXPECT_EQ(sealed_chunk_count(1), 1u);
  EXPECT_EQ(sealed_chunk_count(65536), 1u);
  EXPECT_EQ(sealed_chunk_count(65537), 2u);
  EXPECT_EQ(sealed_size(100), 32u + 100u + 16u);
  EXPECT_EQ(sealed_size(65537), 65584u + 32u + 1u + 16u);
}

TEST(SealedChunk, RoundTripAcrossSeveralChunks) {
  const Key k = make_key(5);
  const auto plain = pattern(3 * 65536 + 123, 1);
  std::vector<std::byte> sealed(sealed_size(plain.size()));
  ASSERT_EQ(seal_tensor(sealed, plain, SealParams{2, 77}, k), Status::ok);
  std::vector<std::byte> out(plain.size());
  ASSERT_EQ(open_tensor(out, sealed, SealParams{2, 77}, k), Status::ok);
  EXPECT_EQ(out, plain);
  // The header is in the clear and says what it is.
  hix_vgpu_chunk_header h{};
  std::memcpy(&h, sealed.data() + 2 * kChunkStride, sizeof h);
  EXPECT_EQ(h.magic, HIX_VGPU_CHUNK_MAGIC);
  EXPECT_EQ(h.chunk_index, 2u);
  EXPECT_EQ(h.chunk_count, 4u);
  EXPECT_EQ(h.tensor_id, 77u);
  EXPECT_EQ(h.key_id, 2u);
}

class SealedAttack : public ::testing::Test {
 protected:
  void SetUp() override {
    sealed.resize(sealed_size(plain.size()));
    ASSERT_EQ(seal_tensor(sealed, plain, SealParams{1, 10}, key), Status::ok);
  }
  Status open(const std::vector<std::byte>& s, SealParams p = {1, 10}, std::size_t n = 0) {
    out.assign(n == 0 ? plain.size() : n, std::byte{0x55});
    return open_tensor(out, s, p, key);
  }
  Key key = make_key(6);
  std::vector<std::byte> plain = pattern(2 * 65536 + 10, 2);
  std::vector<std::byte> sealed;
  std::vector<std::byte> out;
};

TEST_F(SealedAttack, FlippedCiphertextHeaderOrTagFailsAndZeroesTheOutput) {
  for (const std::size_t at : {std::size_t{40}, std::size_t{8}, std::size_t{32 + 65536 + 3},
                               kChunkStride + 100, sealed.size() - 1}) {
    auto s = sealed;
    s[at] ^= std::byte{1};
    EXPECT_EQ(open(s), Status::auth_failed) << at;
    EXPECT_EQ(out, std::vector<std::byte>(out.size(), std::byte{0})) << at;
  }
}

TEST_F(SealedAttack, SwappedChunksFail) {
  auto s = sealed;
  std::swap_ranges(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(kChunkStride),
                   s.begin() + static_cast<std::ptrdiff_t>(kChunkStride));
  EXPECT_EQ(open(s), Status::auth_failed);
}

TEST_F(SealedAttack, OtherTensorIdKeySlotOrLengthFail) {
  EXPECT_EQ(open(sealed, SealParams{1, 11}), Status::auth_failed);
  EXPECT_EQ(open(sealed, SealParams{0, 10}), Status::auth_failed);
  // Truncation: the first chunk alone, presented as a one-chunk tensor.
  std::vector<std::byte> first(sealed.begin(),
                               sealed.begin() + static_cast<std::ptrdiff_t>(kChunkStride));
  EXPECT_EQ(open(first, SealParams{1, 10}, 65536), Status::auth_failed);
}

TEST_F(SealedAttack, ChunkFromAnotherTensorFails) {
  std::vector<std::byte> other(sealed.size());
  ASSERT_EQ(seal_tensor(other, plain, SealParams{1, 20}, key), Status::ok);
  auto s = sealed;
  std::copy_n(other.begin() + static_cast<std::ptrdiff_t>(kChunkStride), kChunkStride,
              s.begin() + static_cast<std::ptrdiff_t>(kChunkStride));
  EXPECT_EQ(open(s), Status::auth_failed);
}

class CryptoEngineOnDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    bus.start_ring();
    ctx = bus.create_context();
    buf = bus.alloc(ctx, kBytes);
    bus.install_slot(ctx, 3, key);
  }
  std::uint64_t put_sealed(const std::vector<std::byte>& plain, std::uint64_t id,
                           std::uint8_t slot = 3) {
    std::vector<std::byte> s(sealed_size(plain.size()));
    EXPECT_EQ(seal_tensor(s, plain, SealParams{slot, id}, key), Status::ok);
    const auto gpa = bus.guest_alloc(s.size());
    bus.guest_write(gpa, s);
    return gpa;
  }
  std::vector<std::byte> vram_of_buf() {  // buf is the only buffer: VRAM offset 0
    std::vector<std::byte> v(kBytes);
    EXPECT_EQ(bus.dev->backend().read_bytes(VramOffset{0}, v), Status::ok);
    return v;
  }
  static constexpr std::uint64_t kBytes = 65536 + 4096;
  FakeBus bus{1 << 20};
  Key key = make_key(7);
  std::uint32_t ctx = 0, buf = 0;
};

TEST_F(CryptoEngineOnDevice, DmaInDecryptWritesThePlaintext) {
  const auto plain = pattern(kBytes, 3);
  const auto gpa = put_sealed(plain, 1);
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32), {.gpa = gpa, .bytes = kBytes},
              {.tensor_id = 1, .key_slot = 3});
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  EXPECT_EQ(vram_of_buf(), plain);
}

TEST_F(CryptoEngineOnDevice, ABadTagInTheLastChunkLeavesTheDestinationZeroed) {
  CmdbufBuilder fill;
  fill.fill(tref(buf, HIX_VGPU_DT_I32), kBytes / 4, 0xA5A5A5A5u);
  ASSERT_EQ(bus.submit(ctx, fill), Status::ok);
  const auto before = vram_of_buf();
  const auto plain = pattern(kBytes, 4);
  const auto gpa = put_sealed(plain, 1);
  bus.guest(gpa + sealed_size(kBytes) - 1, 1)[0] ^= std::byte{0x80};  // last tag byte
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32), {.gpa = gpa, .bytes = kBytes},
              {.tensor_id = 1, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, b), Status::auth_failed);
  // Spec §7.2: neither the old contents nor the first (verified) chunk's
  // plaintext remain.
  ASSERT_NE(before, std::vector<std::byte>(kBytes));
  EXPECT_EQ(vram_of_buf(), std::vector<std::byte>(kBytes)) << "the destination reads as zeros";
  EXPECT_EQ(bus.reg(Reg32::auth_failures), 1u);
}

TEST_F(CryptoEngineOnDevice, WrongTensorIdSlotOrEmptySlotFail) {
  const auto gpa = put_sealed(pattern(kBytes, 5), 1);
  CmdbufBuilder wrong_id;
  wrong_id.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32),
                     {.gpa = gpa, .bytes = kBytes}, {.tensor_id = 2, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, wrong_id), Status::auth_failed);
  bus.install_slot(ctx, 4, key);  // same key, other slot: the header binds the slot
  CmdbufBuilder wrong_slot;
  wrong_slot.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32),
                       {.gpa = gpa, .bytes = kBytes}, {.tensor_id = 1, .key_slot = 4});
  EXPECT_EQ(bus.submit(ctx, wrong_slot), Status::auth_failed);
  CmdbufBuilder empty;
  empty.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32),
                  {.gpa = gpa, .bytes = kBytes}, {.tensor_id = 1, .key_slot = 5});
  EXPECT_EQ(bus.submit(ctx, empty), Status::bad_key_slot);
  CmdbufBuilder device_id;
  device_id.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32),
                      {.gpa = gpa, .bytes = kBytes},
                      {.tensor_id = kDeviceTensorBit | 1, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, device_id), Status::invalid_arg);
  EXPECT_EQ(bus.reg(Reg32::auth_failures), 2u);
}

TEST_F(CryptoEngineOnDevice, DmaOutEncryptSealsForTheUserAndNeverReusesAnId) {
  const auto plain = pattern(kBytes, 6);
  const auto in = put_sealed(plain, 1);
  const auto out = bus.guest_alloc(sealed_size(kBytes));
  const std::uint64_t id = kDeviceTensorBit | 5;
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32), {.gpa = in, .bytes = kBytes},
              {.tensor_id = 1, .key_slot = 3});
  b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(buf, HIX_VGPU_DT_F32),
              {.gpa = out, .bytes = kBytes}, {.tensor_id = id, .key_slot = 3});
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  const auto sealed = bus.guest(out, sealed_size(kBytes));
  std::vector<std::byte> opened(kBytes);
  ASSERT_EQ(open_tensor(opened, sealed, SealParams{3, id}, key), Status::ok);
  EXPECT_EQ(opened, plain);
  CmdbufBuilder again;  // the same id (or a lower one) would reuse a nonce
  again.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(buf, HIX_VGPU_DT_F32),
                  {.gpa = out, .bytes = kBytes}, {.tensor_id = id, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, again), Status::replay);
  CmdbufBuilder host_id;
  host_id.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(buf, HIX_VGPU_DT_F32),
                    {.gpa = out, .bytes = kBytes}, {.tensor_id = 9, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, host_id), Status::invalid_arg);
  CmdbufBuilder next;
  next.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(buf, HIX_VGPU_DT_F32),
                 {.gpa = out, .bytes = kBytes}, {.tensor_id = id + 1, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, next), Status::ok);
}

TEST_F(CryptoEngineOnDevice, SealedDmaHonoursTheDenyMap) {
  const auto gpa = put_sealed(pattern(kBytes, 7), 1);
  bus.dev->set_dma_deny({DenyRange{GuestPhys{gpa + 66000}, 1000}});
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf, HIX_VGPU_DT_F32), {.gpa = gpa, .bytes = kBytes},
              {.tensor_id = 1, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, b), Status::dma_denied);
  CmdbufBuilder o;
  o.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(buf, HIX_VGPU_DT_F32),
              {.gpa = gpa, .bytes = kBytes}, {.tensor_id = kDeviceTensorBit | 1, .key_slot = 3});
  EXPECT_EQ(bus.submit(ctx, o), Status::dma_denied);
  EXPECT_EQ(bus.reg(Reg32::dma_denied), 2u);
}

}  // namespace
}  // namespace hix::vgpu::test
