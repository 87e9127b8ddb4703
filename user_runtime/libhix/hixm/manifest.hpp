// The .hixm file's fixed header and manifest (docs/specs/hixm.md §2, §4):
// byte-exact encoders and strict parsers. parse_header and parse_manifest
// take untrusted bytes (parse_manifest's come out of an AEAD, but a fuzz
// target drives it directly) and never crash: bad input is a one-line error.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hix/abi/hix_session.h"
#include "hix/abi/vgpu_chunk.h"
#include "result.hpp"

namespace hix::hixm {

using model::Check;
using model::Result;

// §2: the fixed header.
inline constexpr std::array<std::uint8_t, 8> kMagic{'H', 'I', 'X', 'M', 0x0D, 0x0A, 0x1A, 0x0A};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint64_t kHeaderBytes = 128;
inline constexpr std::uint64_t kManifestOffset = kHeaderBytes;
inline constexpr std::uint64_t kAlign = 4096;
inline constexpr std::size_t kModelIdBytes = 32;
inline constexpr std::size_t kNonceBytes = 12;
inline constexpr std::uint64_t kTagBytes = 16;

// §4: the manifest and its limits.
inline constexpr std::uint32_t kManifestMagic = 0x464D5848u;  // "HXMF" in memory order
inline constexpr std::uint64_t kManifestMinBytes = 134;
inline constexpr std::uint64_t kManifestMaxBytes = 1ull << 28;
inline constexpr std::uint64_t kDocumentMaxBytes = 1ull << 26;
inline constexpr std::uint32_t kDocumentKinds = 4;
inline constexpr std::uint32_t kTensorMaxCount = 65536;
inline constexpr std::size_t kNameMaxBytes = 256;
inline constexpr std::size_t kRankMax = 8;
inline constexpr std::uint32_t kChunkBytes = HIX_VGPU_CHUNK_BYTES;
inline constexpr std::uint32_t kModelKeySlot = 1;  // the slot the writer seals for
inline constexpr std::uint32_t kKeySlotMax = HIX_SESSION_KEY_SLOTS - 1;
inline constexpr std::uint64_t kFirstTensorId = 1;  // the writer's first tensor id

using ModelId = std::array<std::uint8_t, kModelIdBytes>;
using ManifestNonce = std::array<std::uint8_t, kNonceBytes>;

struct Header {
  ModelId model_id{};
  std::uint64_t manifest_bytes = 0;  // sealed: plaintext + kTagBytes
  ManifestNonce manifest_nonce{};
  std::uint64_t file_bytes = 0;
};

using HeaderBytes = std::array<std::uint8_t, kHeaderBytes>;

HeaderBytes encode_header(const Header& h);
// The first kHeaderBytes of `bytes`, every field checked against §2.
Result<Header> parse_header(std::span<const std::uint8_t> bytes);

enum class DocumentKind : std::uint32_t {
  config = 1,
  tokenizer = 2,
  tokenizer_config = 3,
  generation_config = 4,
};

// The checkpoint's documents, raw bytes; empty = absent (config.json is
// required).
struct Documents {
  std::string config_json, tokenizer_json, tokenizer_config_json, generation_config_json;
};

struct TensorEntry {
  std::string name;  // device name, "layers.3.wq"
  std::uint8_t dtype = 0;
  std::vector<std::uint64_t> shape;
  std::uint64_t bytes = 0;         // plaintext
  std::uint64_t sealed_bytes = 0;  // hix-gpu §7.1 size
  std::uint64_t offset = 0;        // in the file, kAlign-aligned
  std::uint64_t tensor_id = 0;
};

struct Manifest {
  ModelId model_id{};
  std::uint8_t weight_dtype = 0;
  std::uint32_t chunk_bytes = kChunkBytes;
  std::uint32_t key_slot = kModelKeySlot;
  std::uint64_t first_tensor_id = kFirstTensorId;
  std::uint64_t file_bytes = 0;
  Documents documents;
  std::vector<TensorEntry> tensors;
};

inline constexpr std::uint64_t align_up(std::uint64_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

// The encoded manifest's plaintext length (independent of offsets and ids).
std::uint64_t manifest_plain_bytes(const Manifest& m);
// Where tensor data starts after a manifest of `plain_bytes` bytes.
std::uint64_t data_start(std::uint64_t plain_bytes);
// Fills sealed_bytes, offset and tensor_id of every entry and file_bytes
// canonically (§1) from the names, shapes and bytes.
Check lay_out(Manifest& m);

// §4, little-endian. Checks the manifest it encodes as parse_manifest would.
Result<std::vector<std::uint8_t>> encode_manifest(const Manifest& m);
// Strict: every field within §4's limits, the table canonical, no trailing
// bytes. The fuzz target's entry point.
Result<Manifest> parse_manifest(std::span<const std::uint8_t> plaintext);

}  // namespace hix::hixm
