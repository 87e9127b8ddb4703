// The device layout of a model's weights: which weight buffer each device
// tensor lives in, at which offset, in which dtype, and how its plaintext
// is produced from the Hugging Face tensor (every linear becomes [out, in]
// for MATMUL with TRANS_B; GPT-2's fused c_attn is split into q, k, v).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model_config.hpp"
#include "result.hpp"
#include "weight_source.hpp"

namespace hix::model {

// Offsets of device tensors inside a weight buffer.
constexpr std::uint64_t kDeviceTensorAlign = 256;

enum class Transform : std::uint8_t {
  copy,                  // same element order as the source
  transpose,             // source [rows, cols] -> device [cols, rows]
  split_cols_transpose,  // source [in, 3*out]: columns part*out.. -> device [out, in]
  split_vec,             // source [3*n]: elements part*n..
};

struct DeviceTensor {
  std::string name;    // device name, e.g. "layers.3.wq"
  std::string source;  // HF name (GPT-2 without "transformer.")
  Transform transform = Transform::copy;
  std::uint32_t part = 0;                   // split index (0 q, 1 k, 2 v)
  std::vector<std::uint64_t> shape;         // device shape
  std::vector<std::uint64_t> source_shape;  // expected HF shape
  std::uint32_t buffer = 0;                 // weight buffer index (Plan::buffers[buffer])
  std::uint64_t offset = 0;                 // bytes, kDeviceTensorAlign-aligned
  std::uint8_t dtype = 0;                   // HIX_VGPU_DT_F32 or HIX_VGPU_DT_BF16
  std::uint64_t elements = 0;
  std::uint64_t bytes() const;
};

struct DeviceLayout {
  ModelConfig config;
  std::uint8_t dtype = 0;                   // weights' device dtype
  std::vector<DeviceTensor> tensors;        // load order
  std::vector<std::uint64_t> buffer_bytes;  // per weight buffer
  std::vector<std::string> buffer_names;    // "embed", "head", "layer.N"
  std::optional<std::size_t> find(std::string_view name) const;
};

// Weight buffers: "embed" (token and GPT-2 position embeddings), "head"
// (final norm, lm head unless tied), then one per layer.
Result<DeviceLayout> make_device_layout(const ModelConfig& c, std::uint8_t weight_dtype);

// Every tensor the layout needs is in `source` with the expected shape and
// an accepted dtype.
Check check_source(const DeviceLayout& layout, const WeightSource& source);

// Device tensor `index`'s plaintext (tensor.bytes() bytes): converted to the
// device dtype with round-to-nearest-even.
Result<std::vector<std::byte>> device_tensor_bytes(const DeviceLayout& layout, std::size_t index,
                                                   const WeightSource& source);
// The same into `out` (exactly tensor.bytes() bytes).
Check device_tensor_bytes_into(const DeviceLayout& layout, std::size_t index,
                               const WeightSource& source, std::span<std::byte> out);

}  // namespace hix::model
