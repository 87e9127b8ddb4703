// libFuzzer target: text to encode() with the committed tiny_bytelevel.json
// (NFC, a Split pattern, ByteLevel, added tokens with every rule, a
// template). Valid UTF-8 must encode; invalid must be refused; every id is in
// range; streaming decode equals decode.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "tokenizer.hpp"
#include "utf8.hpp"

namespace {

const hix::tok::Tokenizer& tokenizer() {
  static const hix::tok::Tokenizer t = [] {
    std::ifstream f(HIX_TOKENIZER_TINY, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    auto r = hix::tok::Tokenizer::from_json(s.str());
    if (!r) std::abort();  // the committed file must load
    return std::move(*r);
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The fuzzer's bytes are the text.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const hix::tok::Tokenizer& t = tokenizer();
  auto ids = t.encode(text, true);
  if (ids.ok() != hix::tok::utf8_valid(text)) std::abort();
  if (!ids) return 0;
  for (const std::int32_t id : *ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= t.vocab_size()) std::abort();
  }
  for (const bool skip : {false, true}) {
    hix::tok::StreamDecoder s(t, skip);
    std::string streamed;
    for (const std::int32_t id : *ids) streamed += s.push(id);
    streamed += s.finish();
    if (streamed != t.decode(*ids, skip)) std::abort();
  }
  return 0;
}
