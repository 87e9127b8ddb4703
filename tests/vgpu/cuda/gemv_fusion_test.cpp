// GEMV groups (gemv_fusion.hpp): which consecutive ops the cuda backend may
// launch as one kernel, checked on the host over the operands a decode step
// emits (user_runtime/libhix/model/program.cpp), and every condition that
// must send an op down the one-by-one path instead. hix-cuda-backend-test
// runs the groups themselves against the cpu backend on a GPU.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "gemv_fusion.hpp"

namespace hix::vgpu::cuda {
namespace {

constexpr GemvLimits kLimits{.max_rows = 8, .max_stage_bytes = 227 * 1024};
constexpr std::uint32_t kDim = 2048;
constexpr std::uint32_t kKv = 512;
constexpr std::uint32_t kMlp = 8192;

// Activations laid out as a model's buffers, 1 MiB apart; weights far above.
constexpr std::uint64_t kH = 1ull << 20;
constexpr std::uint64_t kQ = 2ull << 20;
constexpr std::uint64_t kK = 3ull << 20;
constexpr std::uint64_t kV = 4ull << 20;
constexpr std::uint64_t kMlpOut = 5ull << 20;
constexpr std::uint64_t kUp = 6ull << 20;
constexpr std::uint64_t kX = 7ull << 20;

TensorArg act(std::uint64_t at, std::uint64_t count, DType dt = DType::f32) {
  return TensorArg{VramOffset{at}, dt, count};
}

// Weights n x k in bf16, one after another from 64 MiB.
TensorArg weight(std::uint64_t index, std::uint32_t n, std::uint32_t k) {
  const std::uint64_t at = (index + 1) << 26;
  return TensorArg{VramOffset{at}, DType::bf16, std::uint64_t{n} * k};
}

// out[1, n] = h[1, k] w^T, as the decode step's projections.
MatmulArgs projection(std::uint64_t out, std::uint32_t n, std::uint64_t w, std::uint32_t k = kDim,
                      std::uint64_t in = kH) {
  return MatmulArgs{act(out, n), act(in, k), weight(w, n, k), std::nullopt, 1, n, k, true, false};
}

MatmulArgs q_proj() {
  return projection(kQ, kDim, 0);
}
MatmulArgs k_proj() {
  return projection(kK, kKv, 1);
}
MatmulArgs v_proj() {
  return projection(kV, kKv, 2);
}
MatmulArgs gate_proj() {
  return projection(kMlpOut, kMlp, 3);
}
MatmulArgs up_proj() {
  return projection(kUp, kMlp, 4);
}

UnaryArgs in_place(UnaryOp op, const TensorArg& t) {
  return UnaryArgs{op, t, t};
}

BinaryArgs gate_times_up() {
  const TensorArg g = act(kMlpOut, kMlp);
  return BinaryArgs{BinaryOp::mul, g, g, act(kUp, kMlp)};
}

// A group of the gate and up projections, SILU joined.
GemvGroup activated_gate_and_up() {
  GemvGroup g = GemvGroup::of(gate_proj());
  EXPECT_TRUE(join(g, up_proj(), kLimits));
  EXPECT_TRUE(join(g, in_place(UnaryOp::silu, gate_proj().out)));
  return g;
}

TEST(GemvGroup, TheQKAndVProjectionsOfOneRowJoinOneCompleteGroup) {
  GemvGroup g = GemvGroup::of(q_proj());
  EXPECT_FALSE(g.complete());
  ASSERT_TRUE(join(g, k_proj(), kLimits));
  ASSERT_TRUE(join(g, v_proj(), kLimits));
  EXPECT_EQ(g.count, 3u);
  EXPECT_EQ(g.epilogue, GemvEpilogue::none);
  EXPECT_TRUE(g.complete());
  EXPECT_FALSE(join(g, gate_proj(), kLimits)) << "a group holds three matmuls";
  EXPECT_EQ(g.count, 3u);
}

TEST(GemvGroup, GateUpSiluAndMulJoinOneGatedGroup) {
  GemvGroup g = activated_gate_and_up();
  EXPECT_EQ(g.epilogue, GemvEpilogue::act);
  EXPECT_EQ(g.act, UnaryOp::silu);
  EXPECT_FALSE(g.complete()) << "a MUL may still come";
  ASSERT_TRUE(join(g, gate_times_up()));
  EXPECT_EQ(g.epilogue, GemvEpilogue::gated);
  EXPECT_TRUE(g.complete());
}

TEST(GemvGroup, GeluInPlaceAfterOneProjectionCompletesItsGroup) {
  // GPT-2's first MLP projection, with its bias.
  MatmulArgs w1 = gate_proj();
  w1.bias = TensorArg{VramOffset{60ull << 20}, DType::bf16, kMlp};
  GemvGroup g = GemvGroup::of(w1);
  ASSERT_TRUE(join(g, in_place(UnaryOp::gelu, w1.out)));
  EXPECT_EQ(g.epilogue, GemvEpilogue::act);
  EXPECT_EQ(g.act, UnaryOp::gelu);
  EXPECT_TRUE(g.complete());
}

TEST(GemvGroup, AResidualProjectionWithAccumulateIsGroupable) {
  MatmulArgs wo = projection(kX, kDim, 5, kDim, kQ);
  wo.accumulate = true;
  EXPECT_TRUE(gemv_groupable(wo, kLimits));
}

TEST(GemvGroup, MatmulsTheKernelCannotRunAreNotGroupable) {
  EXPECT_TRUE(gemv_groupable(q_proj(), kLimits));
  MatmulArgs a = q_proj();
  a.trans_b = false;
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "b as [k, n]";
  a = projection(kQ, kDim, 0, kDim + 4);
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "k not a multiple of 8";
  a = q_proj();
  a.a.offset = VramOffset{kH + 8};
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "a not 16-byte aligned";
  a = q_proj();
  a.b.offset = VramOffset{a.b.offset.value + 4};
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "b not 16-byte aligned";
  a = projection(kQ, kDim, 0, 65536);
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "a's rows beyond shared memory";
  a = q_proj();
  a.a.dtype = DType::i32;
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "integer operand";
  a = q_proj();
  a.a.count = kDim - 8;
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "counts that do not match the shape";
}

TEST(GemvGroup, RowsAtOrAboveTheCublasThresholdAreNotGroupable) {
  MatmulArgs a = q_proj();
  a.m = 7;
  a.a.count = std::uint64_t{7} * kDim;
  a.out.count = std::uint64_t{7} * kDim;
  EXPECT_TRUE(gemv_groupable(a, kLimits));
  EXPECT_FALSE(gemv_groupable(a, GemvLimits{.max_rows = 7, .max_stage_bytes = 227 * 1024}));
  a.m = 9;
  a.a.count = std::uint64_t{9} * kDim;
  a.out.count = std::uint64_t{9} * kDim;
  EXPECT_FALSE(gemv_groupable(a, GemvLimits{.max_rows = 16, .max_stage_bytes = 227 * 1024}))
      << "more rows than the kernel's tiles";
}

TEST(GemvGroup, AnOutputOverItsOwnInputsIsNotGroupable) {
  MatmulArgs a = q_proj();
  a.out.offset = a.a.offset;  // h = h W^T
  EXPECT_FALSE(gemv_groupable(a, kLimits));
  a = q_proj();
  a.out.offset = VramOffset{a.b.offset.value + 4096};
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "out inside the weights";
  a = q_proj();
  a.bias = TensorArg{VramOffset{kQ + 64}, DType::f32, kDim};
  EXPECT_FALSE(gemv_groupable(a, kLimits)) << "out over the bias";
}

TEST(GemvGroup, AMovingOperandIsNeverGrouped) {
  MatmulArgs a = q_proj();
  a.a.moving = MovingIndex{1, 4 * kDim, VramOffset{kH}, 16 * kDim * 4};
  EXPECT_FALSE(gemv_groupable(a, kLimits));
  GemvGroup g = GemvGroup::of(q_proj());
  MatmulArgs k = k_proj();
  k.out.moving = MovingIndex{0, 4 * kKv, VramOffset{kK}, 16 * kKv * 4};
  EXPECT_FALSE(join(g, k, kLimits));
  EXPECT_FALSE(same_tensor(a.a, a.a)) << "a register may place it anywhere in its buffer";
}

TEST(GemvGroup, AMatmulOverOtherRowsStartsItsOwnGroup) {
  GemvGroup g = GemvGroup::of(q_proj());
  EXPECT_FALSE(join(g, projection(kK, kKv, 1, kDim, kX), kLimits)) << "another input tensor";
  MatmulArgs k = k_proj();
  k.a.dtype = DType::bf16;
  k.a.count = kDim;
  EXPECT_FALSE(join(g, k, kLimits)) << "the same place read as bf16";
  k = k_proj();
  k.a.count = kDim / 2;
  k.k = kDim / 2;
  k.b.count = std::uint64_t{kKv} * (kDim / 2);
  EXPECT_FALSE(join(g, k, kLimits)) << "a shorter row of the same place";
  k = k_proj();
  k.b.dtype = DType::f32;
  EXPECT_FALSE(join(g, k, kLimits)) << "weights of another dtype";
  EXPECT_EQ(g.count, 1u);
}

TEST(GemvGroup, OutputsThatShareBytesKeepTheirOrderOneByOne) {
  GemvGroup g = GemvGroup::of(q_proj());
  EXPECT_FALSE(join(g, projection(kQ + 1024, kKv, 1), kLimits)) << "over q's output";
  EXPECT_FALSE(join(g, projection(q_proj().b.offset.value + 64, kKv, 1), kLimits))
      << "over q's weights, which q reads first one by one";
  // q written over the next one's weights: one by one the next reads q's
  // result there.
  MatmulArgs k = k_proj();
  k.b.offset = VramOffset{kQ};
  k.b.count = std::uint64_t{kKv} * kDim;
  EXPECT_FALSE(join(g, k, kLimits));
  k = k_proj();
  k.bias = TensorArg{VramOffset{kQ + 256}, DType::f32, kKv};
  EXPECT_FALSE(join(g, k, kLimits)) << "q written over the next one's bias";
  EXPECT_EQ(g.count, 1u);
}

TEST(GemvGroup, AGroupTooWideForTheKernelsRowIndexStopsGrowing) {
  // Two projections of 2^30 rows each (k = 8), everything far apart.
  const auto wide = [](std::uint64_t i) {
    constexpr std::uint32_t n = 1u << 30;
    const std::uint64_t at = 1ull << (40 + 2 * i);
    return MatmulArgs{act(at, n),
                      act(kH, 8),
                      TensorArg{VramOffset{2 * at}, DType::bf16, 8ull * n},
                      std::nullopt,
                      1,
                      n,
                      8,
                      true,
                      false};
  };
  ASSERT_TRUE(gemv_groupable(wide(0), kLimits));
  ASSERT_TRUE(gemv_groupable(wide(1), kLimits));
  GemvGroup g = GemvGroup::of(wide(0));
  EXPECT_FALSE(join(g, wide(1), kLimits));
}

TEST(GemvGroup, NoMatmulJoinsAfterAnActivation) {
  GemvGroup g = GemvGroup::of(gate_proj());
  ASSERT_TRUE(join(g, in_place(UnaryOp::silu, gate_proj().out)));
  EXPECT_FALSE(join(g, up_proj(), kLimits));
}

TEST(GemvGroup, AnActivationJoinsOnlyInPlaceOnTheFirstOutput) {
  GemvGroup g = GemvGroup::of(gate_proj());
  ASSERT_TRUE(join(g, up_proj(), kLimits));
  EXPECT_FALSE(join(g, in_place(UnaryOp::silu, up_proj().out))) << "on the second output";
  EXPECT_FALSE(join(g, UnaryArgs{UnaryOp::silu, act(kX, kMlp), gate_proj().out}))
      << "written elsewhere";
  EXPECT_FALSE(join(g, in_place(UnaryOp::silu, act(kMlpOut, kMlp / 2)))) << "on part of it";
  EXPECT_FALSE(join(g, in_place(UnaryOp::silu, act(kMlpOut, kMlp, DType::bf16))))
      << "read as another dtype";
  EXPECT_EQ(g.epilogue, GemvEpilogue::none);
  GemvGroup qkv = GemvGroup::of(q_proj());
  ASSERT_TRUE(join(qkv, k_proj(), kLimits));
  ASSERT_TRUE(join(qkv, v_proj(), kLimits));
  EXPECT_FALSE(join(qkv, in_place(UnaryOp::gelu, q_proj().out))) << "after three matmuls";
}

TEST(GemvGroup, OnlyTheMulOfTheActivatedGateByUpCompletesTheGatedForm) {
  GemvGroup g = activated_gate_and_up();
  BinaryArgs b = gate_times_up();
  b.op = BinaryOp::add;
  EXPECT_FALSE(join(g, b)) << "ADD";
  b = gate_times_up();
  std::swap(b.a, b.b);
  EXPECT_FALSE(join(g, b)) << "operands swapped";
  b = gate_times_up();
  b.out = act(kX, kMlp);
  EXPECT_FALSE(join(g, b)) << "the product written elsewhere";
  b = gate_times_up();
  b.b = act(kUp, kMlp / 2);
  EXPECT_FALSE(join(g, b)) << "broadcast of part of up";
  EXPECT_EQ(g.epilogue, GemvEpilogue::act);
  GemvGroup plain = GemvGroup::of(gate_proj());
  ASSERT_TRUE(join(plain, up_proj(), kLimits));
  EXPECT_FALSE(join(plain, gate_times_up())) << "MUL without the activation first";
}

// The decode step's attention norm: x [1, d] normalised into h.
constexpr std::uint64_t kGamma = 8ull << 20;
constexpr std::uint64_t kBeta = 9ull << 20;
NormArgs attn_norm(bool layer = false) {
  std::optional<TensorArg> beta;
  if (layer) beta = act(kBeta, kDim, DType::bf16);
  return NormArgs{act(kH, kDim), act(kX, kDim), act(kGamma, kDim, DType::bf16), beta, 1,
                  kDim,          1e-5f};
}

TEST(GemvGroup, ANormLeadsTheQKAndVProjectionsOverItsOutput) {
  for (const bool layer : {false, true}) {
    ASSERT_TRUE(norm_groupable(attn_norm(layer), layer, kLimits));
    GemvGroup g = GemvGroup::of(attn_norm(layer), layer);
    EXPECT_EQ(g.count, 0u);
    EXPECT_FALSE(g.complete()) << "a norm alone waits for its matmuls";
    ASSERT_TRUE(join(g, q_proj(), kLimits));
    ASSERT_TRUE(join(g, k_proj(), kLimits));
    ASSERT_TRUE(join(g, v_proj(), kLimits));
    EXPECT_TRUE(g.complete());
    ASSERT_TRUE(g.norm.has_value());
    EXPECT_EQ(g.norm->layer, layer);
  }
}

TEST(GemvGroup, ANormLeadsTheGatedMlp) {
  NormArgs n = attn_norm();
  GemvGroup g = GemvGroup::of(n, false);
  ASSERT_TRUE(join(g, gate_proj(), kLimits));
  ASSERT_TRUE(join(g, up_proj(), kLimits));
  ASSERT_TRUE(join(g, in_place(UnaryOp::silu, gate_proj().out)));
  ASSERT_TRUE(join(g, gate_times_up()));
  EXPECT_TRUE(g.complete());
}

TEST(GemvGroup, OnlyAMatmulOverTheNormsOutputJoinsIt) {
  GemvGroup g = GemvGroup::of(attn_norm(), false);
  EXPECT_FALSE(join(g, projection(kQ, kDim, 0, kDim, kX), kLimits)) << "rows of another tensor";
  MatmulArgs q = q_proj();
  q.a.dtype = DType::bf16;
  EXPECT_FALSE(join(g, q, kLimits)) << "the norm's output read as another dtype";
  EXPECT_FALSE(join(g, in_place(UnaryOp::silu, act(kH, kDim)))) << "an activation";
  EXPECT_FALSE(join(g, BinaryArgs{BinaryOp::mul, act(kH, kDim), act(kH, kDim), act(kQ, kDim)}));
  EXPECT_EQ(g.count, 0u);
}

TEST(GemvGroup, AMatmulWritingOverTheNormsInputsDoesNotJoinIt) {
  GemvGroup g = GemvGroup::of(attn_norm(), false);
  EXPECT_FALSE(join(g, projection(kX, kDim, 0), kLimits)) << "over x, which every block reads";
  EXPECT_FALSE(join(g, projection(kGamma, kKv, 0), kLimits)) << "over gamma";
  ASSERT_TRUE(join(g, q_proj(), kLimits));
  EXPECT_FALSE(join(g, projection(kX + 256, kKv, 1), kLimits)) << "a later one over x";
  EXPECT_EQ(g.count, 1u);
}

TEST(GemvGroup, NormsTheKernelCannotLeadAreNotGroupable) {
  NormArgs n = attn_norm();
  n.out = n.x;
  EXPECT_FALSE(norm_groupable(n, false, kLimits)) << "in place: block 0 writes what all read";
  n = attn_norm();
  n.gamma.offset = VramOffset{kH + 64};
  EXPECT_FALSE(norm_groupable(n, false, kLimits)) << "out over gamma";
  EXPECT_FALSE(norm_groupable(attn_norm(true), false, kLimits)) << "beta with RMSNORM";
  EXPECT_FALSE(norm_groupable(attn_norm(false), true, kLimits)) << "LAYERNORM without beta";
  n = attn_norm();
  n.x.moving = MovingIndex{1, 4 * kDim, VramOffset{kX}, 16 * kDim * 4};
  EXPECT_FALSE(norm_groupable(n, false, kLimits)) << "a moving x";
  n = attn_norm();
  n.x.dtype = DType::i32;
  EXPECT_FALSE(norm_groupable(n, false, kLimits)) << "integer x";
  n = attn_norm();
  n.gamma.count = kDim - 8;
  EXPECT_FALSE(norm_groupable(n, false, kLimits)) << "gamma shorter than a row";
  n = attn_norm();
  n.rows = 8;
  n.x.count = n.out.count = std::uint64_t{8} * kDim;
  EXPECT_FALSE(norm_groupable(n, false, kLimits)) << "as many rows as cuBLAS takes";
  n.rows = 7;
  n.x.count = n.out.count = std::uint64_t{7} * kDim;
  EXPECT_TRUE(norm_groupable(n, false, kLimits));
  EXPECT_FALSE(norm_groupable(n, false, GemvLimits{.max_rows = 8, .max_stage_bytes = 4 * kDim}))
      << "rows beyond shared memory";
}

TEST(GemvGroup, OutsideAGroupAnActivationInPlaceTakesTheMulByAnotherTensor) {
  const UnaryArgs silu = in_place(UnaryOp::silu, gate_proj().out);
  ASSERT_TRUE(act_holdable(silu));
  EXPECT_TRUE(act_mul_joinable(silu, gate_times_up()));
  EXPECT_FALSE(act_holdable(UnaryArgs{UnaryOp::silu, act(kX, kMlp), gate_proj().out}))
      << "written elsewhere";
  BinaryArgs m = gate_times_up();
  m.op = BinaryOp::add;
  EXPECT_FALSE(act_mul_joinable(silu, m)) << "ADD";
  m = gate_times_up();
  m.b = act(kUp, kMlp / 2);
  EXPECT_FALSE(act_mul_joinable(silu, m)) << "broadcast";
  m = gate_times_up();
  m.b = act(kMlpOut + 64, kMlp);
  EXPECT_FALSE(act_mul_joinable(silu, m)) << "up over the activation's output";
  m = gate_times_up();
  m.out = act(kX, kMlp);
  EXPECT_FALSE(act_mul_joinable(silu, m)) << "the product written elsewhere";
  m = gate_times_up();
  std::swap(m.a, m.b);
  EXPECT_FALSE(act_mul_joinable(silu, m)) << "the activation as the second operand";
}

TEST(GemvGroup, AMovingOperandOverlapsAnythingInItsBuffer) {
  const TensorArg fixed = act(kX + 4096, 16);
  TensorArg moving = act(kX, 16);
  moving.moving = MovingIndex{0, 64, VramOffset{kX}, 1 << 16};
  EXPECT_TRUE(operands_overlap(fixed, moving));
  EXPECT_TRUE(operands_overlap(moving, fixed));
  EXPECT_FALSE(operands_overlap(act(kX, 16), act(kX + 64, 16))) << "adjacent";
}

// The q, k and v projections led by their RMSNORM, as a decode step groups them.
GemvGroup normed_qkv() {
  GemvGroup g = GemvGroup::of(attn_norm(), false);
  EXPECT_TRUE(join(g, q_proj(), kLimits));
  EXPECT_TRUE(join(g, k_proj(), kLimits));
  EXPECT_TRUE(join(g, v_proj(), kLimits));
  return g;
}

TEST(LaunchWrites, AGroupReadsItsWeightsEarlyOnlyAfterALaunchKnownToWriteElsewhere) {
  const GemvGroup qkv = normed_qkv();
  ASSERT_EQ(qkv.count, 3u);
  LaunchWrites w;
  EXPECT_FALSE(w.weights_apart(qkv)) << "nothing known yet";
  const std::array residual{act(kX, kDim)};
  w.set(residual);
  EXPECT_TRUE(w.weights_apart(qkv)) << "the last launch wrote activations only";
  w.forget();
  EXPECT_FALSE(w.weights_apart(qkv)) << "forgotten at another stream operation";
  const std::array over_k{act(weight(1, kKv, kDim).offset.value + 512, 64)};
  w.set(over_k);
  EXPECT_FALSE(w.weights_apart(qkv)) << "the last launch wrote into k's weights";
  TensorArg moving = act(kX, kDim);
  moving.moving = MovingIndex{0, 4 * kDim, VramOffset{weight(2, kKv, kDim).offset}, 1 << 20};
  w.set(std::array{moving});
  EXPECT_FALSE(w.weights_apart(qkv)) << "a moving write anywhere in v's weights";
  const std::array<TensorArg, LaunchWrites::kMax + 1> many{};
  w.set(many);
  EXPECT_FALSE(w.weights_apart(qkv)) << "more writes than it keeps: nothing known";
}

TEST(LaunchWrites, ANormsGammaAndBetaAreStagedEarlyOnlyWhereKnownApartFromTheLastWrites) {
  const GemvGroup qkv = normed_qkv();
  ASSERT_TRUE(qkv.norm.has_value());
  LaunchWrites w;
  EXPECT_FALSE(w.norm_params_apart(qkv)) << "nothing known yet";
  w.set(std::array{act(kX, kDim)});
  EXPECT_TRUE(w.norm_params_apart(qkv)) << "the last launch wrote the residual only";
  EXPECT_FALSE(w.norm_params_apart(GemvGroup::of(gate_proj()))) << "a group without a norm";
  w.set(std::array{act(kGamma + 2 * (kDim - 1), 1)});
  EXPECT_FALSE(w.norm_params_apart(qkv)) << "the last launch wrote gamma's last element";
  const GemvGroup layer = GemvGroup::of(attn_norm(true), true);
  w.set(std::array{act(kBeta, 1)});
  EXPECT_FALSE(w.norm_params_apart(layer)) << "the last launch wrote beta";
  w.set(std::array{act(kX, kDim)});
  EXPECT_TRUE(w.norm_params_apart(layer));
  w.forget();
  EXPECT_FALSE(w.norm_params_apart(layer)) << "forgotten at another stream operation";
}

TEST(NormStaging, CopiesSixteenByteGroupsOfRowsLongerThanOneRoundWhereEachCopyIsAlignedAndWhole) {
  const NormArgs rms = attn_norm();
  NormStaging st = norm_staging(rms, {4096, 8192, 0});
  EXPECT_TRUE(st.x);
  EXPECT_EQ(st.params_bytes, 2u * kDim) << "bf16 gamma";
  EXPECT_FALSE(norm_staging(rms, {4096 + 4, 8192, 0}).x) << "x 4 bytes past a boundary";
  EXPECT_EQ(norm_staging(rms, {4096, 8192 + 2, 0}).params_bytes, 0u) << "gamma misaligned";
  NormArgs odd = rms;
  odd.cols = kDim - 2;  // gamma's last chunk partial, rows of whole groups of four no more
  st = norm_staging(odd, {4096, 8192, 0});
  EXPECT_FALSE(st.x);
  EXPECT_EQ(st.params_bytes, 0u);
  NormArgs bf16_x = rms;
  bf16_x.x.dtype = DType::bf16;
  EXPECT_FALSE(norm_staging(bf16_x, {4096, 8192, 0}).x) << "cp.async does not convert";
  const NormArgs layer = attn_norm(true);
  EXPECT_EQ(norm_staging(layer, {4096, 8192, 16384}).params_bytes, 4u * kDim) << "gamma and beta";
  EXPECT_EQ(norm_staging(layer, {4096, 8192, 16384 + 8}).params_bytes, 0u) << "beta misaligned";
  // Rows of one round of loads (GPT-2-small's 768 columns) stay as they were.
  NormArgs narrow = attn_norm(true);
  narrow.cols = 768;
  st = norm_staging(narrow, {4096, 8192, 16384});
  EXPECT_FALSE(st.x);
  EXPECT_EQ(st.params_bytes, 0u);
  narrow.cols = 1024;
  EXPECT_FALSE(norm_staging(narrow, {4096, 8192, 16384}).x) << "exactly one round";
  narrow.cols = 1032;
  EXPECT_TRUE(norm_staging(narrow, {4096, 8192, 16384}).x) << "a second round";
}

TEST(LaunchWrites, AGroupsLaunchWritesItsOutputsAndItsNormsRows) {
  const GemvGroup qkv = normed_qkv();
  ASSERT_EQ(qkv.count, 3u);
  LaunchWrites w;
  set_group_writes(w, qkv);
  // A group whose weights lie where the qkv group wrote (its outputs, the
  // norm's rows) cannot read them early; one over other weights can.
  for (const std::uint64_t written : {kQ, kK, kV, kH}) {
    MatmulArgs over = gate_proj();
    over.b = act(written, 64, DType::bf16);
    EXPECT_FALSE(w.weights_apart(GemvGroup::of(over))) << "weights at " << written;
  }
  EXPECT_TRUE(w.weights_apart(GemvGroup::of(gate_proj())));
}

}  // namespace
}  // namespace hix::vgpu::cuda
