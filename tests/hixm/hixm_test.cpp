// The .hixm format (docs/specs/hixm.md): a seeded checkpoint sealed, read
// back and every tensor opened with the client's open_tensor; each attack
// of §6 refused with the message that names it; key files; sharded and
// single-file checkpoints seal to the same tensors.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "hex.hpp"
#include "hix/abi/vgpu_cmd.h"
#include "hixm/hixm.hpp"
#include "model.hpp"
#include "session/tensor_seal.hpp"

namespace hix::hixm {
namespace {

namespace fs = std::filesystem;
using model::ModelConfig;

// Llama with an embedding and lm head of 1000 x 64: in f32 four chunks, the
// last one partial, so chunks can be swapped inside a tensor.
ModelConfig test_config() {
  return {model::Arch::llama, 1000, 64, 2, 4, 2, 16, 256, 64, 1e-5f, 10000.0f, false};
}

model::SeededOptions seeded() {
  model::SeededOptions o;
  o.seed = 7;
  o.dtype = model::DType::bf16;
  return o;
}

std::vector<std::uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class Hixm : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hixm_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "ckpt");
    write_text(dir_ / "ckpt" / "config.json", model::config_json_of(test_config()));
    write_text(dir_ / "ckpt" / "tokenizer.json", "{\"model\":{\"vocab\":{}}}");
    write_text(dir_ / "ckpt" / "generation_config.json", "{\"eos_token_id\":2}");
    model::SeededSource src(test_config(), seeded());
    ASSERT_TRUE(model::write_safetensors((dir_ / "ckpt" / "model.safetensors").string(), src).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Seals the checkpoint into `name` with f32 device weights.
  Sealed seal(const std::string& name, std::uint8_t dtype = HIX_VGPU_DT_F32) {
    auto s = seal_checkpoint((dir_ / "ckpt").string(), path(name), {dtype, 0});
    EXPECT_TRUE(s.ok()) << s.why();
    return s.ok() ? std::move(*s) : Sealed{};
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Chunk `c` of tensor `t` in `m`'s file: offset and length.
  static std::pair<std::uint64_t, std::uint64_t> chunk_at(const Manifest& m, std::size_t t,
                                                          std::uint32_t c) {
    const TensorEntry& e = m.tensors[t];
    const std::uint64_t from = std::uint64_t{c} * client::kChunkStride;
    return {e.offset + from, std::min<std::uint64_t>(client::kChunkStride, e.sealed_bytes - from)};
  }

  fs::path dir_;
};

TEST_F(Hixm, ASealedCheckpointOpensToTheDeviceTensorBytes) {
  for (const std::uint8_t dtype : {std::uint8_t{HIX_VGPU_DT_F32}, std::uint8_t{HIX_VGPU_DT_BF16}}) {
    Sealed s = seal("m.hixm", dtype);
    auto m = read_manifest(path("m.hixm"), s.key);
    ASSERT_TRUE(m.ok()) << m.why();
    EXPECT_EQ(m->model_id, s.key.model_id);
    EXPECT_EQ(m->weight_dtype, dtype);
    EXPECT_EQ(m->key_slot, kModelKeySlot);
    EXPECT_EQ(m->chunk_bytes, HIX_VGPU_CHUNK_BYTES);
    EXPECT_EQ(m->documents.config_json, model::config_json_of(test_config()));
    EXPECT_EQ(m->documents.tokenizer_json, "{\"model\":{\"vocab\":{}}}");
    EXPECT_EQ(m->documents.tokenizer_config_json, "");
    EXPECT_EQ(m->documents.generation_config_json, "{\"eos_token_id\":2}");
    EXPECT_EQ(fs::file_size(path("m.hixm")), m->file_bytes);
    EXPECT_EQ(m->file_bytes % kAlign, 0u);
    EXPECT_EQ(s.stats.file_bytes, m->file_bytes);
    auto lay = check_layout(*m);
    ASSERT_TRUE(lay.ok()) << lay.why();
    EXPECT_TRUE(verify_tensors(path("m.hixm"), *m, s.key).ok());

    model::SeededSource src(test_config(), seeded());
    std::uint64_t plain_total = 0;
    for (std::size_t i = 0; i < m->tensors.size(); ++i) {
      const TensorEntry& t = m->tensors[i];
      EXPECT_EQ(t.offset % kAlign, 0u) << t.name;
      EXPECT_EQ(t.tensor_id, kFirstTensorId + i) << t.name;
      auto want = model::device_tensor_bytes(*lay, i, src);
      ASSERT_TRUE(want.ok()) << want.why();
      auto sealed = read_sealed_tensor(path("m.hixm"), *m, i);
      ASSERT_TRUE(sealed.ok()) << sealed.why();
      std::vector<std::uint8_t> plain(t.bytes);
      ASSERT_TRUE(client::open_tensor(
          plain, *sealed, {static_cast<std::uint8_t>(m->key_slot), t.tensor_id}, s.key.key))
          << t.name;
      ASSERT_EQ(plain.size(), want->size());
      EXPECT_EQ(std::memcmp(plain.data(), want->data(), plain.size()), 0) << t.name;
      plain_total += t.bytes;
    }
    EXPECT_EQ(s.stats.plaintext_bytes, plain_total);
  }
}

TEST_F(Hixm, TwoSealsOfOneCheckpointHaveDifferentKeysAndIds) {
  Sealed a = seal("a.hixm");
  Sealed b = seal("b.hixm");
  EXPECT_NE(a.key.key, b.key.key);
  EXPECT_NE(a.key.model_id, b.key.model_id);
}

// Truncation at a point of the file, named by where it cuts.
struct Cut {
  const char* name;
  std::int64_t at;  // >= 0: from the start; < 0: from the end
  const char* error;
};

class HixmTruncation : public Hixm, public ::testing::WithParamInterface<Cut> {};

TEST_P(HixmTruncation, IsRefusedBeforeTheManifestIsOpened) {
  Sealed s = seal("m.hixm");
  const std::uint64_t size = fs::file_size(path("m.hixm"));
  const Cut cut = GetParam();
  const std::uint64_t at =
      cut.at >= 0 ? static_cast<std::uint64_t>(cut.at) : size - static_cast<std::uint64_t>(-cut.at);
  fs::resize_file(path("m.hixm"), at);
  auto m = read_manifest(path("m.hixm"), s.key);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(contains(m.why(), cut.error)) << m.why();
}

INSTANTIATE_TEST_SUITE_P(
    Hixm, HixmTruncation,
    ::testing::Values(Cut{"InsideTheHeader", 100, "shorter than the 128-byte header"},
                      Cut{"InsideTheManifest", 200, "(truncated or extended)"},
                      Cut{"InsideTheFirstTensor", 12000, "(truncated or extended)"},
                      Cut{"TheLastPage", -4096, "(truncated or extended)"},
                      Cut{"TheLastByte", -1, "(truncated or extended)"}),
    [](const ::testing::TestParamInfo<Cut>& p) { return std::string(p.param.name); });

TEST_F(Hixm, ATruncationWithTheHeaderEditedToMatchFailsTheManifestsTag) {
  Sealed s = seal("m.hixm");
  auto bytes = read_all(path("m.hixm"));
  const std::uint64_t cut = bytes.size() - kAlign;
  bytes.resize(cut);
  for (unsigned i = 0; i < 8; ++i) bytes[80 + i] = static_cast<std::uint8_t>(cut >> (8 * i));
  write_all(path("m.hixm"), bytes);
  auto m = read_manifest(path("m.hixm"), s.key);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(contains(m.why(), "the manifest does not authenticate")) << m.why();
}

TEST_F(Hixm, AnExtendedFileIsRefused) {
  Sealed s = seal("m.hixm");
  fs::resize_file(path("m.hixm"), fs::file_size(path("m.hixm")) + kAlign);
  auto m = read_manifest(path("m.hixm"), s.key);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(contains(m.why(), "(truncated or extended)")) << m.why();
}

TEST_F(Hixm, TwoSwappedChunksOfATensorAreNamed) {
  Sealed s = seal("m.hixm");
  ASSERT_EQ(s.manifest.tensors[0].name, "embed");
  auto bytes = read_all(path("m.hixm"));
  const auto [a, alen] = chunk_at(s.manifest, 0, 0);
  const auto [b, blen] = chunk_at(s.manifest, 0, 1);
  ASSERT_EQ(alen, blen);
  std::swap_ranges(bytes.begin() + static_cast<std::ptrdiff_t>(a),
                   bytes.begin() + static_cast<std::ptrdiff_t>(a + alen),
                   bytes.begin() + static_cast<std::ptrdiff_t>(b));
  write_all(path("m.hixm"), bytes);
  ASSERT_TRUE(read_manifest(path("m.hixm"), s.key).ok());
  auto v = verify_tensors(path("m.hixm"), s.manifest, s.key);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(contains(v.why(), "tensor 0 \"embed\" chunk 0 of 4")) << v.why();
  EXPECT_TRUE(contains(v.why(), "names chunk 1 (chunks swapped or moved)")) << v.why();
}

TEST_F(Hixm, ChunksSwappedBetweenTwoTensorsAreNamed) {
  Sealed s = seal("m.hixm");
  const auto lm = std::find_if(s.manifest.tensors.begin(), s.manifest.tensors.end(),
                               [](const TensorEntry& t) { return t.name == "lm_head"; });
  ASSERT_NE(lm, s.manifest.tensors.end());
  const auto li = static_cast<std::size_t>(lm - s.manifest.tensors.begin());
  auto bytes = read_all(path("m.hixm"));
  const auto [a, alen] = chunk_at(s.manifest, 0, 2);
  const auto [b, blen] = chunk_at(s.manifest, li, 2);
  ASSERT_EQ(alen, blen);
  std::swap_ranges(bytes.begin() + static_cast<std::ptrdiff_t>(a),
                   bytes.begin() + static_cast<std::ptrdiff_t>(a + alen),
                   bytes.begin() + static_cast<std::ptrdiff_t>(b));
  write_all(path("m.hixm"), bytes);
  auto v = verify_tensors(path("m.hixm"), s.manifest, s.key);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(contains(v.why(), "tensor 0 \"embed\" chunk 2 of 4")) << v.why();
  EXPECT_TRUE(contains(v.why(), "names tensor id " + std::to_string(lm->tensor_id) + " (tensor " +
                                    std::to_string(li) +
                                    " \"lm_head\"): a chunk of another tensor"))
      << v.why();
}

TEST_F(Hixm, AChunkSplicedFromAnotherModelFailsItsTag) {
  Sealed s = seal("m.hixm");
  Sealed other = seal("other.hixm");
  ASSERT_EQ(other.manifest.tensors[3].offset, s.manifest.tensors[3].offset);
  auto bytes = read_all(path("m.hixm"));
  const auto donor = read_all(path("other.hixm"));
  const auto [at, len] = chunk_at(s.manifest, 3, 0);
  std::copy_n(donor.begin() + static_cast<std::ptrdiff_t>(at), len,
              bytes.begin() + static_cast<std::ptrdiff_t>(at));
  write_all(path("m.hixm"), bytes);
  auto v = verify_tensors(path("m.hixm"), s.manifest, s.key);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(contains(v.why(), "tensor 3 \"" + s.manifest.tensors[3].name + "\" chunk 0 of 1"))
      << v.why();
  EXPECT_TRUE(contains(v.why(), "the tag does not verify")) << v.why();
}

TEST_F(Hixm, AFlippedCiphertextByteFailsItsTag) {
  Sealed s = seal("m.hixm");
  auto bytes = read_all(path("m.hixm"));
  const auto [at, len] = chunk_at(s.manifest, 0, 3);
  bytes[at + len - 20] ^= 0x01;  // ciphertext, just before the tag
  write_all(path("m.hixm"), bytes);
  auto v = verify_tensors(path("m.hixm"), s.manifest, s.key);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(contains(v.why(), "tensor 0 \"embed\" chunk 3 of 4")) << v.why();
  EXPECT_TRUE(contains(v.why(), "the tag does not verify")) << v.why();
}

TEST_F(Hixm, AFlippedChunkHeaderByteNamesTheField) {
  Sealed s = seal("m.hixm");
  auto bytes = read_all(path("m.hixm"));
  const auto [at, len] = chunk_at(s.manifest, 0, 1);
  bytes[at + 20] ^= 0x01;  // chunk_count
  write_all(path("m.hixm"), bytes);
  auto v = verify_tensors(path("m.hixm"), s.manifest, s.key);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(contains(v.why(), "chunk 1 of 4")) << v.why();
  EXPECT_TRUE(contains(v.why(), "(field chunk_count)")) << v.why();
}

TEST_F(Hixm, AFlippedManifestByteFailsTheManifestsTag) {
  Sealed s = seal("m.hixm");
  for (const std::uint64_t at :
       {kManifestOffset, kManifestOffset + 300, kManifestOffset + s.manifest.file_bytes / 1000}) {
    auto bytes = read_all(path("m.hixm"));
    bytes[at] ^= 0x40;
    write_all(path("m.hixm.bad"), bytes);
    auto m = read_manifest(path("m.hixm.bad"), s.key);
    ASSERT_FALSE(m.ok()) << at;
    EXPECT_TRUE(contains(m.why(), "the manifest does not authenticate")) << m.why();
  }
}

TEST_F(Hixm, AFlippedHeaderByteIsRefused) {
  Sealed s = seal("m.hixm");
  struct Flip {
    std::size_t at;
    const char* error;
  };
  for (const Flip f :
       {Flip{0, "not a .hixm file"}, Flip{8, "version"},
        Flip{64, "the manifest does not authenticate"},  // nonce
        Flip{75, "the manifest does not authenticate"}, Flip{100, "reserved bytes are not zero"},
        Flip{20, "the key is for model"}}) {  // model id
    auto bytes = read_all(path("m.hixm"));
    bytes[f.at] ^= 0x01;
    write_all(path("m.hixm.bad"), bytes);
    auto m = read_manifest(path("m.hixm.bad"), s.key);
    ASSERT_FALSE(m.ok()) << f.at;
    EXPECT_TRUE(contains(m.why(), f.error)) << f.at << ": " << m.why();
  }
}

TEST_F(Hixm, AWrongKeyFailsTheManifestsTag) {
  Sealed s = seal("m.hixm");
  ModelKey wrong = s.key;
  wrong.key[5] ^= 0x01;
  auto m = read_manifest(path("m.hixm"), wrong);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(contains(m.why(), "the manifest does not authenticate")) << m.why();
  // Chunk by chunk the wrong key fails too, at the first chunk.
  auto v = verify_tensors(path("m.hixm"), s.manifest, wrong);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(contains(v.why(), "tensor 0 \"embed\" chunk 0 of 4")) << v.why();
  EXPECT_TRUE(contains(v.why(), "the tag does not verify")) << v.why();
}

TEST_F(Hixm, AKeyFileOfAnotherModelIsRefusedByModelId) {
  Sealed s = seal("m.hixm");
  Sealed other = seal("other.hixm");
  ASSERT_TRUE(write_key_file(path("other.key"), other.key, false).ok());
  auto k = read_key_file(path("other.key"));
  ASSERT_TRUE(k.ok()) << k.why();
  auto m = read_manifest(path("m.hixm"), *k);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(contains(m.why(), "the key is for model " + to_hex(other.key.model_id) +
                                    " but the file holds model " + to_hex(s.key.model_id)))
      << m.why();
}

TEST_F(Hixm, AKeyFileRoundTripsWithMode0600AndIsNotOverwritten) {
  Sealed s = seal("m.hixm");
  ASSERT_TRUE(write_key_file(path("m.key"), s.key, false).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path("m.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto text = read_all(path("m.key"));
  EXPECT_EQ(std::string(text.begin(), text.end()),
            "hixm-key 1 " + to_hex(s.key.model_id) + " " + to_hex(s.key.key) + "\n");
  auto k = read_key_file(path("m.key"));
  ASSERT_TRUE(k.ok()) << k.why();
  EXPECT_EQ(k->key, s.key.key);
  EXPECT_EQ(k->model_id, s.key.model_id);
  EXPECT_TRUE(read_manifest(path("m.hixm"), *k).ok());

  Sealed other = seal("other.hixm");
  auto again = write_key_file(path("m.key"), other.key, false);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(contains(again.why(), "already exists")) << again.why();
  EXPECT_EQ(read_key_file(path("m.key"))->key, s.key.key);
  ASSERT_TRUE(write_key_file(path("m.key"), other.key, true).ok());
  EXPECT_EQ(read_key_file(path("m.key"))->key, other.key.key);
  ASSERT_EQ(::stat(path("m.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(Hixm, AKeyFileReadableByOthersIsRefused) {
  Sealed s = seal("m.hixm");
  ASSERT_TRUE(write_key_file(path("m.key"), s.key, false).ok());
  for (const mode_t mode : {0644u, 0640u, 0604u, 0660u}) {
    ASSERT_EQ(::chmod(path("m.key").c_str(), mode), 0);
    auto k = read_key_file(path("m.key"));
    ASSERT_FALSE(k.ok()) << mode;
    EXPECT_TRUE(contains(k.why(), "lets group or others reach the model key (chmod 600"))
        << k.why();
  }
}

TEST_F(Hixm, AMalformedKeyFileIsRefused) {
  Sealed s = seal("m.hixm");
  const std::string good = "hixm-key 1 " + to_hex(s.key.model_id) + " " + to_hex(s.key.key) + "\n";
  for (const std::string& bad :
       {std::string(), good.substr(0, good.size() - 1), good + "\n", "hixm-key 2" + good.substr(10),
        "hixm-key 1 " + to_hex(s.key.model_id) + " " + to_hex(s.key.key).substr(2) + "00\n ",
        "hixm-key 1 " + to_hex(s.key.model_id) + "  " + to_hex(s.key.key).substr(1) + "\n",
        "HIXM-KEY" + good.substr(8),
        "hixm-key 1 " + to_hex(s.key.model_id) + " " + std::string(63, 'a') + "G\n"}) {
    std::remove(path("bad.key").c_str());
    write_text(dir_ / "bad.key", bad);
    ASSERT_EQ(::chmod(path("bad.key").c_str(), 0600), 0);
    auto k = read_key_file(path("bad.key"));
    EXPECT_FALSE(k.ok()) << bad;
  }
}

TEST_F(Hixm, AShardedCheckpointSealsToTheSameTensors) {
  Sealed single = seal("single.hixm");
  // The same weights split over three shards with an index.
  fs::create_directories(dir_ / "sharded");
  fs::copy_file(dir_ / "ckpt" / "config.json", dir_ / "sharded" / "config.json");
  fs::copy_file(dir_ / "ckpt" / "tokenizer.json", dir_ / "sharded" / "tokenizer.json");
  fs::copy_file(dir_ / "ckpt" / "generation_config.json",
                dir_ / "sharded" / "generation_config.json");
  model::SeededSource src(test_config(), seeded());
  const auto names = src.names();
  std::vector<std::vector<model::TensorData>> shards(3);
  std::string map;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto t = src.get(names[i]);
    ASSERT_TRUE(t.ok());
    shards[i % 3].push_back(
        {names[i], t->dtype(), t->shape(), {t->bytes().begin(), t->bytes().end()}});
    map += (map.empty() ? "\"" : ",\"") + names[i] + "\":\"part-" + std::to_string(i % 3) +
           ".safetensors\"";
  }
  for (std::size_t k = 0; k < shards.size(); ++k) {
    ASSERT_TRUE(
        model::write_safetensors(
            (dir_ / "sharded" / ("part-" + std::to_string(k) + ".safetensors")).string(), shards[k])
            .ok());
  }
  write_text(dir_ / "sharded" / "model.safetensors.index.json", "{\"weight_map\":{" + map + "}}");
  auto sharded =
      seal_checkpoint((dir_ / "sharded").string(), path("sharded.hixm"), {HIX_VGPU_DT_F32, 2});
  ASSERT_TRUE(sharded.ok()) << sharded.why();

  auto a = read_manifest(path("single.hixm"), single.key);
  auto b = read_manifest(path("sharded.hixm"), sharded->key);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  EXPECT_EQ(a->file_bytes, b->file_bytes);
  for (std::size_t i = 0; i < a->tensors.size(); ++i) {
    const TensorEntry& x = a->tensors[i];
    const TensorEntry& y = b->tensors[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.shape, y.shape);
    EXPECT_EQ(x.offset, y.offset);
    auto sx = read_sealed_tensor(path("single.hixm"), *a, i);
    auto sy = read_sealed_tensor(path("sharded.hixm"), *b, i);
    ASSERT_TRUE(sx.ok() && sy.ok());
    std::vector<std::uint8_t> px(x.bytes), py(y.bytes);
    ASSERT_TRUE(client::open_tensor(px, *sx, {1, x.tensor_id}, single.key.key));
    ASSERT_TRUE(client::open_tensor(py, *sy, {1, y.tensor_id}, sharded->key.key));
    EXPECT_EQ(px, py) << x.name;
  }
}

TEST_F(Hixm, AFailedSealLeavesNoFileBehind) {
  model::SeededSource src(test_config(), seeded());
  Documents docs;
  docs.config_json = model::config_json_of(*model::preset("tiny-llama"));  // another shape
  auto s = seal_model(test_config(), src, docs, path("m.hixm"), {HIX_VGPU_DT_F32, 0});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.why(), "config.json does not describe the model")) << s.why();
  // A source missing a tensor fails inside the tensor stage.
  model::SeededSource small(*model::preset("tiny-llama"), seeded());
  docs.config_json = model::config_json_of(test_config());
  auto t = seal_model(test_config(), small, docs, path("m.hixm"), {HIX_VGPU_DT_F32, 0});
  ASSERT_FALSE(t.ok());
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file() ? 1u : 0u;
  EXPECT_EQ(files, 0u);
}

TEST(HixmManifest, EncodesAndParsesBackExactly) {
  Manifest m;
  m.model_id.fill(0xA5);
  m.weight_dtype = HIX_VGPU_DT_BF16;
  m.documents.config_json = "{}";
  m.documents.tokenizer_config_json = "tok";
  m.tensors.push_back({"a", HIX_VGPU_DT_BF16, {3, 70000}, 420000, 0, 0, 0});
  m.tensors.push_back({"b.c", HIX_VGPU_DT_BF16, {5}, 10, 0, 0, 0});
  ASSERT_TRUE(lay_out(m).ok());
  auto enc = encode_manifest(m);
  ASSERT_TRUE(enc.ok()) << enc.why();
  auto back = parse_manifest(*enc);
  ASSERT_TRUE(back.ok()) << back.why();
  EXPECT_EQ(back->documents.tokenizer_config_json, "tok");
  EXPECT_EQ(back->documents.tokenizer_json, "");
  ASSERT_EQ(back->tensors.size(), 2u);
  EXPECT_EQ(back->tensors[1].offset, align_up(m.tensors[0].offset + m.tensors[0].sealed_bytes));
  auto again = encode_manifest(*back);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *enc);

  auto trailing = *enc;
  trailing.push_back(0);
  EXPECT_TRUE(contains(parse_manifest(trailing).why(), "bytes after the last tensor"));
  Manifest moved = m;
  moved.tensors[1].offset += kAlign;
  EXPECT_TRUE(contains(encode_manifest(moved).why(), "the layout puts it at"));
  Manifest wrong_id = m;
  wrong_id.tensors[1].tensor_id += 1;
  EXPECT_TRUE(contains(encode_manifest(wrong_id).why(), "tensor id"));
  Manifest device_ids = m;
  device_ids.first_tensor_id = client::kDeviceTensorBit - 1;
  ASSERT_TRUE(lay_out(device_ids).ok());
  EXPECT_TRUE(contains(encode_manifest(device_ids).why(), "are not host tensor ids"));
}

}  // namespace
}  // namespace hix::hixm
