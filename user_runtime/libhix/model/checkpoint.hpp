// A Hugging Face checkpoint directory: config.json and its weights, as one
// model.safetensors, a sharded model.safetensors.index.json (its weight_map
// names each tensor's shard) with the shards beside it, or a single
// *.safetensors file of another name. Every file is untrusted.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model_config.hpp"
#include "result.hpp"
#include "safetensors.hpp"
#include "weight_source.hpp"

namespace hix::model {

inline constexpr std::string_view kConfigFile = "config.json";
inline constexpr std::string_view kSingleWeightsFile = "model.safetensors";
inline constexpr std::string_view kShardIndexFile = "model.safetensors.index.json";
// Index and config files above this are refused (real ones are kilobytes).
inline constexpr std::size_t kCheckpointJsonMaxBytes = 16u << 20;

// The shards of a sharded checkpoint, mapped read-only. open() checks that
// the index names only plain file names in its own directory, that every
// named shard opens, and that each tensor is held by exactly the shard the
// index names: a tensor in two shards, a tensor the index does not name and
// a named tensor missing from its shard are errors.
class ShardedSafetensorsSource final : public WeightSource {
 public:
  static Result<std::unique_ptr<ShardedSafetensorsSource>> open(const std::string& index_path);
  std::vector<std::string> names() const override;
  Result<SourceTensor> get(std::string_view name) const override;
  const std::vector<std::string>& shard_names() const { return shard_names_; }

 private:
  ShardedSafetensorsSource() = default;
  std::vector<SafetensorsFile> shards_;
  std::vector<std::string> shard_names_;
  std::vector<std::string> names_;                            // the index's order
  std::map<std::string, std::size_t, std::less<>> shard_of_;  // tensor -> shard
};

struct Checkpoint {
  ModelConfig config;
  std::string config_json;                // config.json's bytes, unmodified
  std::unique_ptr<WeightSource> weights;  // SafetensorsSource or ShardedSafetensorsSource
  std::vector<std::string> weight_files;  // the files the weights come from
};

// DIR/config.json and DIR's weights: the index when there is one (with
// model.safetensors beside it: refused as ambiguous), else model.safetensors,
// else the only *.safetensors file (several: refused).
Result<Checkpoint> open_checkpoint_dir(const std::string& dir);

}  // namespace hix::model
