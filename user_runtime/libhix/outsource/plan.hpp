// Protection plans (docs/specs/protection-plan.md): for every linear layer
// of a model run by a CPU TEE, whether its product stays inside the TEE, is
// blinded to an untrusted GPU, is computed there in the clear, or is split
// by output column (random sampling) — and what that gives the untrusted
// side, counted in parameters and per-token activations.
//
// The parser takes text from a file the user names; it checks every bound
// of the spec and reports the line of the first error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "outsource.hpp"

namespace hix::outsource {

enum class Placement : std::uint8_t { tee, blinded, exposed, sampled };

std::string_view to_string(Placement p);

struct PlanRule {
  Placement placement = Placement::tee;
  double fraction = 0;  // sampled: the protected share of the columns, 0 < P < 1
  std::vector<std::string> patterns;
  std::size_t line = 0;
};

struct ProtectionPlan {
  std::string name;
  std::optional<std::uint64_t> seed;
  Placement fallback = Placement::tee;  // the `default` line
  double fallback_fraction = 0;         // when the default is `sample P`
  std::vector<PlanRule> rules;
};

inline constexpr std::size_t kPlanMaxBytes = std::size_t{1} << 20;
inline constexpr std::size_t kPlanMaxLine = 4096;
inline constexpr std::size_t kPlanMaxRules = 4096;
inline constexpr std::size_t kPlanMaxPatterns = 4096;
inline constexpr std::size_t kPlanMaxPattern = 256;
inline constexpr std::size_t kPlanMaxName = 64;

Result<ProtectionPlan> parse_plan(std::string_view text);

// `*` matches any run of characters; everything else matches itself.
bool pattern_matches(std::string_view pattern, std::string_view name);

// A linear layer as the plan sees it: y [rows, n] = x [rows, k] · W [k, n],
// reading the activation tensor `input` and writing `output`.
struct LinearLayer {
  std::string name;
  std::size_t k = 0, n = 0;
  std::string input, output;
};

// One per-position activation tensor of the model and its width.
struct ActivationTensor {
  std::string name;
  std::uint64_t width = 0;
};

struct ModelInventory {
  std::uint64_t params_total = 0;  // every parameter once (tied weights once)
  std::vector<ActivationTensor> activations;
  std::vector<LinearLayer> linears;
};

struct LayerPlacement {
  Placement placement = Placement::tee;
  double fraction = 0;                           // sampled only
  std::vector<std::uint32_t> protected_columns;  // sampled only, sorted
};

struct ResolvedPlan {
  std::string name;
  std::uint64_t seed = 0;
  std::vector<LayerPlacement> layers;  // in inventory order
};

// Applies the plan to the model's linear layers (spec §3); a pattern that
// matches none of them is an error. Without a seed in the plan one is drawn.
Result<ResolvedPlan> resolve(const ProtectionPlan& plan, const ModelInventory& model);

// The protected columns of a sampled layer (spec §4): round(fraction·n),
// sorted.
std::vector<std::uint32_t> sampled_columns(std::size_t n, double fraction, std::uint64_t seed,
                                           std::string_view layer);

// A sampled layer's weights W [k, n] cut by output column: the columns the
// GPU computes in the clear (`open`) and those the TEE keeps (`kept`), both
// sorted, with their weights gathered: [k, open.size()] and [k, kept.size()].
struct ColumnSplit {
  std::size_t k = 0, n = 0;
  std::vector<std::uint32_t> open, kept;
  std::vector<float> open_weights, kept_weights;
};

// `kept` must be sorted, without repeats, each below n.
Result<ColumnSplit> split_columns(std::span<const float> w, std::size_t k, std::size_t n,
                                  std::span<const std::uint32_t> kept);

// The two parts' products: the GPU's [rows, open] and the TEE's [rows, kept].
struct ColumnProducts {
  std::span<const float> open, kept;
};

// y [rows, n] from the two parts' products.
void merge_columns(const ColumnSplit& split, std::size_t rows, ColumnProducts parts,
                   std::span<float> y);

struct Exposure {
  std::uint64_t params_total = 0, params_visible = 0;
  std::uint64_t linear_params_total = 0, linear_params_visible = 0;
  double activations_per_token = 0, activations_visible_per_token = 0;
  std::size_t tee = 0, blinded = 0, exposed = 0, sampled = 0;  // layers of each placement

  double params_fraction() const;
  double linear_params_fraction() const;
  double activations_fraction() const;
};

// What the plan gives the untrusted side (spec §5). The inventory's inputs
// and outputs must name its activation tensors.
Result<Exposure> exposure(const ModelInventory& model, const ResolvedPlan& plan);

// The report's JSON object (spec §5).
std::string exposure_json(const ResolvedPlan& plan, const Exposure& e);

}  // namespace hix::outsource
