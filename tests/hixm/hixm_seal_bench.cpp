// Sealing speed of the .hixm writer (docs/specs/hixm.md §8): a synthetic
// Llama checkpoint of about 256 MB (seeded bf16 weights, tied embeddings)
// is written once, then sealed with one thread and with every core; MB/s
// of device-tensor plaintext per second for each, and the verify speed.
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "hix/abi/vgpu_cmd.h"
#include "hixm/hixm.hpp"
#include "model.hpp"

namespace {

namespace fs = std::filesystem;
using hix::model::Arch;
using hix::model::ModelConfig;

// 32000 x 1024 embeddings and 8 layers of 1024/2816: 122.4 M parameters,
// 245 MB in bf16.
constexpr ModelConfig kBenchModel{Arch::llama, 32000, 1024, 8,     16,       4,
                                  64,          2816,  2048, 1e-5f, 10000.0f, true};

int run() {
  const fs::path dir = fs::temp_directory_path() / ("hixm_bench_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "ckpt");
  std::ofstream(dir / "ckpt" / "config.json") << hix::model::config_json_of(kBenchModel);
  hix::model::SeededOptions opt;
  opt.dtype = hix::model::DType::bf16;
  hix::model::SeededSource src(kBenchModel, opt);
  if (auto w = hix::model::write_safetensors((dir / "ckpt" / "model.safetensors").string(), src);
      !w) {
    std::fprintf(stderr, "hixm bench: %s\n", w.why().c_str());
    return 1;
  }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("hixm seal: checkpoint %.1f MB (bf16), %u cores\n",
              static_cast<double>(fs::file_size(dir / "ckpt" / "model.safetensors")) / 1e6, cores);
  int rc = 0;
  for (const unsigned threads : {1u, cores}) {
    const std::string out = (dir / "m.hixm").string();
    auto s = hix::hixm::seal_checkpoint((dir / "ckpt").string(), out, {HIX_VGPU_DT_BF16, threads});
    if (!s) {
      std::fprintf(stderr, "hixm bench: %s\n", s.why().c_str());
      rc = 1;
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto m = hix::hixm::read_manifest(out, s->key);
    auto v = m ? hix::hixm::verify_tensors(out, *m, s->key, threads)
               : hix::hixm::Check(hix::model::fail(m.why()));
    const double verify_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!v) {
      std::fprintf(stderr, "hixm bench: %s\n", v.why().c_str());
      rc = 1;
      break;
    }
    std::printf(
        "hixm seal: %u thread%s: %.1f MB plaintext in %.2f s = %.1f MB/s (file %.1f MB);"
        " verify %.1f MB/s\n",
        s->stats.threads, s->stats.threads == 1 ? "" : "s",
        static_cast<double>(s->stats.plaintext_bytes) / 1e6, s->stats.seconds, s->stats.mb_per_s,
        static_cast<double>(s->stats.file_bytes) / 1e6,
        static_cast<double>(s->stats.plaintext_bytes) / 1e6 / verify_s);
    fs::remove(out);
  }
  fs::remove_all(dir);
  return rc;
}

}  // namespace

int main() {
  return run();
}
