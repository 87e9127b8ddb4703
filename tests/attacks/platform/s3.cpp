// Attack: S3 with an enclave alive (docs/specs/hix-isa.md §16.6). QEMU wakes
// an x86 guest from S3 through a system reset (with or without -no-reboot),
// which resets every device and the chipset's decode; enclave state must not
// outlive it, and no vCPU may stay in enclave mode across it. Root builds an
// enclave holding a secret, arms the RTC alarm and suspends to RAM; after the
// wake it reads the page back and asks the platform about the enclave.
//
// Path: suspend-to-ram. "succeeded" when the secret is still in the page or
// the enclave still exists after the wake.
#include <filesystem>
#include <fstream>
#include <string_view>

#include "platform_common.hpp"

namespace {

using namespace hix::platform;

bool write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace

int main() {
  AttackDevice dev;
  const std::uint64_t block = dev.block(1);
  const Secret secret = random_secret();
  RawEnclave enclave(dev, {.secs_pa = block, .page_pa = block + HIX_PAGE_SIZE}, secret);
  if (enclave.create_status != HIX_OK || enclave.add_status != HIX_OK) {
    report({.property = "s3", .path = "suspend-to-ram", .outcome = "refused"}, "ecreate=%u eadd=%u",
           enclave.create_status, enclave.add_status);
    return 0;
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
  return 0;
}
