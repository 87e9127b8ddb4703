// Device weight layout: device tensors packed into weight buffers, and the
// conversion of Hugging Face tensors into them.
#include "device_layout.hpp"

#include <cstring>

#include "hix/abi/vgpu_cmd.h"
#include "hix/vgpu/bf16.hpp"

namespace hix::model {

namespace {

std::uint64_t product(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::uint64_t DeviceTensor::bytes() const {
  return elements * hix_vgpu_dtype_bytes(dtype);
}

std::optional<std::size_t> DeviceLayout::find(std::string_view name) const {
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].name == name) return i;
  }
  return std::nullopt;
}

Result<DeviceLayout> make_device_layout(const ModelConfig& c, std::uint8_t weight_dtype) {
  if (auto v = validate(c); !v) return v.error();
  if (weight_dtype != HIX_VGPU_DT_F32 && weight_dtype != HIX_VGPU_DT_BF16) {
    return fail("layout: weight dtype must be f32 or bf16");
  }
  DeviceLayout lay;
  lay.config = c;
  lay.dtype = weight_dtype;
  lay.buffer_names = {"embed", "head"};
  for (std::uint32_t l = 0; l < c.layers; ++l)
    lay.buffer_names.push_back("layer." + std::to_string(l));
  lay.buffer_bytes.assign(lay.buffer_names.size(), 0);

  const auto add = [&](std::uint32_t buffer, std::string name, std::string source, Transform t,
                       std::uint32_t part, std::vector<std::uint64_t> shape,
                       std::vector<std::uint64_t> source_shape) {
    DeviceTensor d;
    d.name = std::move(name);
    d.source = std::move(source);
    d.transform = t;
    d.part = part;
    d.elements = product(shape);
    d.shape = std::move(shape);
    d.source_shape = std::move(source_shape);
    d.buffer = buffer;
    d.dtype = weight_dtype;
    std::uint64_t& used = lay.buffer_bytes[buffer];
    d.offset = (used + kDeviceTensorAlign - 1) / kDeviceTensorAlign * kDeviceTensorAlign;
    used = d.offset + d.bytes();
    lay.tensors.push_back(std::move(d));
  };
  const auto copy = [&](std::uint32_t buffer, std::string name, std::string source,
                        const std::vector<std::uint64_t>& shape) {
    add(buffer, std::move(name), std::move(source), Transform::copy, 0, shape, shape);
  };

  const std::uint64_t d = c.dim, m = c.mlp, v = c.vocab;
  if (c.arch == Arch::gpt2) {
    copy(0, "wte", "wte.weight", {v, d});
    copy(0, "wpe", "wpe.weight", {c.max_pos, d});
    copy(1, "ln_f.g", "ln_f.weight", {d});
    copy(1, "ln_f.b", "ln_f.bias", {d});
    for (std::uint32_t l = 0; l < c.layers; ++l) {
      const std::uint32_t b = 2 + l;
      const std::string p = "layers." + std::to_string(l) + ".";
      const std::string h = "h." + std::to_string(l) + ".";
      copy(b, p + "ln1.g", h + "ln_1.weight", {d});
      copy(b, p + "ln1.b", h + "ln_1.bias", {d});
      static constexpr const char* kQkv[] = {"q", "k", "v"};
      for (std::uint32_t part = 0; part < 3; ++part) {
        add(b, p + "w" + kQkv[part], h + "attn.c_attn.weight", Transform::split_cols_transpose,
            part, {d, d}, {d, 3 * d});
        add(b, p + "b" + kQkv[part], h + "attn.c_attn.bias", Transform::split_vec, part, {d},
            {3 * d});
      }
      // Conv1D weights are [in, out]; the device wants [out, in] (TRANS_B).
      add(b, p + "wo", h + "attn.c_proj.weight", Transform::transpose, 0, {d, d}, {d, d});
      copy(b, p + "bo", h + "attn.c_proj.bias", {d});
      copy(b, p + "ln2.g", h + "ln_2.weight", {d});
      copy(b, p + "ln2.b", h + "ln_2.bias", {d});
      add(b, p + "w1", h + "mlp.c_fc.weight", Transform::transpose, 0, {m, d}, {d, m});
      copy(b, p + "b1", h + "mlp.c_fc.bias", {m});
      add(b, p + "w2", h + "mlp.c_proj.weight", Transform::transpose, 0, {d, m}, {m, d});
      copy(b, p + "b2", h + "mlp.c_proj.bias", {d});
    }
    return lay;
  }
  const std::uint64_t qd = std::uint64_t{c.heads} * c.head_dim;
  const std::uint64_t kvd = std::uint64_t{c.kv_heads} * c.head_dim;
  copy(0, "embed", "model.embed_tokens.weight", {v, d});
  copy(1, "norm", "model.norm.weight", {d});
  if (!c.tied_embeddings) copy(1, "lm_head", "lm_head.weight", {v, d});
  for (std::uint32_t l = 0; l < c.layers; ++l) {
    const std::uint32_t b = 2 + l;
    const std::string p = "layers." + std::to_string(l) + ".";
    const std::string h = "model.layers." + std::to_string(l) + ".";
    // nn.Linear weights are already [out, in].
    copy(b, p + "attn_norm", h + "input_layernorm.weight", {d});
    copy(b, p + "wq", h + "self_attn.q_proj.weight", {qd, d});
    copy(b, p + "wk", h + "self_attn.k_proj.weight", {kvd, d});
    copy(b, p + "wv", h + "self_attn.v_proj.weight", {kvd, d});
    if (qkv_bias(c)) {
      copy(b, p + "bq", h + "self_attn.q_proj.bias", {qd});
      copy(b, p + "bk", h + "self_attn.k_proj.bias", {kvd});
      copy(b, p + "bv", h + "self_attn.v_proj.bias", {kvd});
    }
    copy(b, p + "wo", h + "self_attn.o_proj.weight", {d, qd});
    copy(b, p + "mlp_norm", h + "post_attention_layernorm.weight", {d});
    copy(b, p + "w_gate", h + "mlp.gate_proj.weight", {m, d});
    copy(b, p + "w_up", h + "mlp.up_proj.weight", {m, d});
    copy(b, p + "w_down", h + "mlp.down_proj.weight", {d, m});
  }
  return lay;
}

namespace {

Result<SourceTensor> fetch(const DeviceTensor& t, const WeightSource& source) {
  auto s = source.get(t.source);
  if (!s) return s.error();
  if (s->shape() != t.source_shape) {
    return fail("tensor \"" + t.source + "\" has shape " + shape_str(s->shape()) + ", expected " +
                shape_str(t.source_shape));
  }
  if (s->bytes().size() != s->elements() * dtype_size(s->dtype())) {
    return fail("tensor \"" + t.source + "\" has the wrong byte count");
  }
  return s;
}

}  // namespace

Check check_source(const DeviceLayout& layout, const WeightSource& source) {
  for (const auto& t : layout.tensors) {
    auto s = source.describe(t.source);
    if (!s) return s.error();
    if (s->shape != t.source_shape) {
      return fail("tensor \"" + t.source + "\" has shape " + shape_str(s->shape) + ", expected " +
                  shape_str(t.source_shape));
    }
  }
  return Unit{};
}

Check device_tensor_bytes_into(const DeviceLayout& layout, std::size_t index,
                               const WeightSource& source, std::span<std::byte> out) {
  if (index >= layout.tensors.size())
    return fail("layout: no device tensor " + std::to_string(index));
  const DeviceTensor& t = layout.tensors[index];
  if (out.size() != t.bytes()) return fail("layout: output span has the wrong size for " + t.name);
  auto src = fetch(t, source);
  if (!src) return src.error();
  const SourceTensor& s = *src;

  // Same storage type and order: a plain copy.
  const bool same_type = (s.dtype() == DType::f32 && t.dtype == HIX_VGPU_DT_F32) ||
                         (s.dtype() == DType::bf16 && t.dtype == HIX_VGPU_DT_BF16);
  if (t.transform == Transform::copy && same_type) {
    std::memcpy(out.data(), s.bytes().data(), out.size());
    return Unit{};
  }
  const auto put = [&](std::uint64_t i, float v) {
    if (t.dtype == HIX_VGPU_DT_BF16) {
      const std::uint16_t h = vgpu::f32_to_bf16(v);
      std::memcpy(out.data() + i * 2, &h, 2);
    } else {
      std::memcpy(out.data() + i * 4, &v, 4);
    }
  };
  switch (t.transform) {
    case Transform::copy:
      for (std::uint64_t i = 0; i < t.elements; ++i) put(i, s.at(i));
      break;
    case Transform::transpose: {
      // source [rows, cols] -> device [cols, rows]
      const std::uint64_t rows = t.source_shape[0], cols = t.source_shape[1];
      for (std::uint64_t r = 0; r < rows; ++r) {
        for (std::uint64_t col = 0; col < cols; ++col) put(col * rows + r, s.at(r * cols + col));
      }
      break;
    }
    case Transform::split_cols_transpose: {
      // source [in, 3*out], columns part*out..(part+1)*out -> device [out, in]
      const std::uint64_t in = t.source_shape[0], cols = t.source_shape[1], n = t.shape[0];
      for (std::uint64_t r = 0; r < in; ++r) {
        for (std::uint64_t o = 0; o < n; ++o) put(o * in + r, s.at(r * cols + t.part * n + o));
      }
      break;
    }
    case Transform::split_vec:
      for (std::uint64_t i = 0; i < t.elements; ++i) put(i, s.at(t.part * t.elements + i));
      break;
  }
  return Unit{};
}

Result<std::vector<std::byte>> device_tensor_bytes(const DeviceLayout& layout, std::size_t index,
                                                   const WeightSource& source) {
  if (index >= layout.tensors.size())
    return fail("layout: no device tensor " + std::to_string(index));
  std::vector<std::byte> out(layout.tensors[index].bytes());
  if (auto r = device_tensor_bytes_into(layout, index, source, out); !r) return r.error();
  return out;
}

}  // namespace hix::model
