// An enclave image as the ISA sees it: ELRANGE and the list of pages that
// EADD adds (docs/enclave-sdk.md §1, §5; docs/specs/hix-isa.md §2.1, §4).
// Built from the SDK's ELF files; used by the loader, hix-measure and tests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hix/abi/hix_isa.h"
#include "hix/loader/status.hpp"

namespace hix::loader {

// An offset from the ELRANGE base (what the EADD/EEXTEND records hold), as
// distinct from a linear address (base + offset).
struct ElrangeOffset {
  std::uint64_t value = 0;
  friend bool operator==(ElrangeOffset, ElrangeOffset) = default;
};

struct LinearAddress {
  std::uint64_t value = 0;
  friend bool operator==(LinearAddress, LinearAddress) = default;
};

// One EADD: where, with which EPCM permissions and type, and what.
struct Page {
  ElrangeOffset offset;
  std::uint64_t flags = 0;  // HIX_PAGE_R|W|X | HIX_PAGE_TYPE_*
  std::array<std::uint8_t, HIX_PAGE_SIZE> contents{};
};

struct EnclaveImage {
  LinearAddress base;
  std::uint64_t size = 0;                  // ELRANGE size, a power of two
  std::vector<Page> pages;                 // ascending offsets, each once
  std::vector<ElrangeOffset> tcs_offsets;  // the TCS pages, ascending

  LinearAddress linear(ElrangeOffset o) const { return LinearAddress{base.value + o.value}; }
};

// Hostile-input limits: an image larger than this is refused before any
// allocation. The page count bounds the ELRANGE span, heap included (a
// NOLOAD heap costs no file bytes): 1 GiB holds the TEE-only GPT-2-small
// enclave's 528 MiB heap; the platform's EPC (epc-pages) is the real bound.
inline constexpr std::size_t kMaxImageFileBytes = std::size_t{256} << 20;
inline constexpr std::uint64_t kMaxImagePages = std::uint64_t{1} << 18;  // 1 GiB

// Parses an SDK ELF image into its page list. Every check of
// docs/enclave-sdk.md §5 is applied; the first failure is returned.
Result<EnclaveImage> parse_enclave_image(std::span<const std::uint8_t> elf);

// Reads a whole file (at most kMaxImageFileBytes).
Result<std::vector<std::uint8_t>> read_file(const std::string& path);

// read_file + parse_enclave_image.
Result<EnclaveImage> load_enclave_image(const std::string& path);

// "R", "RW", "RX", "RW+TCS", ... for listings.
std::string describe_flags(std::uint64_t flags);

}  // namespace hix::loader
