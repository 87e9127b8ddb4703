// The request types (docs/specs/hix-session.md §5.2) on the device model:
// ALLOC, FREE, MODEL_KEY, SUBMIT and CLOSE, their refusals, and a sealed
// tensor end to end.
#include <sodium.h>

#include <cstring>

#include "harness.hpp"
#include "hix/abi/hix_gpu_regs.h"
#include "hix/vgpu/cmdbuf_builder.hpp"

namespace hix::session::test {
namespace {

using gpu::Reg32;
using vgpu::CmdbufBuilder;
using vgpu::tref;

template <class T>
Bytes bytes_of(const T& v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

Bytes alloc_body(std::uint32_t count, std::initializer_list<std::uint64_t> sizes) {
  hix_msg_alloc a{};
  a.count = count;
  Bytes b = bytes_of(a);
  for (const std::uint64_t s : sizes) {
    const Bytes x = bytes_of(s);
    b.insert(b.end(), x.begin(), x.end());
  }
  return b;
}

Bytes free_body(std::initializer_list<std::uint32_t> handles) {
  hix_msg_free f{};
  f.count = static_cast<std::uint32_t>(handles.size());
  Bytes b = bytes_of(f);
  for (const std::uint32_t h : handles) {
    const Bytes x = bytes_of(h);
    b.insert(b.end(), x.begin(), x.end());
  }
  return b;
}

std::uint32_t free_vram_kib(vgpu::Device& dev) {
  dev.write32(Reg32::cmd, HIX_GPU_CMD_VRAM_INFO);
  return dev.read32(Reg32::result0);
}

class Requests : public SessionTest {
 protected:
  void SetUp() override {
    init();
    c = open(0);
  }
  Client c;
};

TEST_F(Requests, AllocFreeModelKeySubmitAndCloseSucceed) {
  const auto h = alloc(c, std::array<std::uint64_t, 3>{100, 4096, 1 << 20});
  ASSERT_EQ(h.size(), 3u);
  const Session* s = service->sessions().find(c.sid);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->buffer_count, 3u);
  ASSERT_NE(s->find_buffer(h[2]), nullptr);
  EXPECT_EQ(s->find_buffer(h[2])->size, 1u << 20);

  Key32 model{};
  randombytes_buf(model.data(), model.size());
  model_key(c, 3, model);
  EXPECT_TRUE(s->slot_installed(3));

  CmdbufBuilder b;
  b.fill(tref(h[1], HIX_VGPU_DT_F32), 1024, 0x3f800000);
  const Reply sub = submit(c, b.finish());
  EXPECT_EQ(sub.status, Status::ok);
  hix_submit_result res{};
  std::memcpy(&res, sub.data.data(), sizeof res);
  EXPECT_EQ(res.device_status, 0u);
  EXPECT_EQ(res.fence, bus.device().read32(Reg32::fence));

  auto fr = request(c, HIX_MSG_FREE, free_body({h[0], h[2]}));
  ASSERT_TRUE(fr.has_value());
  EXPECT_EQ(fr->status, Status::ok);
  EXPECT_TRUE(fr->data.empty());
  EXPECT_EQ(s->buffer_count, 1u);
  EXPECT_EQ(s->find_buffer(h[0]), nullptr);

  auto cl = request(c, HIX_MSG_CLOSE, {});
  ASSERT_TRUE(cl.has_value());
  EXPECT_EQ(cl->status, Status::ok);
  EXPECT_EQ(service->sessions().find(c.sid), nullptr);
  EXPECT_EQ(bus.device().live_contexts(), 0u);

  const gpu_enclave_stats st = stats();
  EXPECT_EQ(st.messages_accepted, 5u);
  EXPECT_EQ(st.submits, 1u);
  EXPECT_EQ(st.sessions_opened, 1u);
  EXPECT_EQ(st.sessions_closed, 1u);
  EXPECT_EQ(st.sessions_live, 0u);
}

TEST_F(Requests, ASealedTensorGoesInThroughDecryptCopyAndComesOutEncrypted) {
  const Bytes plain = pattern(1000, 7.25f);  // 4000 bytes
  const auto h = alloc(c, std::array<std::uint64_t, 2>{4096, 4096});
  const std::uint64_t in = bus.window_gpa(0);
  const std::uint64_t out = bus.window_gpa(0) + Bus::kExtentBytes;  // the second extent
  put_sealed(in, plain, 0, 1, c.k_t);
  const std::uint64_t out_id = HIX_VGPU_TENSOR_ID_DEVICE | 1;
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32),
              {.gpa = in, .bytes = plain.size()}, {.tensor_id = 1, .key_slot = 0});
  b.copy(tref(h[1], HIX_VGPU_DT_F32), tref(h[0], HIX_VGPU_DT_F32), 1000);
  b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(h[1], HIX_VGPU_DT_F32),
              {.gpa = out, .bytes = plain.size()}, {.tensor_id = out_id, .key_slot = 0});
  const auto cmd = b.finish();
  const Reply r = submit(c, cmd);
  ASSERT_EQ(r.status, Status::ok) << to_string(r.status) << std::hex << " " << r.detail;
  Bytes result(plain.size());
  ASSERT_TRUE(get_sealed(out, result, out_id, c.k_t));
  EXPECT_EQ(result, plain);

  // What hixd saw in the ring area is ciphertext: neither the command
  // buffer nor the tensor appears there.
  const auto ring = bus.guest(Bus::kRamBase, Bus::kRingBytes);
  const auto cmd_bytes = std::as_bytes(std::span(cmd));
  EXPECT_EQ(std::search(ring.begin(), ring.end(),
                        reinterpret_cast<const std::uint8_t*>(cmd_bytes.data()) + 16,
                        reinterpret_cast<const std::uint8_t*>(cmd_bytes.data()) + 48),
            ring.end())
      << "a command buffer record in the clear";
  EXPECT_EQ(std::search(ring.begin(), ring.end(), plain.begin(), plain.begin() + 32), ring.end());
  // The sealed output is not the plaintext either.
  const auto sealed_out = bus.guest(out, 4000 + 48);
  EXPECT_EQ(std::search(sealed_out.begin(), sealed_out.end(), plain.begin(), plain.begin() + 32),
            sealed_out.end());
}

TEST_F(Requests, AModelKeyInstalledInASlotDecryptsWeightsSealedUnderIt) {
  Key32 model{};
  randombytes_buf(model.data(), model.size());
  model_key(c, 1, model);
  const Bytes weights = pattern(256, -2.0f);
  const auto h = alloc(c, std::array<std::uint64_t, 1>{1024});
  const std::uint64_t at = bus.window_gpa(0) + 8192;
  put_sealed(at, weights, 1, 42, model);
  for (int i = 0; i < 2; ++i) {  // the same weights may be loaded again
    CmdbufBuilder b;
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32),
                {.gpa = at, .bytes = weights.size()}, {.tensor_id = 42, .key_slot = 1});
    EXPECT_EQ(submit(c, b.finish()).status, Status::ok);
  }
}

TEST_F(Requests, ModelKeyTwiceOnOneSlotIsRefused) {
  Key32 k{};
  randombytes_buf(k.data(), k.size());
  model_key(c, 4, k);
  hix_msg_model_key mk{};
  mk.slot = 4;
  auto r = request(c, HIX_MSG_MODEL_KEY, bytes_of(mk));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::bad_request);
  for (const std::uint32_t slot : {0u, 8u, 0xFFFFFFFFu}) {
    mk.slot = slot;
    r = request(c, HIX_MSG_MODEL_KEY, bytes_of(mk));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, Status::bad_request) << slot;
  }
  mk.slot = 5;
  mk.reserved = 1;
  r = request(c, HIX_MSG_MODEL_KEY, bytes_of(mk));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::bad_request) << "reserved";
  r = request(c, HIX_MSG_MODEL_KEY, Bytes(39));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::bad_request) << "short";
  EXPECT_EQ(service->sessions().find(c.sid)->slots, (1u << 0) | (1u << 4));
}

TEST_F(Requests, AllocIsAllOrNothing) {
  const std::uint32_t free_before = free_vram_kib(bus.device());
  auto r = request(c, HIX_MSG_ALLOC, alloc_body(3, {4096, 4096, 1ull << 40}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::no_resource);
  EXPECT_EQ(r->detail, device_detail(HIX_VGPU_NO_MEMORY, 2));
  EXPECT_TRUE(r->data.empty());
  EXPECT_EQ(service->sessions().find(c.sid)->buffer_count, 0u);
  EXPECT_EQ(free_vram_kib(bus.device()), free_before) << "the first two were not freed";
}

TEST_F(Requests, MalformedBodiesAreBadRequestsAndUnknownTypesNameNothing) {
  const std::vector<std::pair<std::uint16_t, Bytes>> bad{
      {HIX_MSG_ALLOC, alloc_body(0, {})},
      {HIX_MSG_ALLOC, alloc_body(65, {})},
      {HIX_MSG_ALLOC, alloc_body(2, {64})},      // fewer sizes than count
      {HIX_MSG_ALLOC, alloc_body(1, {64, 64})},  // more
      {HIX_MSG_ALLOC, alloc_body(1, {0})},       // an empty buffer
      {HIX_MSG_ALLOC, Bytes(4)},
      {HIX_MSG_FREE, free_body({})},
      {HIX_MSG_FREE, free_body({0x1234})},  // not the session's
      {HIX_MSG_CLOSE, Bytes(1)},
      // Request types beyond §5.2 — admin commands, key slots and the ring
      // have none: they are reached only through the enclave's own code.
      {0x00, Bytes{}},
      {0x06, Bytes(8)},
      {HIX_GPU_CMD_RING_START, Bytes(8)},
      {HIX_GPU_CMD_SCRUB, Bytes{}},
      {0xFFFF, Bytes{}},
  };
  for (const auto& [type, body] : bad) {
    const auto r = request(c, type, body);
    ASSERT_TRUE(r.has_value()) << type;
    EXPECT_EQ(r->status, Status::bad_request) << "type " << type << ", " << body.size() << " bytes";
  }
  EXPECT_EQ(stats().rejected[HIX_SESSION_BAD_REQUEST], bad.size());
  EXPECT_EQ(service->sessions().live(), 1u);
  EXPECT_EQ(bus.device().live_contexts(), 1u);
}

TEST_F(Requests, FreeRefusesAnyHandleThatIsNotTheSessionsAndFreesNothing) {
  const auto h = alloc(c, std::array<std::uint64_t, 2>{64, 64});
  auto r = request(c, HIX_MSG_FREE, free_body({h[0], 0x00770001}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::bad_request);
  r = request(c, HIX_MSG_FREE, free_body({h[0], h[0]}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::bad_request) << "named twice";
  EXPECT_EQ(service->sessions().find(c.sid)->buffer_count, 2u);
}

TEST_F(Requests, DeviceFailuresComeBackWithStatusOpIndexAndFence) {
  const auto h = alloc(c, std::array<std::uint64_t, 1>{4096});
  const std::uint64_t in = bus.window_gpa(0);
  put_sealed(in, pattern(16, 1.0f), 0, 9, c.k_t);
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  // The id the client asks for is not the one the chunk was sealed with.
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32), {.gpa = in, .bytes = 64},
              {.tensor_id = 10, .key_slot = 0});
  const Reply r = submit(c, b.finish());
  EXPECT_EQ(r.status, Status::device);
  EXPECT_EQ(r.detail, device_detail(HIX_VGPU_AUTH_FAILED, 1));
  hix_submit_result res{};
  std::memcpy(&res, r.data.data(), sizeof res);
  EXPECT_EQ(res.device_status, static_cast<std::uint32_t>(HIX_VGPU_AUTH_FAILED));
  EXPECT_EQ(res.op_index, 1u);
  EXPECT_EQ(res.fence, bus.device().read32(Reg32::fence));
  EXPECT_EQ(stats().device_errors, 1u);
  EXPECT_EQ(service->sessions().find(c.sid)->highest_input_id, 10u) << "the id is spent";
}

TEST_F(Requests, AnOpThatFailsOnAWorkingDeviceDoesNotMarkTheDeviceLost) {
  const auto h = alloc(c, std::array<std::uint64_t, 1>{4096});
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32),
              {.gpa = bus.window_gpa(0), .bytes = 64}, {.tensor_id = 3, .key_slot = 0});
  EXPECT_EQ(submit(c, b.finish()).status, Status::device);
  EXPECT_EQ(stats().device_errors, 1u);
  EXPECT_EQ(stats().device_lost, 0u);
}

TEST_F(Requests, ASubmitToADeviceWhoseServerDiedFailsAndStatsReportTheDeviceLost) {
  EXPECT_EQ(stats().device_lost, 0u);
  mmio.fail();
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  const Reply r = submit(c, b.finish());
  EXPECT_EQ(r.status, Status::device);
  EXPECT_EQ(r.detail, device_detail(HIX_VGPU_UNAVAILABLE, 0));
  EXPECT_EQ(stats().device_lost, 1u) << "hixd reads this and replaces the enclave";
}

// hixd changes the ciphertext in the ring area before the device reads it.
class TamperingMemory final : public UntrustedMemory {
 public:
  [[nodiscard]] bool accepts(Linear at, std::uint64_t len) const override {
    return inner.accepts(at, len);
  }
  void write(Linear at, std::span<const std::uint8_t> bytes) override {
    inner.write(at, bytes);
    if (armed && bytes.size() > 64) {
      // reinterpret_cast: the test's linear addresses are host pointers.
      reinterpret_cast<std::uint8_t*>(at.value)[20] ^= 1;  // NOLINT(performance-no-int-to-ptr)
      armed = false;
    }
  }
  ProcessMemory inner;
  bool armed = false;
};

TEST(RequestsTampered, AnEntryChangedInUntrustedMemoryIsRefusedAndTheChannelRekeyed) {
  Bus bus;
  DeviceMmio mmio(bus.device());
  TamperingMemory memory;
  TestPlatform platform;
  auto service = std::make_unique<Service>(mmio, memory, platform);
  gpu_enclave_init init{};
  init.ring_entries = Bus::kRingEntries;
  init.ring = bus.ring_area();
  service->init(init);
  ASSERT_EQ(init.status, 0u);
  Client c;
  gpu_enclave_open o{};
  std::memcpy(o.client_pk, c.cpk.data(), 32);
  std::memcpy(o.nonce, c.nonce.data(), 32);
  o.extent_count = 1;
  o.extents[0] = bus.extent(0, 0);
  service->open(o);
  ASSERT_TRUE(c.accept(o, platform));

  const auto submit = [&](bool tamper) {
    CmdbufBuilder b;
    for (int i = 0; i < 8; ++i) b.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
    const auto cmd = b.finish();
    memory.armed = tamper;
    // reinterpret_cast: the command buffer's bytes.
    const Bytes sealed =
        c.seal(HIX_MSG_SUBMIT, {reinterpret_cast<const std::uint8_t*>(cmd.data()), cmd.size()});
    Bytes buf(call_buffer_bytes(static_cast<std::uint32_t>(sealed.size())));
    gpu_enclave_call call{c.sid, 0, static_cast<std::uint32_t>(sealed.size()), 0};
    std::memcpy(buf.data(), &call, sizeof call);
    std::memcpy(buf.data() + sizeof call, sealed.data(), sealed.size());
    EXPECT_EQ(service->call(buf), CallBuffer::ok);
    std::memcpy(&call, buf.data(), sizeof call);
    auto r = c.open(std::span(buf).subspan(sizeof call, call.length), HIX_MSG_SUBMIT);
    EXPECT_TRUE(r.has_value());
    return r ? *r : Reply{};
  };
  const Reply bad = submit(true);
  EXPECT_EQ(bad.status, Status::device);
  EXPECT_EQ(bad.detail & 0xFFFFu, static_cast<std::uint32_t>(HIX_VGPU_AUTH_FAILED));
  EXPECT_EQ(bus.device().read32(Reg32::ring_forged), 1u);
  // The channel was re-keyed, so the sequence starts again at 1 and the
  // next command buffer runs.
  EXPECT_EQ(bus.device().read32(Reg32::ring_seq), 1u);
  EXPECT_EQ(submit(false).status, Status::ok);
  EXPECT_EQ(bus.device().read32(Reg32::ring_seq), 2u);
}

TEST_F(Requests, ACallBufferTooSmallForTheResponseIsRefusedAndChangesNothing) {
  const Bytes sealed = c.seal(HIX_MSG_CLOSE, {});
  Bytes buf(sizeof(gpu_enclave_call) + sealed.size());  // no room for a 312-byte response
  gpu_enclave_call call{c.sid, 0, static_cast<std::uint32_t>(sealed.size()), 0};
  std::memcpy(buf.data(), &call, sizeof call);
  std::memcpy(buf.data() + sizeof call, sealed.data(), sealed.size());
  EXPECT_EQ(service->call(buf), CallBuffer::bad_size);
  EXPECT_EQ(service->call(std::span(buf).first(8)), CallBuffer::bad_size);
  call.length = 0xFFFFFFF0u;
  std::memcpy(buf.data(), &call, sizeof call);
  EXPECT_EQ(service->call(buf), CallBuffer::bad_size);
  EXPECT_EQ(service->sessions().find(c.sid)->recv_expected, 1u);
  // The same message in a big enough buffer still works.
  const CallResult r = call_raw(c.sid, sealed);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(service->sessions().find(c.sid), nullptr);
}

}  // namespace
}  // namespace hix::session::test
