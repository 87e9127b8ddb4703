// hix: the user's side of OpenHIX. Seal a Hugging Face checkpoint into a
// .hixm file, attest the GPU enclave behind hixd, and generate text through
// it — prompt, weights and output cross the untrusted machine only as
// ciphertext.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli.hpp"

namespace {

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: hix COMMAND [options]\n"
               "\n"
               "  hix seal MODEL_DIR -o MODEL.hixm [--key-out FILE] [--weight-dtype bf16|f32]\n"
               "           [--threads N] [--force]\n"
               "      Seal a Hugging Face checkpoint (config.json, *.safetensors or a sharded\n"
               "      index, tokenizer files) under a fresh model key. The key goes to\n"
               "      MODEL.hixm.key (mode 0600; keep it); the .hixm may sit on any disk.\n"
               "  hix verify MODEL.hixm [--key FILE]\n"
               "      Check the manifest and every sealed chunk with the model key.\n"
               "  hix attest --endpoint HOST:PORT --platform-key FILE --mrenclave HEX [--json]\n"
               "      Verify the GPU enclave behind hixd: the platform's signature, the\n"
               "      expected measurement, a fresh nonce and the session key's binding.\n"
               "  hix generate --endpoint HOST:PORT --platform-key FILE --mrenclave HEX\n"
               "           --model MODEL.hixm [--key FILE] (--prompt TEXT | --prompt-ids 1,2,3)\n"
               "           [--max-tokens N] [--temperature T] [--top-k K] [--seed S]\n"
               "           [--remote-disk N | --peer-disk N] [--stream-tokens N] [--ignore-eos]\n"
               "           [--precision exact|fast] [--hold-open] [--json] [--record FILE]\n"
               "      Attest, send the model key inside the session, load the sealed weights\n"
               "      (from hixd's disk N with --remote-disk; read by the GPU itself from its\n"
               "      peer disk N with --peer-disk; else through the connection), and stream\n"
               "      the generated text (token ids when the model has no tokenizer).\n"
               "      --hold-open keeps the session open after the text until standard\n"
               "      input ends; --record FILE also writes the --json record (ids, text,\n"
               "      timings) to FILE once the text is out. --precision fast computes with\n"
               "      bf16 activations and KV caches (tensor-core prefill); exact (the\n"
               "      default) in f32.\n"
               "\n"
               "Exit status: 0 ok, 1 failed, 2 bad command line, 3 attestation refused,\n"
               "4 model file, key or model refused.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return hix::cli::kExitUsage;
  }
  const std::string cmd = argv[1];
  // Each subcommand reads the arguments after its name.
  const int n = argc - 2;
  char** args = argv + 2;
  if (cmd == "seal") return hix::cli::cmd_seal(n, args);
  if (cmd == "verify") return hix::cli::cmd_verify(n, args);
  if (cmd == "attest") return hix::cli::cmd_attest(n, args);
  if (cmd == "generate") return hix::cli::cmd_generate(n, args);
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    usage(stdout);
    return hix::cli::kExitOk;
  }
  std::fprintf(stderr, "hix: unknown command \"%s\"\n", cmd.c_str());
  usage(stderr);
  return hix::cli::kExitUsage;
}
