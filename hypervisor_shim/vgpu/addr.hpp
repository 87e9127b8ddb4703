// Address spaces of the device server: guest-physical addresses (DMA
// targets in guest RAM) and VRAM offsets (device memory). Distinct types so
// that mixing them does not compile (STYLE.md §4).
#pragma once

#include <compare>
#include <cstdint>

namespace hix::vgpu {

struct GuestPhys {
  std::uint64_t value;
  friend constexpr auto operator<=>(GuestPhys, GuestPhys) = default;
};

struct VramOffset {
  std::uint64_t value;
  friend constexpr auto operator<=>(VramOffset, VramOffset) = default;
};

// a + b without wrapping; false on overflow.
constexpr bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}

constexpr bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

}  // namespace hix::vgpu
