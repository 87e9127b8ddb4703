// hix-glock-selftest: HIX_IOC_GLOCK of /dev/hix (docs/specs/hix-isa.md §11,
// §12) without entering an enclave: the driver's refusals (each with status
// 0 and nothing left mapped), the hix-gpu's BAR0 mapped into ELRANGE at its
// GLRANGE, EGLOCK's refusals passed back with the mapping taken back, and the
// lock's life: held against a second enclave, ended by EDESTROY (DESTROY or
// the last close). Needs hix.ko and hix_attack.ko (to see the frames behind
// the mapping).
//
// The checks depend on what the CPU offers (HIX_IOC_INFO): without EGLOCK
// (CPUID ECX bit 6 clear) only ENXIO and EOPNOTSUPP are checked; with EGLOCK advertised
// but answered HIX_ERR_UNSUPPORTED (a shim that predates its implementation)
// the lock's life is not checked. Either way a "HIX-GLOCK-SELFTEST-SKIP
// reason" line says what was left out.
//
// Output: one "HIX-GLOCK-SELFTEST key=value ..." line. Exit status: 0 when
// every check passed, 1 when one failed, 2 on a set-up error.
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "hix/abi/hix_ioctl.h"
#include "hix/abi/hix_isa.h"
#include "hix/gpu/regs.hpp"
#include "hix_attack_abi.h"
#include "selftest.hpp"

namespace {

using hix::kmodtest::add_pages;
using hix::kmodtest::at;
using hix::kmodtest::create;
using hix::kmodtest::Device;
using hix::kmodtest::einit;
using hix::kmodtest::hex;
using hix::kmodtest::kIoResourceIo;
using hix::kmodtest::kIoResourceMem;
using hix::kmodtest::kPage;
using hix::kmodtest::map;
using hix::kmodtest::PciDevice;
using hix::kmodtest::Report;
using hix::kmodtest::tcs_page;
using hix::kmodtest::virt_to_phys;

constexpr const char* kDevHix = "/dev/hix";
// Two ELRANGEs far from anything a static program maps (and from
// hix-driver-selftest's).
constexpr std::uint64_t kBase = 0x320000000000ull;
constexpr std::uint64_t kOtherBase = 0x330000000000ull;
constexpr std::uint64_t kSize = 64 * kPage;

// ELRANGE offsets.
constexpr std::uint64_t kTcsPage = 0;
constexpr std::uint64_t kCodePage = 1 * kPage;
constexpr std::uint64_t kDataPage = 20 * kPage;
constexpr std::uint64_t kBarOffset = 32 * kPage;   // the GLRANGE of BAR0
constexpr std::uint64_t kFreeOffset = 48 * kPage;  // a window nothing uses
// The largest BAR the layout has room for (the hix-gpu's BAR0 is 64 KiB).
constexpr std::uint64_t kMaxBar = 16 * kPage;

// Bus 0xfe, device 31, function 7: nothing in the guest has it.
constexpr std::uint32_t kAbsentBdf = 0xfeffu;
constexpr std::uint32_t kEglockLeaf = 1u << HIX_EGLOCK;

struct GlockResult {
  int err;
  std::uint32_t status;
};

// The BARs GLOCK locks: those in `bar_mask` of device `bdf`.
struct GlockBars {
  std::uint32_t bdf;
  std::uint32_t bar_mask;
};

GlockResult glock(const Device& hix, GlockBars bars,
                  const std::array<std::uint64_t, HIX_NUM_BARS>& offsets,
                  std::uint32_t reserved = 0) {
  hix_ioc_glock req{};
  req.bdf = bars.bdf;
  req.bar_mask = bars.bar_mask;
  for (std::size_t i = 0; i < HIX_NUM_BARS; ++i) req.offsets[i] = offsets[i];
  req.status = 0xFFFFFFFFu;  // the driver must overwrite it
  req.reserved = reserved;
  int err = hix.call(HIX_IOC_GLOCK, &req);
  return {err, req.status};
}

// GLOCK of one BAR at one ELRANGE offset.
GlockResult glock_bar(const Device& hix, std::uint32_t bdf, unsigned bar, std::uint64_t offset,
                      std::uint32_t reserved = 0) {
  std::array<std::uint64_t, HIX_NUM_BARS> offsets{};
  if (bar < HIX_NUM_BARS) offsets[bar] = offset;
  return glock(hix, {.bdf = bdf, .bar_mask = 1u << bar}, offsets, reserved);
}

// Refused by the driver itself: the errno, status 0.
bool refused(const GlockResult& r, int err) {
  return r.err == err && r.status == HIX_OK;
}

// Refused by EGLOCK with the given status.
bool cpu_refused(const GlockResult& r, std::uint32_t status) {
  return r.err == EINVAL && r.status == status;
}

bool locked(const GlockResult& r) {
  return r.err == 0 && r.status == HIX_OK;
}

// CREATE, then a TCS, a code page and a data page.
bool created_enclave(const Device& hix, std::uint64_t base) {
  const std::vector<std::uint8_t> tcs = tcs_page({.entry = kCodePage, .stack = kDataPage + kPage});
  const std::vector<std::uint8_t> code(kPage, 0xCC);  // int3: never run here
  const std::vector<std::uint8_t> data(kPage, 0x5A);
  return create(hix, {.base = base, .size = kSize}) == 0 &&
         add_pages(hix, kTcsPage, tcs, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS).count == 1 &&
         add_pages(hix, kCodePage, code, HIX_PAGE_R | HIX_PAGE_X).count == 1 &&
         add_pages(hix, kDataPage, data, HIX_PAGE_R | HIX_PAGE_W).count == 1;
}

// ... and EINIT: an enclave GLOCK takes.
bool initialised_enclave(const Device& hix, std::uint64_t base) {
  std::uint32_t status = 0;
  return created_enclave(hix, base) && einit(hix, &status) == 0 && status == HIX_OK;
}

// [address, address + len) of this process's linear addresses.
struct LinearRange {
  std::uint64_t address;
  std::uint64_t len;
};

// Whether this process maps `range` to the frames from phys on.
bool maps_frames(const Device& attack, LinearRange range, std::uint64_t phys) {
  const std::uint64_t address = range.address;
  const std::uint64_t len = range.len;
  for (std::uint64_t off = 0; off < len; off += kPage) {
    std::optional<std::uint64_t> got = virt_to_phys(attack, address + off);
    if (!got || *got != phys + off) return false;
  }
  return true;
}

// Whether this process maps nothing in `range`.
bool maps_nothing(const Device& attack, LinearRange range) {
  const std::uint64_t address = range.address;
  const std::uint64_t len = range.len;
  for (std::uint64_t off = 0; off < len; off += kPage) {
    if (virt_to_phys(attack, address + off)) return false;
  }
  return true;
}

// One BAR of one device.
struct Bar {
  std::uint32_t bdf;
  unsigned index;
  std::uint64_t start;
  std::uint64_t size;
};

// The first BAR, on a device other than skip_bdf, whose flags have `flag`
// and, for memory BARs, that the layout can map.
std::optional<Bar> find_bar(const std::vector<PciDevice>& devices, std::uint64_t flag,
                            std::uint32_t skip_bdf) {
  for (const PciDevice& d : devices) {
    if (d.bdf == skip_bdf) continue;
    for (unsigned i = 0; i < HIX_NUM_BARS; ++i) {
      const auto& r = d.bars[i];
      if ((r.flags & flag) == 0 || r.size() == 0) continue;
      if (flag == kIoResourceMem &&
          (r.start % kPage != 0 || r.size() % kPage != 0 || r.size() > kMaxBar)) {
        continue;
      }
      return Bar{d.bdf, i, r.start, r.size()};
    }
  }
  return std::nullopt;
}

void skip(const std::string& reason) {
  std::printf("HIX-GLOCK-SELFTEST-SKIP %s\n", reason.c_str());
}

struct Setup {
  Bar gpu;                 // the hix-gpu's BAR0
  std::optional<Bar> mem;  // a memory BAR of another device
  std::optional<Bar> io;   // an I/O BAR of any device
};

// The driver's own refusals, before and after EINIT, on file `a` with its
// ELRANGE mapped: each leaves status 0 and nothing mapped.
void check_refusals(Report& report, const Device& attack, const Setup& s) {
  Device a(kDevHix);
  report.check("enxio_before_create", refused(glock_bar(a, s.gpu.bdf, 0, kBarOffset), ENXIO));
  report.check("create", created_enclave(a, kBase));
  report.check("enxio_before_init", refused(glock_bar(a, s.gpu.bdf, 0, kBarOffset), ENXIO));
  std::uint32_t status = 0;
  report.check("init", einit(a, &status) == 0 && status == HIX_OK);
  void* elrange = nullptr;
  if (!report.check("mmap", map(a, kBase, kSize, MAP_SHARED, 0, &elrange) == 0)) return;

  const std::array<std::uint64_t, HIX_NUM_BARS> none{};
  report.check("mask_empty", refused(glock(a, {.bdf = s.gpu.bdf, .bar_mask = 0}, none), EINVAL));
  report.check("mask_beyond_bar5",
               refused(glock(a, {.bdf = s.gpu.bdf, .bar_mask = 1u << HIX_NUM_BARS}, none), EINVAL));
  report.check("reserved_set", refused(glock_bar(a, s.gpu.bdf, 0, kBarOffset, 1), EINVAL));
  report.check("bdf_beyond_16_bits",
               refused(glock_bar(a, 0x10000u | s.gpu.bdf, 0, kBarOffset), EINVAL));
  report.check("enodev", refused(glock_bar(a, kAbsentBdf, 0, kBarOffset), ENODEV));
  // The hix-gpu has BAR0 only.
  report.check("bar_unassigned", refused(glock_bar(a, s.gpu.bdf, 1, kBarOffset), EINVAL));
  if (s.io) {
    report.add("io_bar", hex(s.io->bdf) + "/" + std::to_string(s.io->index));
    report.check("bar_io", refused(glock_bar(a, s.io->bdf, s.io->index, kBarOffset), EINVAL));
  }
  report.check("offset_unaligned",
               refused(glock_bar(a, s.gpu.bdf, 0, kBarOffset + kPage / 2), EINVAL));
  // BAR0 from a page before the data page on: over an added page.
  report.check("overlap_added_page",
               refused(glock_bar(a, s.gpu.bdf, 0, kDataPage - kPage), EINVAL));
  report.check("outside_elrange", refused(glock_bar(a, s.gpu.bdf, 0, kSize - kPage), EINVAL) &&
                                      refused(glock_bar(a, s.gpu.bdf, 0, kSize), EINVAL) &&
                                      refused(glock_bar(a, s.gpu.bdf, 0, 1ull << 62), EINVAL));
  // Nothing but the added pages is mapped after all that.
  report.check("refusals_map_nothing",
               maps_nothing(attack, {.address = kBase + 2 * kPage, .len = kDataPage - 2 * kPage}) &&
                   maps_nothing(attack, {.address = kBase + kDataPage + kPage,
                                         .len = kSize - kDataPage - kPage}) &&
                   virt_to_phys(attack, kBase + kDataPage).has_value());
  ::munmap(elrange, kSize);
}

// A volatile 32-bit read of a device register through the ELRANGE mapping.
std::uint32_t read_register(std::uint64_t address) {
  // volatile: an MMIO register (or the platform's abort page), not memory.
  return *static_cast<const volatile std::uint32_t*>(at(address));
}

// The lock's life, with EGLOCK implemented.
void check_lock_life(Report& report, const Device& attack, const Setup& s, Device& a, void* a_map) {
  const std::uint64_t bar_len = s.gpu.size;
  report.check("lock_mapped",
               maps_frames(attack, {.address = kBase + kBarOffset, .len = bar_len}, s.gpu.start));
  report.check("lock_maps_only_the_bar",
               maps_nothing(attack, {.address = kBase + kBarOffset - kPage, .len = kPage}) &&
                   maps_nothing(attack, {.address = kBase + kBarOffset + bar_len, .len = kPage}));
  // What the owner reads from outside enclave mode (§13: abort-page
  // semantics once the shim checks locked BARs); reported, not checked.
  report.add(
      "bar_read_outside_enclave",
      hex(read_register(kBase + kBarOffset + hix::gpu::offset_of(hix::gpu::Reg32::id).value)));

  // Another device's BAR over the locked range: the driver refuses.
  if (s.mem) {
    report.add("other_bar", hex(s.mem->bdf) + "/" + std::to_string(s.mem->index));
    report.check("overlap_locked_range",
                 refused(glock_bar(a, s.mem->bdf, s.mem->index, kBarOffset + kPage), EINVAL));
    // A device the platform cannot lock: the CPU refuses, the mapping goes.
    GlockResult other = glock_bar(a, s.mem->bdf, s.mem->index, kFreeOffset);
    report.check("other_device_refused",
                 cpu_refused(other, HIX_ERR_NO_DEVICE) &&
                     maps_nothing(attack, {.address = kBase + kFreeOffset, .len = s.mem->size}));
  }
  // The owner locking its device again, at a free range.
  report.check("relock_by_owner_refused",
               cpu_refused(glock_bar(a, s.gpu.bdf, 0, kFreeOffset), HIX_ERR_DEVICE_LOCKED) &&
                   maps_nothing(attack, {.address = kBase + kFreeOffset, .len = bar_len}));

  // A second enclave cannot take the device, mapped or not.
  Device b(kDevHix);
  void* b_map = nullptr;
  report.check("enclave_b", initialised_enclave(b, kOtherBase) &&
                                map(b, kOtherBase, kSize, MAP_SHARED, 0, &b_map) == 0);
  GlockResult second = glock_bar(b, s.gpu.bdf, 0, kBarOffset);
  report.add("second_status", std::to_string(second.status));
  report.check("second_lock_refused", cpu_refused(second, HIX_ERR_DEVICE_LOCKED));
  report.check("refused_unmapped",
               maps_nothing(attack, {.address = kOtherBase + kBarOffset, .len = bar_len}));
  ::munmap(b_map, kSize);
  second = glock_bar(b, s.gpu.bdf, 0, kBarOffset);
  report.check("refused_not_recorded",
               cpu_refused(second, HIX_ERR_DEVICE_LOCKED) &&
                   map(b, kOtherBase, kSize, MAP_SHARED, 0, &b_map) == 0 &&
                   maps_nothing(attack, {.address = kOtherBase + kBarOffset, .len = bar_len}));
  ::munmap(b_map, kSize);

  // DESTROY ends the lock; a new enclave on the same file locks the device
  // again before its mmap, and the mmap maps the BAR.
  report.check("destroy_while_mapped", a.call(HIX_IOC_DESTROY) == EBUSY);
  ::munmap(a_map, kSize);
  report.check("destroy", a.call(HIX_IOC_DESTROY) == 0);
  report.check("enclave_again", initialised_enclave(a, kBase));
  report.check("relock_after_destroy", locked(glock_bar(a, s.gpu.bdf, 0, kBarOffset)));
  report.check(
      "mmap_maps_locked_bar",
      map(a, kBase, kSize, MAP_SHARED, 0, &a_map) == 0 &&
          maps_frames(attack, {.address = kBase + kBarOffset, .len = bar_len}, s.gpu.start));

  // Closing the owner's file (then its last munmap) ends the lock too.
  a.close();
  report.check("locked_while_mapped",
               cpu_refused(glock_bar(b, s.gpu.bdf, 0, kBarOffset), HIX_ERR_DEVICE_LOCKED));
  ::munmap(a_map, kSize);
  report.check("release_unlocks", locked(glock_bar(b, s.gpu.bdf, 0, kBarOffset)));
}

}  // namespace

int main() {
  Device hix(kDevHix);
  Device attack(HIX_ATTACK_DEVICE);
  if (!hix.is_open() || !attack.is_open()) {
    std::fprintf(stderr, "hix-glock-selftest: needs %s and %s (load hix.ko and hix_attack.ko)\n",
                 kDevHix, HIX_ATTACK_DEVICE);
    return 2;
  }
  const std::vector<PciDevice> devices = hix::kmodtest::pci_devices();
  std::optional<Setup> setup;
  for (const PciDevice& d : devices) {
    const auto& bar0 = d.bars[0];
    if (d.vendor == hix::gpu::kVendorId && d.device == hix::gpu::kDeviceId &&
        (bar0.flags & kIoResourceMem) != 0 && bar0.size() >= 2 * kPage && bar0.size() <= kMaxBar &&
        d.bars[1].size() == 0) {
      setup = Setup{Bar{d.bdf, 0, bar0.start, bar0.size()}, std::nullopt, std::nullopt};
    }
  }
  if (!setup) {
    std::fprintf(stderr,
                 "hix-glock-selftest: no hix-gpu with a 8..64 KiB memory BAR0 and no BAR1\n");
    return 2;
  }
  for (const PciDevice& d : devices) {
    if (d.bdf == kAbsentBdf) {
      std::fprintf(stderr, "hix-glock-selftest: a device has the BDF meant to be absent\n");
      return 2;
    }
  }
  setup->mem = find_bar(devices, kIoResourceMem, setup->gpu.bdf);
  setup->io = find_bar(devices, kIoResourceIo, setup->gpu.bdf);

  Report report("HIX-GLOCK-SELFTEST");
  hix_ioc_info info{};
  report.check("info", hix.call(HIX_IOC_INFO, &info) == 0);
  report.add("isa", hex(info.isa_version));
  report.add("encls", hex(info.encls_leaves));
  report.add("gpu", hex(setup->gpu.bdf));
  report.add("bar0", hex(setup->gpu.start));
  report.add("bar0_size", hex(setup->gpu.size));

  if ((info.encls_leaves & kEglockLeaf) == 0) {
    // ISA 1.0: no EGLOCK, so HIX_IOC_GLOCK of an initialised enclave fails
    // (ENXIO before, as every ioctl without an enclave).
    Device f(kDevHix);
    report.check("enxio_before_create",
                 refused(glock_bar(f, setup->gpu.bdf, 0, kBarOffset), ENXIO));
    report.check("init", initialised_enclave(f, kBase));
    report.check("eopnotsupp", refused(glock_bar(f, setup->gpu.bdf, 0, kBarOffset), EOPNOTSUPP));
    skip("the CPU lacks EGLOCK (HIX_IOC_INFO encls=" + hex(info.encls_leaves) +
         ", bit 6 clear): HIX_IOC_GLOCK's checks and the lock need HIX ISA 1.1");
    report.add("error_paths", "skipped");
    report.add("success_path", "skipped");
    return report.finish();
  }
  report.add("error_paths", "run");
  check_refusals(report, attack, *setup);

  // The lock, from an initialised enclave whose ELRANGE is mapped.
  Device a(kDevHix);
  void* a_map = nullptr;
  report.check("enclave_a",
               initialised_enclave(a, kBase) && map(a, kBase, kSize, MAP_SHARED, 0, &a_map) == 0);
  GlockResult first = glock_bar(a, setup->gpu.bdf, 0, kBarOffset);
  report.add("lock_err", std::to_string(first.err));
  report.add("lock_status", std::to_string(first.status));
  if (cpu_refused(first, HIX_ERR_UNSUPPORTED)) {
    // The CPU advertises EGLOCK but does not implement it: the refusal path
    // can be checked, the lock cannot.
    report.check("refused_unmapped",
                 maps_nothing(attack, {.address = kBase + kBarOffset, .len = setup->gpu.size}));
    skip("the CPU advertises EGLOCK (HIX_IOC_INFO encls=" + hex(info.encls_leaves) +
         ") but answers it with HIX_ERR_UNSUPPORTED: the shim's EGLOCK is not implemented, so "
         "the lock itself (status 0, HIX_ERR_DEVICE_LOCKED for a second enclave, relock after "
         "DESTROY) was not checked");
    report.add("success_path", "skipped");
    ::munmap(a_map, kSize);
    return report.finish();
  }
  report.add("success_path", "run");
  if (report.check("lock", locked(first))) {
    check_lock_life(report, attack, *setup, a, a_map);
  }
  return report.finish();
}
