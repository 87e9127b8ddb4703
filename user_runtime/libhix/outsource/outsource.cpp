#include "outsource.hpp"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace hix::outsource {
namespace {

// Fixed-point exponents tried for an activation row, largest first.
constexpr int kMaxExponent = 30;
constexpr int kMinExponent = -30;

bool is_prime(std::uint32_t p) {
  if (p < 2) return false;
  for (std::uint32_t d = 2; std::uint64_t{d} * d <= p; ++d) {
    if (p % d == 0) return false;
  }
  return true;
}

std::uint32_t mod_signed(std::int64_t v, std::uint32_t p) {
  std::int64_t r = v % std::int64_t{p};
  if (r < 0) r += p;
  return static_cast<std::uint32_t>(r);
}

unsigned bit_width(std::uint32_t v) {
  unsigned b = 0;
  while (v != 0) {
    ++b;
    v >>= 1;
  }
  return b;
}

}  // namespace

Result<LimbPlan> plan_limbs(std::uint64_t k, std::int32_t max_abs_weight, std::uint32_t prime) {
  if (k == 0 || max_abs_weight <= 0 || prime < 3) return Error{"k, max|w| and p must be positive"};
  const unsigned field_bits = bit_width(prime - 1);
  LimbPlan plan;
  for (unsigned b = 1; b <= field_bits; ++b) {
    const std::uint64_t bound =
        k * ((std::uint64_t{1} << b) - 1) * static_cast<std::uint64_t>(max_abs_weight);
    if (bound >= kFp32ExactLimit) break;
    plan.bits = b;
    plan.max_partial = bound;
  }
  if (plan.bits == 0) {
    return Error{"k·(2^b−1)·max|w| < 2^24 cannot hold for k=" + std::to_string(k) +
                 " and max|w|=" + std::to_string(max_abs_weight) +
                 " even with 1-bit limbs: the GPU's fp32 sums would not be exact"};
  }
  plan.count = (field_bits + plan.bits - 1) / plan.bits;
  return plan;
}

Error BlindedLinear::error(const std::string& what) const {
  return Error{"layer '" + name_ + "': " + what};
}

Result<BlindedLinear> BlindedLinear::create(std::string name, std::span<const float> weights,
                                            std::size_t k, std::size_t n, Params params) {
  BlindedLinear l;
  l.name_ = std::move(name);
  if (k == 0 || n == 0 || weights.size() != k * n) {
    return l.error("weights must be [k, n] with k, n > 0");
  }
  if (params.prime >= (1u << 31) || !is_prime(params.prime)) {
    return l.error("the field needs a prime below 2^31");
  }
  if (params.weight_bits < 2 || params.weight_bits > 16) {
    return l.error("weight_bits must be in [2, 16]");
  }
  if (params.freivalds_rounds == 0) return l.error("at least one Freivalds round");
  if (sodium_init() < 0) return l.error("no randomness (sodium_init failed)");
  l.k_ = k;
  l.n_ = n;
  l.params_ = params;
  l.q_ = (std::int32_t{1} << (params.weight_bits - 1)) - 1;
  auto plan = plan_limbs(k, l.q_, params.prime);
  if (!plan) return l.error(plan.error().message);
  l.plan_ = *plan;

  // Per output column: the largest |w| maps to Q.
  l.scales_.assign(n, 0.0f);
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const float w = weights[i * n + j];
      if (!std::isfinite(w)) return l.error("a weight is not finite");
      l.scales_[j] = std::max(l.scales_[j], std::fabs(w));
    }
  }
  for (float& s : l.scales_) s = s > 0.0f ? s / static_cast<float>(l.q_) : 1.0f;
  l.wq_.resize(k * n);
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const double v = std::nearbyint(double{weights[i * n + j]} / double{l.scales_[j]});
      l.wq_[i * n + j] = static_cast<std::int32_t>(
          std::clamp(v, -static_cast<double>(l.q_), static_cast<double>(l.q_)));
    }
  }

  // Secret Freivalds vectors and W·s mod p, for the layer's life. A failed
  // check disables the layer, so the GPU learns at most one bit about s.
  const std::uint32_t p = params.prime;
  for (unsigned t = 0; t < params.freivalds_rounds; ++t) {
    std::vector<std::uint32_t> s(n);
    for (auto& v : s) v = randombytes_uniform(p);
    std::vector<std::uint32_t> ws(k);
    for (std::size_t i = 0; i < k; ++i) {
      // |w_q| < 2^15 and s < 2^31: each product below 2^46; reduce per term.
      std::int64_t acc = 0;
      for (std::size_t j = 0; j < n; ++j) {
        acc = (acc + std::int64_t{l.wq_[i * n + j]} * std::int64_t{s[j]}) % std::int64_t{p};
      }
      ws[i] = mod_signed(acc, p);
    }
    l.s_.push_back(std::move(s));
    l.ws_.push_back(std::move(ws));
  }
  return l;
}

std::vector<float> BlindedLinear::device_weights() const {
  std::vector<float> out(wq_.size());
  for (std::size_t i = 0; i < wq_.size(); ++i) out[i] = static_cast<float>(wq_[i]);
  return out;
}

Result<MaskRange> BlindedLinear::precompute(std::size_t count) {
  if (disabled_) return error("disabled after a failed check");
  const std::uint32_t p = params_.prime;
  const MaskRange range{.first = masks_.size(), .count = count};
  for (std::size_t c = 0; c < count; ++c) {
    Mask m;
    m.r.resize(k_);
    for (auto& v : m.r) v = randombytes_uniform(p);
    // r·W over the integers first: r < 2^31, |w_q| < 2^15, so each row of W
    // adds less than 2^46; reduce every 2^16 rows to stay inside 63 bits.
    std::vector<std::int64_t> acc(n_, 0);
    for (std::size_t i = 0; i < k_; ++i) {
      const std::int64_t r = m.r[i];
      const std::int32_t* w = &wq_[i * n_];
      for (std::size_t j = 0; j < n_; ++j) acc[j] += r * w[j];
      if ((i & 0xFFFF) == 0xFFFF) {
        for (auto& a : acc) a %= std::int64_t{p};
      }
    }
    m.rw.resize(n_);
    for (std::size_t j = 0; j < n_; ++j) m.rw[j] = mod_signed(acc[j], p);
    masks_.push_back(std::move(m));
  }
  fresh_ += count;
  return range;
}

Result<int> BlindedLinear::row_exponent(std::span<const float> row) const {
  const std::uint64_t half = (params_.prime - 1) / 2;
  for (int f = kMaxExponent; f >= kMinExponent; --f) {
    // Q·Σ|enc(x)| ≤ (p−1)/2: no product row can wrap around p.
    double sum = 0.0;
    for (const float x : row) sum += std::fabs(std::nearbyint(std::ldexp(double{x}, f)));
    if (sum * q_ <= static_cast<double>(half)) return f;
  }
  return error("an activation row is too large for the field");
}

Result<Blinded> BlindedLinear::blind(std::span<const float> x, std::size_t rows) {
  while (next_fresh_ < masks_.size() && masks_[next_fresh_].state != MaskState::fresh) {
    ++next_fresh_;
  }
  return blind(x, rows, next_fresh_);
}

Result<Blinded> BlindedLinear::blind(std::span<const float> x, std::size_t rows, MaskId first) {
  if (disabled_) return error("disabled after a failed check");
  if (rows == 0 || x.size() != rows * k_) return error("input must be [rows, k] with rows > 0");
  for (const float v : x) {
    if (!std::isfinite(v)) return error("an activation is not finite");
  }
  for (std::size_t i = 0; i < rows; ++i) {
    const MaskId id = first + i;
    if (id >= masks_.size()) {
      return error("mask " + std::to_string(id) + " was never precomputed (" +
                   std::to_string(fresh_) + " fresh left)");
    }
    if (masks_[id].state != MaskState::fresh) {
      return error("mask " + std::to_string(id) + " was already used: a mask blinds once");
    }
  }
  const std::uint32_t p = params_.prime;
  Blinded b;
  b.rows = rows;
  b.field_input.resize(rows * k_);
  b.limbs.resize(std::size_t{plan_.count} * rows * k_);
  for (std::size_t i = 0; i < rows; ++i) {
    const auto row = x.subspan(i * k_, k_);
    auto f = row_exponent(row);
    if (!f) return f.error();
    b.row_exponents.push_back(*f);
  }
  const std::uint32_t limb_mask = (1u << plan_.bits) - 1;
  for (std::size_t i = 0; i < rows; ++i) {
    Mask& m = masks_[first + i];
    for (std::size_t c = 0; c < k_; ++c) {
      const auto enc = static_cast<std::int64_t>(
          std::nearbyint(std::ldexp(double{x[i * k_ + c]}, b.row_exponents[i])));
      const std::uint32_t v = static_cast<std::uint32_t>(
          (std::uint64_t{mod_signed(enc, p)} + std::uint64_t{m.r[c]}) % p);
      b.field_input[i * k_ + c] = v;
      for (unsigned l = 0; l < plan_.count; ++l) {
        b.limbs[(l * rows + i) * k_ + c] = static_cast<float>((v >> (l * plan_.bits)) & limb_mask);
      }
    }
    sodium_memzero(m.r.data(), m.r.size() * sizeof(std::uint32_t));
    m.r = {};
    m.state = MaskState::in_use;
    b.masks.push_back(first + i);
    --fresh_;
  }
  return b;
}

bool BlindedLinear::passes_freivalds(std::span<const std::uint32_t> x_row,
                                     std::span<const std::uint32_t> y_row) const {
  const std::uint64_t p = params_.prime;
  for (std::size_t t = 0; t < s_.size(); ++t) {
    std::uint64_t lhs = 0;
    for (std::size_t j = 0; j < n_; ++j) lhs = (lhs + std::uint64_t{y_row[j]} * s_[t][j]) % p;
    std::uint64_t rhs = 0;
    for (std::size_t i = 0; i < k_; ++i) rhs = (rhs + std::uint64_t{x_row[i]} * ws_[t][i]) % p;
    if (lhs != rhs) return false;
  }
  return true;
}

Result<std::vector<float>> BlindedLinear::finish(const Blinded& blinded,
                                                 std::span<const float> gpu_out) {
  if (disabled_) return error("disabled after a failed check");
  const std::size_t rows = blinded.rows;
  if (blinded.masks.size() != rows || blinded.row_exponents.size() != rows ||
      blinded.field_input.size() != rows * k_) {
    return error("not a batch this layer blinded");
  }
  if (gpu_out.size() != std::size_t{plan_.count} * rows * n_) {
    return error("the GPU's result must be [limbs·rows, n]");
  }
  for (const MaskId id : blinded.masks) {
    if (id >= masks_.size() || masks_[id].state != MaskState::in_use) {
      return error("mask " + std::to_string(id) + " is not awaiting a result (already unblinded?)");
    }
  }
  const std::uint32_t p = params_.prime;
  const auto bound = static_cast<double>(plan_.max_partial);
  std::vector<std::uint32_t> y(rows * n_);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < n_; ++j) {
      std::int64_t acc = 0;
      for (unsigned l = 0; l < plan_.count; ++l) {
        const double v = gpu_out[(l * rows + i) * n_ + j];
        // An honest product is an integer within the exactness bound.
        if (!(std::fabs(v) <= bound) || v != std::nearbyint(v)) {
          disabled_ = true;
          return error("the GPU's result is not an exact limb product (row " + std::to_string(i) +
                       ", column " + std::to_string(j) + ")");
        }
        acc += static_cast<std::int64_t>(v) * (std::int64_t{1} << (l * plan_.bits));
      }
      y[i * n_ + j] = mod_signed(acc, p);
    }
    if (params_.verify && !passes_freivalds(std::span(blinded.field_input).subspan(i * k_, k_),
                                            std::span(y).subspan(i * n_, n_))) {
      disabled_ = true;
      return error("the GPU's result failed the Freivalds check (row " + std::to_string(i) + ")");
    }
  }
  std::vector<float> out(rows * n_);
  const std::int64_t half = (p - 1) / 2;
  for (std::size_t i = 0; i < rows; ++i) {
    Mask& m = masks_[blinded.masks[i]];
    for (std::size_t j = 0; j < n_; ++j) {
      std::int64_t v = (std::int64_t{y[i * n_ + j]} - std::int64_t{m.rw[j]} + p) % p;
      if (v > half) v -= p;
      out[i * n_ + j] = static_cast<float>(
          std::ldexp(static_cast<double>(v) * double{scales_[j]}, -blinded.row_exponents[i]));
    }
    sodium_memzero(m.rw.data(), m.rw.size() * sizeof(std::uint32_t));
    m.rw = {};
    m.state = MaskState::spent;
  }
  return out;
}

vgpu::CmdbufBuilder gpu_load_weights(DeviceBuffers buffers, vgpu::GuestRange weights) {
  vgpu::CmdbufBuilder b;
  b.dma(HIX_VGPU_OP_DMA_IN, vgpu::tref(buffers.weights, HIX_VGPU_DT_F32), weights);
  return b;
}

vgpu::CmdbufBuilder gpu_matmul(MatmulShape shape, DeviceBuffers buffers, GuestTransfer guest) {
  vgpu::CmdbufBuilder b;
  b.dma(HIX_VGPU_OP_DMA_IN, vgpu::tref(buffers.input, HIX_VGPU_DT_F32), guest.in);
  hix_vgpu_op_matmul mm{};
  mm.out = vgpu::tref(buffers.output, HIX_VGPU_DT_F32);
  mm.a = vgpu::tref(buffers.input, HIX_VGPU_DT_F32);
  mm.b = vgpu::tref(buffers.weights, HIX_VGPU_DT_F32);
  mm.m = static_cast<std::uint32_t>(shape.m);
  mm.n = static_cast<std::uint32_t>(shape.n);
  mm.k = static_cast<std::uint32_t>(shape.k);
  b.add(HIX_VGPU_OP_MATMUL, mm);
  b.dma(HIX_VGPU_OP_DMA_OUT, vgpu::tref(buffers.output, HIX_VGPU_DT_F32), guest.out);
  return b;
}

vgpu::CmdbufBuilder gpu_matmul(const BlindedLinear& layer, std::size_t rows, DeviceBuffers buffers,
                               GuestTransfer guest) {
  return gpu_matmul({std::size_t{layer.limbs().count} * rows, layer.k(), layer.n()}, buffers,
                    guest);
}

std::vector<std::byte> f32_bytes(std::span<const float> v) {
  std::vector<std::byte> out(v.size() * sizeof(float));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

}  // namespace hix::outsource
