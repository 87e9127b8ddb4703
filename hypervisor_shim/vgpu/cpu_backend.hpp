// The cpu reference backend: VRAM is an anonymous host mapping, every op is
// computed in fp32 (reductions accumulate in double) over f32 or bf16
// storage. Always built; what the cuda backend is checked against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend.hpp"

namespace hix::vgpu {

class CpuBackend final : public Backend {
 public:
  // The mapping is lazily zeroed by the kernel: a large VRAM costs nothing
  // until touched.
  static Result<std::unique_ptr<CpuBackend>> create(std::uint64_t vram_bytes);
  ~CpuBackend() override;
  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;

  std::string_view name() const override { return "cpu"; }
  std::uint64_t vram_size() const override { return size_; }

  Status write_bytes(VramOffset dst, std::span<const std::byte> src) override;
  Status read_bytes(VramOffset src, std::span<std::byte> dst) override;
  Status zero(VramOffset dst, std::uint64_t bytes) override;

  Status fill(const TensorArg& dst, std::uint32_t bits) override;
  Status copy(const TensorArg& dst, const TensorArg& src) override;
  Status embedding(const EmbeddingArgs& a) override;
  Status matmul(const MatmulArgs& a) override;
  Status binary(const BinaryArgs& a) override;
  Status layernorm(const NormArgs& a) override;
  Status rmsnorm(const NormArgs& a) override;
  Status unary(const UnaryArgs& a) override;
  Status softmax(const RowsArgs& a) override;
  Status rope(const RopeArgs& a) override;
  Status attention(const AttentionArgs& a) override;
  Status argmax(const RowsArgs& a) override;
  Status sample(const SampleArgs& a) override;

 private:
  CpuBackend(std::byte* base, std::uint64_t size) : base_(base), size_(size) {}
  // ATTENTION with HIX_VGPU_BATCH (spec §6.4.1).
  Status attention_batch(const AttentionArgs& a);
  // Elements [first, first+out.size()) of t, widened to f32.
  void load(const TensorArg& t, std::uint64_t first, std::span<float> out) const;
  std::vector<float> load(const TensorArg& t) const;
  void store(const TensorArg& t, std::uint64_t first, std::span<const float> in);
  std::vector<std::int32_t> load_i32(const TensorArg& t) const;
  void store_i32(const TensorArg& t, std::span<const std::int32_t> in);

  std::byte* base_;
  std::uint64_t size_;
};

}  // namespace hix::vgpu
