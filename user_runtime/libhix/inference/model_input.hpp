// Where the test client's model comes from (a preset shape with seeded
// weights, or a Hugging Face checkpoint), and the weights file that
// `hix-session-client seal-weights` writes for a VM disk: each device
// tensor's bytes — sealed under a model key for key slot 1 (protected), or
// as they are (plain) — at a 4096-aligned offset, and a sidecar FILE.json
// with the key, the ids and the offset table. The sidecar stays on the host
// (it holds the model key); only FILE goes into the VM.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model.hpp"
#include "session/keys.hpp"

namespace hix::inference {

struct ModelInput {
  model::ModelConfig config;
  std::unique_ptr<model::WeightSource> weights;
  std::string name;  // "tiny-gpt2 seed 1" or the checkpoint directory
};

// A preset shape with seeded weights (the seeded source's defaults, as
// hix-model-run --preset uses, so the two agree).
model::Result<ModelInput> open_preset(const std::string& preset, std::uint64_t seed);
// DIR/config.json and DIR/model.safetensors.
model::Result<ModelInput> open_checkpoint(const std::string& dir);

// The key slot and first tensor id model weights are sealed for.
inline constexpr std::uint32_t kModelKeySlot = 1;
inline constexpr std::uint64_t kFirstWeightId = 1;
inline constexpr std::uint64_t kFileAlign = 4096;

struct WeightsFileTensor {
  std::string name;
  std::uint64_t bytes = 0;   // plaintext
  std::uint64_t stored = 0;  // sealed size (protected) or bytes (plain)
  std::uint64_t offset = 0;  // in the file, 4096-aligned
};

struct WeightsFile {
  bool sealed = true;
  client::Key model_key{};  // sealed files only
  std::uint32_t key_slot = kModelKeySlot;
  std::uint64_t first_tensor_id = kFirstWeightId;
  std::string model;
  std::uint8_t weight_dtype = 0;
  std::uint64_t file_bytes = 0;  // a multiple of 4096
  std::vector<WeightsFileTensor> tensors;

  WeightsFile() = default;
  ~WeightsFile();  // wipes the key
  WeightsFile(const WeightsFile&) = default;
  WeightsFile& operator=(const WeightsFile&) = default;
  WeightsFile(WeightsFile&&) = default;
  WeightsFile& operator=(WeightsFile&&) = default;
};

// Bytes a tensor occupies in the file and in the window.
std::uint64_t stored_size(std::uint64_t bytes, bool sealed);
std::uint64_t padded(std::uint64_t bytes);

// Writes `path` and `path`.json for `plan`'s tensors from `source`, sealed
// under a fresh random model key unless `sealed` is false.
model::Result<WeightsFile> write_weights_file(const std::string& path, const model::Plan& plan,
                                              const model::WeightSource& source,
                                              const std::string& model_name, bool sealed);
// Reads `path`.json and checks it against `plan` (names, sizes, dtype).
model::Result<WeightsFile> read_weights_sidecar(const std::string& path, const model::Plan& plan);

}  // namespace hix::inference
