// The model key of a .hixm file and its key file (docs/specs/hixm.md §3,
// §7): 32 random bytes drawn at sealing, named by the model id, kept by the
// owner in a one-line 0600 file, never in the .hixm file.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "manifest.hpp"

namespace hix::hixm {

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::string_view kKeyFileTag = "hixm-key";
inline constexpr unsigned kKeyFileVersion = 1;
inline constexpr std::size_t kKeyFileMaxBytes = 256;

using Key = std::array<std::uint8_t, kKeyBytes>;

// A model key and the id of the model it seals; the key is wiped when the
// object goes.
struct ModelKey {
  ModelId model_id{};
  Key key{};

  // A fresh random key for a fresh random model id.
  static ModelKey generate();
  ModelKey() = default;
  ModelKey(const ModelKey&) = default;
  ModelKey& operator=(const ModelKey&) = default;
  ModelKey(ModelKey&&) = default;
  ModelKey& operator=(ModelKey&&) = default;
  ~ModelKey();
};

// K_m = crypto_kdf_derive_from_key(32, 1, "HIXMmanf", K): the manifest's
// key (§3). The caller wipes it.
Key manifest_key(const ModelKey& key);

// "hixm-key 1 <model id hex> <key hex>\n", created 0600 with O_EXCL (an
// existing file is an error unless `overwrite`, which replaces it by rename).
Check write_key_file(const std::string& path, const ModelKey& key, bool overwrite);
// Refuses a file that is not regular, not the caller's, readable or
// writable by group or others, or not exactly one such line.
Result<ModelKey> read_key_file(const std::string& path);

}  // namespace hix::hixm
