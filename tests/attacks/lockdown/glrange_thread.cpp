// Attack (e): a second thread of the GPU enclave's own process touches the
// GLRANGE through the process's mapping, outside enclave mode: reads ID and
// SCRATCH, and writes SCRATCH.
// Expected with HIX enforcing: abort-page semantics (spec §13: only the owner
// in enclave mode reaches the BAR): all-ones, the write dropped (the enclave
// reads its value back), audit bar-read/bar-write at CPL 3 with the GLRANGE
// address.
// Runs as its own owner: no other process may hold the lock meanwhile.
#include <thread>

#include "lockdown_common.hpp"

int main() {
  using namespace hix::lockdown;
  GpuOwner owner = GpuOwner::lock();
  const std::uint32_t secret = random_word();
  if (!owner.write(Reg32::scratch, secret).ok()) hix::attacks::fail("owner write");

  const std::uint32_t forged = secret ^ 0x5A5A5A5Au;
  std::uint32_t id = 0;
  std::uint32_t read = 0;
  std::thread thread([&] {
    // reinterpret_cast: the GLRANGE is BAR0 mapped into this process.
    PointerRegisters regs(
        reinterpret_cast<void*>(owner.glrange()));  // NOLINT(performance-no-int-to-ptr)
    id = regs.read(Reg32::id);
    read = regs.read(Reg32::scratch);
    regs.write(Reg32::scratch, forged);
  });
  thread.join();
  const OwnerAccess after = owner.read(Reg32::scratch);
  const bool leaked = read == secret || id == hix::gpu::kIdValue;
  const bool landed = after.ok() && after.value == forged;
  const std::uint64_t linear = owner.glrange() + hix::gpu::offset_of(Reg32::scratch).value;
  report(
      {.property = "glrange-thread", .path = "second-thread", .outcome = outcome(leaked || landed)},
      "read=0x%08x id=0x%08x secret=0x%08x forged=0x%08x owner_after=0x%08x owner_ok=%s "
      "read_leaked=%s write_landed=%s linear=0x%llx",
      read, id, secret, forged, after.value, after.ok() ? "yes" : "no", leaked ? "yes" : "no",
      landed ? "yes" : "no", static_cast<unsigned long long>(linear));
  return 0;
}
