// Verifying a HIX report (docs/specs/hix-isa.md §7): the user's check that a
// report comes from a trusted, enforcing platform and from the expected
// enclave. libhix implements exactly the spec's acceptance rules.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "hix/abi/hix_isa.h"

namespace hix {

inline constexpr std::size_t kReportSize = sizeof(hix_report);  // 256
inline constexpr std::size_t kPlatformPublicKeySize = 32;       // Ed25519
inline constexpr std::size_t kMrenclaveSize = 32;

enum class ReportStatus : std::uint8_t {
  ok,
  bad_size,            // not exactly 256 bytes
  bad_signature,       // Ed25519 over bytes 0..191 does not verify under the key
  bad_version,         // version != 1
  wrong_platform_key,  // platform_key_id != SHA-256(public key)
  unenforced,          // HIX_ATTR_UNENFORCED: the platform ran with enforce=off
  wrong_mrenclave,     // not the enclave the verifier expects
};

const char* to_string(ReportStatus s);

// Accepts only if every rule of spec §7 holds. Checked in this order; the
// signature comes first, so nothing else is read from an unauthenticated
// report.
[[nodiscard]] ReportStatus verify_report(
    std::span<const std::uint8_t> report,
    std::span<const std::uint8_t, kPlatformPublicKeySize> platform_public_key,
    std::span<const std::uint8_t, kMrenclaveSize> expected_mrenclave);

// A platform public key file as hix-keygen writes it (FILE.pub: 64 hex
// digits and a newline) or as 32 raw bytes; nullopt for anything else.
std::optional<std::array<std::uint8_t, kPlatformPublicKeySize>> read_platform_public_key(
    const std::string& path);

// The report's fields, for printing (no checks).
hix_report decode_report(std::span<const std::uint8_t, kReportSize> report);

}  // namespace hix
