// The cuda backend with outputs on top of inputs (spec §6.2), against the cpu
// reference: binary ops whose out is a or b, matmul whose out covers a (in
// whole, shifted either way) or b, and copies between overlapping ranges of
// the same or different element sizes. (Ops in place on their one input
// are the InPlace instantiations of their own suites.)
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

// ---------------------------------------------------------------- binary

class AliasedBinary : public BackendParamTest<bool> {};

// out == a, and out == b (nb == n).
TEST_P(AliasedBinary, AddWithOutOnAnInputMatchesTheCpu) {
  Pair& p = pair();
  const bool on_b = GetParam();
  p.begin(strf("add out == %s n=4099", on_b ? "b" : "a"));
  const auto a = p.alloc(F32, 4099, Misalign{1});
  const auto b = p.alloc(BF16, 4099, Misalign{3});
  p.put(a, p.random(a.count, -2, 2));
  p.put(b, p.random(b.count, -2, 2));
  const TensorArg out = on_b ? b : a;
  p.run([&](Backend& be) { return be.binary(BinaryArgs{BinaryOp::add, out, a, b}); });
  p.compare(out, ulp_tol(out.dtype));
  p.end();
}

INSTANTIATE_TEST_SUITE_P(N4099, AliasedBinary, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return std::string(param_info.param ? "out_is_b" : "out_is_a");
                         });

// ---------------------------------------------------------------- matmul

struct MmAlias {
  std::uint32_t m, n, k;
  DType a_dt, b_dt;
  bool trans_b;
  std::int64_t out_shift;  // out's offset from a's, in elements of a
  bool over_b;
};

std::vector<MmAlias> matmul_alias_cases() {
  return {
      {1, 257, 257, F32, BF16, true, 0, false},   {1, 257, 257, F32, F32, false, 0, false},
      {17, 64, 64, F32, BF16, true, 0, false},    {128, 256, 256, F32, F32, false, 0, false},
      {128, 256, 256, F32, BF16, true, 0, false}, {7, 64, 64, F32, BF16, true, 5, false},
      {7, 64, 64, F32, F32, false, -5, false},    {20, 64, 64, F32, BF16, true, 37, false},
      {8, 64, 64, F32, F32, false, 0, true},      {2, 64, 64, F32, F32, true, 0, true},
  };
}

class AliasedMatmul : public BackendParamTest<MmAlias> {};

// out on top of a (n == k), partly over a, or over b. The tolerance is
// matmul_case()'s with max|a| <= 1.
TEST_P(AliasedMatmul, OutOverAnInputMatchesTheCpu) {
  Pair& p = pair();
  const MmAlias& c = GetParam();
  p.begin(strf("matmul m=%u n=%u k=%u a=%s b=%s%s out %s%+" PRId64, c.m, c.n, c.k, dt_name(c.a_dt),
               dt_name(c.b_dt), c.trans_b ? " trans_b" : "", c.over_b ? "= b" : "= a",
               c.out_shift));
  const std::uint64_t slack = 64;
  const TensorArg region = p.alloc(c.a_dt, cnt(c.m, c.k) + 2 * slack, Misalign{1});
  const TensorArg a{VramOffset{region.offset.value + slack * 4}, c.a_dt, cnt(c.m, c.k)};
  const TensorArg b = p.alloc(c.b_dt, cnt(c.k, c.n), Misalign{3});
  p.put(region, p.random(region.count, -1, 1));
  const auto bv = Pair::stored(c.b_dt, p.random(b.count, -1, 1));
  p.put(b, bv);
  TensorArg out{};
  if (c.over_b) {
    out = TensorArg{b.offset, c.b_dt, cnt(c.m, c.n)};
  } else {
    const auto shift = static_cast<std::uint64_t>(static_cast<std::int64_t>(slack) + c.out_shift);
    out = TensorArg{VramOffset{region.offset.value + shift * 4}, c.a_dt, cnt(c.m, c.n)};
  }
  const MatmulArgs args{out, a, b, std::nullopt, c.m, c.n, c.k, c.trans_b, false};
  p.run([&](Backend& be) { return be.matmul(args); });
  const double eps = (c.a_dt == BF16 || c.b_dt == BF16) ? 1.0 / 256 : 1e-5;
  const double atol = std::sqrt(static_cast<double>(c.k)) * max_abs(bv) * eps + 1e-6;
  p.compare(out, Tol{atol, out.dtype == BF16 ? kBf16Ulp : 0.0, false});
  p.compare(region, Tol{atol, out.dtype == BF16 ? kBf16Ulp : 0.0, false}, "a's region");
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Overlaps, AliasedMatmul, ::testing::ValuesIn(matmul_alias_cases()),
                         [](const ::testing::TestParamInfo<MmAlias>& param_info) {
                           const MmAlias& c = param_info.param;
                           std::string where;
                           if (c.over_b) {
                             where = "out_is_b";
                           } else if (c.out_shift == 0) {
                             where = "out_is_a";
                           } else {
                             where = c.out_shift < 0 ? strf("out_at_a_minus%" PRId64, -c.out_shift)
                                                     : strf("out_at_a_plus%" PRId64, c.out_shift);
                           }
                           return strf("m%u_n%u_k%u_a_%s_b_%s%s_", c.m, c.n, c.k, dt_name(c.a_dt),
                                       dt_name(c.b_dt), c.trans_b ? "_trans_b" : "") +
                                  where;
                         });

// ---------------------------------------------------------------- copy

struct CpAlias {
  DType src_dt, dst_dt;
  std::int64_t dst_shift_bytes;
  std::uint64_t count;
};

std::vector<CpAlias> copy_alias_cases() {
  return {{F32, F32, 12, 1000},  {F32, F32, -12, 1000}, {BF16, F32, 0, 1001},
          {F32, BF16, 0, 1001},  {BF16, F32, 8, 70001}, {F32, BF16, -4, 70001},
          {BF16, BF16, 2, 65537}};
}

class OverlappingCopy : public BackendParamTest<CpAlias> {};

// The destination and every byte around it (the region) exact.
TEST_P(OverlappingCopy, MovesAndConvertsLikeTheCpu) {
  Pair& p = pair();
  const CpAlias& c = GetParam();
  p.begin(strf("copy %s -> %s count=%" PRIu64 " dst = src%+" PRId64 " bytes", dt_name(c.src_dt),
               dt_name(c.dst_dt), c.count, c.dst_shift_bytes));
  const std::uint64_t slack = 64;
  const TensorArg region = p.alloc(F32, c.count * 2 + 2 * slack, Misalign{0});
  p.put(region, p.random(region.count, -100, 100));
  const TensorArg src{VramOffset{region.offset.value + slack * 4}, c.src_dt, c.count};
  const TensorArg dst{VramOffset{static_cast<std::uint64_t>(
                          static_cast<std::int64_t>(src.offset.value) + c.dst_shift_bytes)},
                      c.dst_dt, c.count};
  p.run([&](Backend& b) { return b.copy(dst, src); });
  p.compare(dst, exact_tol());
  p.compare(TensorArg{region.offset, I32, region.count}, exact_tol(), "region bytes");
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Shifts, OverlappingCopy, ::testing::ValuesIn(copy_alias_cases()),
                         [](const ::testing::TestParamInfo<CpAlias>& param_info) {
                           const CpAlias& c = param_info.param;
                           const std::int64_t s = c.dst_shift_bytes;
                           return strf("%s_to_%s_count%" PRIu64 "_dst_at_src_%s%" PRId64 "_bytes",
                                       dt_name(c.src_dt), dt_name(c.dst_dt), c.count,
                                       s < 0 ? "minus" : "plus", s < 0 ? -s : s);
                         });

}  // namespace
}  // namespace hix::vgpu::cuda::test
