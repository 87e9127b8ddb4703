// The model's command buffers (docs/specs/hix-gpu.md §6): a Plan of the
// buffers a session allocates, the load program (weights in, sealed or
// plain) and the generate program (prompt in, prefill, device-side decode
// loop, tokens and last logits out).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "device_layout.hpp"
#include "hix/abi/vgpu_cmd.h"
#include "model_config.hpp"
#include "result.hpp"

namespace hix::model {

struct RuntimeOptions {
  std::uint32_t max_seq = 2048;                  // prompt + generated tokens (KV cache rows)
  std::uint8_t weight_dtype = HIX_VGPU_DT_BF16;  // or HIX_VGPU_DT_F32
  std::uint8_t act_dtype = HIX_VGPU_DT_F32;      // activations (bf16 allowed)
  std::uint8_t kv_dtype = HIX_VGPU_DT_F32;       // KV caches (bf16 allowed)
  // Sequences decoded together (build_batch_generate_program): activations
  // for max(max_seq, batch) rows, batch KV caches per layer, batch logits
  // rows and batch * max_seq token ids. 1: the plan of every other program.
  std::uint32_t batch = 1;
};

enum class BufferRole : std::uint8_t {
  weights,  // Plan::layout.buffer_names[layer]
  tokens,   // i32 [max_seq] (batch B: [B * max_seq])
  x,        // residual stream [max_seq, dim] (rows: max(max_seq, B))
  h,        // normed [max_seq, dim]
  q,        // [max_seq, heads*head_dim]
  k,        // [max_seq, kv_heads*head_dim]
  v,
  att,      // [max_seq, heads*head_dim]
  mlp,      // GPT-2 fc / Llama gate [max_seq, mlp]
  up,       // Llama up [max_seq, mlp]; GPT-2 positional rows [max_seq, dim]
  logits,   // f32 [vocab] (batch B: [B, vocab])
  k_cache,  // per layer [max_seq, kv_heads, head_dim] (batch B: B of them)
  v_cache,
};

struct BufferSpec {
  std::string name;
  BufferRole role = BufferRole::weights;
  std::uint32_t index = 0;  // weight buffer index or layer of a cache
  std::uint64_t bytes = 0;
};

// The session allocates every buffer in `buffers`, in order, and passes the
// handles back in the same order.
struct Plan {
  DeviceLayout layout;
  RuntimeOptions options;
  std::vector<BufferSpec> buffers;
  std::uint64_t total_bytes() const;
  std::uint64_t weight_bytes() const;
};

Result<Plan> make_plan(const ModelConfig& c, const RuntimeOptions& options);

struct LoadRequest {
  // Guest physical address of each device tensor's bytes (sealed in the
  // §7.1 format when `sealed`), in Plan::layout.tensors order; with
  // `peer_disk`, each tensor's byte offset on that peer disk instead
  // (DMA_IN_DECRYPT_PEER or DMA_IN_PEER, hix-gpu §7.4).
  std::span<const std::uint64_t> tensor_gpas;
  bool sealed = true;  // DMA_IN_DECRYPT (protected) or DMA_IN (plain)
  std::uint32_t key_slot = 0;
  // Tensor i is sealed with id first_tensor_id + i (bit 63 clear).
  std::uint64_t first_tensor_id = 1;
  std::optional<std::uint32_t> peer_disk{};  // see tensor_gpas
};

// One or more command buffers (split at the op, size and DMA byte limits).
Result<std::vector<std::vector<std::byte>>> build_load_program(
    const Plan& plan, std::span<const std::uint32_t> handles, const LoadRequest& request);

struct GenerateRequest {
  std::uint32_t prompt_len = 0;  // >= 1
  std::uint32_t n_new = 1;       // tokens to generate, >= 1
  bool sealed = true;
  std::uint32_t key_slot = 0;
  // Prompt: prompt_len i32 ids at prompt_gpa (sealed with prompt_tensor_id,
  // bit 63 clear, when sealed).
  std::uint64_t prompt_gpa = 0;
  std::uint64_t prompt_tensor_id = 0;
  // Tokens out: tokens_out_bytes() bytes, prompt then generated ids (-1 after
  // an eos stop), sealed by the device with tokens_tensor_id (bit 63 set,
  // above every id the slot sealed before).
  std::uint64_t tokens_gpa = 0;
  std::uint64_t tokens_tensor_id = 0;
  // Last logits out (f32 [vocab], the row that chose the last token), if set.
  std::optional<std::uint64_t> logits_gpa;
  std::uint64_t logits_tensor_id = 0;
  // Decoding: greedy ARGMAX, or SAMPLE (spec §6.5) with these parameters.
  bool sample = false;
  float temperature = 1.0f;
  std::uint32_t top_k = 0;
  std::uint64_t seed = 0;
  // Stop the device loop once this id was produced.
  std::optional<std::int32_t> eos;
  // build_batch_generate_program: the sequences, 1..plan.options.batch
  // (0: plan.options.batch). The other programs ignore it.
  std::uint32_t batch = 0;
};

std::uint64_t tokens_out_bytes(const GenerateRequest& r);
std::uint64_t logits_out_bytes(const Plan& plan);

// One command buffer: prompt in, prefill of all prompt tokens at once
// (logits of the last row only), a LOOP of n_new - 1 decode steps, outputs.
// Errors when prompt_len + n_new > max_seq.
Result<std::vector<std::byte>> build_generate_program(const Plan& plan,
                                                      std::span<const std::uint32_t> handles,
                                                      const GenerateRequest& request);
// Streaming: the next round of a generation that build_generate_program
// started in the same session. tokens[0..from) are on the device already
// (the prompt and the tokens generated so far; the KV caches hold rows
// 0..from-2); the round decodes `n_new` more into tokens[from..from+n_new)
// and moves only those out. Sampling continues the one-shot program's
// stream (the seed is advanced by the samples drawn before), so a
// generation in rounds yields the same tokens as one program would.
struct ContinueRequest {
  GenerateRequest base;  // sealed, key_slot, sampling, eos; prompt_len of the first round
  std::uint32_t from = 0;
  std::uint32_t n_new = 1;
  std::uint64_t tokens_gpa = 0;  // n_new * 4 bytes out
  std::uint64_t tokens_tensor_id = 0;
};
Result<std::vector<std::byte>> build_continue_program(const Plan& plan,
                                                      std::span<const std::uint32_t> handles,
                                                      const ContinueRequest& request);

// Batched decode (spec hix-gpu §6.4.1): B = request.batch (or the plan's)
// sequences of one prompt generated together. One command buffer: prompt in, prefill
// once at batch 1 into cache 0, the prompt's cache rows copied into caches
// 1..B-1, the first new token of every sequence from the prompt's last
// logits, then a LOOP of n_new - 1 decode steps at batch B (ROPE and
// ATTENTION with HIX_VGPU_BATCH), outputs. Tokens out:
// batch_tokens_out_bytes(), the prompt then [step][sequence] ids; last
// logits out: batch_logits_out_bytes(), f32 [B, vocab], row b the logits that
// chose sequence b's last token. Greedy (ARGMAX of every row) or SAMPLE of
// B rows per step, so sampled sequences differ. No eos stop (all sequences
// run every step): eos is refused.
std::uint64_t batch_tokens_out_bytes(const Plan& plan, const GenerateRequest& r);
std::uint64_t batch_logits_out_bytes(const Plan& plan, const GenerateRequest& r);
Result<std::vector<std::byte>> build_batch_generate_program(const Plan& plan,
                                                            std::span<const std::uint32_t> handles,
                                                            const GenerateRequest& request);

// The prefill alone (generate with n_new = 1): for timing prefill.
Result<std::vector<std::byte>> build_prefill_program(const Plan& plan,
                                                     std::span<const std::uint32_t> handles,
                                                     GenerateRequest request);

}  // namespace hix::model
