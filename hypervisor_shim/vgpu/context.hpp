// Contexts (spec §4): one per user session, each with its own VRAM buffers
// and key slots. A handle is looked up only in the table of the context the
// ring entry names, so one context can never name another's memory.
#pragma once

#include <array>
#include <cstdint>

#include "addr.hpp"
#include "backend.hpp"
#include "hix/abi/hix_gpu_regs.h"
#include "key_ledger.hpp"
#include "secret_key.hpp"
#include "status.hpp"
#include "vram_allocator.hpp"

namespace hix::vgpu {

inline constexpr std::size_t kMaxContexts = HIX_GPU_MAX_CONTEXTS;
inline constexpr std::size_t kKeySlots = HIX_GPU_KEY_SLOTS;
inline constexpr std::size_t kMaxBuffers = HIX_GPU_MAX_BUFFERS;
static_assert(kMaxBuffers < 0xFFFF && kMaxContexts < 0xFFFF, "ids keep the index in 16 bits");

// Object ids: bits 15..0 index + 1, bits 31..16 generation (spec §4).
constexpr std::uint32_t make_id(std::size_t index, std::uint16_t generation) {
  return (std::uint32_t{generation} << 16) | static_cast<std::uint32_t>(index + 1);
}

struct BufferView {
  VramOffset base;
  std::uint64_t size;
};

struct Buffer {
  BufferView view{};
  std::uint16_t generation = 0;
  bool live = false;
};

struct KeySlot {
  SecretKey key;
  // The key's counters in the device's ledger (spec §4.1, §7.3): shared by
  // every slot holding the same key. Non-null exactly when key is present.
  KeyLedger::Counters* counters = nullptr;

  void clear() {
    key.clear();
    counters = nullptr;
  }
};

struct Context {
  bool live = false;
  std::uint16_t generation = 0;
  std::array<Buffer, kMaxBuffers> buffers{};
  std::array<KeySlot, kKeySlots> slots{};

  [[nodiscard]] Result<BufferView> lookup(std::uint32_t handle) const;
};

class ContextTable {
 public:
  [[nodiscard]] Result<std::uint32_t> create();
  Context* find(std::uint32_t id);
  // Frees (and zeroes) every buffer and wipes every key slot.
  [[nodiscard]] Status destroy(std::uint32_t id, VramAllocator& vram, Backend& backend);
  // The buffer reads as zeroes: VRAM is zero whenever it is free.
  [[nodiscard]] Result<std::uint32_t> alloc_buffer(Context& ctx, std::uint64_t size,
                                                   VramAllocator& vram);
  [[nodiscard]] Status free_buffer(Context& ctx, std::uint32_t handle, VramAllocator& vram,
                                   Backend& backend);
  // Forgets every context and wipes every key; VRAM is the caller's to zero.
  void clear_all();
  std::size_t live_count() const;

 private:
  std::array<Context, kMaxContexts> contexts_{};
};

}  // namespace hix::vgpu
