// Sessions and their table (docs/specs/hix-session.md §4).
#include "hix/session/session_table.hpp"

#include <sodium.h>

namespace hix::session {
namespace {

// The buffer-table index of a device handle (spec hix-gpu §4: bits 15..0
// are the slot index plus one), or kMaxBuffers when it cannot name one.
std::size_t buffer_index(std::uint32_t handle) {
  const std::uint32_t slot = handle & 0xFFFFu;
  return slot == 0 || slot > kMaxBuffers ? kMaxBuffers : slot - 1;
}

}  // namespace

const Buffer* Session::find_buffer(std::uint32_t handle) const {
  const std::size_t i = buffer_index(handle);
  if (handle == 0 || i >= kMaxBuffers || buffers[i].handle != handle) return nullptr;
  return &buffers[i];
}

bool Session::add_buffer(std::uint32_t handle, std::uint64_t size) {
  const std::size_t i = buffer_index(handle);
  if (handle == 0 || i >= kMaxBuffers || buffers[i].handle != 0) return false;
  buffers[i] = Buffer{handle, size};
  ++buffer_count;
  return true;
}

void Session::remove_buffer(std::uint32_t handle) {
  const std::size_t i = buffer_index(handle);
  if (handle == 0 || i >= kMaxBuffers || buffers[i].handle != handle) return;
  buffers[i] = Buffer{};
  --buffer_count;
}

const Extent* Session::extent_holding(std::uint64_t gpa, std::uint64_t len) const {
  if (!valid_range(gpa, len)) return nullptr;
  for (const Extent& e : window()) {
    if (gpa >= e.gpa.value && gpa - e.gpa.value <= e.bytes &&
        len <= e.bytes - (gpa - e.gpa.value)) {
      return &e;
    }
  }
  return nullptr;
}

void Session::wipe() {
  sodium_memzero(k_c2e.data(), k_c2e.size());
  sodium_memzero(k_e2c.data(), k_e2c.size());
  sodium_memzero(k_t.data(), k_t.size());
  live = false;
  id = 0;
  ctx = 0;
  recv_expected = 1;
  send_next = 1;
  slots = 0;
  highest_input_id = 0;
  buffer_count = 0;
  buffers.fill(Buffer{});
  extent_count = 0;
  extents.fill(Extent{});
}

SessionTable::~SessionTable() {
  for (Session& s : sessions_) s.wipe();
}

Session* SessionTable::find(std::uint32_t id) {
  for (Session& s : sessions_) {
    if (s.live && s.id == id && id != 0) return &s;
  }
  return nullptr;
}

const Session* SessionTable::find(std::uint32_t id) const {
  for (const Session& s : sessions_) {
    if (s.live && s.id == id && id != 0) return &s;
  }
  return nullptr;
}

Session* SessionTable::create() {
  for (Session& s : sessions_) {
    if (s.live) continue;
    s.wipe();
    s.live = true;
    s.id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;  // 2^32 sessions later; ids stay non-zero
    return &s;
  }
  return nullptr;
}

std::size_t SessionTable::live() const {
  std::size_t n = 0;
  for (const Session& s : sessions_) n += s.live ? 1 : 0;
  return n;
}

}  // namespace hix::session
