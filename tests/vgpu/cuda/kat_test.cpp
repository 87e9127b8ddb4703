// The known-answer vectors (kat_vectors.inc, written by gen_kat.cpp with
// libsodium) reproduced by libsodium and by the CPU engine's seal_tensor and
// open_tensor: they pin the format the GPU engine must match byte for byte.
#include <gtest/gtest.h>

#include <span>

#include "kat_common.hpp"
#include "kat_params.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu::cuda::kat {
#include "kat_vectors.inc"

namespace {

TEST(CudaKat, VectorsMatchTheirParameters) {
  ASSERT_EQ(std::size(kVectors), std::size(kParams));
  for (std::size_t i = 0; i < std::size(kVectors); ++i) {
    EXPECT_EQ(kVectors[i].bytes, kParams[i].bytes);
    EXPECT_EQ(kVectors[i].key_id, kParams[i].key_id);
    EXPECT_EQ(kVectors[i].tensor_id, kParams[i].tensor_id);
    EXPECT_EQ(kVectors[i].seed, kParams[i].seed);
  }
}

TEST(CudaKat, LibsodiumReproducesThem) {
  for (const Vector& v : kVectors) {
    const auto sealed =
        libsodium_seal(plain_for(v.bytes, v.seed), v.key_id, v.tensor_id, key_for(v.seed));
    EXPECT_EQ(sha256_hex(sealed), v.sealed_sha256) << v.bytes;
    EXPECT_EQ(tags_hex(sealed, v.bytes), v.tags) << v.bytes;
    if (v.bytes <= kFullHexMax) {
      EXPECT_EQ(to_hex(sealed.data(), sealed.size()), v.sealed);
    }
  }
}

TEST(CudaKat, CpuEngineSealsAndOpensThem) {
  for (const Vector& v : kVectors) {
    const auto plain = plain_for(v.bytes, v.seed);
    const auto key = key_for(v.seed);
    const std::span<const std::uint8_t, kKeyBytes> k(key.data(), kKeyBytes);
    std::vector<std::byte> sealed(sealed_size(v.bytes));
    ASSERT_EQ(hix::vgpu::seal_tensor(sealed, plain, SealParams{v.key_id, v.tensor_id}, k),
              Status::ok);
    EXPECT_EQ(sha256_hex(sealed), v.sealed_sha256) << v.bytes;
    std::vector<std::byte> out(v.bytes);
    ASSERT_EQ(hix::vgpu::open_tensor(out, sealed, SealParams{v.key_id, v.tensor_id}, k),
              Status::ok);
    EXPECT_EQ(out, plain);
  }
}

}  // namespace
}  // namespace hix::vgpu::cuda::kat
