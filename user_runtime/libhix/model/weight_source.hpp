// Where weights come from: a tensor per Hugging Face name with its dtype,
// shape and bytes, either a safetensors checkpoint or a deterministic
// seeded generator that produces an architecture's names and layout.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model_config.hpp"
#include "result.hpp"
#include "safetensors.hpp"

namespace hix::model {

// One source tensor: a view into a mapped file, or bytes it owns.
class SourceTensor {
 public:
  SourceTensor() = default;
  static SourceTensor view(DType dtype, std::vector<std::uint64_t> shape,
                           std::span<const std::byte> bytes);
  static SourceTensor owned(DType dtype, std::vector<std::uint64_t> shape,
                            std::vector<std::byte> bytes);
  DType dtype() const { return dtype_; }
  const std::vector<std::uint64_t>& shape() const { return shape_; }
  std::span<const std::byte> bytes() const { return owned_.empty() ? view_ : owned_; }
  std::uint64_t elements() const;
  // Element i widened to float (f32, bf16 exact; f16 exact).
  float at(std::uint64_t i) const;

 private:
  DType dtype_ = DType::f32;
  std::vector<std::uint64_t> shape_;
  std::span<const std::byte> view_;
  std::vector<std::byte> owned_;
};

// A tensor name and shape of an architecture (its Hugging Face layout).
struct TensorSpec {
  std::string name;
  std::vector<std::uint64_t> shape;
};

// Every tensor a checkpoint of this config holds, HF names and shapes:
// GPT-2 without the "transformer." prefix (Conv1D weights [in, out], c_attn
// q|k|v fused along out); the rotary families model.* (Qwen2 with q/k/v
// biases) and lm_head.weight unless tied.
std::vector<TensorSpec> hf_tensor_specs(const ModelConfig& c);

struct SourceInfo {
  DType dtype = DType::f32;
  std::vector<std::uint64_t> shape;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::vector<std::string> names() const = 0;
  // The tensor called `name`; GPT-2 names are also found with or without
  // the "transformer." prefix.
  virtual Result<SourceTensor> get(std::string_view name) const = 0;
  // Dtype and shape alone; the default fetches the tensor.
  virtual Result<SourceInfo> describe(std::string_view name) const;
};

class SafetensorsSource final : public WeightSource {
 public:
  explicit SafetensorsSource(SafetensorsFile file) : file_(std::move(file)) {}
  static Result<std::unique_ptr<SafetensorsSource>> open(const std::string& path);
  std::vector<std::string> names() const override;
  Result<SourceTensor> get(std::string_view name) const override;
  const SafetensorsFile& file() const { return file_; }

 private:
  SafetensorsFile file_;
};

struct SeededOptions {
  std::uint64_t seed = 1;
  DType dtype = DType::bf16;  // f32 or bf16 (f16 also works)
  float std = 0.02f;          // matrices and embeddings: ~normal(0, std)
  float norm_jitter = 0.02f;  // norm gammas: 1 + ~normal(0, norm_jitter)
  float bias_std = 0.02f;     // biases and norm betas: ~normal(0, bias_std)
};

// Deterministic per (seed, tensor name): a counter-based hash per element,
// so any tensor can be produced alone, in any order, quickly.
class SeededSource final : public WeightSource {
 public:
  SeededSource(const ModelConfig& config, const SeededOptions& options);
  std::vector<std::string> names() const override;
  Result<SourceTensor> get(std::string_view name) const override;
  Result<SourceInfo> describe(std::string_view name) const override;

 private:
  const TensorSpec* spec(std::string_view name) const;
  ModelConfig config_;
  SeededOptions options_;
  std::vector<TensorSpec> specs_;
};

}  // namespace hix::model
