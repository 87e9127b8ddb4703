// Sealing a model into a .hixm file (docs/specs/hixm.md §8): every device
// tensor in the hix-gpu §7.1 chunk format under a fresh random model key,
// the checkpoint's documents and the tensor table in the sealed manifest.
// Streams in bounded batches with every thread; writes nothing on failure.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "manifest.hpp"
#include "model_config.hpp"
#include "model_key.hpp"
#include "weight_source.hpp"

namespace hix::hixm {

inline constexpr std::string_view kTokenizerFile = "tokenizer.json";
inline constexpr std::string_view kTokenizerConfigFile = "tokenizer_config.json";
inline constexpr std::string_view kGenerationConfigFile = "generation_config.json";

struct SealStats {
  std::uint64_t plaintext_bytes = 0;  // device tensors' plaintext
  std::uint64_t file_bytes = 0;
  double seconds = 0;
  double mb_per_s = 0;  // plaintext MB (10^6 bytes) per second, reading to rename
  unsigned threads = 0;
};

struct SealOptions {
  std::uint8_t weight_dtype = 0;  // HIX_VGPU_DT_F32 or HIX_VGPU_DT_BF16
  unsigned threads = 0;           // 0: every core
};

struct Sealed {
  ModelKey key;  // the only copy: write it with write_key_file
  Manifest manifest;
  SealStats stats;
};

// The file's first bytes for `m` under `key`: the header (fresh random
// manifest nonce) and the sealed manifest (docs/specs/hixm.md §2-§4).
// m.model_id must be key.model_id and m laid out (lay_out).
Result<std::vector<std::uint8_t>> seal_manifest(const Manifest& m, const ModelKey& key);

// Seals `source`'s device tensors for `config` with `documents` (whose
// config.json must describe `config`) into `out_path`, through a temporary
// file beside it renamed into place.
Result<Sealed> seal_model(const model::ModelConfig& config, const model::WeightSource& source,
                          const Documents& documents, const std::string& out_path,
                          const SealOptions& options);

// A checkpoint directory (model::open_checkpoint_dir: config.json and
// model.safetensors, or a sharded index and its shards, or one
// *.safetensors), with tokenizer.json, tokenizer_config.json and
// generation_config.json when present.
Result<Sealed> seal_checkpoint(const std::string& model_dir, const std::filesystem::path& out_path,
                               const SealOptions& options);

}  // namespace hix::hixm
