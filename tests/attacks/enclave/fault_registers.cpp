// Attack (f): the hello enclave loads a secret pattern into every register
// and faults on purpose. Expected: the enclave aborts (fail-closed), no signal
// reaches the process, the pattern is in no register the host sees at the
// AEP, and the enclave is dead afterwards.
#include <signal.h>

#include "attack_common.hpp"
#include "hello/hello_abi.h"

namespace {

volatile sig_atomic_t g_signals = 0;

void count_signal(int) {
  g_signals = g_signals + 1;
}

bool pattern_in(const void* data, std::size_t len) {
  const std::uint64_t pattern = HELLO_SECRET_PATTERN;
  std::array<std::uint8_t, 8> needle{};
  std::memcpy(needle.data(), &pattern, sizeof pattern);
  // reinterpret_cast: search the captured register file as raw bytes.
  const auto* p = static_cast<const std::uint8_t*>(data);
  return std::search(p, p + len, needle.begin(), needle.end()) != p + len;
}

}  // namespace

int main() {
  using namespace hix::attacks;
  for (int sig : {SIGILL, SIGSEGV, SIGTRAP, SIGBUS, SIGFPE}) {
    struct sigaction sa {};
    sa.sa_handler = count_signal;
    sigaction(sig, &sa, nullptr);
  }
  loader::Enclave hello = load_enclave("/usr/share/openhix/enclaves/hello.elf");
  std::array<std::uint8_t, 16> buf{};
  const loader::EcallResult r = hello.ecall(HELLO_ECALL_FAULT, buf);
  const bool found = pattern_in(&r.registers, sizeof r.registers);
  const auto unscrubbed = loader::unscrubbed_registers(r);
  const loader::EcallResult again = hello.ecall(HELLO_ECALL_NULL, buf);
  verdict("fault-registers", "ud2-with-secrets", found,
          "result=%s vector=%llu signals=%d unscrubbed=%zu next_enter=%s next_isa_status=%llu",
          loader::to_string(r.status), static_cast<unsigned long long>(r.vector),
          static_cast<int>(g_signals), unscrubbed.size(), loader::to_string(again.status),
          static_cast<unsigned long long>(again.isa_status));
  return 0;
}
