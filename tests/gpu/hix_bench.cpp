// hix-bench: a model on the hix-gpu device server in protected and plain
// mode side by side, in one run (docs/architecture.md §8), JSON out and a
// table on stderr:
//   hix-bench --model gpt2-small|llama-1b|llama-8b|<preset> [--checkpoint DIR]
//      --backend cuda|cpu --json OUT [--decode-tokens 128] [--reps 3]
//      [--modes protected,plain] [--max-seq 2048] [--prefill-lens 128,1024]
//      [--weights-dtype bf16|f32] [--act-dtype f32|bf16] [--kv-dtype f32|bf16]
//      [--seed 1] [--transfer-mib 1024] [--load-only 1] [--decode-only 1]
//      [--prefill-only 1] [--batch 1,8,32]
// Each mode gets its own session on the same backend and runs the same
// programs; only the DMA ops (sealed or plain) and ring authentication
// differ. Seals are made on the host before any timer starts.
//
// Figures, per mode: load (submit of the load command buffers to their
// completion) and its GB/s of weight bytes; prefill of each --prefill-lens
// (the prefill-only program); decode tokens/s at batch 1: (N-1) / (t of
// generating N after a 16-token prompt - t of that prompt's prefill), both
// medians of --reps after one untimed run, the same program every time (so a
// backend that records loops replays them); the weights' bandwidth at that
// rate; a --transfer-mib tensor moved into VRAM through the device
// (DMA_IN_DECRYPT from guest RAM vs DMA_IN). With cuda: the crypto engine
// opening a sealed tensor in device memory vs a device copy.
// The protected load is timed twice on the same staged weights: with the
// device's runs of DMA_IN_DECRYPT (hix-gpu spec §7.2.1, the default: many
// tensors per crypto-engine call) and one op per engine call (runs off), so
// that the runs' gain shows. --load-only 1: only the loads (no prefill,
// decode, transfer or engine figures). --decode-only 1: one load per mode,
// then only the decode figures (no prefill lengths, no one-by-one load, no
// transfer or engine figures), for sweeps of the cuda backend's kernels;
// each mode's decode tokens are in the JSON. --prefill-only 1: one load per
// mode, then only the prefill lengths (no decode, one-by-one load, transfer
// or engine figures). --act-dtype and --kv-dtype choose the program's
// activations and KV caches (f32, the default, is the exact reference
// mode; bf16 both is the fast mode: tensor-core attention and GEMMs with no
// conversion, docs/performance.md "Prefill on tensor cores").
// each mode's decode tokens are in the JSON. --batch N[,N...]: decode N
// sequences of the prompt together (the batched program, spec hix-gpu
// §6.4.1; 1: the batch-1 program), each listed batch on the same load (the
// plan holds caches for the largest): tokens/s = N x steps/s, where steps/s
// = (decode tokens - 1) / (generate - prefill); the weights' bandwidth
// counts one read of the weights per step. A batched generate also copies
// the prompt's cache rows into the other N - 1 caches (the batch-1 prefill
// program is what is subtracted), so its rate is a little below the loop's
// own. The first listed batch gives the flat figures ("decode", "summary").

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model_runner.hpp"
#ifdef HIX_HAVE_CUDA_BACKEND
#include "cuda_figures.hpp"
#endif

namespace {

using namespace hix::gpu_tools;
using hix::model::Result;

constexpr std::uint32_t kDecodePrompt = 16;

struct Options {
  std::string model_name, checkpoint, json_path;
  BackendKind backend = BackendKind::cpu;
  std::vector<Mode> modes = {Mode::protected_mode, Mode::plain};
  std::uint32_t decode_tokens = 128;
  int reps = 3;
  std::uint32_t max_seq = 2048;
  bool max_seq_given = false;
  std::vector<std::uint32_t> prefill_lens = {128, 1024};
  std::uint8_t weight_dtype = HIX_VGPU_DT_BF16;
  std::uint8_t act_dtype = HIX_VGPU_DT_F32;
  std::uint8_t kv_dtype = HIX_VGPU_DT_F32;
  std::uint64_t seed = 1;
  std::uint64_t transfer_bytes = 1ull << 30;
  bool load_only = false;
  bool decode_only = false;
  bool prefill_only = false;
  std::vector<std::uint32_t> batches = {1};  // sequences decoded together, per run
};

// One load per mode and no one-by-one load: the sweeps' runs.
bool one_load(const Options& o) {
  return o.decode_only || o.prefill_only;
}

hix::model::RuntimeOptions runtime_options(const Options& o) {
  hix::model::RuntimeOptions ro;
  ro.max_seq = o.max_seq;
  ro.weight_dtype = o.weight_dtype;
  ro.act_dtype = o.act_dtype;
  ro.kv_dtype = o.kv_dtype;
  ro.batch = *std::max_element(o.batches.begin(), o.batches.end());
  return ro;
}

const char* dtype_name(std::uint8_t dt) {
  return dt == HIX_VGPU_DT_BF16 ? "bf16" : "f32";
}

struct Prefill {
  std::uint32_t tokens = 0;
  std::optional<double> seconds;  // absent: does not fit max_seq
};

// Decode at one batch.
struct BatchFigures {
  std::uint32_t batch = 1;
  double generate_s = 0, tok_s = 0, steps_s = 0, weight_gbps = 0;
  std::vector<std::int32_t> tokens;  // the prompt then [step][sequence]
};

struct ModeFigures {
  Mode mode{};
  double stage_s = 0;  // host: weights produced and sealed (not part of load_s)
  double load_first_s = 0, load_s = 0, load_gbps = 0;
  // Protected mode: the load with every DMA_IN_DECRYPT its own engine call,
  // and the runs one load of the default kind made.
  std::optional<double> load_one_by_one_s, load_one_by_one_gbps;
  std::uint64_t decrypt_runs_per_load = 0;
  // --load-only: a digest of all of VRAM after the loads (protected: after
  // the loads with runs, and again after those one by one).
  std::optional<std::uint64_t> vram_digest, vram_digest_one_by_one;
  std::vector<Prefill> prefill;
  double generate_s = 0, prefill16_s = 0, decode_tok_s = 0, decode_steps_s = 0,
         decode_weight_gbps = 0;
  std::vector<std::int32_t> tokens;   // the decode run's, to compare modes
  std::vector<BatchFigures> batches;  // every listed batch, the first as above
  double transfer_s = 0, transfer_gbps = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

hix::model::Error device_error(const std::string& what, Status s) {
  return hix::model::fail(what + ": " + std::string(hix::vgpu::to_string(s)));
}

// `n` prompt ids below `vocab`.
struct PromptShape {
  std::uint32_t n = 0;
  std::uint32_t vocab = 0;
};

// Deterministic prompt ids spread over the vocabulary.
std::vector<std::int32_t> make_prompt(PromptShape shape) {
  const std::uint32_t n = shape.n;
  const std::uint32_t vocab = shape.vocab;
  std::vector<std::int32_t> p(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    p[i] = static_cast<std::int32_t>((std::uint64_t{i} * 7919 + 13) % vocab);
  }
  return p;
}

// Median seconds of `reps` runs of a job rebuilt before each (protected
// mode needs a fresh output tensor id per run; plain rebuilds the same
// bytes), after one untimed run. Building is not timed.
Result<double> time_job(ModelRunner& r, const StagedTensor& prompt, std::uint32_t n_new,
                        bool prefill_only, int reps, std::vector<std::int32_t>* tokens,
                        std::uint32_t batch = 1) {
  std::vector<double> t;
  for (int i = 0; i < reps + 1; ++i) {
    const std::uint64_t mark = r.session().guest_mark();
    auto job = r.build(prompt, n_new, false, prefill_only, batch);
    if (!job) return job.error();
    double s = 0;
    const Status st = r.run(*job, &s);
    if (st != Status::ok) return device_error(prefill_only ? "prefill" : "generate", st);
    if (i > 0) t.push_back(s);
    if (tokens != nullptr && i == reps) {
      auto g = r.read(*job);
      if (!g) return g.error();
      *tokens = g->tokens;
    }
    r.session().guest_release(mark);
  }
  return median(t);
}

// A `bytes` tensor into VRAM through the device: sealed (DMA_IN_DECRYPT) or
// plain (DMA_IN) from pinned guest RAM; median seconds.
Result<double> time_transfer(const Options& o, Mode mode) {
  SessionConfig sc;
  sc.backend = o.backend;
  sc.mode = mode;
  sc.vram_bytes = o.transfer_bytes + (16ull << 20);
  sc.guest_ram_bytes = hix::vgpu::sealed_size(o.transfer_bytes) + (16ull << 20);
  auto s = GpuSession::create(sc);
  if (!s) return device_error("transfer session", s.status());
  GpuSession& g = **s;
  auto h = g.alloc(o.transfer_bytes);
  if (!h) return device_error("MEM_ALLOC", h.status());
  const std::vector<std::uint64_t> sizes = {o.transfer_bytes};
  auto staged = g.stage_many(sizes, [](std::size_t, std::span<std::byte> out) {
    std::uint64_t x = 0x243f6a8885a308d3ull;  // not zeros: zeros can move faster
    for (std::size_t i = 0; i + 8 <= out.size(); i += 8) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      std::memcpy(out.data() + i, &x, 8);
    }
    return Status::ok;
  });
  if (!staged) return device_error("staging", staged.status());
  hix::vgpu::CmdbufBuilder b;
  g.dma_in(b, hix::vgpu::tref(*h, HIX_VGPU_DT_F32), staged->front());
  const std::vector<std::byte> prog = b.finish();
  std::vector<double> t;
  for (int i = 0; i < o.reps + 1; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const Status st = g.submit(prog);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (st != Status::ok) return device_error("transfer", st);
    if (i > 0) t.push_back(dt);
  }
  return median(t);
}

// A 64-bit digest of the whole of VRAM (an equality check between loads,
// not a MAC): every 8-byte word folded in, in order.
Result<std::uint64_t> vram_digest(hix::vgpu::Backend& b) {
  const std::uint64_t total = b.vram_size();
  std::vector<std::byte> buf(std::min<std::uint64_t>(total, 256ull << 20));
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  for (std::uint64_t off = 0; off < total;) {
    const std::uint64_t n = std::min<std::uint64_t>(buf.size(), total - off);
    const Status st = b.read_bytes(hix::vgpu::VramOffset{off}, std::span(buf.data(), n));
    if (st != Status::ok) return device_error("reading VRAM", st);
    for (std::uint64_t i = 0; i < n; i += 8) {
      std::uint64_t w = 0;
      std::memcpy(&w, buf.data() + i, std::min<std::uint64_t>(8, n - i));
      h = (h ^ w) * 0x100000001B3ull;
      h ^= h >> 29;
    }
    off += n;
  }
  return h;
}

Result<ModeFigures> run_mode(const Options& o, const ModelSource& src, Mode mode) {
  auto plan = hix::model::make_plan(src.config, runtime_options(o));
  if (!plan) return hix::model::fail("plan: " + plan.why());
  SessionConfig sc;
  sc.backend = o.backend;
  sc.mode = mode;
  sc.vram_bytes = vram_for(*plan);
  sc.guest_ram_bytes = guest_ram_for(*plan, mode == Mode::protected_mode);
  auto session = GpuSession::create(sc);
  if (!session) return device_error("session", session.status());
  const std::uint64_t weight_bytes = plan->weight_bytes();
  const auto t_stage = std::chrono::steady_clock::now();
  auto runner = ModelRunner::prepare(**session, std::move(*plan), *src.weights);
  if (!runner) return runner.error();
  ModelRunner& r = **runner;
  ModeFigures f;
  f.mode = mode;
  f.stage_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_stage).count();

  const hix::vgpu::CryptoEngine& engine = (*session)->device().crypto();
  std::vector<double> loads;
  for (int i = 0; i < (one_load(o) ? 1 : o.reps); ++i) {
    const std::uint64_t runs = engine.runs();
    double s = 0;
    const Status st = r.load(&s);
    if (st != Status::ok) return device_error("load", st);
    loads.push_back(s);
    f.decrypt_runs_per_load = engine.runs() - runs;
  }
  f.load_first_s = loads.front();
  f.load_s = median(loads);
  f.load_gbps = static_cast<double>(weight_bytes) / f.load_s / 1e9;
  if (o.load_only) {
    auto d = vram_digest((*session)->backend());
    if (!d) return d.error();
    f.vram_digest = *d;
  }
  if (mode == Mode::protected_mode && !one_load(o)) {
    // The same load, one DMA_IN_DECRYPT per engine call.
    (*session)->device().set_decrypt_runs({.max_tensors = 1});
    std::vector<double> one;
    for (int i = 0; i < o.reps; ++i) {
      double s = 0;
      const Status st = r.load(&s);
      if (st != Status::ok) return device_error("load (one by one)", st);
      one.push_back(s);
    }
    (*session)->device().set_decrypt_runs({});
    f.load_one_by_one_s = median(one);
    f.load_one_by_one_gbps = static_cast<double>(weight_bytes) / *f.load_one_by_one_s / 1e9;
    if (o.load_only) {
      auto d = vram_digest((*session)->backend());
      if (!d) return d.error();
      f.vram_digest_one_by_one = *d;
    }
  }
  if (o.load_only) return f;

  const std::uint32_t vocab = r.plan().layout.config.vocab;
  for (const std::uint32_t len : o.prefill_lens) {
    Prefill p;
    p.tokens = len;
    if (len + 1 <= o.max_seq) {
      auto prompt = r.stage_prompt(make_prompt({.n = len, .vocab = vocab}));
      if (!prompt) return prompt.error();
      auto t = time_job(r, *prompt, 1, true, o.reps, nullptr);
      if (!t) return t.error();
      p.seconds = *t;
    }
    f.prefill.push_back(p);
  }
  if (o.prefill_only) return f;

  if (kDecodePrompt + o.decode_tokens > o.max_seq) {
    return hix::model::fail("--max-seq too small for a 16-token prompt and --decode-tokens");
  }
  auto prompt = r.stage_prompt(make_prompt({.n = kDecodePrompt, .vocab = vocab}));
  if (!prompt) return prompt.error();
  auto p16 = time_job(r, *prompt, 1, true, o.reps, nullptr);
  if (!p16) return p16.error();
  f.prefill16_s = *p16;
  for (const std::uint32_t batch : o.batches) {
    BatchFigures b;
    b.batch = batch;
    auto gen = time_job(r, *prompt, o.decode_tokens, false, o.reps, &b.tokens, batch);
    if (!gen) return hix::model::fail("batch " + std::to_string(batch) + ": " + gen.why());
    b.generate_s = *gen;
    if (o.decode_tokens > 1 && b.generate_s > f.prefill16_s) {
      b.steps_s = (o.decode_tokens - 1) / (b.generate_s - f.prefill16_s);
      b.tok_s = batch * b.steps_s;
      b.weight_gbps = static_cast<double>(weight_bytes) * b.steps_s / 1e9;
    }
    f.batches.push_back(std::move(b));
  }
  const BatchFigures& first = f.batches.front();
  f.generate_s = first.generate_s;
  f.decode_tok_s = first.tok_s;
  f.decode_steps_s = first.steps_s;
  f.decode_weight_gbps = first.weight_gbps;
  f.tokens = first.tokens;
  // VRAM and guest RAM back before the transfer session takes its own.
  runner->reset();
  session->reset();
  if (o.decode_only) return f;

  auto tr = time_transfer(o, mode);
  if (!tr) return tr.error();
  f.transfer_s = *tr;
  f.transfer_gbps = static_cast<double>(o.transfer_bytes) / f.transfer_s / 1e9;
  return f;
}

std::string num(double v) {
  return json_number(v);
}

std::string tokens_json(const std::vector<std::int32_t>& t) {
  std::string s = "[";
  for (std::size_t i = 0; i < t.size(); ++i) s += (i != 0 ? ", " : "") + std::to_string(t[i]);
  return s + "]";
}

std::string batches_json(const std::vector<std::uint32_t>& b) {
  std::string s = "[";
  for (std::size_t i = 0; i < b.size(); ++i) s += (i != 0 ? ", " : "") + std::to_string(b[i]);
  return s + "]";
}

std::string decode_batches_json(const std::vector<BatchFigures>& runs) {
  std::string s;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const BatchFigures& b = runs[i];
    s += std::string(i != 0 ? ", " : "") + "{\"batch\": " + std::to_string(b.batch) +
         ", \"generate_s\": " + num(b.generate_s) + ", \"tokens_per_s\": " + num(b.tok_s) +
         ", \"steps_per_s\": " + num(b.steps_s) +
         ", \"weight_bandwidth_gbps\": " + num(b.weight_gbps) +
         ", \"tokens\": " + tokens_json(b.tokens) + "}";
  }
  return s;
}

std::string ratio_json(const char* name, std::optional<double> value, double target,
                       const char* what) {
  std::string s = std::string("    \"") + name +
                  "\": {\"value\": " + (value ? num(*value) : "null") +
                  ", \"target\": " + num(target) +
                  ", \"met\": " + (value ? (*value >= target ? "true" : "false") : "null") +
                  ", \"what\": \"" + what + "\"}";
  return s;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --model NAME [--checkpoint DIR] --backend cuda|cpu --json OUT\n"
               "          [--decode-tokens N] [--reps R] [--modes protected,plain]\n"
               "          [--max-seq N] [--prefill-lens 128,1024] [--weights-dtype bf16|f32]\n"
               "          [--act-dtype f32|bf16] [--kv-dtype f32|bf16] [--seed S]\n"
               "          [--transfer-mib M] [--load-only 0|1] [--decode-only 0|1]\n"
               "          [--prefill-only 0|1] [--batch N[,N...]]\n",
               argv0);
  return 2;
}

bool parse_options(int argc, char** argv, Options& o) {
  std::string backend = "cuda";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    std::vector<std::int64_t> list;
    const auto positive = [&](std::int64_t max) {
      const long long x = std::strtoll(v.c_str(), nullptr, 10);
      return x >= 1 && x <= max ? x : 0;
    };
    if (a == "--model") {
      o.model_name = v;
    } else if (a == "--checkpoint") {
      o.checkpoint = v;
    } else if (a == "--backend") {
      backend = v;
    } else if (a == "--json") {
      o.json_path = v;
    } else if (a == "--decode-tokens") {
      o.decode_tokens = static_cast<std::uint32_t>(positive(65536));
      if (o.decode_tokens == 0) return false;
    } else if (a == "--reps") {
      o.reps = static_cast<int>(positive(1000));
      if (o.reps == 0) return false;
    } else if (a == "--max-seq") {
      o.max_seq_given = true;
      o.max_seq = static_cast<std::uint32_t>(positive(1 << 20));
      if (o.max_seq == 0) return false;
    } else if (a == "--seed") {
      o.seed = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--transfer-mib") {
      o.transfer_bytes = static_cast<std::uint64_t>(positive(1 << 16)) << 20;
      if (o.transfer_bytes == 0) return false;
    } else if (a == "--load-only") {
      if (v != "0" && v != "1") return false;
      o.load_only = v == "1";
    } else if (a == "--decode-only") {
      if (v != "0" && v != "1") return false;
      o.decode_only = v == "1";
    } else if (a == "--prefill-only") {
      if (v != "0" && v != "1") return false;
      o.prefill_only = v == "1";
    } else if (a == "--act-dtype" || a == "--kv-dtype") {
      if (v != "bf16" && v != "f32") return false;
      (a == "--act-dtype" ? o.act_dtype : o.kv_dtype) =
          v == "bf16" ? HIX_VGPU_DT_BF16 : HIX_VGPU_DT_F32;
    } else if (a == "--batch") {
      if (!parse_list(v, list) || list.empty()) return false;
      o.batches.clear();
      for (const auto x : list) {
        if (x < 1 || x > 64) return false;
        o.batches.push_back(static_cast<std::uint32_t>(x));
      }
    } else if (a == "--weights-dtype") {
      if (v != "bf16" && v != "f32") return false;
      o.weight_dtype = v == "bf16" ? HIX_VGPU_DT_BF16 : HIX_VGPU_DT_F32;
    } else if (a == "--prefill-lens") {
      if (!parse_list(v, list)) return false;
      o.prefill_lens.clear();
      for (const auto x : list) {
        if (x < 1 || x > (1 << 20)) return false;
        o.prefill_lens.push_back(static_cast<std::uint32_t>(x));
      }
    } else if (a == "--modes") {
      o.modes.clear();
      std::string rest = v;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        Mode m{};
        if (!parse_mode(rest.substr(0, comma), m)) return false;
        o.modes.push_back(m);
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      }
      if (o.modes.empty()) return false;
    } else {
      return false;
    }
  }
  return parse_backend(backend, o.backend) && !o.model_name.empty() && !o.json_path.empty();
}

}  // namespace

namespace {

int run(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, o)) return usage(argv[0]);
  if (o.load_only || o.decode_only) o.prefill_lens.clear();
  if (static_cast<int>(o.load_only) + static_cast<int>(o.decode_only) +
          static_cast<int>(o.prefill_only) >
      1) {
    return usage(argv[0]);
  }
  const auto die = [](const std::string& why) {
    std::fprintf(stderr, "hix-bench: %s\n", why.c_str());
    return 1;
  };

  if (o.backend == BackendKind::cuda) {
    // A cuda session that cannot start means no GPU here (or no cuda build).
    SessionConfig probe;
    probe.backend = BackendKind::cuda;
    probe.mode = Mode::plain;
    probe.vram_bytes = 1 << 20;
    probe.guest_ram_bytes = 4 << 20;
    if (!cuda_backend_built()) {
      std::printf("hix-bench: skipped: no GPU (built without the cuda backend)\n");
      return 0;
    }
    auto s = GpuSession::create(probe);
    if (!s && s.status() == Status::unavailable) {
      std::printf("hix-bench: skipped: no GPU (the cuda backend found no device)\n");
      return 0;
    }
  }

  auto src =
      o.checkpoint.empty() ? open_preset(o.model_name, o.seed) : open_checkpoint(o.checkpoint);
  if (!src) return die(src.why());
  // Without --max-seq: as many rows as the model has positions (within a
  // sliding window), up to 2048 (GPT-2 has 1024, so its longest prefill is
  // 1023 tokens and one new one).
  if (!o.max_seq_given && src->config.max_pos > 0) {
    o.max_seq = std::min(o.max_seq, hix::model::max_context(src->config));
  }
  auto plan = hix::model::make_plan(src->config, runtime_options(o));
  if (!plan) return die("plan: " + plan.why());
  const std::uint64_t weight_bytes = plan->weight_bytes();

  std::map<Mode, ModeFigures> figs;
  for (const Mode m : o.modes) {
    auto f = run_mode(o, *src, m);
    if (!f) return die(std::string(to_string(m)) + ": " + f.why());
    figs[m] = std::move(*f);
  }

  std::optional<double> d2d, decrypt;
  std::string cuda_json = "null";
#ifdef HIX_HAVE_CUDA_BACKEND
  if (o.backend == BackendKind::cuda && !o.load_only && !one_load(o)) {
    auto c = measure_cuda_figures(o.transfer_bytes, std::max(o.reps, 5));
    if (!c) return die("cuda figures: " + c.why());
    if (!c->roundtrip_ok) return die("cuda figures: decrypt round trip failed");
    d2d = c->d2d_copy_gbps;
    decrypt = c->decrypt_gbps;
    cuda_json = "{\"gpu\": " + json_string(c->gpu) + ", \"bytes\": " + std::to_string(c->bytes) +
                ", \"decrypt_device_gbps\": " + num(c->decrypt_gbps) +
                ", \"d2d_copy_gbps\": " + num(c->d2d_copy_gbps) + ", \"roundtrip_ok\": true}";
  }
#endif

  const ModeFigures* prot =
      figs.contains(Mode::protected_mode) ? &figs[Mode::protected_mode] : nullptr;
  const ModeFigures* plain = figs.contains(Mode::plain) ? &figs[Mode::plain] : nullptr;
  std::optional<double> decode_ratio, load_ratio, load_one_by_one_ratio, transfer_ratio, bw_ratio;
  std::optional<bool> tokens_match;
  // --load-only: VRAM after the loads with runs equals VRAM after the loads
  // one by one, and (same layout, VRAM zeroed at start) plain mode's.
  std::optional<bool> vram_runs_equal_one_by_one, vram_protected_equal_plain;
  if (prot != nullptr && prot->vram_digest && prot->vram_digest_one_by_one) {
    vram_runs_equal_one_by_one = *prot->vram_digest == *prot->vram_digest_one_by_one;
  }
  if (prot != nullptr && plain != nullptr && prot->vram_digest && plain->vram_digest) {
    vram_protected_equal_plain = *prot->vram_digest == *plain->vram_digest;
  }
  const auto json_bool = [](std::optional<bool> b) -> std::string {
    return b ? (*b ? "true" : "false") : "null";
  };
  if (prot != nullptr && plain != nullptr) {
    if (plain->decode_tok_s > 0) decode_ratio = prot->decode_tok_s / plain->decode_tok_s;
    load_ratio = prot->load_gbps / plain->load_gbps;
    if (prot->load_one_by_one_gbps) {
      load_one_by_one_ratio = *prot->load_one_by_one_gbps / plain->load_gbps;
    }
    if (!o.load_only && !one_load(o)) {
      transfer_ratio = prot->transfer_gbps / plain->transfer_gbps;
    }
    tokens_match = prot->batches.size() == plain->batches.size();
    for (std::size_t i = 0; *tokens_match && i < prot->batches.size(); ++i) {
      tokens_match = prot->batches[i].tokens == plain->batches[i].tokens;
    }
  }
  const ModeFigures* headline = prot != nullptr ? prot : plain;
  if (d2d && headline != nullptr && headline->decode_weight_gbps > 0) {
    bw_ratio = headline->decode_weight_gbps / *d2d;
  }

  std::string j =
      "{\n  \"benchmark\": \"hix-bench\",\n  \"model\": " + json_string(o.model_name) +
      ",\n  \"checkpoint\": " + (o.checkpoint.empty() ? "null" : json_string(o.checkpoint)) +
      ",\n  \"backend\": \"" + std::string(to_string(o.backend)) + "\",\n  \"weights_dtype\": \"" +
      dtype_name(o.weight_dtype) + "\",\n  \"act_dtype\": \"" + dtype_name(o.act_dtype) +
      "\",\n  \"kv_dtype\": \"" + dtype_name(o.kv_dtype) +
      "\",\n  \"max_seq\": " + std::to_string(o.max_seq) +
      ",\n  \"decode_prompt_tokens\": " + std::to_string(kDecodePrompt) +
      ",\n  \"decode_tokens\": " + std::to_string(o.decode_tokens) +
      ",\n  \"batch\": " + std::to_string(o.batches.front()) +
      ",\n  \"batches\": " + batches_json(o.batches) + ",\n  \"reps\": " + std::to_string(o.reps) +
      ",\n  \"weight_bytes\": " + std::to_string(weight_bytes) +
      ",\n  \"transfer_bytes\": " + std::to_string(o.transfer_bytes) +
      ",\n  \"load_only\": " + (o.load_only ? "true" : "false") +
      ",\n  \"decode_only\": " + (o.decode_only ? "true" : "false") +
      ",\n  \"prefill_only\": " + (o.prefill_only ? "true" : "false") +
      ",\n  \"units\": \"seconds are medians; GB/s = 1e9 bytes/s\",\n  \"modes\": {";
  bool first = true;
  for (const auto& [m, f] : figs) {
    j += std::string(first ? "" : ",") + "\n    \"" + std::string(to_string(m)) + "\": {" +
         "\"stage_s\": " + num(f.stage_s) + ", \"load_s\": " + num(f.load_s) +
         ", \"load_first_s\": " + num(f.load_first_s) + ", \"load_gbps\": " + num(f.load_gbps) +
         ", \"load_one_by_one_s\": " + (f.load_one_by_one_s ? num(*f.load_one_by_one_s) : "null") +
         ", \"load_one_by_one_gbps\": " +
         (f.load_one_by_one_gbps ? num(*f.load_one_by_one_gbps) : "null") +
         ", \"decrypt_runs_per_load\": " + std::to_string(f.decrypt_runs_per_load) +
         ",\n      \"prefill\": [";
    for (std::size_t i = 0; i < f.prefill.size(); ++i) {
      const Prefill& p = f.prefill[i];
      j += std::string(i != 0 ? ", " : "") + "{\"tokens\": " + std::to_string(p.tokens) +
           ", \"seconds\": " + (p.seconds ? num(*p.seconds) : "null") +
           ", \"tokens_per_s\": " + (p.seconds ? num(p.tokens / *p.seconds) : "null") + "}";
    }
    j += "],\n      \"decode\": {\"generate_s\": " + num(f.generate_s) +
         ", \"prefill16_s\": " + num(f.prefill16_s) + ", \"tokens_per_s\": " + num(f.decode_tok_s) +
         ", \"steps_per_s\": " + num(f.decode_steps_s) +
         ", \"batch\": " + std::to_string(o.batches.front()) +
         ", \"weight_bandwidth_gbps\": " + num(f.decode_weight_gbps) +
         ", \"tokens\": " + tokens_json(f.tokens) + "},\n      \"decode_batches\": [" +
         decode_batches_json(f.batches) + "],\n" + "      \"transfer\": {\"op\": \"" +
         (m == Mode::protected_mode ? "DMA_IN_DECRYPT" : "DMA_IN") +
         "\", \"seconds\": " + num(f.transfer_s) + ", \"gbps\": " + num(f.transfer_gbps) + "}}";
    first = false;
  }
  // The headline figures again, flat (one level deep), for summaries.
  std::string flat;
  const auto put = [&flat](const std::string& key, std::optional<double> v) {
    flat += flat.empty() ? "\"" : ", \"";
    flat += key;
    flat += "\": ";
    flat += v ? num(*v) : "null";
  };
  for (const auto& [m, fm] : figs) {
    const std::string p = std::string(to_string(m)) + "_";
    put(p + "load_gbps", fm.load_gbps);
    if (fm.load_one_by_one_gbps) put(p + "load_one_by_one_gbps", fm.load_one_by_one_gbps);
    put(p + "decode_tok_s", fm.decode_tok_s);
    put(p + "decode_steps_s", fm.decode_steps_s);
    for (const BatchFigures& b : fm.batches) {
      put(p + "batch_" + std::to_string(b.batch) + "_tok_s", b.tok_s);
    }
    put(p + "decode_weight_gbps", fm.decode_weight_gbps);
    put(p + "h2d_gbps", fm.transfer_gbps);
    for (const Prefill& pf : fm.prefill) {
      put(p + "prefill_" + std::to_string(pf.tokens) + "_ms",
          pf.seconds ? std::optional<double>(*pf.seconds * 1e3) : std::nullopt);
    }
  }
  put("decode_protected_over_plain", decode_ratio);
  put("decode_weight_bw_over_d2d", bw_ratio);
  put("encrypted_load_over_pinned_h2d", transfer_ratio);
  put("load_protected_over_plain", load_ratio);
  put("load_one_by_one_over_plain", load_one_by_one_ratio);
  put("decrypt_gbps", decrypt);
  put("d2d_copy_gbps", d2d);
  j += "\n  },\n  \"summary\": {" + flat + "}";
  j += ",\n  \"vram_runs_equal_one_by_one\": " + json_bool(vram_runs_equal_one_by_one) +
       ",\n  \"vram_protected_equal_plain\": " + json_bool(vram_protected_equal_plain);
  j += ",\n  \"cuda\": " + cuda_json + ",\n  \"tokens_match_across_modes\": " +
       (tokens_match ? (*tokens_match ? "true" : "false") : "null") + ",\n  \"ratios\": {\n" +
       ratio_json("decode_protected_over_plain", decode_ratio, 0.99,
                  "decode tokens/s, protected / plain") +
       ",\n" +
       ratio_json("decode_weight_bw_over_d2d", bw_ratio, 0.75,
                  "weight bytes x decode tokens/s (protected) / device copy GB/s") +
       ",\n" +
       ratio_json("encrypted_load_over_pinned_h2d", transfer_ratio, 0.9,
                  "DMA_IN_DECRYPT GB/s / plain DMA_IN GB/s from pinned guest RAM") +
       ",\n" + ratio_json("decrypt_gbps", decrypt, 1000, "crypto engine, sealed tensor in VRAM") +
       ",\n" +
       ratio_json("load_protected_over_plain", load_ratio, 0.95,
                  "whole-model weight load GB/s, protected (runs of DMA_IN_DECRYPT) / plain "
                  "(issue 14 target 3)") +
       ",\n" +
       ratio_json("load_one_by_one_over_plain", load_one_by_one_ratio, 0.95,
                  "the same with one DMA_IN_DECRYPT per crypto-engine call (before runs)") +
       "\n  }\n}\n";

  FILE* f = std::fopen(o.json_path.c_str(), "w");
  if (f == nullptr || std::fputs(j.c_str(), f) < 0 || std::fclose(f) != 0) {
    return die("cannot write " + o.json_path);
  }
  std::fputs(j.c_str(), stdout);

  std::fprintf(stderr, "\nhix-bench %s on %s, %.2f GB of weights, batch %s\n", o.model_name.c_str(),
               std::string(to_string(o.backend)).c_str(), static_cast<double>(weight_bytes) / 1e9,
               batches_json(o.batches).c_str());
  std::fprintf(stderr, "%-26s", "");
  for (const auto& [m, fm] : figs) std::fprintf(stderr, "%14s", std::string(to_string(m)).c_str());
  std::fprintf(stderr, "\n");
  const auto row = [&](const char* name, auto get) {
    std::fprintf(stderr, "%-26s", name);
    for (const auto& [m, fm] : figs) {
      const std::optional<double> v = get(fm);
      if (v) {
        std::fprintf(stderr, "%14.4g", *v);
      } else {
        std::fprintf(stderr, "%14s", "-");
      }
    }
    std::fprintf(stderr, "\n");
  };
  row("stage s (host, untimed)",
      [](const ModeFigures& x) { return std::optional<double>(x.stage_s); });
  row("load s", [](const ModeFigures& x) { return std::optional<double>(x.load_s); });
  row("load GB/s", [](const ModeFigures& x) { return std::optional<double>(x.load_gbps); });
  row("load GB/s, one by one", [](const ModeFigures& x) { return x.load_one_by_one_gbps; });
  for (std::size_t i = 0; i < o.prefill_lens.size(); ++i) {
    const std::string name = "prefill " + std::to_string(o.prefill_lens[i]) + " s";
    row(name.c_str(), [i](const ModeFigures& x) { return x.prefill[i].seconds; });
  }
  row("decode tok/s", [](const ModeFigures& x) { return std::optional<double>(x.decode_tok_s); });
  row("decode steps/s",
      [](const ModeFigures& x) { return std::optional<double>(x.decode_steps_s); });
  for (std::size_t i = 0; o.batches.size() > 1 && i < o.batches.size(); ++i) {
    const std::string name = "decode tok/s, batch " + std::to_string(o.batches[i]);
    row(name.c_str(), [i](const ModeFigures& x) {
      return i < x.batches.size() ? std::optional<double>(x.batches[i].tok_s) : std::nullopt;
    });
  }
  row("decode weight GB/s",
      [](const ModeFigures& x) { return std::optional<double>(x.decode_weight_gbps); });
  row("H2D into VRAM GB/s",
      [](const ModeFigures& x) { return std::optional<double>(x.transfer_gbps); });
  const auto ratio_line = [](const char* name, std::optional<double> v, double target) {
    if (v) {
      std::fprintf(stderr, "%-34s %10.4g  (target >= %g: %s)\n", name, *v, target,
                   *v >= target ? "met" : "NOT met");
    } else {
      std::fprintf(stderr, "%-34s %10s\n", name, "-");
    }
  };
  ratio_line("decode protected/plain", decode_ratio, 0.99);
  ratio_line("decode weight BW / D2D copy", bw_ratio, 0.75);
  ratio_line("encrypted load / pinned H2D", transfer_ratio, 0.9);
  ratio_line("model load protected/plain", load_ratio, 0.95);
  ratio_line("  ... one by one (no runs)", load_one_by_one_ratio, 0.95);
  ratio_line("decrypt GB/s (VRAM)", decrypt, 1000);
  if (tokens_match) {
    std::fprintf(stderr, "tokens protected == plain: %s\n", *tokens_match ? "yes" : "NO");
  }
  if (vram_runs_equal_one_by_one) {
    std::fprintf(stderr, "VRAM after loads with runs == one by one: %s\n",
                 *vram_runs_equal_one_by_one ? "yes" : "NO");
  }
  if (vram_protected_equal_plain) {
    std::fprintf(stderr, "VRAM after loads protected == plain: %s\n",
                 *vram_protected_equal_plain ? "yes" : "NO");
  }
  const bool mismatch = (tokens_match && !*tokens_match) ||
                        (vram_runs_equal_one_by_one && !*vram_runs_equal_one_by_one) ||
                        (vram_protected_equal_plain && !*vram_protected_equal_plain);
  return mismatch ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The standard library throws only on exhaustion (bad_alloc): a message,
  // not an abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", "hix-bench", e.what());
    return 1;
  }
}
