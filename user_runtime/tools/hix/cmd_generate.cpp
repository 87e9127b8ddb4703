// `hix generate`: text in, text out through the GPU enclave. Opens the
// .hixm's manifest with the model key (never sent anywhere but into the
// attested session), tokenizes the prompt with the checkpoint's own
// tokenizer, runs the inference runner (libhix/inference) and streams the
// text as each round of tokens is opened.
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "attest_print.hpp"
#include "cli.hpp"
#include "hix/abi/vgpu_cmd.h"
#include "hixm/hixm.hpp"
#include "json.hpp"
#include "run_model.hpp"
#include "tokenizer.hpp"

namespace hix::cli {
namespace {

constexpr std::uint64_t kDefaultMaxTokens = 64;
constexpr std::uint64_t kDefaultRound = 8;
constexpr std::uint64_t kMaxTokens = 65535;

// generation_config.json's eos_token_id (a number or a list), else the
// tokenizer's eos token (when the checkpoint has a tokenizer).
std::vector<std::int32_t> eos_ids(const hixm::Manifest& m, const tok::Tokenizer* t) {
  std::vector<std::int32_t> ids;
  if (!m.documents.generation_config_json.empty()) {
    if (auto g = model::parse_json(m.documents.generation_config_json); g.ok()) {
      if (const model::JsonValue* e = g->find("eos_token_id"); e != nullptr) {
        if (e->is_uint) ids.push_back(static_cast<std::int32_t>(e->uint));
        for (const model::JsonValue& v : e->array) {
          if (v.is_uint) ids.push_back(static_cast<std::int32_t>(v.uint));
        }
      }
    }
  }
  if (ids.empty() && t != nullptr) {
    if (const auto e = t->eos_id()) ids.push_back(*e);
  }
  return ids;
}

// "1,2,3" as token ids (each 0..2^31-1); nullopt when malformed.
std::optional<std::vector<std::int32_t>> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t end = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, end - at);
    if (item.empty() || item.size() > 10 ||
        item.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    const unsigned long long v = std::stoull(item);
    if (v > 0x7FFFFFFFull) return std::nullopt;
    ids.push_back(static_cast<std::int32_t>(v));
    at = end + 1;
  }
  return ids;
}

std::string ids_json(std::span<const std::int32_t> ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) s += ", ";
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

// The weights' layout in the .hixm, as the runner reads any sealed file.
inference::WeightsFile weights_layout(const hixm::Manifest& m, const hixm::ModelKey& key) {
  inference::WeightsFile wf;
  wf.sealed = true;
  std::copy(key.key.begin(), key.key.end(), wf.model_key.begin());
  wf.key_slot = m.key_slot;
  wf.first_tensor_id = m.first_tensor_id;
  wf.weight_dtype = m.weight_dtype;
  wf.file_bytes = m.file_bytes;
  for (const hixm::TensorEntry& t : m.tensors) {
    wf.tensors.push_back({t.name, t.bytes, t.sealed_bytes, t.offset});
  }
  return wf;
}

// The --json record into `path` (written beside it, then renamed: a reader
// never sees half of it).
void write_record(const std::string& path, const std::string& record) {
  const std::string tmp = path + ".tmp";
  if (std::FILE* f = std::fopen(tmp.c_str(), "w"); f != nullptr) {
    std::fputs(record.c_str(), f);
    if (std::fclose(f) == 0 && std::rename(tmp.c_str(), path.c_str()) == 0) return;
  }
  std::fprintf(stderr, "hix: %s: cannot write the record\n", path.c_str());
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  std::string error;
  const auto o = Options::parse(argc, argv,
                                {"endpoint", "platform-key", "mrenclave", "model", "key", "prompt",
                                 "max-tokens", "temperature", "top-k", "seed", "remote-disk",
                                 "peer-disk", "stream-tokens", "record", "prompt-ids", "precision"},
                                {"json", "hold-open", "ignore-eos"}, error);
  if (!o) return fail(error, kExitUsage);
  if (!o->positional().empty()) return fail("generate takes no arguments", kExitUsage);
  const auto ep = parse_endpoint(o->get("endpoint"));
  if (!ep) return fail("--endpoint HOST:PORT is required (hixd's address)", kExitUsage);
  const auto expect = expectations(*o, error);
  if (!expect) return fail(error, kExitUsage);
  if (!o->has("model")) return fail("--model MODEL.hixm is required", kExitUsage);
  if (o->has("prompt") == o->has("prompt-ids")) {
    return fail("give --prompt TEXT or --prompt-ids 1,2,3 (one of them)", kExitUsage);
  }
  if (o->has("remote-disk") && o->has("peer-disk")) {
    return fail("--remote-disk and --peer-disk: the weights come from one place", kExitUsage);
  }
  std::uint64_t max_tokens = kDefaultMaxTokens;
  std::uint64_t top_k = 0;
  std::uint64_t seed = 0;
  std::uint64_t round = kDefaultRound;
  std::uint64_t disk = 0;
  std::uint64_t peer_disk = 0;
  float temperature = 0;
  if (!o->get_u64("max-tokens", 1, kMaxTokens, max_tokens, error) ||
      !o->get_u64("top-k", 0, 1u << 20, top_k, error) ||
      !o->get_u64("seed", 0, UINT64_MAX, seed, error) ||
      !o->get_u64("stream-tokens", 1, kMaxTokens, round, error) ||
      !o->get_u64("remote-disk", 0, 63, disk, error) ||
      !o->get_u64("peer-disk", 0, 63, peer_disk, error) ||
      !o->get_float("temperature", temperature, error)) {
    return fail(error, kExitUsage);
  }
  if (temperature < 0) return fail("--temperature must be 0 (greedy) or positive", kExitUsage);
  // exact: f32 activations and KV caches (the reference arithmetic); fast:
  // bf16 both, so the GEMMs take the activations as they are and prefill
  // attention runs on tensor cores (hix-gpu §6.4, docs/decisions.md).
  const std::string precision = o->get("precision", "exact");
  if (precision != "exact" && precision != "fast") {
    return fail("--precision must be exact or fast", kExitUsage);
  }
  const std::uint8_t act_dtype = precision == "fast" ? HIX_VGPU_DT_BF16 : HIX_VGPU_DT_F32;
  const bool json = o->flag("json");
  const std::string model_path = o->get("model");
  const std::string key_path = o->get("key", model_path + ".key");

  auto key = hixm::read_key_file(key_path);
  if (!key) return fail(key.why(), kExitBadModel);
  auto manifest = hixm::read_manifest(model_path, *key);
  if (!manifest) return fail(manifest.why(), kExitBadModel);
  // The model the device must run: its config.json, and the layout the
  // programs are built for equal to the file's table.
  auto layout = hixm::check_layout(*manifest);
  if (!layout) return fail(model_path + ": " + layout.why(), kExitBadModel);
  const model::ModelConfig config = layout->config;
  // The checkpoint's tokenizer: needed for a text prompt; with token ids
  // in, the output is decoded only when there is one.
  std::optional<tok::Tokenizer> tokenizer;
  if (!manifest->documents.tokenizer_json.empty()) {
    auto t = tok::Tokenizer::from_json(manifest->documents.tokenizer_json,
                                       tok::ConfigJson{manifest->documents.tokenizer_config_json});
    if (!t) return fail(model_path + ": tokenizer.json: " + t.error().message, kExitBadModel);
    tokenizer.emplace(std::move(*t));
  } else if (o->has("prompt")) {
    return fail(model_path + ": the checkpoint had no tokenizer.json (use --prompt-ids)",
                kExitBadModel);
  }
  const std::string prompt = o->get("prompt");
  std::optional<std::vector<std::int32_t>> prompt_ids;
  if (o->has("prompt-ids")) {
    prompt_ids = parse_ids(o->get("prompt-ids"));
    if (!prompt_ids) return fail("--prompt-ids: expected token ids like 1,2,3", kExitUsage);
    for (const std::int32_t id : *prompt_ids) {
      if (static_cast<std::uint32_t>(id) >= config.vocab) {
        return fail("--prompt-ids: " + std::to_string(id) + " is outside the vocabulary (" +
                        std::to_string(config.vocab) + " tokens)",
                    kExitUsage);
      }
    }
  } else {
    auto ids = tokenizer->encode(prompt, true);
    if (!ids) return fail("the prompt: " + ids.error().message, kExitUsage);
    prompt_ids = std::move(*ids);
  }
  if (prompt_ids->empty()) return fail("the prompt encodes to no tokens", kExitUsage);
  const std::vector<std::int32_t> eos = o->flag("ignore-eos")
                                            ? std::vector<std::int32_t>{}
                                            : eos_ids(*manifest, tokenizer ? &*tokenizer : nullptr);

  const inference::ModelInput input{config, nullptr, model_path};
  inference::RunOptions r;
  r.host = ep->host;
  r.port = ep->port;
  r.expect = *expect;
  r.input = &input;
  r.runtime.weight_dtype = manifest->weight_dtype;
  r.runtime.act_dtype = act_dtype;
  r.runtime.kv_dtype = act_dtype;
  r.runtime.max_seq = static_cast<std::uint32_t>(prompt_ids->size() + max_tokens);
  r.prompt = *prompt_ids;
  r.generate = static_cast<std::uint32_t>(max_tokens);
  r.want_logits = false;
  r.sample = temperature > 0;
  r.temperature = r.sample ? temperature : 1.0f;
  r.top_k = static_cast<std::uint32_t>(top_k);
  r.seed = seed;
  if (!eos.empty()) r.eos = eos.front();
  r.round_tokens = static_cast<std::uint32_t>(round);
  r.disk_file = weights_layout(*manifest, *key);
  if (o->has("peer-disk")) {
    r.peer_disk_index = static_cast<std::uint32_t>(peer_disk);
  } else if (o->has("remote-disk")) {
    r.disk_index = static_cast<std::uint32_t>(disk);
  } else {
    r.put_file = model_path;
  }

  Attestation attestation;
  // Without a tokenizer the output is shown as token ids.
  std::optional<tok::StreamDecoder> decoder;
  if (tokenizer) decoder.emplace(*tokenizer, true);
  std::string text;
  bool ended = false;  // an eos token was produced
  r.on_attested = [&](const client::Session& s, double ms) {
    attestation = describe(s, *expect, ms);
    if (json) return;
    print_attestation(stdout, attestation);
    std::printf("\nprompt: %s\noutput: ",
                o->has("prompt-ids") ? ids_json(*prompt_ids).c_str() : prompt.c_str());
    std::fflush(stdout);
  };
  r.on_tokens = [&](std::span<const std::int32_t> ids) {
    for (const std::int32_t id : ids) {
      if (ended) break;
      if (std::find(eos.begin(), eos.end(), id) != eos.end()) {
        ended = true;
        break;
      }
      const std::string piece = decoder ? decoder->push(id) : " " + std::to_string(id);
      if (decoder) text += piece;
      if (!json) std::fputs(piece.c_str(), stdout);
    }
    if (!json) std::fflush(stdout);
  };
  const auto report = [&](const inference::RunResult& res) {
    const std::string tail = decoder ? decoder->finish() : std::string();
    text += tail;
    const std::span<const std::int32_t> all(res.tokens);
    std::size_t end = prompt_ids->size();
    while (end < all.size() && all[end] >= 0) ++end;
    const auto generated = all.subspan(prompt_ids->size(), end - prompt_ids->size());
    const inference::Timings& t = res.t;
    char timings[512];
    std::snprintf(timings, sizeof timings,
                  "{\"attest_ms\": %s, \"load_ms\": %s, \"load_mb_s\": %s, "
                  "\"first_token_ms\": %s, \"tokens_per_s\": %s, \"generate_ms\": %s, "
                  "\"rounds\": %u}",
                  json_number(attestation.ms).c_str(), json_number(t.load_ms).c_str(),
                  json_number(t.load_mb_s).c_str(), json_number(t.first_token_ms).c_str(),
                  json_number(t.tokens_per_s).c_str(), json_number(t.generate_ms).c_str(),
                  t.rounds);
    const std::string record =
        "{\"attestation\": " + attestation_json(attestation) +
        ", \"model\": " + json_quote(model_path) + ", \"precision\": \"" + precision +
        "\", \"prompt\": " + json_quote(prompt) + ", \"prompt_tokens\": " + ids_json(*prompt_ids) +
        ", \"tokens\": " + ids_json(generated) + ", \"text\": " + json_quote(text) +
        ", \"stopped_at_eos\": " + (ended ? "true" : "false") + ", \"load_path\": \"" +
        res.load_path + "\", \"load_bytes\": " + std::to_string(res.load_bytes) +
        ", \"timings\": " + timings + "}\n";
    if (o->has("record")) write_record(o->get("record"), record);
    if (json) {
      std::fputs(record.c_str(), stdout);
    } else {
      std::printf("%s\n\n", tail.c_str());
      std::printf(
          "timings: attest %.0f ms | load %.1f MB in %.0f ms (%.1f MB/s, %s) | "
          "first token %.0f ms | %.2f tokens/s after it | %zu tokens%s\n",
          attestation.ms, static_cast<double>(res.load_bytes) / 1e6, t.load_ms, t.load_mb_s,
          res.load_path.c_str(), t.first_token_ms, t.tokens_per_s, generated.size(),
          ended ? " (end of text)" : "");
    }
    std::fflush(stdout);
  };
  bool reported = false;
  r.before_close = [&](const inference::RunResult& res) {
    report(res);
    reported = true;
    if (o->flag("hold-open")) {
      std::fprintf(stderr, "hix: session %u held open; end standard input to close it\n",
                   res.session);
      char buf[256];
      while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
      }
    }
  };

  client::ErrorKind kind = client::ErrorKind::io;
  auto res = inference::run(r, &kind);
  if (!res) {
    const std::string& why = res.why();
    if (kind == client::ErrorKind::attestation) return fail("attestation " + why, kExitRefused);
    // A load the device refused: find the chunk in the local file.
    if (why.find("load program") != std::string::npos || why.find("LOAD") == 0) {
      if (auto v = hixm::verify_tensors(model_path, *manifest, *key); !v) {
        return fail(v.why(), kExitBadModel);
      }
    }
    return fail(why, kExitFailed);
  }
  if (!reported) report(*res);
  return kExitOk;
}

}  // namespace hix::cli
