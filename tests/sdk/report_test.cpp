// libhix report verification (docs/specs/hix-isa.md §7): every acceptance
// rule, each shown to reject on its own with a correctly signed report.
#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "hex.hpp"
#include "report.hpp"

namespace hix {
namespace {

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    crypto_sign_keypair(pk_.data(), sk_.data());
    for (std::size_t i = 0; i < mrenclave_.size(); ++i) {
      mrenclave_[i] = static_cast<std::uint8_t>(0xa0 + i);
    }
  }

  // A report as a correct platform would produce it.
  hix_report good() const {
    hix_report r{};
    r.version = HIX_REPORT_VERSION;
    r.isa_version = HIX_ISA_VERSION;
    r.attributes = 0;
    std::memcpy(r.mrenclave, mrenclave_.data(), sizeof r.mrenclave);
    for (std::size_t i = 0; i < sizeof r.report_data; ++i) {
      r.report_data[i] = static_cast<std::uint8_t>(i);
    }
    crypto_hash_sha256(r.platform_key_id, pk_.data(), pk_.size());
    return r;
  }

  std::array<std::uint8_t, kReportSize> sign(hix_report r,
                                             const std::array<std::uint8_t, 64>& sk) const {
    std::array<std::uint8_t, kReportSize> bytes{};
    std::memcpy(bytes.data(), &r, sizeof r);
    crypto_sign_detached(bytes.data() + HIX_REPORT_SIGNED_SIZE, nullptr, bytes.data(),
                         HIX_REPORT_SIGNED_SIZE, sk.data());
    return bytes;
  }
  std::array<std::uint8_t, kReportSize> sign(const hix_report& r) const { return sign(r, sk_); }

  ReportStatus verify(std::span<const std::uint8_t> report) const {
    return verify_report(report, pk_, mrenclave_);
  }

  std::array<std::uint8_t, 32> pk_{};
  std::array<std::uint8_t, 64> sk_{};
  std::array<std::uint8_t, 32> mrenclave_{};
};

TEST_F(ReportTest, ValidReportIsAccepted) {
  EXPECT_EQ(verify(sign(good())), ReportStatus::ok);
}

TEST_F(ReportTest, AnyChangeAfterSigningBreaksTheSignature) {
  const auto valid = sign(good());
  for (const std::size_t at :
       {std::size_t{0}, std::size_t{16}, std::size_t{64}, std::size_t{127}, std::size_t{128},
        std::size_t{191}, std::size_t{192}, std::size_t{255}}) {
    auto r = valid;
    r[at] ^= 0x01;
    EXPECT_EQ(verify(r), ReportStatus::bad_signature) << "byte " << at;
  }
}

TEST_F(ReportTest, SignedByAnotherKeyIsRejected) {
  std::array<std::uint8_t, 32> other_pk{};
  std::array<std::uint8_t, 64> other_sk{};
  crypto_sign_keypair(other_pk.data(), other_sk.data());
  EXPECT_EQ(verify(sign(good(), other_sk)), ReportStatus::bad_signature);
}

TEST_F(ReportTest, WrongMrenclaveIsRejected) {
  hix_report r = good();
  r.mrenclave[31] ^= 0x80;
  EXPECT_EQ(verify(sign(r)), ReportStatus::wrong_mrenclave);
}

TEST_F(ReportTest, UnenforcedPlatformIsRejected) {
  hix_report r = good();
  r.attributes |= HIX_ATTR_UNENFORCED;
  EXPECT_EQ(verify(sign(r)), ReportStatus::unenforced);
}

TEST_F(ReportTest, WrongPlatformKeyIdIsRejected) {
  hix_report r = good();
  r.platform_key_id[0] ^= 0x01;
  EXPECT_EQ(verify(sign(r)), ReportStatus::wrong_platform_key);
}

TEST_F(ReportTest, WrongVersionIsRejected) {
  hix_report r = good();
  r.version = 2;
  EXPECT_EQ(verify(sign(r)), ReportStatus::bad_version);
}

TEST_F(ReportTest, WrongSizeIsRejected) {
  const auto valid = sign(good());
  EXPECT_EQ(verify(std::span(valid).first(255)), ReportStatus::bad_size);
  std::vector<std::uint8_t> longer(valid.begin(), valid.end());
  longer.push_back(0);
  EXPECT_EQ(verify(longer), ReportStatus::bad_size);
}

// Different report data is what a fresh nonce looks like: still valid.
TEST_F(ReportTest, ReportDataIsNotPolicy) {
  hix_report r = good();
  std::memset(r.report_data, 0xee, sizeof r.report_data);
  EXPECT_EQ(verify(sign(r)), ReportStatus::ok);
}

// --- hix-verify-report ------------------------------------------------------------

struct CliRun {
  int exit_code = -1;
  std::string output;
};

CliRun run_cli(const std::string& args) {
  CliRun out;
  const std::string cmd = std::string(HIX_VERIFY_REPORT_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out.output += buf;
  const int status = pclose(p);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST_F(ReportTest, CliAcceptsAndRejects) {
  const std::string dir = ::testing::TempDir();
  const std::string key_file = dir + "/hix_platform.pub";
  { std::ofstream(key_file) << to_hex(pk_) << "\n"; }
  const std::string expected = to_hex(mrenclave_);

  const CliRun ok = run_cli("--pubkey " + key_file + " --mrenclave " + expected +
                            " REPORT=" + to_hex(sign(good())));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("VERDICT=accept"), std::string::npos) << ok.output;

  hix_report r = good();
  r.attributes |= HIX_ATTR_UNENFORCED;
  const CliRun bad =
      run_cli("--pubkey " + key_file + " --mrenclave " + expected + " " + to_hex(sign(r)));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("VERDICT=reject reason=unenforced"), std::string::npos) << bad.output;

  const CliRun usage = run_cli("--pubkey " + key_file + " --mrenclave 1234 " + to_hex(sign(r)));
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
}

}  // namespace
}  // namespace hix
