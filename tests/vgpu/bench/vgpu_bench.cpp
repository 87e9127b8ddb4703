// Device-server micro-benchmarks, protected and unprotected side by side in
// one run (docs/architecture.md §8):
//   BM_DmaIn/plain vs BM_DmaIn/decrypt  -- guest memory -> VRAM, GB/s
//   BM_DmaOut/plain vs BM_DmaOut/encrypt -- VRAM -> guest memory, GB/s
//   BM_CommandOverhead/<ring>/<op>/<ops> -- per-op cost of one ring entry
//     carrying <ops> ops, plain or authenticated ring, in microseconds.
// Every iteration goes through the register interface and the ring, as a
// driver would.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>

#include "cpu_backend.hpp"
#include "device.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"
#include "ring_auth.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu {
namespace {

using gpu::Reg32;

constexpr std::uint64_t kRamBase = 0x100000;
constexpr std::uint64_t kMaxTensor = 64ull << 20;

class Bench {
 public:
  Bench() {
    auto backend = CpuBackend::create(kMaxTensor + (1 << 20));
    dev_ = std::make_unique<Device>(std::move(*backend));
    auto mem = std::make_unique<BufferGuestMemory>(GuestPhys{kRamBase}, 2 * kMaxTensor + (8 << 20));
    ram_ = mem.get();
    dev_->attach_guest_memory(std::move(mem));
    ctx_ = admin(HIX_GPU_CMD_CTX_CREATE);
    buf_ = admin(HIX_GPU_CMD_MEM_ALLOC, ctx_, static_cast<std::uint32_t>(kMaxTensor),
                 static_cast<std::uint32_t>(kMaxTensor >> 32));
    write_key(key_);
    admin(HIX_GPU_CMD_KEY_SLOT_INSTALL, ctx_, 0);
    dev_->write32(Reg32::ring_base_lo, static_cast<std::uint32_t>(kRamBase));
    dev_->write32(Reg32::ring_size, 64);
    admin(HIX_GPU_CMD_RING_START);
  }

  std::uint32_t admin(std::uint32_t cmd, std::uint32_t a0 = 0, std::uint32_t a1 = 0,
                      std::uint32_t a2 = 0) {
    dev_->write32(Reg32::arg0, a0);
    dev_->write32(Reg32::arg1, a1);
    dev_->write32(Reg32::arg2, a2);
    dev_->write32(Reg32::cmd, cmd);
    return dev_->read32(Reg32::result0);
  }
  void write_key(const std::array<std::uint8_t, kKeyBytes>& k) {
    for (std::uint32_t i = 0; i < 8; ++i) {
      std::uint32_t w = 0;
      std::memcpy(&w, k.data() + std::size_t{4} * i, 4);
      dev_->mmio_write(gpu::offset_of(Reg32::key0).value + 4 * i, 4, w);
    }
  }
  void protect() {
    write_key(channel_);
    admin(HIX_GPU_CMD_CHANNEL_KEY_INSTALL);
    protected_ = true;
    seq_ = 1;
  }

  std::span<std::byte> guest(std::uint64_t gpa, std::uint64_t len) {
    return ram_->bytes().subspan(gpa - kRamBase, len);
  }
  // Guest layout: ring (4 KiB), command buffers (1 MiB), data.
  static constexpr std::uint64_t kCmdGpa = kRamBase + 0x1000;
  static constexpr std::uint64_t kDataGpa = kRamBase + 0x200000;

  // Places a command buffer, writes the entry, rings; returns false on error.
  bool submit(const std::vector<std::byte>& cmd) {
    std::vector<std::byte> body = cmd;
    hix_vgpu_ring_entry e{};
    e.seq = seq_++;
    e.ctx = ctx_;
    e.cmd_gpa = kCmdGpa;
    e.cmd_len = static_cast<std::uint32_t>(body.size());
    e.fence = ++fence_;
    if (protected_) seal_ring_entry(e, body, channel_);
    std::memcpy(guest(kCmdGpa, body.size()).data(), body.data(), body.size());
    std::memcpy(guest(kRamBase + (producer_ % 64) * sizeof e, sizeof e).data(), &e, sizeof e);
    const std::uint32_t errors = dev_->read32(Reg32::exec_errors);
    dev_->write32(Reg32::doorbell, ++producer_);
    return dev_->read32(Reg32::fence) == fence_ && dev_->read32(Reg32::exec_errors) == errors;
  }

  std::uint32_t buf() const { return buf_; }
  const std::array<std::uint8_t, kKeyBytes>& key() const { return key_; }

 private:
  std::unique_ptr<Device> dev_;
  BufferGuestMemory* ram_ = nullptr;
  std::uint32_t ctx_ = 0, buf_ = 0, producer_ = 0, fence_ = 0;
  std::uint64_t seq_ = 1;
  bool protected_ = false;
  std::array<std::uint8_t, kKeyBytes> key_{1, 2, 3};
  std::array<std::uint8_t, kKeyBytes> channel_{9, 8, 7};
};

void BM_DmaIn(benchmark::State& state, bool decrypt) {
  Bench b;
  const auto bytes = static_cast<std::uint64_t>(state.range(0));
  if (decrypt) {
    std::vector<std::byte> plain(bytes, std::byte{0x5A});
    const auto sealed = b.guest(Bench::kDataGpa, sealed_size(bytes));
    if (seal_tensor(sealed, plain, SealParams{0, 1}, b.key()) != Status::ok) {
      state.SkipWithError("seal failed");
      return;
    }
  }
  CmdbufBuilder cb;
  if (decrypt) {
    cb.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(b.buf(), HIX_VGPU_DT_F32),
                 {.gpa = Bench::kDataGpa, .bytes = bytes}, {.tensor_id = 1, .key_slot = 0});
  } else {
    cb.dma(HIX_VGPU_OP_DMA_IN, tref(b.buf(), HIX_VGPU_DT_F32),
           {.gpa = Bench::kDataGpa, .bytes = bytes});
  }
  const auto cmd = cb.finish();
  for (auto _ : state) {
    if (!b.submit(cmd)) {
      state.SkipWithError("DMA failed");
      return;
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DmaOut(benchmark::State& state, bool encrypt) {
  Bench b;
  const auto bytes = static_cast<std::uint64_t>(state.range(0));
  std::uint64_t id = kDeviceTensorBit;
  for (auto _ : state) {
    CmdbufBuilder cb;
    if (encrypt) {
      cb.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(b.buf(), HIX_VGPU_DT_F32),
                   {.gpa = Bench::kDataGpa, .bytes = bytes}, {.tensor_id = ++id, .key_slot = 0});
    } else {
      cb.dma(HIX_VGPU_OP_DMA_OUT, tref(b.buf(), HIX_VGPU_DT_F32),
             {.gpa = Bench::kDataGpa, .bytes = bytes});
    }
    if (!b.submit(cb.finish())) {
      state.SkipWithError("DMA failed");
      return;
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// One ring entry carrying `ops` ops of one kind; reports time per op.
void BM_CommandOverhead(benchmark::State& state, bool authenticated, bool fill) {
  Bench b;
  if (authenticated) b.protect();
  const auto ops = static_cast<std::uint32_t>(state.range(0));
  CmdbufBuilder cb;
  for (std::uint32_t i = 0; i < ops; ++i) {
    if (fill) {
      cb.fill(tref(b.buf(), HIX_VGPU_DT_F32, std::uint64_t{i} * 4), 1, 0);
    } else {
      cb.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
    }
  }
  const auto cmd = cb.finish();
  for (auto _ : state) {
    if (!b.submit(cmd)) {
      state.SkipWithError("command buffer failed");
      return;
    }
  }
  state.counters["us_per_op"] = benchmark::Counter(
      static_cast<double>(ops) * 1e-6,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

BENCHMARK_CAPTURE(BM_DmaIn, plain, false)->Arg(1 << 20)->Arg(16 << 20)->Arg(64 << 20);
BENCHMARK_CAPTURE(BM_DmaIn, decrypt, true)->Arg(1 << 20)->Arg(16 << 20)->Arg(64 << 20);
BENCHMARK_CAPTURE(BM_DmaOut, plain, false)->Arg(16 << 20);
BENCHMARK_CAPTURE(BM_DmaOut, encrypt, true)->Arg(16 << 20);
BENCHMARK_CAPTURE(BM_CommandOverhead, plain_ring_nop, false, false)->Arg(1)->Arg(1000);
BENCHMARK_CAPTURE(BM_CommandOverhead, authenticated_ring_nop, true, false)->Arg(1)->Arg(1000);
BENCHMARK_CAPTURE(BM_CommandOverhead, plain_ring_fill, false, true)->Arg(1)->Arg(1000);
BENCHMARK_CAPTURE(BM_CommandOverhead, authenticated_ring_fill, true, true)->Arg(1)->Arg(1000);

}  // namespace
}  // namespace hix::vgpu
