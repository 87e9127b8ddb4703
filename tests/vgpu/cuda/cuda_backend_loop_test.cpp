// Loops on the cuda backend through the executor (spec §6.7): a decode-
// shaped loop recorded as one iteration for all, replayed from several
// entry states, with breaks, positions and sampling, must end bit for bit as
// the same loop run eagerly (a cuda backend with recording off; the recorded
// one also has the launch fusions on, which must not change a bit), and,
// where no float rounding can decide a token, as the cpu reference.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cuda_backend_rig.hpp"
#include "loop_toy.hpp"

namespace hix::vgpu::cuda::test {
namespace {

using vgpu::test::FakeBus;
using vgpu::test::LoopShape;
using vgpu::test::Toy;

// A backend with loop recording switched off: every op forwarded.
class Unrecorded final : public Backend {
 public:
  explicit Unrecorded(std::unique_ptr<Backend> b) : b_(std::move(b)) {}
  std::string_view name() const override { return b_->name(); }
  std::uint64_t vram_size() const override { return b_->vram_size(); }
  Status write_bytes(VramOffset d, std::span<const std::byte> s) override {
    return b_->write_bytes(d, s);
  }
  Status read_bytes(VramOffset s, std::span<std::byte> d) override { return b_->read_bytes(s, d); }
  Status zero(VramOffset d, std::uint64_t n) override { return b_->zero(d, n); }
  Status fill(const TensorArg& d, std::uint32_t bits) override { return b_->fill(d, bits); }
  Status copy(const TensorArg& d, const TensorArg& s) override { return b_->copy(d, s); }
  Status embedding(const EmbeddingArgs& a) override { return b_->embedding(a); }
  Status matmul(const MatmulArgs& a) override { return b_->matmul(a); }
  Status binary(const BinaryArgs& a) override { return b_->binary(a); }
  Status layernorm(const NormArgs& a) override { return b_->layernorm(a); }
  Status rmsnorm(const NormArgs& a) override { return b_->rmsnorm(a); }
  Status unary(const UnaryArgs& a) override { return b_->unary(a); }
  Status softmax(const RowsArgs& a) override { return b_->softmax(a); }
  Status rope(const RopeArgs& a) override { return b_->rope(a); }
  Status attention(const AttentionArgs& a) override { return b_->attention(a); }
  Status argmax(const RowsArgs& a) override { return b_->argmax(a); }
  Status sample(const SampleArgs& a) override { return b_->sample(a); }
  Status finish() override { return b_->finish(); }
  DeviceCrypto* device_crypto() override { return b_->device_crypto(); }

 private:
  std::unique_ptr<Backend> b_;
};

// `fused`: with the launch fusions on (the ROPE pair with the cache stores
// among them); `flipped`: and the switches off by default that store the
// same bits on (the ROPE pair inside the attention's launch among them).
// They compute exactly what the ops one by one do, so a recorded loop with
// them must end bit for bit as the eager run without.
std::unique_ptr<CudaBackend> open_cuda(bool fused = false, bool flipped = false) {
  CudaBackendOptions options;
  options.group_norms = fused;
  options.group_ropes = fused;
  options.group_act_mul = fused;
  options.attention_merge = flipped;
  options.rope_in_attention = flipped;
  options.split_argmax = flipped;
  auto b = CudaBackend::create(16ull << 20, options);
  return b ? std::move(*b) : nullptr;
}

struct LoopCase {
  const char* name;
  LoopShape shape;
  bool flipped = false;  // the recorded side with open_cuda's `flipped`
};

class CudaLoop : public BackendTest, public ::testing::WithParamInterface<LoopCase> {};

TEST_P(CudaLoop, ReplaysFromEveryEntryStateEndAsTheEagerRun) {
  auto recorded_backend = open_cuda(true, GetParam().flipped);
  auto eager_backend = open_cuda();
  ASSERT_TRUE(recorded_backend && eager_backend) << "a second cuda backend did not open";
  Toy recorded(std::move(recorded_backend));
  Toy eager(std::make_unique<Unrecorded>(std::move(eager_backend)));
  int broke = 0;
  // Entry states in the order streaming rounds reach them, and one again;
  // each without an end token and with one the loop is sure to meet (a
  // token of the run without one).
  for (const std::int32_t start : {0, 4, 9, 4}) {
    LoopShape shape = GetParam().shape;
    shape.start = start;
    const auto free_run = eager.run(eager.program(20, std::nullopt, 5, false, shape));
    ASSERT_EQ(free_run.status, Status::ok);
    const std::int32_t met = free_run.tokens.at(static_cast<std::size_t>(start) + 4);
    for (const std::optional<std::int32_t> eos : {std::optional<std::int32_t>(), {met}}) {
      const auto prog = eager.program(20, eos, 5, false, shape);
      const auto want = eager.run(prog);
      ASSERT_EQ(want.status, Status::ok);
      EXPECT_EQ(recorded.run(prog), want) << "entry R0 " << start << " eos " << eos.value_or(-1);
      EXPECT_EQ(recorded.run(prog), want) << "replayed";
      if (eos && want.last == *eos) ++broke;
    }
  }
  EXPECT_GT(broke, 0) << "no run broke: the breaks are untested";
}

// Integer-valued embeddings and weights: the logits are exact on both
// sides, so the tokens are the cpu reference's.
TEST_F(BackendTest, AnArgmaxLoopRecordedOnTheGpuGivesTheCpusTokens) {
  auto cuda = open_cuda();
  ASSERT_TRUE(cuda);
  Toy gpu(std::move(cuda));
  Toy cpu(FakeBus::cpu_backend(1 << 20));
  for (const std::int32_t start : {0, 6}) {
    const auto prog = cpu.program(25, 7, 2, false, {.start = start});
    const auto want = cpu.run(prog);
    ASSERT_EQ(want.status, Status::ok);
    EXPECT_EQ(gpu.run(prog), want) << "entry R0 " << start;
  }
}

std::string loop_case_name(const ::testing::TestParamInfo<LoopCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, CudaLoop,
    ::testing::Values(LoopCase{"ArgmaxBody", {}},
                      LoopCase{"RopeAndAttentionBody", {.attend = true}},
                      LoopCase{"SampledBody", {.sample = true}},
                      LoopCase{"SampledAttentionBody", {.attend = true, .sample = true}},
                      LoopCase{"RopePairAndAttentionBody", {.attend = true, .rope_pair = true}},
                      LoopCase{"RopePairAndAttentionBodyWithTheRopesInsideTheAttention",
                               {.attend = true, .rope_pair = true},
                               true}),
    loop_case_name);

}  // namespace
}  // namespace hix::vgpu::cuda::test
