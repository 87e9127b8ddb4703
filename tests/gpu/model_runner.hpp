// Running a compiled model (user_runtime/libhix/model) on a GpuSession: the
// weights staged (sealed in protected mode) into guest memory, the load
// program, and generate/prefill programs with their outputs read back.
// hix-model-run, hix-bench and the session test share it, so what they
// measure and check is one code path in both modes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model.hpp"
#include "session.hpp"

namespace hix::gpu_tools {

// A model's shape and where its weights come from.
struct ModelSource {
  model::ModelConfig config;
  std::unique_ptr<model::WeightSource> weights;
};

// DIR/config.json and DIR's weights: model.safetensors, or shards named by
// model.safetensors.index.json (Hugging Face names; model::open_checkpoint_dir).
model::Result<ModelSource> open_checkpoint(const std::string& dir);
// A preset shape with seeded random weights.
model::Result<ModelSource> open_preset(const std::string& name, std::uint64_t seed);

// VRAM and guest RAM a session needs to run `plan` (weights, activations,
// caches, staged weights, prompts and outputs), with room to spare.
std::uint64_t vram_for(const model::Plan& plan);
std::uint64_t guest_ram_for(const model::Plan& plan, bool sealed);

struct Generation {
  std::vector<std::int32_t> tokens;  // prompt then generated
  std::vector<float> last_logits;    // empty unless asked for
};

// A generate (or prefill-only) command buffer and where its outputs land.
struct GenerateJob {
  std::vector<std::byte> program;
  StagedTensor tokens;
  std::optional<StagedTensor> logits;
};

class ModelRunner {
 public:
  // Allocates the plan's buffers and stages every weight tensor (produced
  // from `weights` and, in protected mode, sealed in parallel). Not timed.
  static model::Result<std::unique_ptr<ModelRunner>> prepare(GpuSession& session, model::Plan plan,
                                                             const model::WeightSource& weights);

  const model::Plan& plan() const { return plan_; }
  const std::vector<StagedTensor>& staged_weights() const { return staged_; }
  GpuSession& session() { return session_; }

  // Submits the load command buffer(s). `seconds`: from the first submit to
  // the last completion. A sealed tensor that does not verify: AUTH_FAILED.
  Status load(double* seconds = nullptr);

  // Stages a prompt (sealed in protected mode) for generate jobs.
  model::Result<StagedTensor> stage_prompt(std::span<const std::int32_t> prompt);
  // Builds a job: prompt_len = prompt.bytes / 4; n_new tokens (prefill_only:
  // the prefill program, one token). batch > 1 (at most the plan's
  // options.batch): the batched program (n_new tokens per sequence; tokens
  // out: the prompt then [step][sequence]). Output room is taken from guest
  // memory.
  model::Result<GenerateJob> build(const StagedTensor& prompt, std::uint32_t n_new,
                                   bool want_logits, bool prefill_only = false,
                                   std::uint32_t batch = 1);
  // Submits a job; `seconds`: submit to completion.
  Status run(const GenerateJob& job, double* seconds = nullptr);
  model::Result<Generation> read(const GenerateJob& job);

  // prompt -> tokens (and last logits): stage, build, run, read.
  model::Result<Generation> generate(std::span<const std::int32_t> prompt, std::uint32_t n_new,
                                     bool want_logits, double* seconds = nullptr);

 private:
  ModelRunner(GpuSession& s, model::Plan plan) : session_(s), plan_(std::move(plan)) {}
  GpuSession& session_;
  model::Plan plan_;
  std::vector<std::uint32_t> handles_;
  std::vector<StagedTensor> staged_;
};

// hix-model-run's core: a session, the model loaded, one greedy generation.
struct RunOptions {
  BackendKind backend = BackendKind::cpu;
  Mode mode = Mode::protected_mode;
  const ModelSource* source = nullptr;
  model::RuntimeOptions runtime;
  std::vector<std::int32_t> prompt;
  std::uint32_t generate = 1;
};
struct RunOutput {
  BackendKind backend{};
  Mode mode{};
  std::vector<std::int32_t> tokens;  // prompt then generated
  std::vector<float> last_logits;    // of the step that produced the last token
  double load_s = 0;                 // submitting the load to its completion
  double generate_s = 0;
};
model::Result<RunOutput> run_model(const RunOptions& o);
// {"tokens", "last_logits", "backend", "mode", "load_s", "generate_s"}.
std::string run_json(const RunOutput& r);
// A JSON number for a float (null when not finite, as JSON has no NaN).
std::string json_number(double v);
// A JSON string literal, quoted and escaped.
std::string json_string(const std::string& s);

// "a,b,c" -> numbers; false on anything else.
bool parse_list(const std::string& s, std::vector<std::int64_t>& out);

}  // namespace hix::gpu_tools
