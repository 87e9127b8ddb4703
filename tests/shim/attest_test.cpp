// EREPORT and EGETKEY (docs/specs/hix-isa.md §7), and the platform key check.
#include <gtest/gtest.h>

#include "enclave_builder.hpp"

namespace hix::test {
namespace {

hix_report report_of(CoreFixture& f, std::uint8_t data_fill) {
  std::array<std::uint8_t, HIX_REPORT_DATA_SIZE> data{};
  data.fill(data_fill);
  hix_report r{};
  hix_ereport(&f.core, 0, data.data(), &r);
  return r;
}

bool signature_ok(const hix_report& r, const std::uint8_t* pk) {
  return crypto_sign_verify_detached(r.signature, reinterpret_cast<const std::uint8_t*>(&r),
                                     HIX_REPORT_SIGNED_SIZE, pk) == 0;
}

TEST(Report, IsSignedAndCarriesTheSpecFields) {
  CoreFixture f;
  const auto pages = standard_pages();
  ASSERT_EQ(build(&f.core, pages), HIX_OK);
  const hix_report r = report_of(f, 0xAB);
  EXPECT_EQ(r.version, HIX_REPORT_VERSION);
  EXPECT_EQ(r.isa_version, HIX_ISA_VERSION);
  EXPECT_EQ(r.attributes, 0u);
  EXPECT_EQ(0, std::memcmp(r.mrenclave, expected_mrenclave(pages).data(), 32));
  EXPECT_EQ(r.report_data[0], 0xAB);
  EXPECT_EQ(r.report_data[63], 0xAB);
  std::array<std::uint8_t, 32> key_id{};
  crypto_hash_sha256(key_id.data(), f.pk.data(), f.pk.size());
  EXPECT_EQ(0, std::memcmp(r.platform_key_id, key_id.data(), 32));
  EXPECT_TRUE(signature_ok(r, f.pk.data()));
}

TEST(Report, AnyTamperedSignedByteBreaksTheSignature) {
  CoreFixture f;
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  const hix_report good = report_of(f, 1);
  for (std::size_t i = 0; i < HIX_REPORT_SIGNED_SIZE; i += 7) {
    hix_report bad = good;
    reinterpret_cast<std::uint8_t*>(&bad)[i] ^= 0x01;
    EXPECT_FALSE(signature_ok(bad, f.pk.data())) << "byte " << i;
  }
  std::array<std::uint8_t, 32> other_pk{}, other_sk[2]{};
  crypto_sign_keypair(other_pk.data(), other_sk[0].data());
  EXPECT_FALSE(signature_ok(good, other_pk.data()));
}

TEST(Report, AnUnenforcedPlatformSaysSo) {
  CoreFixture f(false);
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  const hix_report r = report_of(f, 0);
  EXPECT_EQ(r.attributes & HIX_ATTR_UNENFORCED, HIX_ATTR_UNENFORCED);
  EXPECT_TRUE(signature_ok(r, f.pk.data()));
}

TEST(SealKey, StableForAnEnclaveAndDifferentForAnother) {
  hix_keyrequest req{};
  req.name = HIX_KEY_SEAL;
  req.id[0] = 5;
  std::array<std::uint8_t, 32> k1{}, k2{}, k3{}, k4{};

  CoreFixture a;
  ASSERT_EQ(build(&a.core, standard_pages()), HIX_OK);
  ASSERT_EQ(hix_egetkey(&a.core, 0, &req, k1.data()), HIX_OK);
  CoreFixture b;  // same platform key, same enclave
  ASSERT_EQ(build(&b.core, standard_pages()), HIX_OK);
  ASSERT_EQ(hix_egetkey(&b.core, 0, &req, k2.data()), HIX_OK);
  EXPECT_EQ(k1, k2);

  CoreFixture c;  // another enclave
  auto pages = standard_pages();
  pages[1].bytes[0] = 0;
  ASSERT_EQ(build(&c.core, pages), HIX_OK);
  ASSERT_EQ(hix_egetkey(&c.core, 0, &req, k3.data()), HIX_OK);
  EXPECT_NE(k1, k3);

  req.id[0] = 6;  // another key id
  ASSERT_EQ(hix_egetkey(&a.core, 0, &req, k4.data()), HIX_OK);
  EXPECT_NE(k1, k4);
}

TEST(SealKey, MalformedRequestsAreRefused) {
  CoreFixture f;
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  std::array<std::uint8_t, 32> key{};
  hix_keyrequest req{};
  req.name = 1;
  EXPECT_EQ(hix_egetkey(&f.core, 0, &req, key.data()), HIX_ERR_INVALID_PARAM);
  req = {};
  req.reserved2[3] = 1;
  EXPECT_EQ(hix_egetkey(&f.core, 0, &req, key.data()), HIX_ERR_INVALID_PARAM);
}

TEST(PlatformKey, MismatchedHalvesAreRefused) {
  test::FakeMemory mem(1 << 16);
  std::array<std::uint8_t, 32> pk{};
  std::array<std::uint8_t, 64> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  sk[40] ^= 1;
  hix_core core{};
  EXPECT_NE(hix_core_init(&core, sk.data(), true, 8, nullptr, mem.ops(), mem.opaque()), 0);
}

}  // namespace
}  // namespace hix::test
