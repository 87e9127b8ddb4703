// The TLB-fill policy (docs/specs/hix-isa.md §5), case by case.
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "enclave_builder.hpp"

namespace hix::test {
namespace {

struct Case {
  const char* name;
  hix_access_request request;
  hix_verdict verdict;
  hix_deny_kind kind;
};

constexpr hix_laddr_t kCode{kBase};
constexpr hix_laddr_t kData{kBase + 0x1000};
constexpr hix_laddr_t kTcs{kBase + 0x2000};
constexpr hix_laddr_t kUntrusted{0x7f0000000000};
constexpr hix_paddr_t kPlainPa{0x80000};
constexpr auto N = HIX_DENY_KIND_COUNT;  // no denial

// A request from enclave (-1: outside enclave mode); paging: a page walk.
hix_access_request req(int enclave, bool paging, hix_laddr_t linear, hix_paddr_t pa,
                       hix_access access) {
  return {enclave, paging, linear, pa, access};
}

const Case kCases[] = {
    {"plain memory, outside", req(-1, false, kUntrusted, kPlainPa, HIX_ACCESS_READ), HIX_ALLOW, N},
    {"EPC read, outside", req(-1, false, kData, page_pa(1), HIX_ACCESS_READ), HIX_ABORT_PAGE,
     HIX_DENY_EPC_READ},
    {"EPC write, outside", req(-1, false, kData, page_pa(1), HIX_ACCESS_WRITE), HIX_ABORT_PAGE,
     HIX_DENY_EPC_WRITE},
    {"EPC fetch, outside", req(-1, false, kCode, page_pa(0), HIX_ACCESS_FETCH), HIX_FAULT_GP,
     HIX_DENY_EPC_FETCH},
    {"EPC through another linear address (kernel direct map)",
     req(-1, false, hix_la(0xffff888000010000), page_pa(1), HIX_ACCESS_READ), HIX_ABORT_PAGE,
     HIX_DENY_EPC_READ},
    {"SECS, outside", req(-1, false, hix_la(0xffff888000001000), kSecsPa, HIX_ACCESS_READ),
     HIX_ABORT_PAGE, HIX_DENY_EPC_READ},
    {"page walk into EPC, even inside",
     req(0, true, hix_la(hix_pa_addr(page_pa(1))), page_pa(1), HIX_ACCESS_READ), HIX_ABORT_PAGE,
     HIX_DENY_EPC_READ},
    {"own data page, inside", req(0, false, hix_la_add(kData, 8), page_pa(1), HIX_ACCESS_WRITE),
     HIX_ALLOW, N},
    {"own code page fetch, inside", req(0, false, kCode, page_pa(0), HIX_ACCESS_FETCH), HIX_ALLOW,
     N},
    {"write to code page, inside", req(0, false, kCode, page_pa(0), HIX_ACCESS_WRITE),
     HIX_ENCLAVE_ABORT, HIX_DENY_ENCLAVE_PERM},
    {"fetch from data page, inside", req(0, false, kData, page_pa(1), HIX_ACCESS_FETCH),
     HIX_ENCLAVE_ABORT, HIX_DENY_ENCLAVE_PERM},
    {"own page at the wrong linear address",
     req(0, false, hix_la(kBase + 0x5000), page_pa(1), HIX_ACCESS_READ), HIX_ENCLAVE_ABORT,
     HIX_DENY_ENCLAVE_LINEAR_MISMATCH},
    {"ELRANGE remapped to plain memory", req(0, false, kData, kPlainPa, HIX_ACCESS_READ),
     HIX_ENCLAVE_ABORT, HIX_DENY_ENCLAVE_LINEAR_MISMATCH},
    {"TCS is not data, inside", req(0, false, kTcs, page_pa(2), HIX_ACCESS_READ), HIX_ENCLAVE_ABORT,
     HIX_DENY_ENCLAVE_LINEAR_MISMATCH},
    {"untrusted buffer, inside", req(0, false, kUntrusted, kPlainPa, HIX_ACCESS_WRITE), HIX_ALLOW,
     N},
    {"fetch from untrusted memory, inside", req(0, false, kUntrusted, kPlainPa, HIX_ACCESS_FETCH),
     HIX_ENCLAVE_ABORT, HIX_DENY_ENCLAVE_FETCH_OUTSIDE},
};

class Access : public ::testing::TestWithParam<Case> {};

TEST_P(Access, Verdict) {
  CoreFixture f;
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  const Case& c = GetParam();
  hix_access_grant grant{0, false, N};
  EXPECT_EQ(hix_check_access(&f.core, &c.request, &grant), c.verdict);
  if (c.verdict != HIX_ALLOW) {
    EXPECT_EQ(grant.kind, c.kind);
  }
}

// The case's own name as an identifier: "EPC read, outside" -> EPC_read_outside.
std::string case_name(const ::testing::TestParamInfo<Case>& param) {
  std::string n;
  for (const char* c = param.param.name; *c != 0; ++c) {
    if (std::isalnum(static_cast<unsigned char>(*c)) != 0) {
      n += *c;
    } else if (!n.empty() && n.back() != '_') {
      n += '_';
    }
  }
  while (!n.empty() && n.back() == '_') n.pop_back();
  return n;
}

INSTANTIATE_TEST_SUITE_P(Policy, Access, ::testing::ValuesIn(kCases), case_name);

TEST(AccessMask, InsideTheTranslationCarriesOnlyTheEpcmPermissions) {
  CoreFixture f;
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  hix_access_grant grant{0, false, N};
  const hix_access_request code = req(0, false, kCode, page_pa(0), HIX_ACCESS_READ);
  ASSERT_EQ(hix_check_access(&f.core, &code, &grant), HIX_ALLOW);
  EXPECT_EQ(grant.perm_mask, HIX_PAGE_R | HIX_PAGE_X) << "a read must not install a writable entry";
  const hix_access_request untrusted = req(0, false, kUntrusted, kPlainPa, HIX_ACCESS_READ);
  ASSERT_EQ(hix_check_access(&f.core, &untrusted, &grant), HIX_ALLOW);
  EXPECT_EQ(grant.perm_mask, HIX_PAGE_R | HIX_PAGE_W)
      << "untrusted memory is never executable inside";
}

TEST(AccessMask, AnotherEnclavesPageAbortsTheCaller) {
  CoreFixture f;
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  ASSERT_EQ(build(&f.core, standard_pages(), true, secs_at(0x3000), page_pa(8)), HIX_OK);
  hix_access_grant grant{0, false, N};
  const hix_access_request r = req(1, false, kData, page_pa(1), HIX_ACCESS_READ);
  EXPECT_EQ(hix_check_access(&f.core, &r, &grant), HIX_ENCLAVE_ABORT);
  EXPECT_EQ(grant.kind, HIX_DENY_ENCLAVE_LINEAR_MISMATCH);
}

TEST(AccessMask, EnforceOffAllowsEverything) {
  CoreFixture f(false);
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  hix_access_grant grant{0, false, N};
  const hix_access_request r = req(-1, false, kData, page_pa(1), HIX_ACCESS_READ);
  EXPECT_EQ(hix_check_access(&f.core, &r, &grant), HIX_ALLOW);
}

}  // namespace
}  // namespace hix::test
