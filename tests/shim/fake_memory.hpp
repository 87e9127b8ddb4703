// Guest RAM for the core's tests: the fake side of the hix_mem_ops seam.
#pragma once

#include <array>
#include <cstring>
#include <vector>

#include "hix_core.h"

namespace hix::test {

// RAM covering [0, size); everything above is "not RAM" (like MMIO).
class FakeMemory {
 public:
  explicit FakeMemory(std::size_t size) : ram_(size, 0) {}

  const hix_mem_ops* ops() const { return &kOps; }
  void* opaque() { return this; }
  std::uint8_t* at(hix_paddr_t pa) { return ram_.data() + hix_pa_addr(pa); }

 private:
  static FakeMemory* self(void* opaque) { return static_cast<FakeMemory*>(opaque); }
  static bool is_ram(void* opaque, hix_paddr_t pa) {
    return hix_pa_addr(pa) < self(opaque)->ram_.size();
  }
  static void read(void* opaque, hix_paddr_t pa, void* buf, std::size_t len) {
    std::memcpy(buf, self(opaque)->at(pa), len);
  }
  static void write(void* opaque, hix_paddr_t pa, const void* buf, std::size_t len) {
    std::memcpy(self(opaque)->at(pa), buf, len);
  }
  static void scrub_device(void* opaque, hix_bdf_t bdf) {
    self(opaque)->scrubbed.push_back(hix_bdf_value(bdf));
  }
  static constexpr hix_mem_ops kOps{is_ram, read, write, scrub_device};

 public:
  std::vector<std::uint32_t> scrubbed;  // devices scrubbed, in order

 private:
  std::vector<std::uint8_t> ram_;
};

// A platform core over fake RAM with a fixed test key.
class CoreFixture {
 public:
  explicit CoreFixture(bool enforce = true, std::size_t epc_limit = 64) : mem(1 << 20) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(7);
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
    if (hix_core_init(&core, sk.data(), enforce, epc_limit, nullptr, mem.ops(), mem.opaque()) !=
        0) {
      std::abort();
    }
  }
  ~CoreFixture() { hix_core_destroy(&core); }
  CoreFixture(const CoreFixture&) = delete;
  CoreFixture& operator=(const CoreFixture&) = delete;

  FakeMemory mem;
  hix_core core{};
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
};

}  // namespace hix::test
