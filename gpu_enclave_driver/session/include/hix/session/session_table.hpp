// Sessions (docs/specs/hix-session.md §4): what each owns — its device
// context, the session keys and key slots, its buffers with their sizes, its
// staging window, the two message counters and the highest input tensor id
// under slot 0 — in a fixed table of HIX_SESSION_MAX entries (no heap: the
// table lives in the enclave's .bss).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "hix/abi/hix_gpu_regs.h"
#include "hix/abi/hix_session.h"
#include "hix/session/addr.hpp"

namespace hix::session {

inline constexpr std::size_t kMaxSessions = HIX_SESSION_MAX;
inline constexpr std::size_t kMaxBuffers = HIX_GPU_MAX_BUFFERS;  // per context (spec hix-gpu §4)
inline constexpr std::uint32_t kKeySlots = HIX_SESSION_KEY_SLOTS;
inline constexpr std::size_t kMaxExtents = HIX_SESSION_MAX_EXTENTS;
inline constexpr std::size_t kKeyBytes = HIX_SESSION_KEY_BYTES;

using Key = std::array<std::uint8_t, kKeyBytes>;

// A buffer the session allocated (ALLOC): its device handle and size.
struct Buffer {
  std::uint32_t handle = 0;  // 0: free entry
  std::uint64_t size = 0;
};

// One physically contiguous piece of the staging window.
struct Extent {
  std::uint64_t offset = 0;  // in the window
  GuestPhys gpa;
  std::uint64_t bytes = 0;
};

struct Session {
  bool live = false;
  std::uint32_t id = 0;
  std::uint32_t ctx = 0;               // device context id
  Key k_c2e{};                         // requests (enclave rx)
  Key k_e2c{};                         // responses (enclave tx)
  Key k_t{};                           // tensor key, key slot 0
  std::uint64_t recv_expected = 1;     // counter the next request must carry
  std::uint64_t send_next = 1;         // counter of the next response
  std::uint32_t slots = 0;             // bit n: key slot n installed
  std::uint64_t highest_input_id = 0;  // under slot 0; the next must be above
  std::uint32_t buffer_count = 0;
  // Indexed by the handle's slot index (bits 15..0 minus one, spec hix-gpu
  // §4), so a lookup is one compare.
  std::array<Buffer, kMaxBuffers> buffers{};
  std::uint32_t extent_count = 0;
  std::array<Extent, kMaxExtents> extents{};

  // The buffer `handle` names, or nullptr when it is not this session's.
  [[nodiscard]] const Buffer* find_buffer(std::uint32_t handle) const;
  // Records a buffer the device allocated; false if its handle cannot be one.
  [[nodiscard]] bool add_buffer(std::uint32_t handle, std::uint64_t size);
  void remove_buffer(std::uint32_t handle);
  [[nodiscard]] bool slot_installed(std::uint32_t slot) const {
    return slot < kKeySlots && (slots & (1u << slot)) != 0;
  }
  std::span<const Extent> window() const { return std::span(extents).first(extent_count); }
  // The extent that holds all of [gpa, gpa + len), or nullptr.
  [[nodiscard]] const Extent* extent_holding(std::uint64_t gpa, std::uint64_t len) const;
  // Back to a free entry; every key wiped with sodium_memzero.
  void wipe();
};

class SessionTable {
 public:
  SessionTable() = default;
  ~SessionTable();  // wipes every key
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // The live session with this id, or nullptr.
  [[nodiscard]] Session* find(std::uint32_t id);
  [[nodiscard]] const Session* find(std::uint32_t id) const;
  // A free entry made live with a fresh id (ids are never reused by one
  // table), or nullptr when HIX_SESSION_MAX are live.
  [[nodiscard]] Session* create();
  void release(Session& s) { s.wipe(); }
  std::size_t live() const;
  std::span<Session> all() { return sessions_; }
  std::span<const Session> all() const { return sessions_; }

 private:
  std::array<Session, kMaxSessions> sessions_{};
  std::uint32_t next_id_ = 1;
};

}  // namespace hix::session
