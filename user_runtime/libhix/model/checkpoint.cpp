// Hugging Face checkpoint directories: single-file and sharded safetensors
// weights beside config.json.
#include "checkpoint.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "json.hpp"

namespace hix::model {

namespace {

constexpr std::string_view kGpt2Prefix = "transformer.";
constexpr std::string_view kSafetensorsSuffix = ".safetensors";
constexpr std::size_t kShardNameMaxBytes = 255;

Result<std::string> read_small_file(const std::string& path, std::size_t limit) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return fail(path + " is not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail("cannot read " + path + ": " + ec.message());
  if (size > limit) {
    return fail(path + " is " + std::to_string(size) + " bytes, above the limit of " +
                std::to_string(limit));
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return fail("cannot open " + path);
  std::ostringstream s;
  s << f.rdbuf();
  if (!f && !f.eof()) return fail("cannot read " + path);
  std::string text = std::move(s).str();
  if (text.size() > limit) return fail(path + " grew above the limit while being read");
  return text;
}

// A shard must be a plain file name in the index's own directory.
bool plain_file_name(std::string_view n) {
  if (n.empty() || n.size() > kShardNameMaxBytes || n == "." || n == "..") return false;
  if (!n.ends_with(kSafetensorsSuffix)) return false;
  return std::none_of(n.begin(), n.end(), [](char c) { return c == '/' || c == '\\' || c == 0; });
}

std::string shown(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7F) ? '?' : c;
  }
  return out + "\"";
}

}  // namespace

Result<std::unique_ptr<ShardedSafetensorsSource>> ShardedSafetensorsSource::open(
    const std::string& index_path) {
  const std::string where = "sharded checkpoint " + index_path + ": ";
  auto text = read_small_file(index_path, kCheckpointJsonMaxBytes);
  if (!text) return fail(where + text.why());
  auto json = parse_json(*text);
  if (!json) return fail(where + json.why());
  if (json->kind != JsonValue::Kind::object) return fail(where + "the index is not a JSON object");
  const JsonValue* map = nullptr;
  for (const auto& [key, value] : json->object) {
    if (key == "weight_map") {
      map = &value;
    } else if (key != "metadata") {
      return fail(where + "unknown key " + shown(key) + " (metadata and weight_map expected)");
    }
  }
  if (map == nullptr || map->kind != JsonValue::Kind::object || map->object.empty()) {
    return fail(where + "weight_map is missing, not an object or empty");
  }

  std::unique_ptr<ShardedSafetensorsSource> src(new ShardedSafetensorsSource());
  const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  std::map<std::string, std::size_t, std::less<>> shard_index;
  for (const auto& [tensor, shard] : map->object) {
    if (tensor.empty()) return fail(where + "weight_map names an empty tensor name");
    if (shard.kind != JsonValue::Kind::string) {
      return fail(where + "the shard of tensor " + shown(tensor) + " is not a string");
    }
    if (!plain_file_name(shard.string)) {
      return fail(where + "the shard " + shown(shard.string) + " of tensor " + shown(tensor) +
                  " is not a *.safetensors file name in the checkpoint's directory");
    }
    auto [it, inserted] = shard_index.try_emplace(shard.string, src->shards_.size());
    if (inserted) {
      auto f = SafetensorsFile::open((dir / shard.string).string());
      if (!f) {
        return fail(where + "the shard " + shown(shard.string) + " of tensor " + shown(tensor) +
                    ": " + f.why());
      }
      src->shards_.push_back(std::move(*f));
      src->shard_names_.push_back(shard.string);
    }
    src->names_.push_back(tensor);
    src->shard_of_.emplace(tensor, it->second);  // JSON keys are unique
  }
  // Each named tensor is in its shard; each shard's tensors are named for it.
  for (const auto& [tensor, s] : src->shard_of_) {
    if (src->shards_[s].header().find(tensor) == nullptr) {
      return fail(where + "the index maps tensor " + shown(tensor) + " to shard " +
                  shown(src->shard_names_[s]) + ", which does not hold it");
    }
  }
  for (std::size_t s = 0; s < src->shards_.size(); ++s) {
    for (const auto& t : src->shards_[s].header().tensors) {
      const auto it = src->shard_of_.find(t.name);
      if (it == src->shard_of_.end()) {
        return fail(where + "shard " + shown(src->shard_names_[s]) + " holds tensor " +
                    shown(t.name) + ", which the index does not name");
      }
      if (it->second != s) {
        return fail(where + "tensor " + shown(t.name) + " is in two shards, " +
                    shown(src->shard_names_[it->second]) + " and " + shown(src->shard_names_[s]));
      }
    }
  }
  return src;
}

std::vector<std::string> ShardedSafetensorsSource::names() const {
  return names_;
}

Result<SourceTensor> ShardedSafetensorsSource::get(std::string_view name) const {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end()) it = shard_of_.find(std::string(kGpt2Prefix) + std::string(name));
  if (it == shard_of_.end() && name.starts_with(kGpt2Prefix)) {
    it = shard_of_.find(name.substr(kGpt2Prefix.size()));
  }
  if (it == shard_of_.end()) return fail("checkpoint has no tensor " + shown(name));
  const SafetensorsFile& f = shards_[it->second];
  const TensorInfo* t = f.header().find(it->first);
  if (t == nullptr) return fail("checkpoint has no tensor " + shown(name));  // checked at open
  return SourceTensor::view(t->dtype, t->shape, f.data(*t));
}

Result<Checkpoint> open_checkpoint_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return fail("checkpoint: " + dir + " is not a directory");
  Checkpoint cp;
  auto text = read_small_file((root / kConfigFile).string(), kCheckpointJsonMaxBytes);
  if (!text) return fail("checkpoint: " + text.why());
  auto cfg = parse_config_json(*text);
  if (!cfg) return fail("checkpoint: " + (root / kConfigFile).string() + ": " + cfg.why());
  cp.config = *cfg;
  cp.config_json = std::move(*text);

  const fs::path index = root / kShardIndexFile;
  const fs::path single = root / kSingleWeightsFile;
  const bool have_index = fs::exists(index, ec);
  const bool have_single = fs::exists(single, ec);
  if (have_index && have_single) {
    return fail("checkpoint: " + dir + " holds both " + std::string(kSingleWeightsFile) + " and " +
                std::string(kShardIndexFile) + ": which weights are meant is ambiguous");
  }
  if (have_index) {
    auto src = ShardedSafetensorsSource::open(index.string());
    if (!src) return src.error();
    for (const auto& s : (*src)->shard_names()) cp.weight_files.push_back((root / s).string());
    cp.weights = std::move(*src);
    return cp;
  }
  fs::path weights = single;
  if (!have_single) {
    std::set<std::string> found;  // sorted, for a stable message
    for (const auto& e : fs::directory_iterator(root, ec)) {
      const std::string n = e.path().filename().string();
      if (n.ends_with(kSafetensorsSuffix)) found.insert(n);
    }
    if (ec) return fail("checkpoint: cannot list " + dir + ": " + ec.message());
    if (found.empty()) {
      return fail("checkpoint: " + dir + " has no " + std::string(kSingleWeightsFile) + ", no " +
                  std::string(kShardIndexFile) + " and no other *.safetensors file");
    }
    if (found.size() > 1) {
      std::string list;
      for (const auto& n : found) list += (list.empty() ? "" : ", ") + n;
      return fail("checkpoint: " + dir + " has several *.safetensors files (" + list + ") and no " +
                  std::string(kShardIndexFile) + " to say how they go together");
    }
    weights = root / *found.begin();
  }
  auto src = SafetensorsSource::open(weights.string());
  if (!src) return fail("checkpoint: " + src.why());
  cp.weight_files.push_back(weights.string());
  cp.weights = std::move(*src);
  return cp;
}

}  // namespace hix::model
