// Checkpoint directories: single-file, other-named and sharded safetensors
// weights, and every way a sharded index can lie refused with its reason;
// config_json_of reads back as the config it was written from.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>

#include "model.hpp"

namespace hix::model {
namespace {

namespace fs = std::filesystem;

ModelConfig tiny() {
  auto c = preset("tiny-llama");
  return c.ok() ? *c : ModelConfig{};
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// The tiny model's tensors split over two shards by name order.
class CheckpointDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hix_ckpt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_text(dir_ / "config.json", config_json_of(tiny()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Shard files a and b; `index_extra` goes into the weight_map as is.
  void write_shards(const std::string& index_extra = "") {
    SeededSource src(tiny(), SeededOptions{});
    std::vector<TensorData> a, b;
    std::string map;
    const auto names = src.names();
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto t = src.get(names[i]);
      ASSERT_TRUE(t.ok());
      const auto bytes = t->bytes();
      TensorData d{names[i], t->dtype(), t->shape(), {bytes.begin(), bytes.end()}};
      const bool first = i < names.size() / 2;
      (first ? a : b).push_back(std::move(d));
      map += (map.empty() ? "" : ",") + std::string("\"") + names[i] + "\":\"" +
             (first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") +
             "\"";
    }
    ASSERT_TRUE(write_safetensors(dir_ / "model-00001-of-00002.safetensors", a).ok());
    ASSERT_TRUE(write_safetensors(dir_ / "model-00002-of-00002.safetensors", b).ok());
    write_text(dir_ / "model.safetensors.index.json",
               "{\"metadata\":{\"total_size\":1},\"weight_map\":{" + map + index_extra + "}}");
  }

  fs::path dir_;
};

TEST_F(CheckpointDir, ASingleModelSafetensorsOpensWithItsConfig) {
  SeededSource src(tiny(), SeededOptions{});
  ASSERT_TRUE(write_safetensors(dir_ / "model.safetensors", src).ok());
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_TRUE(cp.ok()) << cp.why();
  EXPECT_EQ(cp->config_json, config_json_of(tiny()));
  EXPECT_EQ(cp->weights->names(), src.names());
}

TEST_F(CheckpointDir, AShardedCheckpointGivesTheSameTensorsAsTheSeededSource) {
  write_shards();
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_TRUE(cp.ok()) << cp.why();
  EXPECT_EQ(cp->weight_files.size(), 2u);
  SeededSource src(tiny(), SeededOptions{});
  EXPECT_EQ(cp->weights->names(), src.names());
  for (const auto& n : src.names()) {
    auto a = src.get(n);
    auto b = cp->weights->get(n);
    ASSERT_TRUE(a.ok() && b.ok()) << n;
    EXPECT_TRUE(std::ranges::equal(a->bytes(), b->bytes())) << n;
  }
  EXPECT_FALSE(cp->weights->get("no.such.tensor").ok());
}

TEST_F(CheckpointDir, AnIndexNamingAMissingShardIsRefused) {
  write_shards();
  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.why().find("the shard \"model-00002-of-00002.safetensors\""), std::string::npos)
      << cp.why();
}

TEST_F(CheckpointDir, ATensorInTwoShardsIsRefused) {
  write_shards();
  // Shard 2 also gets the first tensor of shard 1.
  SeededSource src(tiny(), SeededOptions{});
  const auto names = src.names();
  std::vector<TensorData> b;
  for (std::size_t i = names.size() / 2 - 1; i < names.size(); ++i) {
    auto t = src.get(names[i]);
    ASSERT_TRUE(t.ok());
    b.push_back({names[i], t->dtype(), t->shape(), {t->bytes().begin(), t->bytes().end()}});
  }
  ASSERT_TRUE(write_safetensors(dir_ / "model-00002-of-00002.safetensors", b).ok());
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.why().find("is in two shards"), std::string::npos) << cp.why();
}

TEST_F(CheckpointDir, AShardPathOutsideTheDirectoryIsRefused) {
  for (const std::string shard :
       {"../model.safetensors", "sub/model.safetensors", "/etc/passwd", "..", "model.bin"}) {
    write_shards(",\"extra.weight\":\"" + shard + "\"");
    auto cp = open_checkpoint_dir(dir_);
    ASSERT_FALSE(cp.ok()) << shard;
    EXPECT_NE(cp.why().find("is not a *.safetensors file name in the checkpoint's directory"),
              std::string::npos)
        << cp.why();
  }
}

TEST_F(CheckpointDir, AShardTensorTheIndexDoesNotNameIsRefused) {
  write_shards();
  // Drop the last weight_map entry: its tensor is still in shard 2.
  std::ifstream in(dir_ / "model.safetensors.index.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto cut = text.rfind(",\"");
  write_text(dir_ / "model.safetensors.index.json", text.substr(0, cut) + "}}");
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.why().find("which the index does not name"), std::string::npos) << cp.why();
}

TEST_F(CheckpointDir, AnIndexEntryItsShardDoesNotHoldIsRefused) {
  write_shards(",\"extra.weight\":\"model-00001-of-00002.safetensors\"");
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.why().find("which does not hold it"), std::string::npos) << cp.why();
}

TEST_F(CheckpointDir, TheOnlySafetensorsFileOfAnotherNameIsAccepted) {
  SeededSource src(tiny(), SeededOptions{});
  ASSERT_TRUE(write_safetensors(dir_ / "weights.safetensors", src).ok());
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_TRUE(cp.ok()) << cp.why();
  ASSERT_EQ(cp->weight_files.size(), 1u);
  EXPECT_EQ(fs::path(cp->weight_files[0]).filename(), "weights.safetensors");
}

TEST_F(CheckpointDir, TwoSafetensorsFilesWithoutAnIndexAreRefused) {
  SeededSource src(tiny(), SeededOptions{});
  ASSERT_TRUE(write_safetensors(dir_ / "a.safetensors", src).ok());
  ASSERT_TRUE(write_safetensors(dir_ / "b.safetensors", src).ok());
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.why().find("several *.safetensors files (a.safetensors, b.safetensors)"),
            std::string::npos)
      << cp.why();
}

TEST_F(CheckpointDir, AnIndexBesideModelSafetensorsIsRefusedAsAmbiguous) {
  write_shards();
  SeededSource src(tiny(), SeededOptions{});
  ASSERT_TRUE(write_safetensors(dir_ / "model.safetensors", src).ok());
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.why().find("ambiguous"), std::string::npos) << cp.why();
}

TEST_F(CheckpointDir, ADirectoryWithoutWeightsIsRefused) {
  auto cp = open_checkpoint_dir(dir_);
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.why().find("no model.safetensors"), std::string::npos) << cp.why();
}

TEST(ConfigJsonOf, EveryPresetReadsBackAsItself) {
  for (const auto name : preset_names()) {
    auto c = preset(name);
    ASSERT_TRUE(c.ok());
    auto back = parse_config_json(config_json_of(*c));
    ASSERT_TRUE(back.ok()) << name << ": " << back.why();
    EXPECT_EQ(back->arch, c->arch) << name;
    EXPECT_EQ(back->vocab, c->vocab) << name;
    EXPECT_EQ(back->dim, c->dim) << name;
    EXPECT_EQ(back->layers, c->layers) << name;
    EXPECT_EQ(back->heads, c->heads) << name;
    EXPECT_EQ(back->kv_heads, c->kv_heads) << name;
    EXPECT_EQ(back->head_dim, c->head_dim) << name;
    EXPECT_EQ(back->mlp, c->mlp) << name;
    EXPECT_EQ(back->max_pos, c->max_pos) << name;
    EXPECT_EQ(back->norm_eps, c->norm_eps) << name;
    if (rotary(c->arch)) {
      EXPECT_EQ(back->rope_theta, c->rope_theta) << name;
    }
    EXPECT_EQ(back->tied_embeddings, c->tied_embeddings) << name;
    EXPECT_EQ(back->rope_scaling, c->rope_scaling) << name;
    EXPECT_EQ(back->sliding_window, c->sliding_window) << name;
  }
}

}  // namespace
}  // namespace hix::model
