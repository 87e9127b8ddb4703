// The safetensors checkpoint format: an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the
// data. The reader validates strictly (the file is untrusted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "result.hpp"

namespace hix::model {

class WeightSource;

// Source tensor element types the compiler accepts.
enum class DType : std::uint8_t { f32, bf16, f16 };

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // "F32", "BF16", "F16"
// Parses a safetensors dtype string; other types (F64, I8, ...) are rejected.
Result<DType> parse_dtype(std::string_view s);

struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;  // byte range relative to the data section
  std::uint64_t end = 0;
  std::uint64_t elements() const;
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct SafetensorsHeader {
  std::uint64_t data_start = 0;     // 8 + header length
  std::vector<TensorInfo> tensors;  // in header order
  Metadata metadata;                // "__metadata__" (string values only)
  const TensorInfo* find(std::string_view name) const;
};

// Headers above this are rejected (the reference implementation's limit).
constexpr std::uint64_t kSafetensorsMaxHeader = 100ull << 20;

// Validates the whole file image: header length bound, JSON syntax, dtypes,
// shape product * element size == byte range, ranges inside the file, no
// overlaps, no duplicate names.
Result<SafetensorsHeader> parse_safetensors(std::span<const std::byte> file);

// A checkpoint mapped read-only.
class SafetensorsFile {
 public:
  static Result<SafetensorsFile> open(const std::string& path);
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const SafetensorsHeader& header() const { return header_; }
  std::span<const std::byte> bytes() const { return {base_, size_}; }
  // The tensor's bytes (already validated to lie inside the file).
  std::span<const std::byte> data(const TensorInfo& t) const;

 private:
  SafetensorsFile() = default;
  void release();
  const std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  SafetensorsHeader header_;
};

struct TensorData {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> bytes;
};

// A safetensors image of `tensors` (in this order, data 8-byte aligned).
Result<std::vector<std::byte>> serialize_safetensors(std::span<const TensorData> tensors,
                                                     const Metadata& metadata = {});
Check write_safetensors(const std::string& path, std::span<const TensorData> tensors,
                        const Metadata& metadata = {});
// Streams every tensor of `source` (its names() order) into a file, one
// tensor in memory at a time (large seeded checkpoints).
Check write_safetensors(const std::string& path, const WeightSource& source,
                        const Metadata& metadata = {});

}  // namespace hix::model
