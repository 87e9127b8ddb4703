// hix-gpu device model (docs/specs/hix-gpu.md §2-§8).
//
// Lock order: exec_mu_ -> regs_mu_. Functions named *_locked expect exec_mu_
// held. Polled registers are atomics read without either lock.
#include "device.hpp"

#include <sodium.h>

#include <utility>

#include "cmdbuf.hpp"
#include "counter.hpp"
#include "executor.hpp"
#include "ring_auth.hpp"

namespace hix::vgpu {
namespace {

using gpu::Reg32;

std::uint64_t all_ones(unsigned size) {
  if (size >= 8) return ~std::uint64_t{0};
  return (std::uint64_t{1} << (8 * size)) - 1;
}

}  // namespace

Device::Device(std::unique_ptr<Backend> backend, DeviceConfig config)
    : config_(std::move(config)),
      backend_(std::move(backend)),
      vram_(backend_->vram_size()),
      crypto_(dma_, *backend_) {
  if (sodium_init() < 0) error_.store(true);
}

Device::~Device() {
  unpin_guest_locked();  // the guest memory outlives this body, the pins must not
  sodium_memzero(cmd_staging_.data(), cmd_staging_.size());
  sodium_memzero(latches_.key_window.data(), sizeof latches_.key_window);
}

void Device::count_refusal() {
  saturating_increment(badacc_);
}

std::uint64_t Device::mmio_read(std::uint64_t offset, unsigned size) {
  if (size != 4 || offset % 4 != 0 || offset > gpu::kBar0Size - 4) {
    count_refusal();
    return all_ones(size);
  }
  const auto desc = gpu::find_register(gpu::BarOffset{static_cast<std::uint32_t>(offset)});
  if (!desc) return 0;  // reserved
  if (desc->access == gpu::Access::wo) return 0;
  return read_reg(desc->reg);
}

void Device::mmio_write(std::uint64_t offset, unsigned size, std::uint64_t value) {
  if (size != 4 || offset % 4 != 0 || offset > gpu::kBar0Size - 4) {
    count_refusal();
    return;
  }
  const auto desc = gpu::find_register(gpu::BarOffset{static_cast<std::uint32_t>(offset)});
  if (!desc || desc->access == gpu::Access::ro) {
    count_refusal();
    return;
  }
  write_reg(desc->reg, static_cast<std::uint32_t>(value));
}

std::uint32_t Device::read_reg(Reg32 reg) {
  switch (reg) {
    case Reg32::id:
      return gpu::kIdValue;
    case Reg32::version:
      return gpu::kVersionValue;
    case Reg32::caps:  // the backend bits name the backend in use
      return backend_->name() == "cuda"
                 ? (gpu::kCapsValue & ~HIX_GPU_CAPS_BACKEND_CPU) | HIX_GPU_CAPS_BACKEND_CUDA
                 : gpu::kCapsValue;
    case Reg32::status: {
      std::uint32_t s = error_.load() ? gpu::status::error : gpu::status::ready;
      if (locked_.load()) s |= gpu::status::locked;
      if (protected_.load()) s |= gpu::status::protected_mode;
      if (ring_enabled_.load()) s |= gpu::status::ring;
      if (has_pending()) s |= gpu::status::busy;
      return s;
    }
    case Reg32::badacc:
      return badacc_.load();
    case Reg32::ring_head:
      return head_.load();
    case Reg32::ring_seq:
      return seq_low_.load();
    case Reg32::fence:
      return fence_.load();
    case Reg32::exec_errors:
      return exec_errors_.load();
    case Reg32::last_error:
      return last_error_.load();
    case Reg32::last_error_fence:
      return last_error_fence_.load();
    case Reg32::ring_forged:
      return ring_forged_.load();
    case Reg32::ring_replayed:
      return ring_replayed_.load();
    case Reg32::ring_reordered:
      return ring_reordered_.load();
    case Reg32::ring_malformed:
      return ring_malformed_.load();
    case Reg32::dma_denied:
      return dma_.denied();
    case Reg32::auth_failures:
      return crypto_.auth_failures();
    case Reg32::cmd_rejects:
      return cmd_rejects_.load();
    default:
      break;
  }
  const std::lock_guard regs(regs_mu_);
  switch (reg) {
    case Reg32::scratch:
      return latches_.scratch;
    case Reg32::cmd_status:
      return latches_.cmd_status;
    case Reg32::result0:
      return latches_.result0;
    case Reg32::result1:
      return latches_.result1;
    case Reg32::arg0:
      return latches_.args[0];
    case Reg32::arg1:
      return latches_.args[1];
    case Reg32::arg2:
      return latches_.args[2];
    case Reg32::arg3:
      return latches_.args[3];
    case Reg32::ring_base_lo:
      return latches_.ring_base_lo;
    case Reg32::ring_base_hi:
      return latches_.ring_base_hi;
    case Reg32::ring_size:
      return latches_.ring_size;
    default:
      return 0;  // write-only registers never get here (mmio_read answers 0)
  }
}

void Device::write_reg(Reg32 reg, std::uint32_t value) {
  switch (reg) {
    case Reg32::cmd:
      admin(value);
      return;
    case Reg32::doorbell:
      doorbell(value);
      return;
    default:
      break;
  }
  const std::lock_guard regs(regs_mu_);
  switch (reg) {
    case Reg32::scratch:
      latches_.scratch = value;
      return;
    case Reg32::arg0:
    case Reg32::arg1:
    case Reg32::arg2:
    case Reg32::arg3:
      latches_.args[(gpu::offset_of(reg).value - gpu::offset_of(Reg32::arg0).value) / 4] = value;
      return;
    case Reg32::key0:
    case Reg32::key1:
    case Reg32::key2:
    case Reg32::key3:
    case Reg32::key4:
    case Reg32::key5:
    case Reg32::key6:
    case Reg32::key7:
      latches_.key_window[(gpu::offset_of(reg).value - gpu::offset_of(Reg32::key0).value) / 4] =
          value;
      return;
    case Reg32::ring_base_lo:
      latches_.ring_base_lo = value;
      return;
    case Reg32::ring_base_hi:
      latches_.ring_base_hi = value;
      return;
    case Reg32::ring_size:
      latches_.ring_size = value;
      return;
    default:
      break;
  }
  saturating_increment(badacc_);  // unreachable for table-checked registers
}

void Device::admin(std::uint32_t opcode) {
  const std::lock_guard exec(exec_mu_);
  const std::lock_guard regs(regs_mu_);
  std::array<std::uint8_t, kKeyBytes> key{};
  for (std::size_t i = 0; i < kKeyBytes; ++i) {
    key[i] = static_cast<std::uint8_t>(latches_.key_window[i / 4] >> (8 * (i % 4)));
  }
  sodium_memzero(latches_.key_window.data(), sizeof latches_.key_window);
  const AdminResult r = admin_locked(opcode, latches_.args, key, latches_);
  sodium_memzero(key.data(), key.size());
  latches_.cmd_status = code_of(r.status);
  latches_.result0 = r.r0;
  latches_.result1 = r.r1;
  if (r.status != Status::ok) saturating_increment(cmd_rejects_);
}

Device::AdminResult Device::admin_locked(std::uint32_t opcode,
                                         const std::array<std::uint32_t, 4>& args,
                                         std::span<const std::uint8_t, kKeyBytes> key,
                                         const Latches& l) {
  const auto with_context = [&](auto&& fn) -> AdminResult {
    Context* ctx = contexts_.find(args[0]);
    if (ctx == nullptr) return {Status::bad_context};
    return fn(*ctx);
  };
  switch (static_cast<hix_gpu_cmd>(opcode)) {
    case HIX_GPU_CMD_CHANNEL_KEY_INSTALL: {
      // The sequence number is the key's: installing a key again continues
      // it, so no entry accepted under the key verifies again (spec §4.1).
      KeyLedger::Counters* c = enter_key_locked(key);
      if (c == nullptr) return {Status::no_resource};
      channel_key_.set(key);
      channel_counters_ = c;
      protected_.store(true);
      expected_seq_ = c->next_seq;
      seq_low_.store(static_cast<std::uint32_t>(expected_seq_));
      return {Status::ok};
    }
    case HIX_GPU_CMD_CHANNEL_KEY_CLEAR:
      channel_key_.clear();
      channel_counters_ = nullptr;
      protected_.store(false);
      expected_seq_ = 1;
      seq_low_.store(1);
      return {Status::ok};
    case HIX_GPU_CMD_CTX_CREATE: {
      auto id = contexts_.create();
      if (!id) return {id.status()};
      return {Status::ok, *id};
    }
    case HIX_GPU_CMD_CTX_DESTROY:
      recordings_.drop_all(*backend_);  // they name the context's VRAM
      return {contexts_.destroy(args[0], vram_, *backend_)};
    case HIX_GPU_CMD_KEY_SLOT_INSTALL:
    case HIX_GPU_CMD_KEY_SLOT_CLEAR:
      return with_context([&](Context& ctx) -> AdminResult {
        if (args[1] >= kKeySlots) return {Status::bad_key_slot};
        KeySlot& slot = ctx.slots[args[1]];
        if (opcode == HIX_GPU_CMD_KEY_SLOT_CLEAR) {
          slot.clear();
          return {Status::ok};
        }
        // The output counter is the key's, shared by every slot holding it
        // (spec §4.1): a re-installed key never seals under an old nonce.
        KeyLedger::Counters* c = enter_key_locked(key);
        if (c == nullptr) return {Status::no_resource};
        slot.clear();
        slot.key.set(key);
        slot.counters = c;
        return {Status::ok};
      });
    case HIX_GPU_CMD_MEM_ALLOC:
      return with_context([&](Context& ctx) -> AdminResult {
        const std::uint64_t size = args[1] | (std::uint64_t{args[2]} << 32);
        auto h = contexts_.alloc_buffer(ctx, size, vram_);
        if (!h) return {h.status()};
        return {Status::ok, *h};
      });
    case HIX_GPU_CMD_MEM_FREE:
      return with_context([&](Context& ctx) -> AdminResult {
        recordings_.drop_all(*backend_);  // they name the buffer's VRAM
        return {contexts_.free_buffer(ctx, args[1], vram_, *backend_)};
      });
    case HIX_GPU_CMD_RING_START:
      return ring_start_locked(l);
    case HIX_GPU_CMD_RING_STOP:
      ring_enabled_.store(false);
      producer_.store(head_.load());
      return {Status::ok};
    case HIX_GPU_CMD_SCRUB:
      scrub_locked();
      return {Status::ok};
    case HIX_GPU_CMD_VRAM_INFO: {
      const auto kib = [](std::uint64_t b) {
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(b / 1024, UINT32_MAX));
      };
      return {Status::ok, kib(vram_.free_bytes()), kib(vram_.size())};
    }
  }
  return {Status::bad_opcode};
}

KeyLedger::Counters* Device::enter_key_locked(std::span<const std::uint8_t, kKeyBytes> key) {
  KeyLedger::Counters* c = ledger_.enter(key);
#ifdef HIX_VGPU_TESTING
  if (c != nullptr && config_.restart_counters_on_install) *c = KeyLedger::Counters{};
#endif
  return c;
}

Device::AdminResult Device::ring_start_locked(const Latches& l) {
  const std::uint64_t base = l.ring_base_lo | (std::uint64_t{l.ring_base_hi} << 32);
  const std::uint32_t n = l.ring_size;
  if (base % HIX_VGPU_RING_ALIGN != 0 || n == 0 || n > HIX_GPU_RING_MAX_ENTRIES ||
      (n & (n - 1)) != 0) {
    return {Status::invalid_arg};
  }
  const std::uint64_t bytes = std::uint64_t{n} * HIX_VGPU_RING_ENTRY_BYTES;
  if (!dma_.attached() || !dma_.memory()->map(GuestPhys{base}, bytes).ok()) {
    return {Status::invalid_arg};
  }
  if (!dma_.allowed(GuestPhys{base}, bytes)) {
    dma_.count_denied();
    return {Status::dma_denied};
  }
  ring_base_ = GuestPhys{base};
  ring_entries_.store(n);
  head_.store(0);
  producer_.store(0);
  ring_enabled_.store(true);
  return {Status::ok};
}

void Device::doorbell(std::uint32_t producer) {
  {
    const std::lock_guard regs(regs_mu_);
    if (!ring_enabled_.load()) {
      saturating_increment(ring_malformed_);
      return;
    }
    const std::uint32_t head = head_.load();
    const std::uint32_t new_pending = producer - head;  // free-running, mod 2^32
    const std::uint32_t old_pending = producer_.load() - head;
    if (new_pending > ring_entries_.load() || new_pending < old_pending) {
      saturating_increment(ring_malformed_);
      return;
    }
    producer_.store(producer);
  }
  if (config_.inline_execution) {
    run_pending();
  } else if (doorbell_handler_) {
    doorbell_handler_();
  }
}

void Device::set_doorbell_handler(std::function<void()> handler) {
  const std::lock_guard exec(exec_mu_);
  doorbell_handler_ = std::move(handler);
}

bool Device::has_pending() const {
  return ring_enabled_.load() && head_.load() != producer_.load();
}

std::size_t Device::run_pending(std::size_t max_entries) {
  std::size_t n = 0;
  while (n < max_entries) {
    const std::lock_guard exec(exec_mu_);
    if (!process_one_locked()) break;
    ++n;
  }
  return n;
}

void Device::complete_locked(const hix_vgpu_ring_entry& e, Status s, std::uint32_t op_index) {
  if (s != Status::ok) {
    saturating_increment(exec_errors_);
    last_error_.store(code_of(s) | (std::min<std::uint32_t>(op_index, 0xFFFF) << 16));
    last_error_fence_.store(e.fence);
  }
  fence_.store(e.fence);
}

bool Device::process_one_locked() {
  if (!ring_enabled_.load()) return false;
  const std::uint32_t h = head_.load();
  if (h == producer_.load()) return false;
  const auto consume = [this, h] { head_.store(h + 1); };

  hix_vgpu_ring_entry e{};
  const GuestPhys slot{ring_base_.value +
                       std::uint64_t{h % ring_entries_.load()} * HIX_VGPU_RING_ENTRY_BYTES};
  if (dma_.read(slot, std::as_writable_bytes(std::span(&e, 1))) != Status::ok) {
    saturating_increment(ring_malformed_);
    consume();
    return true;
  }
  bool reserved_clear = true;
  for (const auto b : e.reserved) reserved_clear = reserved_clear && b == 0;
  Context* ctx = contexts_.find(e.ctx);
  if (e.flags != 0 || !reserved_clear || e.cmd_len < HIX_VGPU_CMDBUF_MIN ||
      e.cmd_len > HIX_VGPU_CMDBUF_MAX || e.cmd_len % 8 != 0 || ctx == nullptr) {
    saturating_increment(ring_malformed_);
    consume();
    return true;
  }
  cmd_staging_.resize(e.cmd_len);
  const std::span<std::byte> cmd(cmd_staging_);
  if (dma_.read(GuestPhys{e.cmd_gpa}, cmd) != Status::ok) {
    saturating_increment(ring_malformed_);
    consume();
    return true;
  }
  if (protected_.load()) {
    if (open_ring_entry(e, cmd, channel_key_.bytes()) != Status::ok) {
      saturating_increment(ring_forged_);
      consume();
      return true;
    }
    if (e.seq != expected_seq_) {
      saturating_increment(e.seq < expected_seq_ ? ring_replayed_ : ring_reordered_);
      sodium_memzero(cmd.data(), cmd.size());
      consume();
      return true;
    }
    ++expected_seq_;
    if (channel_counters_ != nullptr) channel_counters_->next_seq = expected_seq_;
    seq_low_.store(static_cast<std::uint32_t>(expected_seq_));
  }

  const ParseResult parsed = parse_cmdbuf(cmd);
  if (parsed.status != Status::ok) {
    complete_locked(e, parsed.status, parsed.op_index);
  } else {
    Executor ex(ExecEnv{*backend_, dma_, crypto_, *ctx, protected_.load(), config_.op_budget, e.ctx,
                        &recordings_, config_.peer_disks.get(), config_.decrypt_runs});
    ExecResult r = ex.validate(parsed.program, cmd);
    if (r.status == Status::ok) r = ex.run(parsed.program, cmd);
    complete_locked(e, r.status, r.op_index);
  }
  sodium_memzero(cmd.data(), cmd.size());
  consume();
  return true;
}

void Device::scrub_locked() {
  recordings_.drop_all(*backend_);
  if (backend_->zero(VramOffset{0}, backend_->vram_size()) != Status::ok) {
    error_.store(true);  // VRAM could not be cleared: refuse to look healthy
  }
  contexts_.clear_all();
  vram_.reset();
  channel_key_.clear();
  channel_counters_ = nullptr;
  ledger_.clear();  // after every slot let go of its counters
  protected_.store(false);
  expected_seq_ = 1;
  seq_low_.store(1);
  ring_enabled_.store(false);
  ring_entries_.store(0);
  head_.store(0);
  producer_.store(0);
  crypto_.wipe();
  sodium_memzero(cmd_staging_.data(), cmd_staging_.size());
  cmd_staging_ = {};
}

void Device::set_lock(bool locked, std::uint64_t owner) {
  const std::lock_guard exec(exec_mu_);
  if (locked != locked_.load() || owner != lock_owner_) {
    // Whoever holds the device next gets it as after a reset: registers,
    // device memory and key slots (docs/specs/hix-isa.md §12).
    reset_state_locked();
  }
  locked_.store(locked);
  lock_owner_ = owner;
}

void Device::reset() {
  const std::lock_guard exec(exec_mu_);
  reset_state_locked();
}

void Device::reset_state_locked() {
  scrub_locked();
  const std::lock_guard regs(regs_mu_);
  sodium_memzero(latches_.key_window.data(), sizeof latches_.key_window);
  latches_ = Latches{};
  for (auto* c : {&fence_, &badacc_, &exec_errors_, &last_error_, &last_error_fence_, &ring_forged_,
                  &ring_replayed_, &ring_reordered_, &ring_malformed_, &cmd_rejects_}) {
    c->store(0);
  }
  dma_.reset_counter();
  crypto_.reset_counter();
}

void Device::attach_guest_memory(std::unique_ptr<GuestMemory> mem) {
  const std::lock_guard exec(exec_mu_);
  unpin_guest_locked();
  if (mem) {
    // Pinned guest RAM lets a GPU backend copy at full speed; a backend
    // that cannot pin still copies, more slowly.
    for (const auto r : mem->host_ranges()) {
      if (backend_->pin_host(r) == Status::ok) pinned_.push_back(r);
    }
  }
  dma_.attach(std::move(mem));
}

void Device::unpin_guest_locked() {
  for (const auto r : pinned_) backend_->unpin_host(r);
  pinned_.clear();
}

void Device::set_dma_deny(std::vector<DenyRange> ranges) {
  const std::lock_guard exec(exec_mu_);
  dma_.set_deny(std::move(ranges));
}

void Device::set_decrypt_runs(DecryptRunLimits limits) {
  const std::lock_guard exec(exec_mu_);
  config_.decrypt_runs = limits;
}

std::size_t Device::live_contexts() {
  const std::lock_guard exec(exec_mu_);
  return contexts_.live_count();
}

}  // namespace hix::vgpu
