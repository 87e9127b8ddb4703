// The cpu reference backend (spec §6.4 semantics, fp32 compute).
#include "cpu_backend.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "hix/vgpu/bf16.hpp"

namespace hix::vgpu {

Result<std::unique_ptr<CpuBackend>> CpuBackend::create(std::uint64_t vram_bytes) {
  if (vram_bytes == 0) return Status::invalid_arg;
  void* p = mmap(nullptr, vram_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return Status::no_memory;
  return std::unique_ptr<CpuBackend>(new CpuBackend(static_cast<std::byte*>(p), vram_bytes));
}

CpuBackend::~CpuBackend() {
  munmap(base_, size_);
}

Status CpuBackend::write_bytes(VramOffset dst, std::span<const std::byte> src) {
  if (!src.empty()) std::memcpy(base_ + dst.value, src.data(), src.size());
  return Status::ok;
}

Status CpuBackend::read_bytes(VramOffset src, std::span<std::byte> dst) {
  if (!dst.empty()) std::memcpy(dst.data(), base_ + src.value, dst.size());
  return Status::ok;
}

Status CpuBackend::zero(VramOffset dst, std::uint64_t bytes) {
  // Whole pages go back to the kernel (they read as zero afterwards, as the
  // mapping is private and anonymous); the ragged edges are cleared by hand.
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const std::uint64_t begin = dst.value;
  const std::uint64_t end = dst.value + bytes;
  const std::uint64_t page_begin = (begin + page - 1) / page * page;
  const std::uint64_t page_end = end / page * page;
  if (page_end > page_begin && page_end - page_begin >= 16 * page) {
    std::memset(base_ + begin, 0, page_begin - begin);
    if (madvise(base_ + page_begin, page_end - page_begin, MADV_DONTNEED) != 0) {
      std::memset(base_ + page_begin, 0, page_end - page_begin);
    }
    std::memset(base_ + page_end, 0, end - page_end);
  } else if (bytes > 0) {
    std::memset(base_ + begin, 0, bytes);
  }
  return Status::ok;
}

void CpuBackend::load(const TensorArg& t, std::uint64_t first, std::span<float> out) const {
  const std::byte* p = base_ + t.offset.value;
  if (t.dtype == DType::f32) {
    std::memcpy(out.data(), p + first * 4, out.size() * 4);
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint16_t h = 0;
      std::memcpy(&h, p + (first + i) * 2, 2);
      out[i] = bf16_to_f32(h);
    }
  }
}

std::vector<float> CpuBackend::load(const TensorArg& t) const {
  std::vector<float> v(t.count);
  load(t, 0, v);
  return v;
}

void CpuBackend::store(const TensorArg& t, std::uint64_t first, std::span<const float> in) {
  std::byte* p = base_ + t.offset.value;
  if (t.dtype == DType::f32) {
    std::memcpy(p + first * 4, in.data(), in.size() * 4);
  } else {
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::uint16_t h = f32_to_bf16(in[i]);
      std::memcpy(p + (first + i) * 2, &h, 2);
    }
  }
}

std::vector<std::int32_t> CpuBackend::load_i32(const TensorArg& t) const {
  std::vector<std::int32_t> v(t.count);
  std::memcpy(v.data(), base_ + t.offset.value, t.count * 4);
  return v;
}

void CpuBackend::store_i32(const TensorArg& t, std::span<const std::int32_t> in) {
  std::memcpy(base_ + t.offset.value, in.data(), in.size() * 4);
}

Status CpuBackend::fill(const TensorArg& dst, std::uint32_t bits) {
  if (dst.dtype == DType::i32) {
    store_i32(dst, std::vector<std::int32_t>(dst.count, static_cast<std::int32_t>(bits)));
  } else {
    float f = 0;
    std::memcpy(&f, &bits, 4);
    store(dst, 0, std::vector<float>(dst.count, f));
  }
  return Status::ok;
}

Status CpuBackend::copy(const TensorArg& dst, const TensorArg& src) {
  if (dst.dtype == DType::i32) {
    store_i32(dst, load_i32(src));
  } else {
    store(dst, 0, load(src));
  }
  return Status::ok;
}

Status CpuBackend::embedding(const EmbeddingArgs& a) {
  const auto ids = load_i32(a.ids);
  std::vector<float> out(std::size_t{a.rows} * a.dim);
  for (std::size_t t = 0; t < a.rows; ++t) {
    if (ids[t] < 0 || static_cast<std::uint32_t>(ids[t]) >= a.vocab) {
      return Status::index_out_of_range;
    }
    load(a.table, static_cast<std::uint64_t>(ids[t]) * a.dim,
         std::span<float>(out).subspan(t * a.dim, a.dim));
  }
  store(a.out, 0, out);
  return Status::ok;
}

Status CpuBackend::matmul(const MatmulArgs& a) {
  const std::size_t m = a.m;
  const std::size_t n = a.n;
  const std::size_t k = a.k;
  const auto av = load(a.a);
  const auto bv = load(a.b);
  std::vector<float> out = a.accumulate ? load(a.out) : std::vector<float>(m * n, 0.0f);
  if (a.trans_b) {  // b is [n, k]: dot products of contiguous rows
    for (std::size_t i = 0; i < m; ++i) {
      const float* ar = &av[i * k];
      for (std::size_t j = 0; j < n; ++j) {
        const float* br = &bv[j * k];
        float acc = 0.0f;
        for (std::size_t p = 0; p < k; ++p) acc += ar[p] * br[p];
        out[i * n + j] += acc;
      }
    }
  } else {  // b is [k, n]: accumulate scaled rows of b
    std::vector<float> row(n);
    for (std::size_t i = 0; i < m; ++i) {
      std::fill(row.begin(), row.end(), 0.0f);
      for (std::size_t p = 0; p < k; ++p) {
        const float s = av[i * k + p];
        const float* br = &bv[p * n];
        for (std::size_t j = 0; j < n; ++j) row[j] += s * br[j];
      }
      for (std::size_t j = 0; j < n; ++j) out[i * n + j] += row[j];
    }
  }
  if (a.bias) {
    const auto bias = load(*a.bias);
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t j = 0; j < n; ++j) out[i * n + j] += bias[j];
    }
  }
  store(a.out, 0, out);
  return Status::ok;
}

Status CpuBackend::binary(const BinaryArgs& a) {
  const auto x = load(a.a);
  const auto y = load(a.b);
  std::vector<float> out(x.size());
  const std::size_t nb = y.size();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float b = y[i % nb];
    out[i] = a.op == BinaryOp::add ? x[i] + b : x[i] * b;
  }
  store(a.out, 0, out);
  return Status::ok;
}

Status CpuBackend::layernorm(const NormArgs& a) {
  auto x = load(a.x);
  const auto gamma = load(a.gamma);
  const auto beta = load(*a.beta);
  const std::size_t cols = a.cols;
  for (std::size_t r = 0; r < a.rows; ++r) {
    float* row = &x[r * cols];
    double sum = 0;
    for (std::size_t c = 0; c < cols; ++c) sum += row[c];
    const double mean = sum / static_cast<double>(cols);
    double var = 0;
    for (std::size_t c = 0; c < cols; ++c) var += (row[c] - mean) * (row[c] - mean);
    var /= static_cast<double>(cols);
    const double inv = 1.0 / std::sqrt(var + static_cast<double>(a.eps));
    for (std::size_t c = 0; c < cols; ++c) {
      row[c] = static_cast<float>((row[c] - mean) * inv) * gamma[c] + beta[c];
    }
  }
  store(a.out, 0, x);
  return Status::ok;
}

Status CpuBackend::rmsnorm(const NormArgs& a) {
  auto x = load(a.x);
  const auto gamma = load(a.gamma);
  const std::size_t cols = a.cols;
  for (std::size_t r = 0; r < a.rows; ++r) {
    float* row = &x[r * cols];
    double ss = 0;
    for (std::size_t c = 0; c < cols; ++c) ss += static_cast<double>(row[c]) * row[c];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(cols) + a.eps);
    for (std::size_t c = 0; c < cols; ++c) row[c] = static_cast<float>(row[c] * inv) * gamma[c];
  }
  store(a.out, 0, x);
  return Status::ok;
}

Status CpuBackend::unary(const UnaryArgs& a) {
  auto x = load(a.x);
  if (a.op == UnaryOp::gelu) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    for (float& v : x)
      v = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  } else {
    for (float& v : x) v = v / (1.0f + std::exp(-v));
  }
  store(a.out, 0, x);
  return Status::ok;
}

namespace {

void softmax_row(std::span<float> row) {
  float mx = -std::numeric_limits<float>::infinity();
  for (float v : row) mx = std::max(mx, v);
  double sum = 0;
  for (float& v : row) {
    v = std::exp(v - mx);
    sum += v;
  }
  for (float& v : row) v = static_cast<float>(v / sum);
}

}  // namespace

Status CpuBackend::softmax(const RowsArgs& a) {
  auto x = load(a.x);
  for (std::size_t r = 0; r < a.rows; ++r) {
    softmax_row(std::span<float>(x).subspan(r * a.cols, a.cols));
  }
  store(a.out, 0, x);
  return Status::ok;
}

Status CpuBackend::rope(const RopeArgs& a) {
  auto x = load(a.x);
  const std::size_t half = a.rot_dim / 2;
  for (std::size_t t = 0; t < a.tokens; ++t) {
    const double p = static_cast<double>(a.batch ? a.pos : a.pos + t);
    for (std::size_t i = 0; i < half; ++i) {
      const double inv_freq = llama3_inv_freq(
          std::pow(static_cast<double>(a.theta), -2.0 * static_cast<double>(i) / a.rot_dim),
          a.llama3);
      const double angle = p * inv_freq;
      const auto c = static_cast<float>(std::cos(angle));
      const auto s = static_cast<float>(std::sin(angle));
      for (std::size_t h = 0; h < a.heads; ++h) {
        float* v = &x[(t * a.heads + h) * a.head_dim];
        const float x1 = v[i];
        const float x2 = v[i + half];
        v[i] = x1 * c - x2 * s;
        v[i + half] = x2 * c + x1 * s;
      }
    }
  }
  store(a.out, 0, x);
  return Status::ok;
}

Status CpuBackend::attention(const AttentionArgs& a) {
  if (a.batch) return attention_batch(a);
  const std::size_t hd = a.head_dim;
  const std::size_t kv_row = std::size_t{a.kv_heads} * hd;
  const auto q = load(a.q);
  const auto k = load(a.k);
  const auto v = load(a.v);
  store(a.k_cache, a.pos * kv_row, k);
  store(a.v_cache, a.pos * kv_row, v);
  const std::size_t seen = a.pos + a.tokens;
  std::vector<float> kc(seen * kv_row);
  std::vector<float> vc(seen * kv_row);
  load(a.k_cache, 0, kc);
  load(a.v_cache, 0, vc);
  const std::size_t group = a.q_heads / a.kv_heads;
  std::vector<float> out(std::size_t{a.tokens} * a.q_heads * hd, 0.0f);
  std::vector<float> w(seen);
  for (std::size_t t = 0; t < a.tokens; ++t) {
    const std::size_t last = a.pos + t;  // causal: positions 0..last
    for (std::size_t h = 0; h < a.q_heads; ++h) {
      const std::size_t g = h / group;
      const float* qv = &q[(t * a.q_heads + h) * hd];
      for (std::size_t j = 0; j <= last; ++j) {
        const float* kv = &kc[j * kv_row + g * hd];
        float dot = 0.0f;
        for (std::size_t d = 0; d < hd; ++d) dot += qv[d] * kv[d];
        w[j] = dot * a.scale;
      }
      softmax_row(std::span<float>(w).subspan(0, last + 1));
      float* o = &out[(t * a.q_heads + h) * hd];
      for (std::size_t j = 0; j <= last; ++j) {
        const float* vv = &vc[j * kv_row + g * hd];
        for (std::size_t d = 0; d < hd; ++d) o[d] += w[j] * vv[d];
      }
    }
  }
  store(a.out, 0, out);
  return Status::ok;
}

// Spec §6.4.1: sequence b is token b of q, k, v and has cache b; each is
// one token at position pos of its own cache, computed as above.
Status CpuBackend::attention_batch(const AttentionArgs& a) {
  const std::size_t hd = a.head_dim;
  const std::size_t kv_row = std::size_t{a.kv_heads} * hd;
  const std::size_t q_row = std::size_t{a.q_heads} * hd;
  const std::size_t cache = std::size_t{a.max_seq} * kv_row;
  const auto q = load(a.q);
  const auto k = load(a.k);
  const auto v = load(a.v);
  for (std::size_t b = 0; b < a.tokens; ++b) {
    store(a.k_cache, b * cache + a.pos * kv_row,
          std::span<const float>(k).subspan(b * kv_row, kv_row));
    store(a.v_cache, b * cache + a.pos * kv_row,
          std::span<const float>(v).subspan(b * kv_row, kv_row));
  }
  const std::size_t seen = a.pos + 1;
  const std::size_t group = a.q_heads / a.kv_heads;
  std::vector<float> out(std::size_t{a.tokens} * q_row, 0.0f);
  std::vector<float> kc(seen * kv_row);
  std::vector<float> vc(seen * kv_row);
  std::vector<float> w(seen);
  for (std::size_t b = 0; b < a.tokens; ++b) {
    load(a.k_cache, b * cache, kc);
    load(a.v_cache, b * cache, vc);
    for (std::size_t h = 0; h < a.q_heads; ++h) {
      const std::size_t g = h / group;
      const float* qv = &q[b * q_row + h * hd];
      for (std::size_t j = 0; j < seen; ++j) {
        const float* kv = &kc[j * kv_row + g * hd];
        float dot = 0.0f;
        for (std::size_t d = 0; d < hd; ++d) dot += qv[d] * kv[d];
        w[j] = dot * a.scale;
      }
      softmax_row(w);
      float* o = &out[b * q_row + h * hd];
      for (std::size_t j = 0; j < seen; ++j) {
        const float* vv = &vc[j * kv_row + g * hd];
        for (std::size_t d = 0; d < hd; ++d) o[d] += w[j] * vv[d];
      }
    }
  }
  store(a.out, 0, out);
  return Status::ok;
}

Status CpuBackend::argmax(const RowsArgs& a) {
  const auto x = load(a.x);
  std::vector<std::int32_t> out(a.rows);
  for (std::size_t r = 0; r < a.rows; ++r) {
    std::size_t best = 0;
    float best_v = -std::numeric_limits<float>::infinity();
    bool found = false;
    for (std::size_t c = 0; c < a.cols; ++c) {
      const float v = x[r * a.cols + c];
      if (std::isnan(v)) continue;
      if (!found || v > best_v) {
        best = c;
        best_v = v;
        found = true;
      }
    }
    out[r] = static_cast<std::int32_t>(best);
  }
  store_i32(a.out, out);
  return Status::ok;
}

Status CpuBackend::sample(const SampleArgs& a) {
  const auto x = load(a.x);
  std::vector<std::int32_t> out(a.rows);
  std::vector<std::uint32_t> order(a.cols);
  std::vector<double> w(a.cols);
  for (std::size_t r = 0; r < a.rows; ++r) {
    const float* row = &x[r * a.cols];
    std::iota(order.begin(), order.end(), 0u);
    // Descending logit, ascending index; NaN sorts last.
    std::stable_sort(order.begin(), order.end(), [row](std::uint32_t i, std::uint32_t j) {
      const float a_v = row[i];
      const float b_v = row[j];
      if (std::isnan(b_v)) return !std::isnan(a_v);
      if (std::isnan(a_v)) return false;
      return a_v > b_v;
    });
    const std::size_t k = a.top_k == 0 ? a.cols : std::min<std::size_t>(a.top_k, a.cols);
    const double mx = row[order[0]];
    double total = 0;
    for (std::size_t i = 0; i < k; ++i) {
      const double v = row[order[i]];
      w[i] = std::isnan(v) ? 0.0 : std::exp((v - mx) / static_cast<double>(a.temperature));
      total += w[i];
    }
    const double target = sample_uniform(a.seed, a.first_draw + r) * total;
    std::size_t pick = k - 1;
    double run = 0;
    for (std::size_t i = 0; i < k; ++i) {
      run += w[i];
      if (run > target) {
        pick = i;
        break;
      }
    }
    out[r] = static_cast<std::int32_t>(order[pick]);
  }
  store_i32(a.out, out);
  return Status::ok;
}

}  // namespace hix::vgpu
