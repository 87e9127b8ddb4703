// hix-staging-selftest: HIX_IOC_STAGING of /dev/hix (docs/specs/hix-isa.md
// §11.1), the DMA staging buffers hixd uses: the extents (in mapping order,
// inside guest RAM, physically adjacent blocks merged, each page where the
// extents say), a mapping that reads zeros and keeps what is written, an
// O_DIRECT pread from a virtio-blk disk straight into the mapping (the bytes
// arrive, and arrive at the reported guest-physical addresses), the
// refusals with their errno and no descriptor left behind, the per-file cap,
// the mapping rules, and freeing: at the last close and munmap, also after
// the /dev/hix file is gone, and many times over without running out of
// memory. Needs hix.ko and hix_attack.ko (to see the frames behind the
// mapping and read guest-physical memory).
//
// Usage: hix-staging-selftest DISK SEED BYTES
//   DISK holds BYTES bytes (a multiple of 4096) from offset 0: 64-bit
//   little-endian words, word i = splitmix64(SEED + i) (test_staging.py
//   writes the same).
//
// Output: one "HIX-STAGING-SELFTEST key=value ..." line. Exit status: 0 when
// every check passed, 1 when one failed, 2 on a set-up error.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hix/abi/hix_ioctl.h"
#include "hix_attack_abi.h"
#include "selftest.hpp"

namespace {

using hix::kmodtest::create;
using hix::kmodtest::Device;
using hix::kmodtest::hex;
using hix::kmodtest::kPage;
using hix::kmodtest::read_phys;
using hix::kmodtest::Report;
using hix::kmodtest::virt_to_phys;

constexpr const char* kDevHix = "/dev/hix";
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kBufSize = 64 * kMiB;
// The driver's largest block (order 10) and its default cap.
constexpr std::uint64_t kBlock = 4 * kMiB;
constexpr std::uint64_t kDefaultCapMiB = 256;
// An ELRANGE for the file that also has an enclave.
constexpr std::uint64_t kEnclBase = 0x340000000000ull;
// The loop: more than the guest's RAM in total, a buffer at a time.
constexpr int kLoopRounds = 48;
constexpr std::uint64_t kLoopSize = 32 * kMiB;

std::uint64_t pattern_word(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// [offset, offset + len) of the disk.
struct DiskRange {
  std::uint64_t offset;
  std::uint64_t len;
};

// The disk's expected bytes in `range`, its offset 8-byte aligned.
std::vector<std::uint8_t> pattern_bytes(std::uint64_t seed, DiskRange range) {
  const std::uint64_t offset = range.offset;
  const std::uint64_t len = range.len;
  std::vector<std::uint8_t> out(len);
  for (std::uint64_t i = 0; i < len; i += 8) {
    std::uint64_t w = pattern_word(seed, (offset + i) / 8);
    for (std::uint64_t b = 0; b < 8 && i + b < len; ++b) {
      out[i + b] = static_cast<std::uint8_t>(w >> (8 * b));
    }
  }
  return out;
}

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A HIX_IOC_STAGING answer: err 0 and the buffer's file, or the errno.
struct Staging {
  int err = 0;
  Fd fd;
  std::vector<hix_staging_extent> extents;
};

// The request's reserved field, which the driver must refuse unless 0.
struct Reserved {
  std::uint64_t value = 0;
};

Staging staging(const Device& hix, std::uint64_t size, Reserved reserved = {}) {
  hix_ioc_staging req{};
  req.size = size;
  req.reserved = reserved.value;
  req.fd = -2;
  Staging out;
  out.err = hix.call(HIX_IOC_STAGING, &req);
  if (out.err == 0) {
    out.fd = Fd(req.fd);
    std::uint32_t n = req.extent_count;
    if (n > HIX_STAGING_MAX_EXTENTS) n = HIX_STAGING_MAX_EXTENTS;
    out.extents.assign(req.extents, req.extents + n);
  }
  return out;
}

// mmap of [offset, offset + len) of a buffer; nullptr and errno on failure.
std::uint8_t* map_buffer(const Fd& fd, std::uint64_t len, int prot, int flags,
                         std::uint64_t offset = 0) {
  void* p = ::mmap(nullptr, len, prot, flags, fd.get(), static_cast<off_t>(offset));
  return p == MAP_FAILED ? nullptr : static_cast<std::uint8_t*>(p);
}

int map_errno(const Fd& fd, std::uint64_t len, int flags, std::uint64_t offset = 0) {
  std::uint8_t* p = map_buffer(fd, len, PROT_READ | PROT_WRITE, flags, offset);
  if (p == nullptr) return errno;
  ::munmap(p, len);
  return 0;
}

std::uint64_t address_of(const void* p) {
  // reinterpret_cast: /dev/hix-attack takes user addresses as integers.
  return reinterpret_cast<std::uintptr_t>(p);
}

// Extents in mapping order: starting at 0, each where the previous ends,
// page-granular, adding up to size, and merged (no extent continues the
// previous one physically).
bool extents_well_formed(const std::vector<hix_staging_extent>& ext, std::uint64_t size) {
  std::uint64_t next = 0;
  for (std::size_t i = 0; i < ext.size(); ++i) {
    const hix_staging_extent& e = ext[i];
    if (e.offset != next || e.length == 0 || e.length % kPage != 0 || e.gpa % kPage != 0) {
      return false;
    }
    if (i > 0 && ext[i - 1].gpa + ext[i - 1].length == e.gpa) return false;
    next += e.length;
  }
  return !ext.empty() && next == size;
}

// The top-level "System RAM" ranges of /proc/iomem, [start, end].
std::vector<std::pair<std::uint64_t, std::uint64_t>> system_ram() {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  std::ifstream f("/proc/iomem");
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == ' ' || line.find(": System RAM") == std::string::npos) {
      continue;
    }
    std::size_t dash = line.find('-');
    if (dash == std::string::npos) continue;
    out.emplace_back(std::stoull(line.substr(0, dash), nullptr, 16),
                     std::stoull(line.substr(dash + 1), nullptr, 16));
  }
  return out;
}

bool inside_ram(const std::vector<hix_staging_extent>& ext) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ram = system_ram();
  if (ram.empty()) return false;
  for (const hix_staging_extent& e : ext) {
    bool in = false;
    for (const auto& [start, end] : ram) {
      if (e.gpa >= start && e.gpa + e.length - 1 <= end) in = true;
    }
    if (!in) return false;
  }
  return true;
}

// The guest-physical address of buffer offset off, from the extents.
std::optional<std::uint64_t> gpa_of(const std::vector<hix_staging_extent>& ext, std::uint64_t off) {
  for (const hix_staging_extent& e : ext) {
    if (off >= e.offset && off - e.offset < e.length) return e.gpa + (off - e.offset);
  }
  return std::nullopt;
}

// Every page of the mapping is the frame the extents name.
bool pages_where_extents_say(const Device& attack, const std::uint8_t* map,
                             const std::vector<hix_staging_extent>& ext, std::uint64_t size) {
  for (std::uint64_t off = 0; off < size; off += kPage) {
    std::optional<std::uint64_t> phys = virt_to_phys(attack, address_of(map + off));
    if (!phys || phys != gpa_of(ext, off)) return false;
  }
  return true;
}

bool all_zero(const std::uint8_t* p, std::uint64_t len) {
  for (std::uint64_t i = 0; i < len; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// A byte pattern for buffer offset i that no page repeats.
std::uint8_t fill_byte(std::uint64_t i) {
  return static_cast<std::uint8_t>((i >> 12) * 7 + i);
}

bool fill_and_check(std::uint8_t* p, std::uint64_t len) {
  for (std::uint64_t i = 0; i < len; ++i) p[i] = fill_byte(i);
  for (std::uint64_t i = 0; i < len; ++i) {
    if (p[i] != fill_byte(i)) return false;
  }
  return true;
}

std::size_t open_fds() {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// MemFree in bytes.
std::uint64_t mem_free() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (f >> key >> kib) {
    std::getline(f, unit);
    if (key == "MemFree:") return kib * 1024;
  }
  return 0;
}

std::uint64_t cap_bytes() {
  std::ifstream f("/sys/module/hix/parameters/staging_max_mib");
  std::uint64_t mib = 0;
  f >> mib;
  return mib * kMiB;
}

// O_DIRECT pread of len bytes from disk offset 0 into dst; bytes read.
std::uint64_t direct_read(const char* disk, std::uint8_t* dst, std::uint64_t len, int* err) {
  Fd fd(::open(disk, O_RDONLY | O_DIRECT | O_CLOEXEC));
  *err = 0;
  if (fd.get() < 0) {
    *err = errno;
    return 0;
  }
  std::uint64_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd.get(), dst + done, len - done, static_cast<off_t>(done));
    if (n <= 0) {
      *err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<std::uint64_t>(n);
  }
  return done;
}

// The data at [dst_off, dst_off + len) of the buffer, read page by page
// through the direct map at the guest-physical addresses the extents give.
bool physically_equal(const Device& attack, const std::vector<hix_staging_extent>& ext,
                      std::uint64_t dst_off, const std::vector<std::uint8_t>& expected) {
  for (std::uint64_t i = 0; i < expected.size(); i += kPage) {
    std::optional<std::uint64_t> gpa = gpa_of(ext, dst_off + i);
    if (!gpa) return false;
    std::optional<std::vector<std::uint8_t>> page =
        read_phys(attack, hix::kmodtest::PhysRead::direct, *gpa);
    if (!page || std::memcmp(page->data(), expected.data() + i, kPage) != 0) return false;
  }
  return true;
}

// True when a forked child does not have the mapping.
bool child_lacks_mapping(const Device& attack, const std::uint8_t* p) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(virt_to_phys(attack, address_of(p)) ? 1 : 0);
  int wstatus = 0;
  return pid > 0 && ::waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus) &&
         WEXITSTATUS(wstatus) == 0;
}

// Refusals: errno, and no descriptor left behind.
void check_refusals(Report& report, const Device& hix, std::uint64_t cap) {
  std::size_t fds = open_fds();
  report.check("refuse_zero", staging(hix, 0).err == EINVAL);
  report.check("refuse_unaligned",
               staging(hix, kPage + 1).err == EINVAL && staging(hix, kPage / 2).err == EINVAL);
  report.check("refuse_over_cap", staging(hix, cap + kPage).err == EINVAL &&
                                      staging(hix, ~0ull & ~(kPage - 1)).err == EINVAL);
  report.check("refuse_reserved", staging(hix, kPage, Reserved{1}).err == EINVAL &&
                                      staging(hix, kPage, Reserved{1ull << 63}).err == EINVAL);
  // ioctl with a bad pointer: nothing to read the request from.
  report.check("refuse_efault_in",
               ::ioctl(hix.fd(), HIX_IOC_STAGING, nullptr) == -1 && errno == EFAULT);
  report.check("refusals_leave_no_fd", open_fds() == fds);
}

// The answer cannot be written back (a read-only request): EFAULT after the
// allocation, so the buffer must go away again, descriptor and charge too.
void check_efault_out(Report& report, std::uint64_t cap) {
  Device hix(kDevHix);
  void* page = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    report.check("refuse_efault_out", false);
    return;
  }
  auto* req = static_cast<hix_ioc_staging*>(page);
  std::memset(req, 0, sizeof *req);
  req->size = cap;
  ::mprotect(page, kPage, PROT_READ);
  std::size_t fds = open_fds();
  int err = ::ioctl(hix.fd(), HIX_IOC_STAGING, req) == 0 ? 0 : errno;
  report.check("refuse_efault_out", err == EFAULT && open_fds() == fds);
  ::munmap(page, kPage);
  // The whole cap is free again on this file.
  Staging again = staging(hix, cap);
  report.check("efault_out_uncharged", again.err == 0);
}

// The cap is per /dev/hix file and outlives it.
void check_cap(Report& report, const Device& attack, std::uint64_t cap) {
  auto a = std::make_unique<Device>(kDevHix);
  Staging big = staging(*a, cap - 64 * kMiB);
  Staging rest = staging(*a, 64 * kMiB);
  report.check("cap_fills", big.err == 0 && rest.err == 0);
  report.check("cap_full", staging(*a, kPage).err == ENOMEM);
  {
    Device b(kDevHix);
    report.check("cap_per_file", staging(b, 64 * kMiB).err == 0);
  }
  big.fd.reset();
  // Freed: its bytes count no longer.
  Staging after = staging(*a, 64 * kMiB);
  report.check("cap_released", after.err == 0);
  // The /dev/hix file goes; its buffer stays usable, mapped at its extents.
  a.reset();
  std::uint8_t* p =
      rest.err == 0 ? map_buffer(rest.fd, 64 * kMiB, PROT_READ | PROT_WRITE, MAP_SHARED) : nullptr;
  bool ok = p != nullptr && fill_and_check(p, 64 * kMiB) &&
            pages_where_extents_say(attack, p, rest.extents, 64 * kMiB);
  if (p != nullptr) ::munmap(p, 64 * kMiB);
  report.check("outlives_dev_file", ok);
}

// Closing with the mapping in place keeps the pages until the munmap.
void check_close_mapped(Report& report, const Device& hix) {
  constexpr std::uint64_t kSize = 96 * kMiB;
  std::uint64_t before = mem_free();
  Staging s = staging(hix, kSize);
  std::uint8_t* p =
      s.err == 0 ? map_buffer(s.fd, kSize, PROT_READ | PROT_WRITE, MAP_SHARED) : nullptr;
  if (p == nullptr) {
    report.check("close_mapped", false);
    return;
  }
  s.fd.reset();
  bool usable = fill_and_check(p, kSize);
  std::uint64_t mapped = mem_free();
  ::munmap(p, kSize);
  std::uint64_t after = mem_free();
  report.add("memfree_mib", std::to_string(before / kMiB) + "/" + std::to_string(mapped / kMiB) +
                                "/" + std::to_string(after / kMiB));
  report.check("close_mapped", usable && mapped + kSize - 16 * kMiB <= before);
  // Within the per-CPU page lists' slack of where it started.
  report.check("munmap_frees", after + 16 * kMiB >= before);
}

// Allocate, map, touch, unmap and close, many times: more than the guest's
// RAM in total.
void check_loop(Report& report, const Device& hix) {
  bool ok = true;
  for (int i = 0; i < kLoopRounds && ok; ++i) {
    Staging s = staging(hix, kLoopSize);
    std::uint8_t* p =
        s.err == 0 ? map_buffer(s.fd, kLoopSize, PROT_READ | PROT_WRITE, MAP_SHARED) : nullptr;
    ok = p != nullptr && p[0] == 0 && p[kLoopSize - 1] == 0;
    if (p != nullptr) {
      p[0] = 1;
      p[kLoopSize - 1] = 1;
      ::munmap(p, kLoopSize);
    }
  }
  report.check("alloc_free_loop", ok);
}

// Under mlockall (a daemon keeping itself in RAM), a buffer maps, reads back
// and frees like any other: the mapping is VM_SPECIAL (VM_DONTEXPAND), so
// mlock leaves its pages alone (a page still marked mlocked at free would be
// a "Bad page state", which the kernel-log check catches).
void check_mlockall(Report& report, const Device& hix) {
  constexpr std::uint64_t kSize = 8 * kMiB;
  bool locked = ::mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
  Staging s = staging(hix, kSize);
  std::uint8_t* p =
      s.err == 0 ? map_buffer(s.fd, kSize, PROT_READ | PROT_WRITE, MAP_SHARED) : nullptr;
  bool ok = locked && p != nullptr && fill_and_check(p, kSize);
  if (p != nullptr) ::munmap(p, kSize);
  s.fd.reset();
  ::munlockall();
  report.check("mlockall", ok);
}

// Checks of the main buffer, mapped at p (kBufSize bytes).
void check_buffer(Report& report, const Device& attack, const Staging& s, std::uint8_t* p,
                  const char* disk, std::uint64_t seed, std::uint64_t bytes) {
  report.check("reads_zeros", all_zero(p, kBufSize));
  report.check("pages_at_extents", pages_where_extents_say(attack, p, s.extents, kBufSize));
  report.check("write_read_back", fill_and_check(p, kBufSize));
  // What the CPU wrote is at the reported guest-physical address.
  std::optional<std::uint64_t> gpa = gpa_of(s.extents, kBufSize - kPage);
  std::optional<std::vector<std::uint8_t>> last =
      gpa ? read_phys(attack, hix::kmodtest::PhysRead::direct, *gpa) : std::nullopt;
  bool phys_ok = last.has_value();
  for (std::uint64_t i = 0; phys_ok && i < kPage; ++i) {
    phys_ok = (*last)[i] == fill_byte(kBufSize - kPage + i);
  }
  report.check("write_at_gpa", phys_ok);

  // O_DIRECT from the disk straight into the mapping, across a 4 MiB block
  // boundary (the largest block the driver allocates).
  const std::uint64_t dst = kBlock - 2 * kMiB + 3 * kPage;
  int err = 0;
  std::uint64_t got = bytes + dst <= kBufSize ? direct_read(disk, p + dst, bytes, &err) : 0;
  report.add("odirect_bytes", std::to_string(got));
  report.add("odirect_errno", std::to_string(err));
  std::vector<std::uint8_t> expected = pattern_bytes(seed, {.offset = 0, .len = bytes});
  report.check("odirect_read",
               got == bytes && err == 0 && std::memcmp(p + dst, expected.data(), bytes) == 0);
  report.check("odirect_at_gpa",
               got == bytes && physically_equal(attack, s.extents, dst, expected));
  // The pages around the read are untouched.
  report.check("odirect_bounded",
               p[dst - 1] == fill_byte(dst - 1) && p[dst + bytes] == fill_byte(dst + bytes));
}

// O_DIRECT into a fresh buffer whose pages were never touched: the read
// must fault them in through the driver (get_user_pages' slow path, which
// also checks the mapping's flags; with every page already mapped the fast
// path would take them without looking at the mapping).
void check_direct_untouched(Report& report, const Device& hix, const char* disk, std::uint64_t seed,
                            std::uint64_t bytes) {
  const std::uint64_t size = (bytes + kBlock - 1) / kBlock * kBlock;
  Staging s = staging(hix, size);
  std::uint8_t* p =
      s.err == 0 ? map_buffer(s.fd, size, PROT_READ | PROT_WRITE, MAP_SHARED) : nullptr;
  int err = 0;
  std::uint64_t got = p != nullptr ? direct_read(disk, p, bytes, &err) : 0;
  report.add("odirect_untouched_errno", std::to_string(err));
  std::vector<std::uint8_t> expected = pattern_bytes(seed, {.offset = 0, .len = bytes});
  report.check("odirect_untouched", got == bytes && std::memcmp(p, expected.data(), bytes) == 0 &&
                                        all_zero(p + bytes, size - bytes));
  if (p != nullptr) ::munmap(p, size);
}

void check_mapping_rules(Report& report, const Device& attack, const Staging& s,
                         const std::uint8_t* p) {
  report.check("mmap_private_refused", map_errno(s.fd, kBufSize, MAP_PRIVATE) == EINVAL);
  report.check("mmap_too_long_refused",
               map_errno(s.fd, kBufSize + kPage, MAP_SHARED) == EINVAL &&
                   map_errno(s.fd, kPage, MAP_SHARED, kBufSize) == EINVAL &&
                   map_errno(s.fd, 2 * kPage, MAP_SHARED, kBufSize - kPage) == EINVAL);
  // A second mapping at an offset shares the pages.
  std::uint8_t* q = map_buffer(s.fd, kBufSize - kPage, PROT_READ, MAP_SHARED, kPage);
  report.check("mmap_offset", q != nullptr && q[0] == p[kPage] &&
                                  q[kBufSize - 2 * kPage] == p[kBufSize - kPage] &&
                                  virt_to_phys(attack, address_of(q)) ==
                                      virt_to_phys(attack, address_of(p + kPage)));
  if (q != nullptr) ::munmap(q, kBufSize - kPage);
  report.check("fork_not_inherited", child_lacks_mapping(attack, p));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: hix-staging-selftest DISK SEED BYTES\n");
    return 2;
  }
  const char* disk = argv[1];
  const std::uint64_t seed = std::strtoull(argv[2], nullptr, 0);
  const std::uint64_t bytes = std::strtoull(argv[3], nullptr, 0);
  Device hix(kDevHix);
  Device attack(HIX_ATTACK_DEVICE);
  if (!hix.is_open() || !attack.is_open() || bytes == 0 || bytes % kPage != 0) {
    std::fprintf(stderr, "hix-staging-selftest: needs %s, %s and a disk of whole pages\n", kDevHix,
                 HIX_ATTACK_DEVICE);
    return 2;
  }
  Report report("HIX-STAGING-SELFTEST");
  const std::uint64_t cap = cap_bytes();
  report.add("cap_mib", std::to_string(cap / kMiB));
  report.check("cap_default", cap == kDefaultCapMiB * kMiB);

  // The main buffer, on a file without an enclave.
  Staging s = staging(hix, kBufSize);
  report.check("alloc", s.err == 0 && s.fd.get() >= 0 && !s.extents.empty());
  report.add("extents", std::to_string(s.extents.size()));
  std::uint64_t largest = 0;
  for (const hix_staging_extent& e : s.extents) largest = std::max(largest, e.length);
  report.add("largest_extent", hex(largest));
  report.add("first_gpa", s.extents.empty() ? "none" : hex(s.extents[0].gpa));
  report.check("extents_ordered", extents_well_formed(s.extents, kBufSize));
  report.check("extents_in_ram", inside_ram(s.extents));
  // Fresh memory has 4 MiB blocks; every extent holds at least one.
  bool big_blocks = !s.extents.empty();
  for (const hix_staging_extent& e : s.extents) big_blocks = big_blocks && e.length >= kBlock;
  report.check("extents_whole_blocks", big_blocks);

  std::uint8_t* p =
      s.err == 0 ? map_buffer(s.fd, kBufSize, PROT_READ | PROT_WRITE, MAP_SHARED) : nullptr;
  if (!report.check("mmap", p != nullptr)) return report.finish();
  check_buffer(report, attack, s, p, disk, seed, bytes);
  check_mapping_rules(report, attack, s, p);
  check_direct_untouched(report, hix, disk, seed, bytes);
  ::munmap(p, kBufSize);
  s.fd.reset();
  // Freed pages are scrubbed: the first page no longer holds what was
  // written there (zeros, or whatever a new owner put there since).
  std::optional<std::uint64_t> first = gpa_of(s.extents, 0);
  std::optional<std::vector<std::uint8_t>> freed =
      first ? read_phys(attack, hix::kmodtest::PhysRead::direct, *first) : std::nullopt;
  bool residue = true;
  for (std::uint64_t i = 0; freed && i < kPage; ++i)
    residue = residue && (*freed)[i] == fill_byte(i);
  report.check("freed_page_scrubbed", freed && !residue);

  // A file with an enclave makes buffers just the same.
  {
    Device with_enclave(kDevHix);
    report.check("with_enclave",
                 create(with_enclave, {.base = kEnclBase, .size = 16 * kPage}) == 0 &&
                     staging(with_enclave, kBlock).err == 0);
  }

  check_refusals(report, hix, cap);
  check_efault_out(report, cap);
  check_cap(report, attack, cap);
  check_close_mapped(report, hix);
  check_loop(report, hix);
  check_mlockall(report, hix);
  return report.finish();
}
