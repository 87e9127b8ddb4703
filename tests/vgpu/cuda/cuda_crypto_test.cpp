// hix-cuda-crypto-test: the GPU crypto engine (cuda_crypto_engine.hpp)
// against libsodium. Sealing must give the CPU engine's bytes exactly (and
// the known answers of kat_vectors.inc); opening must give the plaintext back;
// every forgery must fail with AUTH_FAILED, be counted once and leave the
// destination as it was (OpenMode::gated) or zeroed (OpenMode::concurrent,
// OpenMode::one_pass); every mode is tested, and the one-pass kernel in each
// of its lane counts. Runs (open_run, spec §7.2.1) must give what one
// open_tensor per tensor gives, and a forged tensor must stop the run at it.
// Without a GPU or driver it prints "skipped: no GPU" and exits 0.
#include <cuda_runtime_api.h>
#include <sodium.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cuda_crypto_engine.hpp"
#include "device_buffer.hpp"
#include "gpu_presence.hpp"
#include "kat_common.hpp"
#include "sealed_chunk.hpp"
#include "sealed_chunk_kernels.hpp"
#include "sealed_tensor_view.hpp"

namespace hix::vgpu::cuda::kat {
#include "kat_vectors.inc"
}  // namespace hix::vgpu::cuda::kat

namespace hix::vgpu::cuda::test {
namespace {

using Key = std::vector<std::uint8_t>;

int g_checks = 0;
int g_failures = 0;

__attribute__((format(printf, 2, 3))) bool check(bool ok, const char* fmt, ...) {
  ++g_checks;
  if (ok) return true;
  ++g_failures;
  std::va_list ap;
  va_start(ap, fmt);
  std::fputs("FAIL: ", stdout);
  std::vprintf(fmt, ap);
  std::fputc('\n', stdout);
  va_end(ap);
  return false;
}

std::mt19937_64& rng() {
  static std::mt19937_64 r(0x41524e49u);
  return r;
}

std::span<const std::uint8_t, kKeyBytes> key_span(const Key& k) {
  return std::span<const std::uint8_t, kKeyBytes>(k.data(), kKeyBytes);
}

Key random_key() {
  Key k(kKeyBytes);
  randombytes_buf(k.data(), k.size());
  return k;
}

std::vector<std::byte> random_bytes(std::uint64_t n) {
  std::vector<std::byte> v(n);
  randombytes_buf(v.data(), v.size());
  return v;
}

// cudaMemcpy from pageable memory may return before the data has reached the
// device: wait for it, so that no test depends on stream ordering.
bool upload(const DeviceBuffer& d, std::uint64_t off, const std::vector<std::byte>& v) {
  return cudaMemcpy(d.data() + off, v.data(), v.size(), cudaMemcpyHostToDevice) == cudaSuccess &&
         cudaDeviceSynchronize() == cudaSuccess;
}

std::vector<std::byte> download(const DeviceBuffer& d, std::uint64_t off, std::uint64_t n) {
  std::vector<std::byte> v(n);
  if (cudaMemcpy(v.data(), d.data() + off, n, cudaMemcpyDeviceToHost) != cudaSuccess) v.clear();
  return v;
}

std::vector<std::byte> cpu_seal(const std::vector<std::byte>& plain, SealParams p, const Key& k) {
  std::vector<std::byte> sealed(sealed_size(plain.size()));
  if (hix::vgpu::seal_tensor(sealed, plain, p, key_span(k)) != Status::ok) sealed.clear();
  return sealed;
}

// --- Known answers ---

void test_known_answers(CudaCryptoEngine& eng) {
  for (const kat::Vector& v : kat::kVectors) {
    const auto plain = kat::plain_for(v.bytes, v.seed);
    const Key key = kat::key_for(v.seed);
    const SealParams p{v.key_id, v.tensor_id};
    const std::uint64_t total = sealed_size(v.bytes);
    DeviceBuffer src(v.bytes), sealed_dev(total), dst(v.bytes);
    if (!check(src.ok() && sealed_dev.ok() && dst.ok() && upload(src, 0, plain), "kat alloc"))
      return;

    std::vector<std::byte> sealed(total);
    check(eng.seal_tensor(sealed, src.span(0, v.bytes), p, key_span(key)) == Status::ok,
          "kat %" PRIu64 ": seal to host", v.bytes);
    check(kat::sha256_hex(sealed) == v.sealed_sha256, "kat %" PRIu64 ": sealed bytes (SHA-256)",
          v.bytes);
    check(kat::tags_hex(sealed, v.bytes) == v.tags, "kat %" PRIu64 ": tags", v.bytes);
    if (v.bytes <= kat::kFullHexMax) {
      check(kat::to_hex(sealed.data(), sealed.size()) == v.sealed, "kat %" PRIu64 ": sealed hex",
            v.bytes);
    }
    check(eng.seal_tensor(sealed_dev.span(0, total), src.span(0, v.bytes), p, key_span(key)) ==
              Status::ok,
          "kat %" PRIu64 ": seal in device memory", v.bytes);
    check(kat::sha256_hex(download(sealed_dev, 0, total)) == v.sealed_sha256,
          "kat %" PRIu64 ": device-sealed bytes", v.bytes);

    const auto reference = kat::libsodium_seal(plain, v.key_id, v.tensor_id, key);
    check(eng.open_tensor(dst.span(0, v.bytes), reference, p, key_span(key)) == Status::ok,
          "kat %" PRIu64 ": open", v.bytes);
    check(download(dst, 0, v.bytes) == plain, "kat %" PRIu64 ": opened plaintext", v.bytes);
  }
}

// --- Random sizes, chunk counts and alignments ---

std::uint64_t random_size() {
  auto& r = rng();
  switch (r() % 5) {
    case 0:
      return r() % 300 + 1;  // inside one keystream block or a few
    case 1: {
      const std::uint64_t chunks = r() % 8 + 1;  // around a chunk boundary
      const std::uint64_t size = chunks * 65536 + (r() % 129) - 64;
      return std::max<std::uint64_t>(size, 1);
    }
    case 2:
      return r() % (3 * 65536ull) + 1;
    case 3:
      return r() % (8u << 20) + 1;  // up to 128 chunks
    default:
      return (r() % 40 + 1) * 65536;  // whole chunks
  }
}

void test_random(CudaCryptoEngine& eng, int cases) {
  for (int c = 0; c < cases; ++c) {
    const std::uint64_t bytes = random_size();
    const Key key = random_key();
    const SealParams p{static_cast<std::uint8_t>(rng()()), rng()()};
    // Odd offsets exercise the kernels' byte path for unaligned plaintext.
    const std::uint64_t off = c % 4 == 3 ? rng()() % 15 + 1 : 0;
    const auto plain = random_bytes(bytes);
    const auto reference = cpu_seal(plain, p, key);
    const std::uint64_t total = reference.size();
    DeviceBuffer src(bytes + off), dst(bytes + off), sealed_dev(total);
    if (!check(src.ok() && dst.ok() && sealed_dev.ok() && upload(src, off, plain),
               "random %d: alloc", c)) {
      return;
    }

    // Seal: the CPU engine's bytes exactly, to host and to device memory.
    PinnedBuffer sealed_host(total);
    if (!check(sealed_host.ok(), "random %d: pinned alloc", c)) return;
    check(eng.seal_tensor(sealed_host.span(), src.span(off, bytes), p, key_span(key)) == Status::ok,
          "random %d (%" PRIu64 " bytes, offset %" PRIu64 "): seal", c, bytes, off);
    check(std::memcmp(sealed_host.data(), reference.data(), total) == 0,
          "random %d (%" PRIu64 " bytes): GPU seal differs from libsodium", c, bytes);
    check(eng.seal_tensor(sealed_dev.span(0, total), src.span(off, bytes), p, key_span(key)) ==
              Status::ok,
          "random %d: seal in device memory", c);
    check(download(sealed_dev, 0, total) == reference,
          "random %d (%" PRIu64 " bytes): device seal differs from libsodium", c, bytes);

    // Open: from pageable memory, from pinned memory, from device memory.
    check(eng.open_tensor(dst.span(off, bytes), reference, p, key_span(key)) == Status::ok,
          "random %d (%" PRIu64 " bytes, offset %" PRIu64 "): open", c, bytes, off);
    check(download(dst, off, bytes) == plain, "random %d (%" PRIu64 " bytes): opened plaintext", c,
          bytes);
    if (cudaMemset(dst.data(), 0, bytes + off) != cudaSuccess ||
        cudaDeviceSynchronize() != cudaSuccess) {
      check(false, "memset");
    }
    check(
        eng.open_tensor(dst.span(off, bytes), std::span<const std::byte>(sealed_host.data(), total),
                        p, key_span(key)) == Status::ok,
        "random %d: open from pinned memory", c);
    check(download(dst, off, bytes) == plain, "random %d: opened plaintext (pinned)", c);
    if (cudaMemset(dst.data(), 0, bytes + off) != cudaSuccess ||
        cudaDeviceSynchronize() != cudaSuccess) {
      check(false, "memset");
    }
    check(eng.open_tensor(dst.span(off, bytes), sealed_dev.span(0, total), p, key_span(key)) ==
              Status::ok,
          "random %d: open from device memory", c);
    check(download(dst, off, bytes) == plain, "random %d: opened plaintext (device)", c);
  }
}

// --- Forgeries: AUTH_FAILED, counted, destination untouched (gated) or zeroed ---

// What the destination must hold after a failed open that found `before` there.
std::vector<std::byte> after_forgery(const CudaCryptoEngine& eng,
                                     const std::vector<std::byte>& before) {
  return eng.open_mode() == OpenMode::gated ? before : std::vector<std::byte>(before.size());
}

// The engine's open mode, and the one-pass kernel's lanes: "one_pass/128".
std::string mode_name(const CudaCryptoEngine& eng) {
  switch (eng.open_mode()) {
    case OpenMode::gated:
      return "gated";
    case OpenMode::concurrent:
      return "concurrent";
    case OpenMode::one_pass:
      return "one_pass/" + std::to_string(eng.one_pass_lanes());
  }
  return "?";
}

struct Tamper {
  const char* what;
  std::vector<std::byte> sealed;
  SealParams params;
  Key key;
};

void flip(std::vector<std::byte>& s, std::uint64_t at, unsigned bit = 0) {
  s[at] ^= static_cast<std::byte>(1u << bit);
}

void test_forgeries(CudaCryptoEngine& eng) {
  const std::uint64_t bytes = 5 * 65536 + 1000;  // six chunks, the last partial
  const std::uint64_t chunks = 6;
  const Key key = random_key();
  const SealParams p{3, 0x1234};
  const auto plain = random_bytes(bytes);
  const auto good = cpu_seal(plain, p, key);
  const std::uint64_t stride = kChunkStride;
  const std::uint64_t last_tag = (chunks - 1) * stride + 32 + 1000;

  std::vector<Tamper> cases;
  const auto add = [&](const char* what, auto&& edit) {
    Tamper t{what, good, p, key};
    edit(t);
    cases.push_back(std::move(t));
  };
  add("ciphertext, first byte", [&](Tamper& t) { flip(t.sealed, 32); });
  add("ciphertext, middle chunk", [&](Tamper& t) { flip(t.sealed, 2 * stride + 32 + 40000, 7); });
  add("ciphertext, last byte", [&](Tamper& t) { flip(t.sealed, last_tag - 1, 3); });
  add("tag, first chunk", [&](Tamper& t) { flip(t.sealed, 32 + 65536); });
  add("tag, last chunk, last byte", [&](Tamper& t) { flip(t.sealed, last_tag + 15, 7); });
  const struct {
    const char* what;
    std::uint64_t offset;
  } fields[] = {
      {"header magic", 0},        {"header version", 4},      {"header key_id", 5},
      {"header reserved", 6},     {"header tensor_id", 8},    {"header tensor_id bit 63", 15},
      {"header chunk_index", 16}, {"header chunk_count", 20}, {"header tensor_bytes", 24}};
  for (const auto& f : fields) {
    add(f.what, [&](Tamper& t) { flip(t.sealed, 3 * stride + f.offset, f.offset == 15 ? 7 : 0); });
  }
  add("chunks 1 and 2 swapped", [&](Tamper& t) {
    std::swap_ranges(t.sealed.begin() + static_cast<std::ptrdiff_t>(stride),
                     t.sealed.begin() + static_cast<std::ptrdiff_t>(2 * stride),
                     t.sealed.begin() + static_cast<std::ptrdiff_t>(2 * stride));
  });
  add("chunk 4 from another tensor", [&](Tamper& t) {
    const auto other = cpu_seal(plain, SealParams{p.key_id, p.tensor_id + 1}, key);
    std::copy_n(other.begin() + static_cast<std::ptrdiff_t>(4 * stride), stride,
                t.sealed.begin() + static_cast<std::ptrdiff_t>(4 * stride));
  });
  add("wrong key", [&](Tamper& t) { t.key[31] ^= 1; });
  add("wrong tensor id", [&](Tamper& t) { t.params.tensor_id ^= 1; });
  add("wrong key slot", [&](Tamper& t) { t.params.key_id ^= 1; });

  DeviceBuffer dst(bytes);
  if (!check(dst.ok(), "forgery alloc")) return;
  std::vector<std::byte> poison(bytes);
  for (std::uint64_t i = 0; i < bytes; ++i) poison[i] = static_cast<std::byte>(0xA5 ^ (i & 0xff));
  DeviceBuffer sealed_dev(good.size());
  if (!check(sealed_dev.ok(), "forgery alloc")) return;

  for (const Tamper& t : cases) {
    for (const bool from_device : {false, true}) {
      if (!upload(dst, 0, poison)) check(false, "upload poison");
      const std::uint32_t before = eng.auth_failures();
      Status s = Status::ok;
      if (from_device) {
        if (!upload(sealed_dev, 0, t.sealed)) check(false, "upload forgery");
        s = eng.open_tensor(dst.span(0, bytes), sealed_dev.span(0, t.sealed.size()), t.params,
                            key_span(t.key));
      } else {
        s = eng.open_tensor(dst.span(0, bytes), t.sealed, t.params, key_span(t.key));
      }
      const char* where = from_device ? "device" : "host";
      const std::string mode_str = mode_name(eng);
      const char* mode = mode_str.c_str();
      check(s == Status::auth_failed, "forgery '%s' (%s, %s): status %u, want AUTH_FAILED", t.what,
            where, mode, static_cast<unsigned>(s));
      check(eng.auth_failures() == before + 1, "forgery '%s' (%s, %s): counted once", t.what, where,
            mode);
      check(download(dst, 0, bytes) == after_forgery(eng, poison),
            "forgery '%s' (%s, %s): destination %s", t.what, where, mode,
            eng.open_mode() == OpenMode::gated ? "changed" : "not zeroed");
    }
  }
  // The engine carries nothing over from a failure.
  check(eng.open_tensor(dst.span(0, bytes), good, p, key_span(key)) == Status::ok,
        "open after forgeries");
  check(download(dst, 0, bytes) == plain, "plaintext after forgeries");

  // Size errors are the caller's: invalid_arg, nothing written, not counted.
  if (!upload(dst, 0, poison)) check(false, "upload poison");
  const std::uint32_t before = eng.auth_failures();
  std::vector<std::byte> truncated(good.begin(), good.end() - 1);
  check(eng.open_tensor(dst.span(0, bytes), truncated, p, key_span(key)) == Status::invalid_arg,
        "truncated sealed tensor: invalid_arg");
  check(eng.open_tensor(dst.span(0, bytes - 1), good, p, key_span(key)) == Status::invalid_arg,
        "wrong plaintext size: invalid_arg");
  check(eng.open_tensor(dst.span(0, 0), std::span<const std::byte>(), p, key_span(key)) ==
            Status::invalid_arg,
        "empty tensor: invalid_arg");
  check(eng.auth_failures() == before, "size errors are not counted as forgeries");
  check(download(dst, 0, bytes) == poison, "size errors wrote nothing");
}

// --- Opening from host memory slice by slice ---

constexpr std::uint64_t kSliceBytes =
    static_cast<std::uint64_t>(CudaCryptoEngine::kHostOpenSliceChunks) * kChunkBytes;

// Opens `sealed` from pageable and from pinned host memory into a poisoned
// destination; `want_ok`: the plaintext must come back, else AUTH_FAILED,
// counted once, with the destination as it was (gated) or zeroed.
void open_from_host_both(CudaCryptoEngine& eng, const char* what,
                         const std::vector<std::byte>& sealed, const std::vector<std::byte>& plain,
                         SealParams p, const Key& key, bool want_ok) {
  const std::uint64_t bytes = plain.size();
  DeviceBuffer dst(bytes);
  PinnedBuffer pinned(sealed.size());
  if (!check(dst.ok() && pinned.ok(), "%s: alloc", what)) return;
  std::memcpy(pinned.data(), sealed.data(), sealed.size());
  std::vector<std::byte> poison(bytes);
  for (std::uint64_t i = 0; i < bytes; ++i) poison[i] = static_cast<std::byte>(0x5A ^ (i % 251));
  for (const bool from_pinned : {false, true}) {
    const char* where = from_pinned ? "pinned, " : "pageable, ";
    const std::string where_mode = std::string(where) + mode_name(eng);
    where = where_mode.c_str();
    if (!upload(dst, 0, poison)) check(false, "%s: upload poison", what);
    const std::uint32_t before = eng.auth_failures();
    const Status s = from_pinned
                         ? eng.open_tensor(dst.span(0, bytes),
                                           std::span<const std::byte>(pinned.data(), sealed.size()),
                                           p, key_span(key))
                         : eng.open_tensor(dst.span(0, bytes), sealed, p, key_span(key));
    if (want_ok) {
      check(s == Status::ok, "%s (%" PRIu64 " bytes, %s): status %u", what, bytes, where,
            static_cast<unsigned>(s));
      check(download(dst, 0, bytes) == plain, "%s (%" PRIu64 " bytes, %s): opened plaintext", what,
            bytes, where);
      check(eng.auth_failures() == before, "%s (%s): nothing counted", what, where);
    } else {
      check(s == Status::auth_failed, "%s (%s): status %u, want AUTH_FAILED", what, where,
            static_cast<unsigned>(s));
      check(eng.auth_failures() == before + 1, "%s (%s): counted once", what, where);
      check(download(dst, 0, bytes) == after_forgery(eng, poison), "%s (%s): destination %s", what,
            where, eng.open_mode() == OpenMode::gated ? "changed" : "not zeroed");
    }
  }
}

void test_slices(CudaCryptoEngine& eng) {
  const Key key = random_key();
  const SealParams p{9, 0xfeedface12345678ull};
  // Several slices and a partial last chunk: three full slices, then a slice
  // of one 1000-byte chunk.
  const std::uint64_t bytes = 3 * kSliceBytes + 1000;
  const auto plain = random_bytes(bytes);
  const auto good = cpu_seal(plain, p, key);
  if (!check(!good.empty(), "slices: cpu seal")) return;
  open_from_host_both(eng, "three slices and a partial chunk", good, plain, p, key, true);

  // A bad chunk in any slice fails the whole tensor and writes nothing.
  const std::uint64_t slice = CudaCryptoEngine::kHostOpenSliceChunks;
  const std::uint64_t chunks = sealed_chunk_count(bytes);
  const struct {
    const char* what;
    std::uint64_t at;
  } bad[] = {
      {"bad tag, first slice (chunk 0)", 32 + kChunkBytes},
      {"bad ciphertext, first slice (its last chunk)", (slice - 1) * kChunkStride + 32 + 12345},
      {"bad header, second slice (its first chunk's index)", slice * kChunkStride + 16},
      {"bad tag, last full slice (its last chunk)",
       (3 * slice - 1) * kChunkStride + 32 + kChunkBytes + 15},
      {"bad tag, last slice (the partial chunk)", (chunks - 1) * kChunkStride + 32 + 1000},
      {"bad ciphertext, last slice (last byte)", good.size() - 17},
  };
  for (const auto& b : bad) {
    auto forged = good;
    flip(forged, b.at, 5);
    open_from_host_both(eng, b.what, forged, plain, p, key, false);
  }
  // The engine carries nothing over from a failure.
  open_from_host_both(eng, "three slices after forgeries", good, plain, p, key, true);

  // Sizes around slice boundaries (pageable and pinned each).
  const std::uint64_t sizes[] = {
      kSliceBytes - kChunkBytes + 1,  // one slice, a one-byte last chunk
      kSliceBytes - 1,
      kSliceBytes,
      kSliceBytes + 1,
      kSliceBytes + kChunkBytes,
      2 * kSliceBytes - 1,
      2 * kSliceBytes,
      2 * kSliceBytes + 64,
  };
  for (const std::uint64_t n : sizes) {
    const auto pl = random_bytes(n);
    const SealParams q{static_cast<std::uint8_t>(n), n};
    const auto sealed = cpu_seal(pl, q, key);
    if (!check(!sealed.empty(), "slices: cpu seal %" PRIu64, n)) continue;
    open_from_host_both(eng, "slice boundary", sealed, pl, q, key, true);
  }
  // Two slices, the bad tag in the one-chunk second slice or the first.
  {
    const std::uint64_t n = kSliceBytes + 1;
    const auto pl = random_bytes(n);
    const auto sealed = cpu_seal(pl, p, key);
    auto forged = sealed;
    flip(forged, sealed.size() - 1, 0);  // the one-byte chunk's tag
    open_from_host_both(eng, "bad tag, second slice of one chunk", forged, pl, p, key, false);
    forged = sealed;
    flip(forged, (slice - 1) * kChunkStride + 32 + kChunkBytes, 0);
    open_from_host_both(eng, "bad tag, first slice's last chunk", forged, pl, p, key, false);
  }
}

// The verify launcher over a chunk range: the pointer is the range's first
// chunk, the nonce and the header check take the chunk's index in the tensor.
void test_verify_ranges() {
  const std::uint64_t bytes = 4 * kChunkBytes + 777;  // five chunks, the last partial
  const std::uint32_t chunks = 5;
  const Key key = random_key();
  const SealParams p{2, 0xabcdef};
  const auto plain = random_bytes(bytes);
  auto sealed = cpu_seal(plain, p, key);
  SealedTensor t{};
  describe_sealed_tensor(t, bytes, p,
                         std::span<const std::uint8_t, kKeyBytes>(key.data(), kKeyBytes));
  DeviceBuffer dev(sealed.size()), scratch(mac_scratch_bytes(chunks)), fail(sizeof(std::uint32_t));
  if (!check(dev.ok() && scratch.ok() && fail.ok(), "ranges: alloc")) return;
  auto* failures = reinterpret_cast<std::uint32_t*>(fail.data());  // a device word
  const auto count = [&](ChunkRange r, std::uint64_t at_chunk) -> long {
    if (cudaMemset(failures, 0, sizeof(std::uint32_t)) != cudaSuccess) return -1;
    if (launch_verify_chunks(t, r, dev.data() + at_chunk * kChunkStride, scratch.data(), failures,
                             nullptr) != cudaSuccess) {
      return -2;
    }
    std::uint32_t host = 0;
    if (cudaMemcpy(&host, failures, sizeof host, cudaMemcpyDeviceToHost) != cudaSuccess) return -1;
    return host;
  };
  if (!check(upload(dev, 0, sealed), "ranges: upload")) return;
  const ChunkRange all_ranges[] = {{0, 5}, {0, 1}, {1, 3}, {2, 3}, {4, 1}, {3, 2}};
  for (const ChunkRange r : all_ranges) {
    check(count(r, r.first) == 0, "range [%u, +%u) of a good tensor: failures", r.first, r.count);
  }
  // Pointed at the wrong chunk: the headers name other indices.
  check(count(ChunkRange{2, 2}, 0) == 2, "range [2, +2) read from chunk 0: both fail");
  // The whole-tensor launcher agrees.
  {
    std::uint32_t host = 1;
    check(
        cudaMemset(failures, 0, sizeof host) == cudaSuccess &&
            launch_verify_chunks(t, dev.data(), scratch.data(), failures, nullptr) == cudaSuccess &&
            cudaMemcpy(&host, failures, sizeof host, cudaMemcpyDeviceToHost) == cudaSuccess &&
            host == 0,
        "whole-tensor launcher on a good tensor");
  }
  // A bad tag in chunk 3: seen by the ranges that hold chunk 3 only.
  flip(sealed, 3 * kChunkStride + 32 + kChunkBytes + 2, 1);
  if (!check(upload(dev, 0, sealed), "ranges: upload")) return;
  for (const ChunkRange r : all_ranges) {
    const long want = r.first <= 3 && 3 < r.first + r.count ? 1 : 0;
    check(count(r, r.first) == want, "range [%u, +%u) with chunk 3 bad: failures, want %ld",
          r.first, r.count, want);
  }
  // Ranges outside the tensor, or empty, are refused before any launch.
  check(count(ChunkRange{4, 2}, 4) == -2, "range past the tensor: refused");
  check(count(ChunkRange{0, 0}, 0) == -2, "empty range: refused");
  check(count(ChunkRange{0xffffffffu, 2}, 0) == -2, "wrapping range: refused");
  sodium_memzero(&t, sizeof t);
}

// The one-pass launcher over a chunk range: `sealed` and `plain` point at
// the range's first chunk, nonces and header checks take the chunks' indices
// in the tensor; the plaintext of the range's chunks is written (whatever the
// verdict), nothing outside it.
void test_open_ranges() {
  const std::uint64_t bytes = 4 * kChunkBytes + 777;  // five chunks, the last partial
  const std::uint32_t chunks = 5;
  const Key key = random_key();
  const SealParams p{5, 0x5eedf00d};
  const auto plain = random_bytes(bytes);
  auto sealed = cpu_seal(plain, p, key);
  SealedTensor t{};
  describe_sealed_tensor(t, bytes, p,
                         std::span<const std::uint8_t, kKeyBytes>(key.data(), kKeyBytes));
  DeviceBuffer dev(sealed.size()), dst(bytes + 1), fail(sizeof(std::uint32_t));
  if (!check(dev.ok() && dst.ok() && fail.ok() && upload(dev, 0, sealed), "open ranges: alloc")) {
    return;
  }
  auto* failures = reinterpret_cast<std::uint32_t*>(fail.data());  // a device word
  std::vector<std::byte> poison(bytes + 1);
  for (std::size_t i = 0; i < poison.size(); ++i) poison[i] = static_cast<std::byte>(0xC3 ^ i);
  // Opens `r` (from chunk `at_chunk`'s sealed bytes) into dst + off; the
  // failure count, or -1 (CUDA error), -2 (refused).
  const auto open = [&](ChunkRange r, std::uint64_t at_chunk, std::uint32_t lanes,
                        std::uint64_t off) -> long {
    if (!upload(dst, 0, poison)) return -1;
    if (cudaMemset(failures, 0, sizeof(std::uint32_t)) != cudaSuccess) return -1;
    // The plaintext of chunk r.first (kept inside the buffer for ranges
    // the launcher must refuse).
    std::byte* const out =
        dst.data() + off + std::min<std::uint64_t>(r.first, chunks - 1) * kChunkBytes;
    if (launch_open_chunks(t, r, dev.data() + at_chunk * kChunkStride, out, lanes, failures,
                           nullptr) != cudaSuccess) {
      return -2;
    }
    std::uint32_t host = 0;
    if (cudaMemcpy(&host, failures, sizeof host, cudaMemcpyDeviceToHost) != cudaSuccess) return -1;
    return host;
  };
  // What dst + off holds after range `r` was opened over the poison.
  const auto want = [&](ChunkRange r, std::uint64_t off) {
    auto v = poison;
    const std::uint64_t from = std::uint64_t{r.first} * kChunkBytes;
    const std::uint64_t to = std::min<std::uint64_t>(bytes, (r.first + r.count) * kChunkBytes);
    std::copy(plain.begin() + static_cast<std::ptrdiff_t>(from),
              plain.begin() + static_cast<std::ptrdiff_t>(to),
              v.begin() + static_cast<std::ptrdiff_t>(off + from));
    return v;
  };
  const ChunkRange all_ranges[] = {{0, 5}, {0, 1}, {1, 3}, {2, 3}, {4, 1}, {3, 2}};
  for (const std::uint32_t lanes : kOnePassLaneChoices) {
    for (const std::uint64_t off : {std::uint64_t{0}, std::uint64_t{1}}) {
      for (const ChunkRange r : all_ranges) {
        check(open(r, r.first, lanes, off) == 0,
              "open range [%u, +%u) (lanes %u, offset %" PRIu64 "): failures", r.first, r.count,
              lanes, off);
        check(download(dst, 0, bytes + 1) == want(r, off),
              "open range [%u, +%u) (lanes %u, offset %" PRIu64 "): plaintext", r.first, r.count,
              lanes, off);
      }
    }
    // Pointed at the wrong chunks: the headers name other indices.
    check(open(ChunkRange{2, 2}, 0, lanes, 0) == 2,
          "open range [2, +2) read from chunk 0 (lanes %u): both fail", lanes);
  }
  // A bad tag in chunk 3, a flipped ciphertext bit in chunk 4 (the partial
  // one): counted by the ranges that hold them only.
  flip(sealed, 3 * kChunkStride + 32 + kChunkBytes + 2, 1);
  flip(sealed, 4 * kChunkStride + 32 + 500, 6);
  if (!check(upload(dev, 0, sealed), "open ranges: upload")) return;
  for (const std::uint32_t lanes : kOnePassLaneChoices) {
    for (const ChunkRange r : all_ranges) {
      const long bad = (r.first <= 3 && 3 < r.first + r.count ? 1 : 0) +
                       (r.first <= 4 && 4 < r.first + r.count ? 1 : 0);
      check(open(r, r.first, lanes, 0) == bad,
            "open range [%u, +%u) with chunks 3 and 4 bad (lanes %u): failures, want %ld", r.first,
            r.count, lanes, bad);
    }
  }
  // Ranges outside the tensor, empty ones and lane counts it is not built
  // for are refused before any launch.
  check(open(ChunkRange{4, 2}, 4, kOnePassDefaultLanes, 0) == -2, "open range past the tensor");
  check(open(ChunkRange{0, 0}, 0, kOnePassDefaultLanes, 0) == -2, "empty open range");
  check(open(ChunkRange{0xffffffffu, 2}, 0, kOnePassDefaultLanes, 0) == -2, "wrapping open range");
  check(open(ChunkRange{0, 1}, 0, 96, 0) == -2, "96 lanes: refused");
  check(open(ChunkRange{0, 1}, 0, 32, 0) == -2, "32 lanes: refused");
  sodium_memzero(&t, sizeof t);
}

// --- A large tensor, and two engines at once ---

void test_large(CudaCryptoEngine& eng) {
  const std::uint64_t bytes = (256u << 20) + 12345;
  const Key key = random_key();
  const SealParams p{7, 0x77};
  const auto plain = random_bytes(bytes);
  const auto reference = cpu_seal(plain, p, key);
  DeviceBuffer src(bytes), dst(bytes);
  if (!check(src.ok() && dst.ok() && upload(src, 0, plain), "large alloc")) return;
  std::vector<std::byte> sealed(reference.size());
  check(eng.seal_tensor(sealed, src.span(0, bytes), p, key_span(key)) == Status::ok, "large seal");
  check(sealed == reference, "large: GPU seal differs from libsodium");
  check(eng.open_tensor(dst.span(0, bytes), reference, p, key_span(key)) == Status::ok,
        "large open");
  check(download(dst, 0, bytes) == plain, "large: opened plaintext");
}

void test_concurrent() {
  auto a = CudaCryptoEngine::create();
  auto b = CudaCryptoEngine::create();
  if (!check(a.ok() && b.ok(), "second engine")) return;
  struct Job {
    std::vector<std::byte> plain, sealed;
    Key key;
    DeviceBuffer dst;
    Status s = Status::internal;
  };
  Job jobs[2];
  for (int i = 0; i < 2; ++i) {
    jobs[i].plain = random_bytes((32u << 20) + 77u * static_cast<unsigned>(i));
    jobs[i].key = random_key();
    jobs[i].sealed =
        cpu_seal(jobs[i].plain, SealParams{1, 100u + static_cast<unsigned>(i)}, jobs[i].key);
    jobs[i].dst = DeviceBuffer(jobs[i].plain.size());
  }
  CudaCryptoEngine* engines[2] = {a->get(), b->get()};
  std::thread threads[2];
  for (int i = 0; i < 2; ++i) {
    threads[i] = std::thread([&, i] {
      Job& j = jobs[i];
      for (int rep = 0; rep < 4; ++rep) {
        j.s = engines[i]->open_tensor(j.dst.span(0, j.plain.size()), j.sealed,
                                      SealParams{1, 100u + static_cast<unsigned>(i)},
                                      key_span(j.key));
        if (j.s != Status::ok) break;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 2; ++i) {
    check(jobs[i].s == Status::ok, "concurrent open %d", i);
    check(download(jobs[i].dst, 0, jobs[i].plain.size()) == jobs[i].plain,
          "concurrent open %d: plaintext", i);
  }
}

// --- Runs (spec §7.2.1): open_run against per-tensor open_tensor ---

// A run of sealed tensors (CPU-sealed, ids 1000 + i) whose destinations lie
// in one device buffer at `offsets` (non-overlapping, any alignment), with
// poison everywhere else.
struct RunCase {
  std::vector<std::uint64_t> sizes, offsets;
  std::vector<std::vector<std::byte>> plain, sealed;
  std::vector<SealParams> params;
  std::vector<Key> keys;
  std::uint64_t dst_bytes = 0;
};

RunCase make_run(const std::vector<std::uint64_t>& sizes) {
  RunCase c;
  c.sizes = sizes;
  const Key key = random_key();
  std::uint64_t at = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    at += rng()() % 3;  // odd and even starts
    c.offsets.push_back(at);
    at += sizes[i] + rng()() % 64;
    c.plain.push_back(random_bytes(sizes[i]));
    c.params.push_back(SealParams{4, 1000 + i});
    c.keys.push_back(key);
    c.sealed.push_back(cpu_seal(c.plain.back(), c.params.back(), key));
  }
  c.dst_bytes = at + 64;
  return c;
}

std::vector<std::byte> run_poison(std::uint64_t n) {
  std::vector<std::byte> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(0x5A ^ ((i * 7) & 0xff));
  return v;
}

// The destination buffer after tensors [0, opened) were written over the
// poison: what one-by-one opening leaves before a failing tensor (gated).
std::vector<std::byte> expected_after(const RunCase& c, std::size_t opened) {
  auto v = run_poison(c.dst_bytes);
  for (std::size_t i = 0; i < opened; ++i) {
    std::copy(c.plain[i].begin(), c.plain[i].end(),
              v.begin() + static_cast<std::ptrdiff_t>(c.offsets[i]));
  }
  return v;
}

// Opens the run (sealed bytes in pageable or pinned host memory); checks
// status, opened, the count and the destination buffer byte for byte.
void check_run(CudaCryptoEngine& eng, const char* what, const RunCase& c, bool pinned,
               std::size_t want_opened, Status want) {
  DeviceBuffer dst(c.dst_bytes);
  if (!check(dst.ok() && upload(dst, 0, run_poison(c.dst_bytes)), "%s: alloc", what)) return;
  std::vector<PinnedBuffer> pins;
  std::vector<CudaCryptoEngine::RunItem> items;
  for (std::size_t i = 0; i < c.sizes.size(); ++i) {
    std::span<const std::byte> sealed = c.sealed[i];
    if (pinned) {
      pins.emplace_back(c.sealed[i].size());
      if (!check(pins.back().ok(), "%s: pinned alloc", what)) return;
      std::memcpy(pins.back().data(), c.sealed[i].data(), c.sealed[i].size());
      sealed = pins.back().span();
    }
    items.push_back({dst.span(c.offsets[i], c.sizes[i]), sealed, c.params[i], key_span(c.keys[i])});
  }
  const std::uint32_t before = eng.auth_failures();
  const auto r = eng.open_run(items);
  const char* where = pinned ? "pinned" : "pageable";
  check(r.status == want && r.opened == want_opened,
        "%s (%zu tensors, %s): status %u opened %zu, want %u and %zu", what, c.sizes.size(), where,
        static_cast<unsigned>(r.status), r.opened, static_cast<unsigned>(want), want_opened);
  check(eng.auth_failures() == before + (want == Status::auth_failed ? 1u : 0u),
        "%s (%s): AUTH_FAILURES moved by %u", what, where, eng.auth_failures() - before);
  check(download(dst, 0, c.dst_bytes) == expected_after(c, want_opened),
        "%s (%s): destination differs from one-by-one opening", what, where);
}

// The same tensors opened one open_tensor at a time equal the plaintext
// (the run's reference), and the run gives the same bytes.
void test_runs(CudaCryptoEngine& eng) {
  std::vector<std::vector<std::uint64_t>> shapes = {
      {70000},
      {2, 65538},
      {100, 65536, 4, 3 * 65536 + 6, 1000, 65534, 2 * 65536},
  };
  // GPT-2-small's shape: many small tensors (biases, norms) among larger ones.
  std::vector<std::uint64_t> gpt2;
  for (int l = 0; l < 12; ++l) {
    for (const std::uint64_t n : {1536u, 1536u, 3538944u, 4608u, 1179648u, 1536u, 1536u, 1536u,
                                  4718592u, 6144u, 4718592u, 1536u}) {
      gpt2.push_back(n);
    }
  }
  shapes.push_back(gpt2);
  // Tensors that straddle slices, and more slices than one.
  const std::uint64_t slice = std::uint64_t{CudaCryptoEngine::kHostOpenSliceChunks} * kChunkBytes;
  shapes.push_back({slice - 10, 6, slice + 65536 * 3 + 2, 4096, 40000});
  for (int k = 0; k < 20; ++k) {
    std::vector<std::uint64_t> r(1 + rng()() % 40);
    for (auto& n : r) n = random_size() % (3 * 65536) + 1;
    shapes.push_back(r);
  }
  for (std::size_t si = 0; si < shapes.size(); ++si) {
    const RunCase c = make_run(shapes[si]);
    const std::string what = "run " + std::to_string(si);
    check_run(eng, what.c_str(), c, false, c.sizes.size(), Status::ok);
    check_run(eng, what.c_str(), c, true, c.sizes.size(), Status::ok);
    // Reference: one open_tensor per tensor into the same layout.
    DeviceBuffer one(c.dst_bytes);
    if (!check(one.ok() && upload(one, 0, run_poison(c.dst_bytes)), "%s: alloc", what.c_str())) {
      continue;
    }
    for (std::size_t i = 0; i < c.sizes.size(); ++i) {
      check(eng.open_tensor(one.span(c.offsets[i], c.sizes[i]), c.sealed[i], c.params[i],
                            key_span(c.keys[i])) == Status::ok,
            "%s: open_tensor %zu", what.c_str(), i);
    }
    check(download(one, 0, c.dst_bytes) == expected_after(c, c.sizes.size()),
          "%s: one by one equals the run", what.c_str());
  }
}

// A forged tensor first, in the middle or last: AUTH_FAILED at it, counted
// once, the tensors before it written, it and those after it untouched.
void test_run_forgeries(CudaCryptoEngine& eng) {
  const std::uint64_t slice = std::uint64_t{CudaCryptoEngine::kHostOpenSliceChunks} * kChunkBytes;
  const std::vector<std::uint64_t> sizes = {1000, 65538, 4, slice + 3 * 65536 + 6, 100, 70000, 6};
  const struct {
    const char* what;
    void (*edit)(RunCase&, std::size_t);
  } forgeries[] = {
      {"tag", [](RunCase& c, std::size_t k) { flip(c.sealed[k], c.sealed[k].size() - 1); }},
      {"ciphertext",
       [](RunCase& c, std::size_t k) {
         flip(c.sealed[k], (sealed_chunk_count(c.sizes[k]) - 1) * kChunkStride + 32, 5);
       }},
      {"header chunk_count", [](RunCase& c, std::size_t k) { flip(c.sealed[k], 20); }},
      {"wrong key", [](RunCase& c, std::size_t k) { c.keys[k][0] ^= 1; }},
      {"replayed tensor",  // another tensor of the run's id on this one's sealed bytes
       [](RunCase& c, std::size_t k) { c.params[k].tensor_id = 1000 + (k + 1) % c.sizes.size(); }},
  };
  for (const auto& f : forgeries) {
    for (const std::size_t k : {std::size_t{0}, std::size_t{3}, sizes.size() - 1}) {
      RunCase c = make_run(sizes);
      f.edit(c, k);
      const std::string what =
          std::string("run forgery '") + f.what + "' in tensor " + std::to_string(k);
      check_run(eng, what.c_str(), c, k % 2 == 0, k, Status::auth_failed);
    }
  }
  // Nothing carried over: a good run right after.
  const RunCase c = make_run(sizes);
  check_run(eng, "run after forgeries", c, true, c.sizes.size(), Status::ok);
  // Size errors are the caller's: invalid_arg, nothing done, not counted.
  RunCase bad = make_run({100, 200});
  bad.sealed[1].pop_back();
  check_run(eng, "run with a truncated tensor", bad, false, 0, Status::invalid_arg);
  check(eng.open_run({}).status == Status::invalid_arg, "empty run: invalid_arg");
}

}  // namespace
}  // namespace hix::vgpu::cuda::test

int main() {
  using namespace hix::vgpu::cuda;
  using namespace hix::vgpu::cuda::test;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const GpuProbe gpu = probe_gpu();
  if (gpu.state == Gpu::absent) {
    std::printf("hix-cuda-crypto-test: skipped: no GPU (%s)\n", gpu.why.c_str());
    return 0;
  }
  if (gpu.state == Gpu::broken) {
    std::printf("hix-cuda-crypto-test: FAIL: %s\n", gpu.why.c_str());
    return 1;
  }
  if (sodium_init() < 0) return 1;
  cudaDeviceProp prop{};
  int driver = 0;
  int runtime = 0;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess ||
      cudaDriverGetVersion(&driver) != cudaSuccess ||
      cudaRuntimeGetVersion(&runtime) != cudaSuccess) {
    std::printf("hix-cuda-crypto-test: FAIL: cannot read device 0\n");
    return 1;
  }
  std::printf(
      "hix-cuda-crypto-test: %s (sm_%d%d, %d SMs), driver API %d, runtime %d, libsodium %s\n",
      prop.name, prop.major, prop.minor, prop.multiProcessorCount, driver, runtime,
      sodium_version_string());
  auto engine = CudaCryptoEngine::create();
  if (!engine.ok()) {
    std::printf("hix-cuda-crypto-test: FAIL: engine: %s\n",
                std::string(hix::vgpu::to_string(engine.status())).c_str());
    return 1;
  }
  CudaCryptoEngine& eng = **engine;
  check(eng.open_mode() == OpenMode::one_pass, "the default open mode is one_pass");
  check(eng.one_pass_lanes() == kOnePassDefaultLanes, "the default one-pass lanes");
  check(eng.set_one_pass_lanes(96) == hix::vgpu::Status::invalid_arg &&
            eng.one_pass_lanes() == kOnePassDefaultLanes,
        "96 one-pass lanes: invalid_arg, nothing changed");
  // The engine's configurations: each open mode with every part that
  // depends on it, then the one-pass kernel's other lane counts with the
  // known answers, random sizes and forgeries; the parts that do not depend
  // on the configuration run once, in the default one.
  enum class Runs : std::uint8_t { once, per_mode, per_config };
  struct Config {
    OpenMode mode;
    std::uint32_t lanes;
    int random_cases;
    bool lanes_only;  // only the per_config parts
  };
  std::vector<Config> configs = {{OpenMode::gated, kOnePassDefaultLanes, 120, false},
                                 {OpenMode::concurrent, kOnePassDefaultLanes, 120, false},
                                 {OpenMode::one_pass, kOnePassDefaultLanes, 120, false}};
  for (const std::uint32_t lanes : kOnePassLaneChoices) {
    if (lanes != kOnePassDefaultLanes) configs.push_back({OpenMode::one_pass, lanes, 40, true});
  }
  const struct {
    const char* name;
    void (*run)(CudaCryptoEngine&, const Config&);
    Runs runs;
  } parts[] = {
      {"known answers", [](CudaCryptoEngine& e, const Config&) { test_known_answers(e); },
       Runs::per_config},
      {"random sizes", [](CudaCryptoEngine& e, const Config& c) { test_random(e, c.random_cases); },
       Runs::per_config},
      {"forgeries", [](CudaCryptoEngine& e, const Config&) { test_forgeries(e); },
       Runs::per_config},
      {"verify ranges", [](CudaCryptoEngine&, const Config&) { test_verify_ranges(); }, Runs::once},
      {"open ranges", [](CudaCryptoEngine&, const Config&) { test_open_ranges(); }, Runs::once},
      {"host slices", [](CudaCryptoEngine& e, const Config&) { test_slices(e); }, Runs::per_mode},
      {"large tensor", [](CudaCryptoEngine& e, const Config&) { test_large(e); }, Runs::per_mode},
      {"two engines at once", [](CudaCryptoEngine&, const Config&) { test_concurrent(); },
       Runs::once},
      {"runs", [](CudaCryptoEngine& e, const Config&) { test_runs(e); }, Runs::once},
      {"run forgeries", [](CudaCryptoEngine& e, const Config&) { test_run_forgeries(e); },
       Runs::once},
  };
  for (const Config& config : configs) {
    eng.set_open_mode(config.mode);
    check(eng.set_one_pass_lanes(config.lanes) == hix::vgpu::Status::ok, "set_one_pass_lanes(%u)",
          config.lanes);
    const bool is_default =
        config.mode == OpenMode::one_pass && config.lanes == kOnePassDefaultLanes;
    const std::string name = mode_name(eng);
    for (const auto& part : parts) {
      if (part.runs == Runs::once && !is_default) continue;
      if (part.runs == Runs::per_mode && config.lanes_only) continue;
      const int before = g_failures;
      const int checks = g_checks;
      part.run(eng, config);
      std::printf("  %-20s %-14s %4d checks, %d failed\n", part.name, name.c_str(),
                  g_checks - checks, g_failures - before);
    }
  }
  const cudaError_t sticky = cudaDeviceSynchronize();
  check(sticky == cudaSuccess, "CUDA error at the end: %s", cudaGetErrorString(sticky));
  if (g_failures != 0) {
    std::printf("hix-cuda-crypto-test: FAIL (%d of %d checks failed)\n", g_failures, g_checks);
    return 1;
  }
  std::printf("hix-cuda-crypto-test: PASS (%d checks)\n", g_checks);
  return 0;
}
