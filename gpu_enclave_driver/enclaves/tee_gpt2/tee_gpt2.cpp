// The TEE-only baseline's enclave (issue 15 §1; docs/approaches.md): a
// GPT-2-architecture model with seeded weights (tee_gpt2_model.hpp) built,
// kept and run inside the enclave, greedy tokens out. Its ecalls:
//   0  report (the SDK's);
//   1  setup: buf = struct Shape (40 bytes): builds the model in the heap;
//   2  generate: buf = struct Request, then room for new_tokens u32 tokens,
//      which it writes back after the header.
// The heap (HEAP_SIZE in CMakeLists) bounds the shapes it takes; a larger
// one is refused with HIX_ECALL_NO_MEMORY.
#include <stdlib.h>
#include <string.h>

#include "hix_sdk/ecall.h"
#include "hix_sdk/report_ecall.h"
#include "tee_gpt2_model.hpp"

namespace {

using hix::tee_gpt2::Model;
using hix::tee_gpt2::Request;
using hix::tee_gpt2::Shape;

Model g_model;
float* g_arena = nullptr;
Shape g_shape;

hix_ecall_status setup(uint8_t* buf, size_t len) {
  if (len != sizeof(Shape)) return HIX_ECALL_BAD_SIZE;
  Shape s;
  memcpy(&s, buf, sizeof s);
  if (!hix::tee_gpt2::valid(s)) return HIX_ECALL_FAILED;
  free(g_arena);
  g_arena = nullptr;
  const uint64_t floats = hix::tee_gpt2::floats_needed(s);
  if (floats > SIZE_MAX / sizeof(float)) return HIX_ECALL_NO_MEMORY;
  g_arena = static_cast<float*>(malloc(floats * sizeof(float)));
  if (g_arena == nullptr) return HIX_ECALL_NO_MEMORY;
  g_model.init(s, g_arena);
  g_shape = s;
  return HIX_ECALL_OK;
}

hix_ecall_status generate(uint8_t* buf, size_t len) {
  if (len < sizeof(Request)) return HIX_ECALL_BAD_SIZE;
  Request r;
  memcpy(&r, buf, sizeof r);
  if (len != sizeof(Request) + uint64_t{r.new_tokens} * sizeof(uint32_t)) return HIX_ECALL_BAD_SIZE;
  if (g_arena == nullptr) return HIX_ECALL_FAILED;
  auto* out = static_cast<uint32_t*>(malloc(uint64_t{r.new_tokens} * sizeof(uint32_t) + 4));
  if (out == nullptr) return HIX_ECALL_NO_MEMORY;
  const bool ok = g_model.generate(r.prompt_len, r.new_tokens, out);
  if (ok) memcpy(buf + sizeof r, out, uint64_t{r.new_tokens} * sizeof(uint32_t));
  free(out);
  return ok ? HIX_ECALL_OK : HIX_ECALL_FAILED;
}

}  // namespace

extern "C" {
HIX_ECALL_TABLE(hix_sdk_ecall_report, setup, generate);
}
