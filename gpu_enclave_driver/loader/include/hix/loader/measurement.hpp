// MRENCLAVE as the ISA computes it (docs/specs/hix-isa.md §6): SHA-256 over
// 64-byte ECREATE/EADD/EEXTEND records. Written from the spec, independently
// of the shim; hix-measure and the tests use it to predict the shim's value.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "hix/abi/hix_isa.h"
#include "hix/loader/enclave_image.hpp"

namespace hix::loader {

inline constexpr std::size_t kMeasurementSize = 32;
using Mrenclave = std::array<std::uint8_t, kMeasurementSize>;

inline constexpr std::size_t kRecordSize = 64;

// The chain, one leaf at a time, in the order the ENCLS leaves run.
class MeasurementBuilder {
 public:
  MeasurementBuilder();
  ~MeasurementBuilder();
  MeasurementBuilder(const MeasurementBuilder&) = delete;
  MeasurementBuilder& operator=(const MeasurementBuilder&) = delete;

  void ecreate(std::uint64_t elrange_size);
  void eadd(ElrangeOffset offset, std::uint64_t flags);
  void eextend(ElrangeOffset offset, std::span<const std::uint8_t, HIX_EEXTEND_CHUNK> chunk);
  // EINIT: the final value. The builder must not be used afterwards.
  Mrenclave finish();

 private:
  void record(const std::array<std::uint8_t, kRecordSize>& r);
  crypto_hash_sha256_state state_;
};

// What the SDK loader does for `image`: ECREATE, then per page EADD and 16
// EEXTENDs (HIX_IOC_ADD_PAGES with HIX_IOC_MEASURE), then EINIT.
Mrenclave measure_image(const EnclaveImage& image);

// Lower-case hex, 64 characters.
std::string to_hex(const Mrenclave& m);

}  // namespace hix::loader
