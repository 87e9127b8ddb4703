// Shared by the lockdown attackers (tests/attacks/lockdown/*.cpp), on top of
// the enclave suite's attack_common.hpp (fail, AttackDevice, the vault).
//
// Every attacker prints lines of the form
//   ATTACK property=NAME path=PATH outcome=succeeded|blocked|refused [key=value...]
// "succeeded": the attack reached its goal (a secret read, a write that
// landed, a register moved); "blocked": it did not; "refused": the path
// itself was unavailable (no verdict on HIX). Attackers exit 0 when they ran;
// the verifier, not the attacker, decides which outcome is required.
#pragma once

#include <sys/random.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>

#include "attack_common.hpp"
#include "gpu_owner_host.hpp"
#include "hix/gpu/regs.hpp"
#include "owner_channel.hpp"
#include "pci.hpp"

namespace hix::lockdown {

using gpu::Reg32;

// A fresh register value: never 0 (reset value) nor all-ones (abort page).
inline std::uint32_t random_word() {
  std::uint32_t v = 0;
  while (v == 0 || v == ~0u) {
    if (getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) attacks::fail("getrandom");
  }
  return v;
}

// The verdict line's fixed fields: the property attacked, the path tried and
// its outcome ("succeeded", "blocked", "refused").
struct Verdict {
  const char* property;
  const char* path;
  const char* outcome;
};

inline void report(const Verdict& v, const char* extra_fmt, ...) {
  char extra[768] = "";
  std::va_list ap;
  va_start(ap, extra_fmt);
  std::vsnprintf(extra, sizeof extra, extra_fmt, ap);
  va_end(ap);
  std::printf("ATTACK property=%s path=%s outcome=%s %s\n", v.property, v.path, v.outcome, extra);
  std::fflush(stdout);
}

inline const char* outcome(bool succeeded) {
  return succeeded ? "succeeded" : "blocked";
}

// "0x%08x", or "none" when the owner could not answer.
struct OwnerValue {
  char text[16];
  explicit OwnerValue(const std::optional<std::uint32_t>& v) {
    if (v) {
      std::snprintf(text, sizeof text, "0x%08x", *v);
    } else {
      std::snprintf(text, sizeof text, "none");
    }
  }
  const char* c_str() const { return text; }
};

// Plants a fresh secret in SCRATCH through the owner's enclave.
inline std::uint32_t plant_secret(OwnerClient& owner) {
  const std::uint32_t secret = random_word();
  if (!owner.write(Reg32::scratch, secret) || owner.read(Reg32::scratch) != secret) {
    attacks::fail("the owner cannot write SCRATCH through its enclave");
  }
  return secret;
}

}  // namespace hix::lockdown
