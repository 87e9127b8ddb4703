// Attack: S3 with an enclave alive (docs/specs/hix-isa.md §16.6). QEMU wakes
// an x86 guest from S3 through a system reset (with or without -no-reboot),
// which resets every device and the chipset's decode; enclave state must not
// outlive it, and no vCPU may stay in enclave mode across it. RAM itself
// survives the reset: an enclave page the platform does not zero keeps its
// secret for the OS to read after the wake.
//
//   hix-platform-s3 suspend-to-ram
//     Root builds an enclave holding a secret, arms the RTC alarm and
//     suspends through Linux (/sys/power/state); Linux resumes through the
//     firmware. After the wake it reads the page back and asks the platform
//     about the enclave (EREMOVE answers NOT_EPC when the page is ordinary
//     memory again).
//
//   hix-platform-s3 enclave-across-s3
//     A vCPU inside an enclave when the machine enters S3. Linux's own
//     suspend never catches one (a CPU in enclave mode holds its interrupts,
//     so the freezer and CPU offlining wait for it), so root does it
//     directly: CPU 1 enters an enclave that loads the secret into its
//     registers and spins, counting in untrusted memory; CPU 0 sees it
//     count, arms the RTC alarm, enables the RTC wake event (PM1_EN.RTC_EN)
//     and writes SLP_TYP(S3)|SLP_EN into PM1a_CNT (ICH9 PMBASE from the LPC
//     bridge's configuration offset 0x40; SLP_TYP from the DSDT's _S3
//     package). Linux never set the FACS waking vector, so after the wake's
//     reset SeaBIOS finds nothing to resume and reboots the machine (run-vm
//     --reboot); the guest boots again and runs this again. Before the write
//     it leaves a marker in RAM the kernel does not use (memmap=64M$0x30000000,
//     which also holds the enclave's pages, so the new kernel cannot reuse
//     them): the second boot finds it, reads the old EPC page, asks the
//     platform about the enclave, checks that every CPU came online (a vCPU
//     left in enclave mode would hold the INIT and SIPI that start it),
//     clears the marker and reports. The first boot prints no verdict
//     unless the machine did not go to sleep.
//
// "succeeded" when the secret is still in the page or the enclave still
// exists after the wake.
#include <sys/io.h>
#include <time.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform_common.hpp"
#include "runnable_enclave.hpp"

namespace {

using namespace hix::platform;

bool write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

std::string read_line(const std::filesystem::path& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

void suspend_to_ram() {
  AttackDevice dev;
  const std::uint64_t block = dev.block(1);
  const Secret secret = random_secret();
  RawEnclave enclave(dev, {.secs_pa = block, .page_pa = block + HIX_PAGE_SIZE}, secret);
  if (enclave.create_status != HIX_OK || enclave.add_status != HIX_OK) {
    report({.property = "s3", .path = "suspend-to-ram", .outcome = "refused"}, "ecreate=%u eadd=%u",
           enclave.create_status, enclave.add_status);
    return;
  }
  write_file("/sys/class/rtc/rtc0/wakealarm", "0");
  const bool armed = write_file("/sys/class/rtc/rtc0/wakealarm", "+3");
  const bool suspended = armed && write_file("/sys/power/state", "mem");
  Page after{};
  const int err = dev.read_phys(enclave.page, after);
  // The platform's view: does the enclave still exist? EREMOVE of the page
  // answers NOT_EPC when the page is ordinary memory again.
  const std::uint32_t remove = dev.encls({HIX_EREMOVE, 0, enclave.page, 0, 0, 0, 0});
  const std::uint32_t destroy = enclave.destroy();
  const bool survived =
      (err == 0 && contains(after, secret)) || remove == HIX_OK || destroy == HIX_OK;
  report({.property = "s3",
          .path = "suspend-to-ram",
          .outcome = suspended ? outcome(survived) : "refused"},
         "alarm=%s suspended=%s page=%s eremove=%u edestroy=%u", yes_no(armed), yes_no(suspended),
         describe(after, secret), remove, destroy);
}

// ---- enclave-across-s3 ------------------------------------------------------

// The RAM the guest kernel leaves alone (run-vm --append
// memmap=64M$0x30000000): the marker's page, then the enclave's pages.
constexpr std::uint64_t kReservedRam = 0x30000000;
constexpr std::uint64_t kMarkerPa = kReservedRam;
constexpr RunnableEnclave::Pages kEnclavePages{.secs = kReservedRam + 0x1000,
                                               .tcs = kReservedRam + 0x2000,
                                               .code = kReservedRam + 0x3000,
                                               .data = kReservedRam + 0x4000};
constexpr std::uint64_t kMarkerMagic = 0x3353'5849'4831'4b4dull;  // "MK1HIXS3"
constexpr std::size_t kWatcherCpu = 0;
constexpr std::size_t kEnclaveCpu = 1;
constexpr int kWakeAfterS = 15;  // armed before CPU 1 enters: margin for that

// What the first boot leaves for the second, in the marker's page.
struct Marker {
  std::uint64_t magic;
  std::uint64_t data_pa;  // the enclave's page holding the secret
  std::uint64_t enclave_cpu;
  std::uint64_t counter_before;  // the enclave's count just before the write
  std::uint64_t counter_at;      // and 100 ms later, at the write
  std::uint64_t pm1a_cnt;        // the value written
  Secret secret;
  std::array<char, 40> boot_id;  // the first boot's /proc/sys/kernel/random/boot_id
};
static_assert(sizeof(Marker) <= HIX_PAGE_SIZE);

// ICH9 power management (ACPI fixed registers in the PMBASE I/O block).
constexpr std::uint32_t kLpcPmbase = 0x40;  // LPC configuration: ACPI base address
constexpr std::uint32_t kPmbaseMask = 0xFF80;
constexpr std::uint16_t kPm1En = 0x02;   // PM1_EN (16 bits)
constexpr std::uint16_t kPm1Cnt = 0x04;  // PM1a_CNT (16 bits)
constexpr std::uint16_t kPm1EnRtc = 1u << 10;
constexpr std::uint16_t kSlpTypShift = 10;
constexpr std::uint16_t kSlpTypMask = 7u << kSlpTypShift;
constexpr std::uint16_t kSlpEn = 1u << 13;

// SLP_TYP for S3: the first element of the DSDT's Name(_S3_, Package(){...}).
std::optional<unsigned> dsdt_s3_slp_typ() {
  std::ifstream f("/sys/firmware/acpi/tables/DSDT", std::ios::binary);
  const std::vector<std::uint8_t> aml{std::istreambuf_iterator<char>(f),
                                      std::istreambuf_iterator<char>()};
  constexpr std::string_view kName = "_S3_";
  const auto at = std::search(aml.begin(), aml.end(), kName.begin(), kName.end());
  auto i = static_cast<std::size_t>(at - aml.begin()) + kName.size();
  constexpr std::uint8_t kPackageOp = 0x12, kZeroOp = 0x00, kOneOp = 0x01, kBytePrefix = 0x0A;
  if (at == aml.end() || i + 1 >= aml.size() || aml[i] != kPackageOp) return std::nullopt;
  ++i;
  i += 1u + (aml[i] >> 6);  // PkgLength: its lead byte's bits 7-6 count the bytes that follow
  ++i;                      // NumElements
  if (i >= aml.size()) return std::nullopt;
  if (aml[i] == kZeroOp) return 0u;
  if (aml[i] == kOneOp) return 1u;
  if (aml[i] == kBytePrefix && i + 1 < aml.size()) return aml[i + 1];
  return std::nullopt;
}

std::uint64_t load(const volatile std::uint64_t& v) {
  return v;
}

// The enclave's side: on CPU 1, map the enclave, enter it and spin until the
// machine sleeps (the module stays open: closing it would undo the mapping).
[[noreturn]] void run_enclave(volatile spinner_shared* shared) {
  pin(kEnclaveCpu);
  AttackDevice dev;
  map_enclave(dev, kEnclavePages);
  shared->reserved = 0;  // faulted in before entering
  const std::uint64_t rax = eenter(kEnclaveModeSpin, shared);
  std::fprintf(stderr, "enclave returned rax=%llu\n", static_cast<unsigned long long>(rax));
  _exit(1);
}

void report_across(const char* outcome_text, const std::string& extra) {
  report({.property = "s3", .path = "enclave-across-s3", .outcome = outcome_text}, "%s",
         extra.c_str());
}

// Boot 1: the attack. Returns only when the machine did not go to sleep.
//
// Once CPU 1 is inside, it holds every interrupt: anything that would wait
// for it (a TLB shootdown, an ioctl that maps memory) is done before the
// fork. The marker's page is mapped into this process by a rewritten PTE,
// so the counts at the write are plain stores.
void enter_s3_from_the_enclave(AttackDevice& dev) {
  route_interrupts_to(kWatcherCpu);
  pin(kWatcherCpu);
  const Secret secret = random_secret();
  RunnableEnclave enclave(dev, kEnclavePages, secret);
  if (!enclave.ok()) {
    report_across("refused", "why=enclave-build " + std::string(enclave.failed) + "=" +
                                 std::to_string(enclave.status));
    return;
  }
  const std::optional<unsigned> slp_typ = dsdt_s3_slp_typ();
  const auto pmbase =
      static_cast<std::uint16_t>(Config(kLpc).read<std::uint32_t>(kLpcPmbase) & kPmbaseMask);
  // iopl, not ioperm: PMBASE lies above ioperm's 0x3FF.
  if (!slp_typ || pmbase == 0 || iopl(3) != 0) {
    report_across("refused", "why=no-s3 pmbase=" + std::to_string(pmbase));
    return;
  }
  // MAP_SHARED: fork neither copies nor write-protects it (a private
  // mapping's copy-on-write would undo the rewrite).
  void* page =
      mmap(nullptr, HIX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) fail("mmap");
  std::memset(page, 0, HIX_PAGE_SIZE);
  // reinterpret_cast: the ioctl ABI carries user addresses as integers.
  hix_attack_remap remap{reinterpret_cast<std::uint64_t>(page), kMarkerPa, 0};
  if (const int e = dev.call(HIX_ATTACK_REMAP_USER_PAGE, &remap); e != 0) {
    report_across("refused", "why=marker-map errno=" + std::to_string(e));
    return;
  }
  auto* m = static_cast<Marker*>(page);
  m->data_pa = kEnclavePages.data;
  m->enclave_cpu = kEnclaveCpu;
  m->secret = secret;
  const std::string boot_id = read_line("/proc/sys/kernel/random/boot_id");
  std::snprintf(m->boot_id.data(), m->boot_id.size(), "%s", boot_id.c_str());
  const std::uint16_t cnt = inw(static_cast<std::uint16_t>(pmbase + kPm1Cnt));
  const unsigned typ = (*slp_typ << kSlpTypShift) & kSlpTypMask;
  const auto sleep_cnt = static_cast<std::uint16_t>(
      (static_cast<unsigned>(cnt) & ~static_cast<unsigned>(kSlpTypMask)) | typ | kSlpEn);
  m->pm1a_cnt = sleep_cnt;
  m->magic = kMarkerMagic;
  void* mem =
      mmap(nullptr, HIX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fail("mmap");
  auto* shared = static_cast<volatile spinner_shared*>(mem);
  shared->reserved = 0;
  write_file("/sys/class/rtc/rtc0/wakealarm", "0");
  if (!write_file("/sys/class/rtc/rtc0/wakealarm", "+" + std::to_string(kWakeAfterS))) {
    m->magic = 0;
    report_across("refused", "why=no-rtc-alarm");
    return;
  }
  const auto en = static_cast<std::uint16_t>(pmbase + kPm1En);
  outw(static_cast<std::uint16_t>(static_cast<unsigned>(inw(en)) | kPm1EnRtc), en);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) run_enclave(shared);

  bool running = false;
  for (int i = 0; i < 100 && !running; ++i) {
    running = load(shared->counter) != 0;
    if (!running) sleep_ms(50);
  }
  if (!running) {
    m->magic = 0;
    report_across("refused", "why=the-enclave-never-ran");
    return;
  }
  m->counter_before = load(shared->counter);
  sleep_ms(100);
  m->counter_at = load(shared->counter);
  std::printf("s3: enclave on CPU %zu counting (%llu -> %llu); PM1a_CNT 0x%x <- 0x%x\n",
              kEnclaveCpu, static_cast<unsigned long long>(m->counter_before),
              static_cast<unsigned long long>(m->counter_at), cnt, sleep_cnt);
  std::fflush(stdout);
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the marker before the write
  outw(sleep_cnt, static_cast<std::uint16_t>(pmbase + kPm1Cnt));
  // Asleep now; the wake resets the machine and this boot ends. Still here
  // long after the alarm: the machine never slept.
  sleep_ms(1000L * (kWakeAfterS + 20));
  m->magic = 0;
  report_across("refused", "why=no-sleep counter=" + std::to_string(load(shared->counter)));
}

// Boot 2: what the wake left.
void report_after_the_wake(AttackDevice& dev, const Marker& m) {
  const std::vector<std::uint8_t> zeros(sizeof(Marker), 0);
  const int cleared = dev.write_phys(kMarkerPa, zeros);
  Page after{};
  const int err = dev.read_phys(m.data_pa, after);
  const std::uint32_t remove = dev.encls({HIX_EREMOVE, 0, m.data_pa, 0, 0, 0, 0});
  const std::uint32_t destroy = dev.encls({HIX_EDESTROY, 0, 0, kEnclavePages.secs, 0, 0, 0});
  const bool survived =
      (err == 0 && contains(after, m.secret)) || remove == HIX_OK || destroy == HIX_OK;
  const std::string online = read_line("/sys/devices/system/cpu/online");
  const std::string present = read_line("/sys/devices/system/cpu/present");
  const std::string boot_id = read_line("/proc/sys/kernel/random/boot_id");
  const bool rebooted =
      boot_id != std::string(m.boot_id.data(), strnlen(m.boot_id.data(), m.boot_id.size()));
  report({.property = "s3", .path = "enclave-across-s3", .outcome = outcome(survived)},
         "inside_at_suspend=%s enclave_cpu=%llu counter_before=%llu counter_at=%llu "
         "pm1a_cnt=0x%llx rebooted=%s read_err=%d page=%s eremove=%u edestroy=%u "
         "cpus_online=%s cpus_present=%s all_online=%s marker_cleared=%s epc=0x%llx",
         yes_no(m.counter_at > m.counter_before), static_cast<unsigned long long>(m.enclave_cpu),
         static_cast<unsigned long long>(m.counter_before),
         static_cast<unsigned long long>(m.counter_at), static_cast<unsigned long long>(m.pm1a_cnt),
         yes_no(rebooted), err, describe(after, m.secret), remove, destroy, online.c_str(),
         present.c_str(), yes_no(!online.empty() && online == present), yes_no(cleared == 0),
         static_cast<unsigned long long>(m.data_pa));
}

void enclave_across_s3() {
  AttackDevice dev;
  Marker m{};
  // reinterpret_cast: the marker travels as bytes.
  const std::span<std::uint8_t> bytes{reinterpret_cast<std::uint8_t*>(&m), sizeof m};
  if (const int e = dev.read_phys(kMarkerPa, bytes); e != 0) {
    report_across("refused", "why=no-reserved-ram (boot with memmap=64M$0x30000000) errno=" +
                                 std::to_string(e));
    return;
  }
  if (m.magic == kMarkerMagic) {
    report_after_the_wake(dev, m);
  } else {
    enter_s3_from_the_enclave(dev);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view path = argc > 1 ? argv[1] : "suspend-to-ram";
  if (path == "suspend-to-ram") {
    suspend_to_ram();
  } else if (path == "enclave-across-s3") {
    enclave_across_s3();
  } else {
    fail("unknown path %s", argv[1]);
  }
  return 0;
}
