// The real gpu_enclave.elf on the in-process FakePlatform (tests/sdk/
// fake_platform.hpp): its ecall table, its refusal of untrusted areas inside
// ELRANGE, its report binding and key schedule, and a maximal command buffer
// through its heap. The GLRANGE is plain memory preset with the registers
// INIT reads (a register file that never changes): the device itself is
// covered by the hosted tests, this is about the binary.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fake_platform.hpp"
#include "gpu_enclave_abi.h"
#include "hix/abi/hix_gpu_regs.h"
#include "hix/loader/enclave.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/measurement.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"
#include "hix_sdk/ecall_abi.h"
#include "report.hpp"

namespace hix::session::test {
namespace {

using Bytes = std::vector<std::uint8_t>;

// HIX_ENCLAVE_DIR in the environment overrides the build's folder (to run
// the test binary on another machine, e.g. one with FSGSBASE).
std::string image_path(const char* name) {
  const char* dir = std::getenv("HIX_ENCLAVE_DIR");
  return std::string(dir != nullptr ? dir : HIX_ENCLAVE_DIR) + "/" + name + ".elf";
}

template <class T>
Bytes bytes_of(const T& v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}
template <class T>
T from_bytes(const Bytes& b) {
  T v{};
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}

constexpr std::uint32_t kHandle = 0x00010001;

class GpuEnclaveImage : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = hix::test::FakePlatform::unsupported_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_GE(sodium_init(), 0);
    platform_ = std::make_unique<hix::test::FakePlatform>();
    image_ = load_image("gpu_enclave");
    ring_.assign(4096 + (1u << 20) + 4096, 0);
    window_.assign(2u << 20, 0);
  }

  static loader::EnclaveImage load_image(const char* name) {
    auto img = loader::load_enclave_image(image_path(name));
    EXPECT_TRUE(img.ok()) << img.detail();
    return img.ok() ? std::move(img).value() : loader::EnclaveImage{};
  }

  loader::Enclave load(const loader::EnclaveImage& image) {
    auto e = loader::Enclave::load(platform_->open(), image);
    EXPECT_TRUE(e.ok()) << loader::to_string(e.status()) << ": " << e.detail();
    return std::move(e).value();
  }

  // BAR0 at the first 64 KiB boundary above the image (as hixd places it),
  // made writable memory holding the registers INIT checks.
  std::uint64_t map_glrange(const loader::Enclave& e, const loader::EnclaveImage& image) {
    std::uint64_t end = 0;
    for (const loader::Page& p : image.pages) end = std::max(end, p.offset.value + 4096);
    const std::uint64_t offset =
        (end + HIX_GPU_BAR0_SIZE - 1) / HIX_GPU_BAR0_SIZE * HIX_GPU_BAR0_SIZE;
    EXPECT_LE(offset + HIX_GPU_BAR0_SIZE, e.size()) << "no room for BAR0 in ELRANGE";
    const std::uint64_t glrange = e.base().value + offset;
    // reinterpret_cast: the test maps BAR0's stand-in at the GLRANGE.
    auto* regs = reinterpret_cast<std::uint32_t*>(glrange);  // NOLINT(performance-no-int-to-ptr)
    EXPECT_EQ(mprotect(regs, HIX_GPU_BAR0_SIZE, PROT_READ | PROT_WRITE), 0);
    regs[HIX_GPU_REG_ID / 4] = HIX_GPU_ID_VALUE;
    regs[HIX_GPU_REG_VERSION / 4] = HIX_GPU_VERSION_VALUE;
    regs[HIX_GPU_REG_STATUS / 4] = HIX_GPU_STATUS_READY | HIX_GPU_STATUS_LOCKED;
    regs[HIX_GPU_REG_CAPS / 4] = HIX_GPU_CAPS_VALUE;
    regs[HIX_GPU_REG_RESULT0 / 4] = kHandle;  // every CTX_CREATE/MEM_ALLOC "returns" it
    regs_ = regs;
    return glrange;
  }

  gpu_enclave_area ring_area() {
    // reinterpret_cast: linear addresses of the host's untrusted memory.
    return {reinterpret_cast<std::uint64_t>(ring_.data()), 0x100000, 4096 + (1u << 20)};
  }
  gpu_enclave_area window_area() {
    return {reinterpret_cast<std::uint64_t>(window_.data()), 0x400000, window_.size()};
  }

  loader::EcallResult ecall(loader::Enclave& e, std::uint64_t n, Bytes& buf) {
    return e.ecall(n, buf);
  }

  gpu_enclave_init init(loader::Enclave& e, std::uint64_t glrange, gpu_enclave_area ring) {
    gpu_enclave_init io{};
    io.ring_entries = 64;
    io.glrange = glrange;
    io.ring = ring;
    Bytes buf = bytes_of(io);
    EXPECT_TRUE(ecall(e, GPU_ENCLAVE_INIT, buf).succeeded());
    return from_bytes<gpu_enclave_init>(buf);
  }

  struct ClientKeys {
    std::array<std::uint8_t, 32> pk{}, sk{}, nonce{}, rx{}, tx{};
  };
  gpu_enclave_open open(loader::Enclave& e, ClientKeys& c, gpu_enclave_area window) {
    crypto_kx_keypair(c.pk.data(), c.sk.data());
    randombytes_buf(c.nonce.data(), c.nonce.size());
    gpu_enclave_open io{};
    std::memcpy(io.client_pk, c.pk.data(), 32);
    std::memcpy(io.nonce, c.nonce.data(), 32);
    io.extent_count = 1;
    io.extents[0] = window;
    Bytes buf = bytes_of(io);
    EXPECT_TRUE(ecall(e, GPU_ENCLAVE_OPEN, buf).succeeded());
    return from_bytes<gpu_enclave_open>(buf);
  }

  std::unique_ptr<hix::test::FakePlatform> platform_;
  loader::EnclaveImage image_;
  Bytes ring_, window_;
  std::uint32_t* regs_ = nullptr;
};

TEST_F(GpuEnclaveImage, AnswersStatsAndRefusesCallsBeforeInit) {
  loader::Enclave e = load(image_);
  Bytes stats(sizeof(gpu_enclave_stats), 0xEE);
  ASSERT_TRUE(ecall(e, GPU_ENCLAVE_STATS, stats).succeeded());
  EXPECT_TRUE(std::all_of(stats.begin(), stats.end(), [](std::uint8_t b) { return b == 0; }));
  Bytes small(8, 0);
  EXPECT_EQ(ecall(e, GPU_ENCLAVE_CALL, small).enclave_status, HIX_ECALL_BAD_SIZE);
  Bytes wrong(sizeof(gpu_enclave_init) - 1, 0);
  EXPECT_EQ(ecall(e, GPU_ENCLAVE_INIT, wrong).enclave_status, HIX_ECALL_BAD_SIZE);
  EXPECT_EQ(ecall(e, 6, small).enclave_status, HIX_ECALL_UNKNOWN);
  ClientKeys c;
  EXPECT_EQ(open(e, c, window_area()).status, HIX_SESSION_NOT_READY);
  gpu_enclave_drop d{1, 0};
  Bytes drop = bytes_of(d);
  ASSERT_TRUE(ecall(e, GPU_ENCLAVE_DROP, drop).succeeded());
  EXPECT_EQ(from_bytes<gpu_enclave_drop>(drop).status, HIX_SESSION_UNKNOWN_SESSION);
}

TEST_F(GpuEnclaveImage, RefusesAGlrangeOrUntrustedAreasOnItsOwnPages) {
  loader::Enclave e = load(image_);
  const std::uint64_t glrange = map_glrange(e, image_);
  EXPECT_EQ(init(e, 0, ring_area()).status, HIX_SESSION_BAD_REQUEST) << "no GLRANGE";
  EXPECT_EQ(init(e, e.base().value + 0x1000, ring_area()).status, HIX_SESSION_BAD_REQUEST)
      << "a GLRANGE over the enclave's code";
  EXPECT_EQ(init(e, e.base().value + e.size() - 0x1000, ring_area()).status,
            HIX_SESSION_BAD_REQUEST)
      << "a GLRANGE running out of ELRANGE";
  // A ring area inside ELRANGE, or straddling its start: the enclave would
  // write ring entries over its own pages on the host's behalf.
  gpu_enclave_area inside = ring_area();
  inside.linear = e.base().value + 0x2000;
  EXPECT_EQ(init(e, glrange, inside).status, HIX_SESSION_BAD_REQUEST);
  inside.linear = e.base().value - 0x1000;
  EXPECT_EQ(init(e, glrange, inside).status, HIX_SESSION_BAD_REQUEST);
  ASSERT_EQ(init(e, glrange, ring_area()).status, HIX_SESSION_OK);
  // A window inside ELRANGE.
  ClientKeys c;
  gpu_enclave_area w = window_area();
  w.linear = e.base().value + 0x10000;
  EXPECT_EQ(open(e, c, w).status, HIX_SESSION_BAD_REQUEST);
}

TEST_F(GpuEnclaveImage, InitReachesTheDeviceThroughItsGlrangeOnly) {
  {
    loader::Enclave e = load(image_);
    const std::uint64_t glrange = map_glrange(e, image_);
    const gpu_enclave_init io = init(e, glrange, ring_area());
    ASSERT_EQ(io.status, HIX_SESSION_OK);
    EXPECT_EQ(io.caps, HIX_GPU_CAPS_VALUE);
    EXPECT_EQ(regs_[HIX_GPU_REG_CMD / 4], static_cast<std::uint32_t>(HIX_GPU_CMD_RING_START))
        << "the last admin command";
    EXPECT_EQ(regs_[HIX_GPU_REG_RING_BASE_LO / 4], 0x100000u);
    EXPECT_EQ(regs_[HIX_GPU_REG_RING_SIZE / 4], 64u);
  }
  // An unlocked device is refused (one SDK enclave per process at a time:
  // the first is gone).
  loader::Enclave e2 = load(image_);
  const std::uint64_t g2 = map_glrange(e2, image_);
  regs_[HIX_GPU_REG_STATUS / 4] = HIX_GPU_STATUS_READY;
  EXPECT_EQ(init(e2, g2, ring_area()).status, HIX_SESSION_NOT_READY);
}

TEST_F(GpuEnclaveImage, ItsReportBindsTheSessionAndItsKeysMatchTheClients) {
  const loader::Mrenclave expected = loader::measure_image(image_);
  {
    loader::Enclave e = load(image_);
    ASSERT_EQ(init(e, map_glrange(e, image_), ring_area()).status, HIX_SESSION_OK);
    ClientKeys c;
    const gpu_enclave_open o = open(e, c, window_area());
    ASSERT_EQ(o.status, HIX_SESSION_OK);
    const std::span<const std::uint8_t> report(o.report, sizeof o.report);
    ASSERT_EQ(verify_report(report, platform_->public_key(), expected), ReportStatus::ok);
    std::array<std::uint8_t, 32> want{};
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    // reinterpret_cast: the label's ASCII bytes.
    crypto_hash_sha256_update(&h, reinterpret_cast<const std::uint8_t*>("OpenHIX-session-v1"), 18);
    crypto_hash_sha256_update(&h, o.enclave_pk, 32);
    crypto_hash_sha256_update(&h, c.pk.data(), 32);
    crypto_hash_sha256_update(&h, c.nonce.data(), 32);
    crypto_hash_sha256_update(&h, reinterpret_cast<const std::uint8_t*>(&o.session), 4);
    crypto_hash_sha256_final(&h, want.data());
    const hix_report r = decode_report(report.first<kReportSize>());
    EXPECT_EQ(std::memcmp(r.report_data, want.data(), 32), 0);

    // §3.3 on the client's side; an ALLOC sealed under K_c2e opens inside and
    // its response opens under K_e2c.
    ASSERT_EQ(crypto_kx_client_session_keys(c.rx.data(), c.tx.data(), c.pk.data(), c.sk.data(),
                                            o.enclave_pk),
              0);
    hix_msg_alloc a{1, 0};
    Bytes plain = bytes_of(a);
    const Bytes size = bytes_of(std::uint64_t{4096});
    plain.insert(plain.end(), size.begin(), size.end());
    hix_msg_header mh{HIX_MSG_MAGIC,
                      1,
                      1,
                      HIX_MSG_ALLOC,
                      o.session,
                      0,
                      1,
                      static_cast<std::uint32_t>(plain.size()),
                      0};
    Bytes sealed = bytes_of(mh);
    sealed.resize(32 + plain.size() + 16);
    std::array<std::uint8_t, 12> nonce{1, 0, 0, 0, 1};
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        sealed.data() + 32, sealed.data() + 32 + plain.size(), nullptr, plain.data(), plain.size(),
        sealed.data(), 32, nullptr, nonce.data(), c.tx.data());
    Bytes buf(sizeof(gpu_enclave_call) + GPU_ENCLAVE_CALL_RESPONSE_MAX);
    const gpu_enclave_call call{o.session, 0, static_cast<std::uint32_t>(sealed.size()), 0};
    std::memcpy(buf.data(), &call, sizeof call);
    std::memcpy(buf.data() + sizeof call, sealed.data(), sealed.size());
    ASSERT_TRUE(ecall(e, GPU_ENCLAVE_CALL, buf).succeeded());
    const auto out = from_bytes<gpu_enclave_call>(buf);
    ASSERT_EQ(out.status, HIX_SESSION_OK);
    ASSERT_EQ(out.length, 48u + 8 + 4);
    std::array<std::uint8_t, 12> rnonce{2, 0, 0, 0, 1};
    Bytes resp(12);
    ASSERT_EQ(crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                  resp.data(), nullptr, buf.data() + 16 + 32, 12, buf.data() + 16 + 32 + 12,
                  buf.data() + 16, 32, rnonce.data(), c.rx.data()),
              0);
    EXPECT_EQ(from_bytes<hix_msg_status>(resp).status, HIX_SESSION_OK);
    EXPECT_EQ(from_bytes<std::uint32_t>(Bytes(resp.begin() + 8, resp.end())), kHandle);

    // The same message again is a replay; the substituted image measures
    // differently, so its report is refused against this MRENCLAVE.
    std::memcpy(buf.data(), &call, sizeof call);
    std::memcpy(buf.data() + sizeof call, sealed.data(), sealed.size());
    ASSERT_TRUE(ecall(e, GPU_ENCLAVE_CALL, buf).succeeded());
    EXPECT_EQ(from_bytes<gpu_enclave_call>(buf).status, HIX_SESSION_REPLAYED);
  }
  // (one SDK enclave per process at a time)
  const loader::EnclaveImage tampered = load_image("gpu_enclave-tampered");
  loader::Enclave t = load(tampered);
  ASSERT_EQ(init(t, map_glrange(t, tampered), ring_area()).status, HIX_SESSION_OK);
  ClientKeys c2;
  const gpu_enclave_open o2 = open(t, c2, window_area());
  ASSERT_EQ(o2.status, HIX_SESSION_OK);
  EXPECT_EQ(verify_report(std::span<const std::uint8_t>(o2.report, sizeof o2.report),
                          platform_->public_key(), expected),
            ReportStatus::wrong_mrenclave);
}

TEST_F(GpuEnclaveImage, AMaximalCommandBufferFitsItsHeapAndStack) {
  loader::Enclave e = load(image_);
  ASSERT_EQ(init(e, map_glrange(e, image_), ring_area()).status, HIX_SESSION_OK);
  ClientKeys c;
  const gpu_enclave_open o = open(e, c, window_area());
  ASSERT_EQ(o.status, HIX_SESSION_OK);
  ASSERT_EQ(crypto_kx_client_session_keys(c.rx.data(), c.tx.data(), c.pk.data(), c.sk.data(),
                                          o.enclave_pk),
            0);
  vgpu::CmdbufBuilder b;
  for (int i = 0; i < 16000; ++i) {
    b.copy(vgpu::tref(kHandle, HIX_VGPU_DT_F32), vgpu::tref(kHandle, HIX_VGPU_DT_F32), 1);
  }
  const auto cmd = b.finish();
  ASSERT_LE(cmd.size(), HIX_MSG_MAX);
  for (int round = 1; round <= 3; ++round) {
    // An ALLOC first so the handle is the session's, then the SUBMIT.
    const auto seal = [&](std::uint16_t type, const std::uint8_t* p, std::size_t n,
                          std::uint64_t ctr) {
      hix_msg_header mh{
          HIX_MSG_MAGIC, 1, 1, type, o.session, 0, ctr, static_cast<std::uint32_t>(n), 0};
      Bytes s = bytes_of(mh);
      s.resize(32 + n + 16);
      std::array<std::uint8_t, 12> nonce{1, 0, 0, 0};
      std::memcpy(nonce.data() + 4, &ctr, 8);
      crypto_aead_chacha20poly1305_ietf_encrypt_detached(s.data() + 32, s.data() + 32 + n, nullptr,
                                                         p, n, s.data(), 32, nullptr, nonce.data(),
                                                         c.tx.data());
      Bytes buf(sizeof(gpu_enclave_call) + std::max<std::size_t>(s.size(), 312));
      const gpu_enclave_call call{o.session, 0, static_cast<std::uint32_t>(s.size()), 0};
      std::memcpy(buf.data(), &call, sizeof call);
      std::memcpy(buf.data() + sizeof call, s.data(), s.size());
      EXPECT_TRUE(ecall(e, GPU_ENCLAVE_CALL, buf).succeeded());
      return from_bytes<gpu_enclave_call>(buf);
    };
    if (round == 1) {
      Bytes alloc = bytes_of(hix_msg_alloc{1, 0});
      const Bytes size = bytes_of(std::uint64_t{4096});
      alloc.insert(alloc.end(), size.begin(), size.end());
      ASSERT_EQ(seal(HIX_MSG_ALLOC, alloc.data(), alloc.size(), 1).status, HIX_SESSION_OK);
    }
    // reinterpret_cast: the command buffer's bytes.
    const gpu_enclave_call r =
        seal(HIX_MSG_SUBMIT, reinterpret_cast<const std::uint8_t*>(cmd.data()), cmd.size(),
             static_cast<std::uint64_t>(round) + 1);
    // Validated, encrypted into the ring area and rung; this register file
    // never runs it, so the answer is a sealed DEVICE status.
    EXPECT_EQ(r.status, HIX_SESSION_OK) << "round " << round;
    EXPECT_EQ(r.length, 48u + 8 + sizeof(hix_submit_result));
  }
  // The command buffer went out as ciphertext.
  const auto* rec = reinterpret_cast<const std::uint8_t*>(cmd.data()) + 16;
  EXPECT_EQ(std::search(ring_.begin(), ring_.end(), rec, rec + 64), ring_.end());
  Bytes stats(sizeof(gpu_enclave_stats));
  ASSERT_TRUE(ecall(e, GPU_ENCLAVE_STATS, stats).succeeded());
  const auto st = from_bytes<gpu_enclave_stats>(stats);
  EXPECT_EQ(st.submits, 3u);
  EXPECT_EQ(st.messages_accepted, 4u);
  EXPECT_EQ(st.sessions_live, 1u);
}

}  // namespace
}  // namespace hix::session::test
