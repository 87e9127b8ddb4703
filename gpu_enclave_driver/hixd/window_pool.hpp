// The staging pool carved up (docs/specs/hix-session.md §6): the enclave's
// ring area (one extent: the device reads the ring and a command buffer in
// single DMAs) and one window per session, first fit over the pool's free
// ranges. A window may span extents (PUT/GET/LOAD see one contiguous
// mapping); the client places each DMA'd tensor inside one of the pieces
// reported at OPEN.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "staging.hpp"

namespace hix::hixd {

// Part of the pool: where it is in the pool, in this process and for the device.
struct PoolArea {
  std::uint64_t pool_offset = 0;
  std::uint8_t* linear = nullptr;
  GuestPhys gpa;
  std::uint64_t bytes = 0;
};

// One physically contiguous piece of a window.
struct WindowPiece {
  std::uint64_t window_offset = 0;
  PoolArea area;
};

struct Window {
  std::uint64_t pool_offset = 0;
  std::uint64_t bytes = 0;
  std::vector<WindowPiece> pieces;
  // Window bytes [offset, offset + len) when they lie inside it.
  std::optional<std::span<std::uint8_t>> range(std::span<std::uint8_t> pool, std::uint64_t offset,
                                               std::uint64_t len) const;
};

// What alloc() is asked for: a window of `bytes` (a non-zero multiple of
// 4096) in at most `max_pieces` pieces.
struct WindowRequest {
  std::uint64_t bytes = 0;
  std::size_t max_pieces = 0;
};

class WindowPool {
 public:
  explicit WindowPool(StagingMemory& memory);

  // Takes `bytes` (rounded up to pages) from the start of the first extent
  // that holds them. Call before any window is made.
  std::optional<PoolArea> reserve_contiguous(std::uint64_t bytes);
  // The window `req` asks for; nullopt when no free range has room.
  std::optional<Window> alloc(WindowRequest req);
  void release(const Window& w);

  std::uint64_t free_bytes() const;
  std::uint64_t largest_free() const;
  std::span<std::uint8_t> memory() { return memory_.bytes(); }

 private:
  std::vector<WindowPiece> pieces(std::uint64_t pool_offset, std::uint64_t bytes);
  StagingMemory& memory_;
  std::map<std::uint64_t, std::uint64_t> free_;  // pool offset -> length
};

}  // namespace hix::hixd
