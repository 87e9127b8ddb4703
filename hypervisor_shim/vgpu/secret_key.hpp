// A 32-byte ChaCha20-Poly1305 key that wipes itself (sodium_memzero) when
// cleared, replaced or destroyed (docs/architecture.md §7).
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>

namespace hix::vgpu {

inline constexpr std::size_t kKeyBytes = 32;

class SecretKey {
 public:
  SecretKey() = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey() { clear(); }

  void set(std::span<const std::uint8_t, kKeyBytes> key) {
    for (std::size_t i = 0; i < kKeyBytes; ++i) bytes_[i] = key[i];
    present_ = true;
  }
  void clear() {
    sodium_memzero(bytes_.data(), bytes_.size());
    present_ = false;
  }
  bool present() const { return present_; }
  std::span<const std::uint8_t, kKeyBytes> bytes() const { return bytes_; }

 private:
  std::array<std::uint8_t, kKeyBytes> bytes_{};
  bool present_ = false;
};

}  // namespace hix::vgpu
