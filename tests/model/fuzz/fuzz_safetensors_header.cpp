// libFuzzer target: a safetensors file image (the checkpoint is untrusted).
// Whatever parses must describe ranges inside the image.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = std::as_bytes(std::span(data, size));
  auto h = hix::model::parse_safetensors(file);
  if (!h) return 0;
  for (const auto& t : h->tensors) {
    if (t.begin > t.end || h->data_start + t.end > size) std::abort();
  }
  return 0;
}
