// The crypto engine (spec §7).
#include "crypto_engine.hpp"

#include <sodium.h>

#include "counter.hpp"

namespace hix::vgpu {

CryptoEngine::~CryptoEngine() {
  wipe();
}

void CryptoEngine::wipe() {
  if (DeviceCrypto* dc = backend_.device_crypto(); dc != nullptr) {
    // Staging that cannot be zeroed is the backend's failure to report; the
    // host staging below is wiped regardless.
    static_cast<void>(dc->wipe());
  }
  sodium_memzero(plain_.data(), plain_.size());
  sodium_memzero(sealed_.data(), sealed_.size());
  unpin_staging();
  plain_ = {};
  sealed_ = {};
}

std::span<std::byte> CryptoEngine::sealed_staging(std::uint64_t total, bool pin) {
  if (sealed_.size() < total) {
    unpin_staging();  // the memory moves
    // Whole 64 MiB steps: a model's tensors of many sizes repin it rarely.
    constexpr std::uint64_t kStep = std::uint64_t{64} << 20;
    sealed_.resize((total + kStep - 1) / kStep * kStep);
  }
  if (pin && pinned_.empty() && backend_.device_crypto() != nullptr) {
    const std::span<std::byte> all(sealed_.data(), sealed_.size());
    // A backend that cannot pin still copies, more slowly.
    if (backend_.pin_host(all) == Status::ok) pinned_ = all;
  }
  return {sealed_.data(), total};
}

void CryptoEngine::unpin_staging() {
  if (pinned_.empty()) return;
  backend_.unpin_host(pinned_);
  pinned_ = {};
}

Status CryptoEngine::open_into(VramOffset dst, std::span<const std::byte> sealed,
                               std::uint64_t bytes, SealParams params,
                               std::span<const std::uint8_t, kKeyBytes> key) {
  if (DeviceCrypto* dc = backend_.device_crypto(); dc != nullptr) {
    // Decrypted where the plaintext lives; the engine copies the sealed
    // bytes into device memory before it checks them.
    const Status s = dc->open(dst, bytes, sealed, params, key);
    if (s != Status::auth_failed) return s;
    saturating_increment(auth_failures_);
    // Spec §7.2, the same for every backend: whatever the engine's open
    // mode left there (its old contents, zeros), the range reads as zeros.
    HIX_TRY(backend_.zero(dst, bytes));
    return Status::auth_failed;
  }
  if (plain_.size() < bytes) plain_.resize(bytes);
  const std::span<std::byte> plain(plain_.data(), bytes);
  if (open_tensor(plain, sealed, params, key) != Status::ok) {
    saturating_increment(auth_failures_);
    // open_tensor has zeroed the plaintext staging. Spec §7.2: the
    // destination reads as zeros after a failed open, as with a GPU engine
    // that decrypts while it verifies (nothing of a forged tensor remains).
    HIX_TRY(backend_.zero(dst, bytes));
    return Status::auth_failed;
  }
  const Status s = backend_.write_bytes(dst, plain);
  sodium_memzero(plain.data(), plain.size());
  return s;
}

Status CryptoEngine::dma_in_decrypt(VramOffset dst, GuestPhys src, std::uint64_t bytes,
                                    SealParams params,
                                    std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t total = sealed_size(bytes);
  if (total == 0) return Status::invalid_arg;
  if (backend_.device_crypto() != nullptr) {
    // The device engine copies guest memory before it checks anything.
    auto guest = dma_.map(src, total);
    if (!guest) return guest.status();
    return open_into(dst, *guest, bytes, params, key);
  }
  // The host engine checks a copy the guest can no longer change.
  const std::span<std::byte> sealed = sealed_staging(total, false);
  HIX_TRY(dma_.read(src, sealed));
  return open_into(dst, sealed, bytes, params, key);
}

RunOutcome CryptoEngine::dma_in_decrypt_run(std::span<const DecryptItem> run) {
  // Spec §7.2.1: a tensor whose sealed bytes cannot be fetched ends the run
  // there; the tensors before it run, then it fails as its op would (the
  // fetch below checks, counts and fails exactly as dma_in_decrypt's).
  std::size_t n = 0;
  Status stop = Status::ok;
  std::uint64_t total = 0;
  for (; n < run.size(); ++n) {
    const std::uint64_t size = sealed_size(run[n].bytes);
    if (size == 0) {
      stop = Status::invalid_arg;
      break;
    }
    total += size;
  }
  const bool on_device = backend_.device_crypto() != nullptr;
  // The host engine checks copies the guest can no longer change, back to
  // back in the staging; the device engine copies guest memory itself.
  const std::span<std::byte> staging =
      on_device ? std::span<std::byte>{} : sealed_staging(total, false);
  std::vector<std::span<const std::byte>> sealed;
  sealed.reserve(n);
  std::uint64_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t size = sealed_size(run[i].bytes);
    if (on_device) {
      auto guest = dma_.map(run[i].src, size);
      if (!guest) {
        stop = guest.status();
        n = i;
        break;
      }
      sealed.emplace_back(*guest);
    } else {
      const std::span<std::byte> copy = staging.subspan(at, size);
      if (const Status s = dma_.read(run[i].src, copy); s != Status::ok) {
        stop = s;
        n = i;
        break;
      }
      sealed.emplace_back(copy);
      at += size;
    }
  }
  if (n > 0) {
    if (n > 1) runs_.fetch_add(1, std::memory_order_relaxed);
    const RunOutcome done = open_run(run.first(n), sealed);
    if (done.status != Status::ok) return done;
  }
  return {n, stop};
}

RunOutcome CryptoEngine::open_run(std::span<const DecryptItem> run,
                                  std::span<const std::span<const std::byte>> sealed) {
  DeviceCrypto* dc = backend_.device_crypto();
  if (dc == nullptr) return open_run_on_host(run, sealed);
  std::vector<DeviceCrypto::OpenItem> items;
  items.reserve(run.size());
  for (std::size_t i = 0; i < run.size(); ++i) {
    items.push_back({run[i].dst, run[i].bytes, sealed[i], run[i].params, run[i].key});
  }
  const RunOutcome r = dc->open_run(items);
  if (r.status != Status::auth_failed) return r;
  saturating_increment(auth_failures_);
  // Spec §7.2: the failing tensor's range reads as zeros.
  if (const Status z = backend_.zero(run[r.opened].dst, run[r.opened].bytes); z != Status::ok) {
    return {r.opened, z};
  }
  return r;
}

// The host's run: every tensor opened (verified, then decrypted) into the
// plaintext staging up to the first that fails; only then are the verified
// ones written, in order, and the failing one's range zeroed.
RunOutcome CryptoEngine::open_run_on_host(std::span<const DecryptItem> run,
                                          std::span<const std::span<const std::byte>> sealed) {
  std::uint64_t plain_total = 0;
  for (const DecryptItem& t : run) plain_total += t.bytes;
  if (plain_.size() < plain_total) plain_.resize(plain_total);
  std::size_t verified = 0;
  std::uint64_t at = 0;
  for (; verified < run.size(); ++verified) {
    const DecryptItem& t = run[verified];
    const std::span<std::byte> plain(plain_.data() + at, t.bytes);
    // open_tensor zeroes `plain` when it fails.
    if (open_tensor(plain, sealed[verified], t.params, t.key) != Status::ok) break;
    at += t.bytes;
  }
  RunOutcome out{verified, Status::ok};
  at = 0;
  for (std::size_t i = 0; i < verified; ++i) {
    const std::span<const std::byte> plain(plain_.data() + at, run[i].bytes);
    if (const Status s = backend_.write_bytes(run[i].dst, plain); s != Status::ok) {
      out = {i, s};
      break;
    }
    at += run[i].bytes;
  }
  sodium_memzero(plain_.data(), plain_total);
  if (out.status != Status::ok || verified == run.size()) return out;
  saturating_increment(auth_failures_);
  const DecryptItem& bad = run[verified];
  if (const Status z = backend_.zero(bad.dst, bad.bytes); z != Status::ok) return {verified, z};
  return {verified, Status::auth_failed};
}

Status CryptoEngine::dma_in_decrypt_peer(VramOffset dst, const PeerDisks& disks, PeerAt at,
                                         std::uint64_t bytes, SealParams params,
                                         std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t total = sealed_size(bytes);
  if (total == 0) return Status::invalid_arg;
  if (!disks.holds(at.disk, at.offset, total)) {
    dma_.count_denied();
    return Status::dma_denied;
  }
  // Read into the engine's own staging, which nobody else writes.
  const std::span<std::byte> sealed = sealed_staging(total, true);
  if (const Status s = disks.read(at.disk, at.offset, sealed); s != Status::ok) {
    if (s == Status::dma_denied) dma_.count_denied();
    return s;
  }
  return open_into(dst, sealed, bytes, params, key);
}

Status CryptoEngine::dma_out_encrypt(VramOffset src, GuestPhys dst, std::uint64_t bytes,
                                     SealParams params,
                                     std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t total = sealed_size(bytes);
  if (total == 0) return Status::invalid_arg;
  if (!dma_.allowed(dst, total)) {
    dma_.count_denied();
    return Status::dma_denied;
  }
  if (DeviceCrypto* dc = backend_.device_crypto(); dc != nullptr) {
    auto guest = dma_.map(dst, total);
    if (!guest) return guest.status();
    return dc->seal(*guest, src, bytes, params, key);
  }
  const std::span<std::byte> sealed = sealed_staging(total, false);
  if (plain_.size() < bytes) plain_.resize(bytes);
  const std::span<std::byte> plain(plain_.data(), bytes);
  Status s = backend_.read_bytes(src, plain);
  if (s == Status::ok) s = seal_tensor(sealed, plain, params, key);
  sodium_memzero(plain.data(), plain.size());
  if (s != Status::ok) return s;
  return dma_.write(dst, sealed);
}

}  // namespace hix::vgpu
