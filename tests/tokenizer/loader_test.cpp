// Loading tokenizer.json, tokenizer_config.json and GPT-2's files: the
// committed tiny tokenizers load and behave; every malformed or unsupported
// file is refused with one line naming the field.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer.hpp"

namespace hix::tok {
namespace {

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string tiny(const char* name) {
  return read(std::string(HIX_TOKENIZER_DATA) + "/" + name + ".json");
}

// The smallest tokenizer.json we accept, with `model` spliced in.
std::string minimal(const std::string& model, const std::string& extra = "") {
  return R"({"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,)"
         R"("pre_tokenizer":null,"post_processor":null,"decoder":null,)" +
         extra + R"("model":)" + model + "}";
}
const std::string kModel = R"({"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]})";

std::string error_of(std::string_view json, std::string_view config = {}) {
  auto t = Tokenizer::from_json(json, ConfigJson{config});
  if (t.ok()) return "(loaded)";
  return t.error().message;
}

TEST(Loader, ReadsTheSmallestFile) {
  auto t = Tokenizer::from_json(minimal(kModel));
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto ids = t->encode("abba", false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::int32_t>{2, 1, 0}));
  EXPECT_EQ(t->decode(*ids, false), "ab b a");  // no decoder: tokens joined with spaces
  EXPECT_EQ(t->vocab_size(), 3U);
}

TEST(Loader, RefusesMalformedFilesNamingTheField) {
  const struct {
    std::string json;
    std::string says;
  } cases[] = {
      {minimal(kModel).substr(0, 90), "json:"},
      {"[]", "expected an object"},
      {minimal(R"({"type":"WordPiece","vocab":{}})"),
       "model.type: model \"WordPiece\" is not supported"},
      {minimal(R"({"type":"BPE","vocab":{"a":0}})"), "model.merges: missing"},
      {minimal(R"({"type":"BPE","vocab":{"a":0},"merges":["a"]})"), "model.merges[0]"},
      {minimal(R"({"type":"BPE","vocab":{"a":0},"merges":[["a","zz"]]})"),
       "\"zz\" is not in model.vocab"},
      {minimal(R"({"type":"BPE","vocab":{"a":-1},"merges":[]})"), "model.vocab[\"a\"]"},
      {minimal(R"({"type":"BPE","vocab":{"a":0,"b":0},"merges":[]})"), "given to two tokens"},
      {minimal(R"({"type":"BPE","vocab":{"a":0},"merges":[],"dropout":0.1})"), "model.dropout"},
      {minimal(R"({"type":"BPE","vocab":{"a":0},"merges":[],"cache":1})"),
       "model.cache: not supported"},
      {minimal(R"({"type":"BPE","vocab":{"a":0,"b":5000000},"merges":[]})"), "nearly dense"},
      {minimal(kModel, R"("extra":1,)"), "tokenizer.extra: not supported"},
      {R"({"truncation":{"max_length":4},"model":)" + kModel + "}", "tokenizer.truncation"},
      {R"({"version":"2.0","model":)" + kModel + "}", "tokenizer.version"},
      {R"({"normalizer":{"type":"Lowercase"},"model":)" + kModel + "}", "normalizer.type"},
      {R"({"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated","invert":false},)"
       R"("model":)" +
           kModel + "}",
       "pre_tokenizer.pattern: regex:"},
      {R"({"pre_tokenizer":{"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways","invert":false},)"
       R"("model":)" +
           kModel + "}",
       "pre_tokenizer.behavior"},
      {R"({"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Metaspace"}]},"model":)" +
           kModel + "}",
       "pre_tokenizer.pretokenizers[0].type"},
      {R"({"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},"model":)" + kModel + "}",
       "pre_tokenizer.trim_offsets: missing"},
      {R"({"decoder":{"type":"WordPiece"},"model":)" + kModel + "}", "decoder.type"},
      {R"({"post_processor":{"type":"RobertaProcessing"},"model":)" + kModel + "}",
       "post_processor.type"},
      {R"({"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}],)"
       R"("pair":[],"special_tokens":{}},"model":)" +
           kModel + "}",
       "\"<s>\" is not in special_tokens"},
      {R"({"added_tokens":[{"id":9,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,)"
       R"("normalized":false,"special":true}],"model":)" +
           kModel + "}",
       "added_tokens[0].id: 9, but tokenizers would give \"<s>\" id 3"},
      {R"({"added_tokens":[{"id":3,"content":"<s>"}],"model":)" + kModel + "}",
       "added_tokens[0].single_word"},
      {R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})", "(loaded)"},
  };
  for (const auto& c : cases) {
    const std::string e = error_of(c.json);
    EXPECT_NE(e.find(c.says), std::string::npos)
        << "got: " << e << "\nfor: " << c.json.substr(0, 200);
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(Loader, EncodeRefusesInvalidUtf8NamingTheByte) {
  auto t = Tokenizer::from_json(minimal(kModel));
  ASSERT_TRUE(t.ok());
  auto r = t->encode("ab\xC3(", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "encode: input is not valid UTF-8 at byte 2");
}

TEST(Loader, ReadsBosEosAndTheChatTemplateFromTheConfig) {
  const std::string cfg =
      R"({"bos_token":{"content":"<|bos|>","lstrip":false},"eos_token":"<|eos|>","add_bos_token":true,)"
      R"("chat_template":"{% for m in messages %}{{ m.content }}{% endfor %}","model_max_length":8})";
  auto t = Tokenizer::from_json(tiny("tiny_bytelevel"), ConfigJson{cfg});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->bos_id(), t->token_to_id("<|bos|>"));
  EXPECT_EQ(t->eos_id(), t->token_to_id("<|eos|>"));
  EXPECT_TRUE(t->bos_id().has_value());
  EXPECT_EQ(t->add_bos_token(), std::optional<bool>(true));
  EXPECT_EQ(t->chat_template(),
            std::optional<std::string>("{% for m in messages %}{{ m.content }}{% endfor %}"));
  EXPECT_TRUE(t->is_special(*t->bos_id()));
  EXPECT_FALSE(t->is_special(*t->token_to_id("[WORD]")));

  EXPECT_NE(error_of(tiny("tiny_bytelevel"), R"({"eos_token":"<none>"})")
                .find("tokenizer_config.eos_token"),
            std::string::npos);
  EXPECT_NE(
      error_of(tiny("tiny_bytelevel"), R"({"chat_template":[{"name":"tool_use","template":"x"}]})")
          .find("no template named \"default\""),
      std::string::npos);
  auto no_config = Tokenizer::from_json(tiny("tiny_bytelevel"));
  ASSERT_TRUE(no_config.ok());
  EXPECT_FALSE(no_config->bos_id().has_value());
  EXPECT_FALSE(no_config->chat_template().has_value());
}

TEST(Loader, AppliesTheTemplateOnlyWithSpecialTokens) {
  auto t = Tokenizer::from_json(tiny("tiny_bytelevel"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto plain = t->encode("hello", false);
  auto special = t->encode("hello", true);
  ASSERT_TRUE(plain.ok() && special.ok());
  ASSERT_EQ(special->size(), plain->size() + 2);
  EXPECT_EQ(special->front(), *t->token_to_id("<|bos|>"));
  EXPECT_EQ(special->back(), *t->token_to_id("<|eos|>"));
  EXPECT_EQ(t->decode(*special, true), "hello");
  EXPECT_EQ(t->decode(*special, false), "<|bos|>hello<|eos|>");
  EXPECT_EQ(t->decode(std::vector<std::int32_t>{-1, 1 << 30}, false),
            "");  // unknown ids are skipped
}

TEST(Loader, ReadsADirectoryOfEitherKind) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("hix_tok_dir_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "encoder.json") << R"({"a":0,"b":1,"ab":2,"<|endoftext|>":3})";
    std::ofstream(dir / "vocab.bpe") << "#version: 0.2\na b\n";
  }
  auto gpt2 = Tokenizer::from_directory(dir.string());
  ASSERT_TRUE(gpt2.ok()) << gpt2.error().message;
  EXPECT_EQ(*gpt2->encode("abab", false), (std::vector<std::int32_t>{2, 2}));
  EXPECT_EQ(gpt2->eos_id(), std::optional<std::int32_t>(3));
  EXPECT_TRUE(gpt2->is_special(3));
  EXPECT_EQ(gpt2->decode(std::vector<std::int32_t>{2, 3}, true), "ab");
  { std::ofstream(dir / "vocab.bpe") << "#version: 0.2\na b c\n"; }
  auto bad = Tokenizer::from_directory(dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("vocab.bpe: line 2"), std::string::npos)
      << bad.error().message;
  { std::ofstream(dir / "tokenizer.json") << tiny("tiny_prefix"); }
  auto hf = Tokenizer::from_directory(dir.string());
  ASSERT_TRUE(hf.ok()) << hf.error().message;
  EXPECT_TRUE(hf->token_to_id("<s>").has_value());
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(Tokenizer::from_directory(dir.string()).ok());
}

TEST(StreamDecoder, HoldsBackAnUnfinishedCharacterUntilItCompletes) {
  auto t = Tokenizer::from_json(tiny("tiny_bytelevel"));
  ASSERT_TRUE(t.ok());
  // "€" is three bytes; in this tiny vocabulary each is its own token.
  auto ids = t->encode(
      "a\xE2\x82\xAC"
      "b",
      false);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 5U);
  StreamDecoder s(*t, false);
  EXPECT_EQ(s.push((*ids)[0]), "a");
  EXPECT_EQ(s.push((*ids)[1]), "");
  EXPECT_EQ(s.push((*ids)[2]), "");
  EXPECT_EQ(s.push((*ids)[3]), "\xE2\x82\xAC");
  EXPECT_EQ(s.push((*ids)[4]), "b");
  EXPECT_EQ(s.finish(), "");
  // Cut off mid-character: finish() says so with one U+FFFD, as decode() does.
  EXPECT_EQ(s.push((*ids)[1]), "");
  EXPECT_EQ(s.push((*ids)[2]), "");
  EXPECT_EQ(s.finish(), "\xEF\xBF\xBD");
  EXPECT_EQ(t->decode(std::vector<std::int32_t>{(*ids)[1], (*ids)[2]}, false), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace hix::tok
