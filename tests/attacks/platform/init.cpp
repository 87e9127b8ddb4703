// Attack: INIT in enclave mode (docs/specs/hix-isa.md §16.6). An INIT IPI
// resets a CPU; delivered while the CPU runs an enclave it would take the
// CPU out of the enclave in the middle of its work. The spec holds INIT
// with the other interrupts until EEXIT. Root runs the spinner enclave on
// CPU 1 (it counts in untrusted memory until told to stop), sends CPU 1 an
// INIT from CPU 0 through the local APIC (hix_attack.ko), and watches the
// count.
//
// Paths, in this order:
//   init-in-enclave   "succeeded" when the count stops after the INIT: the
//                     INIT reached the CPU inside the enclave. Printed
//                     before the enclave is told to stop, so before an INIT
//                     that was held is released;
//   init-after-eexit  told to stop, does the enclave finish its work
//                     (done = 1 just before EEXIT)? "succeeded" when not.
//
// Either way CPU 1 takes the INIT in the end and waits for a SIPI that
// never comes: Linux has lost it. The attacker therefore runs last in its
// boot, sends every interrupt to CPU 0 first, and never waits for the
// enclave's process (it stays on the lost CPU).
#include <dirent.h>
#include <sys/mman.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hix/loader/driver.hpp"
#include "hix/loader/enclave.hpp"
#include "hix/loader/enclave_image.hpp"
#include "platform_common.hpp"
#include "spinner/spinner_abi.h"

namespace {

using namespace hix::platform;

constexpr const char* kSpinnerImage = "/usr/share/openhix/enclaves/spinner.elf";
constexpr std::size_t kWatcherCpu = 0;
constexpr std::size_t kEnclaveCpu = 1;

std::uint64_t load(const volatile std::uint64_t& v) {
  return v;
}

// The enclave's side: on CPU 1, load the spinner and spin.
[[noreturn]] void run_spinner(volatile spinner_shared* shared) {
  namespace loader = hix::loader;
  pin(kEnclaveCpu);
  auto image = loader::load_enclave_image(kSpinnerImage);
  if (!image.ok()) fail("image %s: %s", kSpinnerImage, loader::to_string(image.status()));
  auto driver = loader::DevHix::open();
  if (!driver.ok()) fail("/dev/hix: %s", loader::to_string(driver.status()));
  auto enclave = loader::Enclave::load(std::move(driver).value(), image.value());
  if (!enclave.ok()) fail("load spinner: %s", loader::to_string(enclave.status()));
  // Fault the shared page in, writable, before entering: a fault inside the
  // enclave would abort it.
  shared->reserved = 0;
  std::array<std::uint8_t, sizeof(std::uint64_t)> buf{};
  // reinterpret_cast: the enclave takes the shared page's address as an integer.
  const auto addr = reinterpret_cast<std::uint64_t>(shared);
  std::memcpy(buf.data(), &addr, sizeof addr);
  enclave.value().ecall(SPINNER_ECALL_SPIN, buf);
  _exit(0);
}

}  // namespace

int main() {
  route_interrupts_to(kWatcherCpu);
  pin(kWatcherCpu);
  AttackDevice dev;
  void* mem =
      mmap(nullptr, HIX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fail("mmap");
  auto* shared = static_cast<volatile spinner_shared*>(mem);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) run_spinner(shared);

  // Wait until the enclave counts (loading takes a while under TCG).
  bool running = false;
  for (int i = 0; i < 1200 && !running; ++i) {
    running = load(shared->counter) != 0;
    if (!running) sleep_ms(100);
  }
  if (!running) {
    report({.property = "init", .path = "init-in-enclave", .outcome = "refused"},
           "why=the-enclave-never-ran");
    shared->stop = 1;
    return 0;
  }
  hix_attack_init_ipi ipi{static_cast<std::uint32_t>(kEnclaveCpu), 0};
  const std::uint64_t at_init = load(shared->counter);
  if (const int e = dev.call(HIX_ATTACK_INIT_IPI, &ipi); e != 0) fail("INIT_IPI: %s", strerror(e));
  sleep_ms(500);  // the INIT has long arrived
  const std::uint64_t first = load(shared->counter);
  sleep_ms(1000);
  const std::uint64_t second = load(shared->counter);
  const bool counting = second > first;
  report({.property = "init", .path = "init-in-enclave", .outcome = outcome(!counting)},
         "apic_id=%u counter_at_init=%llu counter_after=%llu counter_1s_later=%llu counting=%s",
         ipi.apic_id, static_cast<unsigned long long>(at_init),
         static_cast<unsigned long long>(first), static_cast<unsigned long long>(second),
         yes_no(counting));

  // Release the enclave; a held INIT is taken right after its EEXIT.
  shared->stop = 1;
  bool finished = false;
  for (int i = 0; i < 30 && !finished; ++i) {
    finished = load(shared->done) == 1;
    if (!finished) sleep_ms(100);
  }
  report({.property = "init", .path = "init-after-eexit", .outcome = outcome(!finished)},
         "finished=%s counter=%llu", yes_no(finished),
         static_cast<unsigned long long>(load(shared->counter)));
  return 0;  // not waiting for the spinner's process: its CPU is gone
}
