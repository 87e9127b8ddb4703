// libFuzzer: a .hixm file's first bytes (header and sealed manifest,
// docs/specs/hixm.md §2-§4) opened with the fixed key of fuzz_world.hpp.
#include <cstdint>
#include <span>

#include "fuzz_world.hpp"
#include "hixm/reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const hix::hixm::ModelKey key = hix::hixm::fuzz::fixed_key();
  (void)hix::hixm::parse_header(std::span<const std::uint8_t>(data, size));
  (void)hix::hixm::open_manifest(std::span<const std::uint8_t>(data, size), key);
  return 0;
}
