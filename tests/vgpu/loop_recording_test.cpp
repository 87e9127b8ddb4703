// Loop recording (spec §6.7) on the host: a test double that records ops
// the way the cuda backend captures a CUDA graph (nothing runs while
// recording; a recorded BREAK_IF_EQ halts the rest of a replay) wraps the
// cpu backend, and every program must end exactly as on the plain cpu
// backend, on its first run (record, then replay) and on later runs (replay
// only), with and without a break, and when recording cannot work.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "fake_bus.hpp"

// Shapes are small uint32 constants; their products widen exactly.
// NOLINTBEGIN(bugprone-implicit-widening-of-multiplication-result)
namespace hix::vgpu::test {
namespace {

class RecordingCpu final : public Backend {
 public:
  explicit RecordingCpu(std::uint64_t vram) : inner_(std::move(*CpuBackend::create(vram))) {}

  std::string_view name() const override { return "recording-cpu"; }
  std::uint64_t vram_size() const override { return inner_->vram_size(); }
  Status write_bytes(VramOffset d, std::span<const std::byte> s) override {
    return inner_->write_bytes(d, s);
  }
  Status read_bytes(VramOffset s, std::span<std::byte> d) override {
    return inner_->read_bytes(s, d);
  }
  Status zero(VramOffset d, std::uint64_t n) override { return inner_->zero(d, n); }

  Status fill(const TensorArg& d, std::uint32_t bits) override {
    return op([=, this] { return inner_->fill(d, bits); });
  }
  Status copy(const TensorArg& d, const TensorArg& s) override {
    return op([=, this] { return inner_->copy(d, s); });
  }
  Status embedding(const EmbeddingArgs& a) override {
    return op([=, this] { return inner_->embedding(a); });
  }
  Status matmul(const MatmulArgs& a) override {
    return op([=, this] { return inner_->matmul(a); });
  }
  Status binary(const BinaryArgs& a) override {
    return op([=, this] { return inner_->binary(a); });
  }
  Status layernorm(const NormArgs& a) override {
    return op([=, this] { return inner_->layernorm(a); });
  }
  Status rmsnorm(const NormArgs& a) override {
    return op([=, this] { return inner_->rmsnorm(a); });
  }
  Status unary(const UnaryArgs& a) override {
    return op([=, this] { return inner_->unary(a); });
  }
  Status softmax(const RowsArgs& a) override {
    return op([=, this] { return inner_->softmax(a); });
  }
  Status rope(const RopeArgs& a) override {
    return op([=, this] { return inner_->rope(a); });
  }
  Status attention(const AttentionArgs& a) override {
    return op([=, this] { return inner_->attention(a); });
  }
  Status argmax(const RowsArgs& a) override {
    return op([=, this] { return inner_->argmax(a); });
  }
  Status sample(const SampleArgs& a) override {
    return op([=, this] { return inner_->sample(a); });
  }

  // Errors of recorded ops surface here, as on an asynchronous backend.
  Status finish() override { return std::exchange(deferred_, Status::ok); }

  bool can_record() const override { return true; }
  Status begin_recording() override {
    ++recordings_made;
    recording_ = std::vector<Step>{};
    return Status::ok;
  }
  Status record_break_if_eq(const TensorArg& x, std::int32_t value, std::uint32_t id) override {
    recording_->push_back([=, this] {
      std::int32_t v = 0;
      if (inner_->read_bytes(x.offset, std::as_writable_bytes(std::span(&v, 1))) == Status::ok &&
          v == value) {
        halted_ = id;
      }
      return Status::ok;
    });
    return Status::ok;
  }
  Status end_recording(std::uint64_t key) override {
    graphs_[key] = std::move(*recording_);
    recording_.reset();
    return Status::ok;
  }
  void abort_recording() override {
    ++aborted;
    recording_.reset();
  }
  Result<std::optional<std::uint32_t>> replay(std::uint64_t key) override {
    const auto it = graphs_.find(key);
    if (it == graphs_.end()) return Status::invalid_arg;
    ++replays;
    halted_.reset();
    for (const auto& step : it->second) {
      if (halted_) break;
      const Status s = step();
      if (s != Status::ok && deferred_ == Status::ok) deferred_ = s;
    }
    return std::exchange(halted_, std::nullopt);
  }
  void drop_recordings() override {
    ++drops;
    graphs_.clear();
  }

  int recordings_made = 0, replays = 0, aborted = 0, drops = 0;

 private:
  using Step = std::function<Status()>;
  template <class F>
  Status op(F f) {
    if (!recording_) return f();
    recording_->push_back(f);
    return Status::ok;
  }

  std::unique_ptr<CpuBackend> inner_;
  std::optional<std::vector<Step>> recording_;
  std::map<std::uint64_t, std::vector<Step>> graphs_;
  std::optional<std::uint32_t> halted_;
  Status deferred_ = Status::ok;
};

constexpr std::uint32_t kVocab = 16, kDim = 8, kSeq = 40;

// A toy generator: tokens[R0+1] = argmax(table[tokens[R0]] . W^T), looped,
// optionally leaving when the new token equals `eos`; after the loop R0 is
// used once more (tokens[R0] copied to `last`), so the registers the loop
// left behind are checked too.
struct Toy {
  FakeBus bus;
  std::uint32_t ctx = 0, table = 0, w = 0, tokens = 0, x = 0, logits = 0, last = 0;

  explicit Toy(std::unique_ptr<Backend> backend, DeviceConfig cfg = {})
      : bus(std::move(backend), std::move(cfg)) {
    bus.start_ring();
    ctx = bus.create_context();
    table = bus.alloc(ctx, kVocab * kDim * 4);
    w = bus.alloc(ctx, kVocab * kDim * 4);
    tokens = bus.alloc(ctx, kSeq * 4);
    x = bus.alloc(ctx, kDim * 4);
    logits = bus.alloc(ctx, kVocab * 4);
    last = bus.alloc(ctx, 4);
    std::vector<float> t(kVocab * kDim), m(kVocab * kDim);
    for (std::size_t i = 0; i < t.size(); ++i) {
      t[i] = static_cast<float>((i * 37 + 11) % 17) - 8.0f;
      m[i] = static_cast<float>((i * 53 + 5) % 19) - 9.0f;
    }
    bus.upload({.ctx = ctx, .handle = table}, t);
    bus.upload({.ctx = ctx, .handle = w}, m);
  }

  std::vector<std::byte> program(std::uint32_t steps, std::optional<std::int32_t> eos,
                                 std::int32_t first_token, bool bad_index = false) const {
    CmdbufBuilder cb;
    cb.fill(tref(tokens, HIX_VGPU_DT_I32), kSeq, 0);
    cb.fill(tref(tokens, HIX_VGPU_DT_I32), 1, static_cast<std::uint32_t>(first_token));
    cb.set_reg(0, 0);
    CmdbufBuilder body;
    hix_vgpu_op_embedding e{};
    e.out = tref(x, HIX_VGPU_DT_F32);
    e.table = tref(table, HIX_VGPU_DT_F32);
    e.ids = tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, 4);
    e.rows = 1;
    e.dim = kDim;
    e.vocab = kVocab;
    body.add(HIX_VGPU_OP_EMBEDDING, e);
    hix_vgpu_op_matmul mm{};
    mm.h.flags = HIX_VGPU_MATMUL_TRANS_B;
    mm.out = tref(logits, HIX_VGPU_DT_F32);
    mm.a = tref(x, HIX_VGPU_DT_F32);
    mm.b = tref(w, HIX_VGPU_DT_F32);
    mm.m = 1;
    mm.n = kVocab;
    mm.k = kDim;
    body.add(HIX_VGPU_OP_MATMUL, mm);
    body.add_reg(0, 1);
    hix_vgpu_op_rows am{};
    // bad_index: the stride walks off the buffer partway through the loop.
    am.out = tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, bad_index ? 16 : 4);
    am.x = tref(logits, HIX_VGPU_DT_F32);
    am.rows = 1;
    am.cols = kVocab;
    body.add(HIX_VGPU_OP_ARGMAX, am);
    if (eos) {
      hix_vgpu_op_break_if_eq b{};
      b.x = tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, 4);
      b.value = *eos;
      body.add(HIX_VGPU_OP_BREAK_IF_EQ, b);
    }
    cb.loop({.count = steps, .body_ops = body.op_count()}).append(body);
    cb.copy(tref(last, HIX_VGPU_DT_I32), tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, 4), 1);
    return cb.finish();
  }

  struct Outcome {
    Status status;
    std::vector<std::int32_t> tokens;
    std::int32_t last;
    bool operator==(const Outcome&) const = default;
  };
  Outcome run(const std::vector<std::byte>& prog) {
    const Status s = bus.submit(ctx, prog);
    return {s, bus.download_i32({.ctx = ctx, .handle = tokens}, kSeq),
            bus.download_i32({.ctx = ctx, .handle = last}, 1)[0]};
  }
};

struct Pair {
  Toy eager{FakeBus::cpu_backend(1 << 20)};
  RecordingCpu* rec = nullptr;
  Toy recorded{[this] {
    auto b = std::make_unique<RecordingCpu>(1 << 20);
    rec = b.get();
    return b;
  }()};
};

TEST(LoopRecording, FirstRunRecordsLaterRunsReplayAndBothMatchEagerCpu) {
  Pair p;
  const auto prog = p.eager.program(20, std::nullopt, 3);
  const auto want = p.eager.run(prog);
  ASSERT_EQ(want.status, Status::ok);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.rec->recordings_made, 1);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.rec->recordings_made, 1) << "the second run must replay, not record again";
  EXPECT_EQ(p.rec->replays, 2);
}

TEST(LoopRecording, ABreakStopsTheReplayWithTheEagerRegisters) {
  // Try every value as the end token: some break early, some never.
  int broke = 0;
  for (std::int32_t eos = 0; eos < static_cast<std::int32_t>(kVocab); ++eos) {
    Pair p;
    const auto prog = p.eager.program(30, eos, 5);
    const auto want = p.eager.run(prog);
    ASSERT_EQ(want.status, Status::ok);
    EXPECT_EQ(p.recorded.run(prog), want) << "eos " << eos;
    EXPECT_EQ(p.recorded.run(prog), want) << "eos " << eos << ", replayed";
    EXPECT_EQ(p.rec->recordings_made, 1);
    if (want.last == eos) ++broke;
  }
  EXPECT_GT(broke, 0) << "no value made the loop break: the test proves nothing";
}

TEST(LoopRecording, AnotherStartingStateIsAnotherRecording) {
  Pair p;
  for (const std::int32_t first : {3, 7, 3}) {
    const auto prog = p.eager.program(12, 9, first);
    EXPECT_EQ(p.recorded.run(prog), p.eager.run(prog)) << "first token " << first;
  }
  // The first token is data (a FILL), not part of the loop's fingerprint:
  // one recording serves all three runs.
  EXPECT_EQ(p.rec->recordings_made, 1);
  EXPECT_EQ(p.rec->replays, 3);
}

TEST(LoopRecording, AnIndexThatLeavesTheBufferFailsAtTheSameOpAsEagerly) {
  Pair p;
  const auto prog = p.eager.program(20, std::nullopt, 3, /*bad_index=*/true);
  const auto want = p.eager.run(prog);
  ASSERT_EQ(want.status, Status::out_of_bounds);
  const std::uint32_t want_err = p.eager.bus.reg(Reg32::last_error);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.recorded.bus.reg(Reg32::last_error), want_err);
  EXPECT_EQ(p.rec->aborted, 1);
  EXPECT_EQ(p.rec->replays, 0);
}

TEST(LoopRecording, ABadTokenIdInAReplayIsReportedAtTheEnd) {
  // An id out of range is data: a replay (like any asynchronous backend)
  // reports it when the command buffer finishes (spec §6.7).
  Pair p;
  const auto prog = p.eager.program(6, std::nullopt, static_cast<std::int32_t>(kVocab) + 3);
  EXPECT_EQ(p.eager.run(prog).status, Status::index_out_of_range);
  EXPECT_EQ(p.recorded.run(prog).status, Status::index_out_of_range);
  EXPECT_EQ(p.rec->replays, 1);
  const auto good = p.eager.program(6, std::nullopt, 1);
  EXPECT_EQ(p.recorded.run(good), p.eager.run(good)) << "the device keeps serving";
}

TEST(LoopRecording, TheOpBudgetHoldsForReplaysToo) {
  DeviceConfig cfg;
  cfg.op_budget = 50;  // 20 iterations of 4 ops do not fit
  Toy eager(FakeBus::cpu_backend(1 << 20), cfg);
  Toy recorded(std::make_unique<RecordingCpu>(1 << 20), cfg);
  const auto prog = eager.program(20, std::nullopt, 3);
  const auto want = eager.run(prog);
  ASSERT_EQ(want.status, Status::limit);
  EXPECT_EQ(recorded.run(prog), want);
  EXPECT_EQ(recorded.bus.reg(Reg32::last_error), eager.bus.reg(Reg32::last_error));
}

TEST(LoopRecording, FreeingABufferDropsEveryRecording) {
  Pair p;
  const auto prog = p.eager.program(8, std::nullopt, 2);
  const auto want = p.eager.run(prog);
  EXPECT_EQ(p.recorded.run(prog), want);
  const int drops = p.rec->drops;
  const std::uint32_t spare = p.recorded.bus.alloc(p.recorded.ctx, 256);
  ASSERT_EQ(p.recorded.bus.admin(HIX_GPU_CMD_MEM_FREE, p.recorded.ctx, spare).status, Status::ok);
  EXPECT_GT(p.rec->drops, drops);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.rec->recordings_made, 2) << "after the free the loop is recorded afresh";
}

}  // namespace
}  // namespace hix::vgpu::test
// NOLINTEND(bugprone-implicit-widening-of-multiplication-result)
