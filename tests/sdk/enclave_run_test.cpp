// The hello enclave, the SDK runtime, the loader and its trampoline, run
// end to end on the in-process FakePlatform (fake_platform.hpp): what the VM
// tests will repeat against the real shim once it exists.
#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "fake_platform.hpp"
#include "hello_abi.h"
#include "hix/loader/enclave.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/measurement.hpp"
#include "hix_sdk/ecall_abi.h"
#include "report.hpp"

namespace hix::loader {
namespace {

std::string enclave_path(const char* name) {
  return std::string(HIX_ENCLAVE_DIR) + "/" + name + ".elf";
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + " ";
  return s;
}

class EnclaveRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = test::FakePlatform::unsupported_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_GE(sodium_init(), 0);
    platform_ = std::make_unique<test::FakePlatform>();
    hello_ = load_image("hello");
  }

  static EnclaveImage load_image(const char* name) {
    auto img = load_enclave_image(enclave_path(name));
    EXPECT_TRUE(img.ok()) << img.detail();
    return img.ok() ? std::move(img).value() : EnclaveImage{};
  }

  Enclave load(const EnclaveImage& image) {
    auto e = Enclave::load(platform_->open(), image);
    EXPECT_TRUE(e.ok()) << to_string(e.status()) << ": " << e.detail();
    return std::move(e).value();
  }

  static std::array<std::uint8_t, 32> seal_key_hash(Enclave& e, std::uint8_t id_byte) {
    std::vector<std::uint8_t> buf(32, id_byte);
    const EcallResult r = e.ecall(HELLO_ECALL_SEAL_KEY_HASH, buf);
    EXPECT_TRUE(r.succeeded()) << to_string(r.status) << " " << ecall_status_name(r.enclave_status);
    std::array<std::uint8_t, 32> out{};
    std::memcpy(out.data(), buf.data(), out.size());
    return out;
  }

  std::unique_ptr<test::FakePlatform> platform_;
  EnclaveImage hello_;
};

TEST_F(EnclaveRunTest, LoaderMeasuresWhatHixMeasurePredicts) {
  Enclave e = load(hello_);
  EXPECT_EQ(platform_->last_mrenclave(), measure_image(hello_));
  EXPECT_EQ(e.base().value, HIX_SDK_DEFAULT_BASE);
  EXPECT_EQ(e.tcs().value, HIX_SDK_DEFAULT_BASE);
  // Every page went down measured, in runs of equal flags covering all pages.
  std::uint64_t pages = 0;
  for (const test::AddPagesCall& c : platform_->add_pages_calls()) {
    EXPECT_EQ(c.options, HIX_IOC_MEASURE);
    pages += c.length / HIX_PAGE_SIZE;
  }
  EXPECT_EQ(pages, hello_.pages.size());
  EXPECT_LT(platform_->add_pages_calls().size(), hello_.pages.size()) << "runs are batched";
}

TEST_F(EnclaveRunTest, ReportVerifiesAndCarriesTheCallersData) {
  const Mrenclave expected = measure_image(hello_);
  {
    Enclave e = load(hello_);
    std::vector<std::uint8_t> buf(sizeof(hix_report), 0);
    for (std::size_t i = 0; i < HIX_REPORT_DATA_SIZE; ++i) {
      buf[i] = static_cast<std::uint8_t>(i * 3);
    }
    const EcallResult r = e.ecall(HELLO_ECALL_REPORT, buf);
    ASSERT_TRUE(r.succeeded()) << to_string(r.status) << " " << ecall_status_name(r.enclave_status);
    hix_report report;
    std::memcpy(&report, buf.data(), sizeof report);
    for (std::size_t i = 0; i < HIX_REPORT_DATA_SIZE; ++i) {
      EXPECT_EQ(report.report_data[i], static_cast<std::uint8_t>(i * 3));
    }
    EXPECT_EQ(verify_report(buf, platform_->public_key(), expected), ReportStatus::ok);
  }
  // The tampered image runs too (at the same base, so after hello is gone),
  // but the verifier refuses it.
  const EnclaveImage tampered = load_image("hello-tampered");
  Enclave t = load(tampered);
  std::vector<std::uint8_t> buf(sizeof(hix_report), 0);
  ASSERT_TRUE(t.ecall(HELLO_ECALL_REPORT, buf).succeeded());
  EXPECT_EQ(verify_report(buf, platform_->public_key(), expected), ReportStatus::wrong_mrenclave);
  EXPECT_EQ(verify_report(buf, platform_->public_key(), measure_image(tampered)), ReportStatus::ok);
}

TEST_F(EnclaveRunTest, ReportFromAnUnenforcedPlatformIsRejected) {
  platform_->set_enforce(false);
  Enclave e = load(hello_);
  std::vector<std::uint8_t> buf(sizeof(hix_report), 0);
  ASSERT_TRUE(e.ecall(HELLO_ECALL_REPORT, buf).succeeded());
  EXPECT_EQ(verify_report(buf, platform_->public_key(), measure_image(hello_)),
            ReportStatus::unenforced);
}

TEST_F(EnclaveRunTest, KeyedHashUsesOneRandomKeyPerEnclave) {
  auto hash = [](Enclave& e, const std::string& msg) {
    std::vector<std::uint8_t> buf(32 + msg.size(), 0);
    std::memcpy(buf.data() + 32, msg.data(), msg.size());
    const EcallResult r = e.ecall(HELLO_ECALL_KEYED_HASH, buf);
    EXPECT_TRUE(r.succeeded()) << ecall_status_name(r.enclave_status);
    return std::vector<std::uint8_t>(buf.begin(), buf.begin() + 32);
  };
  std::vector<std::uint8_t> first;
  {
    Enclave a = load(hello_);
    first = hash(a, "hello");
    EXPECT_EQ(hash(a, "hello"), first) << "same key within one enclave";
    EXPECT_NE(hash(a, "hellp"), first);
    std::vector<std::uint8_t> small(31, 0);
    EXPECT_EQ(a.ecall(HELLO_ECALL_KEYED_HASH, small).enclave_status, HIX_ECALL_BAD_SIZE);
  }
  Enclave b = load(hello_);
  EXPECT_NE(hash(b, "hello"), first) << "a new enclave draws a new key";
}

// Enclaves share the SDK's fixed base, so one process holds one at a time.
TEST_F(EnclaveRunTest, SealKeyIsStablePerEnclaveIdentityAndDiffersBetweenEnclaves) {
  std::array<std::uint8_t, 32> first{};
  {
    Enclave a = load(hello_);
    first = seal_key_hash(a, 0);
    EXPECT_NE(seal_key_hash(a, 1), first) << "key id";
  }
  {
    Enclave b = load(hello_);
    EXPECT_EQ(seal_key_hash(b, 0), first) << "stable across loads";
  }
  Enclave t = load(load_image("hello-tampered"));
  EXPECT_NE(seal_key_hash(t, 0), first) << "another MRENCLAVE, another key";
}

TEST_F(EnclaveRunTest, ExitStubLeavesNoRegisterState) {
  Enclave e = load(hello_);
  std::vector<std::uint8_t> buf(32 + 64, 0x77);
  const EcallResult r = e.ecall(HELLO_ECALL_KEYED_HASH, buf);  // real crypto ran inside
  ASSERT_TRUE(r.succeeded());
  EXPECT_TRUE(unscrubbed_registers(r).empty()) << joined(unscrubbed_registers(r));
  EXPECT_EQ(r.registers.gpr.rax, HIX_EEXIT);
  const EcallResult n = e.ecall(HELLO_ECALL_NULL, {});
  ASSERT_TRUE(n.succeeded());
  EXPECT_TRUE(unscrubbed_registers(n).empty()) << joined(unscrubbed_registers(n));
}

TEST_F(EnclaveRunTest, FaultAbortsTheEnclaveAndItStaysDead) {
  Enclave e = load(hello_);
  const EcallResult r = e.ecall(HELLO_ECALL_FAULT, {});
  EXPECT_EQ(r.status, Status::enclave_aborted);
  EXPECT_EQ(r.isa_status, HIX_ERR_ENCLAVE_ABORTED);
  EXPECT_EQ(r.vector, 6u) << "#UD";
  EXPECT_TRUE(unscrubbed_registers(r).empty()) << joined(unscrubbed_registers(r));
  const EcallResult again = e.ecall(HELLO_ECALL_NULL, {});
  EXPECT_EQ(again.status, Status::enter_failed);
  EXPECT_EQ(again.isa_status, HIX_ERR_ENCLAVE_DEAD);
}

// The control for the two tests above: with a platform that does not scrub,
// the capture shows the secret, so a clean capture means something.
TEST_F(EnclaveRunTest, ControlUnscrubbedAbortShowsTheSecret) {
  platform_->set_scrub_on_abort(false);
  Enclave e = load(hello_);
  const EcallResult r = e.ecall(HELLO_ECALL_FAULT, {});
  ASSERT_EQ(r.status, Status::enclave_aborted);
  const auto dirty = unscrubbed_registers(r);
  EXPECT_GE(dirty.size(), 11u + 8u + 16u) << joined(dirty);
  EXPECT_EQ(r.registers.gpr.r15, HELLO_SECRET_PATTERN);
  std::uint64_t xmm7_low = 0;
  std::memcpy(&xmm7_low, r.registers.fxsave + std::size_t{160 + 7 * 16}, sizeof xmm7_low);
  EXPECT_EQ(xmm7_low, HELLO_SECRET_PATTERN);
  if (host_has_avx()) {
    std::uint64_t ymm15_high = 0;
    std::memcpy(&ymm15_high, r.registers.ymm_high[15], sizeof ymm15_high);
    EXPECT_EQ(ymm15_high, HELLO_SECRET_PATTERN);
  }
  std::uint64_t mm3 = 0;
  std::memcpy(&mm3, r.registers.fxsave + std::size_t{32 + 3 * 16}, sizeof mm3);
  EXPECT_EQ(mm3, HELLO_SECRET_PATTERN);
}

TEST_F(EnclaveRunTest, DispatcherRefusesBadCalls) {
  Enclave e = load(hello_);
  EXPECT_EQ(e.ecall(99, {}).enclave_status, HIX_ECALL_UNKNOWN);
  std::vector<std::uint8_t> report(sizeof(hix_report) - 1, 0);
  EXPECT_EQ(e.ecall(HELLO_ECALL_REPORT, report).enclave_status, HIX_ECALL_BAD_SIZE);
  // A "buffer" inside ELRANGE: the enclave must not act as a confused deputy.
  // reinterpret_cast: deliberately hostile buffer addresses.
  auto* inside = reinterpret_cast<std::uint8_t*>(  // NOLINT(performance-no-int-to-ptr)
      e.base().value + 0x3000);
  EXPECT_EQ(e.ecall(HELLO_ECALL_NULL, std::span(inside, 64)).enclave_status, HIX_ECALL_BAD_BUFFER);
  // One that starts below ELRANGE and runs into it.
  auto* below = reinterpret_cast<std::uint8_t*>(  // NOLINT(performance-no-int-to-ptr)
      e.base().value - 16);
  EXPECT_EQ(e.ecall(HELLO_ECALL_NULL, std::span(below, 32)).enclave_status, HIX_ECALL_BAD_BUFFER);
  std::vector<std::uint8_t> huge(HIX_ECALL_MAX_BUFFER + 1, 0);
  EXPECT_EQ(e.ecall(HELLO_ECALL_NULL, huge).enclave_status, HIX_ECALL_NO_MEMORY);
  // Still alive and well.
  EXPECT_TRUE(e.ecall(HELLO_ECALL_NULL, {}).succeeded());
}

TEST_F(EnclaveRunTest, HeapServesManyEcallsWithoutLeaking) {
  Enclave e = load(hello_);
  // 2000 ecalls with 64 KiB buffers each go through the enclave's heap (256
  // KiB): a leak of one buffer per call would exhaust it within 4 calls.
  std::vector<std::uint8_t> buf(32 + 65536 - 32, 1);
  for (int i = 0; i < 2000; ++i) {
    const EcallResult r = e.ecall(HELLO_ECALL_KEYED_HASH, buf);
    ASSERT_TRUE(r.succeeded()) << "call " << i << ": " << ecall_status_name(r.enclave_status);
  }
}

}  // namespace
}  // namespace hix::loader
