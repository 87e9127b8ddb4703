// The .hixm fixed header and manifest (docs/specs/hixm.md §2, §4).
#include "manifest.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <string_view>

#include "hix/abi/vgpu_cmd.h"
#include "session/tensor_seal.hpp"

namespace hix::hixm {

namespace {

using model::fail;
using model::Unit;

// §2's field offsets.
constexpr std::size_t kHdrMagic = 0, kHdrVersion = 8, kHdrHeaderBytes = 12, kHdrModelId = 16,
                      kHdrManifestOffset = 48, kHdrManifestBytes = 56, kHdrNonce = 64,
                      kHdrAlignment = 76, kHdrFileBytes = 80, kHdrReserved = 88;
static_assert(kHdrReserved + 40 == kHeaderBytes);
static_assert(kHdrNonce + kNonceBytes == kHdrAlignment);

// Fixed-size manifest fields before the documents, and per tensor entry
// without name and shape: 4+4+32+1+3+4+4+8+8+4, 2+1+1+8*4.
constexpr std::uint64_t kManifestFixedBytes = 72;
constexpr std::uint64_t kDocumentHeadBytes = 12;
constexpr std::uint64_t kTensorFixedBytes = 36;
static_assert(kManifestFixedBytes + kDocumentHeadBytes + 1 + 4 + kTensorFixedBytes + 1 + 8 ==
              kManifestMinBytes);

void put(std::uint8_t* p, std::uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint64_t get(const std::uint8_t* p, unsigned bytes) {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

class Writer {
 public:
  void u(std::uint64_t v, unsigned bytes) {
    const std::size_t at = out_.size();
    out_.resize(at + bytes);
    put(out_.data() + at, v, bytes);
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
};

// Bounds-checked reads; a read past the end sets a flag and yields zeros.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  std::uint64_t u(unsigned bytes) {
    if (!have(bytes)) return 0;
    const std::uint64_t v = get(in_.data() + at_, bytes);
    at_ += bytes;
    return v;
  }
  std::span<const std::uint8_t> raw(std::uint64_t n) {
    if (!have(n)) return {};
    const auto s = in_.subspan(at_, n);
    at_ += n;
    return s;
  }
  bool have(std::uint64_t n) {
    if (short_ || n > in_.size() - at_) {
      short_ = true;
      return false;
    }
    return true;
  }
  bool short_read() const { return short_; }
  std::size_t left() const { return in_.size() - at_; }
  std::size_t at() const { return at_; }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t at_ = 0;
  bool short_ = false;
};

const std::string* document(const Documents& d, std::uint32_t kind) {
  switch (static_cast<DocumentKind>(kind)) {
    case DocumentKind::config:
      return &d.config_json;
    case DocumentKind::tokenizer:
      return &d.tokenizer_json;
    case DocumentKind::tokenizer_config:
      return &d.tokenizer_config_json;
    case DocumentKind::generation_config:
      return &d.generation_config_json;
  }
  return nullptr;
}

std::string* document(Documents& d, std::uint32_t kind) {
  return const_cast<std::string*>(document(static_cast<const Documents&>(d), kind));
}

bool name_ok(std::string_view n) {
  return !n.empty() && n.size() <= kNameMaxBytes &&
         std::all_of(n.begin(), n.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

// Product of the shape times the element size; 0 on overflow, a zero or
// too many dimensions, or a size outside 1..2^40.
std::uint64_t tensor_bytes(const std::vector<std::uint64_t>& shape, std::uint8_t dtype) {
  if (shape.empty() || shape.size() > kRankMax) return 0;
  std::uint64_t n = hix_vgpu_dtype_bytes(dtype);
  for (const auto d : shape) {
    if (d == 0 || n > client::kTensorMaxBytes / d) return 0;
    n *= d;
  }
  return n <= client::kTensorMaxBytes ? n : 0;
}

std::string tensor_where(std::size_t i, const std::string& name) {
  std::string w = "manifest: tensor " + std::to_string(i);
  if (name_ok(name)) w += " \"" + name + "\"";
  return w + ": ";
}

// Every §4 rule that is not about the encoding itself; `plain_bytes` is the
// manifest's encoded length.
Check check_manifest(const Manifest& m, std::uint64_t plain_bytes) {
  if (plain_bytes < kManifestMinBytes || plain_bytes > kManifestMaxBytes) {
    return fail("manifest: " + std::to_string(plain_bytes) + " bytes, outside " +
                std::to_string(kManifestMinBytes) + ".." + std::to_string(kManifestMaxBytes));
  }
  if (m.weight_dtype != HIX_VGPU_DT_F32 && m.weight_dtype != HIX_VGPU_DT_BF16) {
    return fail("manifest: weight dtype " + std::to_string(m.weight_dtype) +
                " is neither f32 (1) nor bf16 (2)");
  }
  if (m.chunk_bytes != kChunkBytes) {
    return fail("manifest: chunk size " + std::to_string(m.chunk_bytes) + ", the device's is " +
                std::to_string(kChunkBytes));
  }
  if (m.key_slot < 1 || m.key_slot > kKeySlotMax) {
    return fail("manifest: key slot " + std::to_string(m.key_slot) +
                " is not a model-key slot (1.." + std::to_string(kKeySlotMax) + ")");
  }
  if (m.documents.config_json.empty()) return fail("manifest: config.json is missing");
  for (std::uint32_t k = 1; k <= kDocumentKinds; ++k) {
    if (document(m.documents, k)->size() > kDocumentMaxBytes) {
      return fail("manifest: document " + std::to_string(k) + " is larger than " +
                  std::to_string(kDocumentMaxBytes) + " bytes");
    }
  }
  const std::uint64_t n = m.tensors.size();
  if (n == 0 || n > kTensorMaxCount) {
    return fail("manifest: " + std::to_string(n) + " tensors, outside 1.." +
                std::to_string(kTensorMaxCount));
  }
  if (m.first_tensor_id == 0 || m.first_tensor_id >= client::kDeviceTensorBit ||
      n - 1 >= client::kDeviceTensorBit - m.first_tensor_id) {
    return fail("manifest: tensor ids from " + std::to_string(m.first_tensor_id) +
                " are not host tensor ids (1..2^63-1)");
  }
  std::set<std::string_view> names;
  std::uint64_t at = data_start(plain_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const TensorEntry& t = m.tensors[i];
    const std::string where = tensor_where(i, t.name);
    if (!name_ok(t.name)) return fail(where + "bad name (1..256 bytes of 0x21..0x7E)");
    if (!names.insert(t.name).second) return fail(where + "name used twice");
    if (t.dtype != m.weight_dtype) return fail(where + "dtype differs from the weight dtype");
    const std::uint64_t bytes = tensor_bytes(t.shape, t.dtype);
    if (bytes == 0) return fail(where + "bad shape (rank 1..8, dims >= 1, at most 2^40 bytes)");
    if (t.bytes != bytes) return fail(where + "byte count does not match shape and dtype");
    if (t.sealed_bytes != client::sealed_size(t.bytes)) {
      return fail(where + "sealed size is not the chunk format's");
    }
    if (t.offset != at) {
      return fail(where + "offset " + std::to_string(t.offset) + ", the layout puts it at " +
                  std::to_string(at));
    }
    if (t.tensor_id != m.first_tensor_id + i) {
      return fail(where + "tensor id " + std::to_string(t.tensor_id) + ", expected " +
                  std::to_string(m.first_tensor_id + i));
    }
    at = align_up(at + t.sealed_bytes);
  }
  if (m.file_bytes != at) {
    return fail("manifest: file size " + std::to_string(m.file_bytes) + ", the layout ends at " +
                std::to_string(at));
  }
  return Unit{};
}

}  // namespace

HeaderBytes encode_header(const Header& h) {
  HeaderBytes b{};
  std::memcpy(b.data() + kHdrMagic, kMagic.data(), kMagic.size());
  put(b.data() + kHdrVersion, kVersion, 4);
  put(b.data() + kHdrHeaderBytes, kHeaderBytes, 4);
  std::memcpy(b.data() + kHdrModelId, h.model_id.data(), kModelIdBytes);
  put(b.data() + kHdrManifestOffset, kManifestOffset, 8);
  put(b.data() + kHdrManifestBytes, h.manifest_bytes, 8);
  std::memcpy(b.data() + kHdrNonce, h.manifest_nonce.data(), kNonceBytes);
  put(b.data() + kHdrAlignment, kAlign, 4);
  put(b.data() + kHdrFileBytes, h.file_bytes, 8);
  return b;
}

Result<Header> parse_header(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderBytes) {
    return fail(std::to_string(bytes.size()) + " bytes, shorter than the " +
                std::to_string(kHeaderBytes) + "-byte header");
  }
  const std::uint8_t* p = bytes.data();
  if (std::memcmp(p + kHdrMagic, kMagic.data(), kMagic.size()) != 0) {
    return fail("bad header: not a .hixm file (magic)");
  }
  if (get(p + kHdrVersion, 4) != kVersion) {
    return fail("bad header: version " + std::to_string(get(p + kHdrVersion, 4)) +
                " (this reader knows 1)");
  }
  if (get(p + kHdrHeaderBytes, 4) != kHeaderBytes) return fail("bad header: header_bytes");
  if (get(p + kHdrManifestOffset, 8) != kManifestOffset) return fail("bad header: manifest_offset");
  if (get(p + kHdrAlignment, 4) != kAlign) return fail("bad header: alignment");
  if (!std::all_of(p + kHdrReserved, p + kHeaderBytes, [](std::uint8_t b) { return b == 0; })) {
    return fail("bad header: reserved bytes are not zero");
  }
  Header h;
  std::memcpy(h.model_id.data(), p + kHdrModelId, kModelIdBytes);
  h.manifest_bytes = get(p + kHdrManifestBytes, 8);
  std::memcpy(h.manifest_nonce.data(), p + kHdrNonce, kNonceBytes);
  h.file_bytes = get(p + kHdrFileBytes, 8);
  if (h.manifest_bytes < kManifestMinBytes + kTagBytes ||
      h.manifest_bytes > kManifestMaxBytes + kTagBytes) {
    return fail("bad header: manifest_bytes " + std::to_string(h.manifest_bytes) + " out of range");
  }
  // The smallest file: the manifest and one page-aligned tensor of one chunk.
  const std::uint64_t start = data_start(h.manifest_bytes - kTagBytes);
  if (h.file_bytes % kAlign != 0 || h.file_bytes <= start) {
    return fail("bad header: file_bytes " + std::to_string(h.file_bytes) +
                " is not a multiple of 4096 past the manifest");
  }
  return h;
}

std::uint64_t manifest_plain_bytes(const Manifest& m) {
  std::uint64_t n = kManifestFixedBytes + 4;
  for (std::uint32_t k = 1; k <= kDocumentKinds; ++k) {
    const std::string* d = document(m.documents, k);
    if (!d->empty()) n += kDocumentHeadBytes + d->size();
  }
  for (const auto& t : m.tensors) n += kTensorFixedBytes + t.name.size() + 8 * t.shape.size();
  return n;
}

std::uint64_t data_start(std::uint64_t plain_bytes) {
  return align_up(kManifestOffset + plain_bytes + kTagBytes);
}

Check lay_out(Manifest& m) {
  std::uint64_t at = data_start(manifest_plain_bytes(m));
  for (std::size_t i = 0; i < m.tensors.size(); ++i) {
    TensorEntry& t = m.tensors[i];
    t.sealed_bytes = client::sealed_size(t.bytes);
    if (t.sealed_bytes == 0) return fail(tensor_where(i, t.name) + "size outside 1..2^40 bytes");
    t.offset = at;
    t.tensor_id = m.first_tensor_id + i;
    at = align_up(at + t.sealed_bytes);
  }
  m.file_bytes = at;
  return Unit{};
}

Result<std::vector<std::uint8_t>> encode_manifest(const Manifest& m) {
  const std::uint64_t size = manifest_plain_bytes(m);
  if (auto c = check_manifest(m, size); !c) return c.error();
  Writer w;
  w.u(kManifestMagic, 4);
  w.u(kVersion, 4);
  w.raw(m.model_id.data(), m.model_id.size());
  w.u(m.weight_dtype, 1);
  w.u(0, 3);
  w.u(m.chunk_bytes, 4);
  w.u(m.key_slot, 4);
  w.u(m.first_tensor_id, 8);
  w.u(m.file_bytes, 8);
  std::uint32_t docs = 0;
  for (std::uint32_t k = 1; k <= kDocumentKinds; ++k)
    docs += document(m.documents, k)->empty() ? 0u : 1u;
  w.u(docs, 4);
  for (std::uint32_t k = 1; k <= kDocumentKinds; ++k) {
    const std::string* d = document(m.documents, k);
    if (d->empty()) continue;
    w.u(k, 4);
    w.u(d->size(), 8);
    w.raw(d->data(), d->size());
  }
  w.u(m.tensors.size(), 4);
  for (const auto& t : m.tensors) {
    w.u(t.name.size(), 2);
    w.raw(t.name.data(), t.name.size());
    w.u(t.dtype, 1);
    w.u(t.shape.size(), 1);
    for (const auto d : t.shape) w.u(d, 8);
    w.u(t.bytes, 8);
    w.u(t.sealed_bytes, 8);
    w.u(t.offset, 8);
    w.u(t.tensor_id, 8);
  }
  auto out = w.take();
  if (out.size() != size) return fail("manifest: encoder size mismatch");  // our own invariant
  return out;
}

Result<Manifest> parse_manifest(std::span<const std::uint8_t> plaintext) {
  if (plaintext.size() < kManifestMinBytes || plaintext.size() > kManifestMaxBytes) {
    return fail("manifest: " + std::to_string(plaintext.size()) + " bytes, outside " +
                std::to_string(kManifestMinBytes) + ".." + std::to_string(kManifestMaxBytes));
  }
  Reader r(plaintext);
  Manifest m;
  if (r.u(4) != kManifestMagic) return fail("manifest: bad magic");
  if (const auto v = r.u(4); v != kVersion) {
    return fail("manifest: version " + std::to_string(v) + " (this reader knows 1)");
  }
  const auto id = r.raw(kModelIdBytes);
  std::copy(id.begin(), id.end(), m.model_id.begin());
  m.weight_dtype = static_cast<std::uint8_t>(r.u(1));
  if (r.u(3) != 0) return fail("manifest: reserved bytes are not zero");
  m.chunk_bytes = static_cast<std::uint32_t>(r.u(4));
  m.key_slot = static_cast<std::uint32_t>(r.u(4));
  m.first_tensor_id = r.u(8);
  m.file_bytes = r.u(8);
  const std::uint64_t docs = r.u(4);
  if (docs < 1 || docs > kDocumentKinds) {
    return fail("manifest: " + std::to_string(docs) + " documents, outside 1..4");
  }
  std::uint64_t last_kind = 0;
  for (std::uint64_t i = 0; i < docs && !r.short_read(); ++i) {
    const std::uint64_t kind = r.u(4);
    const std::uint64_t len = r.u(8);
    if (r.short_read()) break;
    if (kind <= last_kind || kind > kDocumentKinds) {
      return fail("manifest: document kind " + std::to_string(kind) +
                  " unknown, repeated or out of order");
    }
    last_kind = kind;
    if (len == 0 || len > kDocumentMaxBytes) {
      return fail("manifest: document " + std::to_string(kind) + " has length " +
                  std::to_string(len) + ", outside 1.." + std::to_string(kDocumentMaxBytes));
    }
    const auto b = r.raw(len);
    if (r.short_read()) break;
    document(m.documents, static_cast<std::uint32_t>(kind))
        ->assign(reinterpret_cast<const char*>(b.data()), b.size());  // text as chars
  }
  const std::uint64_t n = r.u(4);
  if (r.short_read()) return fail("manifest: ends inside the documents");
  if (n == 0 || n > kTensorMaxCount) {
    return fail("manifest: " + std::to_string(n) + " tensors, outside 1.." +
                std::to_string(kTensorMaxCount));
  }
  // Every entry takes at least kTensorFixedBytes + 9: a count the rest of
  // the manifest cannot hold is refused before anything is reserved.
  if (n > r.left() / (kTensorFixedBytes + 9)) {
    return fail("manifest: " + std::to_string(n) + " tensors do not fit the manifest");
  }
  m.tensors.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    TensorEntry t;
    const std::uint64_t name_len = r.u(2);
    if (name_len == 0 || name_len > kNameMaxBytes) {
      return fail("manifest: tensor " + std::to_string(i) + ": name length " +
                  std::to_string(name_len) + ", outside 1..256");
    }
    const auto name = r.raw(name_len);
    t.name.assign(reinterpret_cast<const char*>(name.data()), name.size());  // text as chars
    t.dtype = static_cast<std::uint8_t>(r.u(1));
    const std::uint64_t rank = r.u(1);
    if (rank == 0 || rank > kRankMax) {
      return fail(tensor_where(i, t.name) + "rank " + std::to_string(rank) + ", outside 1..8");
    }
    for (std::uint64_t d = 0; d < rank; ++d) t.shape.push_back(r.u(8));
    t.bytes = r.u(8);
    t.sealed_bytes = r.u(8);
    t.offset = r.u(8);
    t.tensor_id = r.u(8);
    if (r.short_read()) {
      return fail("manifest: ends inside tensor " + std::to_string(i) + " of " + std::to_string(n));
    }
    m.tensors.push_back(std::move(t));
  }
  if (r.left() != 0) {
    return fail("manifest: " + std::to_string(r.left()) + " bytes after the last tensor");
  }
  if (auto c = check_manifest(m, plaintext.size()); !c) return c.error();
  return m;
}

}  // namespace hix::hixm
