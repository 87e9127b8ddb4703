// The fixed model key the sealed-manifest fuzz target and its seeds share
// (key bytes 1..32, model id 0x40..0x5F): seeds made by make_hixm_seeds
// open with it, so the fuzzer reaches the manifest parser through the AEAD.
#pragma once

#include "hixm/model_key.hpp"

namespace hix::hixm::fuzz {

inline ModelKey fixed_key() {
  ModelKey k;
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<std::uint8_t>(i + 1);
  for (std::size_t i = 0; i < k.model_id.size(); ++i) {
    k.model_id[i] = static_cast<std::uint8_t>(0x40 + i);
  }
  return k;
}

}  // namespace hix::hixm::fuzz
