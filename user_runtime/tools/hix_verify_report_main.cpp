// hix-verify-report --pubkey FILE --mrenclave HEX REPORT
//
// Checks a HIX report against the platform public key the user trusts and the
// enclave measurement the user expects (docs/specs/hix-isa.md §7). REPORT is
// the report's 512 hex digits, "REPORT=<hex>" as hix-enclave-run prints it,
// or "-" to read either form from stdin. FILE holds the 32-byte Ed25519 public
// key, raw or as 64 hex digits. Prints the report's fields and one line
// "VERDICT=accept" or "VERDICT=reject reason=<why>". Exit status: 0 accept,
// 1 reject, 2 bad usage or unreadable input.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "hex.hpp"
#include "report.hpp"

namespace {

constexpr int kExitReject = 1;
constexpr int kExitUsage = 2;

int usage() {
  std::fprintf(stderr, "usage: hix-verify-report --pubkey FILE --mrenclave HEX REPORT|-\n");
  return kExitUsage;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string pubkey_path;
  std::string mrenclave_hex;
  std::string report_arg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pubkey" && i + 1 < argc) {
      pubkey_path = argv[++i];
    } else if (a == "--mrenclave" && i + 1 < argc) {
      mrenclave_hex = argv[++i];
    } else if (report_arg.empty() && (a == "-" || a.rfind("--", 0) != 0)) {
      report_arg = a;
    } else {
      return usage();
    }
  }
  if (pubkey_path.empty() || mrenclave_hex.empty() || report_arg.empty()) return usage();

  const auto key = hix::read_platform_public_key(pubkey_path);
  if (!key) {
    std::fprintf(stderr, "hix-verify-report: %s: not a 32-byte public key\n", pubkey_path.c_str());
    return kExitUsage;
  }
  const auto expected = hix::from_hex(mrenclave_hex);
  if (!expected || expected->size() != hix::kMrenclaveSize) {
    std::fprintf(stderr, "hix-verify-report: --mrenclave needs 64 hex digits\n");
    return kExitUsage;
  }
  std::string text = report_arg;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  text = trim(text);
  if (text.rfind("REPORT=", 0) == 0) text = text.substr(7);
  const auto report = hix::from_hex(text);
  if (!report) {
    std::fprintf(stderr, "hix-verify-report: the report is not hex\n");
    return kExitUsage;
  }

  if (report->size() == hix::kReportSize) {
    const hix_report r = hix::decode_report(
        std::span<const std::uint8_t, hix::kReportSize>(report->data(), hix::kReportSize));
    std::printf("report: version=%u isa_version=0x%08x attributes=0x%016llx\n", r.version,
                r.isa_version, static_cast<unsigned long long>(r.attributes));
    std::printf("report: mrenclave=%s\n", hix::to_hex(r.mrenclave).c_str());
    std::printf("report: report_data=%s\n", hix::to_hex(r.report_data).c_str());
    std::printf("report: platform_key_id=%s\n", hix::to_hex(r.platform_key_id).c_str());
  }
  const hix::ReportStatus verdict = hix::verify_report(
      *report, *key,
      std::span<const std::uint8_t, hix::kMrenclaveSize>(expected->data(), hix::kMrenclaveSize));
  if (verdict == hix::ReportStatus::ok) {
    std::printf("VERDICT=accept\n");
    return 0;
  }
  std::printf("VERDICT=reject reason=%s\n", hix::to_string(verdict));
  return kExitReject;
}
