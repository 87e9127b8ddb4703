// bfloat16 storage: the top 16 bits of an IEEE binary32. Loads widen
// exactly; stores round to nearest even and keep NaNs NaN (spec §6.2).
#pragma once

#include <bit>
#include <cstdint>

namespace hix::vgpu {

constexpr float bf16_to_f32(std::uint16_t h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

constexpr std::uint16_t f32_to_bf16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0) {
    return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // quiet NaN, sign kept
  }
  const std::uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

static_assert(f32_to_bf16(1.0f) == 0x3F80);
static_assert(bf16_to_f32(0x3F80) == 1.0f);
// 1 + 2^-8 lies halfway between two bf16 values; ties go to the even one.
static_assert(f32_to_bf16(1.00390625f) == 0x3F80);
static_assert(f32_to_bf16(1.01171875f) == 0x3F82);

}  // namespace hix::vgpu
