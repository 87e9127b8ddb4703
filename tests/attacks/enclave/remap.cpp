// Attack (c): the kernel points the vault page's PTE at attacker RAM, then
// the host enters the enclave, which stores its secret.
// Expected with HIX enforcing: the enclave aborts on the remapped access, the
// attacker's page keeps its marker, and the registers come back scrubbed.
#include "attack_common.hpp"

int main() {
  using namespace hix::attacks;
  loader::Enclave vault = load_enclave(kVaultImage);
  const std::uint64_t page = plant(vault, random_secret());
  AttackDevice dev;
  constexpr std::uint8_t kMarker = 0xA5;
  const std::uint64_t attacker_phys = dev.marked_page(kMarker);
  const std::uint64_t old_phys = dev.remap(page, attacker_phys);

  Secret secret = random_secret();
  Secret arg = secret;
  const loader::EcallResult r = vault.ecall(VAULT_ECALL_STORE, arg);

  std::array<std::uint8_t, 4096> attacker_page{};
  if (dev.read_phys(PhysRead::direct, attacker_phys, attacker_page) != 0) {
    fail("reading the attacker page back");
  }
  const bool marker_intact = std::all_of(attacker_page.begin(), attacker_page.end(),
                                         [](std::uint8_t b) { return b == kMarker; });
  const auto unscrubbed = loader::unscrubbed_registers(r);
  verdict("remap", "pte-to-attacker-ram", contains_secret(attacker_page, secret),
          "result=%s isa_status=%llu marker_intact=%s unscrubbed=%zu old_phys=0x%llx "
          "attacker_phys=0x%llx",
          loader::to_string(r.status), static_cast<unsigned long long>(r.isa_status),
          marker_intact ? "yes" : "no", unscrubbed.size(),
          static_cast<unsigned long long>(old_phys),
          static_cast<unsigned long long>(attacker_phys));
  return 0;
}
