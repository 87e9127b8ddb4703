// The tokenizer's pieces on their own: GPT-2's byte alphabet, UTF-8 and its
// lossy conversion, the Oniguruma-to-PCRE2 regex layer, BPE merging and
// added-token splitting.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "added_tokens.hpp"
#include "bpe.hpp"
#include "byte_level.hpp"
#include "regex.hpp"
#include "utf8.hpp"

namespace hix::tok {
namespace {

TEST(ByteLevel, MapsEveryByteToADistinctPrintableCodePointAndBack) {
  std::set<char32_t> seen;
  for (unsigned b = 0; b < 256; ++b) {
    const char32_t c = byte_to_char(static_cast<std::uint8_t>(b));
    EXPECT_TRUE(seen.insert(c).second) << b;
    EXPECT_FALSE(is_white_space(c)) << b;
    ASSERT_TRUE(char_to_byte(c).has_value()) << b;
    EXPECT_EQ(*char_to_byte(c), b);
  }
  EXPECT_EQ(byte_to_char('A'), U'A');
  EXPECT_EQ(byte_to_char(' '), U'\u0120');   // GPT-2's "Ġ"
  EXPECT_EQ(byte_to_char('\n'), U'\u010A');  // "Ċ"
  EXPECT_EQ(byte_to_char(0xAD), U'\u0143');  // the last shifted byte
  EXPECT_FALSE(char_to_byte(U'\u0144').has_value());
  EXPECT_EQ(byte_level_encode(" a\n"),
            "\xC4\xA0"
            "a\xC4\x8A");
}

TEST(ByteLevel, DecodesATokenOutsideTheAlphabetAsItsOwnText) {
  std::string out;
  byte_level_decode_token("\xC4\xA0hi", out);  // "Ġhi"
  EXPECT_EQ(out, " hi");
  out.clear();
  byte_level_decode_token("<|x|>\xE2\x82\xAC", out);  // "€" is not in the alphabet
  EXPECT_EQ(out, "<|x|>\xE2\x82\xAC");
}

TEST(Utf8, RejectsOverlongsSurrogatesAndTruncation) {
  EXPECT_TRUE(utf8_valid("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_TRUE(utf8_valid("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_EQ(utf8_valid_prefix("ab\xC0\x80"), 2U);
  EXPECT_EQ(utf8_valid_prefix("\xED\xA0\x80"), 0U);  // a surrogate
  EXPECT_EQ(utf8_valid_prefix("x\xE2\x82"), 1U);
  EXPECT_EQ(utf8_valid_prefix("\xF4\x90\x80\x80"), 0U);  // above U+10FFFF
}

TEST(Utf8, LossyConversionReplacesEachMaximalInvalidSubpartOnce) {
  const std::string r = "\xEF\xBF\xBD";
  const auto lossy = [](std::string_view s) {
    std::string out;
    (void)utf8_append_lossy(out, s, false);
    return out;
  };
  EXPECT_EQ(lossy("a\xE2\x82"
                  "b"),
            "a" + r + "b");                     // one unfinished sequence
  EXPECT_EQ(lossy("\xF0\x80\x80"), r + r + r);  // F0 80 is not a prefix
  EXPECT_EQ(lossy("\xED\xA0\x80"), r + r + r);  // surrogates are not prefixes
  EXPECT_EQ(lossy("\xF0\x9F\x98"), r);          // truncated at the end
  EXPECT_EQ(lossy("\xC3\xA9\xFF"), "\xC3\xA9" + r);
}

TEST(Utf8, HoldsBackOnlyAValidUnfinishedTail) {
  std::string out;
  EXPECT_EQ(utf8_append_lossy(out, "ok\xF0\x9F\x98", true), 3U);
  EXPECT_EQ(out, "ok");
  out.clear();
  EXPECT_EQ(utf8_append_lossy(out, "ok\xF0\x28", true), 0U);  // invalid: not held
  EXPECT_EQ(out, "ok\xEF\xBF\xBD(");
}

TEST(Utf8, WhiteSpaceAndWordClassesFollowUnicode) {
  for (const char32_t c : {U' ', U'\t', U'\u0085', U'\u00A0', U'\u2028', U'\u3000', U'\u1680'}) {
    EXPECT_TRUE(is_white_space(c)) << static_cast<unsigned>(c);
  }
  for (const char32_t c : {U'\u180E', U'\u200B', U'\uFEFF', U'a'}) {
    EXPECT_FALSE(is_white_space(c)) << static_cast<unsigned>(c);
  }
  for (const char32_t c : {U'a', U'_', U'\u00E9', U'\u0301', U'\u0663', U'\u200D', U'\u65E5'}) {
    EXPECT_TRUE(is_word_char(c)) << static_cast<unsigned>(c);
  }
  for (const char32_t c : {U' ', U'-', U'\u00BD', U'\U0001F600'}) {
    EXPECT_FALSE(is_word_char(c)) << static_cast<unsigned>(c);
  }
}

// An Oniguruma pattern, as tokenizer.json writes it (the subject text is a
// plain string_view).
struct OnigPattern {
  std::string_view source;
};

std::vector<Span> matches(OnigPattern pattern, std::string_view text) {
  auto re = Regex::compile(pattern.source, Syntax::oniguruma);
  EXPECT_TRUE(re.ok()) << re.error().message;
  std::vector<Span> out;
  if (re.ok()) {
    EXPECT_TRUE(re->find_all(text, out).ok());
  }
  return out;
}

TEST(Regex, RewritesTheConstructsThatDifferBetweenOnigurumaAndPcre2) {
  auto s = onig_to_pcre2(R"(\s+(?!\S)|[^\s\p{L}]\h(?m:.)\u00e9)");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->find("\\s"), std::string::npos);
  EXPECT_EQ(s->find("\\h"), std::string::npos);
  EXPECT_NE(s->find("(?s:"), std::string::npos);
  EXPECT_NE(s->find("\\x{00e9}"), std::string::npos);
  EXPECT_NE(s->find("[^\\t-\\r"), std::string::npos);  // \S as a negated White_Space class
}

TEST(Regex, RefusesWhatItCannotTranslate) {
  for (const char* p : {"[a[b]]", "[a-z&&[^aeiou]]", "[\\S]", "[abc", "x\\", "\\u12"}) {
    EXPECT_FALSE(onig_to_pcre2(p).ok()) << p;
  }
  EXPECT_FALSE(Regex::compile("(unclosed", Syntax::oniguruma).ok());
}

TEST(Regex, MatchesWhiteSpaceAsOnigurumaDoes) {
  // U+180E is no longer White_Space; PCRE2's own \s would still match it.
  EXPECT_TRUE(matches(OnigPattern{R"(\s)"}, "\xE1\xA0\x8E").empty());
  EXPECT_EQ(matches(OnigPattern{R"(\s)"}, "\xC2\x85").size(), 1U);      // NEL
  EXPECT_EQ(matches(OnigPattern{R"(\s)"}, "\xE3\x80\x80").size(), 1U);  // ideographic space
  EXPECT_EQ(matches(OnigPattern{R"(\h+)"}, "xyz0fF").size(), 1U);       // Ruby's \h: hex digits
}

TEST(Regex, SkipsAnEmptyMatchWhereThePreviousMatchEnded) {
  const std::vector<Span> want = {{0, 0}, {1, 3}};
  EXPECT_EQ(matches(OnigPattern{"a*"}, "baa"), want);
  const std::vector<Span> multi = {{0, 0}, {2, 2}};  // one code point steps over two bytes
  EXPECT_EQ(matches(OnigPattern{"x*"}, "\xC3\xA9"), multi);
}

TEST(Regex, LiteralPatternsMatchTheirTextOnly) {
  auto re = Regex::compile("a.b", Syntax::literal);
  ASSERT_TRUE(re.ok());
  std::vector<Span> out;
  ASSERT_TRUE(re->find_all("axb a.b", out).ok());
  const std::vector<Span> want = {{4, 7}};
  EXPECT_EQ(out, want);
}

Bpe make_bpe(const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions o = {}) {
  Vocab v = {{"a", 0},  {"b", 1},   {"c", 2},     {"ab", 3},
             {"bc", 4}, {"abc", 5}, {"<unk>", 6}, {"<0x7A>", 7}};
  auto bpe = Bpe::create(std::move(v), merges, std::move(o));
  EXPECT_TRUE(bpe.ok()) << bpe.error().message;
  return std::move(*bpe);
}

std::vector<std::int32_t> run(const Bpe& bpe, std::string_view word) {
  std::vector<std::int32_t> out;
  bpe.tokenize(word, out);
  return out;
}

TEST(Bpe, MergesTheLowestRankedPairFirst) {
  using Ids = std::vector<std::int32_t>;
  EXPECT_EQ(run(make_bpe({{"a", "b"}, {"b", "c"}, {"ab", "c"}}), "abc"), Ids{5});
  EXPECT_EQ(run(make_bpe({{"b", "c"}, {"a", "b"}, {"ab", "c"}}), "abc"), (Ids{0, 4}));
  EXPECT_EQ(run(make_bpe({{"a", "b"}}), "ababa"), (Ids{3, 3, 0}));
  EXPECT_EQ(run(make_bpe({}), "cab"), (Ids{2, 0, 1}));
}

TEST(Bpe, IgnoreMergesTakesAWholeWordFromTheVocabulary) {
  using Ids = std::vector<std::int32_t>;
  BpeOptions o;
  o.ignore_merges = true;
  EXPECT_EQ(run(make_bpe({{"b", "c"}}, o), "abc"), Ids{5});
  EXPECT_EQ(run(make_bpe({{"b", "c"}}), "abc"), (Ids{0, 4}));
}

TEST(Bpe, UnknownCodePointsFallBackToBytesThenToTheUnknownToken) {
  using Ids = std::vector<std::int32_t>;
  BpeOptions o;
  o.unk_token = "<unk>";
  EXPECT_EQ(run(make_bpe({}, o), "azzb"), (Ids{0, 6, 6, 1}));
  o.fuse_unk = true;
  EXPECT_EQ(run(make_bpe({}, o), "azzb"), (Ids{0, 6, 1}));
  o.byte_fallback = true;
  EXPECT_EQ(run(make_bpe({}, o), "azy"), (Ids{0, 7, 6}));  // z as <0x7A>; y has no byte token
  EXPECT_EQ(run(make_bpe({}), "azb"), (Ids{0, 1}));        // no unk: dropped, as tokenizers does
}

TEST(Bpe, RefusesMergesOutsideTheVocabulary) {
  auto bad = Bpe::create(Vocab{{"a", 0}, {"b", 1}}, {{"a", "b"}}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("model.merges[0]"), std::string::npos);
  EXPECT_FALSE(Bpe::create(Vocab{{"a", 0}}, {{"a", "q"}}, {}).ok());
  BpeOptions o;
  o.unk_token = "<missing>";
  EXPECT_FALSE(Bpe::create(Vocab{{"a", 0}}, {}, o).ok());
}

AddedToken token(std::int32_t id, std::string content) {
  AddedToken t;
  t.id = id;
  t.content = std::move(content);
  return t;
}

std::vector<std::string> pieces(const AddedTokenMatcher& m, std::string_view text) {
  std::vector<std::string> out;
  for (const Segment& s : m.split(text)) {
    out.push_back((s.id ? "#" + std::to_string(*s.id) + ":" : std::string()) +
                  std::string(text.substr(s.begin, s.end - s.begin)));
  }
  return out;
}

TEST(AddedTokens, MatchLeftmostLongest) {
  const AddedTokenMatcher m({token(1, "<a>"), token(2, "<a><b>"), token(3, "b>")},
                            {"<a>", "<a><b>", "b>"});
  EXPECT_EQ(pieces(m, "x<a><b>y<a>b>"),
            (std::vector<std::string>{"x", "#2:<a><b>", "y", "#1:<a>", "#3:b>"}));
  EXPECT_EQ(pieces(m, ""), (std::vector<std::string>{""}));
}

TEST(AddedTokens, LstripAndRstripSwallowTheWhitespaceBesideThem) {
  AddedToken l = token(1, "<l>");
  l.lstrip = true;
  AddedToken r = token(2, "<r>");
  r.rstrip = true;
  const AddedTokenMatcher m({l, r}, {"<l>", "<r>"});
  EXPECT_EQ(pieces(m, "a \t<l> b"), (std::vector<std::string>{"a", "#1: \t<l>", " b"}));
  EXPECT_EQ(pieces(m, "a <r>\u3000 b"), (std::vector<std::string>{"a ", "#2:<r>\u3000 ", "b"}));
  // The left strip stops where the previous token ended.
  EXPECT_EQ(pieces(m, "<r>  <l>"), (std::vector<std::string>{"#2:<r>  ", "#1:<l>"}));
}

TEST(AddedTokens, SingleWordTokensMatchOnlyBetweenNonWordCharacters) {
  AddedToken w = token(1, "cat");
  w.single_word = true;
  const AddedTokenMatcher m({w}, {"cat"});
  EXPECT_EQ(pieces(m, "a cat!"), (std::vector<std::string>{"a ", "#1:cat", "!"}));
  EXPECT_EQ(pieces(m, "concat cats"), (std::vector<std::string>{"concat cats"}));
  EXPECT_EQ(pieces(m, "\u00e9cat"), (std::vector<std::string>{"\u00e9cat"}));
}

}  // namespace
}  // namespace hix::tok
