// Attack: SVM (docs/specs/hix-isa.md §16.3). The TCG "max" CPU offers SVM;
// VMRUN saves the host state into the host-save page with physical writes
// that never pass the TLB-fill EPC check. Root sets VM_HSAVE_PA to an EPC
// page and runs VMRUN on an empty VMCB: QEMU writes CR0, CR3, EFER, RIP,
// RSP, RAX... into enclave memory. (The I/O and MSR permission-map reads and
// the nested guest's exit path are the same feature; with SVM gone, all go.)
//
// Paths: cpuid (CPUID 0x80000001 ECX.SVM), efer-svme (WRMSR EFER.SVME),
// vmrun-hsave-epc (VMRUN with the host-save area on an EPC page).
#include <cpuid.h>

#include "platform_common.hpp"

namespace {

using namespace hix::platform;

constexpr std::uint32_t kMsrEfer = 0xC0000080;
constexpr std::uint64_t kEferSvme = 1ull << 12;
// struct vmcb: the save area starts at 0x400 (AMD APM vol. 2, appendix B).
constexpr std::size_t kSaveArea = 0x400;
constexpr std::size_t kSaveAreaEnd = 0x600;

}  // namespace

int main() {
  AttackDevice dev;

  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(0x80000001, eax, ebx, ecx, edx);
  const bool svm = (ecx & (1u << 2)) != 0;
  unsigned a_eax = 0, a_ebx = 0, a_ecx = 0, a_edx = 0;
  __cpuid(0x8000000A, a_eax, a_ebx, a_ecx, a_edx);
  report({.property = "svm", .path = "cpuid", .outcome = outcome(svm)},
         "svm=%s ecx=0x%08x leaf_8000000a_eax=0x%08x", yes_no(svm), ecx, a_eax);

  hix_attack_msr efer{kMsrEfer, 0, 0};
  if (dev.call(HIX_ATTACK_RDMSR, &efer) != 0 || efer.err != 0) fail("RDMSR EFER");
  const std::uint64_t old_efer = efer.value;
  hix_attack_msr set{kMsrEfer, 0, old_efer | kEferSvme};
  dev.call(HIX_ATTACK_WRMSR, &set);
  hix_attack_msr back{kMsrEfer, 0, 0};
  dev.call(HIX_ATTACK_RDMSR, &back);
  const bool svme = set.err == 0 && (back.value & kEferSvme) != 0;
  hix_attack_msr restore{kMsrEfer, 0, old_efer};
  dev.call(HIX_ATTACK_WRMSR, &restore);
  report({.property = "svm", .path = "efer-svme", .outcome = outcome(svme)},
         "wrmsr_err=%d efer_after=0x%llx", set.err, static_cast<unsigned long long>(back.value));

  // An EPC page the attacker's kernel places itself (any enclave's page is
  // placed by the untrusted OS).
  const std::uint64_t block = dev.block(1);
  const Secret secret = random_secret();
  RawEnclave enclave(dev, {.secs_pa = block, .page_pa = block + HIX_PAGE_SIZE}, secret);
  if (enclave.create_status != HIX_OK || enclave.add_status != HIX_OK) {
    report({.property = "svm", .path = "vmrun-hsave-epc", .outcome = "refused"},
           "ecreate=%u eadd=%u", enclave.create_status, enclave.add_status);
    return 0;
  }
  Page before{}, after{};
  dev.read_phys(enclave.page, before);
  hix_attack_vmrun v{enclave.page, 0, 0, 0};
  if (const int e = dev.call(HIX_ATTACK_VMRUN, &v); e != 0) fail("VMRUN: %s", strerror(e));
  dev.read_phys(enclave.page, after);
  // Readable only when the memory checks are off (the control): there the
  // save area shows what VMRUN wrote into the enclave's page.
  const bool written = !std::equal(before.begin() + kSaveArea, before.begin() + kSaveAreaEnd,
                                   after.begin() + kSaveArea);
  std::uint64_t saved_efer = 0;
  std::memcpy(&saved_efer, after.data() + 0x4D0, sizeof saved_efer);  // save.efer
  const std::uint32_t destroyed = enclave.destroy();
  report({.property = "svm", .path = "vmrun-hsave-epc", .outcome = outcome(v.vmrun == 1)},
         "svme=%s vmrun=%s epc=0x%llx hsave_written=%s saved_efer=0x%llx destroy=%u",
         yes_no(v.svme == 1), yes_no(v.vmrun == 1), static_cast<unsigned long long>(enclave.page),
         yes_no(written), static_cast<unsigned long long>(saved_efer), destroyed);
  return 0;
}
