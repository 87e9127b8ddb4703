// Loop recording (spec §6.7) on the host: a test double that records ops
// the way the cuda backend captures a CUDA graph (nothing runs while
// recording; a recorded BREAK_IF_EQ halts the rest of a replay) wraps the
// cpu backend, and every program must end exactly as on the plain cpu
// backend, on its first run (record, then replay) and on later runs (replay
// only), with and without a break, and when recording cannot work -- for
// both kinds of recording: the whole loop, and one iteration for all with
// the registers and the sample count on the device.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>

#include "fake_bus.hpp"
#include "loop_toy.hpp"

// Shapes are small uint32 constants; their products widen exactly.
// NOLINTBEGIN(bugprone-implicit-widening-of-multiplication-result)
namespace hix::vgpu::test {
namespace {

// With `iterations`, it also records one iteration for all as the cuda
// backend does: registers and the sample count kept "on the device" (here),
// read by the recorded ops when they run.
class RecordingCpu final : public Backend {
 public:
  explicit RecordingCpu(std::uint64_t vram, bool iterations = false)
      : inner_(std::move(*CpuBackend::create(vram))), iterations_(iterations) {}

  std::string_view name() const override { return "recording-cpu"; }
  std::uint64_t vram_size() const override { return inner_->vram_size(); }
  Status write_bytes(VramOffset d, std::span<const std::byte> s) override {
    return inner_->write_bytes(d, s);
  }
  Status read_bytes(VramOffset s, std::span<std::byte> d) override {
    return inner_->read_bytes(s, d);
  }
  Status zero(VramOffset d, std::uint64_t n) override { return inner_->zero(d, n); }

  // Ops that cannot take a moving operand fail the recording, as the cuda
  // backend's do.
  Status fill(const TensorArg& d, std::uint32_t bits) override {
    return op({d}, [=, this] { return inner_->fill(d, bits); });
  }
  Status copy(const TensorArg& d, const TensorArg& s) override {
    return op({}, [=, this] { return inner_->copy(moved(d), moved(s)); });
  }
  Status embedding(const EmbeddingArgs& a) override {
    return op({a.out, a.table}, [=, this] {
      EmbeddingArgs b = a;
      b.ids = moved(a.ids);
      return inner_->embedding(b);
    });
  }
  Status matmul(const MatmulArgs& a) override {
    return op({a.out, a.a, a.b}, [=, this] { return inner_->matmul(a); });
  }
  Status binary(const BinaryArgs& a) override {
    return op({a.out, a.a, a.b}, [=, this] { return inner_->binary(a); });
  }
  Status layernorm(const NormArgs& a) override {
    return op({a.out, a.x, a.gamma}, [=, this] { return inner_->layernorm(a); });
  }
  Status rmsnorm(const NormArgs& a) override {
    return op({a.out, a.x, a.gamma}, [=, this] { return inner_->rmsnorm(a); });
  }
  Status unary(const UnaryArgs& a) override {
    return op({a.out, a.x}, [=, this] { return inner_->unary(a); });
  }
  Status softmax(const RowsArgs& a) override {
    return op({a.out, a.x}, [=, this] { return inner_->softmax(a); });
  }
  Status rope(const RopeArgs& a) override {
    return op({a.out, a.x}, [=, this] {
      RopeArgs b = a;
      b.pos += position(a.pos_reg);
      b.pos_reg.reset();
      return inner_->rope(b);
    });
  }
  Status attention(const AttentionArgs& a) override {
    return op({a.out, a.q, a.k, a.v, a.k_cache, a.v_cache}, [=, this] {
      AttentionArgs b = a;
      b.pos += position(a.pos_reg);
      b.pos_reg.reset();
      return inner_->attention(b);
    });
  }
  Status argmax(const RowsArgs& a) override {
    return op({a.x}, [=, this] {
      RowsArgs b = a;
      b.out = moved(a.out);
      return inner_->argmax(b);
    });
  }
  Status sample(const SampleArgs& a) override {
    return op({a.x}, [=, this] {
      SampleArgs b = a;
      b.out = moved(a.out);
      if (a.draws_on_device) b.first_draw += draws_;
      b.draws_on_device = false;
      return inner_->sample(b);
    });
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
      if (inner_->read_bytes(moved(x).offset, std::as_writable_bytes(std::span(&v, 1))) ==
              Status::ok &&
          v == value) {
        halted_ = id;
        halted_in_ = iteration_;
      }
      return Status::ok;
    });
    return Status::ok;
  }
  bool can_record_iterations() const override { return iterations_; }
  Status record_reg(std::uint8_t reg, std::int32_t value, bool set) override {
    if (!recording_) return Status::internal;
    recording_->push_back([=, this] {
      auto& r = regs_.at(reg);
      r = set ? value
              : static_cast<std::int32_t>(static_cast<std::uint32_t>(r) +
                                          static_cast<std::uint32_t>(value));
      return Status::ok;
    });
    return Status::ok;
  }
  Status record_iteration_end(std::uint64_t draws) override {
    if (!recording_) return Status::internal;
    recording_->push_back([=, this] {
      ++iteration_;
      draws_ += draws;
      return Status::ok;
    });
    return Status::ok;
  }
  Result<std::optional<IterationBreak>> replay_iterations(std::uint64_t key,
                                                          const IterationStart& start) override {
    const auto it = graphs_.find(key);
    if (it == graphs_.end()) return Status::invalid_arg;
    ++replays;
    regs_ = start.regs;
    draws_ = start.draws;
    iteration_ = 0;
    halted_.reset();
    for (std::uint32_t i = 0; i < start.count && !halted_; ++i) {
      for (const auto& step : it->second) {
        if (halted_) break;
        const Status s = step();
        if (s != Status::ok && deferred_ == Status::ok) deferred_ = s;
      }
    }
    if (!halted_) return std::optional<IterationBreak>();
    const std::uint32_t id = *std::exchange(halted_, std::nullopt);
    return std::optional<IterationBreak>(IterationBreak{id, halted_in_});
  }
  Status end_recording(std::uint64_t key) override {
    const bool kept = !std::exchange(unmovable_, false);
    if (kept) graphs_[key] = std::move(*recording_);
    recording_.reset();
    return kept ? Status::ok : Status::internal;
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
  // `fixed`: the operands this op cannot move.
  template <class F>
  Status op(std::initializer_list<TensorArg> fixed, F f) {
    if (!recording_) return f();
    for (const auto& t : fixed) unmovable_ = unmovable_ || t.moving.has_value();
    recording_->push_back(f);
    return Status::ok;
  }
  TensorArg moved(TensorArg t) const {
    if (!t.moving) return t;
    const auto r = static_cast<std::uint64_t>(regs_.at(t.moving->reg));
    t.offset = VramOffset{t.offset.value + r * t.moving->stride};
    t.moving.reset();
    return t;
  }
  std::uint64_t position(const std::optional<std::uint8_t>& reg) const {
    return reg ? static_cast<std::uint64_t>(regs_.at(*reg)) : 0;
  }

  std::unique_ptr<CpuBackend> inner_;
  std::optional<std::vector<Step>> recording_;
  std::map<std::uint64_t, std::vector<Step>> graphs_;
  std::optional<std::uint32_t> halted_;
  Status deferred_ = Status::ok;
  bool iterations_ = false;
  bool unmovable_ = false;
  std::array<std::int32_t, HIX_VGPU_NUM_SCALAR_REGS> regs_{};
  std::uint64_t draws_ = 0;
  std::uint32_t iteration_ = 0, halted_in_ = 0;
};

// Which recording the double makes: the whole loop (every iteration
// walked) or one iteration for all (spec §6.7).
enum class Kind : std::uint8_t { whole_loop, one_iteration };

std::string kind_name(const ::testing::TestParamInfo<Kind>& info) {
  return info.param == Kind::whole_loop ? "RecordingTheWholeLoop" : "RecordingOneIterationForAll";
}

struct Pair {
  explicit Pair(Kind recording) : kind(recording) {}
  Kind kind;
  Toy eager{FakeBus::cpu_backend(1 << 20)};
  RecordingCpu* rec = nullptr;
  Toy recorded{[this] {
    auto b = std::make_unique<RecordingCpu>(1 << 20, kind == Kind::one_iteration);
    rec = b.get();
    return b;
  }()};
};

class LoopRecording : public ::testing::TestWithParam<Kind> {};

TEST_P(LoopRecording, FirstRunRecordsLaterRunsReplayAndBothMatchEagerCpu) {
  Pair p(GetParam());
  const auto prog = p.eager.program(20, std::nullopt, 3);
  const auto want = p.eager.run(prog);
  ASSERT_EQ(want.status, Status::ok);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.rec->recordings_made, 1);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.rec->recordings_made, 1) << "the second run must replay, not record again";
  EXPECT_EQ(p.rec->replays, 2);
}

TEST_P(LoopRecording, ABreakStopsTheReplayWithTheEagerRegisters) {
  // Try every value as the end token: some break early, some never.
  int broke = 0;
  for (std::int32_t eos = 0; eos < static_cast<std::int32_t>(kVocab); ++eos) {
    Pair p(GetParam());
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

TEST_P(LoopRecording, AnotherFirstTokenReplaysTheSameRecording) {
  Pair p(GetParam());
  for (const std::int32_t first : {3, 7, 3}) {
    const auto prog = p.eager.program(12, 9, first);
    EXPECT_EQ(p.recorded.run(prog), p.eager.run(prog)) << "first token " << first;
  }
  // The first token is data (a FILL), not part of the loop's fingerprint:
  // one recording serves all three runs.
  EXPECT_EQ(p.rec->recordings_made, 1);
  EXPECT_EQ(p.rec->replays, 3);
}

TEST_P(LoopRecording, AnotherEntryRegisterIsAnotherRecordingOnlyForTheWholeLoop) {
  // Streaming rounds reach the same loop with the position moved on: a
  // whole-loop recording bakes the registers in, one iteration for all
  // reads them on the device and serves every round.
  Pair p(GetParam());
  int rounds = 0;
  for (const std::int32_t start : {0, 5, 11, 5}) {
    const auto prog = p.eager.program(8, 4, 3, false, {.start = start, .attend = true});
    const auto want = p.eager.run(prog);
    ASSERT_EQ(want.status, Status::ok);
    EXPECT_EQ(p.recorded.run(prog), want) << "entry R0 " << start;
    ++rounds;
  }
  EXPECT_EQ(p.rec->replays, rounds);
  EXPECT_EQ(p.rec->recordings_made, GetParam() == Kind::one_iteration ? 1 : 3);
}

TEST_P(LoopRecording, RopeAndAttentionAtTheRegisterPositionMatchEagerCpu) {
  int broke = 0;
  for (std::int32_t eos = 0; eos < static_cast<std::int32_t>(kVocab); ++eos) {
    Pair p(GetParam());
    const auto prog = p.eager.program(25, eos, 2, false, {.start = 3, .attend = true});
    const auto want = p.eager.run(prog);
    ASSERT_EQ(want.status, Status::ok);
    EXPECT_EQ(p.recorded.run(prog), want) << "eos " << eos;
    EXPECT_EQ(p.recorded.run(prog), want) << "eos " << eos << ", replayed";
    if (want.last == eos) ++broke;
  }
  EXPECT_GT(broke, 0) << "no value made the loop break: the test proves nothing";
}

TEST_P(LoopRecording, SampledTokensDrawTheEagerRandomNumbers) {
  Pair p(GetParam());
  const auto prog = p.eager.program(30, std::nullopt, 1, false, {.start = 2, .sample = true});
  const auto want = p.eager.run(prog);
  ASSERT_EQ(want.status, Status::ok);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.recorded.run(prog), want) << "replayed";
  // Sampling draws differ per iteration: a replay that reused one draw
  // would repeat tokens where the eager run does not.
  std::set<std::int32_t> distinct(want.tokens.begin() + 2, want.tokens.begin() + 32);
  EXPECT_GT(distinct.size(), 3u) << "the sampled run is too uniform to prove anything";
}

TEST_P(LoopRecording, AnIndexThatLeavesTheBufferFailsAtTheSameOpAsEagerly) {
  Pair p(GetParam());
  const auto prog = p.eager.program(20, std::nullopt, 3, /*bad_index=*/true);
  const auto want = p.eager.run(prog);
  ASSERT_EQ(want.status, Status::out_of_bounds);
  const std::uint32_t want_err = p.eager.bus.reg(Reg32::last_error);
  EXPECT_EQ(p.recorded.run(prog), want);
  EXPECT_EQ(p.recorded.bus.reg(Reg32::last_error), want_err);
  EXPECT_EQ(p.rec->replays, 0);
  if (GetParam() == Kind::whole_loop) {
    EXPECT_EQ(p.rec->aborted, 1);
  } else {
    EXPECT_EQ(p.rec->recordings_made, 0) << "every iteration is checked before recording";
  }
}

TEST_P(LoopRecording, ABadTokenIdInAReplayIsReportedAtTheEnd) {
  // An id out of range is data: a replay (like any asynchronous backend)
  // reports it when the command buffer finishes (spec §6.7).
  Pair p(GetParam());
  const auto prog = p.eager.program(6, std::nullopt, static_cast<std::int32_t>(kVocab) + 3);
  EXPECT_EQ(p.eager.run(prog).status, Status::index_out_of_range);
  EXPECT_EQ(p.recorded.run(prog).status, Status::index_out_of_range);
  EXPECT_EQ(p.rec->replays, 1);
  const auto good = p.eager.program(6, std::nullopt, 1);
  EXPECT_EQ(p.recorded.run(good), p.eager.run(good)) << "the device keeps serving";
}

TEST_P(LoopRecording, TheOpBudgetHoldsForReplaysToo) {
  DeviceConfig cfg;
  cfg.op_budget = 50;  // 20 iterations of 4 ops do not fit
  Toy eager(FakeBus::cpu_backend(1 << 20), cfg);
  Toy recorded(std::make_unique<RecordingCpu>(1 << 20, GetParam() == Kind::one_iteration), cfg);
  const auto prog = eager.program(20, std::nullopt, 3);
  const auto want = eager.run(prog);
  ASSERT_EQ(want.status, Status::limit);
  EXPECT_EQ(recorded.run(prog), want);
  EXPECT_EQ(recorded.bus.reg(Reg32::last_error), eager.bus.reg(Reg32::last_error));
}

TEST_P(LoopRecording, FreeingABufferDropsEveryRecording) {
  Pair p(GetParam());
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

INSTANTIATE_TEST_SUITE_P(Backends, LoopRecording,
                         ::testing::Values(Kind::whole_loop, Kind::one_iteration), kind_name);

}  // namespace
}  // namespace hix::vgpu::test
// NOLINTEND(bugprone-implicit-widening-of-multiplication-result)
