// GpuSession: the in-process hix-gpu driver of the model tools (session.hpp).
#include "session.hpp"

#include <sodium.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "cpu_backend.hpp"
#include "guest_memory.hpp"
#include "hix/abi/vgpu_ring.h"
#include "ring_auth.hpp"
#ifdef HIX_HAVE_CUDA_BACKEND
#include "cuda_backend.hpp"
#endif

namespace hix::gpu_tools {
namespace {

using gpu::Reg32;
using vgpu::GuestPhys;

// Guest RAM as one anonymous mapping: pages cost nothing until touched, so a
// 17 GB guest for Llama-8B is cheap until its weights are staged.
class MmapGuestMemory final : public vgpu::RegionGuestMemory {
 public:
  static std::unique_ptr<MmapGuestMemory> create(GuestPhys base, std::uint64_t size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    return std::unique_ptr<MmapGuestMemory>(new MmapGuestMemory(base, size, p));
  }
  ~MmapGuestMemory() override { munmap(addr_, size_); }
  MmapGuestMemory(const MmapGuestMemory&) = delete;
  MmapGuestMemory& operator=(const MmapGuestMemory&) = delete;
  std::byte* host() const { return static_cast<std::byte*>(addr_); }

 private:
  MmapGuestMemory(GuestPhys base, std::uint64_t size, void* addr) : addr_(addr), size_(size) {
    regions_.push_back(Region{base, size, static_cast<std::byte*>(addr)});
  }
  void* addr_;
  std::uint64_t size_;
};

Result<std::unique_ptr<vgpu::Backend>> make_backend(BackendKind kind, std::uint64_t vram) {
  if (kind == BackendKind::cpu) {
    auto b = vgpu::CpuBackend::create(vram);
    if (!b) return b.status();
    return std::unique_ptr<vgpu::Backend>(std::move(*b));
  }
#ifdef HIX_HAVE_CUDA_BACKEND
  // HIX_CUDA_GEMV / HIX_CUDA_GROUP_GEMVS pick the GEMV kernel (benchmark sweeps).
  auto b = vgpu::cuda::CudaBackend::create(vram, vgpu::cuda::options_from_environment());
  if (!b) return b.status();
  return std::unique_ptr<vgpu::Backend>(std::move(*b));
#else
  return Status::unavailable;
#endif
}

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

std::string_view to_string(BackendKind k) {
  return k == BackendKind::cpu ? "cpu" : "cuda";
}
std::string_view to_string(Mode m) {
  return m == Mode::protected_mode ? "protected" : "plain";
}
bool parse_backend(std::string_view s, BackendKind& out) {
  if (s == "cpu") {
    out = BackendKind::cpu;
  } else if (s == "cuda") {
    out = BackendKind::cuda;
  } else {
    return false;
  }
  return true;
}
bool parse_mode(std::string_view s, Mode& out) {
  if (s == "protected") {
    out = Mode::protected_mode;
  } else if (s == "plain") {
    out = Mode::plain;
  } else {
    return false;
  }
  return true;
}
bool cuda_backend_built() {
#ifdef HIX_HAVE_CUDA_BACKEND
  return true;
#else
  return false;
#endif
}

Result<std::unique_ptr<GpuSession>> GpuSession::create(const SessionConfig& cfg) {
  if (sodium_init() < 0) return Status::internal;
  std::unique_ptr<GpuSession> s(new GpuSession(cfg));
  const Status st = s->init();
  if (st != Status::ok) return st;
  return s;
}

Status GpuSession::init() {
  const std::uint64_t ring_bytes = std::uint64_t{cfg_.ring_entries} * HIX_VGPU_RING_ENTRY_BYTES;
  if (cfg_.ring_entries == 0 || cfg_.guest_ram_bytes < ring_bytes + HIX_VGPU_CMDBUF_MAX + 4096) {
    return Status::invalid_arg;
  }
  auto backend = make_backend(cfg_.backend, cfg_.vram_bytes);
  if (!backend) return backend.status();
  dev_ = std::make_unique<vgpu::Device>(std::move(*backend),
                                        vgpu::DeviceConfig{.inline_execution = true});
  auto mem = MmapGuestMemory::create(GuestPhys{kRamBase}, cfg_.guest_ram_bytes);
  if (!mem) return Status::no_memory;
  ram_ = mem->host();
  ram_size_ = cfg_.guest_ram_bytes;
  // The device pins guest RAM with the backend (the cuda backend registers
  // it), so DMA runs at pinned speed.
  dev_->attach_guest_memory(std::move(mem));

  if (is_protected()) {
    // The frontend's lock push (spec §10.4): the device is scrubbed and
    // handed to the owner; the channel key then makes it protected (§2.1).
    dev_->set_lock(true, kLockOwner);
  }
  const AdminOut c = admin(HIX_GPU_CMD_CTX_CREATE);
  if (c.status != Status::ok) return c.status;
  ctx_ = c.r0;
  if (is_protected()) {
    randombytes_buf(channel_key_.data(), channel_key_.size());
    randombytes_buf(session_key_.data(), session_key_.size());
    HIX_TRY(admin_with_key(HIX_GPU_CMD_CHANNEL_KEY_INSTALL, channel_key_).status);
    HIX_TRY(admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, session_key_, ctx_, kKeySlot).status);
    if ((dev_->read32(Reg32::status) & gpu::status::protected_mode) == 0) return Status::internal;
  }

  ring_gpa_ = kRamBase;
  dev_->write32(Reg32::ring_base_lo, static_cast<std::uint32_t>(ring_gpa_));
  dev_->write32(Reg32::ring_base_hi, static_cast<std::uint32_t>(ring_gpa_ >> 32));
  dev_->write32(Reg32::ring_size, cfg_.ring_entries);
  HIX_TRY(admin(HIX_GPU_CMD_RING_START).status);
  // One command-buffer area, reused: inline execution consumes each entry
  // before the next is written.
  cmd_gpa_ = align_up(ring_gpa_ + ring_bytes, 4096);
  next_gpa_ = cmd_gpa_ + HIX_VGPU_CMDBUF_MAX;
  return Status::ok;
}

GpuSession::~GpuSession() {
  sodium_memzero(channel_key_.data(), channel_key_.size());
  sodium_memzero(session_key_.data(), session_key_.size());
}

GpuSession::AdminOut GpuSession::admin(std::uint32_t cmd, std::uint32_t a0, std::uint32_t a1,
                                       std::uint32_t a2, std::uint32_t a3) {
  dev_->write32(Reg32::arg0, a0);
  dev_->write32(Reg32::arg1, a1);
  dev_->write32(Reg32::arg2, a2);
  dev_->write32(Reg32::arg3, a3);
  dev_->write32(Reg32::cmd, cmd);
  return {static_cast<Status>(dev_->read32(Reg32::cmd_status)), dev_->read32(Reg32::result0),
          dev_->read32(Reg32::result1)};
}

GpuSession::AdminOut GpuSession::admin_with_key(std::uint32_t cmd,
                                                std::span<const std::uint8_t, vgpu::kKeyBytes> key,
                                                std::uint32_t a0, std::uint32_t a1) {
  for (std::size_t i = 0; i < 8; ++i) {
    std::uint32_t w = 0;
    std::memcpy(&w, key.data() + 4 * i, 4);
    dev_->mmio_write(gpu::offset_of(Reg32::key0).value + 4 * i, 4, w);
  }
  return admin(cmd, a0, a1);
}

Result<std::uint32_t> GpuSession::alloc(std::uint64_t bytes) {
  const AdminOut r = admin(HIX_GPU_CMD_MEM_ALLOC, ctx_, static_cast<std::uint32_t>(bytes),
                           static_cast<std::uint32_t>(bytes >> 32));
  if (r.status != Status::ok) return r.status;
  return r.r0;
}

Status GpuSession::free(std::uint32_t handle) {
  return admin(HIX_GPU_CMD_MEM_FREE, ctx_, handle).status;
}

Result<std::uint64_t> GpuSession::guest_alloc(std::uint64_t bytes, GuestAlign align) {
  const std::uint64_t at = align_up(next_gpa_, align.bytes);
  std::uint64_t end = 0;
  if (!vgpu::checked_add(at, bytes, end) || end > kRamBase + ram_size_) return Status::no_memory;
  next_gpa_ = end;
  return at;
}

std::span<std::byte> GpuSession::guest(std::uint64_t gpa, std::uint64_t len) {
  return {ram_ + (gpa - kRamBase), len};
}

std::uint64_t GpuSession::staged_size(std::uint64_t bytes) const {
  return is_protected() ? vgpu::sealed_size(bytes) : bytes;
}

Result<StagedTensor> GpuSession::stage(std::span<const std::byte> plain) {
  const std::uint64_t size = plain.size();
  auto staged = stage_many(
      std::span(&size, 1),
      [plain](std::size_t, std::span<std::byte> out) {
        std::memcpy(out.data(), plain.data(), out.size());
        return Status::ok;
      },
      1);
  if (!staged) return staged.status();
  return staged->front();
}

Result<std::vector<StagedTensor>> GpuSession::stage_many(std::span<const std::uint64_t> sizes,
                                                         const TensorProducer& produce,
                                                         unsigned threads) {
  std::vector<StagedTensor> out(sizes.size());
  std::uint64_t largest = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == 0 || staged_size(sizes[i]) == 0) return Status::invalid_arg;
    auto gpa = guest_alloc(staged_size(sizes[i]));
    if (!gpa) return gpa.status();
    out[i] = {*gpa, sizes[i], is_protected() ? next_host_tensor_++ : 0};
    largest = std::max(largest, sizes[i]);
  }
  // Largest first, so one big tensor does not finish last on its own.
  std::vector<std::size_t> order(sizes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return sizes[a] > sizes[b]; });
  std::atomic<std::size_t> next{0};
  std::atomic<Status> failed{Status::ok};
  const auto work = [&] {
    // Protected: plaintext lives only in this buffer, sealed into guest
    // memory and wiped. Plain: produced straight into guest memory.
    std::vector<std::byte> plain(is_protected() ? largest : 0);
    for (std::size_t k = next.fetch_add(1); k < order.size(); k = next.fetch_add(1)) {
      const StagedTensor& t = out[order[k]];
      const std::span<std::byte> dst = guest(t.gpa, staged_size(t.bytes));
      Status s = Status::ok;
      if (is_protected()) {
        const std::span<std::byte> p(plain.data(), t.bytes);
        s = produce(order[k], p);
        if (s == Status::ok) s = vgpu::seal_tensor(dst, p, {kKeySlot, t.tensor_id}, session_key_);
      } else {
        s = produce(order[k], dst);
      }
      if (s != Status::ok) failed.store(s);
    }
    sodium_memzero(plain.data(), plain.size());
  };
  unsigned n = threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  n = static_cast<unsigned>(std::min<std::size_t>(n, sizes.size()));
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < n; ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failed.load() != Status::ok) return failed.load();
  return out;
}

void GpuSession::dma_in(vgpu::CmdbufBuilder& b, const hix_vgpu_tref& dst,
                        const StagedTensor& t) const {
  if (is_protected()) {
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, dst, {.gpa = t.gpa, .bytes = t.bytes},
                {.tensor_id = t.tensor_id, .key_slot = kKeySlot});
  } else {
    b.dma(HIX_VGPU_OP_DMA_IN, dst, {.gpa = t.gpa, .bytes = t.bytes});
  }
}

Result<StagedTensor> GpuSession::prepare_out(std::uint64_t bytes) {
  if (bytes == 0 || staged_size(bytes) == 0) return Status::invalid_arg;
  auto gpa = guest_alloc(staged_size(bytes));
  if (!gpa) return gpa.status();
  StagedTensor t;
  t.gpa = *gpa;
  t.bytes = bytes;
  t.tensor_id = is_protected() ? next_device_tensor_++ : 0;
  return t;
}

void GpuSession::dma_out(vgpu::CmdbufBuilder& b, const hix_vgpu_tref& src,
                         const StagedTensor& t) const {
  if (is_protected()) {
    b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, src, {.gpa = t.gpa, .bytes = t.bytes},
                {.tensor_id = t.tensor_id, .key_slot = kKeySlot});
  } else {
    b.dma(HIX_VGPU_OP_DMA_OUT, src, {.gpa = t.gpa, .bytes = t.bytes});
  }
}

Status GpuSession::read_out(const StagedTensor& t, std::span<std::byte> out) {
  if (out.size() != t.bytes) return Status::invalid_arg;
  const std::span<std::byte> src = guest(t.gpa, staged_size(t.bytes));
  if (is_protected()) return vgpu::open_tensor(out, src, {kKeySlot, t.tensor_id}, session_key_);
  std::memcpy(out.data(), src.data(), out.size());
  return Status::ok;
}

Status GpuSession::submit(std::span<const std::byte> cmdbuf) {
  if (cmdbuf.size() > HIX_VGPU_CMDBUF_MAX) return Status::invalid_arg;
  const std::uint32_t errors = dev_->read32(Reg32::exec_errors);
  const std::uint32_t rejected = ring_rejects();
  const std::uint32_t fence = ++last_fence_;

  hix_vgpu_ring_entry e{};
  e.seq = next_seq_;
  e.ctx = ctx_;
  e.cmd_gpa = cmd_gpa_;
  e.cmd_len = static_cast<std::uint32_t>(cmdbuf.size());
  e.fence = fence;
  const std::span<std::byte> body = guest(cmd_gpa_, cmdbuf.size());
  std::memcpy(body.data(), cmdbuf.data(), cmdbuf.size());
  if (is_protected()) {
    vgpu::seal_ring_entry(e, body, channel_key_);
    ++next_seq_;
  }
  const std::uint64_t slot =
      ring_gpa_ + std::uint64_t{producer_ % cfg_.ring_entries} * HIX_VGPU_RING_ENTRY_BYTES;
  std::memcpy(guest(slot, sizeof e).data(), &e, sizeof e);
  ++producer_;
  dev_->write32(Reg32::doorbell, producer_);

  if (ring_rejects() != rejected) return Status::auth_failed;  // the entry never ran
  if (dev_->read32(Reg32::fence) != fence) return Status::internal;
  // The executor drains an asynchronous backend before the fence moves, so
  // a timing around submit covers the work, not only its launch.
  if (dev_->read32(Reg32::exec_errors) == errors) return Status::ok;
  return static_cast<Status>(dev_->read32(Reg32::last_error) & 0xFFFF);
}

std::uint32_t GpuSession::ring_rejects() {
  return dev_->read32(Reg32::ring_forged) + dev_->read32(Reg32::ring_replayed) +
         dev_->read32(Reg32::ring_reordered) + dev_->read32(Reg32::ring_malformed);
}

}  // namespace hix::gpu_tools
