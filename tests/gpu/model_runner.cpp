// Running a compiled model on a GpuSession (model_runner.hpp).
#include "model_runner.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hix::gpu_tools {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

model::Error device_error(const char* what, Status s) {
  return model::fail(std::string(what) + ": " + std::string(vgpu::to_string(s)));
}

}  // namespace

model::Result<ModelSource> open_checkpoint(const std::string& dir) {
  auto cp = model::open_checkpoint_dir(dir);
  if (!cp) return cp.error();
  return ModelSource{cp->config, std::move(cp->weights)};
}

model::Result<ModelSource> open_preset(const std::string& name, std::uint64_t seed) {
  auto cfg = model::preset(name);
  if (!cfg) return model::fail("preset " + name + ": " + cfg.why());
  model::SeededOptions o;
  o.seed = seed;
  return ModelSource{*cfg, std::make_unique<model::SeededSource>(*cfg, o)};
}

std::uint64_t vram_for(const model::Plan& plan) {
  // Buffers are rounded up to 256-byte granules; the rest is slack.
  return plan.total_bytes() + plan.buffers.size() * 256 + (64ull << 20);
}

std::uint64_t guest_ram_for(const model::Plan& plan, bool sealed) {
  std::uint64_t staged = 0;
  for (const auto& t : plan.layout.tensors) {
    staged += (sealed ? vgpu::sealed_size(t.bytes()) : t.bytes()) + 64;
  }
  // Ring, command area, prompts and outputs (tokens, logits) of many runs.
  const std::uint64_t vocab = plan.layout.config.vocab;
  // A batched plan's outputs (tokens [B, max_seq] at most, logits [B, vocab])
  // of a few runs at once.
  const std::uint64_t batch = plan.options.batch;
  const std::uint64_t batched =
      batch == 1 ? 0
                 : 4 * (vgpu::sealed_size(batch * vocab * 4 + 64) +
                        vgpu::sealed_size(batch * plan.options.max_seq * 4 + 64));
  return staged + (16ull << 20) + 64 * vgpu::sealed_size(vocab * 4 + 64) + batched;
}

model::Result<std::unique_ptr<ModelRunner>> ModelRunner::prepare(
    GpuSession& session, model::Plan plan, const model::WeightSource& weights) {
  std::unique_ptr<ModelRunner> r(new ModelRunner(session, std::move(plan)));
  const model::Plan& p = r->plan_;
  auto checked = model::check_source(p.layout, weights);
  if (!checked) return model::fail("weights: " + checked.why());
  for (const auto& b : p.buffers) {
    auto h = session.alloc(b.bytes);
    if (!h) return device_error(("MEM_ALLOC " + b.name).c_str(), h.status());
    r->handles_.push_back(*h);
  }
  std::vector<std::uint64_t> sizes;
  for (const auto& t : p.layout.tensors) sizes.push_back(t.bytes());
  // The compiler's messages do not cross the thread pool: a failed tensor
  // is named after the fact by producing it again on this thread.
  auto staged = session.stage_many(sizes, [&](std::size_t i, std::span<std::byte> out) {
    return model::device_tensor_bytes_into(p.layout, i, weights, out) ? Status::ok
                                                                      : Status::invalid_arg;
  });
  if (!staged) {
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      std::vector<std::byte> probe(sizes[i]);
      auto c = model::device_tensor_bytes_into(p.layout, i, weights, probe);
      if (!c) return model::fail(p.layout.tensors[i].name + ": " + c.why());
    }
    return device_error("staging the weights", staged.status());
  }
  r->staged_ = std::move(*staged);
  return r;
}

Status ModelRunner::load(double* seconds) {
  std::vector<std::uint64_t> gpas;
  for (const auto& t : staged_) gpas.push_back(t.gpa);
  model::LoadRequest req;
  req.tensor_gpas = gpas;
  req.sealed = session_.is_protected();
  req.key_slot = GpuSession::kKeySlot;
  req.first_tensor_id = staged_.empty() ? 1 : staged_.front().tensor_id;
  auto programs = model::build_load_program(plan_, handles_, req);
  if (!programs) return Status::invalid_arg;
  const auto t0 = Clock::now();
  for (const auto& prog : *programs) {
    const Status s = session_.submit(prog);
    if (s != Status::ok) return s;
  }
  if (seconds != nullptr) *seconds = since(t0);
  return Status::ok;
}

model::Result<StagedTensor> ModelRunner::stage_prompt(std::span<const std::int32_t> prompt) {
  if (prompt.empty()) return model::fail("empty prompt");
  for (const std::int32_t id : prompt) {
    if (id < 0 || static_cast<std::uint32_t>(id) >= plan_.layout.config.vocab) {
      return model::fail("prompt token " + std::to_string(id) + " outside the vocabulary");
    }
  }
  auto t = session_.stage(std::as_bytes(prompt));
  if (!t) return device_error("staging the prompt", t.status());
  return *t;
}

model::Result<GenerateJob> ModelRunner::build(const StagedTensor& prompt, std::uint32_t n_new,
                                              bool want_logits, bool prefill_only,
                                              std::uint32_t batch) {
  model::GenerateRequest req;
  req.prompt_len = static_cast<std::uint32_t>(prompt.bytes / 4);
  req.n_new = prefill_only ? 1 : n_new;
  req.sealed = session_.is_protected();
  req.key_slot = GpuSession::kKeySlot;
  req.prompt_gpa = prompt.gpa;
  req.prompt_tensor_id = prompt.tensor_id;
  // Several sequences decode together (spec hix-gpu §6.4.1); the prefill
  // program is the batch-1 one.
  const bool batched = batch > 1 && !prefill_only;
  req.batch = batch;
  GenerateJob job;
  auto tokens = session_.prepare_out(batched ? model::batch_tokens_out_bytes(plan_, req)
                                             : model::tokens_out_bytes(req));
  if (!tokens) return device_error("guest memory for tokens", tokens.status());
  job.tokens = *tokens;
  req.tokens_gpa = tokens->gpa;
  req.tokens_tensor_id = tokens->tensor_id;
  if (want_logits) {
    auto logits = session_.prepare_out(batched ? model::batch_logits_out_bytes(plan_, req)
                                               : model::logits_out_bytes(plan_));
    if (!logits) return device_error("guest memory for logits", logits.status());
    job.logits = *logits;
    req.logits_gpa = logits->gpa;
    req.logits_tensor_id = logits->tensor_id;
  }
  auto prog = prefill_only ? model::build_prefill_program(plan_, handles_, req)
              : batched    ? model::build_batch_generate_program(plan_, handles_, req)
                           : model::build_generate_program(plan_, handles_, req);
  if (!prog) return model::fail("generate program: " + prog.why());
  job.program = std::move(*prog);
  return job;
}

Status ModelRunner::run(const GenerateJob& job, double* seconds) {
  const auto t0 = Clock::now();
  const Status s = session_.submit(job.program);
  if (seconds != nullptr) *seconds = since(t0);
  return s;
}

model::Result<Generation> ModelRunner::read(const GenerateJob& job) {
  Generation g;
  g.tokens.resize(job.tokens.bytes / 4);
  Status s = session_.read_out(job.tokens, std::as_writable_bytes(std::span(g.tokens)));
  if (s != Status::ok) return device_error("reading the tokens", s);
  if (job.logits) {
    g.last_logits.resize(job.logits->bytes / 4);
    s = session_.read_out(*job.logits, std::as_writable_bytes(std::span(g.last_logits)));
    if (s != Status::ok) return device_error("reading the logits", s);
  }
  return g;
}

model::Result<Generation> ModelRunner::generate(std::span<const std::int32_t> prompt,
                                                std::uint32_t n_new, bool want_logits,
                                                double* seconds) {
  auto staged = stage_prompt(prompt);
  if (!staged) return staged.error();
  auto job = build(*staged, n_new, want_logits);
  if (!job) return job.error();
  const Status s = run(*job, seconds);
  if (s != Status::ok) return device_error("generate", s);
  return read(*job);
}

model::Result<RunOutput> run_model(const RunOptions& o) {
  if (o.source == nullptr) return model::fail("no model");
  auto plan = model::make_plan(o.source->config, o.runtime);
  if (!plan) return model::fail("plan: " + plan.why());
  SessionConfig sc;
  sc.backend = o.backend;
  sc.mode = o.mode;
  sc.vram_bytes = vram_for(*plan);
  sc.guest_ram_bytes = guest_ram_for(*plan, o.mode == Mode::protected_mode);
  auto session = GpuSession::create(sc);
  if (!session) {
    return device_error(("a " + std::string(to_string(o.backend)) + " session").c_str(),
                        session.status());
  }
  auto runner = ModelRunner::prepare(**session, std::move(*plan), *o.source->weights);
  if (!runner) return runner.error();
  RunOutput out;
  out.backend = o.backend;
  out.mode = o.mode;
  const Status loaded = (*runner)->load(&out.load_s);
  if (loaded != Status::ok) return device_error("load", loaded);
  auto g = (*runner)->generate(o.prompt, o.generate, true, &out.generate_s);
  if (!g) return g.error();
  out.tokens = std::move(g->tokens);
  out.last_logits = std::move(g->last_logits);
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string run_json(const RunOutput& r) {
  std::string s = "{\"tokens\": [";
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    s += (i != 0 ? "," : "") + std::to_string(r.tokens[i]);
  }
  s += "],\n \"last_logits\": [";
  for (std::size_t i = 0; i < r.last_logits.size(); ++i) {
    s += (i != 0 ? "," : "") + json_number(r.last_logits[i]);
  }
  s += "],\n \"backend\": \"" + std::string(to_string(r.backend)) + "\", \"mode\": \"" +
       std::string(to_string(r.mode)) + "\", \"load_s\": " + json_number(r.load_s) +
       ", \"generate_s\": " + json_number(r.generate_s) + "}\n";
  return s;
}

bool parse_list(const std::string& s, std::vector<std::int64_t>& out) {
  out.clear();
  const char* p = s.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    const long long v = std::strtoll(p, &end, 10);
    if (end == p) return false;
    out.push_back(v);
    if (*end == ',') {
      p = end + 1;
      if (*p == '\0') return false;
    } else if (*end != '\0') {
      return false;
    } else {
      p = end;
    }
  }
  return !out.empty();
}

}  // namespace hix::gpu_tools
