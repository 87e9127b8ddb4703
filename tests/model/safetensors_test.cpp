// The safetensors reader and writer: round trips, and every class of
// malformed header rejected with its own message.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "model.hpp"

namespace hix::model {
namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// The header length a file image declares, when not its header's own (0).
struct DeclaredLength {
  std::uint64_t value = 0;
};

// A file image: the header JSON (length prefixed) then `data` bytes.
std::vector<std::byte> image(std::string_view header, std::size_t data,
                             DeclaredLength declared = {}) {
  std::uint64_t len = declared.value;
  if (len == 0) len = header.size();
  std::vector<std::byte> f(8);
  for (std::size_t i = 0; i < 8; ++i) f[i] = static_cast<std::byte>((len >> (8 * i)) & 0xFF);
  const auto h = bytes_of(header);
  f.insert(f.end(), h.begin(), h.end());
  f.resize(f.size() + data, std::byte{0x5A});
  return f;
}

TEST(Safetensors, RoundTripsThroughAFile) {
  std::vector<TensorData> ts;
  ts.push_back({"a.weight", DType::f32, {2, 3}, std::vector<std::byte>(24, std::byte{1})});
  ts.push_back({"b \"quoted\"\n", DType::bf16, {5}, std::vector<std::byte>(10, std::byte{2})});
  ts.push_back({"c", DType::f16, {1, 1, 3}, std::vector<std::byte>(6, std::byte{3})});
  ts.push_back({"empty", DType::f32, {0, 4}, {}});
  const auto path = std::filesystem::temp_directory_path() / "hix_st_roundtrip.safetensors";
  ASSERT_TRUE(write_safetensors(path, ts, {{"format", "pt"}}).ok());
  auto f = SafetensorsFile::open(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(f.ok()) << f.why();
  EXPECT_EQ(f->header().data_start % 8, 0u);
  ASSERT_EQ(f->header().tensors.size(), ts.size());
  ASSERT_EQ(f->header().metadata.size(), 1u);
  EXPECT_EQ(f->header().metadata[0].second, "pt");
  for (const auto& t : ts) {
    const TensorInfo* info = f->header().find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->dtype, t.dtype);
    EXPECT_EQ(info->shape, t.shape);
    const auto d = f->data(*info);
    EXPECT_TRUE(std::equal(d.begin(), d.end(), t.bytes.begin(), t.bytes.end())) << t.name;
  }
  // The in-memory image parses to the same header.
  auto img = serialize_safetensors(ts);
  ASSERT_TRUE(img.ok());
  EXPECT_TRUE(parse_safetensors(*img).ok());
}

TEST(Safetensors, StreamsASeededCheckpoint) {
  auto cfg = preset("tiny-llama");
  ASSERT_TRUE(cfg.ok());
  SeededSource src(*cfg, SeededOptions{});
  const auto path = std::filesystem::temp_directory_path() / "hix_st_seeded.safetensors";
  ASSERT_TRUE(write_safetensors(path, src).ok());
  auto f = SafetensorsSource::open(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(f.ok()) << f.why();
  EXPECT_EQ((*f)->names(), src.names());
  for (const auto& n : src.names()) {
    auto a = src.get(n);
    auto b = (*f)->get(n);
    ASSERT_TRUE(a.ok() && b.ok()) << n;
    EXPECT_TRUE(std::ranges::equal(a->bytes(), b->bytes())) << n;
  }
  // Deterministic per (seed, name); another seed differs.
  SeededOptions other;
  other.seed = 2;
  auto x = SeededSource(*cfg, SeededOptions{}).get("model.norm.weight");
  auto y = SeededSource(*cfg, other).get("model.norm.weight");
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_FALSE(std::ranges::equal(x->bytes(), y->bytes()));
}

struct Bad {
  const char* what;
  std::vector<std::byte> file;
  const char* message;  // a piece of the expected error
};

TEST(Safetensors, RejectsEveryMalformedHeaderClass) {
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  ASSERT_TRUE(parse_safetensors(image("{" + ok_entry + "}", 8)).ok());
  const std::vector<Bad> cases = {
      {"short file", std::vector<std::byte>(5), "shorter than"},
      {"huge header length", image("{}", 0, DeclaredLength{200ull << 20}), "above the limit"},
      {"header past the end", image("{}", 0, DeclaredLength{64}), "does not fit"},
      {"not json", image("{\"t\":", 0), "json:"},
      {"not an object", image("[1,2]", 0), "not a JSON object"},
      {"trailing garbage", image("{} x", 0), "trailing"},
      {"bad dtype", image(R"({"t":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", 2),
       "unsupported dtype \"I8\""},
      {"f64", image(R"({"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8),
       "unsupported dtype"},
      {"size mismatch", image(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "give 12 bytes but data_offsets span 8"},
      {"outside the file", image("{" + ok_entry + "}", 4), "beyond the data section"},
      {"overlap",
       image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
             12),
       "overlap"},
      {"duplicate", image("{" + ok_entry + "," + ok_entry + "}", 8), "duplicate key"},
      {"negative shape", image(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", 8),
       "not a non-negative integer"},
      {"float offset", image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}})", 8),
       "not a non-negative integer"},
      {"reversed offsets", image(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       "begin > end"},
      {"missing field", image(R"({"t":{"dtype":"F32","shape":[2]}})", 8), "needs dtype"},
      {"unknown field", image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8),
       "unknown field"},
      {"shape overflow",
       image(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       "too large"},
      {"bad metadata", image(R"({"__metadata__":{"a":1}})", 0), "__metadata__"},
      {"deep nesting", image(std::string(100, '[') + std::string(100, ']'), 0), "too deep"},
      {"bad escape", image(R"({"t\q":1})", 0), "bad escape"},
      {"lone surrogate", image(R"({"\ud800":1})", 0), "surrogate"},
  };
  for (const auto& c : cases) {
    auto r = parse_safetensors(c.file);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_NE(r.why().find(c.message), std::string::npos) << c.what << ": " << r.why();
  }
  EXPECT_FALSE(SafetensorsFile::open("/nonexistent/x.safetensors").ok());
}

TEST(Json, ParsesEscapesAndNumbers) {
  auto j = parse_json(R"( {"s":"a\"b\\c\u00e9\ud83d\ude00\n","n":-1.5e3,"u":18446744073709551615,
                           "big":18446744073709551616,"t":true,"z":null,"a":[]} )");
  ASSERT_TRUE(j.ok()) << j.why();
  EXPECT_EQ(j->find("s")->string, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80\n");
  EXPECT_EQ(j->find("n")->number, -1500.0);
  EXPECT_FALSE(j->find("n")->is_uint);
  EXPECT_TRUE(j->find("u")->is_uint);
  EXPECT_EQ(j->find("u")->uint, UINT64_MAX);
  EXPECT_FALSE(j->find("big")->is_uint);
  EXPECT_TRUE(j->find("t")->boolean);
  for (const char* bad : {"", "01", "1.", "-", "[1,]", "{\"a\" 1}", "\"\x01\"", "nul", "1e999"}) {
    EXPECT_FALSE(parse_json(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace hix::model
