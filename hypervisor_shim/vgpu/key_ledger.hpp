// The key ledger (docs/specs/hix-gpu.md §4.1): every key installed since the
// last scrub, with the counters that keep its nonces unique. Counters belong
// to the key, not to an install, so installing a key again (into any slot,
// or as the channel key) continues them instead of restarting them.
//
// Keys are held as keyed BLAKE2b digests, never as key bytes; the digest key
// is drawn again at every clear(). Not thread-safe: the device's exec_mu_
// guards it.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>

#include "secret_key.hpp"

namespace hix::vgpu {

class KeyLedger {
 public:
  struct Counters {
    std::uint64_t next_seq = 1;     // expected ring sequence number (§5.2)
    std::uint64_t last_out_id = 0;  // highest device-sealed tensor id (§7.3)
  };

  static constexpr std::size_t kCapacity = std::size_t{1} << 18;  // spec §4.1
  static constexpr std::size_t kDigestBytes = 16;

  KeyLedger();
  ~KeyLedger();
  KeyLedger(const KeyLedger&) = delete;
  KeyLedger& operator=(const KeyLedger&) = delete;

  // The counters of key: its entry if the ledger holds it, else a new one at
  // first-sight values. nullptr when a new entry is needed and the ledger is
  // full. The reference stays valid until clear().
  [[nodiscard]] Counters* enter(std::span<const std::uint8_t, kKeyBytes> key);
  // Forget every key (scrub) and draw a new digest key.
  void clear();
  std::size_t size() const { return entries_.size(); }

 private:
  using Digest = std::array<std::uint8_t, kDigestBytes>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const;
  };

  std::array<std::uint8_t, crypto_generichash_KEYBYTES> digest_key_{};
  // Node-based: Counters references survive rehashing.
  std::unordered_map<Digest, Counters, DigestHash> entries_;
};

}  // namespace hix::vgpu
