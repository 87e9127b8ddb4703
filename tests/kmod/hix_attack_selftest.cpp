// hix-attack-selftest: checks hix_attack.ko's primitives on ordinary memory,
// no enclave involved, so that the attack tests built on them can trust what
// they report (tests/attacks/kmod/hix_attack_abi.h).
//
//   hix-attack-selftest                    every check; the PTE rewrite is
//                                          undone by remapping the original
//   hix-attack-selftest --exit-remapped    leaves a rewrite in place and exits
//                                          (the module undoes it at exit_mmap)
//   hix-attack-selftest --close-remapped   closes the device with a rewrite in
//                                          place (undone at file release)
//   hix-attack-selftest --munmap-remapped  munmaps a rewritten page (undone
//                                          before the kernel unmaps it)
//
// Output: one "HIX-ATTACK-SELFTEST key=value ..." line. Exit status: 0 when
// every check passed, 1 when one failed, 2 on a usage or set-up error.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hix/gpu/regs.hpp"
#include "hix_attack_abi.h"
#include "selftest.hpp"

namespace {

using hix::kmodtest::all_equal;
using hix::kmodtest::Device;
using hix::kmodtest::hex;
using hix::kmodtest::kPage;
using hix::kmodtest::read_phys;
using hix::kmodtest::Report;
using hix::kmodtest::virt_to_phys;

constexpr std::uint8_t kMarkedPattern = 0xA5;
constexpr std::uint8_t kUserPattern = 0x3C;
constexpr std::uint8_t kWrittenPattern = 0x7E;
constexpr std::size_t kWriteOffset = 0x100;
constexpr std::size_t kWriteLength = 64;
constexpr std::uint32_t kScratchValue = 0x5EC0DE01u;

// One anonymous page of this process.
class UserPage {
 public:
  UserPage()
      : base_(::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {}
  ~UserPage() { unmap(); }
  UserPage(const UserPage&) = delete;
  UserPage& operator=(const UserPage&) = delete;

  bool ok() const { return base_ != MAP_FAILED; }
  void unmap() {
    if (base_ != MAP_FAILED) ::munmap(base_, kPage);
    base_ = MAP_FAILED;
  }
  // reinterpret_cast: the module's ABI takes addresses as integers.
  std::uint64_t address() const { return reinterpret_cast<std::uintptr_t>(base_); }
  void fill(std::uint8_t value) { std::memset(base_, value, kPage); }
  // What this process reads at the page now, one byte at a time.
  std::vector<std::uint8_t> read() const {
    // volatile: the frame behind this address changes without a store from
    // this program (the module rewrites the PTE), so every byte must be loaded.
    const volatile std::uint8_t* p = static_cast<const volatile std::uint8_t*>(base_);
    std::vector<std::uint8_t> out(kPage);
    for (std::size_t i = 0; i < kPage; ++i) out[i] = p[i];
    return out;
  }

 private:
  void* base_;
};

// The kernel's own answer, from /proc/self/pagemap (PFN in bits 0..54, bit 63
// set when present; root sees real PFNs).
std::optional<std::uint64_t> pagemap_phys(std::uint64_t vaddr) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::uint64_t entry = 0;
  ssize_t n = ::pread(fd, &entry, sizeof entry, static_cast<off_t>(vaddr / kPage * sizeof entry));
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof entry) || (entry >> 63) == 0) return std::nullopt;
  return (entry & ((1ull << 55) - 1)) * kPage + vaddr % kPage;
}

// A physical address, apart from the linear ones it is remapped under.
struct Phys {
  std::uint64_t value;
};

// 0 or the errno; old_phys gets the frame the PTE named before.
int remap(const Device& dev, std::uint64_t vaddr, Phys new_phys, std::uint64_t* old_phys) {
  hix_attack_remap req{};
  req.vaddr = vaddr;
  req.new_phys = new_phys.value;
  int err = dev.call(HIX_ATTACK_REMAP_USER_PAGE, &req);
  if (err == 0 && old_phys != nullptr) *old_phys = req.old_phys;
  return err;
}

// BAR0 of the hix-gpu, from sysfs.
std::optional<std::uint64_t> find_bar0() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/bus/pci/devices", ec)) {
    auto read_hex = [&](const char* name) {
      std::ifstream f(entry.path() / name);
      std::string s;
      f >> s;
      return s.empty() ? 0ull : std::stoull(s, nullptr, 16);
    };
    if (read_hex("vendor") != hix::gpu::kVendorId || read_hex("device") != hix::gpu::kDeviceId) {
      continue;
    }
    return read_hex("resource");  // first line, first field: BAR0's start
  }
  return std::nullopt;
}

void check_mmio(const Device& dev, Report& report) {
  std::optional<std::uint64_t> bar0 = find_bar0();
  if (!bar0 || *bar0 == 0) {
    report.add("mmio", "no-device");
    report.fail();
    return;
  }
  hix_attack_mmio32 id{};
  id.phys = *bar0 + hix::gpu::offset_of(hix::gpu::Reg32::id).value;
  report.add("mmio_id", dev.call(HIX_ATTACK_READ32_IOREMAP, &id) == 0 ? hex(id.value) : "error");

  hix_attack_mmio32 scratch{};
  scratch.phys = *bar0 + hix::gpu::offset_of(hix::gpu::Reg32::scratch).value;
  scratch.value = kScratchValue;
  bool wrote = dev.call(HIX_ATTACK_WRITE32_IOREMAP, &scratch) == 0;
  scratch.value = 0;
  bool read = dev.call(HIX_ATTACK_READ32_IOREMAP, &scratch) == 0;
  report.check("mmio_scratch", wrote && read && scratch.value == kScratchValue);

  // RAM is not MMIO: the module must refuse it rather than ioremap it.
  hix_attack_mmio32 ram{};
  ram.phys = 0x100000;  // 1 MiB: RAM on every PC
  report.check("mmio_ram_refused", dev.call(HIX_ATTACK_READ32_IOREMAP, &ram) == EINVAL);
}

enum class Mode { full, exit_remapped, close_remapped, munmap_remapped };

std::optional<Mode> parse_mode(int argc, char** argv) {
  if (argc == 1) return Mode::full;
  if (argc != 2) return std::nullopt;
  std::string_view arg = argv[1];
  if (arg == "--exit-remapped") return Mode::exit_remapped;
  if (arg == "--close-remapped") return Mode::close_remapped;
  if (arg == "--munmap-remapped") return Mode::munmap_remapped;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Mode> mode = parse_mode(argc, argv);
  if (!mode) {
    std::fprintf(
        stderr,
        "usage: hix-attack-selftest [--exit-remapped|--close-remapped|--munmap-remapped]\n");
    return 2;
  }
  Device dev(HIX_ATTACK_DEVICE);
  if (!dev.is_open()) {
    std::fprintf(stderr, "hix-attack-selftest: %s: %s (is hix_attack.ko loaded?)\n",
                 HIX_ATTACK_DEVICE, std::strerror(errno));
    return 2;
  }
  Report report("HIX-ATTACK-SELFTEST");

  hix_attack_marked_page marked{};
  marked.pattern = kMarkedPattern;
  if (int err = dev.call(HIX_ATTACK_ALLOC_MARKED_PAGE, &marked); err != 0) {
    std::fprintf(stderr, "hix-attack-selftest: ALLOC_MARKED_PAGE: %s\n", std::strerror(err));
    return 2;
  }
  report.add("marked_phys", hex(marked.phys));

  UserPage page;
  if (!page.ok()) {
    std::fprintf(stderr, "hix-attack-selftest: mmap: %s\n", std::strerror(errno));
    return 2;
  }
  page.fill(kUserPattern);  // a private frame of its own, not the zero page
  std::vector<std::uint8_t> original = page.read();
  std::optional<std::uint64_t> user_phys = virt_to_phys(dev, page.address());
  std::optional<std::uint64_t> pm_phys = pagemap_phys(page.address());
  report.add("v2p", user_phys ? hex(*user_phys) : "error");
  report.add("pagemap", pm_phys ? hex(*pm_phys) : "error");
  report.check("v2p_match", user_phys && pm_phys && *user_phys == *pm_phys);
  if (!user_phys) return report.finish();

  if (*mode == Mode::full) {
    std::optional<std::vector<std::uint8_t>> direct =
        read_phys(dev, hix::kmodtest::PhysRead::direct, marked.phys);
    report.check("direct_read", direct && all_equal(*direct, kMarkedPattern));
    std::optional<std::vector<std::uint8_t>> mapped =
        read_phys(dev, hix::kmodtest::PhysRead::fresh_map, marked.phys);
    report.check("map_read", mapped && all_equal(*mapped, kMarkedPattern));

    // A write through the direct map lands in this process's page.
    std::vector<std::uint8_t> patch(kWriteLength, kWrittenPattern);
    hix_attack_phys_rw rw{};
    rw.phys = *user_phys + kWriteOffset;
    rw.len = patch.size();
    rw.user_buf = reinterpret_cast<std::uintptr_t>(patch.data());  // the ABI's integer address
    bool wrote = dev.call(HIX_ATTACK_WRITE_PHYS_DIRECT, &rw) == 0;
    std::memset(original.data() + kWriteOffset, kWrittenPattern, kWriteLength);
    report.check("write_direct", wrote && page.read() == original);
    std::optional<std::vector<std::uint8_t>> back =
        read_phys(dev, hix::kmodtest::PhysRead::direct, *user_phys);
    report.check("read_back", back && *back == original);

    // Out of range: more than a page, crossing a page, not RAM.
    hix_attack_phys_rw bad{};
    bad.phys = marked.phys + 1;
    bad.len = kPage;
    bad.user_buf = rw.user_buf;
    report.check("cross_page_refused", dev.call(HIX_ATTACK_READ_PHYS_DIRECT, &bad) == EINVAL);
  }

  std::uint64_t old_phys = 0;
  int err = remap(dev, page.address(), Phys{marked.phys}, &old_phys);
  report.add("remap", err == 0 ? "ok" : std::strerror(err));
  if (err != 0) {
    report.fail();
    return report.finish();
  }
  report.check("remap_old", old_phys == *user_phys);
  std::vector<std::uint8_t> seen = page.read();
  report.add("remap_read", hex(seen[0]));
  report.check("remap_full", all_equal(seen, kMarkedPattern));
  std::optional<std::uint64_t> after = virt_to_phys(dev, page.address());
  report.check("v2p_after_remap", after && *after == marked.phys);

  switch (*mode) {
    case Mode::full: {
      err = remap(dev, page.address(), Phys{*user_phys}, nullptr);
      report.check("restore_read", err == 0 && page.read() == original);
      std::optional<std::uint64_t> restored = virt_to_phys(dev, page.address());
      report.check("v2p_restored", restored && *restored == *user_phys);
      check_mmio(dev, report);
      break;
    }
    case Mode::exit_remapped:
      report.add("exit_remapped", "1");
      // No destructors: the page stays mapped and the device open, so the
      // mm's teardown at exit meets the rewrite.
      std::_Exit(report.finish());
    case Mode::close_remapped:
      dev.close();
      report.check("close_restore", page.read() == original);
      break;
    case Mode::munmap_remapped:
      page.unmap();
      report.add("munmap_remapped", "1");
      break;
  }
  return report.finish();
}
