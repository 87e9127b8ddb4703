// Shared by the platform attackers (tests/attacks/platform/*.cpp, issue 17):
// the paths around the EPC check that docs/specs/hix-isa.md §16 closes.
//
// Every attacker prints lines of the form
//   ATTACK property=NAME path=PATH outcome=succeeded|blocked|refused [key=value...]
// "succeeded": the attack reached its goal (a secret read from or left in
// memory the platform should have protected or scrubbed, a CPU feature or
// mode the platform should not offer); "blocked": it did not; "refused": the
// path was unavailable for a reason unrelated to HIX (reported with why).
// Attackers exit 0 when they ran; the verifier decides what is required.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "hix/abi/hix_isa.h"
#include "hix_attack_abi.h"

namespace hix::platform {

[[noreturn]] inline void fail(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "attack setup failed: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(2);
}

// The verdict line's fixed fields: the property attacked, the path tried and
// its outcome ("succeeded", "blocked", "refused").
struct Verdict {
  const char* property;
  const char* path;
  const char* outcome;
};

inline void report(const Verdict& v, const char* extra_fmt, ...) {
  char extra[768] = "";
  std::va_list ap;
  va_start(ap, extra_fmt);
  std::vsnprintf(extra, sizeof extra, extra_fmt, ap);
  va_end(ap);
  std::printf("ATTACK property=%s path=%s outcome=%s %s\n", v.property, v.path, v.outcome, extra);
  std::fflush(stdout);
}

// Runs the caller on one CPU only: per-CPU state (an MSR, the CPU an enclave
// runs on) read back by a later ioctl must come from the same CPU.
inline void pin(std::size_t cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) fail("sched_setaffinity(%zu)", cpu);
}

inline void sleep_ms(long ms) {
  const timespec t{ms / 1000, (ms % 1000) * 1'000'000};
  nanosleep(&t, nullptr);
}

// Every movable interrupt to `cpu` (per-CPU ones stay): a CPU inside an
// enclave holds its interrupts, so the others must take them.
inline void route_interrupts_to(std::size_t cpu) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/irq", ec)) {
    if (!e.is_directory(ec)) continue;
    std::ofstream f(e.path() / "smp_affinity_list");
    f << cpu;
  }
}

inline const char* outcome(bool succeeded) {
  return succeeded ? "succeeded" : "blocked";
}
inline const char* yes_no(bool b) {
  return b ? "yes" : "no";
}

using Page = std::array<std::uint8_t, HIX_PAGE_SIZE>;
using Secret = std::array<std::uint8_t, 64>;

inline Secret random_secret() {
  Secret s{};
  if (getrandom(s.data(), s.size(), 0) != static_cast<ssize_t>(s.size())) fail("getrandom");
  s[0] |= 1;  // never all zeros (a scrub) or all-ones (an abort page)
  return s;
}

inline bool contains(std::span<const std::uint8_t> data, const Secret& s) {
  return std::search(data.begin(), data.end(), s.begin(), s.end()) != data.end();
}

inline const char* describe(std::span<const std::uint8_t> data, const Secret& s) {
  if (contains(data, s)) return "secret";
  if (std::all_of(data.begin(), data.end(), [](std::uint8_t b) { return b == 0; })) return "zeros";
  if (std::all_of(data.begin(), data.end(), [](std::uint8_t b) { return b == 0xFF; })) {
    return "all-ones";
  }
  return "other";
}

// /dev/hix-attack (tests/attacks/kmod), loaded on first use.
class AttackDevice {
 public:
  AttackDevice() {
    fd_ = ::open(HIX_ATTACK_DEVICE, O_RDWR);
    if (fd_ < 0) {
      if (std::system("insmod /lib/modules/openhix-test/hix_attack.ko") != 0) {
        fail("insmod hix_attack.ko");
      }
      fd_ = ::open(HIX_ATTACK_DEVICE, O_RDWR);
    }
    if (fd_ < 0) fail("%s: %s", HIX_ATTACK_DEVICE, std::strerror(errno));
  }
  ~AttackDevice() { ::close(fd_); }
  AttackDevice(const AttackDevice&) = delete;
  AttackDevice& operator=(const AttackDevice&) = delete;

  // 0 on success, else errno.
  int call(unsigned long request, void* arg) { return ::ioctl(fd_, request, arg) == 0 ? 0 : errno; }

  // Physical memory, RAM through the direct map, anything else through
  // ioremap; 0 or errno.
  int read_phys(std::uint64_t phys, std::span<std::uint8_t> out) {
    // reinterpret_cast: the ioctl ABI carries user pointers as integers.
    hix_attack_phys_rw req{phys, out.size(), reinterpret_cast<std::uint64_t>(out.data())};
    if (call(HIX_ATTACK_READ_PHYS_DIRECT, &req) == 0) return 0;
    return call(HIX_ATTACK_READ_PHYS_IO, &req);
  }
  int write_phys(std::uint64_t phys, std::span<const std::uint8_t> in) {
    // reinterpret_cast: as above; the module only reads the buffer.
    hix_attack_phys_rw req{phys, in.size(), reinterpret_cast<std::uint64_t>(in.data())};
    if (call(HIX_ATTACK_WRITE_PHYS_DIRECT, &req) == 0) return 0;
    return call(HIX_ATTACK_WRITE_PHYS_IO, &req);
  }
  std::uint64_t block(unsigned order) {
    hix_attack_block req{order, 0, 0};
    if (const int e = call(HIX_ATTACK_ALLOC_BLOCK, &req); e != 0)
      fail("ALLOC_BLOCK: %s", strerror(e));
    return req.phys;
  }
  // ENCLS from the kernel; returns the status (RAX), or fails the setup.
  std::uint32_t encls(hix_attack_encls req) {
    if (const int e = call(HIX_ATTACK_ENCLS, &req); e != 0) fail("ENCLS: %s", strerror(e));
    return req.status;
  }

 private:
  int fd_ = -1;
};

// An enclave the attacker's kernel builds itself (a malicious OS needs no
// hix.ko): a SECS and one page holding `secret`, at physical pages of its
// choosing. Never initialised (EINIT needs a TCS): the attacks below are on
// the platform's handling of EPC, not on running code.
struct RawEnclave {
  static constexpr std::uint64_t kBase = 0x40000000;
  static constexpr std::uint64_t kSize = 0x10000;

  AttackDevice& dev;
  std::uint64_t secs = 0;
  std::uint64_t page = 0;
  std::uint32_t create_status = 0;
  std::uint32_t add_status = 0;
  bool alive = false;

  // The physical pages the attacker picks: the SECS and the page of `secret`.
  struct Pages {
    std::uint64_t secs_pa;
    std::uint64_t page_pa;
  };

  // `secret` lies at `secret_offset` in its page.
  RawEnclave(AttackDevice& d, Pages at, const Secret& secret, std::size_t secret_offset = 0)
      : dev(d), secs(at.secs_pa), page(at.page_pa) {
    if (secret_offset > HIX_PAGE_SIZE - secret.size()) fail("secret offset %zu", secret_offset);
    create_status = dev.encls({HIX_ECREATE, 0, secs, 0, kBase, kSize, 0});
    if (create_status != HIX_OK) return;
    alive = true;
    Page contents{};
    std::copy(secret.begin(), secret.end(),
              contents.begin() + static_cast<std::ptrdiff_t>(secret_offset));
    // reinterpret_cast: the ioctl ABI carries user pointers as integers.
    add_status = dev.encls({HIX_EADD, 0, page, secs, kBase + HIX_PAGE_SIZE,
                            HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_REG,
                            reinterpret_cast<std::uint64_t>(contents.data())});
  }
  // EDESTROY: the platform zeroes every page of the enclave (spec §2.1).
  std::uint32_t destroy() {
    if (!alive) return HIX_ERR_BAD_SECS;
    alive = false;
    return dev.encls({HIX_EDESTROY, 0, 0, secs, 0, 0, 0});
  }
  ~RawEnclave() { destroy(); }
  RawEnclave(const RawEnclave&) = delete;
  RawEnclave& operator=(const RawEnclave&) = delete;
};

// A PCI function's configuration space through sysfs (CF8/CFC underneath
// for offsets below 256, QEMU's one config-write path).
class Config {
 public:
  explicit Config(const char* bdf) : path_(std::string("/sys/bus/pci/devices/") + bdf + "/config") {
    fd_ = ::open(path_.c_str(), O_RDWR);
    if (fd_ < 0) fail("%s: %s", path_.c_str(), std::strerror(errno));
  }
  ~Config() { ::close(fd_); }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  template <typename T>
  T read(std::uint32_t off) const {
    T v{};
    if (::pread(fd_, &v, sizeof v, off) != static_cast<ssize_t>(sizeof v))
      fail("read %s", path_.c_str());
    return v;
  }
  template <typename T>
  void write(std::uint32_t off, T v) const {
    if (::pwrite(fd_, &v, sizeof v, off) != static_cast<ssize_t>(sizeof v)) {
      fail("write %s", path_.c_str());
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// The q35 chipset functions (docs/specs/hix-isa.md §16.2).
inline constexpr const char* kMch = "0000:00:00.0";
inline constexpr const char* kLpc = "0000:00:1f.0";

}  // namespace hix::platform
