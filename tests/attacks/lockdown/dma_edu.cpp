// Attack (f): another bus master, QEMU's edu device (docs/specs/edu.rst in
// QEMU: a 4 KiB DMA buffer at 0x40000 of its address space, DMA registers in
// its BAR0), copies from an EPC page (the vault enclave's secret page) and
// from the locked hix-gpu's BAR0 (SCRATCH) into its buffer and from its
// buffer into them. Boot with `-device edu,dma_mask=...` so it can reach any
// address.
// Expected with HIX enforcing: the DMA filter refuses every transfer that
// touches EPC or a locked BAR (spec §15; audit: dma-epc, dma-bar): nothing
// of the secret reaches attacker RAM, the vault keeps its secret and SCRATCH
// keeps the owner's value.
// Run under `hix-gpu-owner --serve SOCKET --run ...` (for the BAR paths).
#include <time.h>

#include "lockdown_common.hpp"

namespace {

using namespace hix::lockdown;
using hix::attacks::AttackDevice;
using hix::attacks::Secret;

constexpr const char* kProperty = "dma";

// edu's registers (BAR0) and DMA buffer (edu.rst).
constexpr std::uint64_t kDmaSource = 0x80;
constexpr std::uint64_t kDmaDestination = 0x88;
constexpr std::uint64_t kDmaCount = 0x90;
constexpr std::uint64_t kDmaCommand = 0x98;
constexpr std::uint32_t kDmaRun = 0x1;
constexpr std::uint32_t kDmaToRam = 0x2;  // direction: buffer -> PCI address
constexpr std::uint64_t kDmaBuffer = 0x40000;
constexpr std::uint64_t kEduMmioSize = 0x100000;
constexpr std::uint16_t kEduVendor = 0x1234;
constexpr std::uint16_t kEduDevice = 0x11E8;
constexpr std::uint32_t kCommandMemoryAndMaster = 0x6;

constexpr std::uint8_t kMarker = 0x5A;    // attacker RAM that feeds the buffer
constexpr std::uint8_t kReadback = 0xC3;  // attacker RAM the buffer is copied to

class Edu {
 public:
  explicit Edu(std::unique_ptr<MappedRange> bar0) : bar0_(std::move(bar0)) {}

  // One transfer; false when it did not complete within 5 s.
  bool transfer(std::uint64_t src, std::uint64_t dst, std::uint32_t count, bool to_ram) {
    bar0_->write64(kDmaSource, src);
    bar0_->write64(kDmaDestination, dst);
    bar0_->write64(kDmaCount, count);
    bar0_->write64(kDmaCommand, kDmaRun | (to_ram ? kDmaToRam : 0));
    for (int i = 0; i < 500; ++i) {
      if ((bar0_->read32(kDmaCommand) & kDmaRun) == 0) return true;
      const timespec ten_ms{0, 10'000'000};
      nanosleep(&ten_ms, nullptr);
    }
    return false;
  }
  // Attacker RAM -> buffer.
  bool load(std::uint64_t phys, std::uint32_t count) {
    return transfer(phys, kDmaBuffer, count, false);
  }
  // Buffer -> anywhere.
  bool store(std::uint64_t phys, std::uint32_t count) {
    return transfer(kDmaBuffer, phys, count, true);
  }

 private:
  std::unique_ptr<MappedRange> bar0_;
};

std::optional<Edu> open_edu() {
  const auto edu = find_pci(kEduVendor, kEduDevice);
  if (!edu) return std::nullopt;
  const auto cfg = sysfs_config(*edu);
  if (!cfg) return std::nullopt;
  cfg->write(0x04, Width{2}, cfg->read(0x04, Width{2}) | kCommandMemoryAndMaster);
  auto bar0 = MappedRange::map(edu->sysfs() + "/resource0", 0, kEduMmioSize);
  if (!bar0) return std::nullopt;
  return Edu(std::move(bar0));
}

std::array<std::uint8_t, 4096> read_page(AttackDevice& dev, std::uint64_t phys) {
  std::array<std::uint8_t, 4096> page{};
  if (dev.read_phys(hix::attacks::PhysRead::direct, phys, page) != 0) {
    hix::attacks::fail("reading attacker RAM at 0x%llx", static_cast<unsigned long long>(phys));
  }
  return page;
}

bool filled_with(std::span<const std::uint8_t> data, std::uint8_t b) {
  return std::all_of(data.begin(), data.end(), [b](std::uint8_t x) { return x == b; });
}

const char* describe(std::span<const std::uint8_t> data) {
  if (filled_with(data, kMarker)) return "marker";
  if (filled_with(data, 0x00)) return "zeros";
  if (filled_with(data, 0xFF)) return "all-ones";
  return "other";
}

}  // namespace

int main() {
  auto edu = open_edu();
  if (!edu) hix::attacks::fail("no edu device (run-vm -- -device edu,dma_mask=...)");
  OwnerClient owner = OwnerClient::connect();
  const PciFunction gpu = require_hix_gpu();
  const auto bar0 = bar_resource(gpu, 0);
  if (!bar0) hix::attacks::fail("hix-gpu BAR0 unassigned");

  loader::Enclave vault = hix::attacks::load_enclave(hix::attacks::kVaultImage);
  const Secret secret = hix::attacks::random_secret();
  const std::uint64_t vault_page = hix::attacks::plant(vault, secret);
  AttackDevice dev;
  const std::uint64_t epc = dev.virt_to_phys(vault_page);
  const std::uint64_t marker = dev.marked_page(kMarker);
  // Half a page per transfer: edu refuses (hw_error, QEMU exits) a transfer
  // that ends exactly at its buffer's end, so a whole 4 KiB never fits. The
  // vault keeps its secret at the start of its page.
  constexpr std::uint32_t kChunk = 2048;

  {  // EPC -> buffer -> attacker RAM.
    const std::uint64_t readback = dev.marked_page(kReadback);
    const bool done =
        edu->load(marker, kChunk) && edu->load(epc, kChunk) && edu->store(readback, kChunk);
    const auto page = read_page(dev, readback);
    const std::span<const std::uint8_t> seen(page.data(), kChunk);
    const bool leaked = hix::attacks::contains_secret(seen, secret);
    report({.property = kProperty, .path = "epc-to-device", .outcome = outcome(leaked)},
           "bytes=%s done=%s epc=0x%llx readback=0x%llx", describe(seen), done ? "yes" : "no",
           static_cast<unsigned long long>(epc), static_cast<unsigned long long>(readback));
  }
  {  // Attacker RAM -> buffer -> EPC.
    const bool done = edu->load(marker, kChunk) && edu->store(epc, kChunk);
    Secret now{};
    const bool loaded = hix::attacks::ecall(vault, VAULT_ECALL_LOAD, now).succeeded();
    const bool intact = loaded && now == secret;
    const bool overwritten = loaded && filled_with(now, kMarker);
    report({.property = kProperty,
            .path = "device-to-epc",
            .outcome = outcome(overwritten || (loaded && !intact))},
           "vault=%s done=%s epc=0x%llx",
           !loaded       ? "unreadable"
           : intact      ? "intact"
           : overwritten ? "marker"
                         : "other",
           done ? "yes" : "no", static_cast<unsigned long long>(epc));
  }
  const std::uint64_t scratch = bar0->base + hix::gpu::offset_of(Reg32::scratch).value;
  {  // SCRATCH -> buffer -> attacker RAM (one 32-bit read, the width BAR0 takes).
    const std::uint32_t owner_secret = plant_secret(owner);
    const std::uint64_t readback = dev.marked_page(kReadback);
    const bool done =
        edu->load(marker, kChunk) && edu->load(scratch, 4) && edu->store(readback, kChunk);
    const auto seen = read_page(dev, readback);
    std::uint32_t word = 0;
    std::memcpy(&word, seen.data(), sizeof word);
    report(
        {.property = kProperty, .path = "bar-to-device", .outcome = outcome(word == owner_secret)},
        "word=0x%08x secret=0x%08x done=%s target=0x%llx", word, owner_secret, done ? "yes" : "no",
        static_cast<unsigned long long>(scratch));
  }
  {  // Attacker RAM -> buffer -> SCRATCH.
    const std::uint32_t owner_secret = plant_secret(owner);
    const bool done = edu->load(marker, kChunk) && edu->store(scratch, 4);
    const auto after = owner.read(Reg32::scratch);
    constexpr std::uint32_t kMarkerWord = 0x5A5A5A5Au;
    report(
        {.property = kProperty, .path = "device-to-bar", .outcome = outcome(after == kMarkerWord)},
        "owner_after=%s secret=0x%08x done=%s target=0x%llx", OwnerValue(after).c_str(),
        owner_secret, done ? "yes" : "no", static_cast<unsigned long long>(scratch));
  }
  return 0;
}
