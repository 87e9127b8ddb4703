// libFuzzer: arbitrary bytes as an enclave image. Besides the sanitizers'
// findings, every image the parser accepts must satisfy what the loader and
// the ISA rely on (docs/enclave-sdk.md §5); a violation traps.
#include <cstddef>
#include <cstdint>
#include <span>

#include "hix/loader/elf_symbols.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/measurement.hpp"

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void check_invariants(const hix::loader::EnclaveImage& img) {
  require(img.size >= HIX_PAGE_SIZE && (img.size & (img.size - 1)) == 0);
  require(img.base.value % img.size == 0 && img.base.value + img.size <= (1ull << 47));
  require(!img.pages.empty() && !img.tcs_offsets.empty());
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < img.pages.size(); ++i) {
    const auto& p = img.pages[i];
    require(p.offset.value % HIX_PAGE_SIZE == 0 && p.offset.value < img.size);
    require(i == 0 || p.offset.value > previous);
    previous = p.offset.value;
    const std::uint64_t perms = p.flags & HIX_PAGE_PERM_MASK;
    require((p.flags & ~(HIX_PAGE_PERM_MASK | HIX_PAGE_TYPE_MASK)) == 0);
    require((perms & HIX_PAGE_R) != 0);
    require(!((perms & HIX_PAGE_W) != 0 && (perms & HIX_PAGE_X) != 0));
    const std::uint64_t type = p.flags & HIX_PAGE_TYPE_MASK;
    require(type == HIX_PAGE_TYPE_REG ||
            (type == HIX_PAGE_TYPE_TCS && perms == (HIX_PAGE_R | HIX_PAGE_W)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  return sodium_init() < 0 ? 1 : 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  const auto image = hix::loader::parse_enclave_image(bytes);
  if (image.ok()) {
    check_invariants(image.value());
    // Small images only: measuring is linear in the pages and not a parser.
    if (image->pages.size() <= 16) (void)hix::loader::measure_image(image.value());
  }
  (void)hix::loader::read_symbols(bytes);
  std::uint64_t probe = 0;
  for (std::size_t i = 0; i < size && i < 8; ++i) probe |= std::uint64_t{data[i]} << (8 * i);
  (void)hix::loader::file_offset_of(bytes, probe);
  return 0;
}
