// A GPT-2-architecture model in float32 with seeded weights, the TEE-only
// baseline of issue 15 §1 (docs/approaches.md): the same source runs inside
// an SDK enclave (tee_gpt2.cpp) and natively (tests/bench/tee_gpt2_native.cpp),
// so the two runs compute the same bits and their speeds compare the
// enclave with the bare CPU.
//
// Freestanding: no libm and no C++ library (the enclave has neither). exp
// and sqrt are written here; float arithmetic is IEEE binary32/64 on both
// sides (SSE; QEMU's TCG emulates it exactly), without FMA contraction
// (x86-64's baseline has no FMA).
//
// Greedy decoding, one position at a time (a prompt is fed token by token
// through the same path, so prefill costs the same multiply-adds as a
// batched one). Tied output head, as GPT-2.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hix::tee_gpt2 {

// The setup ecall's buffer, and the native tool's model description.
struct Shape {
  uint32_t dim = 0;
  uint32_t heads = 0;
  uint32_t layers = 0;
  uint32_t mlp = 0;
  uint32_t vocab = 0;
  uint32_t max_pos = 0;
  uint32_t max_seq = 0;  // KV cache length: prompt + new tokens
  uint32_t reserved = 0;
  uint64_t seed = 0;
};
static_assert(sizeof(Shape) == 40, "the setup ecall's buffer");

// The generate ecall's buffer: the request, then `new_tokens` u32 tokens
// written back.
struct Request {
  uint32_t prompt_len = 0;
  uint32_t new_tokens = 0;
};
static_assert(sizeof(Request) == 8, "the generate ecall's header");

// The prompt both sides use: a fixed token sequence of the vocabulary.
inline uint32_t prompt_token(uint32_t i, uint32_t vocab) {
  return static_cast<uint32_t>((uint64_t{i} * 7919 + 13) % vocab);
}

inline bool valid(const Shape& s) {
  return s.dim != 0 && s.heads != 0 && s.dim % s.heads == 0 && s.layers != 0 && s.mlp != 0 &&
         s.vocab != 0 && s.max_pos != 0 && s.max_seq != 0 && s.max_seq <= s.max_pos &&
         s.dim <= 8192 && s.mlp <= 65536 && s.vocab <= (1u << 20) && s.layers <= 256 &&
         s.max_pos <= 65536;
}

// Floats a model of this shape needs: weights, KV cache and scratch.
inline uint64_t floats_needed(const Shape& s) {
  const uint64_t d = s.dim, f = s.mlp;
  const uint64_t block = 2 * d + d * 3 * d + 3 * d + d * d + d + 2 * d + d * f + f + f * d + d;
  const uint64_t weights =
      uint64_t{s.vocab} * d + uint64_t{s.max_pos} * d + s.layers * block + 2 * d;
  const uint64_t cache = 2ull * s.layers * s.max_seq * d;
  const uint64_t scratch = 4 * d + 3 * d + f + s.max_seq + s.vocab;
  return weights + cache + scratch;
}

// exp(x) in double: x = k·ln2 + r with |r| ≤ ln2/2, a degree-13 Taylor
// series for e^r (error below 2^−52 on that interval), scaled by 2^k.
inline double exp_d(double x) {
  if (x < -700.0) return 0.0;
  if (x > 700.0) x = 700.0;
  constexpr double kLn2 = 0.6931471805599453;
  const double kf = x / kLn2;
  const auto k = static_cast<int64_t>(kf < 0 ? kf - 0.5 : kf + 0.5);
  const double r = x - static_cast<double>(k) * kLn2;
  double term = 1.0, sum = 1.0;
  for (int i = 1; i <= 13; ++i) {
    term *= r / i;
    sum += term;
  }
  const uint64_t bits = static_cast<uint64_t>(k + 1023) << 52;
  double scale = 0;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return sum * scale;
}

inline double sqrt_d(double x) {
  double r = 0;
  __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
  return r;
}

inline float gelu(float v) {
  constexpr double kSqrt2OverPi = 0.7978845608028654;
  const double u = kSqrt2OverPi * (double{v} + 0.044715 * double{v} * v * v);
  const double e = exp_d(-2.0 * (u < 0 ? -u : u));
  const double t = (1.0 - e) / (1.0 + e);
  return static_cast<float>(0.5 * v * (1.0 + (u < 0 ? -t : t)));
}

class Model {
 public:
  // Lays the model out in `arena` (floats_needed(s) floats) and fills its
  // weights from the seed: matrices and embeddings uniform with standard
  // deviation 0.02 (positions 0.01), norms' gains 1, biases 0.
  void init(const Shape& s, float* arena) {
    s_ = s;
    const uint64_t d = s.dim, f = s.mlp;
    float* p = arena;
    const auto take = [&p](uint64_t n) {
      float* r = p;
      p += n;
      return r;
    };
    wte_ = take(uint64_t{s.vocab} * d);
    wpe_ = take(uint64_t{s.max_pos} * d);
    for (uint32_t l = 0; l < s.layers && l < kMaxLayers; ++l) {
      Block& b = blocks_[l];
      b.ln1_g = take(d), b.ln1_b = take(d), b.attn_w = take(d * 3 * d), b.attn_b = take(3 * d);
      b.proj_w = take(d * d), b.proj_b = take(d), b.ln2_g = take(d), b.ln2_b = take(d);
      b.fc_w = take(d * f), b.fc_b = take(f), b.out_w = take(f * d), b.out_b = take(d);
      b.k = take(uint64_t{s.max_seq} * d), b.v = take(uint64_t{s.max_seq} * d);
    }
    lnf_g_ = take(d), lnf_b_ = take(d);
    x_ = take(d), h_ = take(d), att_ = take(d), tmp_ = take(d), qkv_ = take(3 * d), fc_ = take(f),
    probs_ = take(s.max_seq), logits_ = take(s.vocab);

    rng_ = s.seed;
    fill(wte_, uint64_t{s.vocab} * d, 0.02f);
    fill(wpe_, uint64_t{s.max_pos} * d, 0.01f);
    for (uint32_t l = 0; l < s.layers; ++l) {
      Block& b = blocks_[l];
      set(b.ln1_g, d, 1.0f), set(b.ln1_b, d, 0.0f), fill(b.attn_w, d * 3 * d, 0.02f);
      set(b.attn_b, 3 * d, 0.0f), fill(b.proj_w, d * d, 0.02f), set(b.proj_b, d, 0.0f);
      set(b.ln2_g, d, 1.0f), set(b.ln2_b, d, 0.0f), fill(b.fc_w, d * f, 0.02f);
      set(b.fc_b, f, 0.0f), fill(b.out_w, f * d, 0.02f), set(b.out_b, d, 0.0f);
    }
    set(lnf_g_, d, 1.0f), set(lnf_b_, d, 0.0f);
  }

  static constexpr uint32_t kMaxLayers = 256;

  // Greedy generation after the fixed prompt of `prompt_len` tokens, from
  // position 0 (the cache starts empty): `new_tokens` tokens into `out`.
  // False when prompt and new tokens exceed the cache.
  bool generate(uint32_t prompt_len, uint32_t new_tokens, uint32_t* out) {
    if (prompt_len == 0 || uint64_t{prompt_len} + new_tokens > s_.max_seq) return false;
    uint32_t pos = 0;
    uint32_t next = 0;
    for (uint32_t i = 0; i < prompt_len; ++i) next = step(prompt_token(i, s_.vocab), pos++);
    for (uint32_t i = 0; i < new_tokens; ++i) {
      out[i] = next;
      if (i + 1 < new_tokens) next = step(next, pos++);
    }
    return true;
  }

 private:
  struct Block {
    float *ln1_g, *ln1_b, *attn_w, *attn_b, *proj_w, *proj_b;
    float *ln2_g, *ln2_b, *fc_w, *fc_b, *out_w, *out_b;
    float *k, *v;  // cache [max_seq, d]
  };

  float uniform() {
    // splitmix64 → 24 bits → [−1, 1)
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<float>(static_cast<double>(z >> 40) / 8388608.0 - 1.0);
  }
  void fill(float* w, uint64_t n, float stddev) {
    const float a = stddev * 1.7320508f;  // uniform on [−a, a] has this deviation
    for (uint64_t i = 0; i < n; ++i) w[i] = a * uniform();
  }
  static void set(float* w, uint64_t n, float v) {
    for (uint64_t i = 0; i < n; ++i) w[i] = v;
  }

  void layer_norm(float* out, const float* x, const float* g, const float* b) const {
    const uint32_t d = s_.dim;
    double mean = 0;
    for (uint32_t c = 0; c < d; ++c) mean += x[c];
    mean /= d;
    double var = 0;
    for (uint32_t c = 0; c < d; ++c) var += (x[c] - mean) * (x[c] - mean);
    var /= d;
    const double inv = 1.0 / sqrt_d(var + 1e-5);
    for (uint32_t c = 0; c < d; ++c) out[c] = static_cast<float>((x[c] - mean) * inv) * g[c] + b[c];
  }

  // A linear layer: W [k, n] and its bias [n].
  struct Linear {
    const float* w;
    const float* bias;
    uint32_t k, n;
  };

  // y [n] = x [k] · W + bias
  static void linear(float* y, const float* x, Linear l) {
    for (uint32_t j = 0; j < l.n; ++j) y[j] = l.bias[j];
    for (uint32_t c = 0; c < l.k; ++c) {
      const float xv = x[c];
      const float* wr = l.w + uint64_t{c} * l.n;
      for (uint32_t j = 0; j < l.n; ++j) y[j] += xv * wr[j];
    }
  }

  uint32_t step(uint32_t token, uint32_t pos) {
    const uint32_t d = s_.dim, f = s_.mlp, heads = s_.heads, hd = d / heads;
    for (uint32_t c = 0; c < d; ++c)
      x_[c] = wte_[uint64_t{token} * d + c] + wpe_[uint64_t{pos} * d + c];
    const float scale = static_cast<float>(1.0 / sqrt_d(hd));
    for (uint32_t l = 0; l < s_.layers; ++l) {
      Block& b = blocks_[l];
      layer_norm(h_, x_, b.ln1_g, b.ln1_b);
      linear(qkv_, h_, {b.attn_w, b.attn_b, d, 3 * d});
      for (uint32_t c = 0; c < d; ++c) {
        b.k[uint64_t{pos} * d + c] = qkv_[d + c];
        b.v[uint64_t{pos} * d + c] = qkv_[2 * d + c];
      }
      for (uint32_t hh = 0; hh < heads; ++hh) {
        const float* q = qkv_ + uint64_t{hh} * hd;
        float mx = -3.4e38f;
        for (uint32_t t = 0; t <= pos; ++t) {
          const float* kr = b.k + uint64_t{t} * d + uint64_t{hh} * hd;
          float sc = 0;
          for (uint32_t c = 0; c < hd; ++c) sc += q[c] * kr[c];
          probs_[t] = sc * scale;
          if (probs_[t] > mx) mx = probs_[t];
        }
        float sum = 0;
        for (uint32_t t = 0; t <= pos; ++t) {
          probs_[t] = static_cast<float>(exp_d(double{probs_[t]} - mx));
          sum += probs_[t];
        }
        float* o = att_ + uint64_t{hh} * hd;
        for (uint32_t c = 0; c < hd; ++c) o[c] = 0;
        for (uint32_t t = 0; t <= pos; ++t) {
          const float w = probs_[t] / sum;
          const float* vr = b.v + uint64_t{t} * d + uint64_t{hh} * hd;
          for (uint32_t c = 0; c < hd; ++c) o[c] += w * vr[c];
        }
      }
      linear(tmp_, att_, {b.proj_w, b.proj_b, d, d});
      for (uint32_t c = 0; c < d; ++c) x_[c] += tmp_[c];
      layer_norm(h_, x_, b.ln2_g, b.ln2_b);
      linear(fc_, h_, {b.fc_w, b.fc_b, d, f});
      for (uint32_t c = 0; c < f; ++c) fc_[c] = gelu(fc_[c]);
      linear(tmp_, fc_, {b.out_w, b.out_b, f, d});
      for (uint32_t c = 0; c < d; ++c) x_[c] += tmp_[c];
    }
    layer_norm(h_, x_, lnf_g_, lnf_b_);
    // Tied head: logits[t] = h · wte[t].
    uint32_t best = 0;
    float best_v = -3.4e38f;
    for (uint32_t t = 0; t < s_.vocab; ++t) {
      const float* e = wte_ + uint64_t{t} * d;
      float v = 0;
      for (uint32_t c = 0; c < d; ++c) v += h_[c] * e[c];
      logits_[t] = v;
      if (v > best_v) {
        best_v = v;
        best = t;
      }
    }
    return best;
  }

  Shape s_;
  uint64_t rng_ = 0;
  float *wte_ = nullptr, *wpe_ = nullptr, *lnf_g_ = nullptr, *lnf_b_ = nullptr;
  Block blocks_[kMaxLayers] = {};
  float *x_ = nullptr, *h_ = nullptr, *att_ = nullptr, *tmp_ = nullptr, *qkv_ = nullptr;
  float *fc_ = nullptr, *probs_ = nullptr, *logits_ = nullptr;
};

}  // namespace hix::tee_gpt2
