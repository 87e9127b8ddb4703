// Sealing .hixm files (docs/specs/hixm.md §8): batches of device tensors'
// plaintext made by every thread, sealed by every thread in groups of
// chunks with the client's chunk sealer, pwritten at their offsets.
#include "writer.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "checkpoint.hpp"
#include "device_layout.hpp"
#include "hex.hpp"
#include "posix_file.hpp"
#include "session/tensor_seal.hpp"

namespace hix::hixm {

namespace {

using model::fail;
using model::Unit;

// Plaintext produced before it is sealed and written: bounds the memory a
// seal takes (one tensor more when a single tensor is larger).
constexpr std::uint64_t kBatchBytes = 256ull << 20;
constexpr std::uint32_t kChunksPerTask = 16;
constexpr mode_t kFileMode = 0644;  // ciphertext: anyone may read it

bool same_config(const model::ModelConfig& a, const model::ModelConfig& b) {
  return a.arch == b.arch && a.vocab == b.vocab && a.dim == b.dim && a.layers == b.layers &&
         a.heads == b.heads && a.kv_heads == b.kv_heads && a.head_dim == b.head_dim &&
         a.mlp == b.mlp && a.max_pos == b.max_pos && a.norm_eps == b.norm_eps &&
         (a.arch == model::Arch::gpt2 || a.rope_theta == b.rope_theta) &&
         a.tied_embeddings == b.tied_embeddings && a.rope_scaling == b.rope_scaling &&
         a.sliding_window == b.sliding_window;
}

// Runs fn(0..count-1) on `threads` threads; the error of the lowest failing
// index, or Unit. Work stops soon after the first failure.
Check run_parallel(unsigned threads, std::size_t count,
                   const std::function<Check(std::size_t)>& fn) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::size_t failed_at = SIZE_MAX;  // guarded by mu
  Check result = Unit{};             // guarded by mu
  const auto worker = [&] {
    for (std::size_t i = next++; i < count && !stop; i = next++) {
      auto r = fn(i);
      if (!r) {
        const std::lock_guard<std::mutex> lock(mu);
        if (i < failed_at) {
          failed_at = i;
          result = std::move(r);
        }
        stop = true;
      }
    }
  };
  const unsigned n =
      static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(count, 1)));
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < n; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return result;
}

// Removes the temporary file unless the seal completed.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!kept_) ::unlink(path_.c_str());
  }
  void keep() { kept_ = true; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool kept_ = false;
};

struct Plaintext {
  std::unique_ptr<std::byte[]> bytes;
  std::uint64_t size = 0;
  ~Plaintext() {
    if (bytes) sodium_memzero(bytes.get(), size);
  }
  Plaintext() = default;
  Plaintext(Plaintext&&) = default;
  Plaintext& operator=(Plaintext&&) = delete;
  Plaintext(const Plaintext&) = delete;
  Plaintext& operator=(const Plaintext&) = delete;
};

struct ChunkTask {
  std::size_t tensor;  // index in the layout
  std::size_t slot;    // index in the batch
  std::uint32_t first;
  std::uint32_t count;
};

// Seals layout tensors [0, n) into `f` at the manifest's offsets.
Check seal_tensors(const PosixFile& f, const model::DeviceLayout& layout,
                   const model::WeightSource& source, const Manifest& m, const ModelKey& key,
                   unsigned threads) {
  const std::size_t n = layout.tensors.size();
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin;
    std::uint64_t batch = 0;
    while (end < n && (end == begin || batch + m.tensors[end].bytes <= kBatchBytes)) {
      batch += m.tensors[end].bytes;
      ++end;
    }
    std::vector<Plaintext> plain(end - begin);
    // Largest first, so that one big tensor does not start last.
    std::vector<std::size_t> order(end - begin);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = begin + i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return m.tensors[a].bytes > m.tensors[b].bytes;
    });
    auto made = run_parallel(threads, order.size(), [&](std::size_t k) -> Check {
      const std::size_t i = order[k];
      Plaintext& p = plain[i - begin];
      p.size = m.tensors[i].bytes;
      p.bytes = std::make_unique_for_overwrite<std::byte[]>(p.size);
      auto r = model::device_tensor_bytes_into(layout, i, source, std::span(p.bytes.get(), p.size));
      if (!r) return fail("tensor \"" + m.tensors[i].name + "\": " + r.why());
      return Unit{};
    });
    if (!made) return made;

    std::vector<ChunkTask> tasks;
    for (std::size_t i = begin; i < end; ++i) {
      const auto chunks = static_cast<std::uint32_t>(
          (m.tensors[i].bytes + client::kChunkBytes - 1) / client::kChunkBytes);
      for (std::uint32_t c = 0; c < chunks; c += kChunksPerTask) {
        tasks.push_back({i, i - begin, c, std::min(kChunksPerTask, chunks - c)});
      }
    }
    std::mutex buffers_mu;
    std::vector<std::unique_ptr<std::uint8_t[]>> free_buffers;  // guarded by buffers_mu
    const std::uint64_t buffer_bytes = std::uint64_t{kChunksPerTask} * client::kChunkStride;
    auto sealed = run_parallel(threads, tasks.size(), [&](std::size_t k) -> Check {
      const ChunkTask& t = tasks[k];
      const TensorEntry& e = m.tensors[t.tensor];
      std::unique_ptr<std::uint8_t[]> buf;
      {
        const std::lock_guard<std::mutex> lock(buffers_mu);
        if (!free_buffers.empty()) {
          buf = std::move(free_buffers.back());
          free_buffers.pop_back();
        }
      }
      if (!buf) buf = std::make_unique_for_overwrite<std::uint8_t[]>(buffer_bytes);
      const std::uint64_t from = std::uint64_t{t.first} * client::kChunkBytes;
      const std::uint64_t len =
          std::min<std::uint64_t>(std::uint64_t{t.count} * client::kChunkBytes, e.bytes - from);
      const std::uint64_t out_len = len + std::uint64_t{t.count} * client::kChunkOverhead;
      // The plaintext's bytes as the sealer's input.
      const auto* p = reinterpret_cast<const std::uint8_t*>(plain[t.slot].bytes.get());
      Check r = Unit{};
      if (!client::seal_tensor_chunks(std::span(buf.get(), out_len), std::span(p + from, len),
                                      {static_cast<std::uint8_t>(m.key_slot), e.tensor_id}, e.bytes,
                                      t.first, key.key)) {
        r = fail("tensor \"" + e.name + "\": cannot seal chunks from " + std::to_string(t.first));
      } else if (!f.pwrite_all(std::span(buf.get(), out_len),
                               e.offset + std::uint64_t{t.first} * client::kChunkStride)) {
        r = fail("cannot write tensor \"" + e.name + "\": " + std::strerror(errno));
      }
      const std::lock_guard<std::mutex> lock(buffers_mu);
      free_buffers.push_back(std::move(buf));
      return r;
    });
    if (!sealed) return sealed;
    begin = end;
  }
  return Unit{};
}

Result<std::string> read_document(const std::filesystem::path& p) {
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return std::string();
  if (!std::filesystem::is_regular_file(p, ec)) return fail(p.string() + " is not a regular file");
  const auto size = std::filesystem::file_size(p, ec);
  if (ec) return fail("cannot read " + p.string() + ": " + ec.message());
  if (size == 0) return fail(p.string() + " is empty");
  if (size > kDocumentMaxBytes) {
    return fail(p.string() + " is " + std::to_string(size) + " bytes, above the limit of " +
                std::to_string(kDocumentMaxBytes));
  }
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) return fail("cannot read " + p.string());
  std::string text = std::move(s).str();
  if (text.size() != size) return fail(p.string() + " changed while being read");
  return text;
}

}  // namespace

Result<std::vector<std::uint8_t>> seal_manifest(const Manifest& m, const ModelKey& key) {
  if (m.model_id != key.model_id) return fail("manifest: model id is not the key's");
  auto plain = encode_manifest(m);
  if (!plain) return plain.error();
  if (sodium_init() < 0) return fail("libsodium cannot initialise");
  Header h;
  h.model_id = m.model_id;
  h.manifest_bytes = plain->size() + kTagBytes;
  h.file_bytes = m.file_bytes;
  randombytes_buf(h.manifest_nonce.data(), h.manifest_nonce.size());
  const HeaderBytes head = encode_header(h);
  std::vector<std::uint8_t> out(kManifestOffset + h.manifest_bytes);
  std::copy(head.begin(), head.end(), out.begin());
  Key km = manifest_key(key);
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data() + kManifestOffset, nullptr, plain->data(),
                                            plain->size(), head.data(), head.size(), nullptr,
                                            h.manifest_nonce.data(), km.data());
  sodium_memzero(km.data(), km.size());
  sodium_memzero(plain->data(), plain->size());
  return out;
}

Result<Sealed> seal_model(const model::ModelConfig& config, const model::WeightSource& source,
                          const Documents& documents, const std::string& out_path,
                          const SealOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto layout = model::make_device_layout(config, options.weight_dtype);
  if (!layout) return layout.error();
  if (auto c = model::check_source(*layout, source); !c) return c.error();
  auto described = model::parse_config_json(documents.config_json);
  if (!described) return fail("config.json: " + described.why());
  if (!same_config(*described, config)) {
    return fail("config.json does not describe the model being sealed");
  }
  if (sodium_init() < 0) return fail("libsodium cannot initialise");

  Sealed s;
  s.key = ModelKey::generate();
  Manifest& m = s.manifest;
  m.model_id = s.key.model_id;
  m.weight_dtype = options.weight_dtype;
  m.documents = documents;
  for (const auto& t : layout->tensors) {
    m.tensors.push_back({t.name, t.dtype, t.shape, t.bytes(), 0, 0, 0});
  }
  if (auto c = lay_out(m); !c) return c.error();
  auto prefix = seal_manifest(m, s.key);
  if (!prefix) return prefix.error();

  std::array<std::uint8_t, 8> tag{};
  randombytes_buf(tag.data(), tag.size());
  TempFile tmp(out_path + ".tmp-" + to_hex(tag));
  PosixFile f(
      ::open(tmp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode));
  if (!f.is_open()) return fail(tmp.path() + ": cannot create: " + std::strerror(errno));
  // Sized first: the padding reads as zeros, and a full disk shows now.
  if (::ftruncate(f.fd(), static_cast<off_t>(m.file_bytes)) != 0) {
    return fail(tmp.path() + ": cannot size to " + std::to_string(m.file_bytes) +
                " bytes: " + std::strerror(errno));
  }
  if (!f.pwrite_all(*prefix, 0)) {
    return fail(tmp.path() + ": cannot write the manifest: " + std::strerror(errno));
  }
  const unsigned threads =
      options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  if (auto c = seal_tensors(f, *layout, source, m, s.key, threads); !c) {
    return fail(out_path + ": " + c.why());
  }
  if (::fsync(f.fd()) != 0 || !f.close()) {
    return fail(tmp.path() + ": cannot flush: " + std::strerror(errno));
  }
  if (::rename(tmp.path().c_str(), out_path.c_str()) != 0) {
    return fail(out_path + ": cannot rename the sealed file into place: " + std::strerror(errno));
  }
  tmp.keep();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const auto& t : m.tensors) s.stats.plaintext_bytes += t.bytes;
  s.stats.file_bytes = m.file_bytes;
  s.stats.seconds = seconds;
  s.stats.mb_per_s = seconds > 0 ? static_cast<double>(s.stats.plaintext_bytes) / 1e6 / seconds : 0;
  s.stats.threads = threads;
  return s;
}

Result<Sealed> seal_checkpoint(const std::string& model_dir, const std::filesystem::path& out_path,
                               const SealOptions& options) {
  auto cp = model::open_checkpoint_dir(model_dir);
  if (!cp) return cp.error();
  Documents docs;
  docs.config_json = cp->config_json;
  const std::filesystem::path dir(model_dir);
  const std::pair<std::string_view, std::string*> optional[] = {
      {kTokenizerFile, &docs.tokenizer_json},
      {kTokenizerConfigFile, &docs.tokenizer_config_json},
      {kGenerationConfigFile, &docs.generation_config_json}};
  for (const auto& [name, into] : optional) {
    auto text = read_document(dir / name);
    if (!text) return fail("checkpoint: " + text.why());
    *into = std::move(*text);
  }
  return seal_model(cp->config, *cp->weights, docs, out_path.string(), options);
}

}  // namespace hix::hixm
