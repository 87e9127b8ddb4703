// Application-level outsourcing (user_runtime/libhix/outsource; issue 15
// §1): linear layers blinded inside the trusted side, multiplied by hix-gpu
// on the cpu backend in plain mode (the untrusted GPU, through a fake bus),
// checked and unblinded inside again. Every result is compared with the
// plain matmul; the protections (blinding, the Freivalds check, one use per
// mask, the fp32 exactness bound) each meet an attack, with a control where
// the protection is off and the attack works.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "fake_bus.hpp"
#include "outsource.hpp"

namespace hix::outsource {
namespace {

using vgpu::Status;
using vgpu::test::FakeBus;

std::vector<float> normal(std::size_t n, std::uint32_t seed, float stddev) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// The untrusted GPU: a hix-gpu device on the cpu backend, plain mode (no
// channel key), holding one layer's quantized weights.
class Gpu {
 public:
  Gpu(const BlindedLinear& layer, std::size_t max_rows)
      : layer_(layer), bus_(vram(layer, max_rows)) {
    bus_.start_ring();
    ctx_ = bus_.create_context();
    const std::size_t limb_rows = std::size_t{layer.limbs().count} * max_rows;
    buffers_.weights = bus_.alloc(ctx_, layer.k() * layer.n() * 4);
    buffers_.input = bus_.alloc(ctx_, limb_rows * layer.k() * 4);
    buffers_.output = bus_.alloc(ctx_, limb_rows * layer.n() * 4);
    const auto weights = f32_bytes(layer.device_weights());
    const std::uint64_t gpa = bus_.guest_alloc(weights.size());
    bus_.guest_write(gpa, weights);
    EXPECT_EQ(bus_.submit(ctx_, gpu_load_weights(buffers_, {.gpa = gpa, .bytes = weights.size()})),
              Status::ok);
  }

  // The limb products of `limbs` ([count·rows, k]) as DMA_OUT leaves them
  // in guest memory; `tamper` edits them there before the caller reads them.
  std::vector<float> run(std::span<const float> limbs, std::size_t rows,
                         const std::function<void(std::vector<float>&)>& tamper = {}) {
    const auto in = f32_bytes(limbs);
    const std::uint64_t in_gpa = bus_.guest_alloc(in.size());
    bus_.guest_write(in_gpa, in);
    const std::size_t out_count = std::size_t{layer_.limbs().count} * rows * layer_.n();
    const std::uint64_t out_gpa = bus_.guest_alloc(out_count * 4);
    const auto cmd = gpu_matmul(layer_, rows, buffers_,
                                {.in = {.gpa = in_gpa, .bytes = in.size()},
                                 .out = {.gpa = out_gpa, .bytes = out_count * 4}});
    EXPECT_EQ(bus_.submit(ctx_, cmd), Status::ok);
    auto out = FakeBus::decode(bus_.guest(out_gpa, out_count * 4), HIX_VGPU_DT_F32);
    if (tamper) tamper(out);
    return out;
  }
  std::vector<float> run(const Blinded& b,
                         const std::function<void(std::vector<float>&)>& tamper = {}) {
    return run(b.limbs, b.rows, tamper);
  }

  // What the device holds as its input now, read back by one DMA_OUT. The
  // buffer is laid out here in one piece: GCC 12 misreads CmdbufBuilder's
  // growth from its 16-byte header once inlined (-Warray-bounds).
  std::vector<float> device_input(std::size_t count) {
    const std::uint64_t gpa = bus_.guest_alloc(count * 4);
    hix_vgpu_op_dma rec{};
    rec.h.opcode = HIX_VGPU_OP_DMA_OUT;
    rec.h.size = sizeof rec;
    rec.buf = vgpu::tref(buffers_.input, HIX_VGPU_DT_F32);
    rec.gpa = gpa;
    rec.bytes = count * 4;
    hix_vgpu_cmdbuf_header h{};
    h.magic = HIX_VGPU_CMDBUF_MAGIC;
    h.version = HIX_VGPU_CMDBUF_VERSION;
    h.op_count = 1;
    h.total_len = sizeof h + sizeof rec;
    std::vector<std::byte> cmd(sizeof h + sizeof rec);
    std::memcpy(cmd.data(), &h, sizeof h);
    std::memcpy(cmd.data() + sizeof h, &rec, sizeof rec);
    EXPECT_EQ(bus_.submit(ctx_, cmd), Status::ok);
    return FakeBus::decode(bus_.guest(gpa, count * 4), HIX_VGPU_DT_F32);
  }

 private:
  static std::uint64_t vram(const BlindedLinear& layer, std::size_t max_rows) {
    const std::size_t limb_rows = std::size_t{layer.limbs().count} * max_rows;
    return (layer.k() * layer.n() + limb_rows * (layer.k() + layer.n())) * 4 + (1u << 20);
  }

  const BlindedLinear& layer_;
  FakeBus bus_;
  std::uint32_t ctx_ = 0;
  DeviceBuffers buffers_;
};

BlindedLinear make_layer(std::size_t k, std::size_t n, std::uint32_t seed, Params params = {}) {
  auto layer = BlindedLinear::create("h.0.mlp.c_fc", normal(k * n, seed, 0.02f), k, n, params);
  EXPECT_TRUE(layer.ok()) << (layer ? "" : layer.error().message);
  return std::move(*layer);
}

// The result the trusted side would compute itself from the same
// encodings: enc(x)·w_q over the integers, decoded.
std::vector<float> quantized_reference(const BlindedLinear& layer, std::span<const float> x,
                                       const Blinded& b) {
  const std::size_t k = layer.k();
  const std::size_t n = layer.n();
  const auto wq = layer.quantized_weights();
  std::vector<float> y(b.rows * n);
  for (std::size_t i = 0; i < b.rows; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      std::int64_t acc = 0;
      for (std::size_t c = 0; c < k; ++c) {
        const auto enc =
            static_cast<std::int64_t>(std::nearbyint(std::ldexp(x[i * k + c], b.row_exponents[i])));
        acc += enc * wq[c * n + j];
      }
      y[i * n + j] = static_cast<float>(std::ldexp(
          static_cast<double>(acc) * double{layer.weight_scale(j)}, -b.row_exponents[i]));
    }
  }
  return y;
}

struct Shape {
  std::size_t m, k, n;
};

class ABlindedMatmulOnTheDevice : public ::testing::TestWithParam<Shape> {};

TEST_P(ABlindedMatmulOnTheDevice, EqualsThePlainMatmulWithinTheFixedPointBound) {
  const auto [m, k, n] = GetParam();
  const auto w = normal(k * n, 7, 0.02f);  // GPT-2's initialisation scale
  const auto x = normal(m * k, 11, 1.0f);  // activations after a layer norm
  auto made = BlindedLinear::create("h.3.attn.c_attn", w, k, n);
  ASSERT_TRUE(made.ok()) << made.error().message;
  BlindedLinear& layer = *made;
  ASSERT_TRUE(layer.precompute(m).ok());
  Gpu gpu(layer, m);
  auto b = layer.blind(x, m);
  ASSERT_TRUE(b.ok()) << b.error().message;
  const auto y = layer.finish(*b, gpu.run(*b));
  ASSERT_TRUE(y.ok()) << y.error().message;

  // Exact: the GPU's share changes nothing in the integer result.
  EXPECT_EQ(*y, quantized_reference(layer, x, *b));

  // Within the bound that follows from the encodings: per element,
  // |Δ| ≤ 2^(−f−1)·Σ|W_cj| + scale_j/2·Σ|x̂_c| (rounding of x and of W).
  double max_err = 0.0;
  double max_ref = 0.0;
  for (std::size_t i = 0; i < m; ++i) {
    const int f = b->row_exponents[i];
    double x_hat_l1 = 0.0;
    for (std::size_t c = 0; c < k; ++c) {
      x_hat_l1 += std::fabs(std::ldexp(std::nearbyint(std::ldexp(x[i * k + c], f)), -f));
    }
    for (std::size_t j = 0; j < n; ++j) {
      double ref = 0.0;
      double w_l1 = 0.0;
      for (std::size_t c = 0; c < k; ++c) {
        ref += double{x[i * k + c]} * double{w[c * n + j]};
        w_l1 += std::fabs(double{w[c * n + j]});
      }
      const double bound =
          std::ldexp(w_l1, -f - 1) + double{layer.weight_scale(j)} / 2 * x_hat_l1 + 1e-6;
      const double err = std::fabs(double{(*y)[i * n + j]} - ref);
      ASSERT_LE(err, bound) << "row " << i << " column " << j;
      max_err = std::max(max_err, err);
      max_ref = std::max(max_ref, std::fabs(ref));
    }
  }
  // The accuracy figure of decisions.md: max |Δ| over max |y|.
  const double relative = max_err / max_ref;
  RecordProperty("max_abs_error_over_max_abs_output", std::to_string(relative));
  std::printf(
      "m=%zu k=%zu n=%zu: limbs %u x %u bits, f=%d, max|err|=%.3g, max|y|=%.3g, ratio %.4f\n", m, k,
      n, layer.limbs().count, layer.limbs().bits, b->row_exponents[0], max_err, max_ref, relative);
  EXPECT_LT(relative, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ABlindedMatmulOnTheDevice,
                         ::testing::Values(Shape{1, 768, 768}, Shape{1, 768, 3072},
                                           Shape{1, 3072, 768}, Shape{3, 5, 7}, Shape{2, 33, 1},
                                           Shape{5, 17, 9}),
                         [](const auto& shape) {
                           return "m" + std::to_string(shape.param.m) + "_k" +
                                  std::to_string(shape.param.k) + "_n" +
                                  std::to_string(shape.param.n);
                         });

// An attacker on the GPU decodes its input as if it were the fixed-point
// activations and correlates that with x.
double correlation(std::span<const float> a, std::span<const float> b) {
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= static_cast<double>(a.size());
  mb /= static_cast<double>(b.size());
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

std::vector<float> attacker_decode(std::span<const float> limbs, const LimbPlan& plan,
                                   std::size_t k, std::uint32_t p) {
  std::vector<float> guess(k);
  for (std::size_t c = 0; c < k; ++c) {
    std::int64_t v = 0;
    for (unsigned l = 0; l < plan.count; ++l) {
      v += static_cast<std::int64_t>(limbs[l * k + c]) << (l * plan.bits);
    }
    if (v > std::int64_t{p} / 2) v -= p;  // a signed fixed-point value
    guess[c] = static_cast<float>(v);
  }
  return guess;
}

TEST(Blinding, TheGpuReceivesTheBlindedLimbsAndCannotDecodeTheInputFromThem) {
  constexpr std::size_t kK = 768;
  BlindedLinear layer = make_layer(kK, 64, 3);
  const auto x = normal(kK, 5, 1.0f);
  ASSERT_TRUE(layer.precompute(1).ok());
  Gpu gpu(layer, 1);
  auto b = layer.blind(x, 1);
  ASSERT_TRUE(b.ok());
  (void)gpu.run(*b);
  const LimbPlan plan = layer.limbs();
  const auto seen = gpu.device_input(std::size_t{plan.count} * kK);
  // The device holds exactly the blinded limbs: integers below 2^b that
  // recombine to x' = enc(x) + r mod p.
  ASSERT_EQ(seen, b->limbs);
  for (const float v : seen) {
    ASSERT_EQ(v, std::nearbyint(v));
    ASSERT_GE(v, 0.0f);
    ASSERT_LT(v, static_cast<float>(1u << plan.bits));
  }
  const auto guess = attacker_decode(seen, plan, kK, layer.prime());
  for (std::size_t c = 0; c < kK; ++c) {
    ASSERT_EQ(static_cast<std::uint32_t>(guess[c] < 0 ? guess[c] + static_cast<float>(layer.prime())
                                                      : guess[c]),
              b->field_input[c]);
  }
  EXPECT_LT(std::fabs(correlation(guess, x)), 0.2);

  // Control, no mask: the limbs of enc(x) alone give x away.
  std::vector<float> unmasked(std::size_t{plan.count} * kK);
  for (std::size_t c = 0; c < kK; ++c) {
    const auto enc =
        static_cast<std::int64_t>(std::nearbyint(std::ldexp(x[c], b->row_exponents[0])));
    const auto v =
        static_cast<std::uint32_t>((enc % layer.prime() + layer.prime()) % layer.prime());
    for (unsigned l = 0; l < plan.count; ++l) {
      unmasked[l * kK + c] = static_cast<float>((v >> (l * plan.bits)) & ((1u << plan.bits) - 1));
    }
  }
  EXPECT_GT(correlation(attacker_decode(unmasked, plan, kK, layer.prime()), x), 0.999);
}

TEST(Blinding, TheSameInputBlindedTwiceGivesTheGpuDifferentLimbs) {
  constexpr std::size_t kK = 768;
  BlindedLinear layer = make_layer(kK, 8, 3);
  const auto x = normal(kK, 5, 1.0f);
  ASSERT_TRUE(layer.precompute(2).ok());
  auto a = layer.blind(x, 1);
  auto b = layer.blind(x, 1);
  ASSERT_TRUE(a.ok() && b.ok());
  std::size_t same = 0;
  for (std::size_t c = 0; c < kK; ++c) same += a->field_input[c] == b->field_input[c] ? 1u : 0u;
  EXPECT_LE(same, 2u);  // each coincides with probability 1/p
  EXPECT_NE(a->limbs, b->limbs);
}

TEST(Blinding, AFixedInputBlindedManyTimesIsUniformOverTheField) {
  constexpr std::size_t kK = 768;
  constexpr std::size_t kTimes = 20;
  constexpr std::size_t kBuckets = 16;
  BlindedLinear layer = make_layer(kK, 4, 3);
  const auto x = normal(kK, 5, 1.0f);
  ASSERT_TRUE(layer.precompute(kTimes).ok());
  std::vector<double> count(kBuckets, 0.0);
  for (std::size_t t = 0; t < kTimes; ++t) {
    auto b = layer.blind(x, 1);
    ASSERT_TRUE(b.ok());
    for (const std::uint32_t v : b->field_input) {
      count[std::uint64_t{v} * kBuckets / layer.prime()] += 1.0;
    }
  }
  const double expected = static_cast<double>(kK * kTimes) / kBuckets;
  double chi2 = 0.0;
  for (const double c : count) chi2 += (c - expected) * (c - expected) / expected;
  // 15 degrees of freedom: P(χ² > 60) < 1e-6 for a uniform x'.
  EXPECT_LT(chi2, 60.0);
}

// One GPU product, the smallest limb of row 0 column 3, one too large.
void add_one(std::vector<float>& out) {
  out[3] += 1.0f;
}

TEST(Verification, ACorruptedGpuResultIsCaughtByTheFreivaldsCheck) {
  BlindedLinear layer = make_layer(768, 768, 3);
  const auto x = normal(768, 5, 1.0f);
  ASSERT_TRUE(layer.precompute(2).ok());
  Gpu gpu(layer, 1);
  auto b = layer.blind(x, 1);
  ASSERT_TRUE(b.ok());
  const auto y = layer.finish(*b, gpu.run(*b, add_one));
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.error().message.find("h.0.mlp.c_fc"), std::string::npos) << y.error().message;
  EXPECT_NE(y.error().message.find("Freivalds"), std::string::npos) << y.error().message;
  // The layer stops: the GPU cannot probe the secret vectors further.
  EXPECT_FALSE(layer.blind(x, 1).ok());
}

TEST(Verification, WithTheCheckOffTheCorruptedResultPassesAndTheOutputIsWrong) {
  BlindedLinear layer = make_layer(768, 768, 3, Params{.verify = false});
  const auto x = normal(768, 5, 1.0f);
  ASSERT_TRUE(layer.precompute(1).ok());
  Gpu gpu(layer, 1);
  auto b = layer.blind(x, 1);
  ASSERT_TRUE(b.ok());
  const auto y = layer.finish(*b, gpu.run(*b, add_one));
  ASSERT_TRUE(y.ok()) << y.error().message;
  const auto honest = quantized_reference(layer, x, *b);
  EXPECT_NE((*y)[3], honest[3]);
  for (std::size_t j = 0; j < honest.size(); ++j) {
    if (j != 3) {
      ASSERT_EQ((*y)[j], honest[j]) << "column " << j;
    }
  }
}

TEST(Verification, AGpuResultThatIsNoExactLimbProductIsRefused) {
  BlindedLinear layer = make_layer(64, 16, 3);
  const auto x = normal(64, 5, 1.0f);
  ASSERT_TRUE(layer.precompute(1).ok());
  Gpu gpu(layer, 1);
  auto b = layer.blind(x, 1);
  ASSERT_TRUE(b.ok());
  const auto y = layer.finish(*b, gpu.run(*b, [](auto& out) { out[0] += 0.5f; }));
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.error().message.find("not an exact limb product"), std::string::npos);
}

TEST(Masks, AMaskThatBlindedOnceIsRefusedTheSecondTime) {
  BlindedLinear layer = make_layer(32, 8, 3);
  const auto x1 = normal(32, 5, 1.0f);
  const auto x2 = normal(32, 6, 1.0f);
  const auto masks = layer.precompute(2);
  ASSERT_TRUE(masks.ok());
  ASSERT_EQ(layer.fresh_masks(), 2u);
  ASSERT_TRUE(layer.blind(x1, 1, masks->first).ok());
  // Reused, it would give the GPU x1' − x2' = enc(x1) − enc(x2).
  const auto again = layer.blind(x2, 1, masks->first);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already used"), std::string::npos) << again.error().message;
  // The other mask still works; then none is left.
  EXPECT_TRUE(layer.blind(x2, 1).ok());
  EXPECT_EQ(layer.fresh_masks(), 0u);
  const auto none = layer.blind(x2, 1);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("never precomputed"), std::string::npos);
}

TEST(Masks, ABatchIsUnblindedOnlyOnce) {
  BlindedLinear layer = make_layer(32, 8, 3);
  const auto x = normal(32, 5, 1.0f);
  ASSERT_TRUE(layer.precompute(1).ok());
  Gpu gpu(layer, 1);
  auto b = layer.blind(x, 1);
  ASSERT_TRUE(b.ok());
  const auto products = gpu.run(*b);
  ASSERT_TRUE(layer.finish(*b, products).ok());
  const auto again = layer.finish(*b, products);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("not awaiting a result"), std::string::npos);
}

TEST(Exactness, TheLimbWidthIsTheLargestThatKeepsEveryGpuSumBelowTwoToThe24) {
  for (const std::uint64_t k : {1ull, 5ull, 768ull, 3072ull, 50257ull, 132104ull}) {
    const auto plan = plan_limbs(k, 127, kDefaultPrime);
    ASSERT_TRUE(plan.ok()) << "k=" << k;
    const std::uint64_t b = plan->bits;
    EXPECT_LT(k * ((1ull << b) - 1) * 127, kFp32ExactLimit) << "k=" << k;
    if (b < 24) {
      EXPECT_GE(k * ((2ull << b) - 1) * 127, kFp32ExactLimit) << "k=" << k;
    }
    EXPECT_GE(std::uint64_t{plan->count} * b, 24u) << "k=" << k;  // p − 1 has 24 bits
  }
  EXPECT_EQ(plan_limbs(768, 127, kDefaultPrime)->bits, 7u);
  EXPECT_EQ(plan_limbs(3072, 127, kDefaultPrime)->bits, 5u);
}

TEST(Exactness, AShapeBeyondTheFp32BoundIsRefusedNamingTheBound) {
  constexpr std::size_t kK = 132105;  // k·1·127 ≥ 2^24
  const auto made = BlindedLinear::create("lm_head", std::vector<float>(kK, 0.01f), kK, 1);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.error().message.find("lm_head"), std::string::npos) << made.error().message;
  EXPECT_NE(made.error().message.find("2^24"), std::string::npos) << made.error().message;
  EXPECT_NE(made.error().message.find("k=132105"), std::string::npos) << made.error().message;
  // One column less of k fits, with 1-bit limbs.
  const auto fits = BlindedLinear::create("lm_head", std::vector<float>(kK - 1, 0.01f), kK - 1, 1);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->limbs().bits, 1u);
}

// The worst case the bound allows, on the device: every limb 2^b − 1, every
// weight Q. Control: one more limb bit, and the fp32 sum is no longer exact.
TEST(Exactness, TheWorstCaseLimbProductIsExactOnTheDeviceAndOneBitMoreIsNot) {
  constexpr std::size_t kK = 3072;
  constexpr std::size_t kN = 4;
  const auto made =
      BlindedLinear::create("h.0.mlp.c_proj", std::vector<float>(kK * kN, 1.0f), kK, kN);
  ASSERT_TRUE(made.ok());
  const LimbPlan plan = made->limbs();
  ASSERT_EQ(made->max_abs_weight(), 127);
  Gpu gpu(*made, 1);
  const auto run_all = [&](std::uint32_t limb) {
    const std::vector<float> limbs(std::size_t{plan.count} * kK, static_cast<float>(limb));
    return gpu.run(limbs, 1);
  };
  const std::uint32_t top = (1u << plan.bits) - 1;
  for (const float v : run_all(top)) ASSERT_EQ(double{v}, double{kK} * top * 127);
  const std::uint32_t over = (2u << plan.bits) - 1;
  std::size_t inexact = 0;
  for (const float v : run_all(over)) inexact += double{v} != double{kK} * over * 127 ? 1u : 0u;
  EXPECT_GT(inexact, 0u);
}

}  // namespace
}  // namespace hix::outsource
