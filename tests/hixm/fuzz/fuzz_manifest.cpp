// libFuzzer: the .hixm manifest parser on arbitrary plaintext
// (docs/specs/hixm.md §4); a manifest it accepts must encode back to the
// same bytes and goes through check_layout (its config.json and table).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "hixm/manifest.hpp"
#include "hixm/reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  auto m = hix::hixm::parse_manifest(in);
  if (!m) return 0;
  auto again = hix::hixm::encode_manifest(*m);
  // The encoding is canonical: what parses encodes back byte for byte.
  if (!again || !std::equal(again->begin(), again->end(), in.begin(), in.end())) std::abort();
  (void)hix::hixm::check_layout(*m);
  return 0;
}
