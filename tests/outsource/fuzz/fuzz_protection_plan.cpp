// libFuzzer target: arbitrary text as a protection plan
// (docs/specs/protection-plan.md), resolved against a GPT-2-small-shaped
// model's linear layers when it parses, and its exposure counted.
//
// Invariants (a violation traps): an accepted plan has at most the spec's
// rules and patterns, each pattern within its bound and alphabet, and every
// sampling fraction strictly between 0 and 1; a resolved plan gives every
// layer a placement, and a sampled layer round(P·n) sorted, distinct
// columns below n; the exposure's visible counts never exceed their totals.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "plan.hpp"

using namespace hix::outsource;

namespace {

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

ModelInventory gpt2_small() {
  constexpr std::uint64_t d = 768, f = 3072, vocab = 50257;
  ModelInventory m;
  m.params_total = 124439808;
  m.activations.push_back({"x0", d});
  for (int l = 0; l < 12; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    for (const char* t : {"ln_1", "ctx", "attn", "mid", "ln_2", "mlp", "out"}) {
      m.activations.push_back({p + t, d});
    }
    m.activations.push_back({p + "qkv", 3 * d});
    m.activations.push_back({p + "fc", f});
    m.activations.push_back({p + "gelu", f});
    m.linears.push_back({p + "attn.c_attn", d, 3 * d, p + "ln_1", p + "qkv"});
    m.linears.push_back({p + "attn.c_proj", d, d, p + "ctx", p + "attn"});
    m.linears.push_back({p + "mlp.c_fc", d, f, p + "ln_2", p + "fc"});
    m.linears.push_back({p + "mlp.c_proj", f, d, p + "gelu", p + "mlp"});
  }
  m.activations.push_back({"ln_f", d});
  m.activations.push_back({"logits", vocab});
  m.linears.push_back({"lm_head", d, vocab, "ln_f", "logits"});
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ModelInventory model = gpt2_small();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto plan = parse_plan(text);
  if (!plan) {
    CHECK(!plan.error().message.empty());
    return 0;
  }
  CHECK(plan->rules.size() <= kPlanMaxRules);
  CHECK(plan->name.size() <= kPlanMaxName);
  std::size_t patterns = 0;
  for (const PlanRule& r : plan->rules) {
    CHECK(!r.patterns.empty());
    if (r.placement == Placement::sampled) CHECK(r.fraction > 0 && r.fraction < 1);
    for (const std::string& p : r.patterns) {
      CHECK(!p.empty() && p.size() <= kPlanMaxPattern);
      CHECK(p.find_first_of(" \t#\n\r") == std::string::npos);
      ++patterns;
    }
  }
  CHECK(patterns <= kPlanMaxPatterns);
  // Sampling the 50257-column head costs a permutation per input: keep the
  // fuzzer's inputs to plans that resolve quickly by fixing a seed.
  ProtectionPlan seeded = *plan;
  if (!seeded.seed) seeded.seed = 1;
  const auto resolved = resolve(seeded, model);
  if (!resolved) return 0;
  CHECK(resolved->layers.size() == model.linears.size());
  for (std::size_t i = 0; i < model.linears.size(); ++i) {
    const LayerPlacement& l = resolved->layers[i];
    if (l.placement != Placement::sampled) {
      CHECK(l.protected_columns.empty());
      continue;
    }
    const std::size_t n = model.linears[i].n;
    CHECK(l.protected_columns.size() ==
          static_cast<std::size_t>(std::floor(l.fraction * static_cast<double>(n) + 0.5)));
    for (std::size_t j = 0; j < l.protected_columns.size(); ++j) {
      CHECK(l.protected_columns[j] < n);
      if (j > 0) CHECK(l.protected_columns[j - 1] < l.protected_columns[j]);
    }
  }
  const auto e = exposure(model, *resolved);
  CHECK(e);
  CHECK(e->linear_params_visible <= e->linear_params_total);
  CHECK(e->params_visible <= e->params_total);
  CHECK(e->activations_visible_per_token <= e->activations_per_token + 1e-6);
  CHECK(e->tee + e->blinded + e->exposed + e->sampled == model.linears.size());
  return 0;
}
