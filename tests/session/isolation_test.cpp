// Sessions side by side and their end (docs/specs/hix-session.md §4), and
// plain mode (§10).
#include <algorithm>
#include <cstring>

#include "harness.hpp"
#include "hix/abi/hix_gpu_regs.h"
#include "hix/vgpu/cmdbuf_builder.hpp"

namespace hix::session::test {
namespace {

using gpu::Reg32;
using vgpu::CmdbufBuilder;
using vgpu::tref;

class Isolation : public SessionTest {
 protected:
  void SetUp() override { init(); }

  // DMA_IN_DECRYPT of a tensor sealed under the session's K_t, COPY, and
  // DMA_OUT_ENCRYPT back into its window.
  // The tensor ids the tensor is sealed under going in and coming out.
  struct TensorIds {
    std::uint64_t in_id = 0;
    std::uint64_t out_id = 0;
  };

  Reply round_trip(Client& c, std::uint32_t window, const Bytes& plain, TensorIds ids,
                   std::vector<std::uint32_t>& h) {
    const std::uint64_t in_id = ids.in_id;
    const std::uint64_t out_id = ids.out_id;
    if (h.empty()) h = alloc(c, std::array<std::uint64_t, 2>{4096, 4096});
    const std::uint64_t in = bus.window_gpa(window);
    const std::uint64_t out = bus.window_gpa(window) + Bus::kExtentBytes;
    put_sealed(in, plain, 0, in_id, c.k_t);
    CmdbufBuilder b;
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32),
                {.gpa = in, .bytes = plain.size()}, {.tensor_id = in_id, .key_slot = 0});
    b.copy(tref(h[1], HIX_VGPU_DT_F32), tref(h[0], HIX_VGPU_DT_F32), plain.size() / 4);
    b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(h[1], HIX_VGPU_DT_F32),
                {.gpa = out, .bytes = plain.size()}, {.tensor_id = out_id, .key_slot = 0});
    return submit(c, b.finish());
  }
};

TEST_F(Isolation, EightSessionsAtOnceEachSeeOnlyTheirOwnKeysBuffersAndWindows) {
  std::vector<Client> clients;
  std::vector<std::vector<std::uint32_t>> handles(HIX_SESSION_MAX);
  for (std::uint32_t i = 0; i < HIX_SESSION_MAX; ++i) clients.push_back(open(i));
  EXPECT_EQ(service->sessions().live(), HIX_SESSION_MAX);
  EXPECT_EQ(bus.device().live_contexts(), HIX_SESSION_MAX);

  // A ninth session finds no room.
  Client extra;
  gpu_enclave_open io = open_request(extra, HIX_SESSION_MAX);
  service->open(io);
  EXPECT_EQ(static_cast<Status>(io.status), Status::no_resource);

  const std::uint64_t out_id = HIX_VGPU_TENSOR_ID_DEVICE | 1;
  for (std::uint32_t i = 0; i < HIX_SESSION_MAX; ++i) {
    const Bytes plain = pattern(64, static_cast<float>(i) * 100.0f);
    const Reply r = round_trip(clients[i], i, plain, {.in_id = 1, .out_id = out_id}, handles[i]);
    ASSERT_EQ(r.status, Status::ok) << i << ": " << to_string(r.status);
  }
  const std::uint32_t only_in_0 = alloc(clients[0], std::array<std::uint64_t, 1>{64}).at(0);
  for (std::uint32_t i = 0; i < HIX_SESSION_MAX; ++i) {
    const Bytes want = pattern(64, static_cast<float>(i) * 100.0f);
    const std::uint64_t out = bus.window_gpa(i) + Bus::kExtentBytes;
    for (std::uint32_t j = 0; j < HIX_SESSION_MAX; ++j) {
      Bytes got(want.size());
      const bool opened = get_sealed(out, got, out_id, clients[j].k_t);
      EXPECT_EQ(opened, i == j) << "session " << i << "'s output under session " << j << "'s key";
      if (i == j) {
        EXPECT_EQ(got, want);
      }
    }
    // Handles are per context: the same numbers name each session's own
    // buffers (the outputs above differ). A number only session 0 was given
    // names nothing in any other session.
    if (i != 0) {
      CmdbufBuilder b;
      b.fill(tref(only_in_0, HIX_VGPU_DT_F32), 4, 0);
      const Reply r = submit(clients[i], b.finish());
      EXPECT_EQ(r.detail, validation_detail(Reason::handle, 0));
    }
    // And its messages do not open under another session's id.
    Client impostor = clients[(i + 1) % HIX_SESSION_MAX];
    impostor.sid = clients[i].sid;
    impostor.send_counter = clients[i].send_counter;
    EXPECT_EQ(call_raw(clients[i].sid, impostor.seal(HIX_MSG_CLOSE, {})).status, Status::forged);
  }
  EXPECT_EQ(service->sessions().live(), HIX_SESSION_MAX);
}

TEST_F(Isolation, DropDestroysTheContextZeroesItsVramAndForgetsItsHandles) {
  Client c = open(0);
  std::vector<std::uint32_t> h;
  const Bytes secret = pattern(256, 12345.0f);
  ASSERT_EQ(
      round_trip(c, 0, secret, {.in_id = 1, .out_id = HIX_VGPU_TENSOR_ID_DEVICE | 1}, h).status,
      Status::ok);
  Key32 model{};
  model.fill(0x11);
  model_key(c, 1, model);
  const auto contains = [](const Bytes& hay, const Bytes& needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
  };
  ASSERT_TRUE(contains(bus.vram(), secret)) << "the plaintext is in VRAM while the session lives";

  gpu_enclave_drop d{c.sid, 0};
  service->drop(d);
  EXPECT_EQ(static_cast<Status>(d.status), Status::ok);
  EXPECT_EQ(bus.device().live_contexts(), 0u);
  const Bytes vram = bus.vram();
  EXPECT_TRUE(std::all_of(vram.begin(), vram.end(), [](std::uint8_t b) { return b == 0; }))
      << "VRAM does not read zero after DROP";
  EXPECT_EQ(service->sessions().find(c.sid), nullptr);
  for (const Session& s : service->sessions().all()) {
    EXPECT_FALSE(s.live);
    EXPECT_EQ(s.buffer_count, 0u);
    const Key zero{};
    EXPECT_EQ(s.k_t, zero);
    EXPECT_EQ(s.k_c2e, zero);
  }
  // Gone for good: messages and a second DROP find no session.
  EXPECT_EQ(call_raw(c.sid, c.seal(HIX_MSG_CLOSE, {})).status, Status::unknown_session);
  service->drop(d);
  EXPECT_EQ(static_cast<Status>(d.status), Status::unknown_session);
  const gpu_enclave_stats st = stats();
  EXPECT_EQ(st.sessions_closed, 1u);
  EXPECT_EQ(st.sessions_live, 0u);
  EXPECT_EQ(st.rejected[HIX_SESSION_UNKNOWN_SESSION], 1u);
}

TEST_F(Isolation, ANewSessionReusesWhatADroppedOneHeld) {
  std::vector<Client> clients;
  for (std::uint32_t i = 0; i < HIX_SESSION_MAX; ++i) clients.push_back(open(i));
  // Fill VRAM through session 3, then drop it.
  const auto big = alloc(clients[3], std::array<std::uint64_t, 1>{14ull << 20});
  ASSERT_EQ(big.size(), 1u);
  gpu_enclave_drop d{clients[3].sid, 0};
  service->drop(d);
  ASSERT_EQ(static_cast<Status>(d.status), Status::ok);

  Client fresh = open(3);  // the same window and a free context
  EXPECT_NE(fresh.sid, clients[3].sid);
  const auto again = alloc(fresh, std::array<std::uint64_t, 1>{14ull << 20});
  EXPECT_EQ(again.size(), 1u) << "VRAM of the dropped session came back";
  std::vector<std::uint32_t> h;
  EXPECT_EQ(round_trip(fresh, 3, pattern(32, 5.0f),
                       {.in_id = 1, .out_id = HIX_VGPU_TENSOR_ID_DEVICE | 1}, h)
                .status,
            Status::ok);
  // Its tensor ids start afresh under its own new K_t.
  EXPECT_EQ(service->sessions().find(fresh.sid)->highest_input_id, 1u);
}

TEST_F(Isolation, InputTensorIdsUnderSlotZeroOnlyRise) {
  Client c = open(0);
  std::vector<std::uint32_t> h;
  const Bytes prompt = pattern(16, 3.0f);
  ASSERT_EQ(
      round_trip(c, 0, prompt, {.in_id = 7, .out_id = HIX_VGPU_TENSOR_ID_DEVICE | 1}, h).status,
      Status::ok);
  // The old sealed prompt cannot be fed again...
  CmdbufBuilder again;
  again.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32),
                  {.gpa = bus.window_gpa(0), .bytes = prompt.size()},
                  {.tensor_id = 7, .key_slot = 0});
  Reply r = submit(c, again.finish());
  EXPECT_EQ(r.detail, validation_detail(Reason::tensor_id, 0));
  CmdbufBuilder lower;
  lower.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32),
                  {.gpa = bus.window_gpa(0), .bytes = prompt.size()},
                  {.tensor_id = 3, .key_slot = 0});
  r = submit(c, lower.finish());
  EXPECT_EQ(r.detail, validation_detail(Reason::tensor_id, 0));
  // ...a new one with a higher id can.
  EXPECT_EQ(
      round_trip(c, 0, prompt, {.in_id = 8, .out_id = HIX_VGPU_TENSOR_ID_DEVICE | 2}, h).status,
      Status::ok);
}

class PlainMode : public SessionTest {
 public:
  PlainMode() : SessionTest(Mode::plain) {}
};

TEST_F(PlainMode, AllowsPlainDmaProducesNoReportAndInstallsNoChannelKey) {
  init();
  EXPECT_EQ(bus.device().read32(Reg32::status) & HIX_GPU_STATUS_PROTECTED, 0u);
  EXPECT_NE(bus.device().read32(Reg32::status) & HIX_GPU_STATUS_RING, 0u);
  Client c;
  gpu_enclave_open io = open_request(c, 0);
  service->open(io);
  ASSERT_EQ(static_cast<Status>(io.status), Status::ok);
  EXPECT_EQ(platform.reports, 0);
  EXPECT_TRUE(std::all_of(std::begin(io.report), std::end(io.report),
                          [](std::uint8_t b) { return b == 0; }));
  c.accept_plain(io);

  const auto h = alloc(c, std::array<std::uint64_t, 2>{1024, 1024});
  const Bytes plain = pattern(100, 0.5f);
  const std::uint64_t in = bus.window_gpa(0);
  const std::uint64_t out = bus.window_gpa(0) + Bus::kExtentBytes;
  std::memcpy(bus.guest(in, plain.size()).data(), plain.data(), plain.size());
  CmdbufBuilder b;
  b.dma(HIX_VGPU_OP_DMA_IN, tref(h[0], HIX_VGPU_DT_F32), {.gpa = in, .bytes = plain.size()});
  b.copy(tref(h[1], HIX_VGPU_DT_F32), tref(h[0], HIX_VGPU_DT_F32), 100);
  b.dma(HIX_VGPU_OP_DMA_OUT, tref(h[1], HIX_VGPU_DT_F32), {.gpa = out, .bytes = plain.size()});
  const auto cmd = b.finish();
  ASSERT_EQ(submit(c, cmd).status, Status::ok);
  const auto got = bus.guest(out, plain.size());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), plain.begin()));
  // The command buffer sits in the ring area in the clear: the baseline
  // hides nothing.
  const auto ring = bus.guest(Bus::kRamBase, Bus::kRingBytes);
  const auto* rec = reinterpret_cast<const std::uint8_t*>(cmd.data());
  EXPECT_NE(std::search(ring.begin(), ring.end(), rec, rec + cmd.size()), ring.end());

  // The encrypted DMA ops are not on plain mode's whitelist.
  CmdbufBuilder d;
  d.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32), {.gpa = in, .bytes = 64},
              {.tensor_id = 1, .key_slot = 0});
  EXPECT_EQ(submit(c, d.finish()).detail, validation_detail(Reason::opcode, 0));
}

}  // namespace
}  // namespace hix::session::test
