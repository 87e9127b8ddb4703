// Weight sources: a safetensors checkpoint, or seeded weights generated per
// element from a counter-based hash (deterministic per seed and name).
#include "weight_source.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <thread>

#include "hix/vgpu/bf16.hpp"

namespace hix::model {

namespace {

constexpr std::string_view kGpt2Prefix = "transformer.";

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t man = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: man * 2^-24
    const float v = std::ldexp(static_cast<float>(man), -24);
    return (sign != 0) ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7F800000u | (man << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
}

std::uint64_t shape_elements(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

}  // namespace

SourceTensor SourceTensor::view(DType dtype, std::vector<std::uint64_t> shape,
                                std::span<const std::byte> bytes) {
  SourceTensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.view_ = bytes;
  return t;
}

SourceTensor SourceTensor::owned(DType dtype, std::vector<std::uint64_t> shape,
                                 std::vector<std::byte> bytes) {
  SourceTensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.owned_ = std::move(bytes);
  return t;
}

std::uint64_t SourceTensor::elements() const {
  return shape_elements(shape_);
}

float SourceTensor::at(std::uint64_t i) const {
  const auto b = bytes();
  if (dtype_ == DType::f32) {
    float f = 0;
    std::memcpy(&f, b.data() + i * 4, 4);
    return f;
  }
  std::uint16_t h = 0;
  std::memcpy(&h, b.data() + i * 2, 2);
  return dtype_ == DType::bf16 ? vgpu::bf16_to_f32(h) : f16_to_f32(h);
}

std::vector<TensorSpec> hf_tensor_specs(const ModelConfig& c) {
  std::vector<TensorSpec> s;
  const std::uint64_t d = c.dim, m = c.mlp, v = c.vocab;
  if (c.arch == Arch::gpt2) {
    s.push_back({"wte.weight", {v, d}});
    s.push_back({"wpe.weight", {c.max_pos, d}});
    for (std::uint32_t l = 0; l < c.layers; ++l) {
      const std::string p = "h." + std::to_string(l) + ".";
      s.push_back({p + "ln_1.weight", {d}});
      s.push_back({p + "ln_1.bias", {d}});
      s.push_back({p + "attn.c_attn.weight", {d, 3 * d}});
      s.push_back({p + "attn.c_attn.bias", {3 * d}});
      s.push_back({p + "attn.c_proj.weight", {d, d}});
      s.push_back({p + "attn.c_proj.bias", {d}});
      s.push_back({p + "ln_2.weight", {d}});
      s.push_back({p + "ln_2.bias", {d}});
      s.push_back({p + "mlp.c_fc.weight", {d, m}});
      s.push_back({p + "mlp.c_fc.bias", {m}});
      s.push_back({p + "mlp.c_proj.weight", {m, d}});
      s.push_back({p + "mlp.c_proj.bias", {d}});
    }
    s.push_back({"ln_f.weight", {d}});
    s.push_back({"ln_f.bias", {d}});
    return s;
  }
  const std::uint64_t qd = std::uint64_t{c.heads} * c.head_dim;
  const std::uint64_t kvd = std::uint64_t{c.kv_heads} * c.head_dim;
  s.push_back({"model.embed_tokens.weight", {v, d}});
  for (std::uint32_t l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    s.push_back({p + "input_layernorm.weight", {d}});
    s.push_back({p + "self_attn.q_proj.weight", {qd, d}});
    s.push_back({p + "self_attn.k_proj.weight", {kvd, d}});
    s.push_back({p + "self_attn.v_proj.weight", {kvd, d}});
    if (qkv_bias(c)) {
      s.push_back({p + "self_attn.q_proj.bias", {qd}});
      s.push_back({p + "self_attn.k_proj.bias", {kvd}});
      s.push_back({p + "self_attn.v_proj.bias", {kvd}});
    }
    s.push_back({p + "self_attn.o_proj.weight", {d, qd}});
    s.push_back({p + "post_attention_layernorm.weight", {d}});
    s.push_back({p + "mlp.gate_proj.weight", {m, d}});
    s.push_back({p + "mlp.up_proj.weight", {m, d}});
    s.push_back({p + "mlp.down_proj.weight", {d, m}});
  }
  s.push_back({"model.norm.weight", {d}});
  if (!c.tied_embeddings) s.push_back({"lm_head.weight", {v, d}});
  return s;
}

// ---- safetensors ------------------------------------------------------------

Result<std::unique_ptr<SafetensorsSource>> SafetensorsSource::open(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  if (!f) return f.error();
  return std::make_unique<SafetensorsSource>(std::move(*f));
}

std::vector<std::string> SafetensorsSource::names() const {
  std::vector<std::string> n;
  for (const auto& t : file_.header().tensors) n.push_back(t.name);
  return n;
}

Result<SourceTensor> SafetensorsSource::get(std::string_view name) const {
  const auto& h = file_.header();
  const TensorInfo* t = h.find(name);
  if (t == nullptr) t = h.find(std::string(kGpt2Prefix) + std::string(name));
  if (t == nullptr && name.starts_with(kGpt2Prefix)) t = h.find(name.substr(kGpt2Prefix.size()));
  if (t == nullptr) return fail("checkpoint has no tensor \"" + std::string(name) + "\"");
  return SourceTensor::view(t->dtype, t->shape, file_.data(*t));
}

Result<SourceInfo> WeightSource::describe(std::string_view name) const {
  auto t = get(name);
  if (!t) return t.error();
  return SourceInfo{t->dtype(), t->shape()};
}

// ---- seeded -----------------------------------------------------------------

namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;

constexpr std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t name_hash(std::string_view s) {
  std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

// Roughly standard normal: four 16-bit uniforms summed (Irwin-Hall, mean 2,
// variance 1/3), centred and scaled; bounded by +-3.46.
float normalish(std::uint64_t r) {
  const double u = static_cast<double>(r & 0xFFFF) + static_cast<double>((r >> 16) & 0xFFFF) +
                   static_cast<double>((r >> 32) & 0xFFFF) + static_cast<double>(r >> 48);
  return static_cast<float>((u / 65536.0 - 2.0) * 1.7320508075688772);
}

enum class Role : std::uint8_t { matrix, gamma, bias };

Role role_of(std::string_view name) {
  if (name.ends_with(".bias")) return Role::bias;
  if (name.ends_with("norm.weight") || name.ends_with("layernorm.weight") ||
      name.find("ln_") != std::string_view::npos) {
    return Role::gamma;
  }
  return Role::matrix;
}

}  // namespace

SeededSource::SeededSource(const ModelConfig& config, const SeededOptions& options)
    : config_(config), options_(options), specs_(hf_tensor_specs(config)) {}

std::vector<std::string> SeededSource::names() const {
  std::vector<std::string> n;
  n.reserve(specs_.size());
  for (const auto& s : specs_) n.push_back(s.name);
  return n;
}

const TensorSpec* SeededSource::spec(std::string_view name) const {
  if (config_.arch == Arch::gpt2 && name.starts_with(kGpt2Prefix)) {
    name.remove_prefix(kGpt2Prefix.size());
  }
  for (const auto& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Result<SourceInfo> SeededSource::describe(std::string_view name) const {
  const TensorSpec* s = spec(name);
  if (s == nullptr) return fail("seeded source has no tensor \"" + std::string(name) + "\"");
  return SourceInfo{options_.dtype, s->shape};
}

Result<SourceTensor> SeededSource::get(std::string_view name) const {
  const TensorSpec* s = spec(name);
  if (s == nullptr) return fail("seeded source has no tensor \"" + std::string(name) + "\"");
  const std::uint64_t n = shape_elements(s->shape);
  const std::size_t es = dtype_size(options_.dtype);
  std::vector<std::byte> bytes(n * es);
  const Role role = role_of(s->name);
  const float scale = role == Role::matrix  ? options_.std
                      : role == Role::gamma ? options_.norm_jitter
                                            : options_.bias_std;
  const float centre = role == Role::gamma ? 1.0f : 0.0f;
  const std::uint64_t key = mix64(options_.seed * kGolden ^ name_hash(s->name));
  const DType dt = options_.dtype;
  const auto fill = [&](std::uint64_t lo, std::uint64_t hi) {
    for (std::uint64_t i = lo; i < hi; ++i) {
      const float v = centre + scale * normalish(mix64(key + (i + 1) * kGolden));
      if (dt == DType::f32) {
        std::memcpy(bytes.data() + i * 4, &v, 4);
      } else {
        std::uint16_t h = 0;
        if (dt == DType::bf16) {
          h = vgpu::f32_to_bf16(v);
        } else {
          // f16 for tests of the converter: values here are small and normal.
          const std::uint32_t u = std::bit_cast<std::uint32_t>(v);
          const std::uint32_t sign = (u >> 16) & 0x8000u;
          const int exp = static_cast<int>((u >> 23) & 0xFF) - 127 + 15;
          if (exp <= 0) {
            h = static_cast<std::uint16_t>(sign);
          } else {
            std::uint32_t m = (u & 0x7FFFFFu) + 0xFFFu + ((u >> 13) & 1u);  // nearest even
            std::uint32_t e = static_cast<std::uint32_t>(exp);
            if ((m & 0x800000u) != 0) {
              m = 0;
              ++e;
            }
            h = static_cast<std::uint16_t>(e >= 31 ? sign | 0x7C00u : sign | (e << 10) | (m >> 13));
          }
        }
        std::memcpy(bytes.data() + i * 2, &h, 2);
      }
    }
  };
  // Large tensors (embeddings, MLP matrices) are filled by several threads.
  const std::uint64_t workers =
      n < (1u << 22) ? 1 : std::clamp<std::uint64_t>(std::thread::hardware_concurrency(), 1, 32);
  if (workers == 1) {
    fill(0, n);
  } else {
    std::vector<std::thread> ts;
    const std::uint64_t per = (n + workers - 1) / workers;
    for (std::uint64_t w = 0; w < workers; ++w) {
      const std::uint64_t lo = std::min(n, w * per), hi = std::min(n, lo + per);
      ts.emplace_back(fill, lo, hi);
    }
    for (auto& t : ts) t.join();
  }
  return SourceTensor::owned(options_.dtype, s->shape, std::move(bytes));
}

}  // namespace hix::model
