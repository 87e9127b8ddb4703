// Shared by the enclave attackers (tests/attacks/enclave/*.cpp): load the
// vault, plant a secret, talk to /dev/hix-attack, print the verdict line.
//
// Every attacker prints lines of the form
//   ATTACK property=NAME path=PATH outcome=leaked|blocked|refused [key=value...]
// and exits 0 when it could run the attack at all (the verifier, not the
// attacker, decides what outcome is required).
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "hix/loader/driver.hpp"
#include "hix/loader/enclave.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix_attack_abi.h"
#include "vault/vault_abi.h"

namespace hix::attacks {

inline constexpr const char* kVaultImage = "/usr/share/openhix/enclaves/vault.elf";
using Secret = std::array<std::uint8_t, VAULT_SECRET_SIZE>;

[[noreturn]] inline void fail(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "attack setup failed: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(2);
}

inline Secret random_secret() {
  Secret s{};
  if (getrandom(s.data(), s.size(), 0) != static_cast<ssize_t>(s.size())) fail("getrandom");
  return s;
}

// Does `data` hold the secret (or a 16-byte piece of it) anywhere?
inline bool contains_secret(std::span<const std::uint8_t> data, const Secret& s) {
  const auto it = std::search(data.begin(), data.end(), s.begin(), s.begin() + 16);
  return it != data.end();
}

inline bool all_ones(std::span<const std::uint8_t> data) {
  return std::all_of(data.begin(), data.end(), [](std::uint8_t b) { return b == 0xFF; });
}

inline const char* describe(std::span<const std::uint8_t> data) {
  return all_ones(data) ? "all-ones" : "other";
}

inline void verdict(const char* property, const char* path, bool leaked, const char* extra_fmt,
                    ...) {
  char extra[512] = "";
  std::va_list ap;
  va_start(ap, extra_fmt);
  std::vsnprintf(extra, sizeof extra, extra_fmt, ap);
  va_end(ap);
  std::printf("ATTACK property=%s path=%s outcome=%s %s\n", property, path,
              leaked ? "leaked" : "blocked", extra);
  std::fflush(stdout);
}

inline loader::Enclave load_enclave(const char* path) {
  auto image = loader::load_enclave_image(path);
  if (!image.ok()) fail("image %s: %s", path, loader::to_string(image.status()));
  auto dev = loader::DevHix::open();
  if (!dev.ok()) fail("/dev/hix: %s", loader::to_string(dev.status()));
  auto enclave = loader::Enclave::load(std::move(dev).value(), image.value());
  if (!enclave.ok()) {
    fail("load %s: %s %s", path, loader::to_string(enclave.status()), enclave.detail().c_str());
  }
  return std::move(enclave).value();
}

inline loader::EcallResult ecall(loader::Enclave& e, std::uint64_t n, std::span<std::uint8_t> buf) {
  return e.ecall(n, buf);
}

// The vault with `secret` planted; returns the vault page's linear address.
inline std::uint64_t plant(loader::Enclave& vault, const Secret& secret) {
  Secret copy = secret;
  if (!ecall(vault, VAULT_ECALL_STORE, copy).succeeded()) fail("vault store");
  std::array<std::uint8_t, 8> addr{};
  if (!ecall(vault, VAULT_ECALL_ADDRESS, addr).succeeded()) fail("vault address");
  std::uint64_t a = 0;
  std::memcpy(&a, addr.data(), sizeof a);
  return a;
}

// How /dev/hix-attack reads a physical page: through the kernel's direct
// map, or through a fresh mapping of the same frame.
enum class PhysRead : unsigned long {
  direct = HIX_ATTACK_READ_PHYS_DIRECT,
  fresh_map = HIX_ATTACK_READ_PHYS_MAP,
};

// /dev/hix-attack (tests/attacks/kmod), loaded on first use.
class AttackDevice {
 public:
  AttackDevice() {
    fd_ = ::open(HIX_ATTACK_DEVICE, O_RDWR);
    if (fd_ < 0) {
      if (std::system("insmod /lib/modules/openhix-test/hix_attack.ko") != 0) {
        fail("insmod hix_attack.ko");
      }
      fd_ = ::open(HIX_ATTACK_DEVICE, O_RDWR);
    }
    if (fd_ < 0) fail("%s: %s", HIX_ATTACK_DEVICE, std::strerror(errno));
  }
  ~AttackDevice() { ::close(fd_); }
  AttackDevice(const AttackDevice&) = delete;
  AttackDevice& operator=(const AttackDevice&) = delete;

  std::uint64_t virt_to_phys(std::uint64_t vaddr) {
    hix_attack_virt_to_phys req{vaddr, 0};
    if (::ioctl(fd_, HIX_ATTACK_VIRT_TO_PHYS, &req) != 0) fail("VIRT_TO_PHYS %s", strerror(errno));
    return req.phys;
  }
  // 0 on success, else errno.
  int read_phys(PhysRead how, std::uint64_t phys, std::span<std::uint8_t> out) {
    // reinterpret_cast: the ioctl ABI carries user pointers as integers.
    hix_attack_phys_rw req{phys, out.size(), reinterpret_cast<std::uint64_t>(out.data())};
    return ::ioctl(fd_, static_cast<unsigned long>(how), &req) == 0 ? 0 : errno;
  }
  std::uint64_t marked_page(std::uint8_t pattern) {
    hix_attack_marked_page req{};
    req.pattern = pattern;
    if (::ioctl(fd_, HIX_ATTACK_ALLOC_MARKED_PAGE, &req) != 0) fail("ALLOC_MARKED_PAGE");
    return req.phys;
  }
  std::uint64_t remap(std::uint64_t vaddr, std::uint64_t new_phys) {
    hix_attack_remap req{vaddr, new_phys, 0};
    if (::ioctl(fd_, HIX_ATTACK_REMAP_USER_PAGE, &req) != 0) fail("REMAP %s", strerror(errno));
    return req.old_phys;
  }

 private:
  int fd_ = -1;
};

}  // namespace hix::attacks

// The attackers' mains use the loader's names unqualified.
namespace loader = hix::loader;
