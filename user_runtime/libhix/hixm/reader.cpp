// Reading .hixm files: the manifest under the manifest key, the tensors'
// chunks under the model key (docs/specs/hixm.md §3-§6).
#include "reader.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "hex.hpp"
#include "model_config.hpp"
#include "posix_file.hpp"
#include "session/tensor_seal.hpp"

namespace hix::hixm {

namespace {

using model::fail;
using model::Unit;

constexpr std::uint32_t kChunksPerTask = 16;

std::uint64_t le(const std::uint8_t* p, unsigned bytes) {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

Result<PosixFile> open_regular(const std::string& path, std::uint64_t* size) {
  PosixFile f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.is_open()) return fail(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(path + ": not a regular file");
  }
  *size = static_cast<std::uint64_t>(st.st_size);
  return f;
}

std::string shape_text(const std::vector<std::uint64_t>& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

// Chunk `index` of the `count` chunks of tensor `tensor`.
struct ChunkRef {
  std::size_t tensor = 0;
  std::uint32_t index = 0;
  std::uint32_t count = 0;
};

// Why chunk `at` did not open: its header read against the one it should
// carry (hix-gpu §7.1), else its tag.
std::string chunk_diagnosis(const Manifest& m, ChunkRef at, const std::uint8_t* hdr) {
  const std::size_t ti = at.tensor;
  const std::uint32_t chunk = at.index;
  const std::uint32_t count = at.count;
  const TensorEntry& t = m.tensors[ti];
  if (le(hdr + 0, 4) != HIX_VGPU_CHUNK_MAGIC || hdr[4] != HIX_VGPU_CHUNK_VERSION) {
    return "the chunk's header is not a sealed-chunk header (magic or version)";
  }
  const std::uint64_t id = le(hdr + 8, 8);
  if (id != t.tensor_id) {
    std::string s = "the chunk's header names tensor id " + std::to_string(id);
    if (id >= m.first_tensor_id && id - m.first_tensor_id < m.tensors.size()) {
      const std::size_t other = id - m.first_tensor_id;
      s += " (tensor " + std::to_string(other) + " \"" + m.tensors[other].name + "\")";
    } else {
      s += " (no tensor of this model)";
    }
    return s + ": a chunk of another tensor";
  }
  if (le(hdr + 16, 4) != chunk) {
    return "the chunk's header names chunk " + std::to_string(le(hdr + 16, 4)) +
           " (chunks swapped or moved)";
  }
  if (hdr[5] != m.key_slot) return "the chunk's header is not this chunk's (field key_id)";
  if (le(hdr + 6, 2) != 0) return "the chunk's header is not this chunk's (field reserved)";
  if (le(hdr + 20, 4) != count) return "the chunk's header is not this chunk's (field chunk_count)";
  if (le(hdr + 24, 8) != t.bytes)
    return "the chunk's header is not this chunk's (field tensor_bytes)";
  return "the tag does not verify (the chunk was modified, or sealed under another model key)";
}

struct Failure {
  std::size_t tensor = SIZE_MAX;
  std::uint32_t chunk = UINT32_MAX;
  std::string why;
  bool before(std::size_t t, std::uint32_t c) const {
    return tensor < t || (tensor == t && chunk < c);
  }
};

struct Task {
  std::size_t tensor;
  std::uint32_t first;
  std::uint32_t count;
};

}  // namespace

Result<Manifest> open_manifest(std::span<const std::uint8_t> prefix, const ModelKey& key) {
  auto h = parse_header(prefix);
  if (!h) return h.error();
  if (h->model_id != key.model_id) {
    return fail("the key is for model " + to_hex(key.model_id) + " but the file holds model " +
                to_hex(h->model_id));
  }
  if (prefix.size() < kManifestOffset + h->manifest_bytes) {
    return fail(std::to_string(prefix.size()) + " bytes end inside the sealed manifest");
  }
  if (sodium_init() < 0) return fail("libsodium cannot initialise");
  const std::uint64_t plain_bytes = h->manifest_bytes - kTagBytes;
  std::vector<std::uint8_t> plain(plain_bytes);
  Key km = manifest_key(key);
  const int rc = crypto_aead_chacha20poly1305_ietf_decrypt(
      plain.data(), nullptr, nullptr, prefix.data() + kManifestOffset, h->manifest_bytes,
      prefix.data(), kHeaderBytes, h->manifest_nonce.data(), km.data());
  sodium_memzero(km.data(), km.size());
  if (rc != 0) {
    return fail(
        "the manifest does not authenticate (wrong model key, or the header or manifest was "
        "modified)");
  }
  auto m = parse_manifest(plain);
  if (!m) return m.error();
  // Bound by the AEAD, and checked anyway: a writer bug must not pass.
  if (m->model_id != h->model_id) return fail("manifest: model id differs from the header's");
  if (m->file_bytes != h->file_bytes) return fail("manifest: file size differs from the header's");
  return m;
}

Result<Manifest> read_manifest(const std::string& path, const ModelKey& key) {
  std::uint64_t size = 0;
  auto f = open_regular(path, &size);
  if (!f) return f.error();
  std::vector<std::uint8_t> head(std::min<std::uint64_t>(size, kHeaderBytes));
  if (!f->pread_all(head, 0)) return fail(path + ": cannot read the header");
  auto h = parse_header(head);
  if (!h) return fail(path + ": " + h.why());
  if (size != h->file_bytes) {
    return fail(path + ": the file is " + std::to_string(size) + " bytes but its header says " +
                std::to_string(h->file_bytes) + " (truncated or extended)");
  }
  std::vector<std::uint8_t> prefix(kManifestOffset + h->manifest_bytes);
  if (!f->pread_all(prefix, 0)) return fail(path + ": cannot read the manifest");
  auto m = open_manifest(prefix, key);
  if (!m) return fail(path + ": " + m.why());
  return m;
}

Check verify_tensors(const std::string& path, const Manifest& manifest, const ModelKey& key,
                     unsigned threads) {
  std::uint64_t size = 0;
  auto f = open_regular(path, &size);
  if (!f) return f.error();
  if (size != manifest.file_bytes) {
    return fail(path + ": the file is " + std::to_string(size) + " bytes but its manifest says " +
                std::to_string(manifest.file_bytes) + " (truncated or extended)");
  }
  if (key.model_id != manifest.model_id) {
    return fail(path + ": the key is for model " + to_hex(key.model_id) +
                " but the manifest is model " + to_hex(manifest.model_id));
  }
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < manifest.tensors.size(); ++i) {
    const auto n = static_cast<std::uint32_t>(
        (manifest.tensors[i].bytes + client::kChunkBytes - 1) / client::kChunkBytes);
    for (std::uint32_t c = 0; c < n; c += kChunksPerTask) {
      tasks.push_back({i, c, std::min(kChunksPerTask, n - c)});
    }
  }
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  Failure first;  // guarded by mu
  const auto record = [&](std::size_t t, std::uint32_t c, std::string why) {
    const std::lock_guard<std::mutex> lock(mu);
    if (Failure{t, c, {}}.before(first.tensor, first.chunk)) first = {t, c, std::move(why)};
  };
  const auto worker = [&] {
    std::vector<std::uint8_t> sealed(std::uint64_t{kChunksPerTask} * client::kChunkStride);
    std::vector<std::uint8_t> plain(client::kChunkBytes);
    for (std::size_t k = next++; k < tasks.size(); k = next++) {
      const Task& task = tasks[k];
      {
        const std::lock_guard<std::mutex> lock(mu);
        if (first.before(task.tensor, task.first)) continue;  // a failure earlier in the file
      }
      const TensorEntry& t = manifest.tensors[task.tensor];
      const std::uint64_t from = std::uint64_t{task.first} * client::kChunkStride;
      const std::uint64_t len = std::min<std::uint64_t>(
          std::uint64_t{task.count} * client::kChunkStride, t.sealed_bytes - from);
      const std::span<std::uint8_t> buf(sealed.data(), len);
      if (!f->pread_all(buf, t.offset + from)) {
        record(task.tensor, task.first, "cannot read: " + std::string(std::strerror(errno)));
        continue;
      }
      const auto count =
          static_cast<std::uint32_t>((t.bytes + client::kChunkBytes - 1) / client::kChunkBytes);
      for (std::uint32_t c = task.first; c < task.first + task.count; ++c) {
        const std::uint64_t pfrom = std::uint64_t{c} * client::kChunkBytes;
        const std::uint64_t plen = std::min<std::uint64_t>(client::kChunkBytes, t.bytes - pfrom);
        const std::uint8_t* chunk =
            sealed.data() + std::uint64_t{c - task.first} * client::kChunkStride;
        const bool ok = client::open_tensor_chunks(
            std::span(plain.data(), plen), std::span(chunk, plen + client::kChunkOverhead),
            {static_cast<std::uint8_t>(manifest.key_slot), t.tensor_id}, t.bytes, c, key.key);
        if (!ok) {
          record(task.tensor, c,
                 chunk_diagnosis(manifest, {.tensor = task.tensor, .index = c, .count = count},
                                 chunk));
          break;
        }
      }
    }
    sodium_memzero(plain.data(), plain.size());
  };
  const unsigned n = threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < n; ++i) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (first.tensor == SIZE_MAX) return Unit{};
  const TensorEntry& t = manifest.tensors[first.tensor];
  const auto count = (t.bytes + client::kChunkBytes - 1) / client::kChunkBytes;
  return fail(path + ": tensor " + std::to_string(first.tensor) + " \"" + t.name + "\" chunk " +
              std::to_string(first.chunk) + " of " + std::to_string(count) + " (file offset " +
              std::to_string(t.offset + std::uint64_t{first.chunk} * client::kChunkStride) +
              "): " + first.why);
}

Result<std::vector<std::uint8_t>> read_sealed_tensor(const std::string& path,
                                                     const Manifest& manifest, std::size_t index) {
  if (index >= manifest.tensors.size()) {
    return fail(path + ": no tensor " + std::to_string(index));
  }
  std::uint64_t size = 0;
  auto f = open_regular(path, &size);
  if (!f) return f.error();
  const TensorEntry& t = manifest.tensors[index];
  if (size != manifest.file_bytes) {
    return fail(path + ": the file is " + std::to_string(size) + " bytes but its manifest says " +
                std::to_string(manifest.file_bytes) + " (truncated or extended)");
  }
  std::vector<std::uint8_t> out(t.sealed_bytes);
  if (!f->pread_all(out, t.offset)) return fail(path + ": cannot read tensor \"" + t.name + "\"");
  return out;
}

Result<model::DeviceLayout> check_layout(const Manifest& manifest) {
  auto cfg = model::parse_config_json(manifest.documents.config_json);
  if (!cfg) return fail("the sealed config.json: " + cfg.why());
  auto lay = model::make_device_layout(*cfg, manifest.weight_dtype);
  if (!lay) return lay.error();
  if (lay->tensors.size() != manifest.tensors.size()) {
    return fail("the sealed config.json gives " + std::to_string(lay->tensors.size()) +
                " device tensors, the manifest lists " + std::to_string(manifest.tensors.size()));
  }
  for (std::size_t i = 0; i < lay->tensors.size(); ++i) {
    const model::DeviceTensor& d = lay->tensors[i];
    const TensorEntry& t = manifest.tensors[i];
    if (d.name != t.name || d.shape != t.shape || d.dtype != t.dtype || d.bytes() != t.bytes) {
      return fail("manifest tensor " + std::to_string(i) + " \"" + t.name + "\" " +
                  shape_text(t.shape) + " is not the layout's \"" + d.name + "\" " +
                  shape_text(d.shape));
    }
  }
  return lay;
}

}  // namespace hix::hixm
