// The cuda backend's elementwise and row ops against the cpu reference (spec
// §6.4): binary add/mul with broadcast, layernorm and rmsnorm, gelu and silu,
// softmax and rope, over dtype mixes, odd sizes and misalignments, and
// in place (out on top of the input). Each
// tolerance is stated where the case is (cuda_backend_cases.cpp for the
// ones the aliasing cases share).
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

// ---------------------------------------------------------------- binary

struct BinaryCase {
  BinaryOp op;
  std::uint64_t n, nb;  // nb < n: b broadcast over a
  DType a_dt, b_dt, out_dt;
  std::uint64_t mis;
};

std::vector<BinaryCase> binary_cases() {
  const std::pair<std::uint64_t, std::uint64_t> shapes[] = {
      {1, 1}, {5, 1}, {7, 7}, {768 * 3, 768}, {4099 * 2, 4099}, {5000 * 7, 5000}, {262147, 262147}};
  const DType dts[][3] = {
      {F32, F32, F32}, {F32, BF16, F32}, {BF16, F32, BF16}, {BF16, BF16, BF16}, {F32, F32, BF16}};
  std::vector<BinaryCase> v;
  std::size_t c = 0;
  for (const BinaryOp op : {BinaryOp::add, BinaryOp::mul}) {
    for (const auto& [n, nb] : shapes) {
      const auto& d = dts[c % std::size(dts)];
      v.push_back(BinaryCase{op, n, nb, d[0], d[1], d[2], c % 4});
      ++c;
    }
  }
  return v;
}

class Binary : public BackendParamTest<BinaryCase> {};

TEST_P(Binary, RoundsOnceLikeTheCpu) {
  Pair& p = pair();
  const BinaryCase& c = GetParam();
  p.begin(strf("%s n=%" PRIu64 " nb=%" PRIu64 " a=%s b=%s out=%s +%" PRIu64,
               c.op == BinaryOp::add ? "add" : "mul", c.n, c.nb, dt_name(c.a_dt), dt_name(c.b_dt),
               dt_name(c.out_dt), c.mis));
  const auto a = p.alloc(c.a_dt, c.n, Misalign{c.mis});
  const auto b = p.alloc(c.b_dt, c.nb, Misalign{(c.mis + 1) % 4});
  const auto out = p.alloc(c.out_dt, c.n, Misalign{(c.mis + 2) % 4});
  p.put(a, p.random(c.n, -4, 4));
  p.put(b, p.random(c.nb, -4, 4));
  p.poison(out);
  p.run([&](Backend& be) { return be.binary(BinaryArgs{c.op, out, a, b}); });
  p.compare(out, ulp_tol(c.out_dt));
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Broadcasts, Binary, ::testing::ValuesIn(binary_cases()),
                         [](const ::testing::TestParamInfo<BinaryCase>& param_info) {
                           const BinaryCase& c = param_info.param;
                           return strf("%s_n%" PRIu64 "_nb%" PRIu64 "_a_%s_b_%s_out_%s_",
                                       c.op == BinaryOp::add ? "add" : "mul", c.n, c.nb,
                                       dt_name(c.a_dt), dt_name(c.b_dt), dt_name(c.out_dt)) +
                                  plus(c.mis);
                         });

// ---------------------------------------------------------------- norm

// Each norm, width and dtype with x and gamma in the two storage orders.
std::vector<NormCase> norm_cases() {
  const std::uint32_t cols_list[] = {1, 5, 768, 4096, 5000};
  const std::uint32_t rows_list[] = {1, 3, 17};
  std::vector<NormCase> v;
  std::size_t c = 0;
  for (const bool layer : {true, false}) {
    for (const std::uint32_t cols : cols_list) {
      for (const DType dt : {F32, BF16}) {
        const DType other = dt == F32 ? BF16 : F32;
        v.push_back(NormCase{layer, rows_list[c % 3], cols, dt, other, dt, c % 4, false});
        v.push_back(
            NormCase{layer, rows_list[(c + 1) % 3], cols, other, dt, dt, (c + 1) % 4, false});
        ++c;
      }
    }
  }
  return v;
}

class Norm : public BackendParamTest<NormCase> {};

TEST_P(Norm, NormalisesLikeTheCpu) {
  norm_case(pair(), GetParam());
}

std::string norm_case_name(const ::testing::TestParamInfo<NormCase>& param_info) {
  return norm_name(param_info.param);
}

INSTANTIATE_TEST_SUITE_P(Widths, Norm, ::testing::ValuesIn(norm_cases()), norm_case_name);
// Ops that read everything before writing (spec §6.2): out on top of x.
INSTANTIATE_TEST_SUITE_P(InPlace, Norm,
                         ::testing::Values(NormCase{true, 3, 768, F32, F32, F32, 1, true},
                                           NormCase{true, 2, 4096, BF16, BF16, BF16, 3, true},
                                           NormCase{false, 3, 768, F32, BF16, F32, 0, true},
                                           NormCase{false, 5, 5000, BF16, F32, BF16, 1, true}),
                         norm_case_name);

// ---------------------------------------------------------------- unary

std::vector<UnaryCase> unary_cases() {
  const std::uint64_t counts[] = {1, 5, 257, 100003};
  std::vector<UnaryCase> v;
  std::size_t c = 0;
  for (const UnaryOp op : {UnaryOp::gelu, UnaryOp::silu}) {
    for (const std::uint64_t n : counts) {
      for (const auto& [xd, od] : {std::pair{F32, F32}, std::pair{BF16, F32}, std::pair{F32, BF16},
                                   std::pair{BF16, BF16}}) {
        v.push_back(UnaryCase{op, n, xd, od, c % 4, false});
        ++c;
      }
    }
  }
  return v;
}

class Unary : public BackendParamTest<UnaryCase> {};

TEST_P(Unary, ActivatesLikeTheCpu) {
  unary_case(pair(), GetParam());
}

std::string unary_case_name(const ::testing::TestParamInfo<UnaryCase>& param_info) {
  return unary_name(param_info.param);
}

INSTANTIATE_TEST_SUITE_P(Counts, Unary, ::testing::ValuesIn(unary_cases()), unary_case_name);
INSTANTIATE_TEST_SUITE_P(InPlace, Unary,
                         ::testing::Values(UnaryCase{UnaryOp::gelu, 100003, F32, F32, 1, true},
                                           UnaryCase{UnaryOp::silu, 4097, BF16, BF16, 3, true}),
                         unary_case_name);

// ---------------------------------------------------------------- softmax

std::vector<SoftmaxCase> softmax_cases() {
  const std::uint32_t cols_list[] = {1, 5, 768, 4096, 5000, 50257};
  std::vector<SoftmaxCase> v;
  std::size_t c = 0;
  for (const std::uint32_t cols : cols_list) {
    for (const auto& [xd, od] : {std::pair{F32, F32}, std::pair{BF16, F32}, std::pair{F32, BF16}}) {
      v.push_back(SoftmaxCase{c % 2 == 0 ? 3u : 1u, cols, xd, od, c % 4, false});
      ++c;
    }
  }
  return v;
}

class Softmax : public BackendParamTest<SoftmaxCase> {};

TEST_P(Softmax, GivesTheCpusProbabilities) {
  softmax_case(pair(), GetParam());
}

std::string softmax_case_name(const ::testing::TestParamInfo<SoftmaxCase>& param_info) {
  return softmax_name(param_info.param);
}

INSTANTIATE_TEST_SUITE_P(Widths, Softmax, ::testing::ValuesIn(softmax_cases()), softmax_case_name);
INSTANTIATE_TEST_SUITE_P(InPlace, Softmax,
                         ::testing::Values(SoftmaxCase{3, 5000, F32, F32, 1, true},
                                           SoftmaxCase{2, 50257, BF16, BF16, 3, true}),
                         softmax_case_name);

// ---------------------------------------------------------------- rope

std::vector<RopeCase> rope_cases() {
  return {
      {1, 12, 64, 64, 0, F32, F32, 0, false},        {1, 12, 64, 64, 37, F32, F32, 1, false},
      {17, 4, 128, 64, 5, F32, BF16, 3, false},      {3, 2, 64, 32, 1000, BF16, F32, 2, false},
      {7, 8, 128, 128, 1, BF16, BF16, 1, false},     {5, 3, 80, 2, 12, F32, F32, 3, false},
      {33, 32, 128, 128, 100, BF16, BF16, 0, false},
  };
}

class Rope : public BackendParamTest<RopeCase> {};

TEST_P(Rope, RotatesLikeTheCpu) {
  rope_case(pair(), GetParam());
}

std::string rope_case_name(const ::testing::TestParamInfo<RopeCase>& param_info) {
  return rope_name(param_info.param);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Rope, ::testing::ValuesIn(rope_cases()), rope_case_name);
INSTANTIATE_TEST_SUITE_P(InPlace, Rope,
                         ::testing::Values(RopeCase{17, 4, 128, 64, 5, F32, F32, 1, true},
                                           RopeCase{3, 8, 64, 64, 9, BF16, BF16, 0, true}),
                         rope_case_name);

class RopeLlama3 : public BackendParamTest<RopeCase> {};

TEST_P(RopeLlama3, ScalesFrequenciesLikeTheCpu) {
  rope_llama3_case(pair(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Shapes, RopeLlama3,
                         ::testing::Values(RopeCase{1, 32, 64, 64, 300, F32, F32, 0, false},
                                           RopeCase{17, 8, 64, 64, 0, BF16, F32, 1, false},
                                           RopeCase{33, 4, 128, 128, 1000, BF16, BF16, 2, false},
                                           RopeCase{5, 2, 64, 64, 9, F32, F32, 3, true}),
                         rope_case_name);

}  // namespace
}  // namespace hix::vgpu::cuda::test
