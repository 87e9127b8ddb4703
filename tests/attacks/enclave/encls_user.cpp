// Attack (g): a user process executes ENCLS (ring 0 only). Expected: #GP,
// delivered by the kernel as SIGSEGV with si_code SI_KERNEL, audit-logged.
#include <setjmp.h>
#include <signal.h>

#include "attack_common.hpp"

namespace {

sigjmp_buf g_back;
volatile sig_atomic_t g_sig = 0;
volatile int g_code = 0;

void on_signal(int sig, siginfo_t* info, void*) {
  g_sig = sig;
  g_code = info->si_code;
  siglongjmp(g_back, 1);
}

}  // namespace

int main() {
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGILL, &sa, nullptr);
  bool executed = false;
  if (sigsetjmp(g_back, 1) == 0) {
    // ENCLS[ECREATE] with null operands: it must never get that far.
    asm volatile(".byte 0x0f, 0x01, 0xcf" ::"a"(0), "b"(0), "c"(0), "d"(0) : "memory");
    executed = true;
  }
  std::printf("ATTACK property=encls-cpl3 path=user-mode outcome=%s signal=%d si_code=%d\n",
              executed ? "executed" : "blocked", static_cast<int>(g_sig), g_code);
  return 0;
}
