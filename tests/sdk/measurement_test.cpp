// MRENCLAVE (docs/specs/hix-isa.md §6): known answers and sensitivity.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "hix/loader/measurement.hpp"

namespace hix::loader {
namespace {

// Two pages: a TCS (entry 0x1000, stack 0x2000) and a code page whose byte i
// is (7i + 3) mod 256; ELRANGE 8 KiB at the SDK's default base.
EnclaveImage tiny_image() {
  EnclaveImage img;
  img.base = LinearAddress{0x0000200000000000};
  img.size = 0x2000;
  Page tcs;
  tcs.offset = ElrangeOffset{0};
  tcs.flags = HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS;
  const std::uint64_t fields[3] = {0, 0x1000, 0x2000};
  std::memcpy(tcs.contents.data(), fields, sizeof fields);
  Page code;
  code.offset = ElrangeOffset{0x1000};
  code.flags = HIX_PAGE_R | HIX_PAGE_X;
  for (std::size_t i = 0; i < code.contents.size(); ++i) {
    code.contents[i] = static_cast<std::uint8_t>(i * 7 + 3);
  }
  img.pages = {tcs, code};
  img.tcs_offsets = {ElrangeOffset{0}};
  return img;
}

// Known answers computed outside this code base, with Python's hashlib over
// the records of spec §6 written out by hand:
//   rec_ecreate(size)  = b"ECREATE\0" + pack("<I", 0) + pack("<Q", size) + 44 * b"\0"
//   rec_eadd(off, fl)  = b"EADD\0\0\0\0" + pack("<QQ", off, fl) + 40 * b"\0"
//   rec_eextend(off)   = b"EEXTEND\0" + pack("<Q", off) + 48 * b"\0"   (then the chunk)
constexpr const char* kTinyImageMrenclave =
    "3d2dc33399c4f5b2c1b083b042f49787b4f5f3fccc74c72c5ecf78fe90860ff2";
constexpr const char* kEcreateOnly8KiB =
    "c6bb61604e9f56f11c49e7355c1395ffbb9aa0c519a461f442f5bc83a113e2b0";

class MeasurementTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(MeasurementTest, TinyImageMatchesKnownAnswer) {
  EXPECT_EQ(to_hex(measure_image(tiny_image())), kTinyImageMrenclave);
}

TEST_F(MeasurementTest, EcreateRecordMatchesKnownAnswer) {
  MeasurementBuilder b;
  b.ecreate(0x2000);
  EXPECT_EQ(to_hex(b.finish()), kEcreateOnly8KiB);
}

// The same chain built a second way: every record written byte by byte into
// one buffer, hashed in one call.
TEST_F(MeasurementTest, IncrementalChainEqualsOneShotHashOfTheRecordStream) {
  const EnclaveImage img = tiny_image();
  std::vector<std::uint8_t> stream;
  auto record = [&](std::string_view tag, std::size_t at,
                    std::initializer_list<std::uint64_t> values) {
    std::uint8_t r[64] = {};
    std::memcpy(r, tag.data(), tag.size());
    std::size_t pos = at;
    for (const std::uint64_t v : values) {
      for (int i = 0; i < 8; ++i) r[pos++] = static_cast<std::uint8_t>(v >> (8 * i));
    }
    stream.insert(stream.end(), r, r + 64);
  };
  record("ECREATE", 12, {img.size});
  for (const Page& p : img.pages) {
    record("EADD", 8, {p.offset.value, p.flags});
    for (std::size_t c = 0; c < HIX_PAGE_SIZE; c += HIX_EEXTEND_CHUNK) {
      record("EEXTEND", 8, {p.offset.value + c});
      stream.insert(stream.end(), p.contents.begin() + static_cast<std::ptrdiff_t>(c),
                    p.contents.begin() + static_cast<std::ptrdiff_t>(c + HIX_EEXTEND_CHUNK));
    }
  }
  Mrenclave expected{};
  crypto_hash_sha256(expected.data(), stream.data(), stream.size());
  EXPECT_EQ(measure_image(img), expected);
}

// Whatever the OS could choose differently must change the value.
TEST_F(MeasurementTest, EveryInputChangesTheValue) {
  const Mrenclave reference = measure_image(tiny_image());
  {
    EnclaveImage img = tiny_image();
    img.size = 0x4000;
    EXPECT_NE(measure_image(img), reference) << "ELRANGE size";
  }
  {
    EnclaveImage img = tiny_image();
    img.pages[1].flags = HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_X;
    EXPECT_NE(measure_image(img), reference) << "permissions";
  }
  {
    EnclaveImage img = tiny_image();
    img.pages[0].flags = HIX_PAGE_R | HIX_PAGE_W;
    EXPECT_NE(measure_image(img), reference) << "page type";
  }
  {
    EnclaveImage img = tiny_image();
    img.pages[1].offset = ElrangeOffset{0x2000};
    EXPECT_NE(measure_image(img), reference) << "page offset";
  }
  {
    EnclaveImage img = tiny_image();
    img.pages[1].contents[4095] ^= 1;
    EXPECT_NE(measure_image(img), reference) << "last byte of a page";
  }
  {
    EnclaveImage img = tiny_image();
    std::swap(img.pages[0], img.pages[1]);
    EXPECT_NE(measure_image(img), reference) << "order of EADDs";
  }
  EXPECT_EQ(measure_image(tiny_image()), reference) << "deterministic";
}

}  // namespace
}  // namespace hix::loader
