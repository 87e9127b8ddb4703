// tee-gpt2-native: the TEE-only baseline's model (tee_gpt2_model.hpp) run
// natively, one thread, exactly as the tee_gpt2 enclave runs it, so the VM
// benchmark (tests/bench/vm_bench.py) can print the enclave's speed beside
// the bare CPU's and check that both produce the same tokens.
//
//   tee-gpt2-native --dim D --heads H --layers L --mlp F --vocab V --max-pos P
//                   [--seed S] [--prompt-len 16] [--new-tokens 32] [--reps 3]
//
// Prints TOKENS=<comma-separated>, TTFT_NS=<median of generate(prompt, 1)>
// and GEN_NS=<median of generate(prompt, new_tokens)>; decode tokens/s is
// (new_tokens − 1) / (GEN − TTFT), as for the enclave.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tee_gpt2_model.hpp"

namespace {

using hix::tee_gpt2::Model;
using hix::tee_gpt2::Shape;

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

bool parse_u32(const char* s, std::uint32_t& out) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v > 0xffffffffUL) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: tee-gpt2-native --dim D --heads H --layers L --mlp F --vocab V "
               "--max-pos P [--seed S] [--prompt-len N] [--new-tokens N] [--reps N]\n");
  return 2;
}

std::uint64_t median(std::vector<std::uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Shape s;
  std::uint32_t prompt = 16, new_tokens = 32, reps = 3, seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    std::uint32_t* field = a == "--dim"          ? &s.dim
                           : a == "--heads"      ? &s.heads
                           : a == "--layers"     ? &s.layers
                           : a == "--mlp"        ? &s.mlp
                           : a == "--vocab"      ? &s.vocab
                           : a == "--max-pos"    ? &s.max_pos
                           : a == "--seed"       ? &seed
                           : a == "--prompt-len" ? &prompt
                           : a == "--new-tokens" ? &new_tokens
                           : a == "--reps"       ? &reps
                                                 : nullptr;
    if (field == nullptr || !parse_u32(argv[i + 1], *field)) return usage();
  }
  if (argc % 2 != 1 || reps == 0 || new_tokens == 0) return usage();
  s.seed = seed;
  s.max_seq = prompt + new_tokens;
  if (!hix::tee_gpt2::valid(s)) {
    std::fprintf(stderr, "tee-gpt2-native: invalid shape\n");
    return 2;
  }
  std::vector<float> arena(hix::tee_gpt2::floats_needed(s));
  static Model model;
  model.init(s, arena.data());
  std::vector<std::uint32_t> tokens(new_tokens);
  std::vector<std::uint64_t> ttft, gen;
  for (std::uint32_t r = 0; r < reps; ++r) {
    std::uint64_t t0 = now_ns();
    if (!model.generate(prompt, 1, tokens.data())) return 1;
    ttft.push_back(now_ns() - t0);
    t0 = now_ns();
    if (!model.generate(prompt, new_tokens, tokens.data())) return 1;
    gen.push_back(now_ns() - t0);
  }
  std::string list;
  for (std::size_t i = 0; i < tokens.size(); ++i)
    list += (i ? "," : "") + std::to_string(tokens[i]);
  std::printf("TOKENS=%s\nTTFT_NS=%llu\nGEN_NS=%llu\n", list.c_str(),
              static_cast<unsigned long long>(median(ttft)),
              static_cast<unsigned long long>(median(gen)));
  return 0;
}
