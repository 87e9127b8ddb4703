// hix-driver-selftest: /dev/hix's rules (docs/specs/hix-isa.md §11) on a
// platform with HIX, without entering an enclave (the SDK's tests do that):
// argument checks, the errors of each state, the ENCLS statuses passed back,
// the ELRANGE mapping, and pages returned to the kernel after EDESTROY.
// Needs hix.ko and hix_attack.ko (to see the physical pages behind the
// mapping).
//
// Output: one "HIX-DRIVER-SELFTEST key=value ..." line. Exit status: 0 when
// every check passed, 1 when one failed, 2 on a set-up error.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "hix/abi/hix_ioctl.h"
#include "hix/abi/hix_isa.h"
#include "hix_attack_abi.h"
#include "selftest.hpp"

namespace {

using hix::kmodtest::add_pages;
using hix::kmodtest::AddResult;
using hix::kmodtest::all_equal;
using hix::kmodtest::at;
using hix::kmodtest::create;
using hix::kmodtest::Device;
using hix::kmodtest::einit;
using hix::kmodtest::hex;
using hix::kmodtest::kPage;
using hix::kmodtest::map;
using hix::kmodtest::read_phys;
using hix::kmodtest::Report;
using hix::kmodtest::virt_to_phys;

constexpr const char* kDevHix = "/dev/hix";
// Two ELRANGEs far from anything a static program maps.
constexpr std::uint64_t kBase = 0x300000000000ull;
constexpr std::uint64_t kSize = 16 * kPage;
constexpr std::uint64_t kOtherBase = 0x310000000000ull;
constexpr std::uint8_t kDataPattern = 0x5A;

// Page offsets in ELRANGE.
constexpr std::uint64_t kTcsPage = 0;
constexpr std::uint64_t kCodePage = 1 * kPage;
constexpr std::uint64_t kDataPage = 2 * kPage;
constexpr std::uint64_t kLatePage = 3 * kPage;    // added after the mmap
constexpr std::uint64_t kAbsentPage = 5 * kPage;  // never added

bool refused(const AddResult& r, int err, std::uint32_t status) {
  return r.err == err && r.status == status && r.count == 0;
}

std::vector<std::uint8_t> tcs_page() {
  return hix::kmodtest::tcs_page({.entry = kCodePage, .stack = kLatePage + kPage});
}

std::vector<std::uint8_t> read_user(std::uint64_t address) {
  // volatile: enclave memory read from outside is answered by the platform,
  // not by anything this program stored; every byte must be loaded.
  const volatile std::uint8_t* p = static_cast<const volatile std::uint8_t*>(at(address));
  std::vector<std::uint8_t> out(kPage);
  for (std::size_t i = 0; i < kPage; ++i) out[i] = p[i];
  return out;
}

// True when a forked child does not have the ELRANGE mapping.
bool child_lacks_mapping(const Device& attack, std::uint64_t address) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(virt_to_phys(attack, address) ? 1 : 0);
  int wstatus = 0;
  return pid > 0 && ::waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus) &&
         WEXITSTATUS(wstatus) == 0;
}

// Nothing works before CREATE; a refused ECREATE leaves the file without an
// enclave; EINIT of an enclave without a TCS passes the CPU's status back.
void check_second_file(Report& report) {
  Device hix(kDevHix);
  hix_ioc_add_pages add{};
  add.length = kPage;
  std::uint32_t status = 0;
  void* p = nullptr;
  report.check("no_enclave", hix.call(HIX_IOC_ADD_PAGES, &add) == ENXIO &&
                                 einit(hix, &status) == ENXIO &&
                                 hix.call(HIX_IOC_DESTROY) == ENXIO &&
                                 map(hix, kOtherBase, kPage, MAP_SHARED, 0, &p) == ENXIO);
  report.check("create_refused", create(hix, {.base = kOtherBase, .size = 3 * kPage}) == EINVAL &&
                                     hix.call(HIX_IOC_ADD_PAGES, &add) == ENXIO);
  report.check("create_other", create(hix, {.base = kOtherBase, .size = kPage}) == 0);
  std::vector<std::uint8_t> data(kPage, kDataPattern);
  report.check("add_other", add_pages(hix, 0, data, HIX_PAGE_R | HIX_PAGE_W).count == 1);
  report.check("einit_no_tcs", einit(hix, &status) == EINVAL && status == HIX_ERR_NO_TCS);
}

}  // namespace

int main() {
  Device hix(kDevHix);
  Device attack(HIX_ATTACK_DEVICE);
  if (!hix.is_open() || !attack.is_open()) {
    std::fprintf(stderr, "hix-driver-selftest: needs %s and %s (load hix.ko and hix_attack.ko)\n",
                 kDevHix, HIX_ATTACK_DEVICE);
    return 2;
  }
  Report report("HIX-DRIVER-SELFTEST");

  hix_ioc_info info{};
  report.check("info", hix.call(HIX_IOC_INFO, &info) == 0);
  report.add("isa", hex(info.isa_version));
  report.add("encls", hex(info.encls_leaves));
  report.add("enclu", hex(info.enclu_leaves));

  check_second_file(report);

  // CREATE, and the argument checks of ADD_PAGES.
  report.check("create", create(hix, {.base = kBase, .size = kSize}) == 0);
  report.check("create_twice", create(hix, {.base = kBase, .size = kSize}) == EEXIST);
  const std::vector<std::uint8_t> tcs = tcs_page();
  const std::vector<std::uint8_t> code(kPage, 0xCC);  // int3: never run here
  const std::vector<std::uint8_t> data(kPage, kDataPattern);
  const std::vector<std::uint8_t> two_pages(2 * kPage, kDataPattern);
  const std::uint64_t rw = HIX_PAGE_R | HIX_PAGE_W;
  report.check("add_unaligned", refused(add_pages(hix, kPage / 2, data, rw), EINVAL, 0));
  report.check("add_outside", refused(add_pages(hix, kSize, data, rw), EINVAL, 0) &&
                                  refused(add_pages(hix, kSize - kPage, two_pages, rw), EINVAL, 0));
  report.check("add_options", refused(add_pages(hix, kDataPage, data, rw, 0x2), EINVAL, 0));
  report.check("add_efault",
               refused(add_pages(hix, kDataPage, data, rw, HIX_IOC_MEASURE, 0x1000), EFAULT, 0));

  AddResult a = add_pages(hix, kTcsPage, tcs, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS);
  AddResult b = add_pages(hix, kCodePage, code, HIX_PAGE_R | HIX_PAGE_X);
  AddResult c = add_pages(hix, kDataPage, data, rw);
  report.check("add", a.err == 0 && a.count == 1 && b.err == 0 && b.count == 1 && c.err == 0 &&
                          c.count == 1 && a.status == HIX_OK);
  report.check("add_again", refused(add_pages(hix, kDataPage, data, rw), EINVAL, 0));
  report.check("eadd_refused",
               refused(add_pages(hix, kLatePage, data, HIX_PAGE_W), EINVAL, HIX_ERR_INVALID_PARAM));

  // The mapping: exactly ELRANGE, shared, offset 0.
  void* elrange = nullptr;
  report.check("mmap_rules", map(hix, kBase, kSize / 2, MAP_SHARED, 0, &elrange) == EINVAL &&
                                 map(hix, kBase, kSize, MAP_PRIVATE, 0, &elrange) == EINVAL &&
                                 map(hix, kBase, kSize, MAP_SHARED, kPage, &elrange) == EINVAL);
  if (!report.check("mmap", map(hix, kBase, kSize, MAP_SHARED, 0, &elrange) == 0)) {
    return report.finish();
  }
  std::optional<std::uint64_t> data_phys = virt_to_phys(attack, kBase + kDataPage);
  report.add("data_phys", data_phys ? hex(*data_phys) : "none");
  // Every added page is mapped up front; the one never added is not.
  report.check("mapped_up_front", data_phys && virt_to_phys(attack, kBase + kTcsPage) &&
                                      virt_to_phys(attack, kBase + kCodePage) &&
                                      !virt_to_phys(attack, kBase + kAbsentPage));
  // Outside the enclave, EPC reads as all-ones, through the mapping and
  // through the kernel's direct map alike: the driver's pages really are EPC.
  report.check("epc_user_read", all_equal(read_user(kBase + kDataPage), 0xFF));
  std::optional<std::vector<std::uint8_t>> direct =
      data_phys ? read_phys(attack, hix::kmodtest::PhysRead::direct, *data_phys) : std::nullopt;
  report.check("epc_direct_read", direct && all_equal(*direct, 0xFF));

  // A page added after the mmap (the refused EADD left its slot free) is
  // mapped at once, untouched.
  AddResult late = add_pages(hix, kLatePage, data, rw);
  report.check("add_after_mmap",
               late.err == 0 && late.count == 1 && virt_to_phys(attack, kBase + kLatePage));

  // The mapping cannot move and is not inherited.
  void* moved =
      ::mremap(elrange, kSize, kSize, MREMAP_MAYMOVE | MREMAP_FIXED, at(kBase + 64 * kSize));
  report.check("mremap_refused",
               moved == MAP_FAILED && virt_to_phys(attack, kBase + kDataPage) == data_phys);
  report.check("fork_not_inherited", child_lacks_mapping(attack, kBase + kDataPage));

  // EINIT once; after it, no EINIT and no EADD.
  std::uint32_t status = 0xFFFFFFFFu;
  report.check("einit", einit(hix, &status) == 0 && status == HIX_OK);
  report.check("einit_twice", einit(hix, &status) == EINVAL && status == HIX_ERR_ENCLAVE_STATE);
  AddResult after = add_pages(hix, kAbsentPage, data, rw);
  report.check("add_after_init", refused(after, EINVAL, HIX_ERR_ENCLAVE_STATE));

  // DESTROY waits for munmap; then the pages are ordinary memory again.
  report.check("destroy_mapped", hix.call(HIX_IOC_DESTROY) == EBUSY);
  ::munmap(elrange, kSize);
  report.check("destroy", hix.call(HIX_IOC_DESTROY) == 0);
  std::optional<std::vector<std::uint8_t>> freed =
      data_phys ? read_phys(attack, hix::kmodtest::PhysRead::direct, *data_phys) : std::nullopt;
  report.check("destroyed_page_readable", freed && !all_equal(*freed, 0xFF));
  report.check("after_destroy", hix.call(HIX_IOC_DESTROY) == ENXIO &&
                                    add_pages(hix, kDataPage, data, rw).err == ENXIO);

  // A new enclave on the same file; closing the file while mapped destroys
  // it at the last munmap.
  report.check(
      "create_again",
      create(hix, {.base = kBase, .size = kSize}) == 0 &&
          add_pages(hix, kTcsPage, tcs, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS).count == 1);
  void* again = nullptr;
  std::optional<std::uint64_t> tcs_phys;
  if (map(hix, kBase, kSize, MAP_SHARED, 0, &again) == 0) {
    tcs_phys = virt_to_phys(attack, kBase + kTcsPage);
    hix.close();
    std::optional<std::vector<std::uint8_t>> still =
        tcs_phys ? read_phys(attack, hix::kmodtest::PhysRead::direct, *tcs_phys) : std::nullopt;
    report.check("closed_but_mapped_still_epc", still && all_equal(*still, 0xFF));
    ::munmap(again, kSize);
  }
  std::optional<std::vector<std::uint8_t>> released =
      tcs_phys ? read_phys(attack, hix::kmodtest::PhysRead::direct, *tcs_phys) : std::nullopt;
  report.check("release_frees", released && !all_equal(*released, 0xFF));
  return report.finish();
}
