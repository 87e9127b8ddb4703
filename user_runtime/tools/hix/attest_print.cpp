// What an accepted attestation proved (attest_print.hpp).
#include "attest_print.hpp"

#include <cstring>

#include "cli.hpp"
#include "hex.hpp"
#include "report.hpp"

namespace hix::cli {

Attestation describe(const client::Session& s, const client::Expectations& expect, double ms) {
  Attestation a;
  a.platform_key = to_hex(expect.platform_key);
  const hix_report r = decode_report(s.report());
  a.mrenclave = to_hex(r.mrenclave);
  hix_report_device d{};
  static_assert(sizeof d == sizeof r.device);
  std::memcpy(&d, r.device, sizeof d);
  char dev[96];
  std::snprintf(dev, sizeof dev, "%02x:%02x.%x %04x:%04x%s", (d.bdf >> 8) & 0xFF,
                (d.bdf >> 3) & 0x1F, d.bdf & 7, d.vendor_id, d.device_id,
                d.locked != 0 ? " locked" : " NOT locked");
  a.device = dev;
  a.session = s.id();
  a.ms = ms;
  return a;
}

void print_attestation(std::FILE* f, const Attestation& a) {
  std::fprintf(f, "attestation: ACCEPTED (%.0f ms)\n", a.ms);
  std::fprintf(f, "  platform signature   verified under the trusted key %.16s...\n",
               a.platform_key.c_str());
  std::fprintf(f, "  enforcement          on (the report is not marked unenforced)\n");
  std::fprintf(f, "  MRENCLAVE            %s (the expected measurement)\n", a.mrenclave.c_str());
  std::fprintf(f, "  freshness            this run's random nonce is bound in the report\n");
  std::fprintf(f, "  session key          the enclave's X25519 key is bound in the report\n");
  std::fprintf(f, "  GPU                  %s\n", a.device.c_str());
}

std::string attestation_json(const Attestation& a) {
  return std::string("{\"verdict\": \"accepted\", \"platform_key\": ") +
         json_quote(a.platform_key) + ", \"mrenclave\": " + json_quote(a.mrenclave) +
         ", \"checks\": [\"signature\", \"version\", \"platform_key_id\", \"enforced\", "
         "\"mrenclave\", \"nonce_and_session_key_bound\"], \"device\": " +
         json_quote(a.device) + ", \"session\": " + std::to_string(a.session) +
         ", \"ms\": " + json_number(a.ms) + "}";
}

}  // namespace hix::cli
