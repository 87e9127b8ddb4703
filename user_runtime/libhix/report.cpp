// Report verification (docs/specs/hix-isa.md §7).
#include "report.hpp"

#include <sodium.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "hex.hpp"

namespace hix {

const char* to_string(ReportStatus s) {
  switch (s) {
    case ReportStatus::ok:
      return "ok";
    case ReportStatus::bad_size:
      return "bad_size";
    case ReportStatus::bad_signature:
      return "bad_signature";
    case ReportStatus::bad_version:
      return "bad_version";
    case ReportStatus::wrong_platform_key:
      return "wrong_platform_key";
    case ReportStatus::unenforced:
      return "unenforced";
    case ReportStatus::wrong_mrenclave:
      return "wrong_mrenclave";
  }
  return "unknown";
}

hix_report decode_report(std::span<const std::uint8_t, kReportSize> report) {
  hix_report r;
  std::memcpy(&r, report.data(), sizeof r);  // the wire format is little-endian, as is x86-64
  return r;
}

ReportStatus verify_report(
    std::span<const std::uint8_t> report,
    std::span<const std::uint8_t, kPlatformPublicKeySize> platform_public_key,
    std::span<const std::uint8_t, kMrenclaveSize> expected_mrenclave) {
  static_assert(kPlatformPublicKeySize == crypto_sign_PUBLICKEYBYTES);
  static_assert(HIX_REPORT_SIGNED_SIZE + crypto_sign_BYTES == kReportSize);
  if (report.size() != kReportSize) return ReportStatus::bad_size;
  if (sodium_init() < 0) return ReportStatus::bad_signature;  // no crypto, no acceptance
  if (crypto_sign_verify_detached(report.data() + HIX_REPORT_SIGNED_SIZE, report.data(),
                                  HIX_REPORT_SIGNED_SIZE, platform_public_key.data()) != 0) {
    return ReportStatus::bad_signature;
  }
  const hix_report r = decode_report(report.first<kReportSize>());
  if (r.version != HIX_REPORT_VERSION) return ReportStatus::bad_version;
  std::uint8_t key_id[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(key_id, platform_public_key.data(), platform_public_key.size());
  if (sodium_memcmp(key_id, r.platform_key_id, sizeof key_id) != 0) {
    return ReportStatus::wrong_platform_key;
  }
  if ((r.attributes & HIX_ATTR_UNENFORCED) != 0) return ReportStatus::unenforced;
  if (sodium_memcmp(r.mrenclave, expected_mrenclave.data(), kMrenclaveSize) != 0) {
    return ReportStatus::wrong_mrenclave;
  }
  return ReportStatus::ok;
}

std::optional<std::array<std::uint8_t, kPlatformPublicKeySize>> read_platform_public_key(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::array<std::uint8_t, kPlatformPublicKeySize> key{};
  if (content.size() == key.size()) {
    std::memcpy(key.data(), content.data(), key.size());
    return key;
  }
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r' ||
                              content.back() == ' ' || content.back() == '\t')) {
    content.pop_back();
  }
  const auto bytes = from_hex(content);
  if (!bytes || bytes->size() != key.size()) return std::nullopt;
  std::memcpy(key.data(), bytes->data(), key.size());
  return key;
}

}  // namespace hix
