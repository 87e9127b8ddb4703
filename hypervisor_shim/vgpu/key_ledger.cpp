// The key ledger (docs/specs/hix-gpu.md §4.1).
#include "key_ledger.hpp"

#include <cstring>

namespace hix::vgpu {

std::size_t KeyLedger::DigestHash::operator()(const Digest& d) const {
  // The digest is already a keyed hash: its first bytes are uniform.
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

KeyLedger::KeyLedger() {
  // Idempotent; the device may not have run it yet. On failure the
  // randombytes implementation still initialises itself lazily.
  if (sodium_init() < 0) digest_key_.fill(0);
  randombytes_buf(digest_key_.data(), digest_key_.size());
}

KeyLedger::~KeyLedger() {
  sodium_memzero(digest_key_.data(), digest_key_.size());
}

KeyLedger::Counters* KeyLedger::enter(std::span<const std::uint8_t, kKeyBytes> key) {
  Digest d{};
  crypto_generichash(d.data(), d.size(), key.data(), key.size(), digest_key_.data(),
                     digest_key_.size());
  if (const auto it = entries_.find(d); it != entries_.end()) return &it->second;
  if (entries_.size() >= kCapacity) return nullptr;
  return &entries_.emplace(d, Counters{}).first->second;
}

void KeyLedger::clear() {
  entries_.clear();
  randombytes_buf(digest_key_.data(), digest_key_.size());
}

}  // namespace hix::vgpu
