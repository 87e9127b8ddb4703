// The audit log (docs/specs/hix-isa.md §9): line format, counting, the cap.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "fake_memory.hpp"

namespace hix::test {
namespace {

hix_denial sample() {
  hix_denial d{};
  d.vcpu = 1;
  d.cpl = 3;
  d.linear = 0x7f0000001000;
  d.physical = 0x12345000;
  d.kind = HIX_DENY_EPC_READ;
  d.verdict = HIX_ABORT_PAGE;
  d.enclave_secs = 0x2f1a000;
  return d;
}

TEST(Audit, LineFormatIsTheSpecs) {
  char line[320];
  const hix_denial d = sample();
  hix_audit_format(&d, 1764170000.123456, line, sizeof line);
  EXPECT_STREQ(line,
               "{\"t\":1764170000.123456,\"vcpu\":1,\"cpl\":3,\"linear\":\"0x7f0000001000\","
               "\"physical\":\"0x12345000\",\"kind\":\"epc-read\",\"verdict\":\"abort-page\","
               "\"enclave\":\"0x2f1a000\"}");
}

TEST(Audit, EveryKindHasAName) {
  for (int k = 0; k < HIX_DENY_KIND_COUNT; ++k) {
    EXPECT_STRNE(hix_deny_kind_name(static_cast<hix_deny_kind>(k)), "unknown") << k;
  }
}

TEST(Audit, CountsEveryDenialAndCapsTheLines) {
  CoreFixture f;
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  f.core.audit.file = file;
  const hix_denial d = sample();
  const std::uint64_t n = HIX_AUDIT_LINE_CAP + 2 * HIX_AUDIT_LINE_CAP / 2 + 5;
  for (std::uint64_t i = 0; i < n; ++i) hix_audit_record(&f.core, &d);
  EXPECT_EQ(f.core.audit.total, n);
  EXPECT_EQ(f.core.audit.counts[HIX_DENY_EPC_READ], n);
  std::rewind(file);
  std::uint64_t lines = 0, suppressed = 0;
  char buf[400];
  while (std::fgets(buf, sizeof buf, file)) {
    ++lines;
    if (std::string(buf).find("\"suppressed\"") != std::string::npos) ++suppressed;
  }
  std::fclose(file);
  f.core.audit.file = nullptr;
  EXPECT_EQ(suppressed, 1u) << "one summary line per further cap's worth";
  EXPECT_EQ(lines, HIX_AUDIT_LINE_CAP + 1);
}

}  // namespace
}  // namespace hix::test
