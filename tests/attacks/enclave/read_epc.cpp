// Attack (a): root reads the vault's EPC page by its physical address, through
// the kernel's direct map, a fresh kernel mapping, /proc/kcore and /dev/mem.
// Expected with HIX enforcing: all-ones on every path that reaches the page
// (spec §5 abort-page semantics), each access audit-logged.
#include <elf.h>

#include <vector>

#include "attack_common.hpp"

namespace {

using namespace hix::attacks;

// /proc/kcore's file offset for a physical address: the PT_LOAD whose
// p_paddr range holds it (the kernel's direct map of RAM).
std::optional<std::uint64_t> kcore_offset(int fd, std::uint64_t phys) {
  Elf64_Ehdr eh{};
  if (pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh)) return std::nullopt;
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  const auto bytes = static_cast<ssize_t>(ph.size() * sizeof(Elf64_Phdr));
  if (pread(fd, ph.data(), static_cast<size_t>(bytes), static_cast<off_t>(eh.e_phoff)) != bytes) {
    return std::nullopt;
  }
  for (const Elf64_Phdr& p : ph) {
    if (p.p_type == PT_LOAD && p.p_paddr != ~0ull && phys >= p.p_paddr &&
        phys - p.p_paddr < p.p_memsz) {
      return p.p_offset + (phys - p.p_paddr);
    }
  }
  return std::nullopt;
}

void report_read(const char* path, const Secret& secret, std::uint64_t phys, int err,
                 std::span<const std::uint8_t> data) {
  if (err != 0) {
    std::printf("ATTACK property=read-epc path=%s outcome=refused errno=%d phys=0x%llx\n", path,
                err, static_cast<unsigned long long>(phys));
    return;
  }
  verdict("read-epc", path, contains_secret(data, secret), "bytes=%s phys=0x%llx", describe(data),
          static_cast<unsigned long long>(phys));
}

}  // namespace

int main() {
  loader::Enclave vault = load_enclave(kVaultImage);
  const Secret secret = random_secret();
  const std::uint64_t page = plant(vault, secret);
  AttackDevice dev;
  const std::uint64_t phys = dev.virt_to_phys(page);
  std::array<std::uint8_t, 4096> buf{};

  buf.fill(0);
  report_read("direct-map", secret, phys, dev.read_phys(PhysRead::direct, phys, buf), buf);
  buf.fill(0);
  report_read("fresh-map", secret, phys, dev.read_phys(PhysRead::fresh_map, phys, buf), buf);

  buf.fill(0);
  const int kfd = ::open("/proc/kcore", O_RDONLY);
  std::optional<std::uint64_t> off = kfd >= 0 ? kcore_offset(kfd, phys) : std::nullopt;
  if (kfd < 0 || !off) {
    report_read("kcore", secret, phys, kfd < 0 ? errno : ENOENT, buf);
  } else {
    const ssize_t n = pread(kfd, buf.data(), buf.size(), static_cast<off_t>(*off));
    report_read("kcore", secret, phys, n == static_cast<ssize_t>(buf.size()) ? 0 : errno, buf);
  }
  if (kfd >= 0) ::close(kfd);

  buf.fill(0);
  const int mfd = ::open("/dev/mem", O_RDONLY);
  if (mfd < 0) {
    report_read("devmem", secret, phys, errno, buf);
  } else {
    const ssize_t n = pread(mfd, buf.data(), buf.size(), static_cast<off_t>(phys));
    report_read("devmem", secret, phys, n == static_cast<ssize_t>(buf.size()) ? 0 : errno, buf);
    ::close(mfd);
  }

  // The enclave itself still sees its secret: protection, not corruption.
  Secret back{};
  const bool intact = vault.ecall(VAULT_ECALL_LOAD, back).succeeded() && back == secret;
  std::printf("ATTACK property=read-epc path=enclave-view outcome=%s\n",
              intact ? "intact" : "corrupted");
  return 0;
}
