// What the cuda backend does beyond single ops, in each of its
// configurations: issue order between queued ops, memory calls and the
// in-device crypto engine (the executor interleaves them without finish());
// loop recording and replay with breaks decided on the device (spec §6.7);
// the crypto engine's open and seal against the cpu engine (spec §7), with
// forgeries; and pinned host memory.
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <array>
#include <cinttypes>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu::cuda::test {
namespace {

using Key = std::array<std::uint8_t, kKeyBytes>;

Key random_key(Pair& p) {
  Key key{};
  for (auto& x : key) x = static_cast<std::uint8_t>(p.rng()());
  return key;
}

// ---------------------------------------------------------------- ordering

class Ordering : public BackendParamTest<std::size_t> {};

// The backend queues ops; write_bytes must not overtake a queued matmul that
// reads what it overwrites, and read_bytes must see the queue's results
// (DMA_IN after an op, BREAK_IF_EQ reads).
TEST_P(Ordering, MemoryCallsSeeQueuedOpsInIssueOrder) {
  Pair& p = pair();
  const Target& g = gpu(GetParam());
  Backend& b = *g.backend;
  p.begin(strf("%s: write_bytes and read_bytes after queued ops", g.label.c_str()));
  const std::uint32_t m = 1;
  const std::uint32_t n = 2048;
  const std::uint32_t k = 2048;
  const auto a = p.alloc(F32, cnt(m, k));
  const auto w = p.alloc(BF16, cnt(n, k));
  const auto h = p.alloc(F32, n);
  const auto h2 = p.alloc(F32, n);
  const auto av = p.random(a.count, -1, 1);
  p.put(a, av);
  p.put(w, p.random(w.count, -1, 1));
  p.poison(h);
  p.poison(h2);
  // cpu: h = a.w^T; h2 = copy(h); then a is overwritten.
  const MatmulArgs mm{h, a, w, std::nullopt, m, n, k, true, false};
  p.expect(p.ref().matmul(mm) == Status::ok, "cpu matmul");
  p.expect(p.ref().copy(h2, h) == Status::ok, "cpu copy");
  const auto av2 = p.random(a.count, -1, 1);
  const auto a2_bytes = Pair::encode(F32, av2);
  p.expect(p.ref().write_bytes(a.offset, a2_bytes) == Status::ok, "cpu write");
  // cuda: the same with no finish() in between.
  p.expect(b.matmul(mm) == Status::ok, "matmul");
  p.expect(b.copy(h2, h) == Status::ok, "copy");
  p.expect(b.write_bytes(a.offset, a2_bytes) == Status::ok, "write_bytes");
  const auto want = p.read_raw(p.ref(), h2.offset, h2.count * 4);
  const auto got = p.read_raw(b, h2.offset, h2.count * 4);  // no finish() before
  p.compare_values(g.label.c_str(), F32, want, got,
                   Tol{std::sqrt(2048.0) * max_abs(av) / 256 + 1e-6, 0, false}, "h2");
  p.expect(p.read_raw(b, a.offset, a2_bytes.size()) == a2_bytes, "a after write_bytes");
  p.expect(b.finish() == Status::ok, "finish");
  p.end();
}

// DMA_OUT_ENCRYPT seals what a queued op wrote; an op queued after
// DMA_IN_DECRYPT reads what the open wrote.
TEST_P(Ordering, DeviceCryptoSeesQueuedOpsInIssueOrder) {
  Pair& p = pair();
  const Target& g = gpu(GetParam());
  Backend& b = *g.backend;
  p.begin(strf("%s: device seal after a queued fill, op after device open", g.label.c_str()));
  ASSERT_NE(b.device_crypto(), nullptr) << g.label << ": device_crypto() is null";
  const Key key = random_key(p);
  const std::uint64_t count = 100000;
  const auto t = p.alloc(F32, count, Misalign{1});
  const auto t2 = p.alloc(F32, count, Misalign{3});
  p.expect(b.fill(t, f32_bits(2.5f)) == Status::ok, "fill");
  std::vector<std::byte> sealed(sealed_size(count * 4));
  const SealParams sp{1, kDeviceTensorBit | 77};
  p.expect(b.device_crypto()->seal(sealed, t.offset, count * 4, sp,
                                   std::span<const std::uint8_t, kKeyBytes>(key)) == Status::ok,
           "seal");
  std::vector<std::byte> plain(count * 4);
  p.expect(open_tensor(plain, sealed, sp, key) == Status::ok, "cpu open of the device seal");
  p.expect(plain == Pair::encode(F32, std::vector<float>(count, 2.5f)),
           "sealed plaintext is the fill's result");
  // open, then an op reading what it wrote, no finish() in between.
  const auto fresh = Pair::encode(F32, p.random(count, -1, 1));
  std::vector<std::byte> sealed_in(sealed_size(fresh.size()));
  const SealParams ip{1, 78};
  p.expect(seal_tensor(sealed_in, fresh, ip, key) == Status::ok, "cpu seal");
  p.expect(b.device_crypto()->open(t.offset, count * 4, sealed_in, ip,
                                   std::span<const std::uint8_t, kKeyBytes>(key)) == Status::ok,
           "open");
  p.expect(b.copy(t2, t) == Status::ok, "copy");
  p.expect(b.finish() == Status::ok, "finish");
  p.expect(p.read_raw(b, t2.offset, count * 4) == fresh, "copy after open saw the plaintext");
  p.end();
}

// Spec §7.2.1: a run of opens (queued fills of the destinations before it,
// no finish()) writes what one open per tensor writes; a run with a forged
// tensor stops at it: the tensors before it written, it and those after it
// untouched (the CryptoEngine zeroes the forged one's range).
TEST_P(Ordering, DeviceCryptoRunsEqualOneOpenPerTensorAndStopAtAForgedTensor) {
  Pair& p = pair();
  const Target& g = gpu(GetParam());
  Backend& b = *g.backend;
  p.begin(
      strf("%s: a run of opens against one open per tensor, then a forged run", g.label.c_str()));
  ASSERT_NE(b.device_crypto(), nullptr) << g.label << ": device_crypto() is null";
  DeviceCrypto& dc = *b.device_crypto();
  const Key key = random_key(p);
  const std::span<const std::uint8_t, kKeyBytes> k(key);
  const std::vector<std::uint64_t> counts = {1, 3000, 16384, 16385, 100000, 7};
  std::vector<TensorArg> ts;
  std::vector<std::vector<std::byte>> plain, sealed;
  const auto old = Pair::encode(F32, std::vector<float>(100000, -1.0f));
  for (std::size_t i = 0; i < counts.size(); ++i) {
    ts.push_back(p.alloc(F32, counts[i], Misalign{i % 4}));
    plain.push_back(Pair::encode(F32, p.random(counts[i], -1, 1)));
    sealed.emplace_back(sealed_size(counts[i] * 4));
    p.expect(seal_tensor(sealed.back(), plain.back(), SealParams{1, 500 + i}, key) == Status::ok,
             "cpu seal");
  }
  const auto refill = [&] {
    for (const TensorArg& t : ts) p.expect(b.fill(t, f32_bits(-1.0f)) == Status::ok, "fill");
  };
  const auto items = [&] {
    std::vector<DeviceCrypto::OpenItem> v;
    for (std::size_t i = 0; i < ts.size(); ++i) {
      v.push_back({ts[i].offset, counts[i] * 4, sealed[i], SealParams{1, 500 + i}, k});
    }
    return v;
  };
  refill();
  const auto r = dc.open_run(items());
  p.expect(r.status == Status::ok && r.opened == ts.size(), "run: all opened");
  for (std::size_t i = 0; i < ts.size(); ++i) {
    p.expect(p.read_raw(b, ts[i].offset, counts[i] * 4) == plain[i],
             strf("run: tensor %zu", i).c_str());
  }
  refill();
  for (std::size_t i = 0; i < ts.size(); ++i) {
    p.expect(
        dc.open(ts[i].offset, counts[i] * 4, sealed[i], SealParams{1, 500 + i}, k) == Status::ok,
        "one open per tensor");
    p.expect(p.read_raw(b, ts[i].offset, counts[i] * 4) == plain[i],
             strf("one by one: tensor %zu", i).c_str());
  }
  refill();
  sealed[3].back() ^= std::byte{1};  // tensor 3's last tag byte
  const auto f = dc.open_run(items());
  p.expect(f.status == Status::auth_failed && f.opened == 3, "forged run: stops at tensor 3");
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const auto want =
        i < 3 ? plain[i]
              : std::vector<std::byte>(old.begin(), old.begin() + static_cast<long>(counts[i] * 4));
    p.expect(p.read_raw(b, ts[i].offset, counts[i] * 4) == want,
             strf("forged run: tensor %zu %s", i, i < 3 ? "written" : "untouched").c_str());
  }
  p.expect(b.finish() == Status::ok, "finish");
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Configurations, Ordering, ::testing::Range<std::size_t>(0, kVariantCount),
                         variant_name);

// ---------------------------------------------------------------- loop recording

// The recorded body: a decode-like step. h = a . w^T (m = 1: the GEMV
// path), hn = rmsnorm(h), hs = hn + spike, tok = argmax(hs); after the
// break: marker = 1.5 and h4 = bf16(hs).
struct LoopBufs {
  TensorArg a, w, h, gamma, hn, spike, hs, tok, marker, h4;
  std::uint32_t n, k;
};

Status body_before(Backend& b, const LoopBufs& L) {
  HIX_TRY(b.matmul(MatmulArgs{L.h, L.a, L.w, std::nullopt, 1, L.n, L.k, true, false}));
  HIX_TRY(b.rmsnorm(NormArgs{L.hn, L.h, L.gamma, std::nullopt, 1, L.n, 1e-5f}));
  HIX_TRY(b.binary(BinaryArgs{BinaryOp::add, L.hs, L.hn, L.spike}));
  return b.argmax(RowsArgs{L.tok, L.hs, 1, L.n});
}

Status body_after(Backend& b, const LoopBufs& L) {
  HIX_TRY(b.fill(L.marker, f32_bits(1.5f)));
  return b.copy(L.h4, L.hs);
}

// Each case starts by recording two bodies on its configuration: key 1 breaks
// (id 11) on tok == 77, key 2 (id 12) on tok == 78; the spike makes the
// argmax 77 whatever the rounding.
class Recording : public BackendParamTest<std::size_t> {
 protected:
  void TearDown() override {
    if (recorded_) backend().drop_recordings();
    BackendTest::TearDown();
  }

  const Target& target() const { return gpu(GetParam()); }
  Backend& backend() const { return *target().backend; }
  void ck(bool ok, const char* what) { pair().expect(ok, (target().label + ": " + what).c_str()); }

  void reset_outputs() {
    for (const TensorArg& t : {L.h, L.hn, L.hs, L.tok, L.h4}) pair().poison(t);
    pair().put(L.marker, std::vector<float>(16, -7.0f));
  }

  std::vector<std::vector<std::byte>> snapshot(Backend& be) {
    std::vector<std::vector<std::byte>> s;
    for (const TensorArg& t : {L.h, L.hn, L.hs, L.tok, L.marker, L.h4}) {
      s.push_back(pair().read_raw(be, t.offset, t.count * dtype_size(t.dtype)));
    }
    return s;
  }

  // Opens the step "record two bodies" and leaves it open for the caller.
  void record_two_bodies() {
    Pair& p = pair();
    Backend& b = backend();
    p.begin(strf("%s: record two bodies (break matches / not)", target().label.c_str()));
    ck(b.can_record(), "can_record()");
    L.n = 520;
    L.k = 320;
    L.a = p.alloc(F32, L.k, Misalign{1});
    L.w = p.alloc(BF16, cnt(L.n, L.k), Misalign{0});
    L.h = p.alloc(F32, L.n, Misalign{3});
    L.gamma = p.alloc(BF16, L.n, Misalign{1});
    L.hn = p.alloc(F32, L.n, Misalign{2});
    L.spike = p.alloc(F32, L.n, Misalign{0});
    L.hs = p.alloc(F32, L.n, Misalign{1});
    L.tok = p.alloc(I32, 1, Misalign{3});
    L.marker = p.alloc(F32, 16, Misalign{1});
    L.h4 = p.alloc(BF16, L.n, Misalign{1});
    p.put(L.a, p.random(L.k, -1, 1));
    p.put(L.w, p.random(L.w.count, -1, 1));
    p.put(L.gamma, p.random(L.n, 0.5f, 1.5f));
    spike.assign(L.n, 0.0f);
    spike[77] = 100.0f;
    p.put(L.spike, spike);
    reset_outputs();
    const auto before = snapshot(b);
    ck(b.finish() == Status::ok, "finish before recording");
    recorded_ = true;
    for (const auto& [key, value, id] : {std::tuple{1u, 77, 11u}, std::tuple{2u, 78, 12u}}) {
      ck(b.begin_recording() == Status::ok, "begin_recording");
      ck(body_before(b, L) == Status::ok, "recorded ops");
      ck(b.record_break_if_eq(L.tok, value, id) == Status::ok, "record_break_if_eq");
      ck(body_after(b, L) == Status::ok, "recorded ops after the break");
      ck(b.end_recording(key) == Status::ok, "end_recording");
    }
    ck(b.finish() == Status::ok, "finish after recording");
    ck(snapshot(b) == before, "nothing ran while recording");
  }

  // The body's outputs on this configuration against the cpu's; h4 only
  // where the part after the break ran, else it must be untouched.
  void compare_body(bool after_ran, const char* when) {
    Pair& p = pair();
    Backend& cpu = p.ref();
    const Target& g = target();
    const Tol mm_tol{std::sqrt(320.0) / 256 + 1e-5, 1e-5, false};
    const std::string w = strf("%s %s", g.label.c_str(), when);
    p.compare_one(g, L.h, mm_tol, (w + " h").c_str(), p.read_raw(cpu, L.h.offset, L.h.count * 4));
    p.compare_one(g, L.hn, Tol{1e-2, 1e-3, false}, (w + " hn").c_str(),
                  p.read_raw(cpu, L.hn.offset, L.h.count * 4));
    p.compare_one(g, L.tok, exact_tol(), (w + " tok").c_str(), p.read_raw(cpu, L.tok.offset, 4));
    p.compare_one(g, L.marker, exact_tol(), (w + " marker").c_str(),
                  p.read_raw(cpu, L.marker.offset, 64));
    if (after_ran) {
      p.compare_one(g, L.h4, Tol{1e-2, kBf16Ulp, false}, (w + " h4").c_str(),
                    p.read_raw(cpu, L.h4.offset, L.h4.count * 2));
    } else {
      ck(p.read_raw(backend(), L.h4.offset, L.h4.count * 2) ==
             p.read_raw(cpu, L.h4.offset, L.h4.count * 2),
         "h4 untouched after the break");
    }
  }

  LoopBufs L{};
  std::vector<float> spike;

 private:
  bool recorded_ = false;
};

TEST_P(Recording, ReplaysStopAtABreakThatMatchesAndRunOnWhereItDoesNot) {
  Pair& p = pair();
  Backend& b = backend();
  Backend& cpu = p.ref();
  record_two_bodies();
  // The cpu runs the same ops eagerly; the break fired, so not the rest.
  ck(body_before(cpu, L) == Status::ok, "cpu body");
  auto r = b.replay(1);
  ck(r.ok() && r->has_value() && **r == 11u, "replay(1) reports break 11");
  compare_body(false, "replay(1)");
  r = b.replay(2);
  ck(r.ok() && !r->has_value(), "replay(2) reports no break");
  ck(body_after(cpu, L) == Status::ok, "cpu after");
  compare_body(true, "replay(2)");
  p.end();
}

// A replay reads VRAM as it is now: with the spike moved the argmax is 78, so
// key 1's break no longer fires and key 2's does.
TEST_P(Recording, ReplaysSeeNewDataAndTheBreakIsDecidedOnTheDevice) {
  Pair& p = pair();
  Backend& b = backend();
  Backend& cpu = p.ref();
  record_two_bodies();
  p.end();
  p.begin(
      strf("%s: replays see new data; the break is decided on the device", target().label.c_str()),
      false);
  const auto a2 = p.random(L.k, -1, 1);
  p.put(L.a, a2);
  spike[77] = 0.0f;
  spike[78] = 100.0f;
  p.put(L.spike, spike);
  reset_outputs();
  ck(body_before(cpu, L) == Status::ok && body_after(cpu, L) == Status::ok, "cpu body");
  auto r = b.replay(1);
  ck(r.ok() && !r->has_value(), "replay(1) now reports no break");
  compare_body(true, "replay(1) new data");
  p.put(L.marker, std::vector<float>(16, -7.0f));
  p.expect(cpu.write_bytes(L.h4.offset, p.read_raw(b, L.h4.offset, L.h4.count * 2)) == Status::ok,
           "cpu write of h4");
  r = b.replay(2);
  ck(r.ok() && r->has_value() && **r == 12u, "replay(2) now reports break 12");
  compare_body(false, "replay(2) new data");
  // Replaying again gives the same.
  r = b.replay(2);
  ck(r.ok() && r->has_value() && **r == 12u, "replay(2) again");
  compare_body(false, "replay(2) again");
  p.end();
}

TEST_P(Recording, AKeyIsReplacedAbortedRecordingsDoNotRunAndDroppedKeysAreUnknown) {
  Pair& p = pair();
  Backend& b = backend();
  Backend& cpu = p.ref();
  record_two_bodies();
  p.end();
  p.begin(strf("%s: key replaced, abort, unknown key, drop_recordings", target().label.c_str()),
          false);
  ck(b.begin_recording() == Status::ok, "begin_recording");
  ck(b.fill(L.marker, f32_bits(2.5f)) == Status::ok, "recorded fill");
  ck(b.end_recording(1) == Status::ok, "end_recording(1) again");
  ck(b.finish() == Status::ok, "finish");
  p.put(L.marker, std::vector<float>(16, -7.0f));
  auto r = b.replay(1);
  ck(r.ok() && !r->has_value(), "replay of the replacing recording");
  ck(p.read(b, L.marker) == std::vector<float>(16, 2.5f), "the replacing recording ran");
  ck(b.begin_recording() == Status::ok, "begin_recording");
  ck(b.fill(L.marker, f32_bits(9.0f)) == Status::ok, "recorded fill");
  b.abort_recording();
  ck(b.finish() == Status::ok, "finish after abort");
  ck(p.read(b, L.marker) == std::vector<float>(16, 2.5f), "aborted recording did not run");
  r = b.replay(99);
  ck(!r.ok() && r.status() == Status::invalid_arg, "replay of an unknown key: invalid_arg");
  r = b.replay(2);
  ck(r.ok(), "key 2 still kept");
  b.drop_recordings();
  r = b.replay(1);
  ck(!r.ok() && r.status() == Status::invalid_arg, "replay(1) after drop: invalid_arg");
  r = b.replay(2);
  ck(!r.ok() && r.status() == Status::invalid_arg, "replay(2) after drop: invalid_arg");
  // Eager ops still run after all of that.
  for (const Target& o : p.gpus()) {
    if (o.backend == &b) continue;
    p.expect(
        o.backend->write_bytes(VramOffset{0}, p.read_raw(b, VramOffset{0}, 1 << 20)) == Status::ok,
        "sync other");
  }
  p.expect(cpu.write_bytes(VramOffset{0}, p.read_raw(b, VramOffset{0}, 1 << 20)) == Status::ok,
           "sync cpu");
  p.poison(L.h);
  p.run([&](Backend& be) {
    return be.matmul(MatmulArgs{L.h, L.a, L.w, std::nullopt, 1, L.n, L.k, true, false});
  });
  p.compare(L.h, Tol{std::sqrt(320.0) / 256 + 1e-5, 0, false}, "eager h");
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Configurations, Recording, ::testing::Range<std::size_t>(0, kVariantCount),
                         variant_name);

// ---------------------------------------------------------------- crypto

struct CryptoCase {
  std::size_t variant;
  std::uint64_t bytes;
  std::uint64_t tensor_id;  // distinct per case
};

std::vector<CryptoCase> crypto_cases() {
  const std::uint64_t sizes[] = {2, 4096 + 2, 65536, 65538, 3 * 65536 + 100, (4u << 20) + 6};
  std::vector<CryptoCase> v;
  for (std::size_t i = 0; i < kVariantCount; ++i) {
    for (const std::uint64_t bytes : sizes) v.push_back(CryptoCase{i, bytes, 0x101 + v.size()});
  }
  return v;
}

class DeviceCryptoEngine : public BackendParamTest<CryptoCase> {};

// open gives the plaintext; every forgery answers auth_failed with the
// destination zeroed (the engine's default open mode, one_pass, decrypts
// while it verifies and zeroes on a bad tag); seal from VRAM gives the cpu
// engine's bytes exactly.
TEST_P(DeviceCryptoEngine, OpensSealsAndRejectsForgeriesLikeTheCpuEngine) {
  Pair& p = pair();
  const Target& g = gpu(GetParam().variant);
  const std::uint64_t bytes = GetParam().bytes;
  Backend& b = *g.backend;
  const Key key = random_key(p);
  const std::span<const std::uint8_t, kKeyBytes> ks(key);
  const std::uint64_t tid = GetParam().tensor_id;
  DeviceCrypto* dc = b.device_crypto();
  p.begin(strf("%s: open/seal %" PRIu64 " bytes, forgeries", g.label.c_str(), bytes));
  ASSERT_NE(dc, nullptr) << g.label << ": device_crypto() is null";
  const auto ck = [&](bool ok, const char* what) { p.expect(ok, (g.label + ": " + what).c_str()); };
  const VramOffset dst = p.alloc_bytes(bytes, Misalign{2});
  const auto plain = p.random_bytes(bytes);
  const SealParams sp{3, tid};
  std::vector<std::byte> sealed(sealed_size(bytes));
  ck(seal_tensor(sealed, plain, sp, ks) == Status::ok, "cpu seal");
  const auto before = p.random_bytes(bytes);
  ck(b.write_bytes(dst, before) == Status::ok, "write");
  ck(b.finish() == Status::ok, "finish");
  ck(dc->open(dst, bytes, sealed, sp, ks) == Status::ok, "open");
  ck(p.read_raw(b, dst, bytes) == plain, "opened plaintext");
  const std::uint64_t chunks = sealed_chunk_count(bytes);
  const std::uint64_t last = (chunks - 1) * kChunkStride;
  struct Forgery {
    const char* what;
    std::uint64_t flip;  // byte to flip, or ~0 for none
    SealParams params;
    bool other_key;
  };
  const Forgery forgeries[] = {
      {"flipped ciphertext byte", last + kChunkHeaderBytes + (bytes - 1) % kChunkBytes, sp, false},
      {"flipped header byte", last + 8, sp, false},
      {"flipped tag byte", sealed.size() - 1, sp, false},
      {"flipped first ciphertext byte", kChunkHeaderBytes, sp, false},
      {"wrong tensor id", ~0ull, SealParams{3, tid + 1000}, false},
      {"wrong key slot", ~0ull, SealParams{4, tid}, false},
      {"wrong key", ~0ull, sp, true},
  };
  auto other = key;
  other[5] ^= 1;
  for (const Forgery& f : forgeries) {
    const auto fill = p.random_bytes(bytes);
    ck(b.write_bytes(dst, fill) == Status::ok, "write");
    auto bad = sealed;
    if (f.flip != ~0ull) bad[f.flip] ^= std::byte{0x20};
    const Status s = dc->open(dst, bytes, bad, f.params,
                              f.other_key ? std::span<const std::uint8_t, kKeyBytes>(other) : ks);
    if (s != Status::auth_failed) {
      p.fail("%s: %s: open gave %s", g.label.c_str(), f.what, status_name(s).c_str());
    }
    if (p.read_raw(b, dst, bytes) != std::vector<std::byte>(bytes)) {
      p.fail("%s: %s: VRAM not zeroed", g.label.c_str(), f.what);
    }
  }
  // Seal from VRAM: the cpu opens it; the bytes are the cpu's seal.
  const VramOffset src = p.alloc_bytes(bytes, Misalign{4});
  ck(b.write_bytes(src, plain) == Status::ok, "write");
  const SealParams op{3, kDeviceTensorBit | tid};
  std::vector<std::byte> out(sealed_size(bytes));
  ck(dc->seal(out, src, bytes, op, ks) == Status::ok, "seal");
  std::vector<std::byte> opened(bytes);
  ck(open_tensor(opened, out, op, ks) == Status::ok, "cpu open of the device seal");
  ck(opened == plain, "cpu-opened plaintext");
  std::vector<std::byte> cpu_sealed(sealed_size(bytes));
  ck(seal_tensor(cpu_sealed, plain, op, ks) == Status::ok, "cpu seal");
  ck(out == cpu_sealed, "device seal equals the cpu seal byte for byte");
  ck(dc->wipe() == Status::ok, "wipe");
  // Leave the other backends' VRAM as this one's for the next cases.
  p.reset_arena();
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Sizes, DeviceCryptoEngine, ::testing::ValuesIn(crypto_cases()),
                         [](const ::testing::TestParamInfo<CryptoCase>& param_info) {
                           return strf("%s_%" PRIu64 "_bytes",
                                       variants().at(param_info.param.variant).id,
                                       param_info.param.bytes);
                         });

// ---------------------------------------------------------------- pinning

class PinnedHost : public BackendParamTest<std::size_t> {};

TEST_P(PinnedHost, CarriesWritesAndReadsAndUnpinningLeavesMemoryUsable) {
  Pair& p = pair();
  const Target& g = gpu(GetParam());
  Backend& b = *g.backend;
  const std::uint64_t page = 4096;
  const std::uint64_t len = (8u << 20) + 3;
  p.begin(strf("%s: pin_host, write_bytes/read_bytes through it, unpin", g.label.c_str()));
  const std::uint64_t span_len = 2 * (len + page);
  // Page-aligned anonymous memory, as guest RAM is.
  void* mem = mmap(nullptr, span_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED) << "mmap of " << span_len << " bytes";
  const std::span<std::byte> host(static_cast<std::byte*>(mem), span_len);
  p.expect(b.pin_host(host) == Status::ok, "pin_host");
  const auto data = p.random_bytes(len);
  std::memcpy(host.data(), data.data(), len);
  const VramOffset off = p.alloc_bytes(len, Misalign{5});
  p.expect(b.write_bytes(off, host.subspan(0, len)) == Status::ok, "write_bytes from pinned");
  const std::span<std::byte> back = host.subspan(len + page + 1, len);
  p.expect(b.read_bytes(off, back) == Status::ok, "read_bytes into pinned");
  p.expect(std::memcmp(back.data(), data.data(), len) == 0, "round trip through pinned memory");
  b.unpin_host(host);
  // A sub-range that does not start on a page.
  const auto sub = host.subspan(100, 5000);
  p.expect(b.pin_host(sub) == Status::ok, "pin_host of an unaligned range");
  b.unpin_host(sub);
  // Unpinned memory still works after unpin.
  const auto data2 = p.random_bytes(len);
  std::memcpy(host.data(), data2.data(), len);
  p.expect(b.write_bytes(off, host.subspan(0, len)) == Status::ok, "write after unpin");
  p.expect(p.read_raw(b, off, len) == data2, "round trip after unpin");
  p.expect(b.finish() == Status::ok, "finish");
  munmap(mem, span_len);
  p.reset_arena();
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Configurations, PinnedHost,
                         ::testing::Range<std::size_t>(0, kVariantCount), variant_name);

}  // namespace
}  // namespace hix::vgpu::cuda::test
