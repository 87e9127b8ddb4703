// hix-session-client: a minimal host-side test client of hixd
// (docs/specs/hix-session.md). It attests the GPU enclave, opens a session,
// compiles a model (user_runtime/libhix/model), loads its weights sealed
// under a fresh model key — through the socket, or from a VM disk that
// `seal-weights` prepared — and generates greedily; it prints JSON with the
// tokens and the timings. The real `hix` CLI comes next; this one serves
// the VM tests, the benchmarks and the attack suite.
#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "hex.hpp"
#include "report.hpp"
#include "run_model.hpp"

namespace {

using namespace hix::inference;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRefused = 3;  // the attestation (or the mode) was refused

void usage(std::FILE* f) {
  std::fprintf(
      f,
      "usage: hix-session-client --port P (--pubkey FILE --mrenclave HEX | --plain)\n"
      "           (--preset NAME [--seed S] | --checkpoint DIR) --prompt 1,2,3 --generate N\n"
      "           [--max-seq N] [--weight-dtype bf16|f32] [--no-logits]\n"
      "           [--disk-file FILE (--disk-index I | --peer-disk-index I)]\n"
      "           [--stream-tokens N] [--json OUT] [--host ADDR]\n"
      "           [--hold-after-generate SECONDS] [--print-secrets]\n"
      "       hix-session-client seal-weights --out FILE (--preset NAME [--seed S] |\n"
      "           --checkpoint DIR) [--plain] [--weight-dtype bf16|f32]\n"
      "\n"
      "Runs one protected (or, with --plain, unprotected) inference through hixd at\n"
      "HOST:P (default 127.0.0.1, where run-vm --hixd-port forwards) and prints JSON.\n"
      "--pubkey: the platform's Ed25519 public key (32 bytes raw or 64 hex digits);\n"
      "--mrenclave: the GPU enclave's measurement (hix-measure). --disk-file: the\n"
      "weights were written beforehand by seal-weights into FILE (the VM's disk I,\n"
      "/dev/vda = 0) and FILE.json; they are LOADed from the disk instead of PUT,\n"
      "or, with --peer-disk-index, read by the device from its peer disk I\n"
      "(run-vm --peer-disk FILE). --stream-tokens N: generate in rounds (one token,\n"
      "then N at a time), so first_token_ms is the time to the first token.\n"
      "--hold-after-generate: keep the session open that long after the outputs\n"
      "are read (lines 'SECRET ...' and 'HOLD ...' are printed first);\n"
      "--print-secrets: print the plaintext a memory scanner looks for.\n"
      "seal-weights writes FILE (each tensor sealed for key slot 1 under a fresh\n"
      "model key, at 4096-aligned offsets) and FILE.json (offsets and the key: keep\n"
      "it on the host).\n"
      "Exit status: 0 ok, 1 failed, 2 bad command line, 3 attestation refused.\n");
}

bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtoull(s.c_str(), &end, 10);
  return *end == '\0';
}

bool parse_prompt(const std::string& s, std::vector<std::int32_t>& out) {
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = s.find(',', at);
    const std::string item =
        s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    std::uint64_t v = 0;
    if (!parse_u64(item, v) || v > 0x7FFFFFFF) return false;
    out.push_back(static_cast<std::int32_t>(v));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return !out.empty();
}

struct Args {
  bool seal_weights = false;
  std::string host = "127.0.0.1";
  std::uint64_t port = 0;
  std::string pubkey, mrenclave, preset, checkpoint, disk_file, json, out;
  bool plain = false;
  std::uint64_t seed = 1;
  std::vector<std::int32_t> prompt;
  std::uint64_t generate = 0;
  std::uint64_t max_seq = 0;
  std::uint8_t weight_dtype = HIX_VGPU_DT_BF16;
  bool no_logits = false;
  std::optional<std::uint64_t> disk_index;
  std::optional<std::uint64_t> peer_disk_index;
  std::uint64_t stream_tokens = 0;
  std::uint64_t hold_s = 0;
  bool print_secrets = false;
};

int parse(int argc, char** argv, Args& a) {
  enum {
    kPort = 1,
    kHost,
    kPubkey,
    kMrenclave,
    kPlain,
    kPreset,
    kSeed,
    kCheckpoint,
    kPrompt,
    kGenerate,
    kMaxSeq,
    kDtype,
    kNoLogits,
    kDiskFile,
    kDiskIndex,
    kPeerDiskIndex,
    kStream,
    kJson,
    kHold,
    kSecrets,
    kOut,
    kHelp,
  };
  static const option longopts[] = {
      {"port", required_argument, nullptr, kPort},
      {"host", required_argument, nullptr, kHost},
      {"pubkey", required_argument, nullptr, kPubkey},
      {"mrenclave", required_argument, nullptr, kMrenclave},
      {"plain", no_argument, nullptr, kPlain},
      {"preset", required_argument, nullptr, kPreset},
      {"seed", required_argument, nullptr, kSeed},
      {"checkpoint", required_argument, nullptr, kCheckpoint},
      {"prompt", required_argument, nullptr, kPrompt},
      {"generate", required_argument, nullptr, kGenerate},
      {"max-seq", required_argument, nullptr, kMaxSeq},
      {"weight-dtype", required_argument, nullptr, kDtype},
      {"no-logits", no_argument, nullptr, kNoLogits},
      {"disk-file", required_argument, nullptr, kDiskFile},
      {"disk-index", required_argument, nullptr, kDiskIndex},
      {"peer-disk-index", required_argument, nullptr, kPeerDiskIndex},
      {"stream-tokens", required_argument, nullptr, kStream},
      {"json", required_argument, nullptr, kJson},
      {"hold-after-generate", required_argument, nullptr, kHold},
      {"print-secrets", no_argument, nullptr, kSecrets},
      {"out", required_argument, nullptr, kOut},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0},
  };
  int first = 1;
  if (argc > 1 && std::string(argv[1]) == "seal-weights") {
    a.seal_weights = true;
    first = 2;
  }
  optind = first;
  for (;;) {
    const int c = getopt_long(argc, argv, "", longopts, nullptr);
    if (c == -1) break;
    const std::string v = optarg != nullptr ? optarg : "";
    std::uint64_t n = 0;
    switch (c) {
      case kPort:
        if (!parse_u64(v, a.port) || a.port == 0 || a.port > 65535) return kExitUsage;
        break;
      case kHost:
        a.host = v;
        break;
      case kPubkey:
        a.pubkey = v;
        break;
      case kMrenclave:
        a.mrenclave = v;
        break;
      case kPlain:
        a.plain = true;
        break;
      case kPreset:
        a.preset = v;
        break;
      case kSeed:
        if (!parse_u64(v, a.seed)) return kExitUsage;
        break;
      case kCheckpoint:
        a.checkpoint = v;
        break;
      case kPrompt:
        if (!parse_prompt(v, a.prompt)) return kExitUsage;
        break;
      case kGenerate:
        if (!parse_u64(v, a.generate) || a.generate == 0 || a.generate > 65536) return kExitUsage;
        break;
      case kMaxSeq:
        if (!parse_u64(v, a.max_seq) || a.max_seq < 2) return kExitUsage;
        break;
      case kDtype:
        if (v == "bf16") {
          a.weight_dtype = HIX_VGPU_DT_BF16;
        } else if (v == "f32") {
          a.weight_dtype = HIX_VGPU_DT_F32;
        } else {
          return kExitUsage;
        }
        break;
      case kNoLogits:
        a.no_logits = true;
        break;
      case kDiskFile:
        a.disk_file = v;
        break;
      case kDiskIndex:
        if (!parse_u64(v, n) || n >= HIX_INFO_MAX_DISKS) return kExitUsage;
        a.disk_index = n;
        break;
      case kPeerDiskIndex:
        if (!parse_u64(v, n) || n > 63) return kExitUsage;
        a.peer_disk_index = n;
        break;
      case kStream:
        if (!parse_u64(v, a.stream_tokens) || a.stream_tokens == 0 || a.stream_tokens > 65536) {
          return kExitUsage;
        }
        break;
      case kJson:
        a.json = v;
        break;
      case kHold:
        if (!parse_u64(v, a.hold_s)) return kExitUsage;
        break;
      case kSecrets:
        a.print_secrets = true;
        break;
      case kOut:
        a.out = v;
        break;
      case kHelp:
        usage(stdout);
        std::exit(kExitOk);
      default:
        return kExitUsage;
    }
  }
  if (optind != argc) return kExitUsage;
  if (a.preset.empty() == a.checkpoint.empty()) return kExitUsage;  // exactly one model
  if (a.seal_weights) return a.out.empty() ? kExitUsage : kExitOk;
  if (a.port == 0 || a.prompt.empty() || a.generate == 0) return kExitUsage;
  if (a.plain == (!a.pubkey.empty() || !a.mrenclave.empty())) return kExitUsage;
  if (!a.plain && (a.pubkey.empty() || a.mrenclave.empty())) return kExitUsage;
  if (a.disk_index && a.peer_disk_index) return kExitUsage;  // one place for the weights
  if (a.disk_file.empty() != !(a.disk_index || a.peer_disk_index)) return kExitUsage;
  return kExitOk;
}

hix::model::Result<ModelInput> open_model(const Args& a) {
  return a.preset.empty() ? open_checkpoint(a.checkpoint) : open_preset(a.preset, a.seed);
}

int fail(const std::string& why, int code = kExitFailed) {
  std::fprintf(stderr, "hix-session-client: %s\n", why.c_str());
  return code;
}

int seal_weights(const Args& a) {
  auto input = open_model(a);
  if (!input) return fail(input.why());
  hix::model::RuntimeOptions rt;
  rt.weight_dtype = a.weight_dtype;
  rt.max_seq = std::min<std::uint32_t>(16, hix::model::max_context(input->config));
  auto plan = hix::model::make_plan(input->config, rt);
  if (!plan) return fail(plan.why());
  auto wf = write_weights_file(a.out, *plan, *input->weights, input->name, !a.plain);
  if (!wf) return fail(wf.why());
  std::printf(
      "{\"file\": \"%s\", \"sidecar\": \"%s.json\", \"bytes\": %llu, \"tensors\": %zu, "
      "\"sealed\": %s}\n",
      a.out.c_str(), a.out.c_str(), static_cast<unsigned long long>(wf->file_bytes),
      wf->tensors.size(), wf->sealed ? "true" : "false");
  return kExitOk;
}

bool write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  return static_cast<bool>(f);
}

int run_client(int argc, char** argv) {
  Args a;
  if (parse(argc, argv, a) != kExitOk) {
    usage(stderr);
    return kExitUsage;
  }
  if (a.seal_weights) return seal_weights(a);

  RunOptions o;
  o.host = a.host;
  o.port = static_cast<std::uint16_t>(a.port);
  if (a.plain) {
    o.expect = hix::client::Expectations::plain_mode();
  } else {
    const auto key = hix::read_platform_public_key(a.pubkey);
    if (!key) return fail(a.pubkey + ": not a 32-byte public key", kExitUsage);
    const auto mr = hix::from_hex(a.mrenclave);
    if (!mr || mr->size() != 32) return fail("--mrenclave: not 64 hex digits", kExitUsage);
    std::array<std::uint8_t, 32> m{};
    std::copy(mr->begin(), mr->end(), m.begin());
    o.expect = hix::client::Expectations::attested(*key, m);
  }
  auto input = open_model(a);
  if (!input) return fail(input.why());
  o.input = &*input;
  o.prompt = a.prompt;
  o.generate = static_cast<std::uint32_t>(a.generate);
  o.want_logits = !a.no_logits;
  o.runtime.weight_dtype = a.weight_dtype;
  const std::uint64_t want_seq = a.max_seq != 0 ? a.max_seq : a.prompt.size() + a.generate;
  o.runtime.max_seq = static_cast<std::uint32_t>(std::max<std::uint64_t>(2, want_seq));
  if (!a.disk_file.empty()) {
    auto plan = hix::model::make_plan(input->config, o.runtime);
    if (!plan) return fail(plan.why());
    auto wf = read_weights_sidecar(a.disk_file, *plan);
    if (!wf) return fail(wf.why());
    o.disk_file = std::move(*wf);
    if (a.peer_disk_index) {
      o.peer_disk_index = static_cast<std::uint32_t>(*a.peer_disk_index);
    } else {
      o.disk_index = static_cast<std::uint32_t>(*a.disk_index);
    }
  }
  o.round_tokens = static_cast<std::uint32_t>(a.stream_tokens);
  o.before_close = [&](const RunResult& r) {
    if (a.print_secrets) {
      std::printf("SECRET prompt=%s\n", hix::to_hex(r.prompt_bytes).c_str());
      std::printf("SECRET weight=%s\n", hix::to_hex(r.weight_bytes).c_str());
      std::printf("SECRET tokens=%s\n", hix::to_hex(r.token_bytes).c_str());
    }
    if (a.hold_s != 0) {
      if (!a.json.empty()) write_file(a.json, result_json(r, input->name, a.print_secrets));
      std::printf("HOLD session=%u seconds=%llu\n", r.session,
                  static_cast<unsigned long long>(a.hold_s));
      std::fflush(stdout);
      sleep(static_cast<unsigned>(a.hold_s));
    }
    std::fflush(stdout);
  };

  hix::client::ErrorKind kind = hix::client::ErrorKind::io;
  auto r = run(o, &kind);
  if (!r) {
    return fail(r.why(), kind == hix::client::ErrorKind::attestation ? kExitRefused : kExitFailed);
  }
  const std::string js = result_json(*r, input->name, a.print_secrets);
  std::fputs(js.c_str(), stdout);
  if (!a.json.empty() && !write_file(a.json, js)) return fail(a.json + ": cannot write");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // The standard library throws only on exhaustion (bad_alloc): a message,
  // not an abort.
  try {
    return run_client(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hix-session-client: %s\n", e.what());
    return kExitFailed;
  }
}
