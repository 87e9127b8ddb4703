// `hix seal` and `hix verify`: a Hugging Face checkpoint into a .hixm file
// under a fresh model key (docs/specs/hixm.md), and the owner's check of a
// .hixm with that key — every chunk, naming the first one that fails.
#include <unistd.h>

#include <string>

#include "cli.hpp"
#include "hex.hpp"
#include "hix/abi/vgpu_cmd.h"
#include "hixm/hixm.hpp"

namespace hix::cli {

int cmd_seal(int argc, char** argv) {
  std::string error;
  const auto o =
      Options::parse(argc, argv, {"out", "key-out", "weight-dtype", "threads"}, {"force"}, error);
  if (!o) return fail(error, kExitUsage);
  if (o->positional().size() != 1) return fail("seal takes one MODEL_DIR", kExitUsage);
  if (!o->has("out")) return fail("seal needs -o MODEL.hixm", kExitUsage);
  const std::string out = o->get("out");
  const std::string key_out = o->get("key-out", out + ".key");
  std::uint8_t dtype = HIX_VGPU_DT_BF16;
  if (const std::string d = o->get("weight-dtype", "bf16"); d == "f32") {
    dtype = HIX_VGPU_DT_F32;
  } else if (d != "bf16") {
    return fail("--weight-dtype: bf16 or f32, not \"" + d + "\"", kExitUsage);
  }
  std::uint64_t threads = 0;
  if (!o->get_u64("threads", 0, 1024, threads, error)) return fail(error, kExitUsage);

  if (!o->flag("force") && ::access(key_out.c_str(), F_OK) == 0) {
    return fail(key_out + " exists (--force replaces it, and the model it opens)", kExitUsage);
  }
  auto sealed = hixm::seal_checkpoint(
      o->positional()[0], out, {.weight_dtype = dtype, .threads = static_cast<unsigned>(threads)});
  if (!sealed) return fail(sealed.why(), kExitBadModel);
  const hixm::ModelKey& key = sealed->key;
  const hixm::SealStats& stats = sealed->stats;
  if (auto k = hixm::write_key_file(key_out, key, o->flag("force")); !k) {
    return fail(k.why(), kExitFailed);
  }
  std::printf("sealed %s -> %s\n", o->positional()[0].c_str(), out.c_str());
  std::printf("  model id   %s\n", to_hex(key.model_id).c_str());
  std::printf("  weights    %.1f MB plaintext, %.1f MB file, %s\n",
              static_cast<double>(stats.plaintext_bytes) / 1e6,
              static_cast<double>(stats.file_bytes) / 1e6,
              dtype == HIX_VGPU_DT_BF16 ? "bf16" : "f32");
  std::printf("  speed      %.0f MB/s (%u threads, %.2f s)\n", stats.mb_per_s, stats.threads,
              stats.seconds);
  std::printf("  model key  %s (mode 0600: keep it; never copy it next to the .hixm)\n",
              key_out.c_str());
  return kExitOk;
}

int cmd_verify(int argc, char** argv) {
  std::string error;
  const auto o = Options::parse(argc, argv, {"key"}, {}, error);
  if (!o) return fail(error, kExitUsage);
  if (o->positional().size() != 1) return fail("verify takes one MODEL.hixm", kExitUsage);
  const std::string path = o->positional()[0];
  auto key = hixm::read_key_file(o->get("key", path + ".key"));
  if (!key) return fail(key.why(), kExitBadModel);
  auto manifest = hixm::read_manifest(path, *key);
  if (!manifest) return fail(manifest.why(), kExitBadModel);
  if (auto v = hixm::verify_tensors(path, *manifest, *key); !v) {
    return fail(v.why(), kExitBadModel);
  }
  std::uint64_t bytes = 0;
  for (const auto& t : manifest->tensors) bytes += t.bytes;
  std::printf("%s: model %s, %zu tensors, %.1f MB: every chunk authenticates\n", path.c_str(),
              to_hex(key->model_id).c_str(), manifest->tensors.size(),
              static_cast<double>(bytes) / 1e6);
  return kExitOk;
}

}  // namespace hix::cli
