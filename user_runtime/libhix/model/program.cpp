// The model's command buffers: buffer plan, weight load and generation
// (prefill of the whole prompt, then a device-side LOOP that decodes one
// token per iteration with scalar registers R0 = index of the token being
// embedded, R1 = its position; spec §6.6).
#include "program.hpp"

#include <cmath>

#include "hix/abi/hix_gpu_regs.h"
#include "hix/abi/vgpu_chunk.h"
#include "hix/vgpu/cmdbuf_builder.hpp"

namespace hix::model {

using vgpu::CmdbufBuilder;
using vgpu::PeerRange;
using vgpu::tref;
using vgpu::tref_indexed;

namespace {

constexpr std::uint8_t kRegToken = 0;  // R0: tokens[] index
constexpr std::uint8_t kRegPos = 1;    // R1: position of the first row
// SAMPLE's per-draw seed step (docs/specs/hix-gpu.md §6.5).
constexpr std::uint64_t kSampleSeedStep = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t kMaxDmaPerCmdbuf = 4ull << 30;
// Sequences of a batched plan: 2 x layers x (B - 1) cache copies must leave
// room in a command buffer for the model's other ops.
constexpr std::uint32_t kMaxBatch = 64;

bool float_dtype(std::uint8_t dtype) {
  return dtype == HIX_VGPU_DT_F32 || dtype == HIX_VGPU_DT_BF16;
}

}  // namespace

std::uint64_t Plan::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& b : buffers) n += b.bytes;
  return n;
}

std::uint64_t Plan::weight_bytes() const {
  std::uint64_t n = 0;
  for (const auto& b : buffers) {
    if (b.role == BufferRole::weights) n += b.bytes;
  }
  return n;
}

Result<Plan> make_plan(const ModelConfig& c, const RuntimeOptions& options) {
  if (!float_dtype(options.weight_dtype) || !float_dtype(options.act_dtype) ||
      !float_dtype(options.kv_dtype)) {
    return fail("plan: weight, activation and KV dtypes must be f32 or bf16");
  }
  if (options.max_seq < 2 || options.max_seq > HIX_VGPU_LOOP_MAX) {
    return fail("plan: max_seq must be 2.." + std::to_string(HIX_VGPU_LOOP_MAX));
  }
  if (options.max_seq > c.max_pos) {
    return fail("plan: max_seq " + std::to_string(options.max_seq) + " exceeds the model's " +
                std::to_string(c.max_pos) + " positions");
  }
  if (options.batch < 1 || options.batch > kMaxBatch) {
    return fail("plan: batch must be 1.." + std::to_string(kMaxBatch));
  }
  if (options.max_seq > max_context(c)) {
    // Full attention equals the sliding window's only while every token
    // sees the whole sequence (docs/decisions.md, "Model families").
    return fail("plan: max_seq " + std::to_string(options.max_seq) + " exceeds the model's " +
                "sliding_window of " + std::to_string(c.sliding_window) +
                " tokens: attention past the window is not run");
  }
  auto layout = make_device_layout(c, options.weight_dtype);
  if (!layout) return layout.error();
  Plan p;
  p.layout = std::move(*layout);
  p.options = options;
  for (std::uint32_t i = 0; i < p.layout.buffer_bytes.size(); ++i) {
    p.buffers.push_back(
        {"w." + p.layout.buffer_names[i], BufferRole::weights, i, p.layout.buffer_bytes[i]});
  }
  // Rows of the activations: the prompt's at prefill, the sequences' when
  // decoding a batch.
  const std::uint64_t s = std::max(options.max_seq, options.batch);
  const std::uint64_t a = hix_vgpu_dtype_bytes(options.act_dtype);
  const std::uint64_t batch = options.batch;
  const std::uint64_t qd = std::uint64_t{c.heads} * c.head_dim;
  const std::uint64_t kvd = std::uint64_t{c.kv_heads} * c.head_dim;
  const auto act = [&](std::string name, BufferRole role, std::uint64_t bytes) {
    p.buffers.push_back({std::move(name), role, 0, bytes});
  };
  act("tokens", BufferRole::tokens, batch * options.max_seq * 4);
  act("x", BufferRole::x, s * c.dim * a);
  act("h", BufferRole::h, s * c.dim * a);
  act("q", BufferRole::q, s * qd * a);
  act("k", BufferRole::k, s * kvd * a);
  act("v", BufferRole::v, s * kvd * a);
  act("att", BufferRole::att, s * qd * a);
  act("mlp", BufferRole::mlp, s * c.mlp * a);
  act("up", BufferRole::up, s * (rotary(c.arch) ? c.mlp : c.dim) * a);
  act("logits", BufferRole::logits, batch * c.vocab * 4);
  const std::uint64_t cache =
      batch * options.max_seq * kvd * hix_vgpu_dtype_bytes(options.kv_dtype);
  for (std::uint32_t l = 0; l < c.layers; ++l) {
    p.buffers.push_back({"k_cache." + std::to_string(l), BufferRole::k_cache, l, cache});
    p.buffers.push_back({"v_cache." + std::to_string(l), BufferRole::v_cache, l, cache});
  }
  if (p.buffers.size() > HIX_GPU_MAX_BUFFERS) {
    return fail("plan: " + std::to_string(p.buffers.size()) + " buffers, a context holds " +
                std::to_string(HIX_GPU_MAX_BUFFERS) + " (too many layers)");
  }
  return p;
}

namespace {

Check check_handles(const Plan& plan, std::span<const std::uint32_t> handles) {
  if (handles.size() != plan.buffers.size()) {
    return fail("program: " + std::to_string(handles.size()) + " handles for " +
                std::to_string(plan.buffers.size()) + " planned buffers");
  }
  for (const auto h : handles) {
    if (h == 0) return fail("program: buffer handle 0 is not a buffer");
  }
  return Unit{};
}

Check check_size(const CmdbufBuilder& b, std::uint64_t bytes) {
  if (b.op_count() > HIX_VGPU_MAX_OPS || bytes > HIX_VGPU_CMDBUF_MAX) {
    return fail("program: " + std::to_string(b.op_count()) + " ops / " + std::to_string(bytes) +
                " bytes exceed a command buffer (model too deep)");
  }
  return Unit{};
}

// A generate request's own rules (both the batch-1 and the batched program).
Check check_generate(const Plan& plan, const GenerateRequest& req) {
  if (req.prompt_len < 1 || req.n_new < 1) {
    return fail("generate: empty prompt or nothing to generate");
  }
  if (std::uint64_t{req.prompt_len} + req.n_new > plan.options.max_seq) {
    return fail("generate: prompt " + std::to_string(req.prompt_len) + " + " +
                std::to_string(req.n_new) + " new tokens exceed max_seq " +
                std::to_string(plan.options.max_seq));
  }
  if (req.sample && (!std::isfinite(req.temperature) || req.temperature <= 0)) {
    return fail("generate: sampling temperature must be finite and positive");
  }
  if (req.sealed) {
    if ((req.prompt_tensor_id & HIX_VGPU_TENSOR_ID_DEVICE) != 0) {
      return fail("generate: the prompt's tensor id must have bit 63 clear");
    }
    if ((req.tokens_tensor_id & HIX_VGPU_TENSOR_ID_DEVICE) == 0 ||
        (req.logits_gpa && (req.logits_tensor_id & HIX_VGPU_TENSOR_ID_DEVICE) == 0)) {
      return fail("generate: output tensor ids must have bit 63 set");
    }
    if (req.logits_gpa && req.logits_tensor_id <= req.tokens_tensor_id) {
      return fail("generate: the logits' tensor id must be above the tokens' (sealed after them)");
    }
  }
  return Unit{};
}

// Emits the ops of one model over the buffers of a plan.
class Emitter {
 public:
  // `batch`: the sequences of batched ops (0: the plan's).
  Emitter(const Plan& plan, std::span<const std::uint32_t> handles, std::uint32_t batch = 0)
      : p_(plan),
        c_(plan.layout.config),
        h_(handles),
        batch_(batch == 0 ? plan.options.batch : batch) {
    for (std::size_t i = 0; i < plan.buffers.size(); ++i) {
      const auto& b = plan.buffers[i];
      switch (b.role) {
        case BufferRole::weights:
          break;
        case BufferRole::k_cache:
          kcache_.push_back(handles[i]);
          break;
        case BufferRole::v_cache:
          vcache_.push_back(handles[i]);
          break;
        default:
          role_[static_cast<std::size_t>(b.role)] = handles[i];
          break;
      }
    }
  }

  std::uint32_t handle(BufferRole r) const { return role_[static_cast<std::size_t>(r)]; }

  // A weight by device name (the layout always has it: names are ours).
  hix_vgpu_tref w(const std::string& name) const {
    const auto& t = p_.layout.tensors[*p_.layout.find(name)];
    return tref(h_[t.buffer], t.dtype, t.offset);
  }
  hix_vgpu_tref layer_w(std::uint32_t l, const char* name) const {
    return w("layers." + std::to_string(l) + "." + name);
  }
  // Activation `r` at element `elem`.
  hix_vgpu_tref a(BufferRole r, std::uint64_t elem = 0) const {
    return tref(handle(r), p_.options.act_dtype, elem * hix_vgpu_dtype_bytes(p_.options.act_dtype));
  }
  hix_vgpu_tref token_at_r0() const {
    return tref_indexed(handle(BufferRole::tokens), HIX_VGPU_DT_I32, 0, kRegToken, 4);
  }

  // out[rows, n] (+)= in[rows, k] weight^T (+ bias).
  struct MatmulShape {
    std::uint32_t rows = 0;
    std::uint64_t n = 0;
    std::uint64_t k = 0;
  };

  void matmul(CmdbufBuilder& cb, hix_vgpu_tref out, hix_vgpu_tref in, hix_vgpu_tref weight,
              hix_vgpu_tref bias, MatmulShape shape, bool accumulate) const {
    const std::uint32_t rows = shape.rows;
    const std::uint64_t n = shape.n;
    const std::uint64_t k = shape.k;
    hix_vgpu_op_matmul r{};
    r.h.flags = HIX_VGPU_MATMUL_TRANS_B | (accumulate ? HIX_VGPU_MATMUL_ACCUMULATE : 0u);
    r.out = out;
    r.a = in;
    r.b = weight;
    r.bias = bias;
    r.m = rows;
    r.n = static_cast<std::uint32_t>(n);
    r.k = static_cast<std::uint32_t>(k);
    cb.add(HIX_VGPU_OP_MATMUL, r);
  }

  void norm(CmdbufBuilder& cb, hix_vgpu_tref out, hix_vgpu_tref in, const std::string& gamma,
            const std::string& beta, std::uint32_t rows) const {
    if (c_.arch == Arch::gpt2) {
      hix_vgpu_op_layernorm r{};
      r.out = out;
      r.x = in;
      r.gamma = w(gamma);
      r.beta = w(beta);
      r.rows = rows;
      r.cols = c_.dim;
      r.eps = c_.norm_eps;
      cb.add(HIX_VGPU_OP_LAYERNORM, r);
    } else {
      hix_vgpu_op_rmsnorm r{};
      r.out = out;
      r.x = in;
      r.gamma = w(gamma);
      r.rows = rows;
      r.cols = c_.dim;
      r.eps = c_.norm_eps;
      cb.add(HIX_VGPU_OP_RMSNORM, r);
    }
  }

  // RoPE over `rows` tokens of `heads` heads each.
  struct RopeShape {
    std::uint32_t rows = 0;
    std::uint32_t heads = 0;
  };

  // batched: `rows` sequences all at position R1 (HIX_VGPU_BATCH).
  void rope(CmdbufBuilder& cb, BufferRole r, RopeShape shape, bool batched) const {
    const auto fill = [&](auto& o) {
      o.h.flags = batched ? HIX_VGPU_BATCH : 0u;
      o.out = o.x = a(r);
      o.tokens = shape.rows;
      o.heads = shape.heads;
      o.head_dim = c_.head_dim;
      o.rot_dim = c_.head_dim;
      o.pos = 0;
      o.pos_reg = kRegPos;
      o.theta = c_.rope_theta;
    };
    if (!c_.rope_scaling) {
      hix_vgpu_op_rope o{};
      fill(o);
      cb.add(HIX_VGPU_OP_ROPE, o);
      return;
    }
    hix_vgpu_op_rope_llama3 o{};
    fill(o);
    o.factor = c_.rope_scaling->factor;
    o.low_freq_factor = c_.rope_scaling->low_freq_factor;
    o.high_freq_factor = c_.rope_scaling->high_freq_factor;
    o.original_max_pos = c_.rope_scaling->original_max_pos;
    cb.add(HIX_VGPU_OP_ROPE_LLAMA3, o);
  }

  // x = embeddings of tokens[R0..R0+rows) (+ GPT-2 positions R1..).
  void embed(CmdbufBuilder& cb, std::uint32_t rows) const {
    const bool gpt2 = c_.arch == Arch::gpt2;
    hix_vgpu_op_embedding e{};
    e.out = a(BufferRole::x);
    e.table = w(gpt2 ? "wte" : "embed");
    e.ids = token_at_r0();
    e.rows = rows;
    e.dim = c_.dim;
    e.vocab = c_.vocab;
    cb.add(HIX_VGPU_OP_EMBEDDING, e);
    if (!gpt2) return;
    hix_vgpu_tref pos = w("wpe");
    pos.index_reg = kRegPos;
    pos.index_stride = static_cast<std::uint32_t>(c_.dim * hix_vgpu_dtype_bytes(p_.layout.dtype));
    const std::uint64_t n = std::uint64_t{rows} * c_.dim;
    cb.copy(a(BufferRole::up), pos, n);
    hix_vgpu_op_binary add{};
    add.out = add.a = a(BufferRole::x);
    add.b = a(BufferRole::up);
    add.n = add.nb = n;
    cb.add(HIX_VGPU_OP_ADD, add);
  }

  // The layers over `rows` tokens in x at positions R1..; then the logits of
  // the last row, R0 += 1, and the next token into tokens[R0].
  void body(CmdbufBuilder& cb, std::uint32_t rows, const GenerateRequest& req) const {
    layers(cb, rows, false);
    head(cb, rows, req);
  }

  // The layers over `rows` tokens in x at positions R1.. or, batched, over
  // `rows` sequences all at position R1, each with its own KV caches.
  void layers(CmdbufBuilder& cb, std::uint32_t rows, bool batched) const {
    const std::uint64_t d = c_.dim, m = c_.mlp;
    const std::uint64_t qd = std::uint64_t{c_.heads} * c_.head_dim;
    const std::uint64_t kvd = std::uint64_t{c_.kv_heads} * c_.head_dim;
    const bool gpt2 = c_.arch == Arch::gpt2;
    const hix_vgpu_tref none{};
    for (std::uint32_t l = 0; l < c_.layers; ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      const auto bias = [&](const char* name) { return gpt2 ? layer_w(l, name) : none; };
      // Qwen2: q, k and v have biases, o has none.
      const auto qkv_b = [&](const char* name) {
        return gpt2 || qkv_bias(c_) ? layer_w(l, name) : none;
      };
      if (gpt2) {
        norm(cb, a(BufferRole::h), a(BufferRole::x), p + "ln1.g", p + "ln1.b", rows);
      } else {
        norm(cb, a(BufferRole::h), a(BufferRole::x), p + "attn_norm", "", rows);
      }
      matmul(cb, a(BufferRole::q), a(BufferRole::h), layer_w(l, "wq"), qkv_b("bq"),
             {.rows = rows, .n = qd, .k = d}, false);
      matmul(cb, a(BufferRole::k), a(BufferRole::h), layer_w(l, "wk"), qkv_b("bk"),
             {.rows = rows, .n = kvd, .k = d}, false);
      matmul(cb, a(BufferRole::v), a(BufferRole::h), layer_w(l, "wv"), qkv_b("bv"),
             {.rows = rows, .n = kvd, .k = d}, false);
      if (!gpt2) {
        rope(cb, BufferRole::q, {.rows = rows, .heads = c_.heads}, batched);
        rope(cb, BufferRole::k, {.rows = rows, .heads = c_.kv_heads}, batched);
      }
      hix_vgpu_op_attention at{};
      at.h.flags = batched ? HIX_VGPU_BATCH : 0u;
      at.out = a(BufferRole::att);
      at.q = a(BufferRole::q);
      at.k = a(BufferRole::k);
      at.v = a(BufferRole::v);
      at.k_cache = tref(kcache_[l], p_.options.kv_dtype);
      at.v_cache = tref(vcache_[l], p_.options.kv_dtype);
      at.tokens = rows;
      at.q_heads = c_.heads;
      at.kv_heads = c_.kv_heads;
      at.head_dim = c_.head_dim;
      at.max_seq = p_.options.max_seq;
      at.pos = 0;
      at.pos_reg = kRegPos;
      at.scale = 1.0f / std::sqrt(static_cast<float>(c_.head_dim));
      cb.add(HIX_VGPU_OP_ATTENTION, at);
      // Residual adds fold into the projections (ACCUMULATE).
      matmul(cb, a(BufferRole::x), a(BufferRole::att), layer_w(l, "wo"), bias("bo"),
             {.rows = rows, .n = d, .k = qd}, true);
      const std::uint64_t mn = std::uint64_t{rows} * m;
      if (gpt2) {
        norm(cb, a(BufferRole::h), a(BufferRole::x), p + "ln2.g", p + "ln2.b", rows);
        matmul(cb, a(BufferRole::mlp), a(BufferRole::h), layer_w(l, "w1"), layer_w(l, "b1"),
               {.rows = rows, .n = m, .k = d}, false);
        hix_vgpu_op_unary g{};
        g.out = g.x = a(BufferRole::mlp);
        g.count = mn;
        cb.add(HIX_VGPU_OP_GELU, g);
        matmul(cb, a(BufferRole::x), a(BufferRole::mlp), layer_w(l, "w2"), layer_w(l, "b2"),
               {.rows = rows, .n = d, .k = m}, true);
      } else {
        norm(cb, a(BufferRole::h), a(BufferRole::x), p + "mlp_norm", "", rows);
        matmul(cb, a(BufferRole::mlp), a(BufferRole::h), layer_w(l, "w_gate"), none,
               {.rows = rows, .n = m, .k = d}, false);
        matmul(cb, a(BufferRole::up), a(BufferRole::h), layer_w(l, "w_up"), none,
               {.rows = rows, .n = m, .k = d}, false);
        hix_vgpu_op_unary s{};
        s.out = s.x = a(BufferRole::mlp);
        s.count = mn;
        cb.add(HIX_VGPU_OP_SILU, s);
        hix_vgpu_op_binary mul{};
        mul.out = mul.a = a(BufferRole::mlp);
        mul.b = a(BufferRole::up);
        mul.n = mul.nb = mn;
        cb.add(HIX_VGPU_OP_MUL, mul);
        matmul(cb, a(BufferRole::x), a(BufferRole::mlp), layer_w(l, "w_down"), none,
               {.rows = rows, .n = d, .k = m}, true);
      }
    }
  }

  // The logits of the last of `rows` rows of x, R0 += 1, and the next token
  // into tokens[R0].
  void head(CmdbufBuilder& cb, std::uint32_t rows, const GenerateRequest& req) const {
    const std::uint64_t d = c_.dim;
    const bool gpt2 = c_.arch == Arch::gpt2;
    const hix_vgpu_tref none{};
    // Only the last row's logits are needed.
    const hix_vgpu_tref last = a(BufferRole::x, std::uint64_t{rows - 1} * d);
    if (gpt2) {
      norm(cb, a(BufferRole::h), last, "ln_f.g", "ln_f.b", 1);
    } else {
      norm(cb, a(BufferRole::h), last, "norm", "", 1);
    }
    const char* head = gpt2 ? "wte" : (c_.tied_embeddings ? "embed" : "lm_head");
    matmul(cb, tref(handle(BufferRole::logits), HIX_VGPU_DT_F32), a(BufferRole::h), w(head), none,
           {.rows = 1, .n = c_.vocab, .k = d}, false);
    cb.add_reg(kRegToken, 1);
    if (req.sample) {
      hix_vgpu_op_sample s{};
      s.out = token_at_r0();
      s.x = tref(handle(BufferRole::logits), HIX_VGPU_DT_F32);
      s.rows = 1;
      s.cols = c_.vocab;
      s.temperature = req.temperature;
      s.top_k = req.top_k;
      s.seed = req.seed;
      cb.add(HIX_VGPU_OP_SAMPLE, s);
    } else {
      hix_vgpu_op_rows am{};
      am.out = token_at_r0();
      am.x = tref(handle(BufferRole::logits), HIX_VGPU_DT_F32);
      am.rows = 1;
      am.cols = c_.vocab;
      cb.add(HIX_VGPU_OP_ARGMAX, am);
    }
  }

  // ---- Batched decode (spec §6.4.1): B = plan batch sequences ----

  std::uint32_t batch() const { return batch_; }

  // tokens[prompt_len + R0 * B + b]: sequence b's id of step R0.
  hix_vgpu_tref batch_tokens_at_r0(std::uint32_t prompt_len) const {
    return tref_indexed(handle(BufferRole::tokens), HIX_VGPU_DT_I32, std::uint64_t{prompt_len} * 4,
                        kRegToken, 4 * batch());
  }

  // x = embeddings of step R0's B ids (+ GPT-2's position R1 on every row).
  void embed_batch(CmdbufBuilder& cb, std::uint32_t prompt_len) const {
    const bool gpt2 = c_.arch == Arch::gpt2;
    hix_vgpu_op_embedding e{};
    e.out = a(BufferRole::x);
    e.table = w(gpt2 ? "wte" : "embed");
    e.ids = batch_tokens_at_r0(prompt_len);
    e.rows = batch();
    e.dim = c_.dim;
    e.vocab = c_.vocab;
    cb.add(HIX_VGPU_OP_EMBEDDING, e);
    if (!gpt2) return;
    hix_vgpu_tref pos = w("wpe");
    pos.index_reg = kRegPos;
    pos.index_stride = static_cast<std::uint32_t>(c_.dim * hix_vgpu_dtype_bytes(p_.layout.dtype));
    cb.copy(a(BufferRole::up), pos, c_.dim);
    hix_vgpu_op_binary add{};
    add.out = add.a = a(BufferRole::x);
    add.b = a(BufferRole::up);
    add.n = std::uint64_t{batch()} * c_.dim;
    add.nb = c_.dim;  // one position row for every sequence
    cb.add(HIX_VGPU_OP_ADD, add);
  }

  // The logits of all B rows of x, R0 += 1, and step R0's B tokens.
  void head_batch(CmdbufBuilder& cb, std::uint32_t prompt_len, const GenerateRequest& req) const {
    const bool gpt2 = c_.arch == Arch::gpt2;
    if (gpt2) {
      norm(cb, a(BufferRole::h), a(BufferRole::x), "ln_f.g", "ln_f.b", batch());
    } else {
      norm(cb, a(BufferRole::h), a(BufferRole::x), "norm", "", batch());
    }
    const char* head = gpt2 ? "wte" : (c_.tied_embeddings ? "embed" : "lm_head");
    matmul(cb, tref(handle(BufferRole::logits), HIX_VGPU_DT_F32), a(BufferRole::h), w(head), {},
           {.rows = batch(), .n = c_.vocab, .k = c_.dim}, false);
    cb.add_reg(kRegToken, 1);
    choose(cb, batch_tokens_at_r0(prompt_len), req);
  }

  // B tokens into `out` from the B rows of logits: SAMPLE or ARGMAX.
  void choose(CmdbufBuilder& cb, hix_vgpu_tref out, const GenerateRequest& req) const {
    const hix_vgpu_tref logits = tref(handle(BufferRole::logits), HIX_VGPU_DT_F32);
    if (req.sample) {
      hix_vgpu_op_sample s{};
      s.out = out;
      s.x = logits;
      s.rows = batch();
      s.cols = c_.vocab;
      s.temperature = req.temperature;
      s.top_k = req.top_k;
      s.seed = req.seed;
      cb.add(HIX_VGPU_OP_SAMPLE, s);
    } else {
      hix_vgpu_op_rows am{};
      am.out = out;
      am.x = logits;
      am.rows = batch();
      am.cols = c_.vocab;
      cb.add(HIX_VGPU_OP_ARGMAX, am);
    }
  }

  // Logits row 0 into rows 1..B-1 (doubling copies).
  void replicate_logits(CmdbufBuilder& cb) const {
    const std::uint32_t lh = handle(BufferRole::logits);
    const std::uint64_t v = c_.vocab;
    for (std::uint64_t have = 1; have < batch();) {
      const std::uint64_t n = std::min<std::uint64_t>(have, batch() - have);
      cb.copy(tref(lh, HIX_VGPU_DT_F32, have * v * 4), tref(lh, HIX_VGPU_DT_F32), n * v);
      have += n;
    }
  }

  // Rows 0..rows-1 of every layer's cache 0 into caches 1..B-1.
  void copy_prompt_caches(CmdbufBuilder& cb, std::uint32_t rows) const {
    const std::uint8_t kvt = p_.options.kv_dtype;
    const std::uint64_t kvd = std::uint64_t{c_.kv_heads} * c_.head_dim;
    const std::uint64_t cache_bytes =
        std::uint64_t{p_.options.max_seq} * kvd * hix_vgpu_dtype_bytes(kvt);
    for (std::uint32_t l = 0; l < c_.layers; ++l) {
      for (const std::uint32_t h : {kcache_[l], vcache_[l]}) {
        for (std::uint32_t b = 1; b < batch(); ++b) {
          cb.copy(tref(h, kvt, b * cache_bytes), tref(h, kvt), std::uint64_t{rows} * kvd);
        }
      }
    }
  }

 private:
  const Plan& p_;
  const ModelConfig& c_;
  std::span<const std::uint32_t> h_;
  std::uint32_t batch_;
  std::uint32_t role_[static_cast<std::size_t>(BufferRole::v_cache) + 1] = {};
  std::vector<std::uint32_t> kcache_, vcache_;
};

}  // namespace

Result<std::vector<std::vector<std::byte>>> build_load_program(
    const Plan& plan, std::span<const std::uint32_t> handles, const LoadRequest& request) {
  if (auto r = check_handles(plan, handles); !r) return r.error();
  const auto& tensors = plan.layout.tensors;
  if (request.tensor_gpas.size() != tensors.size()) {
    return fail("load: " + std::to_string(request.tensor_gpas.size()) + " addresses for " +
                std::to_string(tensors.size()) + " device tensors");
  }
  if (request.sealed &&
      (request.first_tensor_id + tensors.size() < request.first_tensor_id ||
       ((request.first_tensor_id + tensors.size()) & HIX_VGPU_TENSOR_ID_DEVICE) != 0)) {
    return fail("load: host tensor ids must keep bit 63 clear");
  }
  constexpr std::uint64_t kRecord = sizeof(hix_vgpu_op_dma_crypt);
  const std::uint64_t max_ops = std::min<std::uint64_t>(
      HIX_VGPU_MAX_OPS, (HIX_VGPU_CMDBUF_MAX - sizeof(hix_vgpu_cmdbuf_header)) / kRecord);
  std::vector<std::vector<std::byte>> out;
  CmdbufBuilder cb;
  std::uint64_t dma_bytes = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (cb.op_count() > 0 &&
        (cb.op_count() >= max_ops || dma_bytes + t.bytes() > kMaxDmaPerCmdbuf)) {
      out.push_back(cb.finish());
      cb = CmdbufBuilder();
      dma_bytes = 0;
    }
    const hix_vgpu_tref dst = tref(handles[t.buffer], t.dtype, t.offset);
    if (request.peer_disk) {
      const PeerRange from{*request.peer_disk, request.tensor_gpas[i], t.bytes()};
      if (request.sealed) {
        cb.dma_peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, dst, from,
                    {.tensor_id = request.first_tensor_id + i, .key_slot = request.key_slot});
      } else {
        cb.dma_peer(HIX_VGPU_OP_DMA_IN_PEER, dst, from, {});
      }
    } else if (request.sealed) {
      cb.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, dst,
                   {.gpa = request.tensor_gpas[i], .bytes = t.bytes()},
                   {.tensor_id = request.first_tensor_id + i, .key_slot = request.key_slot});
    } else {
      cb.dma(HIX_VGPU_OP_DMA_IN, dst, {.gpa = request.tensor_gpas[i], .bytes = t.bytes()});
    }
    dma_bytes += t.bytes();
  }
  if (cb.op_count() > 0) out.push_back(cb.finish());
  return out;
}

std::uint64_t tokens_out_bytes(const GenerateRequest& r) {
  return (std::uint64_t{r.prompt_len} + r.n_new) * 4;
}

std::uint64_t logits_out_bytes(const Plan& plan) {
  return std::uint64_t{plan.layout.config.vocab} * 4;
}

namespace {

// The token buffer's first `ids` i32 set to -1, then the prompt's ids in
// from guest memory (sealed or plain) at its start.
void prompt_in(CmdbufBuilder& cb, std::uint32_t tokens, std::uint64_t ids,
               const GenerateRequest& req) {
  cb.fill(tref(tokens, HIX_VGPU_DT_I32), ids, 0xFFFFFFFFu);
  const vgpu::GuestRange prompt{.gpa = req.prompt_gpa, .bytes = std::uint64_t{req.prompt_len} * 4};
  if (req.sealed) {
    cb.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(tokens, HIX_VGPU_DT_I32), prompt,
                 {.tensor_id = req.prompt_tensor_id, .key_slot = req.key_slot});
  } else {
    cb.dma(HIX_VGPU_OP_DMA_IN, tref(tokens, HIX_VGPU_DT_I32), prompt);
  }
}

}  // namespace

Result<std::vector<std::byte>> build_generate_program(const Plan& plan,
                                                      std::span<const std::uint32_t> handles,
                                                      const GenerateRequest& req) {
  if (auto r = check_handles(plan, handles); !r) return r.error();
  if (auto r = check_generate(plan, req); !r) return r.error();
  const Emitter e(plan, handles);
  const std::uint32_t tokens = e.handle(BufferRole::tokens);
  const std::uint32_t rows = req.prompt_len;
  CmdbufBuilder cb;
  // -1 marks the ids after an eos stop.
  prompt_in(cb, tokens, plan.options.max_seq, req);
  // Prefill: the prompt at positions 0..; the argmax lands in tokens[rows].
  cb.set_reg(kRegToken, 0).set_reg(kRegPos, 0);
  e.embed(cb, rows);
  cb.set_reg(kRegToken, static_cast<std::int32_t>(rows - 1));
  e.body(cb, rows, req);
  if (req.n_new > 1) {
    // Decode: embed tokens[R0] at position R1, append the next token.
    cb.set_reg(kRegPos, static_cast<std::int32_t>(rows));
    CmdbufBuilder loop;
    if (req.eos) {
      hix_vgpu_op_break_if_eq br{};
      br.x = e.token_at_r0();
      br.value = *req.eos;
      loop.add(HIX_VGPU_OP_BREAK_IF_EQ, br);
    }
    e.embed(loop, 1);
    e.body(loop, 1, req);
    loop.add_reg(kRegPos, 1);
    cb.loop({.count = req.n_new - 1, .body_ops = loop.op_count()}).append(loop);
  }
  const std::uint64_t out_bytes = tokens_out_bytes(req);
  const std::uint32_t logits = e.handle(BufferRole::logits);
  if (req.sealed) {
    cb.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(tokens, HIX_VGPU_DT_I32),
                 {.gpa = req.tokens_gpa, .bytes = out_bytes},
                 {.tensor_id = req.tokens_tensor_id, .key_slot = req.key_slot});
    if (req.logits_gpa) {
      cb.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(logits, HIX_VGPU_DT_F32),
                   {.gpa = *req.logits_gpa, .bytes = logits_out_bytes(plan)},
                   {.tensor_id = req.logits_tensor_id, .key_slot = req.key_slot});
    }
  } else {
    cb.dma(HIX_VGPU_OP_DMA_OUT, tref(tokens, HIX_VGPU_DT_I32),
           {.gpa = req.tokens_gpa, .bytes = out_bytes});
    if (req.logits_gpa) {
      cb.dma(HIX_VGPU_OP_DMA_OUT, tref(logits, HIX_VGPU_DT_F32),
             {.gpa = *req.logits_gpa, .bytes = logits_out_bytes(plan)});
    }
  }
  auto bytes = cb.finish();
  if (auto r = check_size(cb, bytes.size()); !r) return r.error();
  return bytes;
}

namespace {

std::uint32_t sequences(const Plan& plan, const GenerateRequest& r) {
  return r.batch == 0 ? plan.options.batch : r.batch;
}

}  // namespace

std::uint64_t batch_tokens_out_bytes(const Plan& plan, const GenerateRequest& r) {
  return (std::uint64_t{r.prompt_len} + std::uint64_t{r.n_new} * sequences(plan, r)) * 4;
}

std::uint64_t batch_logits_out_bytes(const Plan& plan, const GenerateRequest& r) {
  return std::uint64_t{sequences(plan, r)} * plan.layout.config.vocab * 4;
}

Result<std::vector<std::byte>> build_batch_generate_program(const Plan& plan,
                                                            std::span<const std::uint32_t> handles,
                                                            const GenerateRequest& req) {
  if (auto r = check_handles(plan, handles); !r) return r.error();
  if (auto r = check_generate(plan, req); !r) return r.error();
  if (req.eos) {
    return fail("batch generate: no eos stop (every sequence runs every step)");
  }
  const std::uint32_t batch = sequences(plan, req);
  if (batch > plan.options.batch) {
    return fail("batch generate: " + std::to_string(batch) + " sequences, the plan holds " +
                std::to_string(plan.options.batch));
  }
  const Emitter e(plan, handles, batch);
  const std::uint32_t tokens = e.handle(BufferRole::tokens);
  const std::uint32_t rows = req.prompt_len;
  CmdbufBuilder cb;
  prompt_in(cb, tokens, std::uint64_t{batch} * plan.options.max_seq, req);
  const std::uint64_t prompt_bytes = std::uint64_t{rows} * 4;
  // Prefill once, at batch 1, into cache 0; the last row's logits then
  // choose every sequence's first token.
  cb.set_reg(kRegToken, 0).set_reg(kRegPos, 0);
  e.embed(cb, rows);
  e.layers(cb, rows, false);
  const std::uint64_t d = plan.layout.config.dim;
  const hix_vgpu_tref last = e.a(BufferRole::x, std::uint64_t{rows - 1} * d);
  const bool gpt2 = plan.layout.config.arch == Arch::gpt2;
  if (gpt2) {
    e.norm(cb, e.a(BufferRole::h), last, "ln_f.g", "ln_f.b", 1);
  } else {
    e.norm(cb, e.a(BufferRole::h), last, "norm", "", 1);
  }
  const ModelConfig& c = plan.layout.config;
  const char* head = gpt2 ? "wte" : (c.tied_embeddings ? "embed" : "lm_head");
  e.matmul(cb, tref(e.handle(BufferRole::logits), HIX_VGPU_DT_F32), e.a(BufferRole::h), e.w(head),
           {}, {.rows = 1, .n = c.vocab, .k = d}, false);
  e.replicate_logits(cb);
  e.choose(cb, tref(tokens, HIX_VGPU_DT_I32, prompt_bytes), req);
  e.copy_prompt_caches(cb, rows);
  if (req.n_new > 1) {
    // Decode: step R0's B ids at position R1, the next step's ids appended.
    cb.set_reg(kRegToken, 0).set_reg(kRegPos, static_cast<std::int32_t>(rows));
    CmdbufBuilder loop;
    e.embed_batch(loop, rows);
    e.layers(loop, batch, true);
    e.head_batch(loop, rows, req);
    loop.add_reg(kRegPos, 1);
    cb.loop({.count = req.n_new - 1, .body_ops = loop.op_count()}).append(loop);
  }
  const std::uint64_t out_bytes = batch_tokens_out_bytes(plan, req);
  const std::uint32_t logits = e.handle(BufferRole::logits);
  if (req.sealed) {
    cb.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(tokens, HIX_VGPU_DT_I32),
                 {.gpa = req.tokens_gpa, .bytes = out_bytes},
                 {.tensor_id = req.tokens_tensor_id, .key_slot = req.key_slot});
    if (req.logits_gpa) {
      cb.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(logits, HIX_VGPU_DT_F32),
                   {.gpa = *req.logits_gpa, .bytes = batch_logits_out_bytes(plan, req)},
                   {.tensor_id = req.logits_tensor_id, .key_slot = req.key_slot});
    }
  } else {
    cb.dma(HIX_VGPU_OP_DMA_OUT, tref(tokens, HIX_VGPU_DT_I32),
           {.gpa = req.tokens_gpa, .bytes = out_bytes});
    if (req.logits_gpa) {
      cb.dma(HIX_VGPU_OP_DMA_OUT, tref(logits, HIX_VGPU_DT_F32),
             {.gpa = *req.logits_gpa, .bytes = batch_logits_out_bytes(plan, req)});
    }
  }
  auto bytes = cb.finish();
  if (auto r = check_size(cb, bytes.size()); !r) return r.error();
  return bytes;
}

Result<std::vector<std::byte>> build_continue_program(const Plan& plan,
                                                      std::span<const std::uint32_t> handles,
                                                      const ContinueRequest& req) {
  if (auto r = check_handles(plan, handles); !r) return r.error();
  const GenerateRequest& base = req.base;
  if (req.from <= base.prompt_len || req.n_new < 1) {
    return fail("continue: a round starts after the first generated token and adds at least one");
  }
  if (std::uint64_t{req.from} + req.n_new > plan.options.max_seq) {
    return fail("continue: " + std::to_string(req.from) + " + " + std::to_string(req.n_new) +
                " tokens exceed max_seq " + std::to_string(plan.options.max_seq));
  }
  if (base.sample && (!std::isfinite(base.temperature) || base.temperature <= 0)) {
    return fail("continue: sampling temperature must be finite and positive");
  }
  if (base.sealed && (req.tokens_tensor_id & HIX_VGPU_TENSOR_ID_DEVICE) == 0) {
    return fail("continue: the output tensor id must have bit 63 set");
  }
  GenerateRequest step = base;
  // SAMPLE numbers its draws per command buffer (spec §6.5): the first
  // round drew from - prompt_len of them.
  step.seed = base.seed + std::uint64_t{req.from - base.prompt_len} * kSampleSeedStep;
  const Emitter e(plan, handles);
  const std::uint32_t tokens = e.handle(BufferRole::tokens);
  CmdbufBuilder cb;
  // The last token so far is fed at its own position.
  cb.set_reg(kRegToken, static_cast<std::int32_t>(req.from - 1))
      .set_reg(kRegPos, static_cast<std::int32_t>(req.from - 1));
  CmdbufBuilder loop;
  if (base.eos) {
    hix_vgpu_op_break_if_eq br{};
    br.x = e.token_at_r0();
    br.value = *base.eos;
    loop.add(HIX_VGPU_OP_BREAK_IF_EQ, br);
  }
  e.embed(loop, 1);
  e.body(loop, 1, step);
  loop.add_reg(kRegPos, 1);
  cb.loop({.count = req.n_new, .body_ops = loop.op_count()}).append(loop);
  const hix_vgpu_tref out = tref(tokens, HIX_VGPU_DT_I32, std::uint64_t{req.from} * 4);
  const std::uint64_t out_bytes = std::uint64_t{req.n_new} * 4;
  if (base.sealed) {
    cb.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, out, {.gpa = req.tokens_gpa, .bytes = out_bytes},
                 {.tensor_id = req.tokens_tensor_id, .key_slot = base.key_slot});
  } else {
    cb.dma(HIX_VGPU_OP_DMA_OUT, out, {.gpa = req.tokens_gpa, .bytes = out_bytes});
  }
  auto bytes = cb.finish();
  if (auto r = check_size(cb, bytes.size()); !r) return r.error();
  return bytes;
}

Result<std::vector<std::byte>> build_prefill_program(const Plan& plan,
                                                     std::span<const std::uint32_t> handles,
                                                     GenerateRequest request) {
  request.n_new = 1;
  return build_generate_program(plan, handles, request);
}

}  // namespace hix::model
