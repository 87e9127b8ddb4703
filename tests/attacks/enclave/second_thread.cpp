// Attack (b): a second thread of the enclave's own process, outside enclave
// mode, reads the vault page through the process's ELRANGE mapping.
// Expected with HIX enforcing: all-ones (spec §5), audit-logged.
#include <thread>

#include "attack_common.hpp"

int main() {
  using namespace hix::attacks;
  loader::Enclave vault = load_enclave(kVaultImage);
  const Secret secret = random_secret();
  const std::uint64_t page = plant(vault, secret);

  std::array<std::uint8_t, 4096> seen{};
  std::thread reader([&] {
    // volatile: each byte must be a real load through the enclave's mapping.
    // reinterpret_cast: the enclave reported its page as an integer address.
    const volatile std::uint8_t* p =
        reinterpret_cast<const volatile std::uint8_t*>(page);  // NOLINT(performance-no-int-to-ptr)
    for (std::size_t i = 0; i < seen.size(); ++i) seen[i] = p[i];
  });
  reader.join();
  verdict("second-thread", "elrange-mapping", contains_secret(seen, secret),
          "bytes=%s linear=0x%llx", describe(seen), static_cast<unsigned long long>(page));
  return 0;
}
