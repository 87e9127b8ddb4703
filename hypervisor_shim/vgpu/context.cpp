// Contexts, their buffer tables and key slots (spec §4).
#include "context.hpp"

namespace hix::vgpu {
namespace {

// Splits an id into its table index, checking range and generation.
template <class Slot, std::size_t N>
Slot* resolve(std::array<Slot, N>& table, std::uint32_t id) {
  const std::uint32_t low = id & 0xFFFFu;
  if (low == 0 || low > N) return nullptr;
  Slot& s = table[low - 1];
  if (!s.live || s.generation != (id >> 16)) return nullptr;
  return &s;
}

std::uint16_t next_generation(std::uint16_t g) {
  return static_cast<std::uint16_t>(g == 0xFFFF ? 1 : g + 1);
}

}  // namespace

Result<BufferView> Context::lookup(std::uint32_t handle) const {
  const std::uint32_t low = handle & 0xFFFFu;
  if (low == 0 || low > kMaxBuffers) return Status::bad_handle;
  const Buffer& b = buffers[low - 1];
  if (!b.live || b.generation != (handle >> 16)) return Status::bad_handle;
  return b.view;
}

Result<std::uint32_t> ContextTable::create() {
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    Context& c = contexts_[i];
    if (c.live) continue;
    c.live = true;
    c.generation = next_generation(c.generation);
    for (auto& s : c.slots) {
      s.clear();
    }
    return make_id(i, c.generation);
  }
  return Status::no_resource;
}

Context* ContextTable::find(std::uint32_t id) {
  return resolve(contexts_, id);
}

Status ContextTable::destroy(std::uint32_t id, VramAllocator& vram, Backend& backend) {
  Context* c = find(id);
  if (c == nullptr) return Status::bad_context;
  for (auto& b : c->buffers) {
    if (!b.live) continue;
    HIX_TRY(backend.zero(b.view.base, VramAllocator::footprint(b.view.size)));
    vram.release(b.view.base, b.view.size);
    b.live = false;
  }
  for (auto& s : c->slots) {
    s.clear();
  }
  c->live = false;
  return Status::ok;
}

Result<std::uint32_t> ContextTable::alloc_buffer(Context& ctx, std::uint64_t size,
                                                 VramAllocator& vram) {
  for (std::size_t i = 0; i < ctx.buffers.size(); ++i) {
    Buffer& b = ctx.buffers[i];
    if (b.live) continue;
    auto off = vram.allocate(size);
    if (!off) return off.status();
    b.view = BufferView{*off, size};
    b.generation = next_generation(b.generation);
    b.live = true;
    return make_id(i, b.generation);
  }
  return Status::no_resource;
}

Status ContextTable::free_buffer(Context& ctx, std::uint32_t handle, VramAllocator& vram,
                                 Backend& backend) {
  Buffer* b = resolve(ctx.buffers, handle);
  if (b == nullptr) return Status::bad_handle;
  HIX_TRY(backend.zero(b->view.base, VramAllocator::footprint(b->view.size)));
  vram.release(b->view.base, b->view.size);
  b->live = false;
  return Status::ok;
}

void ContextTable::clear_all() {
  for (auto& c : contexts_) {
    for (auto& b : c.buffers) b.live = false;
    for (auto& s : c.slots) {
      s.clear();
    }
    c.live = false;
  }
}

std::size_t ContextTable::live_count() const {
  std::size_t n = 0;
  for (const auto& c : contexts_) n += c.live ? 1 : 0;
  return n;
}

}  // namespace hix::vgpu
