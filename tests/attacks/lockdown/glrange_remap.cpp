// Attack (d): the kernel points the PTE of the GPU enclave's GLRANGE (the
// page holding SCRATCH) at attacker RAM (hix_attack.ko REMAP_USER_PAGE),
// then the host asks the enclave to write a value meant for the device.
// Expected with HIX enforcing: inside enclave mode a GLRANGE address must
// translate to exactly its BAR page, so the enclave aborts
// (enclave-glrange-mismatch), the value never appears in the attacker page,
// the registers come back scrubbed, and the dead owner keeps the device
// locked (spec §12, §13) until its process goes away.
// Runs as its own owner: no other process may hold the lock meanwhile.
#include "lockdown_common.hpp"

int main() {
  using namespace hix::lockdown;
  constexpr const char* kProperty = "glrange-remap";
  GpuOwner owner = GpuOwner::lock();
  const std::uint32_t first = random_word();
  const bool before_ok =
      owner.write(Reg32::scratch, first).ok() && owner.read(Reg32::scratch).value == first;

  hix::attacks::AttackDevice dev;
  constexpr std::uint8_t kMarker = 0xA5;
  const std::uint64_t attacker_phys = dev.marked_page(kMarker);
  const std::uint64_t scratch_linear = owner.glrange() + hix::gpu::offset_of(Reg32::scratch).value;
  const std::uint64_t old_phys = dev.remap(scratch_linear, attacker_phys);

  const std::uint32_t value = random_word();
  const OwnerAccess w = owner.write(Reg32::scratch, value);

  std::array<std::uint8_t, 4096> page{};
  if (dev.read_phys(hix::attacks::PhysRead::direct, attacker_phys, page) != 0) {
    hix::attacks::fail("reading the attacker page back");
  }
  std::uint32_t at_scratch = 0;
  std::memcpy(&at_scratch, page.data() + hix::gpu::offset_of(Reg32::scratch).value,
              sizeof at_scratch);
  const bool marker_intact =
      std::all_of(page.begin(), page.end(), [](std::uint8_t b) { return b == kMarker; });
  const bool landed = at_scratch == value;
  const auto unscrubbed = hix::loader::unscrubbed_registers(w.ecall);

  // The owner's device afterwards, as root sees it through sysfs (a dead
  // owner still holds the lock: all-ones) and as the owner does.
  dev.remap(scratch_linear, old_phys);
  const auto bar = MappedRange::map(owner.gpu().sysfs() + "/resource0", 0, hix::gpu::kBar0Size);
  const std::uint32_t status_outside =
      bar ? bar->read32(hix::gpu::offset_of(Reg32::status).value) : 0xDEADBEEFu;
  const OwnerAccess again = owner.read(Reg32::scratch);

  report({.property = kProperty, .path = "pte-to-attacker-ram", .outcome = outcome(landed)},
         "result=%s isa_status=%llu vector=%llu marker_intact=%s value_in_attacker_page=%s "
         "unscrubbed=%zu before_ok=%s value=0x%08x old_phys=0x%llx attacker_phys=0x%llx "
         "linear=0x%llx status_outside=0x%08x next_ecall=%s next_isa_status=%llu",
         hix::loader::to_string(w.ecall.status),
         static_cast<unsigned long long>(w.ecall.isa_status),
         static_cast<unsigned long long>(w.ecall.vector), marker_intact ? "yes" : "no",
         landed ? "yes" : "no", unscrubbed.size(), before_ok ? "yes" : "no", value,
         static_cast<unsigned long long>(old_phys), static_cast<unsigned long long>(attacker_phys),
         static_cast<unsigned long long>(scratch_linear), status_outside,
         hix::loader::to_string(again.ecall.status),
         static_cast<unsigned long long>(again.ecall.isa_status));
  return 0;
}
