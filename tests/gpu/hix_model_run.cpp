// hix-model-run: one greedy generation of a model on the hix-gpu device
// server, in-process (GpuSession), in protected or plain mode:
//   hix-model-run (--checkpoint DIR | --preset NAME --seed S) --backend cpu|cuda
//      --mode protected|plain --prompt 1,2,3 --generate N [--weights-dtype bf16|f32]
//      [--act-dtype f32|bf16] [--max-seq N] --json OUT
// Writes {"tokens": prompt then generated, "last_logits": the f32 logits of
// the step that produced the last token, "backend", "mode", "load_s",
// "generate_s"}.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "model_runner.hpp"

namespace {

using namespace hix::gpu_tools;

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s (--checkpoint DIR | --preset NAME --seed S) --backend cpu|cuda\n"
               "          --mode protected|plain --prompt 1,2,3 --generate N\n"
               "          [--weights-dtype bf16|f32] [--act-dtype f32|bf16] [--max-seq N]"
               " --json OUT\n",
               argv0);
  return 2;
}

int fail(const std::string& why) {
  std::fprintf(stderr, "hix-model-run: %s\n", why.c_str());
  return 1;
}

bool parse_dtype(const std::string& s, std::uint8_t& out) {
  if (s == "bf16") {
    out = HIX_VGPU_DT_BF16;
  } else if (s == "f32") {
    out = HIX_VGPU_DT_F32;
  } else {
    return false;
  }
  return true;
}

}  // namespace

namespace {

int run(int argc, char** argv) {
  RunOptions o;
  std::string checkpoint, preset_name, json_path, backend_word, mode_word, prompt_word;
  std::int64_t seed = -1, generate = 0, max_seq = 0;
  std::uint8_t weights_dtype = HIX_VGPU_DT_BF16, act_dtype = HIX_VGPU_DT_F32;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    const std::string v = argv[++i];
    if (a == "--checkpoint") {
      checkpoint = v;
    } else if (a == "--preset") {
      preset_name = v;
    } else if (a == "--seed") {
      seed = std::strtoll(v.c_str(), nullptr, 10);
    } else if (a == "--backend") {
      backend_word = v;
    } else if (a == "--mode") {
      mode_word = v;
    } else if (a == "--prompt") {
      prompt_word = v;
    } else if (a == "--generate") {
      generate = std::strtoll(v.c_str(), nullptr, 10);
    } else if (a == "--weights-dtype") {
      if (!parse_dtype(v, weights_dtype)) return usage(argv[0]);
    } else if (a == "--act-dtype") {
      if (!parse_dtype(v, act_dtype)) return usage(argv[0]);
    } else if (a == "--max-seq") {
      max_seq = std::strtoll(v.c_str(), nullptr, 10);
    } else if (a == "--json") {
      json_path = v;
    } else {
      return usage(argv[0]);
    }
  }
  BackendKind backend{};
  Mode mode{};
  std::vector<std::int64_t> prompt64;
  if (checkpoint.empty() == preset_name.empty() || (!preset_name.empty() && seed < 0) ||
      !parse_backend(backend_word, backend) || !parse_mode(mode_word, mode) ||
      !parse_list(prompt_word, prompt64) || generate < 1 || generate > 65536 || json_path.empty() ||
      max_seq < 0) {
    return usage(argv[0]);
  }
  std::vector<std::int32_t> prompt;
  for (const auto t : prompt64) {
    if (t < 0 || t > INT32_MAX) return fail("prompt token out of range");
    prompt.push_back(static_cast<std::int32_t>(t));
  }

  o.backend = backend;
  o.mode = mode;
  o.prompt = prompt;
  o.generate = static_cast<std::uint32_t>(generate);
  o.runtime.weight_dtype = weights_dtype;
  o.runtime.act_dtype = act_dtype;
  o.runtime.max_seq = max_seq > 0 ? static_cast<std::uint32_t>(max_seq)
                                  : static_cast<std::uint32_t>(prompt.size() + o.generate);
  auto src = checkpoint.empty() ? open_preset(preset_name, static_cast<std::uint64_t>(seed))
                                : open_checkpoint(checkpoint);
  if (!src) return fail(src.why());
  o.source = &*src;

  auto out = run_model(o);
  if (!out) return fail(out.why());
  const std::string json = run_json(*out);
  FILE* f = std::fopen(json_path.c_str(), "w");
  if (f == nullptr || std::fputs(json.c_str(), f) < 0 || std::fclose(f) != 0) {
    return fail("cannot write " + json_path);
  }
  std::fprintf(stderr, "hix-model-run: %s %s: %zu tokens, load %.3f s, generate %.3f s\n",
               std::string(to_string(backend)).c_str(), std::string(to_string(mode)).c_str(),
               out->tokens.size(), out->load_s, out->generate_s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The standard library throws only on exhaustion (bad_alloc): a message,
  // not an abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", "hix-model-run", e.what());
    return 1;
  }
}
