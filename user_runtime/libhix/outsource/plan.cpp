#include "plan.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <utility>

namespace hix::outsource {
namespace {

constexpr std::string_view kMagic = "hix-protection-plan";
constexpr unsigned kMaxFractionDigits = 9;
constexpr unsigned kMaxSeedDigits = 20;

Error at(std::size_t line, const std::string& what) {
  return Error{"protection plan, line " + std::to_string(line) + ": " + what};
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::vector<std::string_view> tokens_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// 0 < P < 1 written as digits, one point and at most nine digits after it.
std::optional<double> parse_fraction(std::string_view s) {
  const std::size_t point = s.find('.');
  if (point == std::string_view::npos) return std::nullopt;
  const std::string_view whole = s.substr(0, point);
  const std::string_view frac = s.substr(point + 1);
  if (frac.empty() || frac.size() > kMaxFractionDigits || whole.size() > 1) return std::nullopt;
  if (!std::all_of(whole.begin(), whole.end(), is_digit) ||
      !std::all_of(frac.begin(), frac.end(), is_digit)) {
    return std::nullopt;
  }
  if (!whole.empty() && whole[0] != '0') return std::nullopt;  // 1.0 and above
  std::uint64_t num = 0;
  std::uint64_t den = 1;
  for (const char c : frac) {
    num = num * 10 + static_cast<std::uint64_t>(c - '0');
    den *= 10;
  }
  if (num == 0) return std::nullopt;
  return static_cast<double>(num) / static_cast<double>(den);
}

std::optional<std::uint64_t> parse_seed(std::string_view s) {
  if (s.empty() || s.size() > kMaxSeedDigits || !std::all_of(s.begin(), s.end(), is_digit)) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (const char c : s) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<Placement> placement_of(std::string_view word) {
  if (word == "tee") return Placement::tee;
  if (word == "blinded") return Placement::blinded;
  if (word == "exposed") return Placement::exposed;
  if (word == "sample") return Placement::sampled;
  return std::nullopt;
}

// A placement and its operands from `words` (the keyword first); the number
// of words it took, or an error.
struct ParsedPlacement {
  Placement placement = Placement::tee;
  double fraction = 0;
  std::size_t used = 0;
};

Result<ParsedPlacement> parse_placement(std::span<const std::string_view> words, std::size_t line) {
  const auto p = placement_of(words[0]);
  if (!p) {
    return at(line, "unknown keyword '" + std::string(words[0]) +
                        "' (expected tee, blinded, exposed or sample)");
  }
  ParsedPlacement r{*p, 0, 1};
  if (*p == Placement::sampled) {
    if (words.size() < 2) return at(line, "sample needs a fraction P with 0 < P < 1");
    const auto f = parse_fraction(words[1]);
    if (!f) {
      return at(line, "'" + std::string(words[1]) +
                          "' is not a fraction 0 < P < 1 (digits, one point, at most 9 "
                          "decimals; write 0 as exposed and 1 as tee)");
    }
    r.fraction = *f;
    r.used = 2;
  }
  return r;
}

std::string fixed(double v) {
  std::array<char, 32> b{};
  std::snprintf(b.data(), b.size(), "%.6f", v);
  return b.data();
}

}  // namespace

std::string_view to_string(Placement p) {
  switch (p) {
    case Placement::tee:
      return "tee";
    case Placement::blinded:
      return "blinded";
    case Placement::exposed:
      return "exposed";
    case Placement::sampled:
      return "sample";
  }
  return "?";
}

Result<ProtectionPlan> parse_plan(std::string_view text) {
  if (text.size() > kPlanMaxBytes) {
    return Error{"protection plan: " + std::to_string(text.size()) + " bytes, over the " +
                 std::to_string(kPlanMaxBytes) + "-byte bound"};
  }
  ProtectionPlan plan;
  bool magic = false;
  bool have_name = false;
  bool have_default = false;
  std::size_t patterns = 0;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kPlanMaxLine) {
      return at(line_no, std::to_string(line.size()) + " bytes, over the " +
                             std::to_string(kPlanMaxLine) + "-byte bound");
    }
    if (line.find('\0') != std::string_view::npos) return at(line_no, "a NUL byte");
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const auto words = tokens_of(line);
    if (words.empty()) {
      if (end == text.size()) break;
      continue;
    }
    const std::string_view key = words[0];
    if (!magic) {
      if (key != kMagic || words.size() != 2) {
        return at(line_no, "expected the first line 'hix-protection-plan 1'");
      }
      if (words[1] != "1") {
        return at(line_no, "revision '" + std::string(words[1]) +
                               "' is not supported (this reader knows revision 1)");
      }
      magic = true;
      continue;
    }
    const bool header = key == "name" || key == "seed" || key == "default";
    if (header && !plan.rules.empty()) {
      return at(line_no, "'" + std::string(key) + "' must come before the first rule");
    }
    if (key == kMagic) return at(line_no, "a second 'hix-protection-plan' line");
    if (key == "name") {
      if (have_name) return at(line_no, "a second 'name' line");
      if (words.size() != 2) return at(line_no, "name takes one word");
      const std::string_view n = words[1];
      if (n.size() > kPlanMaxName || !std::all_of(n.begin(), n.end(), is_name_char)) {
        return at(line_no, "a name is 1-64 letters, digits, '.', '_' or '-'");
      }
      plan.name = std::string(n);
      have_name = true;
    } else if (key == "seed") {
      if (plan.seed) return at(line_no, "a second 'seed' line");
      if (words.size() != 2) return at(line_no, "seed takes one number");
      plan.seed = parse_seed(words[1]);
      if (!plan.seed) return at(line_no, "the seed is a decimal number below 2^64");
    } else if (key == "default") {
      if (have_default) return at(line_no, "a second 'default' line");
      if (words.size() < 2) return at(line_no, "default needs a placement");
      auto p = parse_placement(std::span(words).subspan(1), line_no);
      if (!p) return p.error();
      if (p->used + 1 != words.size()) return at(line_no, "default takes one placement");
      plan.fallback = p->placement;
      plan.fallback_fraction = p->fraction;
      have_default = true;
    } else {
      auto p = parse_placement(words, line_no);
      if (!p) return p.error();
      if (p->used == words.size()) return at(line_no, "a rule needs at least one pattern");
      if (plan.rules.size() == kPlanMaxRules) {
        return at(line_no, "more than " + std::to_string(kPlanMaxRules) + " rules");
      }
      PlanRule rule{p->placement, p->fraction, {}, line_no};
      for (std::size_t i = p->used; i < words.size(); ++i) {
        const std::string_view pat = words[i];
        const bool ok =
            pat.size() <= kPlanMaxPattern &&
            std::all_of(pat.begin(), pat.end(), [](char c) { return is_name_char(c) || c == '*'; });
        if (!ok) {
          return at(line_no, "a pattern is 1-256 letters, digits, '.', '_', '-' or '*'");
        }
        if (++patterns > kPlanMaxPatterns) {
          return at(line_no, "more than " + std::to_string(kPlanMaxPatterns) + " patterns");
        }
        rule.patterns.emplace_back(pat);
      }
      plan.rules.push_back(std::move(rule));
    }
    if (end == text.size()) break;
  }
  if (!magic) return Error{"protection plan: empty (expected 'hix-protection-plan 1')"};
  return plan;
}

bool pattern_matches(std::string_view pattern, std::string_view name) {
  // Greedy with one backtrack point: the last `*` seen and where the name
  // stood when it was taken.
  std::size_t p = 0;
  std::size_t n = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::vector<std::uint32_t> sampled_columns(std::size_t n, double fraction, std::uint64_t seed,
                                           std::string_view layer) {
  if (n == 0) return {};
  std::array<unsigned char, 8> seed_bytes{};
  for (std::size_t i = 0; i < seed_bytes.size(); ++i) {
    seed_bytes[i] = static_cast<unsigned char>(seed >> (8 * i));
  }
  std::array<unsigned char, randombytes_SEEDBYTES> key{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, key.size());
  crypto_generichash_update(&st, seed_bytes.data(), seed_bytes.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(layer.data()),
                            layer.size());
  crypto_generichash_final(&st, key.data(), key.size());
  std::vector<unsigned char> stream((n - 1) * 8);
  if (!stream.empty()) randombytes_buf_deterministic(stream.data(), stream.size(), key.data());
  std::vector<std::uint32_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0u);
  std::size_t off = 0;
  for (std::size_t j = n - 1; j >= 1; --j, off += 8) {
    std::uint64_t r = 0;
    for (std::size_t b = 0; b < 8; ++b) r |= std::uint64_t{stream[off + b]} << (8 * b);
    std::swap(perm[j], perm[r % (j + 1)]);
  }
  const auto count = static_cast<std::size_t>(std::floor(fraction * static_cast<double>(n) + 0.5));
  perm.resize(std::min(count, n));
  std::sort(perm.begin(), perm.end());
  return perm;
}

Result<ResolvedPlan> resolve(const ProtectionPlan& plan, const ModelInventory& model) {
  if (sodium_init() < 0) return Error{"protection plan: no randomness (sodium_init failed)"};
  ResolvedPlan r;
  r.name = plan.name;
  if (plan.seed) {
    r.seed = *plan.seed;
  } else {
    randombytes_buf(&r.seed, sizeof r.seed);
  }
  r.layers.assign(model.linears.size(), LayerPlacement{plan.fallback, plan.fallback_fraction, {}});
  for (const PlanRule& rule : plan.rules) {
    for (const std::string& pat : rule.patterns) {
      bool matched = false;
      for (std::size_t i = 0; i < model.linears.size(); ++i) {
        if (!pattern_matches(pat, model.linears[i].name)) continue;
        r.layers[i] = LayerPlacement{rule.placement, rule.fraction, {}};
        matched = true;
      }
      if (!matched) {
        return at(rule.line, "pattern '" + pat + "' matches no linear layer of the model");
      }
    }
  }
  for (std::size_t i = 0; i < model.linears.size(); ++i) {
    LayerPlacement& l = r.layers[i];
    if (l.placement != Placement::sampled) continue;
    l.protected_columns =
        sampled_columns(model.linears[i].n, l.fraction, r.seed, model.linears[i].name);
  }
  return r;
}

Result<ColumnSplit> split_columns(std::span<const float> w, std::size_t k, std::size_t n,
                                  std::span<const std::uint32_t> kept) {
  if (k == 0 || n == 0 || w.size() != k * n) return Error{"split: weights must be [k, n]"};
  ColumnSplit s;
  s.k = k;
  s.n = n;
  std::size_t next = 0;
  for (std::uint32_t j = 0; j < n; ++j) {
    if (next < kept.size() && kept[next] == j) {
      s.kept.push_back(j);
      ++next;
    } else {
      s.open.push_back(j);
    }
  }
  if (next != kept.size()) return Error{"split: kept columns must be sorted, distinct and below n"};
  const auto gather = [&](const std::vector<std::uint32_t>& cols, std::vector<float>& out) {
    out.resize(k * cols.size());
    for (std::size_t c = 0; c < k; ++c) {
      for (std::size_t j = 0; j < cols.size(); ++j) out[c * cols.size() + j] = w[c * n + cols[j]];
    }
  };
  gather(s.open, s.open_weights);
  gather(s.kept, s.kept_weights);
  return s;
}

void merge_columns(const ColumnSplit& split, std::size_t rows, ColumnProducts parts,
                   std::span<float> y) {
  const std::size_t no = split.open.size();
  const std::size_t nk = split.kept.size();
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < no; ++j) y[i * split.n + split.open[j]] = parts.open[i * no + j];
    for (std::size_t j = 0; j < nk; ++j) y[i * split.n + split.kept[j]] = parts.kept[i * nk + j];
  }
}

double Exposure::params_fraction() const {
  return params_total != 0 ? static_cast<double>(params_visible) / static_cast<double>(params_total)
                           : 0;
}

double Exposure::linear_params_fraction() const {
  return linear_params_total != 0
             ? static_cast<double>(linear_params_visible) / static_cast<double>(linear_params_total)
             : 0;
}

double Exposure::activations_fraction() const {
  return activations_per_token > 0 ? activations_visible_per_token / activations_per_token : 0;
}

Result<Exposure> exposure(const ModelInventory& model, const ResolvedPlan& plan) {
  if (plan.layers.size() != model.linears.size()) {
    return Error{"exposure: the plan was resolved against another model"};
  }
  std::map<std::string, std::pair<std::uint64_t, double>, std::less<>> seen;  // width, share
  for (const ActivationTensor& a : model.activations) seen[a.name] = {a.width, 0.0};
  Exposure e;
  e.params_total = model.params_total;
  for (std::size_t i = 0; i < model.linears.size(); ++i) {
    const LinearLayer& l = model.linears[i];
    const LayerPlacement& p = plan.layers[i];
    const auto in = seen.find(l.input);
    const auto out = seen.find(l.output);
    if (in == seen.end() || out == seen.end()) {
      return Error{"exposure: layer '" + l.name + "' names an activation the model does not list"};
    }
    const std::uint64_t weights = std::uint64_t{l.k} * l.n;
    e.linear_params_total += weights;
    switch (p.placement) {
      case Placement::tee:
        ++e.tee;
        break;
      case Placement::blinded:
        ++e.blinded;
        e.linear_params_visible += weights;
        break;
      case Placement::exposed:
        ++e.exposed;
        e.linear_params_visible += weights;
        in->second.second = 1.0;
        out->second.second = 1.0;
        break;
      case Placement::sampled: {
        ++e.sampled;
        const std::size_t open = l.n - p.protected_columns.size();
        e.linear_params_visible += std::uint64_t{l.k} * open;
        in->second.second = 1.0;
        out->second.second =
            std::max(out->second.second, static_cast<double>(open) / static_cast<double>(l.n));
        break;
      }
    }
  }
  if (e.linear_params_total > e.params_total) {
    return Error{"exposure: the model's linear layers hold more parameters than the model"};
  }
  e.params_visible = e.linear_params_visible;
  for (const auto& [name, ws] : seen) {
    e.activations_per_token += static_cast<double>(ws.first);
    e.activations_visible_per_token += static_cast<double>(ws.first) * ws.second;
  }
  return e;
}

std::string exposure_json(const ResolvedPlan& plan, const Exposure& e) {
  return "{\"plan\": \"" + plan.name + "\", \"seed\": " + std::to_string(plan.seed) +
         ", \"params_total\": " + std::to_string(e.params_total) +
         ", \"params_visible\": " + std::to_string(e.params_visible) +
         ", \"params_visible_fraction\": " + fixed(e.params_fraction()) +
         ", \"linear_params_total\": " + std::to_string(e.linear_params_total) +
         ", \"linear_params_visible\": " + std::to_string(e.linear_params_visible) +
         ", \"linear_params_visible_fraction\": " + fixed(e.linear_params_fraction()) +
         ", \"activations_per_token\": " + fixed(e.activations_per_token) +
         ", \"activations_visible_per_token\": " + fixed(e.activations_visible_per_token) +
         ", \"activations_visible_fraction\": " + fixed(e.activations_fraction()) +
         ", \"layers\": {\"tee\": " + std::to_string(e.tee) +
         ", \"blinded\": " + std::to_string(e.blinded) +
         ", \"exposed\": " + std::to_string(e.exposed) +
         ", \"sampled\": " + std::to_string(e.sampled) + "}}";
}

}  // namespace hix::outsource
