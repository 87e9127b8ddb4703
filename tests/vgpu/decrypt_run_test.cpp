// Runs of DMA_IN_DECRYPT (spec §7.2.1): a command buffer whose consecutive
// DMA_IN_DECRYPT ops the device hands its crypto engine as one run ends
// exactly as when they run one by one -- the same VRAM, status, LAST_ERROR
// (status and op index), AUTH_FAILURES and DMA_DENIED -- with the host
// engine and with a device engine (a double standing in for the cuda one);
// and no tensor's bytes reach its destination before it and every earlier
// tensor of the run have verified (a write log shows it, and its control
// shows the log would catch an engine that writes first).
#include <gtest/gtest.h>
#include <sodium.h>

#include <functional>

#include "fake_bus.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu::test {
namespace {

constexpr std::uint64_t kVram = 2ull << 20;
constexpr std::uint64_t kDstBytes = 1ull << 20;  // the destination buffer: VRAM [0, 1 MiB)
constexpr std::uint32_t kSlot = 2;
constexpr std::uint32_t kOtherSlot = 5;  // another key
constexpr std::uint32_t kPoison = 0xA5A5A5A5u;

std::vector<std::byte> pattern(std::uint64_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    v[i] = static_cast<std::byte>(((i * 131) + (std::uint64_t{seed} * 29) + 7) & 0xFF);
  }
  return v;
}

// A write the backend saw: plaintext bytes (write_bytes) or zeros (zero).
struct Write {
  std::uint64_t at;
  std::vector<std::byte> data;
};

// The ChaCha20 keystream XORed into a sealed tensor's chunks, no tag checked:
// what an engine that decrypts before it verifies has in hand.
std::vector<std::byte> decrypt_unverified(std::span<const std::byte> sealed, std::uint64_t bytes,
                                          SealParams p,
                                          std::span<const std::uint8_t, kKeyBytes> key) {
  std::vector<std::byte> plain(bytes);
  for (std::uint64_t i = 0; i < sealed_chunk_count(bytes); ++i) {
    const std::uint64_t len = std::min(kChunkBytes, bytes - i * kChunkBytes);
    std::array<unsigned char, 12> nonce{};
    for (std::size_t b = 0; b < 4; ++b) nonce[b] = static_cast<unsigned char>(i >> (8 * b));
    for (std::size_t b = 0; b < 8; ++b) {
      nonce[4 + b] = static_cast<unsigned char>(p.tensor_id >> (8 * b));
    }
    const auto* in = reinterpret_cast<const unsigned char*>(  // byte view, same object
        sealed.data() + i * kChunkStride + kChunkHeaderBytes);
    auto* out = reinterpret_cast<unsigned char*>(plain.data() + i * kChunkBytes);  // byte view
    crypto_stream_chacha20_ietf_xor_ic(out, in, len, nonce.data(), 1, key.data());
  }
  return plain;
}

// The cpu backend, every write into VRAM logged; with `engine`, a device
// crypto engine of its own (a double of the cuda one, on the host): honest,
// or (`eager`, the control) one that writes what it decrypted before it
// verifies, as a buggy run implementation would.
class LoggingCpu final : public Backend {
 public:
  enum class Engine : std::uint8_t { host, device, eager_device };
  explicit LoggingCpu(Engine engine)
      : inner_(std::move(*CpuBackend::create(kVram))), engine_(engine), crypto_(*this) {}

  std::string_view name() const override { return "logging-cpu"; }
  std::uint64_t vram_size() const override { return inner_->vram_size(); }
  Status write_bytes(VramOffset d, std::span<const std::byte> s) override {
    log_.push_back({d.value, {s.begin(), s.end()}});
    return inner_->write_bytes(d, s);
  }
  Status read_bytes(VramOffset s, std::span<std::byte> d) override {
    return inner_->read_bytes(s, d);
  }
  Status zero(VramOffset d, std::uint64_t n) override {
    log_.push_back({d.value, std::vector<std::byte>(n)});
    return inner_->zero(d, n);
  }
  Status fill(const TensorArg& d, std::uint32_t bits) override { return inner_->fill(d, bits); }
  Status copy(const TensorArg& d, const TensorArg& s) override { return inner_->copy(d, s); }
  Status embedding(const EmbeddingArgs& a) override { return inner_->embedding(a); }
  Status matmul(const MatmulArgs& a) override { return inner_->matmul(a); }
  Status binary(const BinaryArgs& a) override { return inner_->binary(a); }
  Status layernorm(const NormArgs& a) override { return inner_->layernorm(a); }
  Status rmsnorm(const NormArgs& a) override { return inner_->rmsnorm(a); }
  Status unary(const UnaryArgs& a) override { return inner_->unary(a); }
  Status softmax(const RowsArgs& a) override { return inner_->softmax(a); }
  Status rope(const RopeArgs& a) override { return inner_->rope(a); }
  Status attention(const AttentionArgs& a) override { return inner_->attention(a); }
  Status argmax(const RowsArgs& a) override { return inner_->argmax(a); }
  Status sample(const SampleArgs& a) override { return inner_->sample(a); }
  DeviceCrypto* device_crypto() override { return engine_ == Engine::host ? nullptr : &crypto_; }

  const std::vector<Write>& log() const { return log_; }
  std::uint64_t run_calls() const { return crypto_.run_calls; }

 private:
  class Crypto final : public DeviceCrypto {
   public:
    explicit Crypto(LoggingCpu& vram) : vram_(vram) {}
    Status open(VramOffset dst, std::uint64_t bytes, std::span<const std::byte> sealed,
                SealParams params, std::span<const std::uint8_t, kKeyBytes> key) override {
      std::vector<std::byte> plain(bytes);
      if (vram_.engine_ == Engine::eager_device) {
        plain = decrypt_unverified(sealed, bytes, params, key);
        HIX_TRY(vram_.write_bytes(dst, plain));  // before the verdict: the planted bug
        return open_tensor(plain, sealed, params, key);
      }
      HIX_TRY(open_tensor(plain, sealed, params, key));
      return vram_.write_bytes(dst, plain);
    }
    Status seal(std::span<std::byte> sealed, VramOffset src, std::uint64_t bytes, SealParams params,
                std::span<const std::uint8_t, kKeyBytes> key) override {
      std::vector<std::byte> plain(bytes);
      HIX_TRY(vram_.read_bytes(src, plain));
      return seal_tensor(sealed, plain, params, key);
    }
    Status wipe() override { return Status::ok; }
    // The cuda engine's shape: every tensor verified before any is written.
    RunOutcome open_run(std::span<const OpenItem> run) override {
      ++run_calls;
      if (vram_.engine_ == Engine::eager_device) return DeviceCrypto::open_run(run);
      std::vector<std::vector<std::byte>> plain;
      std::size_t verified = 0;
      for (; verified < run.size(); ++verified) {
        const OpenItem& t = run[verified];
        plain.emplace_back(t.bytes);
        if (open_tensor(plain.back(), t.sealed, t.params, t.key) != Status::ok) break;
      }
      for (std::size_t i = 0; i < verified; ++i) {
        if (const Status s = vram_.write_bytes(run[i].dst, plain[i]); s != Status::ok) {
          return {i, s};
        }
      }
      return {verified, verified == run.size() ? Status::ok : Status::auth_failed};
    }
    std::uint64_t run_calls = 0;

   private:
    LoggingCpu& vram_;
  };

  std::unique_ptr<CpuBackend> inner_;
  Engine engine_;
  Crypto crypto_;
  std::vector<Write> log_;
};

// A sealed tensor in guest memory and the plaintext it opens to.
struct Staged {
  std::uint64_t gpa = 0;
  std::uint64_t bytes = 0;
  std::uint64_t id = 0;
  std::vector<std::byte> plain;
};

// One device, one context whose destination buffer (VRAM [0, 1 MiB)) is
// filled with kPoison, kSlot and kOtherSlot installed with different keys.
class Rig {
 public:
  Rig(DeviceConfig cfg, LoggingCpu::Engine engine) {
    auto backend = std::make_unique<LoggingCpu>(engine);
    cpu = backend.get();
    bus = std::make_unique<FakeBus>(std::move(backend), std::move(cfg));
    bus->start_ring();
    ctx = bus->create_context();
    dst = bus->alloc(ctx, kDstBytes);
    bus->install_slot(ctx, kSlot, key);
    bus->install_slot(ctx, kOtherSlot, other_key);
    CmdbufBuilder fill;
    fill.fill(tref(dst, HIX_VGPU_DT_I32), kDstBytes / 4, kPoison);
    EXPECT_EQ(bus->submit(ctx, fill), Status::ok);
  }

  // `bytes` of plaintext sealed as tensor `id` for `slot` under `k`.
  Staged stage(std::uint64_t bytes, std::uint64_t id, std::uint32_t slot, const Key& k) {
    Staged t{0, bytes, id, pattern(bytes, static_cast<std::uint32_t>(id))};
    std::vector<std::byte> s(sealed_size(bytes));
    EXPECT_EQ(seal_tensor(s, t.plain, SealParams{static_cast<std::uint8_t>(slot), id}, k),
              Status::ok);
    t.gpa = bus->guest_alloc(s.size());
    bus->guest_write(t.gpa, s);
    return t;
  }
  Staged stage(std::uint64_t bytes, std::uint64_t id) { return stage(bytes, id, kSlot, key); }

  // DMA_IN_DECRYPT of `t` into the destination buffer at `offset`, as
  // tensor `id` (t's own unless given) from `slot`.
  void decrypt(CmdbufBuilder& b, const Staged& t, std::uint64_t offset,
               std::optional<std::uint64_t> id = std::nullopt, std::uint32_t slot = kSlot) const {
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(dst, HIX_VGPU_DT_BF16, offset),
                {.gpa = t.gpa, .bytes = t.bytes},
                {.tensor_id = id.value_or(t.id), .key_slot = slot});
  }

  std::vector<std::byte> vram() const {
    std::vector<std::byte> v(kVram);
    EXPECT_EQ(bus->dev->backend().read_bytes(VramOffset{0}, v), Status::ok);
    return v;
  }

  Key key = make_key(11);
  Key other_key = make_key(12);
  LoggingCpu* cpu = nullptr;  // owned by bus
  std::unique_ptr<FakeBus> bus;
  std::uint32_t ctx = 0, dst = 0;
};

// How a staged tensor is forged.
enum class Forgery : std::uint8_t { tag, ciphertext, header };

void forge(Rig& r, const Staged& t, Forgery f) {
  const std::uint64_t total = sealed_size(t.bytes);
  const std::uint64_t last_chunk = (sealed_chunk_count(t.bytes) - 1) * kChunkStride;
  switch (f) {
    case Forgery::tag:  // the last tag's last byte
      r.bus->guest(t.gpa + total - 1, 1)[0] ^= std::byte{0x01};
      break;
    case Forgery::ciphertext:  // a byte in the last chunk's ciphertext
      r.bus->guest(t.gpa + last_chunk + kChunkHeaderBytes, 1)[0] ^= std::byte{0x40};
      break;
    case Forgery::header:  // the first chunk's chunk_count
      r.bus->guest(t.gpa + 20, 1)[0] ^= std::byte{0x02};
      break;
  }
}

const char* name(Forgery f) {
  switch (f) {
    case Forgery::tag:
      return "tag";
    case Forgery::ciphertext:
      return "ciphertext";
    case Forgery::header:
      return "header";
  }
  return "?";
}

// A command buffer built on a rig (tensors staged, some forged).
using Scenario = std::function<CmdbufBuilder(Rig&)>;

// What a command buffer left behind, and whether the device still works.
struct Outcome {
  Status status = Status::ok;
  std::uint32_t last_error = 0, auth_failures = 0, dma_denied = 0;
  std::vector<std::byte> vram;
  std::uint64_t runs = 0;
  Status later_same_context = Status::internal;   // a good run in the same context after it
  Status later_other_context = Status::internal;  // ... and in a context of its own
  std::vector<std::byte> later_vram;
};

DeviceConfig config(DecryptRunLimits limits, std::uint64_t op_budget = std::uint64_t{1} << 24) {
  DeviceConfig c;
  c.decrypt_runs = limits;
  c.op_budget = op_budget;
  return c;
}
constexpr DecryptRunLimits kOneByOne{.max_tensors = 1};

Outcome play(const Scenario& scenario, DeviceConfig cfg, LoggingCpu::Engine engine) {
  Rig r(std::move(cfg), engine);
  Outcome o;
  o.status = r.bus->submit(r.ctx, scenario(r));
  o.last_error = r.bus->reg(Reg32::last_error);
  o.auth_failures = r.bus->reg(Reg32::auth_failures);
  o.dma_denied = r.bus->reg(Reg32::dma_denied);
  o.vram = r.vram();
  o.runs = r.bus->dev->crypto().runs();
  // Later command buffers, in this context and in another, still work.
  CmdbufBuilder same;
  for (std::uint64_t i = 0; i < 3; ++i) {
    r.decrypt(same, r.stage(1000 + (i * 2), 900 + i), (900 << 10) + (i * 4096));
  }
  o.later_same_context = r.bus->submit(r.ctx, same);
  const std::uint32_t ctx2 = r.bus->create_context();
  const std::uint32_t buf2 = r.bus->alloc(ctx2, 65536);
  r.bus->install_slot(ctx2, kSlot, r.key);
  CmdbufBuilder other;
  for (std::uint64_t i = 0; i < 2; ++i) {
    const Staged t = r.stage(3000, 950 + i);
    other.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(buf2, HIX_VGPU_DT_BF16, i * 4000),
                    {.gpa = t.gpa, .bytes = t.bytes}, {.tensor_id = t.id, .key_slot = kSlot});
  }
  o.later_other_context = r.bus->submit(ctx2, other);
  o.later_vram = r.vram();
  return o;
}

// The first VRAM offset where two snapshots differ (npos: none).
std::size_t first_difference(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
  const auto m = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return m.first == a.end() && m.second == b.end() ? std::string::npos
                                                   : static_cast<std::size_t>(m.first - a.begin());
}

// Plays `scenario` one by one and with runs (`limits`) and expects the
// same outcome; returns the run's.
Outcome expect_same_as_one_by_one(const Scenario& scenario,
                                  LoggingCpu::Engine engine = LoggingCpu::Engine::host,
                                  DecryptRunLimits limits = {},
                                  std::uint64_t op_budget = std::uint64_t{1} << 24) {
  const Outcome one = play(scenario, config(kOneByOne, op_budget), engine);
  Outcome run = play(scenario, config(limits, op_budget), engine);
  EXPECT_EQ(one.runs, 0u) << "one by one ran a run";
  EXPECT_EQ(to_string(run.status), to_string(one.status));
  EXPECT_EQ(run.last_error >> 16, one.last_error >> 16) << "LAST_ERROR's op index";
  EXPECT_EQ(run.last_error & 0xFFFF, one.last_error & 0xFFFF) << "LAST_ERROR's status";
  EXPECT_EQ(run.auth_failures, one.auth_failures);
  EXPECT_EQ(run.dma_denied, one.dma_denied);
  EXPECT_EQ(first_difference(run.vram, one.vram), std::string::npos) << "VRAM differs there";
  EXPECT_EQ(run.later_same_context, Status::ok);
  EXPECT_EQ(run.later_other_context, Status::ok);
  EXPECT_EQ(one.later_same_context, Status::ok);
  EXPECT_EQ(one.later_other_context, Status::ok);
  EXPECT_EQ(first_difference(run.later_vram, one.later_vram), std::string::npos);
  return run;
}

// Byte offsets of `sizes` laid out back to back (8-aligned) from 0.
std::vector<std::uint64_t> layout(const std::vector<std::uint64_t>& sizes) {
  std::vector<std::uint64_t> at;
  std::uint64_t next = 0;
  for (const std::uint64_t n : sizes) {
    at.push_back(next);
    next += (n + 7) / 8 * 8;
  }
  return at;
}

// Decrypts of tensors of `sizes` (ids 1, 2, ...) into the destination back
// to back; `then` may forge or replace any of them (by index).
Scenario tensors(std::vector<std::uint64_t> sizes,
                 std::function<void(Rig&, std::vector<Staged>&)> then = {}) {
  return [sizes = std::move(sizes), then = std::move(then)](Rig& r) {
    std::vector<Staged> ts;
    for (std::size_t i = 0; i < sizes.size(); ++i) ts.push_back(r.stage(sizes[i], i + 1));
    if (then) then(r, ts);
    const auto at = layout(sizes);
    CmdbufBuilder b;
    for (std::size_t i = 0; i < ts.size(); ++i) r.decrypt(b, ts[i], at[i], i + 1);
    return b;
  };
}

const std::vector<std::uint64_t> kMixed = {2,    100,   65536,     4,  65538, 3 * 65536 + 6,
                                           1000, 65534, 2 * 65536, 12, 70000, 6};

TEST(DecryptRuns, ARunOfOneTensorIsASingleOpAndEqualsOneByOne) {
  const Outcome o = expect_same_as_one_by_one(tensors({70000}));
  EXPECT_EQ(o.status, Status::ok);
  EXPECT_EQ(o.runs, 0u);
}

TEST(DecryptRuns, ARunOfTwoTensorsEqualsOneByOneAndIsOneEngineCall) {
  const Outcome o = expect_same_as_one_by_one(tensors({100, 65538}));
  EXPECT_EQ(o.status, Status::ok);
  EXPECT_EQ(o.runs, 1u);
}

TEST(DecryptRuns, ARunOfManyTensorsOfMixedSizesEqualsOneByOne) {
  for (const auto engine : {LoggingCpu::Engine::host, LoggingCpu::Engine::device}) {
    const Outcome o = expect_same_as_one_by_one(tensors(kMixed), engine);
    EXPECT_EQ(o.status, Status::ok);
    EXPECT_EQ(o.runs, 1u);
    // And the plaintext is where it belongs.
    const auto at = layout(kMixed);
    for (std::size_t i = 0; i < kMixed.size(); ++i) {
      const auto want = pattern(kMixed[i], static_cast<std::uint32_t>(i + 1));
      EXPECT_TRUE(std::equal(want.begin(), want.end(), o.vram.begin() + static_cast<long>(at[i])))
          << "tensor " << i;
    }
  }
}

TEST(DecryptRuns, OtherOpsBetweenDecryptsEndOneRunAndStartAnother) {
  const Outcome o = expect_same_as_one_by_one([](Rig& r) {
    CmdbufBuilder b;
    const auto at = layout(kMixed);
    for (std::size_t i = 0; i < kMixed.size(); ++i) {
      if (i == 5) b.fill(tref(r.dst, HIX_VGPU_DT_I32, 960 << 10), 16, 7);
      r.decrypt(b, r.stage(kMixed[i], i + 1), at[i]);
    }
    return b;
  });
  EXPECT_EQ(o.status, Status::ok);
  EXPECT_EQ(o.runs, 2u);
}

TEST(DecryptRuns, AZeroLengthTensorIsRefusedBeforeAnythingRunsAsOneByOne) {
  const Outcome o = expect_same_as_one_by_one([](Rig& r) {
    CmdbufBuilder b;
    r.decrypt(b, r.stage(100, 1), 0);
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(r.dst, HIX_VGPU_DT_BF16, 4096),
                {.gpa = r.stage(100, 2).gpa, .bytes = 0}, {.tensor_id = 2, .key_slot = kSlot});
    r.decrypt(b, r.stage(100, 3), 8192);
    return b;
  });
  EXPECT_EQ(o.status, Status::bad_shape);
  EXPECT_EQ(o.last_error >> 16, 1u);
}

TEST(DecryptRuns, AForgedFirstMiddleOrLastTensorFailsAtItsOpExactlyAsOneByOne) {
  const std::vector<std::uint64_t> sizes = {1000, 65538, 4, 3 * 65536 + 6, 100, 70000};
  for (const auto engine : {LoggingCpu::Engine::host, LoggingCpu::Engine::device}) {
    for (const Forgery f : {Forgery::tag, Forgery::ciphertext, Forgery::header}) {
      for (const std::size_t bad : {std::size_t{0}, std::size_t{3}, sizes.size() - 1}) {
        SCOPED_TRACE(std::string(name(f)) + " of tensor " + std::to_string(bad) +
                     (engine == LoggingCpu::Engine::host ? " (host engine)" : " (device engine)"));
        const Outcome o = expect_same_as_one_by_one(
            tensors(sizes, [bad, f](Rig& r, std::vector<Staged>& ts) { forge(r, ts[bad], f); }),
            engine);
        EXPECT_EQ(o.status, Status::auth_failed);
        EXPECT_EQ(o.last_error >> 16, bad);
        EXPECT_EQ(o.auth_failures, 1u);
        // The forged tensor's range reads as zeros; those after it keep the poison.
        const auto at = layout(sizes);
        EXPECT_TRUE(std::all_of(o.vram.begin() + static_cast<long>(at[bad]),
                                o.vram.begin() + static_cast<long>(at[bad] + sizes[bad]),
                                [](std::byte x) { return x == std::byte{0}; }));
        if (bad + 1 < sizes.size()) {
          std::uint32_t word = 0;
          std::memcpy(&word, o.vram.data() + at[bad + 1], 4);
          EXPECT_EQ(word, kPoison) << "the tensor after the forged one was written";
        }
      }
    }
  }
}

TEST(DecryptRuns, AReplayedTensorFailsAtItsOpAsOneByOne) {
  // Op 2 names tensor 3 but the guest holds tensor 2's sealed bytes again.
  const Outcome o = expect_same_as_one_by_one(
      tensors({500, 500, 500, 500}, [](Rig&, std::vector<Staged>& ts) { ts[2].gpa = ts[1].gpa; }));
  EXPECT_EQ(o.status, Status::auth_failed);
  EXPECT_EQ(o.last_error >> 16, 2u);
  EXPECT_EQ(o.auth_failures, 1u);
}

TEST(DecryptRuns, ATensorSealedUnderAnotherKeyFailsAtItsOpAsOneByOne) {
  for (const auto engine : {LoggingCpu::Engine::host, LoggingCpu::Engine::device}) {
    const Outcome o = expect_same_as_one_by_one(
        [](Rig& r) {
          CmdbufBuilder b;
          r.decrypt(b, r.stage(300, 1), 0);
          r.decrypt(b, r.stage(300, 2, kSlot, r.other_key), 1024);  // right slot id, wrong key
          r.decrypt(b, r.stage(300, 3), 2048);
          return b;
        },
        engine);
    EXPECT_EQ(o.status, Status::auth_failed);
    EXPECT_EQ(o.last_error >> 16, 1u);
  }
  // Sealed for kSlot, presented through kOtherSlot: the header binds the slot.
  const Outcome o = expect_same_as_one_by_one([](Rig& r) {
    CmdbufBuilder b;
    r.decrypt(b, r.stage(300, 1), 0);
    r.decrypt(b, r.stage(300, 2), 1024);
    r.decrypt(b, r.stage(300, 3, kSlot, r.other_key), 2048, 3, kOtherSlot);
    return b;
  });
  EXPECT_EQ(o.status, Status::auth_failed);
  EXPECT_EQ(o.last_error >> 16, 2u);
}

TEST(DecryptRuns, ADeniedGuestRangeEndsTheRunAndIsCountedOnceAsOneByOne) {
  const Outcome o =
      expect_same_as_one_by_one(tensors({100, 200, 300, 400}, [](Rig& r, std::vector<Staged>& ts) {
        r.bus->dev->set_dma_deny({DenyRange{GuestPhys{ts[2].gpa + 40}, 1}});
      }));
  EXPECT_EQ(o.status, Status::dma_denied);
  EXPECT_EQ(o.last_error >> 16, 2u);
  EXPECT_EQ(o.dma_denied, 1u);
  EXPECT_EQ(o.runs, 1u) << "tensors 0 and 1 still ran as a run";
}

TEST(DecryptRuns, OverlappingDestinationsEndTheRunSoTheLaterTensorWins) {
  const Outcome o = expect_same_as_one_by_one([](Rig& r) {
    CmdbufBuilder b;
    r.decrypt(b, r.stage(1000, 1), 0);
    r.decrypt(b, r.stage(1000, 2), 4096);
    r.decrypt(b, r.stage(1000, 3), 500);  // over tensor 1's second half
    r.decrypt(b, r.stage(1000, 4), 8192);
    return b;
  });
  EXPECT_EQ(o.status, Status::ok);
  EXPECT_EQ(o.runs, 2u);
  const auto third = pattern(1000, 3);
  EXPECT_TRUE(std::equal(third.begin(), third.end(), o.vram.begin() + 500));
}

TEST(DecryptRuns, TheOpBudgetStopsARunAtTheSameOp) {
  const Outcome o =
      expect_same_as_one_by_one(tensors({10, 20, 30, 40, 50, 60}), LoggingCpu::Engine::host, {}, 4);
  EXPECT_EQ(o.status, Status::limit);
  EXPECT_EQ(o.last_error >> 16, 4u);
}

TEST(DecryptRuns, RunLimitsSplitRunsWithoutChangingTheResult) {
  const DecryptRunLimits small{.max_tensors = 3, .max_sealed_bytes = 300 << 10};
  const Outcome ok = expect_same_as_one_by_one(tensors(kMixed), LoggingCpu::Engine::host, small);
  EXPECT_EQ(ok.status, Status::ok);
  EXPECT_GE(ok.runs, 3u);
  const Outcome bad = expect_same_as_one_by_one(
      tensors(kMixed,
              [](Rig& r, std::vector<Staged>& ts) { forge(r, ts[10], Forgery::ciphertext); }),
      LoggingCpu::Engine::device, small);
  EXPECT_EQ(bad.status, Status::auth_failed);
  EXPECT_EQ(bad.last_error >> 16, 10u);
}

// ---- Nothing of a tensor is written before it verifies ----

// Whether the log shows non-zero bytes written into [lo, hi) (zeroing a
// failed tensor's range is allowed).
bool plaintext_written_into(const std::vector<Write>& log, std::uint64_t lo, std::uint64_t hi) {
  return std::any_of(log.begin(), log.end(), [&](const Write& w) {
    for (std::uint64_t i = 0; i < w.data.size(); ++i) {
      const std::uint64_t at = w.at + i;
      if (at >= lo && at < hi && w.data[i] != std::byte{0}) return true;
    }
    return false;
  });
}

struct Observed {
  Status status;
  bool forged_written;  // the forged tensor's plaintext reached its destination
  bool later_written;   // anything reached the tensor after it
  std::vector<std::byte> vram;
};

// A run of four tensors whose third has a bad tag.
Observed observe(LoggingCpu::Engine engine) {
  Rig r(config({}), engine);
  const std::vector<std::uint64_t> sizes = {1000, 65538, 3000, 800};
  const auto at = layout(sizes);
  std::vector<Staged> ts;
  for (std::size_t i = 0; i < sizes.size(); ++i) ts.push_back(r.stage(sizes[i], i + 1));
  forge(r, ts[2], Forgery::tag);
  CmdbufBuilder b;
  for (std::size_t i = 0; i < ts.size(); ++i) r.decrypt(b, ts[i], at[i]);
  const std::size_t before = r.cpu->log().size();
  Observed o{r.bus->submit(r.ctx, b), false, false, r.vram()};
  const std::vector<Write> log(r.cpu->log().begin() + static_cast<long>(before),
                               r.cpu->log().end());
  o.forged_written = plaintext_written_into(log, at[2], at[2] + sizes[2]);
  o.later_written = plaintext_written_into(log, at[3], at[3] + sizes[3]);
  EXPECT_GE(r.bus->dev->crypto().runs(), 1u);
  return o;
}

TEST(DecryptRunWrites, NoForgedOrLaterTensorIsWrittenEvenForAMoment) {
  for (const auto engine : {LoggingCpu::Engine::host, LoggingCpu::Engine::device}) {
    const Observed o = observe(engine);
    EXPECT_EQ(o.status, Status::auth_failed);
    EXPECT_FALSE(o.forged_written);
    EXPECT_FALSE(o.later_written);
  }
}

// The control: an engine that writes what it decrypted before it verifies
// ends with the same VRAM (the forged range zeroed afterwards), so only the
// write log can tell -- and it does.
TEST(DecryptRunWrites, ControlTheLogCatchesAnEngineThatWritesBeforeItVerifies) {
  const Observed honest = observe(LoggingCpu::Engine::device);
  const Observed eager = observe(LoggingCpu::Engine::eager_device);
  EXPECT_EQ(eager.status, Status::auth_failed);
  EXPECT_EQ(first_difference(eager.vram, honest.vram), std::string::npos)
      << "the final state alone does not show the early write";
  EXPECT_TRUE(eager.forged_written) << "the write log missed plaintext written before its verdict";
}

}  // namespace
}  // namespace hix::vgpu::test
