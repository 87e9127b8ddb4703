// MRENCLAVE (docs/specs/hix-isa.md §6), computed from the spec's record table.
#include "hix/loader/measurement.hpp"

#include <cstring>

namespace hix::loader {

namespace {

using Record = std::array<std::uint8_t, kRecordSize>;

// Integers in records are little-endian regardless of the host.
void put_u64(Record& r, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) r[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void put_tag(Record& r, const char (&tag)[9]) {
  std::memcpy(r.data(), tag, 8);
}

}  // namespace

MeasurementBuilder::MeasurementBuilder() {
  crypto_hash_sha256_init(&state_);
}

MeasurementBuilder::~MeasurementBuilder() {
  sodium_memzero(&state_, sizeof state_);
}

void MeasurementBuilder::record(const Record& r) {
  crypto_hash_sha256_update(&state_, r.data(), r.size());
}

// "ECREATE\0" | u32 SSA frame size (0) | u64 size | 44 x 00
void MeasurementBuilder::ecreate(std::uint64_t elrange_size) {
  Record r{};
  put_tag(r, "ECREATE\0");
  put_u64(r, 12, elrange_size);
  record(r);
}

// "EADD\0\0\0\0" | u64 offset | u64 flags | 40 x 00
void MeasurementBuilder::eadd(ElrangeOffset offset, std::uint64_t flags) {
  Record r{};
  put_tag(r, "EADD\0\0\0\0");
  put_u64(r, 8, offset.value);
  put_u64(r, 16, flags);
  record(r);
}

// "EEXTEND\0" | u64 offset | 48 x 00, then the chunk's 256 bytes
void MeasurementBuilder::eextend(ElrangeOffset offset,
                                 std::span<const std::uint8_t, HIX_EEXTEND_CHUNK> chunk) {
  Record r{};
  put_tag(r, "EEXTEND\0");
  put_u64(r, 8, offset.value);
  record(r);
  crypto_hash_sha256_update(&state_, chunk.data(), chunk.size());
}

Mrenclave MeasurementBuilder::finish() {
  Mrenclave m{};
  crypto_hash_sha256_final(&state_, m.data());
  return m;
}

Mrenclave measure_image(const EnclaveImage& image) {
  MeasurementBuilder b;
  b.ecreate(image.size);
  for (const Page& p : image.pages) {
    b.eadd(p.offset, p.flags);
    for (std::uint64_t at = 0; at < HIX_PAGE_SIZE; at += HIX_EEXTEND_CHUNK) {
      b.eextend(ElrangeOffset{p.offset.value + at},
                std::span<const std::uint8_t, HIX_EEXTEND_CHUNK>(p.contents.data() + at,
                                                                 HIX_EEXTEND_CHUNK));
    }
  }
  return b.finish();
}

std::string to_hex(const Mrenclave& m) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(m.size() * 2);
  for (const std::uint8_t b : m) {
    s += kDigits[b >> 4];
    s += kDigits[b & 0xf];
  }
  return s;
}

}  // namespace hix::loader
