// The backends hix-cuda-backend-test compares (the cuda compute backend in
// each configuration of variants() against the cpu reference backend), opened once per
// process by a GoogleTest environment, and the fixture every case derives
// from: where there is no GPU or driver each case is skipped with the reason;
// where the driver or device is there but fails, each case fails.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend_pair.hpp"
#include "cpu_backend.hpp"
#include "cuda_backend.hpp"

namespace hix::vgpu::cuda::test {

// One cuda backend configuration: the defaults (cuBLAS for m >= 8, the
// GEMV-group kernel c2u4 with groups and the three launch fusions: norms
// leading groups, ROPE pairs with the cache stores, activation and MUL in
// one pass; tensor-core prefill attention, every kernel launched early:
// programmatic dependent launch), the defaults without the fusions, never
// cuBLAS, and cuBLAS for every GEMM (m = 1 too), so every GEMM path meets
// the cpu; and the small-m kernels: the GEMV-group kernel's other shapes
// (c2u8 with groups; c4u4 one matmul per launch) and the legacy
// one-warp-per-column kernels with one launch per op, attention on CUDA
// cores and no early launches; and the switches that must store the
// defaults' bits flipped from their defaults (norms leading GEMV groups
// read element by element rather than staged by cp.async; attention
// splits merged in k_attention_merged; a decode step's ROPEs inside the
// attention's launch; ARGMAX rows split across blocks). Each says only where it differs from the
// defaults. `id` names it in test names.
struct Variant {
  const char* label;
  const char* id;
  CudaBackendOptions options;
};

inline constexpr std::size_t kVariantCount = 7;

inline const std::array<Variant, kVariantCount>& variants() {
  static const std::array<Variant, kVariantCount> v{{
      {"cuda", "cuda", CudaBackendOptions{}},
      {"cuda/unfused", "cuda_without_launch_fusions",
       CudaBackendOptions{.group_norms = false, .group_ropes = false, .group_act_mul = false}},
      {"cuda/no-cublas", "cuda_without_cublas",
       CudaBackendOptions{.use_cublas = false, .gemv = GemvKernel::c2u8}},
      {"cuda/cublas-all", "cuda_with_cublas_for_every_gemm",
       CudaBackendOptions{.cublas_min_rows = 1}},
      {"cuda/gemv-c4u4-ungrouped-pdl", "cuda_with_c4u4_gemvs_one_by_one_launched_early",
       CudaBackendOptions{.gemv = GemvKernel::c4u4, .group_gemvs = false}},
      {"cuda/legacy-gemv", "cuda_with_legacy_gemvs",
       CudaBackendOptions{
           .gemv = GemvKernel::legacy, .group_gemvs = false, .tc_attention = false, .pdl = false}},
      {"cuda/flipped-switches", "cuda_with_the_bitwise_equal_switches_flipped",
       CudaBackendOptions{.async_norm_stage = false,
                          .attention_merge = true,
                          .rope_in_attention = true,
                          .split_argmax = true}},
  }};
  return v;
}

// Each backend's VRAM.
inline constexpr std::uint64_t kRigVram = 256ull << 20;

// The seed every case's generator derives from (with the case's name).
inline constexpr std::uint64_t kDefaultSeed = 0x48495847;

class BackendRig final : public ::testing::Environment {
 public:
  enum class State { unopened, ready, absent, broken };

  explicit BackendRig(std::uint64_t seed) : seed_(seed) {}

  // The one rig of this process (set by its constructor's caller, main).
  static BackendRig& instance();
  static void install(BackendRig* rig);

  // Probes the GPU and opens every backend, once.
  void SetUp() override;
  void TearDown() override;

  State state() const { return state_; }
  // The state the last SetUp() reached (TearDown() closes the backends and
  // makes state() unopened again; this stays, for the summary).
  State outcome() const { return outcome_; }
  // Why the cases cannot run (absent, broken).
  const std::string& why() const { return why_; }
  std::uint64_t seed() const { return seed_; }

  Backend& cpu() { return *cpu_; }
  const std::vector<Target>& targets() const { return targets_; }
  // VRAM, from 0, that earlier cases may have written (zeroed by the next).
  std::uint64_t dirty_bytes() const { return dirty_bytes_; }
  void set_dirty_bytes(std::uint64_t bytes) { dirty_bytes_ = bytes; }

 private:
  void open();
  void broken(std::string why);

  std::uint64_t seed_;
  State state_ = State::unopened;
  State outcome_ = State::unopened;
  std::string why_;
  std::vector<std::unique_ptr<CudaBackend>> cuda_;
  std::unique_ptr<CpuBackend> cpu_;
  std::vector<Target> targets_;
  std::uint64_t dirty_bytes_ = 0;
};

// The fixture of every case: skips or fails as the rig's state says, then
// gives the case a BackendPair over the rig's backends with VRAM zeroed and
// a generator seeded from the rig's seed and the case's full name (so a case
// run alone, as CTest runs it, draws what it draws in a full run).
class BackendTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  BackendPair& pair() { return *pair_; }
  // The cuda backend of configuration `i` (an index into variants()).
  const Target& gpu(std::size_t i) const { return BackendRig::instance().targets().at(i); }

 private:
  std::optional<BackendPair> pair_;
};

template <class Param>
class BackendParamTest : public BackendTest, public ::testing::WithParamInterface<Param> {};

// Test-name suffix of a case over one cuda configuration.
std::string variant_name(const ::testing::TestParamInfo<std::size_t>& info);

}  // namespace hix::vgpu::cuda::test
