// Guest RAM regions: lookup, the buffer double and the memfd mapping.
#include "guest_memory.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace hix::vgpu {

Status GuestMemory::read(GuestPhys gpa, std::span<std::byte> out) {
  auto m = map(gpa, out.size());
  if (!m) return m.status();
  std::memcpy(out.data(), m->data(), out.size());
  return Status::ok;
}

Status GuestMemory::write(GuestPhys gpa, std::span<const std::byte> in) {
  auto m = map(gpa, in.size());
  if (!m) return m.status();
  std::memcpy(m->data(), in.data(), in.size());
  return Status::ok;
}

Result<std::span<std::byte>> RegionGuestMemory::map(GuestPhys gpa, std::uint64_t len) {
  std::uint64_t end = 0;
  if (!checked_add(gpa.value, len, end)) return Status::dma_denied;
  for (const auto& r : regions_) {
    if (gpa.value >= r.gpa.value && end <= r.gpa.value + r.size) {
      return std::span<std::byte>(r.host + (gpa.value - r.gpa.value), len);
    }
  }
  return Status::dma_denied;
}

BufferGuestMemory::BufferGuestMemory(GuestPhys base, std::uint64_t size) : storage_(size) {
  regions_.push_back(Region{base, size, storage_.data()});
}

Result<std::unique_ptr<MemfdGuestMemory>> MemfdGuestMemory::map_fd(
    int fd, std::span<const hix_vgpu_ram_region> table) {
  if (table.empty() || table.size() > HIX_VGPU_MAX_RAM_REGIONS) return Status::invalid_arg;
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size < 0) return Status::invalid_arg;
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::unique_ptr<MemfdGuestMemory> mem(new MemfdGuestMemory());
  for (const auto& r : table) {
    std::uint64_t gpa_end = 0;
    std::uint64_t file_end = 0;
    if (r.size == 0 || r.fd_offset % page != 0 || !checked_add(r.gpa, r.size, gpa_end) ||
        !checked_add(r.fd_offset, r.size, file_end) || file_end > file_size) {
      return Status::invalid_arg;
    }
    for (const auto& other : mem->regions_) {
      if (r.gpa < other.gpa.value + other.size && other.gpa.value < gpa_end) {
        return Status::invalid_arg;
      }
    }
    void* addr = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                      static_cast<off_t>(r.fd_offset));
    if (addr == MAP_FAILED) return Status::no_memory;
    mem->mappings_.push_back(Mapping{addr, r.size});
    mem->regions_.push_back(Region{GuestPhys{r.gpa}, r.size, static_cast<std::byte*>(addr)});
  }
  return mem;
}

MemfdGuestMemory::~MemfdGuestMemory() {
  for (const auto& m : mappings_) munmap(m.addr, m.len);
}

std::vector<std::span<std::byte>> RegionGuestMemory::host_ranges() {
  std::vector<std::span<std::byte>> out;
  out.reserve(regions_.size());
  for (const auto& r : regions_) out.emplace_back(r.host, r.size);
  return out;
}

}  // namespace hix::vgpu
