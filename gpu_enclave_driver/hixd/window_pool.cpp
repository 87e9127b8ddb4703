// Ring area and session windows from the staging pool (window_pool.hpp).
#include "window_pool.hpp"

#include <algorithm>
#include <iterator>

namespace hix::hixd {

std::optional<std::span<std::uint8_t>> Window::range(std::span<std::uint8_t> pool,
                                                     std::uint64_t offset,
                                                     std::uint64_t len) const {
  if (offset > bytes || len > bytes - offset) return std::nullopt;
  return pool.subspan(pool_offset + offset, len);
}

WindowPool::WindowPool(StagingMemory& memory) : memory_(memory) {
  if (!memory_.bytes().empty()) free_.emplace(0, memory_.bytes().size());
}

std::vector<WindowPiece> WindowPool::pieces(std::uint64_t pool_offset, std::uint64_t bytes) {
  std::vector<WindowPiece> out;
  const std::uint64_t end = pool_offset + bytes;
  for (const StagingExtent& e : memory_.extents()) {
    const std::uint64_t lo = std::max(pool_offset, e.offset);
    const std::uint64_t hi = std::min(end, e.offset + e.length);
    if (lo >= hi) continue;
    PoolArea a;
    a.pool_offset = lo;
    a.linear = memory_.bytes().data() + lo;
    a.gpa = GuestPhys{e.gpa.value + (lo - e.offset)};
    a.bytes = hi - lo;
    out.push_back({lo - pool_offset, a});
  }
  return out;
}

std::optional<PoolArea> WindowPool::reserve_contiguous(std::uint64_t bytes) {
  bytes = (bytes + kPage - 1) / kPage * kPage;
  if (bytes == 0) return std::nullopt;
  for (const StagingExtent& e : memory_.extents()) {
    if (e.length < bytes) continue;
    // The extent's start must still be free.
    auto it = free_.upper_bound(e.offset);
    if (it == free_.begin()) continue;
    --it;
    const std::uint64_t fstart = it->first;
    const std::uint64_t flen = it->second;
    if (e.offset < fstart || e.offset + bytes > fstart + flen) continue;
    free_.erase(it);
    if (e.offset > fstart) free_.emplace(fstart, e.offset - fstart);
    if (fstart + flen > e.offset + bytes) {
      free_.emplace(e.offset + bytes, fstart + flen - (e.offset + bytes));
    }
    return pieces(e.offset, bytes).front().area;
  }
  return std::nullopt;
}

std::optional<Window> WindowPool::alloc(WindowRequest req) {
  const std::uint64_t bytes = req.bytes;
  const std::size_t max_pieces = req.max_pieces;
  if (bytes == 0 || bytes % kPage != 0) return std::nullopt;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < bytes) continue;
    std::vector<WindowPiece> p = pieces(it->first, bytes);
    if (p.size() > max_pieces) continue;
    Window w;
    w.pool_offset = it->first;
    w.bytes = bytes;
    w.pieces = std::move(p);
    const std::uint64_t rest = it->second - bytes;
    free_.erase(it);
    if (rest != 0) free_.emplace(w.pool_offset + bytes, rest);
    return w;
  }
  return std::nullopt;
}

void WindowPool::release(const Window& w) {
  if (w.bytes == 0) return;
  auto [it, inserted] = free_.emplace(w.pool_offset, w.bytes);
  if (!inserted) return;  // never handed out: ignore rather than corrupt the map
  // Merge with the following and the preceding free range.
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

std::uint64_t WindowPool::free_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [off, len] : free_) n += len;
  return n;
}

std::uint64_t WindowPool::largest_free() const {
  std::uint64_t n = 0;
  for (const auto& [off, len] : free_) n = std::max(n, len);
  return n;
}

}  // namespace hix::hixd
