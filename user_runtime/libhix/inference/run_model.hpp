// One inference through hixd, as a client does it (docs/specs/hix-session.md):
// connect, INFO, attest and OPEN a session with a window sized for the
// model, ALLOC the plan's buffers, install a model key (slot 1), move the
// weights into the window (PUT through the socket — sealed here, or read
// from a sealed file — or LOAD from a VM disk holding that file, or let
// the device read that file from its peer disk), SUBMIT
// the load program, seal the prompt under K_t (slot 0) and PUT it, SUBMIT
// the generate program, GET and open the tokens (and the last logits),
// CLOSE. With `round_tokens` the generation runs in rounds (the first makes
// one token, each later one `round_tokens` more) and every round's tokens
// reach `on_tokens` as soon as they are opened. In plain mode tensors
// travel as plaintext with DMA_IN/DMA_OUT. Every step is timed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model_input.hpp"
#include "session/client.hpp"

namespace hix::inference {

struct RunOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  client::Expectations expect;
  const ModelInput* input = nullptr;
  model::RuntimeOptions runtime;  // max_seq, dtypes
  std::vector<std::int32_t> prompt;
  std::uint32_t generate = 1;
  bool want_logits = true;  // one-program generation only
  // Decoding: greedy, or sampled (spec §6.5); stop at `eos`.
  bool sample = false;
  float temperature = 1.0f;
  std::uint32_t top_k = 0;
  std::uint64_t seed = 0;
  std::optional<std::int32_t> eos;
  // Streaming: 0 = one program; else rounds of this many tokens after a
  // first round of one, each round's new tokens passed to on_tokens.
  std::uint32_t round_tokens = 0;
  std::function<void(std::span<const std::int32_t>)> on_tokens;
  // Called once the enclave is attested and the session open, with the
  // time connect + INFO + OPEN took.
  std::function<void(const client::Session&, double ms)> on_attested;
  // The weights already sealed in a file laid out as `disk_file` says (a
  // seal-weights file or a .hixm): LOAD them from VM disk `disk_index`, or,
  // without a disk index, read them from the local file `put_file` and PUT
  // them. Neither: seal them here under a fresh model key.
  std::optional<std::uint32_t> disk_index;
  // Or: the device reads them itself from its peer disk `peer_disk_index`
  // (hix-gpu §7.4), which holds that file; nothing crosses the window.
  std::optional<std::uint32_t> peer_disk_index;
  std::optional<WeightsFile> disk_file;
  std::string put_file;
  // Called once the tokens are out and before the session closes (the CLI
  // prints secrets, writes its JSON and holds the session open here).
  std::function<void(const struct RunResult&)> before_close;
};

struct Timings {
  double connect_ms = 0;
  double info_ms = 0;         // one INFO round trip: the transport alone
  double attest_open_ms = 0;  // OPEN round trip and the report's checks
  double alloc_ms = 0;
  double request_ms = 0;      // one small sealed request (FREE): the per-request overhead
  double model_key_ms = 0;    // MODEL_KEY (protected mode only)
  double seal_ms = 0;         // sealing weights on the client (PUT path), not in load_ms
  double transfer_ms = 0;     // PUTs or LOADs of the weights
  double disk_ms = 0;         // hixd's own pread time (LOAD path)
  double load_submit_ms = 0;  // the load program(s)
  double load_ms = 0;         // transfer + load program
  double load_mb_s = 0;       // bytes moved / load_ms
  double generate_ms = 0;     // seal + PUT prompt, SUBMIT, GET + open outputs
  double generate_submit_ms = 0;
  double first_token_ms = 0;  // prompt PUT to the first generated token opened
  double tokens_per_s = 0;    // generated tokens after the first / their time
  std::uint32_t rounds = 0;   // generate programs submitted
  double close_ms = 0;
};

struct RunResult {
  bool plain = false;
  std::uint32_t session = 0;
  std::uint64_t window_bytes = 0;
  std::size_t window_extents = 0;
  std::string load_path;  // "put", "file", "disk" or "peer"
  std::uint64_t load_bytes = 0;
  std::uint32_t load_requests = 0;
  std::vector<std::int32_t> tokens;  // prompt then generated (-1 after an eos stop)
  std::vector<float> last_logits;
  Timings t;
  // The plaintext a memory scanner looks for (--print-secrets).
  std::vector<std::uint8_t> prompt_bytes;
  std::vector<std::uint8_t> weight_bytes;  // the first 64 bytes of the largest weight tensor
  std::string weight_name;
  std::vector<std::uint8_t> token_bytes;  // the tokens tensor as the device wrote it
};

// Runs everything; an error names the step that failed. When the failure
// came from the client library, `kind` (if given) says which kind it was.
model::Result<RunResult> run(const RunOptions& o, client::ErrorKind* kind = nullptr);

// {"mode", "tokens", "generated", "last_logits", "timings", ...}; `secrets`
// adds the plaintext needles.
std::string result_json(const RunResult& r, const std::string& model_name, bool secrets);

}  // namespace hix::inference
