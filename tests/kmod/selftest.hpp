// Shared by the guest self-test programs of tests/kmod: the one-line
// key=value report the VM tests parse, /dev/hix-attack, /dev/hix and the PCI
// devices in sysfs.
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hix/abi/hix_ioctl.h"
#include "hix/abi/hix_isa.h"
#include "hix_attack_abi.h"

namespace hix::kmodtest {

inline constexpr std::size_t kPage = 4096;

inline std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// The key=value pairs of the one output line, in order.
class Report {
 public:
  explicit Report(std::string_view tag) : line_(tag) {}

  void add(std::string_view key, std::string_view value) {
    line_ += ' ';
    line_ += key;
    line_ += '=';
    line_ += value;
  }
  // A check: key=ok or key=bad.
  bool check(std::string_view key, bool ok) {
    add(key, ok ? "ok" : "bad");
    if (!ok) failed_ = true;
    return ok;
  }
  void fail() { failed_ = true; }
  // Prints the line; the exit status: 0 when every check passed.
  int finish() {
    add("result", failed_ ? "fail" : "pass");
    std::printf("%s\n", line_.c_str());
    std::fflush(stdout);
    return failed_ ? 1 : 0;
  }

 private:
  std::string line_;
  bool failed_ = false;
};

// An open device file; ioctls return 0 or the errno.
class Device {
 public:
  explicit Device(const char* path) : fd_(::open(path, O_RDWR | O_CLOEXEC)) {}
  ~Device() { close(); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  template <typename Arg>
  int call(unsigned long request, Arg* arg) const {
    return ::ioctl(fd_, request, arg) == 0 ? 0 : errno;
  }
  int call(unsigned long request) const { return ::ioctl(fd_, request, 0) == 0 ? 0 : errno; }

 private:
  int fd_;
};

inline bool all_equal(const std::vector<std::uint8_t>& bytes, std::uint8_t value) {
  for (std::uint8_t b : bytes) {
    if (b != value) return false;
  }
  return true;
}

// How /dev/hix-attack reads a physical page: through the kernel's direct
// map, or through a fresh mapping of the same frame.
enum class PhysRead : unsigned long {
  direct = HIX_ATTACK_READ_PHYS_DIRECT,
  fresh_map = HIX_ATTACK_READ_PHYS_MAP,
};

// A page of physical memory read through /dev/hix-attack.
inline std::optional<std::vector<std::uint8_t>> read_phys(const Device& attack, PhysRead how,
                                                          std::uint64_t phys) {
  std::vector<std::uint8_t> buf(kPage);
  hix_attack_phys_rw rw{};
  rw.phys = phys;
  rw.len = kPage;
  rw.user_buf = reinterpret_cast<std::uintptr_t>(buf.data());  // the ABI's integer address
  if (attack.call(static_cast<unsigned long>(how), &rw) != 0) return std::nullopt;
  return buf;
}

// The frame the caller's page tables map vaddr to, through /dev/hix-attack.
inline std::optional<std::uint64_t> virt_to_phys(const Device& attack, std::uint64_t vaddr) {
  hix_attack_virt_to_phys req{};
  req.vaddr = vaddr;
  if (attack.call(HIX_ATTACK_VIRT_TO_PHYS, &req) != 0) return std::nullopt;
  return req.phys;
}

// ---- /dev/hix -------------------------------------------------------------

struct AddResult {
  int err;
  std::uint32_t status;
  std::uint64_t count;
};

// HIX_IOC_ADD_PAGES of src at ELRANGE offset; src_address overrides the
// buffer's address (0: src itself).
inline AddResult add_pages(const Device& hix, std::uint64_t offset,
                           const std::vector<std::uint8_t>& src, std::uint64_t flags,
                           std::uint32_t options = HIX_IOC_MEASURE, std::uint64_t src_address = 0) {
  hix_ioc_add_pages req{};
  // reinterpret_cast: the ABI carries user addresses as integers.
  req.src = src_address != 0 ? src_address : reinterpret_cast<std::uintptr_t>(src.data());
  req.offset = offset;
  req.length = src.size();
  req.flags = flags;
  req.options = options;
  req.status = 0xFFFFFFFFu;  // the driver must overwrite both
  req.count = ~0ull;
  int err = hix.call(HIX_IOC_ADD_PAGES, &req);
  return {err, req.status, req.count};
}

// An enclave's ELRANGE: `size` bytes of linear addresses from `base`.
struct Elrange {
  std::uint64_t base;
  std::uint64_t size;
};

inline int create(const Device& hix, Elrange range) {
  hix_ioc_create req{};
  req.base = range.base;
  req.size = range.size;
  return hix.call(HIX_IOC_CREATE, &req);
}

// 0 or the errno; status gets EINIT's.
inline int einit(const Device& hix, std::uint32_t* status) {
  hix_ioc_init req{};
  req.status = 0xFFFFFFFFu;
  int err = hix.call(HIX_IOC_INIT, &req);
  *status = req.status;
  return err;
}

// The ELRANGE offsets a TCS names: where a thread enters and its stack.
struct TcsOffsets {
  std::uint64_t entry;
  std::uint64_t stack;
};

// A TCS page with the given entry and stack.
inline std::vector<std::uint8_t> tcs_page(TcsOffsets at) {
  hix_tcs tcs{};
  tcs.entry = at.entry;
  tcs.stack = at.stack;
  std::vector<std::uint8_t> page(kPage);
  std::memcpy(page.data(), &tcs, sizeof tcs);
  return page;
}

// A linear address as the pointer mmap and mremap take.
inline void* at(std::uint64_t address) {
  // reinterpret_cast: ELRANGE is chosen as a number, the syscalls take pointers.
  return reinterpret_cast<void*>(address);  // NOLINT(performance-no-int-to-ptr)
}

// mmap of the device at base; the errno, 0 on success (then *out is set).
inline int map(const Device& hix, std::uint64_t base, std::uint64_t size, int flags, off_t offset,
               void** out) {
  void* got = ::mmap(at(base), size, PROT_READ | PROT_WRITE | PROT_EXEC,
                     flags | MAP_FIXED_NOREPLACE, hix.fd(), offset);
  if (got == MAP_FAILED) return errno;
  *out = got;
  return 0;
}

// ---- PCI devices in sysfs ----------------------------------------------------

inline constexpr std::uint64_t kIoResourceIo = 0x100;   // IORESOURCE_IO
inline constexpr std::uint64_t kIoResourceMem = 0x200;  // IORESOURCE_MEM

struct PciResource {
  std::uint64_t start = 0;
  std::uint64_t end = 0;  // inclusive; 0 with start 0 when unassigned
  std::uint64_t flags = 0;
  std::uint64_t size() const { return start == 0 && end == 0 ? 0 : end - start + 1; }
};

struct PciDevice {
  std::uint32_t bdf = 0;  // bus << 8 | device << 3 | function, segment 0
  std::uint16_t vendor = 0;
  std::uint16_t device = 0;
  std::array<PciResource, HIX_NUM_BARS> bars{};
};

// Every PCI device of segment 0, from /sys/bus/pci/devices.
inline std::vector<PciDevice> pci_devices() {
  namespace fs = std::filesystem;
  std::vector<PciDevice> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/bus/pci/devices", ec)) {
    unsigned seg = 0, bus = 0, dev = 0, fn = 0;
    if (std::sscanf(entry.path().filename().c_str(), "%x:%x:%x.%x", &seg, &bus, &dev, &fn) != 4 ||
        seg != 0) {
      continue;
    }
    auto read_hex = [&](const char* name) {
      std::ifstream f(entry.path() / name);
      std::string s;
      f >> s;
      return s.empty() ? 0ull : std::stoull(s, nullptr, 16);
    };
    PciDevice d;
    d.bdf = bus << 8 | dev << 3 | fn;
    d.vendor = static_cast<std::uint16_t>(read_hex("vendor"));
    d.device = static_cast<std::uint16_t>(read_hex("device"));
    // resource: one "start end flags" line per resource, BARs first.
    std::ifstream res(entry.path() / "resource");
    for (PciResource& bar : d.bars) {
      std::string start, end, flags;
      if (!(res >> start >> end >> flags)) break;
      bar.start = std::stoull(start, nullptr, 16);
      bar.end = std::stoull(end, nullptr, 16);
      bar.flags = std::stoull(flags, nullptr, 16);
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace hix::kmodtest
