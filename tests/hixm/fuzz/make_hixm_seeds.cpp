// Makes the committed seeds of the .hixm fuzz targets: the manifest of each
// test preset in f32 and bf16 (seeds/manifest/) and the same sealed with the
// fixed key of fuzz_world.hpp (seeds/sealed_manifest/). Run once by hand:
// make_hixm_seeds tests/hixm/fuzz/seeds
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_world.hpp"
#include "hix/abi/vgpu_cmd.h"
#include "hixm/hixm.hpp"
#include "model.hpp"

namespace {

bool write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_hixm_seeds SEEDS_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const auto key = hix::hixm::fuzz::fixed_key();
  for (const char* preset : {"tiny-gpt2", "tiny-llama", "tiny-llama-tied"}) {
    for (const std::uint8_t dtype :
         {std::uint8_t{HIX_VGPU_DT_F32}, std::uint8_t{HIX_VGPU_DT_BF16}}) {
      auto cfg = hix::model::preset(preset);
      auto lay = hix::model::make_device_layout(*cfg, dtype);
      if (!cfg || !lay) return 1;
      hix::hixm::Manifest m;
      m.model_id = key.model_id;
      m.weight_dtype = dtype;
      m.documents.config_json = hix::model::config_json_of(*cfg);
      if (std::string(preset) == "tiny-llama") {
        m.documents.tokenizer_json = R"({"version":"1.0","model":{"type":"BPE","vocab":{}}})";
        m.documents.generation_config_json = R"({"eos_token_id":2})";
      }
      for (const auto& t : lay->tensors)
        m.tensors.push_back({t.name, t.dtype, t.shape, t.bytes(), 0, 0, 0});
      if (!hix::hixm::lay_out(m)) return 1;
      auto plain = hix::hixm::encode_manifest(m);
      auto sealed = hix::hixm::seal_manifest(m, key);
      if (!plain || !sealed) return 1;
      const std::string name = std::string(preset) + (dtype == HIX_VGPU_DT_F32 ? "-f32" : "-bf16");
      if (!write(dir + "/manifest/" + name, *plain) ||
          !write(dir + "/sealed_manifest/" + name, *sealed)) {
        std::fprintf(stderr, "make_hixm_seeds: cannot write %s\n", name.c_str());
        return 1;
      }
    }
  }
  return 0;
}
