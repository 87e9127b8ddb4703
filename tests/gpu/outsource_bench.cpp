// hix-outsource-bench: the system-level path against application-level
// outsourcing and a TEE-only baseline (issue 15), one GPT-2-architecture
// model, greedy generation after a deterministic prompt, side by side in one
// run, JSON out and a table on stderr:
//   hix-outsource-bench [--model tiny-gpt2|gpt2-small] [--checkpoint DIR]
//      [--backend cpu|cuda] [--json OUT] [--prompt-len 16] [--new-tokens 32]
//      [--seed 1] [--threads 1] [--modes tee-only,outsourced,system]
//      [--system-dtype bf16|f32] [--expect-agreement FRACTION] [--plan FILE]...
//
// Modes:
//   tee-only    the whole forward pass in float32 on the CPU, in this
//               process: the code an enclave would run, without the
//               enclave's own costs (page encryption, exits).
//   outsourced  the same forward pass, but every linear layer (c_attn as
//               one [d, 3d] product, attn.c_proj, mlp.c_fc, mlp.c_proj and
//               the tied lm_head) is blinded (hix_outsource) and multiplied
//               by hix-gpu in plain mode, then checked and unblinded here;
//               attention, norms, GELU, residuals and biases stay on the
//               CPU. Weights are quantized and loaded once and the masks for
//               the whole run precomputed before any timer (the offline
//               phase, reported on its own).
//   --plan FILE partial protection (issue 15 §2): the same forward pass
//               with each linear product placed by a protection plan
//               (docs/specs/protection-plan.md: tee, blinded, exposed, or
//               sampled by output column), one row per plan, each with its
//               exposure report (what the untrusted side holds).
//   system      the whole model on hix-gpu in protected mode (ModelRunner,
//               as hix-bench runs it).
// tee-only and outsourced are the plans `default tee` and `default blinded`.
// A prefill sends the prompt's rows as one batch per linear layer; the
// lm_head sees only the last row.
//
// Exit status 1 when --expect-agreement is given and the outsourced or a
// plan's tokens equal the tee-only tokens at fewer than that fraction of
// positions.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model_runner.hpp"
#include "outsource.hpp"
#include "plan.hpp"

namespace {

using namespace hix::gpu_tools;
namespace os = hix::outsource;
using hix::model::Result;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

hix::model::Error device_error(const std::string& what, Status s) {
  return hix::model::fail(what + ": " + std::string(hix::vgpu::to_string(s)));
}

struct Options {
  std::string model_name = "tiny-gpt2";
  std::string checkpoint, json_path;
  BackendKind backend = BackendKind::cpu;
  std::uint32_t prompt_len = 16;
  std::uint32_t new_tokens = 32;
  std::uint64_t seed = 1;
  unsigned threads = 1;
  bool run_outsourced = true;
  bool run_system = true;
  std::uint8_t system_dtype = HIX_VGPU_DT_BF16;
  std::optional<double> expect_agreement;
  std::vector<std::string> plans;  // --plan FILE, one row each
};

// ---- The model, float32, matrices [in, out] as GPT-2's Conv1D stores them ----

struct Block {
  std::vector<float> ln1_g, ln1_b, attn_w, attn_b, proj_w, proj_b;
  std::vector<float> ln2_g, ln2_b, fc_w, fc_b, out_w, out_b;
};

struct Gpt2 {
  hix::model::ModelConfig c;
  std::vector<float> wte, wpe, lnf_g, lnf_b;
  std::vector<Block> blocks;
  std::vector<float> head_w;  // wte transposed: [dim, vocab]
};

Result<std::vector<float>> tensor(const hix::model::WeightSource& w, const std::string& name,
                                  std::uint64_t elements) {
  auto t = w.get(name);
  if (!t) return hix::model::fail(name + ": " + t.why());
  if (t->elements() != elements) {
    return hix::model::fail(name + ": " + std::to_string(t->elements()) + " elements, expected " +
                            std::to_string(elements));
  }
  std::vector<float> v(elements);
  for (std::uint64_t i = 0; i < elements; ++i) v[i] = t->at(i);
  return v;
}

Result<Gpt2> load_gpt2(const ModelSource& src) {
  const auto& c = src.config;
  if (c.arch != hix::model::Arch::gpt2 || c.heads * c.head_dim != c.dim || !c.tied_embeddings) {
    return hix::model::fail("not a GPT-2-architecture model");
  }
  Gpt2 m;
  m.c = c;
  const std::uint64_t d = c.dim;
  const std::uint64_t f = c.mlp;
  const std::uint64_t v = c.vocab;
  const auto& w = *src.weights;
  const auto get = [&w](std::vector<float>& out, const std::string& name, std::uint64_t n) {
    auto t = tensor(w, name, n);
    if (!t) return std::optional<hix::model::Error>(t.error());
    out = std::move(*t);
    return std::optional<hix::model::Error>();
  };
  std::optional<hix::model::Error> e;
  if ((e = get(m.wte, "wte.weight", v * d)) || (e = get(m.wpe, "wpe.weight", c.max_pos * d)) ||
      (e = get(m.lnf_g, "ln_f.weight", d)) || (e = get(m.lnf_b, "ln_f.bias", d))) {
    return *e;
  }
  m.blocks.resize(c.layers);
  for (std::uint32_t l = 0; l < c.layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    Block& b = m.blocks[l];
    if ((e = get(b.ln1_g, p + "ln_1.weight", d)) || (e = get(b.ln1_b, p + "ln_1.bias", d)) ||
        (e = get(b.attn_w, p + "attn.c_attn.weight", d * 3 * d)) ||
        (e = get(b.attn_b, p + "attn.c_attn.bias", 3 * d)) ||
        (e = get(b.proj_w, p + "attn.c_proj.weight", d * d)) ||
        (e = get(b.proj_b, p + "attn.c_proj.bias", d)) ||
        (e = get(b.ln2_g, p + "ln_2.weight", d)) || (e = get(b.ln2_b, p + "ln_2.bias", d)) ||
        (e = get(b.fc_w, p + "mlp.c_fc.weight", d * f)) ||
        (e = get(b.fc_b, p + "mlp.c_fc.bias", f)) ||
        (e = get(b.out_w, p + "mlp.c_proj.weight", f * d)) ||
        (e = get(b.out_b, p + "mlp.c_proj.bias", d))) {
      return *e;
    }
  }
  m.head_w.resize(d * v);
  for (std::uint64_t t = 0; t < v; ++t) {
    for (std::uint64_t i = 0; i < d; ++i) m.head_w[i * v + t] = m.wte[t * d + i];
  }
  return m;
}

// One linear layer's weights: y = x·W, W [k, n].
struct LinearRef {
  std::string name;
  const float* w = nullptr;
  std::size_t k = 0, n = 0;
  std::size_t max_rows = 0;  // the largest batch it sees
  std::size_t uses = 0;      // rows it multiplies in one run
};

constexpr std::size_t kPerBlock = 4;  // c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj

// Index layer·4 + {0..3}, then the lm_head.
std::vector<LinearRef> linear_refs(const Gpt2& m, const Options& o) {
  const std::size_t d = m.c.dim;
  const std::size_t f = m.c.mlp;
  const std::size_t rows = o.prompt_len;
  const std::size_t uses = std::size_t{o.prompt_len} + o.new_tokens - 1;
  std::vector<LinearRef> r;
  for (std::size_t l = 0; l < m.blocks.size(); ++l) {
    const Block& b = m.blocks[l];
    const std::string p = "h." + std::to_string(l) + ".";
    r.push_back({p + "attn.c_attn", b.attn_w.data(), d, 3 * d, rows, uses});
    r.push_back({p + "attn.c_proj", b.proj_w.data(), d, d, rows, uses});
    r.push_back({p + "mlp.c_fc", b.fc_w.data(), d, f, rows, uses});
    r.push_back({p + "mlp.c_proj", b.out_w.data(), f, d, rows, uses});
  }
  r.push_back({"lm_head", m.head_w.data(), d, m.c.vocab, 1, o.new_tokens});
  return r;
}

// What a protection plan is resolved against (plan.hpp): every parameter
// once (lm_head is the token embedding), the per-position activations and
// which of them each linear layer reads and writes; linears in the order of
// linear_refs.
os::ModelInventory inventory(const Gpt2& m) {
  const std::uint64_t d = m.c.dim;
  const std::uint64_t f = m.c.mlp;
  os::ModelInventory inv;
  inv.params_total = m.wte.size() + m.wpe.size() + m.lnf_g.size() + m.lnf_b.size();
  inv.activations.push_back({"x0", d});
  for (std::size_t l = 0; l < m.blocks.size(); ++l) {
    const Block& b = m.blocks[l];
    for (const auto* t : {&b.ln1_g, &b.ln1_b, &b.attn_w, &b.attn_b, &b.proj_w, &b.proj_b, &b.ln2_g,
                          &b.ln2_b, &b.fc_w, &b.fc_b, &b.out_w, &b.out_b}) {
      inv.params_total += t->size();
    }
    const std::string p = "h." + std::to_string(l) + ".";
    for (const auto& [name, width] :
         std::initializer_list<std::pair<const char*, std::uint64_t>>{{"ln_1", d},
                                                                      {"qkv", 3 * d},
                                                                      {"ctx", d},
                                                                      {"attn", d},
                                                                      {"mid", d},
                                                                      {"ln_2", d},
                                                                      {"fc", f},
                                                                      {"gelu", f},
                                                                      {"mlp", d},
                                                                      {"out", d}}) {
      inv.activations.push_back({p + name, width});
    }
    inv.linears.push_back({p + "attn.c_attn", d, 3 * d, p + "ln_1", p + "qkv"});
    inv.linears.push_back({p + "attn.c_proj", d, d, p + "ctx", p + "attn"});
    inv.linears.push_back({p + "mlp.c_fc", d, f, p + "ln_2", p + "fc"});
    inv.linears.push_back({p + "mlp.c_proj", f, d, p + "gelu", p + "mlp"});
  }
  inv.activations.push_back({"ln_f", d});
  inv.activations.push_back({"logits", m.c.vocab});
  inv.linears.push_back({"lm_head", d, m.c.vocab, "ln_f", "logits"});
  return inv;
}

// Who multiplies the linear layers.
class Linears {
 public:
  Linears() = default;
  Linears(const Linears&) = delete;
  Linears& operator=(const Linears&) = delete;
  Linears(Linears&&) = delete;
  Linears& operator=(Linears&&) = delete;
  virtual ~Linears() = default;
  // y [rows, n] = x [rows, k] · W of linear `id`.
  virtual Result<std::vector<float>> apply(std::size_t id, std::span<const float> x,
                                           std::size_t rows) = 0;
};

// Output columns [j0, j1) of y = x·W.
struct ColumnRange {
  std::size_t j0 = 0, j1 = 0;
};

void matmul_columns(const LinearRef& l, std::span<const float> x, std::size_t rows,
                    std::span<float> y, ColumnRange cols) {
  for (std::size_t i = 0; i < rows; ++i) {
    float* yr = y.data() + i * l.n;
    std::fill(yr + cols.j0, yr + cols.j1, 0.0f);
    for (std::size_t c = 0; c < l.k; ++c) {
      const float xv = x[i * l.k + c];
      const float* wr = l.w + c * l.n;
      for (std::size_t j = cols.j0; j < cols.j1; ++j) yr[j] += xv * wr[j];
    }
  }
}

// Traffic and time of the outsourced products.
struct GpuCounters {
  std::uint64_t calls = 0;
  std::uint64_t bytes_in = 0;   // limbs to the GPU
  std::uint64_t bytes_out = 0;  // limb products back
  double submit_s = 0;          // submit to completion (DMA in, MATMUL, DMA out)
};

// The linear products placed by a protection plan (plan.hpp): `tee` here,
// `blinded` to hix-gpu in plain mode (blinded, checked, unblinded here),
// `exposed` on hix-gpu in the clear, `sample` split by output column — the
// protected columns here on `threads` threads while the GPU computes the
// others in the clear, at the same time.
class PlannedLinears final : public Linears {
 public:
  struct Setup {
    double quantize_s = 0;    // BlindedLinear::create (quantization, W·s)
    double load_s = 0;        // the GPU's weights into VRAM
    double precompute_s = 0;  // masks and r·W for the whole run
    std::uint64_t weight_bytes = 0;
  };

  static Result<std::unique_ptr<PlannedLinears>> create(const std::vector<LinearRef>& refs,
                                                        const os::ResolvedPlan& plan,
                                                        BackendKind backend, unsigned threads,
                                                        Setup& setup) {
    std::unique_ptr<PlannedLinears> b(new PlannedLinears());
    b->threads_ = std::max(threads, 1u);
    auto t0 = Clock::now();
    std::uint64_t vram = 0;
    std::uint64_t in_bytes = 0;
    std::uint64_t out_bytes = 0;
    std::uint64_t largest_weights = 0;
    for (std::size_t i = 0; i < refs.size(); ++i) {
      const LinearRef& r = refs[i];
      Layer layer;
      layer.ref = r;
      layer.placement = plan.layers[i].placement;
      std::size_t gpu_rows = r.max_rows;  // rows of the GPU's input per call
      switch (layer.placement) {
        case os::Placement::tee:
          break;
        case os::Placement::blinded: {
          auto bl = os::BlindedLinear::create(r.name, std::span(r.w, r.k * r.n), r.k, r.n);
          if (!bl) return hix::model::fail(bl.error().message);
          gpu_rows *= bl->limbs().count;
          layer.gpu_cols = r.n;
          layer.device_weights = bl->device_weights();
          layer.blinded.emplace(std::move(*bl));
          break;
        }
        case os::Placement::exposed:
          layer.gpu_cols = r.n;
          layer.device_weights.assign(r.w, r.w + r.k * r.n);
          break;
        case os::Placement::sampled: {
          auto split = os::split_columns(std::span(r.w, r.k * r.n), r.k, r.n,
                                         plan.layers[i].protected_columns);
          if (!split) return hix::model::fail(r.name + ": " + split.error().message);
          layer.gpu_cols = split->open.size();
          layer.device_weights = std::move(split->open_weights);
          layer.split = std::move(*split);
          break;
        }
      }
      if (layer.gpu_cols != 0) {
        in_bytes = std::max<std::uint64_t>(in_bytes, std::uint64_t{gpu_rows} * r.k * 4);
        out_bytes =
            std::max<std::uint64_t>(out_bytes, std::uint64_t{gpu_rows} * layer.gpu_cols * 4);
        const std::uint64_t wbytes = layer.device_weights.size() * 4;
        largest_weights = std::max(largest_weights, wbytes);
        vram += wbytes + 256;
        setup.weight_bytes += wbytes;
      }
      b->layers_.push_back(std::move(layer));
    }
    setup.quantize_s = since(t0);
    if (vram == 0) return b;  // everything stays inside the TEE

    SessionConfig sc;
    sc.backend = backend;
    sc.mode = Mode::plain;
    sc.vram_bytes = vram + in_bytes + out_bytes + (16ull << 20);
    sc.guest_ram_bytes = largest_weights + in_bytes + out_bytes + (16ull << 20);
    auto session = GpuSession::create(sc);
    if (!session) return device_error("plain session", session.status());
    b->session_ = std::move(*session);
    GpuSession& s = *b->session_;
    auto in = s.alloc(in_bytes);
    auto out = s.alloc(out_bytes);
    if (!in || !out) return device_error("MEM_ALLOC", !in ? in.status() : out.status());

    t0 = Clock::now();
    for (Layer& layer : b->layers_) {
      if (layer.gpu_cols == 0) continue;
      auto w = s.alloc(layer.device_weights.size() * 4);
      if (!w) return device_error("MEM_ALLOC " + layer.ref.name, w.status());
      layer.buffers = os::DeviceBuffers{.weights = *w, .input = *in, .output = *out};
      const auto bytes = os::f32_bytes(layer.device_weights);
      const std::uint64_t mark = s.guest_mark();
      auto gpa = s.guest_alloc(bytes.size());
      if (!gpa) return device_error("guest memory", gpa.status());
      std::memcpy(s.guest(*gpa, bytes.size()).data(), bytes.data(), bytes.size());
      const Status st =
          s.submit(os::gpu_load_weights(layer.buffers, {.gpa = *gpa, .bytes = bytes.size()}));
      if (st != Status::ok) return device_error("weights of " + layer.ref.name, st);
      s.guest_release(mark);
      layer.device_weights = {};
    }
    setup.load_s = since(t0);

    t0 = Clock::now();
    for (Layer& layer : b->layers_) {
      if (!layer.blinded) continue;
      auto r = layer.blinded->precompute(layer.ref.uses);
      if (!r) return hix::model::fail(r.error().message);
    }
    setup.precompute_s = since(t0);
    return b;
  }

  Result<std::vector<float>> apply(std::size_t id, std::span<const float> x,
                                   std::size_t rows) override {
    Layer& layer = layers_[id];
    const LinearRef& r = layer.ref;
    switch (layer.placement) {
      case os::Placement::tee: {
        std::vector<float> y(rows * r.n);
        matmul_threads(r, x, rows, y);
        return y;
      }
      case os::Placement::blinded:
        return apply_blinded(layer, x, rows);
      case os::Placement::exposed: {
        auto y = gpu_products(layer, x, rows, r.n);
        if (!y) return y.error();
        return std::move(*y);
      }
      case os::Placement::sampled:
        return apply_sampled(layer, x, rows);
    }
    return hix::model::fail("unknown placement");
  }

  const GpuCounters& counters() const { return counters_; }
  // One entry per distinct shape of the blinded layers.
  std::string blinded_shapes_json() const {
    std::vector<std::string> seen;
    std::string j;
    for (const Layer& layer : layers_) {
      if (!layer.blinded) continue;
      const os::BlindedLinear& l = *layer.blinded;
      const std::string shape = std::to_string(l.k()) + "x" + std::to_string(l.n());
      if (std::find(seen.begin(), seen.end(), shape) != seen.end()) continue;
      seen.push_back(shape);
      j += std::string(seen.size() > 1 ? ", " : "") + "{\"k_x_n\": \"" + shape +
           "\", \"limbs\": " + std::to_string(l.limbs().count) +
           ", \"limb_bits\": " + std::to_string(l.limbs().bits) + "}";
    }
    return j;
  }

 private:
  struct Layer {
    LinearRef ref;
    os::Placement placement = os::Placement::tee;
    std::optional<os::BlindedLinear> blinded;
    std::size_t gpu_cols = 0;           // columns the GPU computes
    std::vector<float> device_weights;  // [k, gpu_cols], until loaded
    os::ColumnSplit split;              // sampled: the GPU's and the TEE's columns
    os::DeviceBuffers buffers;
  };

  PlannedLinears() = default;

  void matmul_threads(const LinearRef& l, std::span<const float> x, std::size_t rows,
                      std::span<float> y) const {
    const std::size_t t = std::min<std::size_t>(threads_, l.n);
    if (t <= 1) {
      matmul_columns(l, x, rows, y, {0, l.n});
      return;
    }
    std::vector<std::thread> pool;
    const std::size_t chunk = (l.n + t - 1) / t;
    for (std::size_t i = 0; i < t; ++i) {
      const ColumnRange cols{std::min(l.n, i * chunk), std::min(l.n, (i + 1) * chunk)};
      pool.emplace_back([&, cols] { matmul_columns(l, x, rows, y, cols); });
    }
    for (auto& th : pool) th.join();
  }

  // The GPU's product of `input` ([m, k] f32) with the layer's device
  // weights: [m, gpu_cols].
  Result<std::vector<float>> gpu_products(Layer& layer, std::span<const float> input, std::size_t m,
                                          std::size_t cols) {
    GpuSession& s = *session_;
    const std::uint64_t mark = s.guest_mark();
    const std::uint64_t in_bytes = input.size() * 4;
    const std::uint64_t out_count = std::uint64_t{m} * cols;
    auto in_gpa = s.guest_alloc(in_bytes);
    auto out_gpa = s.guest_alloc(out_count * 4);
    if (!in_gpa || !out_gpa) return device_error("guest memory", Status::no_memory);
    std::memcpy(s.guest(*in_gpa, in_bytes).data(), input.data(), in_bytes);
    const auto cmd = os::gpu_matmul(os::MatmulShape{m, layer.ref.k, cols}, layer.buffers,
                                    {.in = {.gpa = *in_gpa, .bytes = in_bytes},
                                     .out = {.gpa = *out_gpa, .bytes = out_count * 4}});
    const auto t0 = Clock::now();
    const Status st = s.submit(cmd);
    counters_.submit_s += since(t0);
    if (st != Status::ok) return device_error("matmul of " + layer.ref.name, st);
    std::vector<float> products(out_count);
    std::memcpy(products.data(), s.guest(*out_gpa, out_count * 4).data(), out_count * 4);
    s.guest_release(mark);
    ++counters_.calls;
    counters_.bytes_in += in_bytes;
    counters_.bytes_out += out_count * 4;
    return products;
  }

  Result<std::vector<float>> apply_blinded(Layer& layer, std::span<const float> x,
                                           std::size_t rows) {
    os::BlindedLinear& bl = *layer.blinded;
    auto blinded = bl.blind(x, rows);
    if (!blinded) return hix::model::fail(blinded.error().message);
    auto products =
        gpu_products(layer, blinded->limbs, std::size_t{bl.limbs().count} * rows, bl.n());
    if (!products) return products.error();
    auto y = bl.finish(*blinded, *products);
    if (!y) return hix::model::fail(y.error().message);
    return std::move(*y);
  }

  // The TEE's columns on the worker threads while this thread waits for the
  // GPU's; both are scattered into y.
  Result<std::vector<float>> apply_sampled(Layer& layer, std::span<const float> x,
                                           std::size_t rows) {
    const LinearRef& r = layer.ref;
    const os::ColumnSplit& split = layer.split;
    const LinearRef kept{r.name, split.kept_weights.data(), r.k, split.kept.size(), 0, 0};
    std::vector<float> y_kept(rows * kept.n);
    std::thread tee;
    if (kept.n != 0) tee = std::thread([&] { matmul_threads(kept, x, rows, y_kept); });
    Result<std::vector<float>> y_open = std::vector<float>();
    if (layer.gpu_cols != 0) y_open = gpu_products(layer, x, rows, layer.gpu_cols);
    if (tee.joinable()) tee.join();
    if (!y_open) return y_open.error();
    std::vector<float> y(rows * r.n);
    os::merge_columns(split, rows, {.open = *y_open, .kept = y_kept}, y);
    return y;
  }

  std::unique_ptr<GpuSession> session_;
  std::vector<Layer> layers_;
  unsigned threads_ = 1;
  GpuCounters counters_;
};

// ---- The forward pass (everything but the linear products) ----

void layer_norm(std::span<float> out, std::span<const float> x, std::size_t rows,
                const std::vector<float>& g, const std::vector<float>& b, float eps) {
  const std::size_t d = g.size();
  for (std::size_t i = 0; i < rows; ++i) {
    const float* xr = x.data() + i * d;
    double mean = 0;
    for (std::size_t c = 0; c < d; ++c) mean += double{xr[c]};
    mean /= static_cast<double>(d);
    double var = 0;
    for (std::size_t c = 0; c < d; ++c) var += (double{xr[c]} - mean) * (double{xr[c]} - mean);
    var /= static_cast<double>(d);
    const double inv = 1.0 / std::sqrt(var + double{eps});
    for (std::size_t c = 0; c < d; ++c) {
      out[i * d + c] = static_cast<float>((double{xr[c]} - mean) * inv) * g[c] + b[c];
    }
  }
}

void add_bias(std::vector<float>& y, const std::vector<float>& bias) {
  const std::size_t n = bias.size();
  for (std::size_t i = 0; i < y.size(); ++i) y[i] += bias[i % n];
}

float gelu(float v) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
}

class Gpt2Runner {
 public:
  Gpt2Runner(const Gpt2& m, Linears& lin, std::size_t max_seq)
      : m_(m), lin_(lin), max_seq_(max_seq) {
    const std::size_t d = m.c.dim;
    k_.assign(m.blocks.size(), std::vector<float>(max_seq * d));
    v_.assign(m.blocks.size(), std::vector<float>(max_seq * d));
  }

  // Appends `tokens` at the next positions; the logits of the last one.
  Result<std::vector<float>> forward(std::span<const std::int32_t> tokens) {
    const std::size_t d = m_.c.dim;
    const std::size_t rows = tokens.size();
    if (pos_ + rows > max_seq_ || pos_ + rows > m_.c.max_pos) {
      return hix::model::fail("sequence longer than the cache");
    }
    std::vector<float> x(rows * d);
    for (std::size_t i = 0; i < rows; ++i) {
      const auto t = static_cast<std::size_t>(tokens[i]);
      for (std::size_t c = 0; c < d; ++c) {
        x[i * d + c] = m_.wte[t * d + c] + m_.wpe[(pos_ + i) * d + c];
      }
    }
    std::vector<float> h(rows * d);
    for (std::size_t l = 0; l < m_.blocks.size(); ++l) {
      const Block& b = m_.blocks[l];
      layer_norm(h, x, rows, b.ln1_g, b.ln1_b, m_.c.norm_eps);
      auto qkv = lin_.apply(l * kPerBlock, h, rows);
      if (!qkv) return qkv.error();
      add_bias(*qkv, b.attn_b);
      auto att = attention(l, *qkv, rows);
      auto proj = lin_.apply(l * kPerBlock + 1, att, rows);
      if (!proj) return proj.error();
      add_bias(*proj, b.proj_b);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += (*proj)[i];
      layer_norm(h, x, rows, b.ln2_g, b.ln2_b, m_.c.norm_eps);
      auto fc = lin_.apply(l * kPerBlock + 2, h, rows);
      if (!fc) return fc.error();
      add_bias(*fc, b.fc_b);
      for (float& v : *fc) v = gelu(v);
      auto out = lin_.apply(l * kPerBlock + 3, *fc, rows);
      if (!out) return out.error();
      add_bias(*out, b.out_b);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += (*out)[i];
    }
    pos_ += rows;
    std::vector<float> last(d);
    layer_norm(last, std::span<const float>(x).subspan((rows - 1) * d, d), 1, m_.lnf_g, m_.lnf_b,
               m_.c.norm_eps);
    return lin_.apply(m_.blocks.size() * kPerBlock, last, 1);
  }

 private:
  // Causal attention of rows at pos_.. over the cache (both operands are
  // secret: it stays on the CPU).
  std::vector<float> attention(std::size_t l, const std::vector<float>& qkv, std::size_t rows) {
    const std::size_t d = m_.c.dim;
    const std::size_t hd = m_.c.head_dim;
    const std::size_t heads = m_.c.heads;
    std::vector<float>& kc = k_[l];
    std::vector<float>& vc = v_[l];
    for (std::size_t i = 0; i < rows; ++i) {
      std::copy_n(qkv.begin() + static_cast<std::ptrdiff_t>(i * 3 * d + d), d,
                  kc.begin() + static_cast<std::ptrdiff_t>((pos_ + i) * d));
      std::copy_n(qkv.begin() + static_cast<std::ptrdiff_t>(i * 3 * d + 2 * d), d,
                  vc.begin() + static_cast<std::ptrdiff_t>((pos_ + i) * d));
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    std::vector<float> out(rows * d, 0.0f);
    std::vector<float> p(pos_ + rows);
    for (std::size_t i = 0; i < rows; ++i) {
      const std::size_t len = pos_ + i + 1;
      for (std::size_t hh = 0; hh < heads; ++hh) {
        const float* q = qkv.data() + i * 3 * d + hh * hd;
        float mx = -INFINITY;
        for (std::size_t t = 0; t < len; ++t) {
          const float* kr = kc.data() + t * d + hh * hd;
          float s = 0;
          for (std::size_t c = 0; c < hd; ++c) s += q[c] * kr[c];
          p[t] = s * scale;
          mx = std::max(mx, p[t]);
        }
        float sum = 0;
        for (std::size_t t = 0; t < len; ++t) {
          p[t] = std::exp(p[t] - mx);
          sum += p[t];
        }
        float* o = out.data() + i * d + hh * hd;
        for (std::size_t t = 0; t < len; ++t) {
          const float w = p[t] / sum;
          const float* vr = vc.data() + t * d + hh * hd;
          for (std::size_t c = 0; c < hd; ++c) o[c] += w * vr[c];
        }
      }
    }
    return out;
  }

  const Gpt2& m_;
  Linears& lin_;
  std::size_t max_seq_;
  std::size_t pos_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

double top2_margin(const std::vector<float>& v) {
  if (v.size() < 2) return 0;
  std::vector<float> s = v;
  std::partial_sort(s.begin(), s.begin() + 2, s.end(), std::greater<>());
  double mx = 0;
  for (const float x : v) mx = std::max(mx, std::fabs(double{x}));
  return mx > 0 ? (double{s[0]} - double{s[1]}) / mx : 0;
}

std::int32_t argmax(const std::vector<float>& v) {
  return static_cast<std::int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

struct Generation {
  std::vector<std::int32_t> tokens;  // generated only
  std::vector<float> first_logits, last_logits;
  double ttft_s = 0;    // the prompt's forward pass and the first token
  double decode_s = 0;  // the remaining new_tokens − 1
};

Result<Generation> generate(const Gpt2& m, Linears& lin, std::span<const std::int32_t> prompt,
                            std::uint32_t n_new) {
  Gpt2Runner r(m, lin, prompt.size() + n_new);
  Generation g;
  auto t0 = Clock::now();
  auto logits = r.forward(prompt);
  if (!logits) return logits.error();
  g.tokens.push_back(argmax(*logits));
  g.ttft_s = since(t0);
  g.first_logits = *logits;
  t0 = Clock::now();
  for (std::uint32_t i = 1; i < n_new; ++i) {
    const std::int32_t tok = g.tokens.back();
    logits = r.forward(std::span(&tok, 1));
    if (!logits) return logits.error();
    g.tokens.push_back(argmax(*logits));
  }
  g.decode_s = since(t0);
  g.last_logits = std::move(*logits);
  return g;
}

// ---- Figures ----

struct Agreement {
  std::size_t equal = 0;             // positions with the same token
  std::optional<std::size_t> first;  // first position that differs
  double first_logits_rel = 0;       // after the prompt: the same context in both
  double last_logits_rel = 0;        // the last step (contexts differ after a divergence)
};

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& ref) {
  double diff = 0;
  double mx = 0;
  for (std::size_t i = 0; i < std::min(a.size(), ref.size()); ++i) {
    diff = std::max(diff, std::fabs(double{a[i]} - double{ref[i]}));
    mx = std::max(mx, std::fabs(double{ref[i]}));
  }
  return mx > 0 ? diff / mx : diff;
}

Agreement agree(const std::vector<std::int32_t>& a, const std::vector<float>& a_first,
                const std::vector<float>& a_last, const Generation& ref) {
  Agreement r;
  for (std::size_t i = 0; i < std::min(a.size(), ref.tokens.size()); ++i) {
    if (a[i] == ref.tokens[i]) {
      ++r.equal;
    } else if (!r.first) {
      r.first = i;
    }
  }
  if (!r.first && a.size() != ref.tokens.size()) r.first = std::min(a.size(), ref.tokens.size());
  r.first_logits_rel = max_rel_diff(a_first, ref.first_logits);
  r.last_logits_rel = max_rel_diff(a_last, ref.last_logits);
  return r;
}

struct Row {
  std::string mode, where;
  double ttft_s = 0, decode_tok_s = 0;
  std::optional<double> offline_s, setup_s, load_s;
  std::optional<double> gpu_calls_per_token, bytes_per_token, gpu_share;
  // After the prompt: (top logit − runner-up) / max |logit|, how far an
  // error must move the logits to change the first token.
  std::optional<double> step1_margin;
  std::vector<std::int32_t> tokens;
  std::optional<Agreement> vs_tee;
  std::optional<os::Exposure> exposure;
  std::string exposure_json;  // the plan's report (plan.hpp), or empty
  std::vector<float> first_logits, last_logits;
};

std::string num(double v) {
  return json_number(v);
}
std::string opt(std::optional<double> v) {
  return v ? num(*v) : "null";
}

std::string tokens_json(const std::vector<std::int32_t>& t) {
  std::string s = "[";
  for (std::size_t i = 0; i < t.size(); ++i) s += (i != 0 ? ", " : "") + std::to_string(t[i]);
  return s + "]";
}

std::string row_json(const Row& r, double tok_s_tee) {
  std::string j =
      "    " + json_string(r.mode) + ": {\"where\": " + json_string(r.where) +
      ",\n      \"ttft_s\": " + num(r.ttft_s) +
      ", \"decode_tokens_per_s\": " + num(r.decode_tok_s) +
      ", \"decode_over_tee_only\": " + (tok_s_tee > 0 ? num(r.decode_tok_s / tok_s_tee) : "null") +
      ",\n      \"offline_precompute_s\": " + opt(r.offline_s) +
      ", \"setup_s\": " + opt(r.setup_s) + ", \"load_s\": " + opt(r.load_s) +
      ",\n      \"gpu_calls_per_token\": " + opt(r.gpu_calls_per_token) +
      ", \"bytes_per_token\": " + opt(r.bytes_per_token) +
      ", \"gpu_time_share\": " + opt(r.gpu_share) +
      ", \"step1_top2_margin_over_max_abs\": " + opt(r.step1_margin) +
      ",\n      \"tokens\": " + tokens_json(r.tokens);
  if (!r.exposure_json.empty()) j += ",\n      \"exposure\": " + r.exposure_json;
  if (r.vs_tee) {
    const Agreement& a = *r.vs_tee;
    j += ",\n      \"vs_tee_only\": {\"equal_tokens\": " + std::to_string(a.equal) +
         ", \"of\": " + std::to_string(r.tokens.size()) +
         ", \"first_divergence\": " + (a.first ? std::to_string(*a.first) : "null") +
         ", \"first_step_logits_max_abs_diff_over_max_abs\": " + num(a.first_logits_rel) +
         ", \"last_step_logits_max_abs_diff_over_max_abs\": " + num(a.last_logits_rel) + "}";
  }
  return j + "}";
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--model tiny-gpt2|gpt2-small] [--checkpoint DIR] [--backend cpu|cuda]\n"
               "          [--json OUT] [--prompt-len 16] [--new-tokens 32] [--seed 1]\n"
               "          [--threads 1] [--modes tee-only,outsourced,system]\n"
               "          [--system-dtype bf16|f32] [--expect-agreement FRACTION]\n"
               "          [--plan FILE]...\n",
               argv0);
  return 2;
}

bool parse_u32(const char* s, std::uint32_t& out) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v > 0xffffffffUL) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    std::uint32_t n = 0;
    if (a == "--model") {
      o.model_name = v;
    } else if (a == "--checkpoint") {
      o.checkpoint = v;
    } else if (a == "--json") {
      o.json_path = v;
    } else if (a == "--backend") {
      if (!parse_backend(v, o.backend)) return false;
    } else if (a == "--prompt-len") {
      if (!parse_u32(v, o.prompt_len) || o.prompt_len == 0) return false;
    } else if (a == "--new-tokens") {
      if (!parse_u32(v, o.new_tokens) || o.new_tokens == 0) return false;
    } else if (a == "--seed") {
      if (!parse_u32(v, n)) return false;
      o.seed = n;
    } else if (a == "--threads") {
      if (!parse_u32(v, n) || n == 0) return false;
      o.threads = n;
    } else if (a == "--modes") {
      const std::string m = std::string(",") + v + ",";
      o.run_outsourced = m.find(",outsourced,") != std::string::npos;
      o.run_system = m.find(",system,") != std::string::npos;
    } else if (a == "--plan") {
      o.plans.emplace_back(v);
    } else if (a == "--system-dtype") {
      const std::string d = v;
      if (d != "bf16" && d != "f32") return false;
      o.system_dtype = d == "bf16" ? HIX_VGPU_DT_BF16 : HIX_VGPU_DT_F32;
    } else if (a == "--expect-agreement") {
      char* end = nullptr;
      const double f = std::strtod(v, &end);
      if (end == v || *end != '\0' || !(f >= 0 && f <= 1)) return false;
      o.expect_agreement = f;
    } else {
      return false;
    }
  }
  return true;
}

// A plan file, refused above the spec's bound before it is read whole.
Result<std::string> read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return hix::model::fail("cannot open");
  std::string text;
  std::array<char, 4096> buf{};
  while (f.read(buf.data(), buf.size()) || f.gcount() > 0) {
    text.append(buf.data(), static_cast<std::size_t>(f.gcount()));
    if (text.size() > os::kPlanMaxBytes) {
      return hix::model::fail("over the plan's " + std::to_string(os::kPlanMaxBytes) +
                              "-byte bound");
    }
  }
  if (f.bad()) return hix::model::fail("read error");
  return text;
}

int die(const std::string& what) {
  std::fprintf(stderr, "hix-outsource-bench: %s\n", what.c_str());
  return 1;
}

int run(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, o)) return usage(argv[0]);
  auto src =
      o.checkpoint.empty() ? open_preset(o.model_name, o.seed) : open_checkpoint(o.checkpoint);
  if (!src) return die(src.why());
  if (!o.checkpoint.empty()) o.model_name = o.checkpoint;
  auto model = load_gpt2(*src);
  if (!model) return die(model.why());
  const Gpt2& m = *model;
  if (std::uint64_t{o.prompt_len} + o.new_tokens > m.c.max_pos) {
    return die("prompt and new tokens exceed the model's positions");
  }
  std::vector<std::int32_t> prompt(o.prompt_len);
  for (std::uint32_t i = 0; i < o.prompt_len; ++i) {
    prompt[i] = static_cast<std::int32_t>((std::uint64_t{i} * 7919 + 13) % m.c.vocab);
  }
  const auto refs = linear_refs(m, o);
  const double decode_steps = o.new_tokens > 1 ? o.new_tokens - 1 : 0;
  const auto rate = [decode_steps](double s) { return s > 0 ? decode_steps / s : 0.0; };
  std::vector<Row> rows;
  std::string layers_json;  // the blinded layers' shapes, one entry per distinct shape

  const os::ModelInventory inv = inventory(m);
  // One row: the model with its linear products placed by `plan`.
  const auto planned = [&](const std::string& mode, const std::string& where,
                           const os::ProtectionPlan& plan) -> Result<Row> {
    auto resolved = os::resolve(plan, inv);
    if (!resolved) return hix::model::fail(resolved.error().message);
    if (resolved->name.empty()) resolved->name = mode;
    auto e = os::exposure(inv, *resolved);
    if (!e) return hix::model::fail(e.error().message);
    PlannedLinears::Setup setup;
    auto lin = PlannedLinears::create(refs, *resolved, o.backend, o.threads, setup);
    if (!lin) return lin.error();
    auto g = generate(m, **lin, prompt, o.new_tokens);
    if (!g) return g.error();
    const GpuCounters& c = (*lin)->counters();
    Row r;
    r.mode = mode;
    r.where = where;
    r.ttft_s = g->ttft_s;
    r.decode_tok_s = rate(g->decode_s);
    r.step1_margin = top2_margin(g->first_logits);
    r.tokens = g->tokens;
    r.exposure = *e;
    r.exposure_json = os::exposure_json(*resolved, *e);
    r.first_logits = std::move(g->first_logits);
    r.last_logits = std::move(g->last_logits);
    if (c.calls != 0) {
      r.offline_s = setup.precompute_s;
      r.setup_s = setup.quantize_s;
      r.load_s = setup.load_s;
      // Every forward pass makes the same calls; bytes per token over all
      // tokens that went through the model (prompt rows and decode rows).
      const double forwards = 1.0 + decode_steps;
      const double token_rows = static_cast<double>(o.prompt_len) + decode_steps;
      r.gpu_calls_per_token = static_cast<double>(c.calls) / forwards;
      r.bytes_per_token = static_cast<double>(c.bytes_in + c.bytes_out) / token_rows;
      r.gpu_share = c.submit_s / (g->ttft_s + g->decode_s);
    }
    if (layers_json.empty()) layers_json = (*lin)->blinded_shapes_json();
    return r;
  };
  const std::string gpu = "hix-gpu (" + std::string(to_string(o.backend)) + ", plain mode)";

  // 1. TEE-only: every product inside the TEE.
  os::ProtectionPlan everything;
  everything.seed = o.seed;
  everything.fallback = os::Placement::tee;
  auto tee_row =
      planned("tee-only",
              "cpu, in-process; the code an enclave would run (" + std::to_string(o.threads) +
                  " thread" + (o.threads == 1 ? "" : "s") + "), float32",
              everything);
  if (!tee_row) return die("tee-only: " + tee_row.why());
  rows.push_back(*tee_row);
  Generation tee;
  tee.tokens = tee_row->tokens;
  tee.first_logits = tee_row->first_logits;
  tee.last_logits = tee_row->last_logits;

  // 2. Outsourced: every product blinded.
  std::optional<std::size_t> outsourced_equal;
  if (o.run_outsourced) {
    os::ProtectionPlan blinded;
    blinded.seed = o.seed;
    blinded.fallback = os::Placement::blinded;
    auto r =
        planned("outsourced",
                "linear layers blinded to " + gpu + "; attention, norms, GELU on the cpu", blinded);
    if (!r) return die("outsourced: " + r.why());
    r->vs_tee = agree(r->tokens, r->first_logits, r->last_logits, tee);
    outsourced_equal = r->vs_tee->equal;
    rows.push_back(*r);
  }

  // Partial protection: one row per plan file.
  for (const std::string& path : o.plans) {
    auto text = read_text_file(path);
    if (!text) return die(path + ": " + text.why());
    auto plan = os::parse_plan(*text);
    if (!plan) return die(path + ": " + plan.error().message);
    const std::string name = plan->name.empty() ? path : plan->name;
    std::string where = "partial protection (" + path;
    where += "): linear products placed by the plan, the GPU's on ";
    where += gpu;
    auto r = planned(name, where, *plan);
    if (!r) return die(name + ": " + r.why());
    r->vs_tee = agree(r->tokens, r->first_logits, r->last_logits, tee);
    rows.push_back(*r);
  }

  // 3. The system-level path: the whole model on hix-gpu, protected mode.
  if (o.run_system) {
    RunOptions ro;
    ro.backend = o.backend;
    ro.mode = Mode::protected_mode;
    ro.source = &*src;
    ro.runtime.max_seq = o.prompt_len + o.new_tokens;
    ro.runtime.weight_dtype = o.system_dtype;
    ro.prompt = prompt;
    ro.generate = 1;
    // One untimed run first: the backend's first kernels and cuBLAS load
    // there, not in the one-token run the decode rate subtracts.
    if (auto warm = run_model(ro); !warm) return die("system: " + warm.why());
    auto first = run_model(ro);
    if (!first) return die("system: " + first.why());
    ro.generate = o.new_tokens;
    auto all = run_model(ro);
    if (!all) return die("system: " + all.why());
    Row r;
    r.mode = "system";
    r.where = "whole model on hix-gpu (" + std::string(to_string(o.backend)) +
              ", protected mode), weights " + (o.system_dtype == HIX_VGPU_DT_BF16 ? "bf16" : "f32");
    r.ttft_s = first->generate_s;
    r.decode_tok_s = rate(all->generate_s - first->generate_s);
    r.load_s = all->load_s;
    r.tokens.assign(all->tokens.begin() + o.prompt_len, all->tokens.end());
    r.vs_tee = agree(r.tokens, first->last_logits, all->last_logits, tee);
    rows.push_back(r);
  }

  std::string j =
      "{\n  \"benchmark\": \"hix-outsource-bench\",\n  \"model\": " + json_string(o.model_name) +
      ",\n  \"backend\": \"" + std::string(to_string(o.backend)) +
      "\",\n  \"seed\": " + std::to_string(o.seed) +
      ",\n  \"prompt_tokens\": " + std::to_string(o.prompt_len) +
      ",\n  \"new_tokens\": " + std::to_string(o.new_tokens) +
      ",\n  \"threads\": " + std::to_string(o.threads) +
      ",\n  \"units\": \"seconds; decode tokens/s over new_tokens - 1 steps; "
      "bytes_per_token: limbs in + products out over every token row (prompt and "
      "decode); gpu_time_share: device submit to completion over ttft + decode\"" +
      ",\n  \"outsourced_layers\": [";
  j += layers_json;
  j += "],\n  \"modes\": {\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    j += (i != 0 ? ",\n" : "") + row_json(rows[i], rows.front().decode_tok_s);
  }
  j += "\n  }\n}\n";
  if (!o.json_path.empty()) {
    FILE* f = std::fopen(o.json_path.c_str(), "w");
    if (f == nullptr || std::fputs(j.c_str(), f) < 0 || std::fclose(f) != 0) {
      return die("cannot write " + o.json_path);
    }
  }
  std::fputs(j.c_str(), stdout);

  std::fprintf(stderr, "\nhix-outsource-bench %s, %u prompt + %u new tokens, backend %s\n",
               o.model_name.c_str(), o.prompt_len, o.new_tokens,
               std::string(to_string(o.backend)).c_str());
  std::fprintf(stderr, "%-28s", "");
  for (const Row& r : rows) std::fprintf(stderr, "%14s", r.mode.c_str());
  std::fprintf(stderr, "\n");
  const auto line = [&rows](const char* name, auto get) {
    std::fprintf(stderr, "%-28s", name);
    for (const Row& r : rows) {
      const std::optional<double> v = get(r);
      if (v) {
        std::fprintf(stderr, "%14.4g", *v);
      } else {
        std::fprintf(stderr, "%14s", "-");
      }
    }
    std::fprintf(stderr, "\n");
  };
  using D = std::optional<double>;
  line("TTFT ms", [](const Row& r) { return D(r.ttft_s * 1e3); });
  line("decode tok/s", [](const Row& r) { return D(r.decode_tok_s); });
  line("offline precompute s", [](const Row& r) { return r.offline_s; });
  line("quantize s (untimed)", [](const Row& r) { return r.setup_s; });
  line("weights load s", [](const Row& r) { return r.load_s; });
  line("GPU calls / token", [](const Row& r) { return r.gpu_calls_per_token; });
  line("KB moved / token",
       [](const Row& r) { return r.bytes_per_token ? D(*r.bytes_per_token / 1e3) : std::nullopt; });
  line("GPU time share", [](const Row& r) { return r.gpu_share; });
  line("tokens == tee-only", [](const Row& r) {
    return r.vs_tee ? D(static_cast<double>(r.vs_tee->equal))
                    : D(static_cast<double>(r.tokens.size()));
  });
  line("first divergence", [](const Row& r) {
    return r.vs_tee && r.vs_tee->first ? D(static_cast<double>(*r.vs_tee->first)) : std::nullopt;
  });
  line("params visible (frac)",
       [](const Row& r) { return r.exposure ? D(r.exposure->params_fraction()) : std::nullopt; });
  line("activations visible (frac)", [](const Row& r) {
    return r.exposure ? D(r.exposure->activations_fraction()) : std::nullopt;
  });
  line("step-1 top-2 margin (rel)", [](const Row& r) { return r.step1_margin; });
  line("logits rel diff, step 1",
       [](const Row& r) { return r.vs_tee ? D(r.vs_tee->first_logits_rel) : std::nullopt; });
  line("logits rel diff, last",
       [](const Row& r) { return r.vs_tee ? D(r.vs_tee->last_logits_rel) : std::nullopt; });

  if (o.expect_agreement) {
    if (!outsourced_equal && o.plans.empty()) {
      return die("--expect-agreement needs the outsourced mode or a plan");
    }
    for (const Row& r : rows) {
      if (!r.vs_tee || r.mode == "system") continue;
      const double frac = static_cast<double>(r.vs_tee->equal) / o.new_tokens;
      if (frac < *o.expect_agreement) {
        return die(r.mode + " tokens agree with tee-only at " + num(frac) +
                   " of positions, below " + num(*o.expect_agreement));
      }
      std::fprintf(stderr, "%s agreement %.3g >= %.3g\n", r.mode.c_str(), frac,
                   *o.expect_agreement);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hix-outsource-bench: %s\n", e.what());
    return 1;
  }
}
