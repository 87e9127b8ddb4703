// The cuda backend's matmul against the cpu reference (spec §6.4): every
// dtype combination, row count and shape of the grid, transposed or not, with
// bias and accumulation rotating, on every GEMM path (every cuda
// configuration), then model-sized shapes. Tolerance: matmul_case().
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

std::vector<MatmulCase> grid_cases() {
  struct Dts {
    DType a, b, out;
  };
  const Dts combos[] = {{F32, BF16, F32} /* the model's case */,
                        {F32, F32, F32},
                        {BF16, BF16, F32},
                        {F32, BF16, BF16},
                        {BF16, BF16, BF16}};
  const std::uint32_t ms[] = {1, 2, 3, 7, 8, 17, 128};
  const std::pair<std::uint32_t, std::uint32_t> nks[] = {{1, 1},    {5, 5},     {64, 257},
                                                         {257, 64}, {1024, 64}, {5, 1024}};
  std::vector<MatmulCase> v;
  std::uint64_t i = 0;
  for (const Dts& d : combos) {
    for (const std::uint32_t m : ms) {
      for (const auto& [n, k] : nks) {
        for (const bool tb : {false, true}) {
          // bias and accumulate rotate, so each path sees all four.
          v.push_back(MatmulCase{m, n, k, d.a, d.b, d.out, (i & 4) != 0 ? BF16 : F32, tb,
                                 (i & 1) != 0, (i & 2) != 0, i % 4});
          ++i;
        }
      }
    }
  }
  return v;
}

// Decode GEMVs over wide weights and a prefill GEMM.
std::vector<MatmulCase> model_cases() {
  return {
      {1, 4096, 1024, F32, BF16, F32, F32, true, true, false, 0},
      {1, 4096, 1024, F32, BF16, F32, F32, false, false, true, 1},
      {1, 1024, 4096, F32, BF16, F32, F32, true, false, false, 3},
      {3, 2304, 768, F32, BF16, F32, BF16, true, true, false, 0},
      {17, 4096, 1024, F32, BF16, F32, F32, true, true, true, 1},
      {128, 1024, 1024, F32, BF16, F32, F32, true, true, false, 0},
      {128, 1024, 1024, F32, F32, F32, F32, false, false, true, 3},
      {128, 50257 / 8, 768, F32, BF16, F32, F32, true, false, false, 0},
  };
}

class Matmul : public BackendParamTest<MatmulCase> {};

TEST_P(Matmul, MatchesTheCpuWithinTheSummationBound) {
  matmul_case(pair(), GetParam());
}

std::string name_of(const ::testing::TestParamInfo<MatmulCase>& param_info) {
  return matmul_name(param_info.param);
}

INSTANTIATE_TEST_SUITE_P(Grid, Matmul, ::testing::ValuesIn(grid_cases()), name_of);
INSTANTIATE_TEST_SUITE_P(ModelShapes, Matmul, ::testing::ValuesIn(model_cases()), name_of);

}  // namespace
}  // namespace hix::vgpu::cuda::test
