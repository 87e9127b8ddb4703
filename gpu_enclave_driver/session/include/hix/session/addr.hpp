// Address spaces the session core deals in (STYLE §4): a guest-physical
// address (what the device's DMA uses) and a linear address in the address
// space of whoever runs the core (hixd's, which the enclave shares). Mixing
// them does not compile.
#pragma once

#include <cstdint>

namespace hix::session {

struct GuestPhys {
  std::uint64_t value = 0;
  friend constexpr bool operator==(GuestPhys, GuestPhys) = default;
};

struct Linear {
  std::uint64_t value = 0;
  friend constexpr bool operator==(Linear, Linear) = default;
};

// Untrusted memory both the core (through `linear`) and the device (through
// `gpa`) reach: the ring area, one extent of a staging window.
struct Area {
  Linear linear;
  GuestPhys gpa;
  std::uint64_t bytes = 0;
};

// [a, a + alen) and [b, b + blen) share a byte (lengths already checked not to wrap).
constexpr bool overlaps(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
  return alen != 0 && blen != 0 && a < b + blen && b < a + alen;
}

// a + len does not wrap (and len is not 0).
constexpr bool valid_range(std::uint64_t a, std::uint64_t len) {
  return len != 0 && a + len > a;
}

}  // namespace hix::session
