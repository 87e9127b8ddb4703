// The cuda backend's decode-step ops against the cpu reference: attention
// over a KV cache (spec §6.4; prefill, decode, a chunk that fills the cache;
// also with out on top of q, and after q and k are roped), argmax (random rows, ties, NaN and
// infinities) and sampling (spec §6.5: temperatures, top-k, ties), the last two exact: the spec
// fixes the index each picks.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

// ---------------------------------------------------------------- attention

std::vector<AttnCfg> attention_cases() {
  return {
      {8, 2, 64, F32, F32, F32, 0.125f, false},
      {8, 2, 64, BF16, BF16, BF16, 0.125f, false},
      {8, 2, 128, F32, BF16, F32, 1.0f / std::sqrt(128.0f), false},
      {4, 4, 128, F32, F32, F32, 0.3f, false},
      {4, 4, 64, BF16, F32, F32, 0.125f, false},
      {12, 12, 64, F32, BF16, F32, 0.125f, false},
      {8, 1, 64, F32, F32, F32, 0.125f, false},
  };
}

class Attention : public BackendParamTest<AttnCfg> {};

TEST_P(Attention, PrefillDecodeAndAFullCacheMatchTheCpu) {
  attention_sequence(pair(), GetParam());
}

std::string attention_case_name(const ::testing::TestParamInfo<AttnCfg>& param_info) {
  return attention_name(param_info.param);
}

INSTANTIATE_TEST_SUITE_P(Heads, Attention, ::testing::ValuesIn(attention_cases()),
                         attention_case_name);
// out on top of q (spec §6.2: attention reads q before writing out).
INSTANTIATE_TEST_SUITE_P(InPlace, Attention,
                         ::testing::Values(AttnCfg{8, 2, 64, F32, F32, F32, 0.125f, true},
                                           AttnCfg{4, 4, 128, BF16, BF16, BF16, 0.2f, true}),
                         attention_case_name);
// q and k roped first: the cuda backend's ROPE pair with the cache stores.
INSTANTIATE_TEST_SUITE_P(AfterRope, Attention,
                         ::testing::Values(AttnCfg{8, 2, 64, F32, F32, F32, 0.125f, false, true},
                                           AttnCfg{8, 2, 64, BF16, BF16, BF16, 0.125f, false, true},
                                           AttnCfg{4, 4, 128, F32, BF16, F32, 0.2f, false, true},
                                           AttnCfg{8, 2, 64, BF16, BF16, BF16, 0.125f, true, true}),
                         attention_case_name);
// Decode after a long history: the keys split across blocks (with the
// flipped switches: merged in the attention's launch, and with `rope` the
// ROPEs and cache stores inside it too).
INSTANTIATE_TEST_SUITE_P(
    LongHistory, Attention,
    ::testing::Values(AttnCfg{32, 8, 128, BF16, BF16, BF16, 0.088f, false, true, 300},
                      AttnCfg{8, 2, 64, F32, F32, F32, 0.125f, false, true, 200},
                      AttnCfg{4, 4, 128, F32, BF16, F32, 0.2f, false, true, 257},
                      AttnCfg{12, 12, 64, F32, F32, F32, 0.125f, false, false, 180},
                      AttnCfg{16, 1, 64, F32, F32, F32, 0.125f, false, true, 150}),
    attention_case_name);

// ---------------------------------------------------------------- argmax

enum class ArgmaxData { random, ties, nan_inf };

struct ArgmaxCase {
  ArgmaxData data;
  std::uint32_t rows, cols;
  DType dt;
  std::uint64_t mis;
};

const char* argmax_data_name(ArgmaxData d) {
  return d == ArgmaxData::random ? "random" : d == ArgmaxData::ties ? "ties" : "nan_and_inf";
}

std::vector<ArgmaxCase> argmax_cases() {
  std::vector<ArgmaxCase> v;
  std::size_t c = 0;
  for (const DType dt : {F32, BF16}) {
    for (const std::uint32_t rows : {1u, 3u, 7u}) {
      for (const std::uint32_t cols : {1u, 5u, 1000u, 50257u}) {
        v.push_back(ArgmaxCase{ArgmaxData::random, rows, cols, dt, c++ % 4});
      }
    }
    v.push_back(ArgmaxCase{ArgmaxData::ties, 5, 4099, dt, c++ % 4});
    // Split across blocks (CudaBackendOptions::split_argmax): a Llama 3
    // vocabulary, and ties in every block of a row.
    v.push_back(ArgmaxCase{ArgmaxData::random, 2, 128256, dt, c++ % 4});
    v.push_back(ArgmaxCase{ArgmaxData::ties, 3, 20000, dt, c++ % 4});
    v.push_back(ArgmaxCase{ArgmaxData::nan_inf, 6, 300, dt, c++ % 4});
  }
  return v;
}

std::vector<float> argmax_values(Pair& p, const ArgmaxCase& c) {
  const std::uint32_t rows = c.rows;
  const std::uint32_t cols = c.cols;
  if (c.data == ArgmaxData::random) return p.random(cnt(rows, cols), -10, 10);
  if (c.data == ArgmaxData::ties) {
    // Few distinct values, so the maximum repeats; the lowest index wins.
    std::vector<float> v(cnt(rows, cols));
    for (float& x : v) x = static_cast<float>(p.rng()() % 4);
    return v;
  }
  // NaN never wins; an all-NaN or all -inf row gives 0 (the cpu's rule).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto v = p.random(cnt(rows, cols), -1, 1);
  v[0] = nan;  // row 0: NaN first
  v[17] = nan;
  v[cols + 299] = nan;  // row 1: NaN last
  v[cols + 298] = 5.0f;
  for (std::uint32_t i = 0; i < cols; ++i) v[2 * cols + i] = nan;   // row 2: all NaN
  for (std::uint32_t i = 0; i < cols; ++i) v[3 * cols + i] = -inf;  // row 3: all -inf
  v[4 * cols + 10] = inf;                                           // row 4: +inf twice
  v[4 * cols + 20] = inf;
  for (std::uint32_t i = 0; i < cols; ++i) v[5 * cols + i] = i % 2 == 0 ? nan : -inf;
  v[5 * cols + 251] = -1e30f;  // row 5: NaN, -inf, one finite
  return v;
}

class Argmax : public BackendParamTest<ArgmaxCase> {};

TEST_P(Argmax, PicksTheCpusIndex) {
  Pair& p = pair();
  const ArgmaxCase& c = GetParam();
  const auto xv = argmax_values(p, c);
  p.begin(strf("%s rows=%u cols=%u x=%s +%" PRIu64, argmax_data_name(c.data), c.rows, c.cols,
               dt_name(c.dt), c.mis));
  const auto x = p.alloc(c.dt, cnt(c.rows, c.cols), Misalign{c.mis});
  const auto out = p.alloc(I32, c.rows, Misalign{(c.mis + 1) % 4});
  p.put(x, xv);
  p.poison(out);
  p.run([&](Backend& b) { return b.argmax(RowsArgs{out, x, c.rows, c.cols}); });
  p.compare(out, exact_tol());
  expect_flipped_bits_equal(p, out, "out");
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Rows, Argmax, ::testing::ValuesIn(argmax_cases()),
                         [](const ::testing::TestParamInfo<ArgmaxCase>& param_info) {
                           const ArgmaxCase& c = param_info.param;
                           return strf("%s_rows%u_cols%u_x_%s_", argmax_data_name(c.data), c.rows,
                                       c.cols, dt_name(c.dt)) +
                                  plus(c.mis);
                         });

// ---------------------------------------------------------------- sample

struct SampleCase {
  std::uint32_t rows, cols;
  DType dt;
  float temperature;
  std::uint32_t top_k;
  std::uint64_t first_draw;
  bool ties;
  std::uint64_t mis;
};

std::vector<SampleCase> sample_cases() {
  std::vector<SampleCase> v;
  std::uint64_t c = 0;
  for (const DType dt : {F32, BF16}) {
    for (const float temp : {0.7f, 1.0f}) {
      for (const std::uint32_t top_k : {0u, 1u, 40u}) {
        v.push_back(SampleCase{1, 5, dt, temp, top_k, 0, false, c++ % 4});
        v.push_back(SampleCase{4, 1000, dt, temp, top_k, 3, false, c++ % 4});
        v.push_back(SampleCase{3, 50257, dt, temp, top_k, c % 5, false, (c + 2) % 4});
        ++c;
        v.push_back(SampleCase{8, 100, dt, temp, top_k, 1, true, c++ % 4});
      }
    }
  }
  // top_k larger than the row, and a sharp temperature.
  v.push_back(SampleCase{2, 30, F32, 0.05f, 64, 2, false, 1});
  v.push_back(SampleCase{16, 2000, BF16, 1.3f, 7, 100, false, 3});
  return v;
}

class Sample : public BackendParamTest<SampleCase> {};

TEST_P(Sample, DrawsTheCpusTokens) {
  Pair& p = pair();
  const SampleCase& c = GetParam();
  const std::uint64_t seed = p.rng()();
  p.begin(strf("rows=%u cols=%u x=%s temp=%.2f top_k=%u first_draw=%" PRIu64 "%s +%" PRIu64, c.rows,
               c.cols, dt_name(c.dt), static_cast<double>(c.temperature), c.top_k, c.first_draw,
               c.ties ? " ties" : "", c.mis));
  const auto x = p.alloc(c.dt, cnt(c.rows, c.cols), Misalign{c.mis});
  const auto out = p.alloc(I32, c.rows, Misalign{(c.mis + 2) % 4});
  auto v = p.random(x.count, -5, 5);
  if (c.ties) {
    for (float& f : v) f = static_cast<float>(p.rng()() % 6) * 0.5f;
  }
  p.put(x, v);
  p.poison(out);
  p.run([&](Backend& b) {
    return b.sample(SampleArgs{out, x, c.rows, c.cols, c.temperature, c.top_k, seed, c.first_draw});
  });
  p.compare(out, exact_tol());
  p.end();
}

INSTANTIATE_TEST_SUITE_P(
    Temperatures, Sample, ::testing::ValuesIn(sample_cases()),
    [](const ::testing::TestParamInfo<SampleCase>& param_info) {
      const SampleCase& c = param_info.param;
      // Hundredths of the temperature: 0.7 -> 70.
      const auto temp = static_cast<unsigned>(std::lround(c.temperature * 100.0f));
      return strf("rows%u_cols%u_x_%s_temperature_%03u_top_k%u_first_draw%" PRIu64 "%s_", c.rows,
                  c.cols, dt_name(c.dt), temp, c.top_k, c.first_draw, c.ties ? "_ties" : "") +
             plus(c.mis);
    });

}  // namespace
}  // namespace hix::vgpu::cuda::test
