// Builds enclaves on a CoreFixture through the ENCLS leaves, the way hix.ko
// drives them, and computes the expected MRENCLAVE independently of the core.
#pragma once

#include <array>
#include <cstring>
#include <vector>

#include "fake_memory.hpp"

namespace hix::test {

constexpr std::uint64_t kBase = 0x10000000;
constexpr std::uint64_t kSize = 0x10000;  // 16 pages

struct PageSpec {
  std::uint64_t offset;
  std::uint64_t flags;
  std::array<std::uint8_t, HIX_PAGE_SIZE> bytes;
};

inline PageSpec code_page(std::uint64_t offset, std::uint8_t fill) {
  PageSpec p{offset, HIX_PAGE_R | HIX_PAGE_X | HIX_PAGE_TYPE_REG, {}};
  p.bytes.fill(fill);
  return p;
}

inline PageSpec data_page(std::uint64_t offset, std::uint8_t fill) {
  PageSpec p{offset, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_REG, {}};
  p.bytes.fill(fill);
  return p;
}

// Where a TCS sends EENTER: entry point and stack top, as ELRANGE offsets.
struct TcsTarget {
  std::uint64_t entry;
  std::uint64_t stack;
};

inline PageSpec tcs_page(std::uint64_t offset, TcsTarget target) {
  PageSpec p{offset, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS, {}};
  hix_tcs tcs{};
  tcs.entry = target.entry;
  tcs.stack = target.stack;
  std::memcpy(p.bytes.data(), &tcs, sizeof tcs);
  return p;
}

// The standard test enclave: code at 0, data at 0x1000, TCS at 0x2000.
inline std::vector<PageSpec> standard_pages() {
  return {code_page(0, 0x90), data_page(0x1000, 0x11),
          tcs_page(0x2000, {.entry = 0x10, .stack = 0x2000})};
}

// Physical layout in the fake RAM: SECS at 0x1000, page i at 0x10000 + i*4K.
constexpr hix_paddr_t kSecsPa{0x1000};
constexpr hix_secs_t kSecs{kSecsPa};
inline hix_paddr_t page_pa(std::size_t i) {
  return hix_pa(0x10000 + i * HIX_PAGE_SIZE);
}
// An enclave named by a SECS at physical address pa.
inline hix_secs_t secs_at(std::uint64_t pa) {
  return hix_secs(hix_pa(pa));
}

inline hix_status build(hix_core* core, const std::vector<PageSpec>& pages, bool init = true,
                        hix_secs_t secs = kSecs, hix_paddr_t first_pa = page_pa(0)) {
  hix_secs_params params{};
  params.base = kBase;
  params.size = kSize;
  if (hix_status st = hix_ecreate(core, &params, secs); st != HIX_OK) return st;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    hix_pageinfo pi{};
    pi.linaddr = kBase + pages[i].offset;
    pi.flags = pages[i].flags;
    const hix_paddr_t pa = hix_pa_add(first_pa, i * HIX_PAGE_SIZE);
    if (hix_status st = hix_eadd(core, &pi, pages[i].bytes.data(), pa, secs); st != HIX_OK) {
      return st;
    }
    for (std::uint64_t c = 0; c < HIX_PAGE_SIZE; c += HIX_EEXTEND_CHUNK) {
      if (hix_status st = hix_eextend(core, hix_pa_add(pa, c), secs); st != HIX_OK) return st;
    }
  }
  return init ? hix_einit(core, secs) : HIX_OK;
}

// Spec §6, written out byte by byte (independent of hypervisor_shim/core).
inline std::array<std::uint8_t, 32> expected_mrenclave(const std::vector<PageSpec>& pages) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  auto u64 = [](std::uint8_t* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
  };
  std::array<std::uint8_t, 64> rec{};
  std::memcpy(rec.data(), "ECREATE", 8);
  u64(rec.data() + 12, kSize);
  crypto_hash_sha256_update(&st, rec.data(), rec.size());
  for (const PageSpec& p : pages) {
    rec.fill(0);
    std::memcpy(rec.data(), "EADD", 4);
    u64(rec.data() + 8, p.offset);
    u64(rec.data() + 16, p.flags);
    crypto_hash_sha256_update(&st, rec.data(), rec.size());
    for (std::uint64_t c = 0; c < HIX_PAGE_SIZE; c += HIX_EEXTEND_CHUNK) {
      rec.fill(0);
      std::memcpy(rec.data(), "EEXTEND", 8);
      u64(rec.data() + 8, p.offset + c);
      crypto_hash_sha256_update(&st, rec.data(), rec.size());
      crypto_hash_sha256_update(&st, p.bytes.data() + c, HIX_EEXTEND_CHUNK);
    }
  }
  std::array<std::uint8_t, 32> out{};
  crypto_hash_sha256_final(&st, out.data());
  return out;
}

}  // namespace hix::test
