// Application-level outsourcing of linear layers (issue 15 §1; decisions.md,
// "Application-level outsourcing"): the trusted side (a CPU TEE) keeps the
// non-linear parts of a model and sends y = x·W to an untrusted GPU in plain
// mode, obfuscated as in Slalom:
//
//   offline  draw fresh masks r (one per input row, never reused) and
//            precompute r·W mod p; draw secret Freivalds vectors s and
//            precompute W·s mod p;
//   online   x' = (enc(x) + r) mod p, split into base-2^b limbs (the GPU's
//            input); the GPU multiplies every limb matrix by the quantized
//            weights; the trusted side recombines y' = Σ 2^(b·l)·Y_l mod p,
//            checks y'·s == x'·(W·s) mod p, unblinds y = y' − r·W mod p and
//            decodes the signed fixed-point result back to float.
//
// Exactness: the GPU computes in fp32 (the cuda backend accumulates in
// fp32), which is exact for integers of magnitude at most 2^24. Limb values
// are in [0, 2^b) and weights in [−Q, Q], so every partial sum of a product
// row is bounded by k·(2^b − 1)·Q; the layer picks the largest b with
// k·(2^b − 1)·Q < 2^24 and refuses a shape for which even b = 1 fails.
// The result must also fit the field as a signed value: each activation row
// gets a fixed-point exponent f (x ≈ enc(x)·2^−f) with Q·Σ|enc(x)| ≤ (p−1)/2,
// so the integer x·W never wraps around p.
//
// Only include/hix (the command-buffer builder) and libsodium (randomness):
// nothing of the device server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hix/expected.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"

namespace hix::outsource {

struct Error {
  std::string message;
};

struct Unit {};

template <class T>
using Result = hix::Expected<T, Error>;

inline constexpr std::uint32_t kDefaultPrime = 16777213;  // 2^24 − 3, prime
inline constexpr std::uint64_t kFp32ExactLimit = std::uint64_t{1} << 24;

struct Params {
  // The field Z_p: a prime below 2^31 (products of two elements fit 64 bits).
  std::uint32_t prime = kDefaultPrime;
  // Weights are quantized per output column to signed integers of this many
  // bits: |w_q| ≤ 2^(weight_bits−1) − 1.
  unsigned weight_bits = 8;
  // Secret Freivalds vectors per layer; a wrong result passes all of them
  // with probability at most p^−rounds.
  unsigned freivalds_rounds = 2;
  // The Freivalds check before unblinding. Off only for a test's control.
  bool verify = true;
};

// How the blinded input is cut for the GPU: `count` limbs of `bits` bits
// each, least significant first; every GPU partial sum is at most
// `max_partial` in magnitude (< 2^24).
struct LimbPlan {
  unsigned bits = 0;
  unsigned count = 0;
  std::uint64_t max_partial = 0;
};

// The largest limb width for which k·(2^b − 1)·max_abs_weight < 2^24, and
// how many limbs a field element of `prime` needs; an error naming the
// bound when none exists.
Result<LimbPlan> plan_limbs(std::uint64_t k, std::int32_t max_abs_weight, std::uint32_t prime);

using MaskId = std::uint64_t;

// Masks [first, first + count).
struct MaskRange {
  MaskId first = 0;
  std::size_t count = 0;
};

// One blinded batch of input rows: what goes to the GPU (`limbs`) and what
// the trusted side keeps to finish it.
struct Blinded {
  std::size_t rows = 0;
  std::vector<MaskId> masks;               // one per row
  std::vector<int> row_exponents;          // f per row: x ≈ enc(x)·2^−f
  std::vector<std::uint32_t> field_input;  // x' [rows, k], kept inside
  std::vector<float> limbs;                // [count·rows, k]: limb l of row i at row l·rows + i
};

class BlindedLinear {
 public:
  // y = x·W with W row-major [k, n]; quantized here, per output column.
  static Result<BlindedLinear> create(std::string name, std::span<const float> weights,
                                      std::size_t k, std::size_t n, Params params = {});

  const std::string& name() const { return name_; }
  std::size_t k() const { return k_; }
  std::size_t n() const { return n_; }
  std::uint32_t prime() const { return params_.prime; }
  std::int32_t max_abs_weight() const { return q_; }
  const LimbPlan& limbs() const { return plan_; }
  // W ≈ w_q · scale(column).
  float weight_scale(std::size_t column) const { return scales_[column]; }
  std::span<const std::int32_t> quantized_weights() const { return wq_; }
  // The quantized weights as the GPU stores them: f32 [k, n], exact.
  std::vector<float> device_weights() const;

  // Offline: `count` fresh masks and their products with W.
  Result<MaskRange> precompute(std::size_t count);
  std::size_t fresh_masks() const { return fresh_; }

  // Online: blinds `rows` rows of x ([rows, k]) with the next fresh masks,
  // or with masks first .. first + rows − 1 (each must be fresh: a mask
  // that blinded an input once is refused).
  Result<Blinded> blind(std::span<const float> x, std::size_t rows);
  Result<Blinded> blind(std::span<const float> x, std::size_t rows, MaskId first);

  // Recombines the GPU's products ([count·rows, n], as limbs are laid out),
  // checks them (Params::verify), unblinds and decodes: y [rows, n]. A
  // failed check names the layer and disables it.
  Result<std::vector<float>> finish(const Blinded& blinded, std::span<const float> gpu_out);

 private:
  enum class MaskState : std::uint8_t { fresh, in_use, spent };
  struct Mask {
    MaskState state = MaskState::fresh;
    std::vector<std::uint32_t> r;   // [k], until it blinds
    std::vector<std::uint32_t> rw;  // r·W mod p [n], until it unblinds
  };

  BlindedLinear() = default;
  Error error(const std::string& what) const;
  Result<int> row_exponent(std::span<const float> row) const;
  bool passes_freivalds(std::span<const std::uint32_t> x_row,
                        std::span<const std::uint32_t> y_row) const;

  std::string name_;
  std::size_t k_ = 0;
  std::size_t n_ = 0;
  Params params_;
  std::int32_t q_ = 0;
  LimbPlan plan_;
  std::vector<std::int32_t> wq_;                // [k, n]
  std::vector<float> scales_;                   // [n]
  std::vector<std::vector<std::uint32_t>> s_;   // Freivalds vectors [rounds][n]
  std::vector<std::vector<std::uint32_t>> ws_;  // W·s mod p [rounds][k]
  std::vector<Mask> masks_;                     // indexed by MaskId
  std::size_t fresh_ = 0;
  MaskId next_fresh_ = 0;
  bool disabled_ = false;
};

// The GPU's buffers for one layer, in the caller's context.
struct DeviceBuffers {
  std::uint32_t weights = 0;  // f32 [k, n]: device_weights()
  std::uint32_t input = 0;    // f32 [count·rows, k]
  std::uint32_t output = 0;   // f32 [count·rows, n]
};

// The plain-mode command buffer that loads device_weights() (as f32 bytes at
// `weights`) into the weights buffer, once per layer.
vgpu::CmdbufBuilder gpu_load_weights(DeviceBuffers buffers, vgpu::GuestRange weights);

// The plain-mode command buffer for the GPU's part of one batch: DMA_IN of
// the limbs from `in`, one MATMUL, DMA_OUT of the products to `out`.
// Where a batch's limbs are read from and its products written to.
struct GuestTransfer {
  vgpu::GuestRange in;
  vgpu::GuestRange out;
};

vgpu::CmdbufBuilder gpu_matmul(const BlindedLinear& layer, std::size_t rows, DeviceBuffers buffers,
                               GuestTransfer guest);

// y [m, n] = x [m, k] · W [k, n] in f32 for a product the plan computes in
// the clear on the GPU (plan.hpp: exposed, and a sampled layer's open
// columns): DMA_IN of x, one MATMUL, DMA_OUT of y.
struct MatmulShape {
  std::size_t m = 0, k = 0, n = 0;
};

vgpu::CmdbufBuilder gpu_matmul(MatmulShape shape, DeviceBuffers buffers, GuestTransfer guest);

// f32 values as the bytes a DMA moves (little-endian hosts).
std::vector<std::byte> f32_bytes(std::span<const float> v);

}  // namespace hix::outsource
