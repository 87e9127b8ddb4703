// libFuzzer target: tokenizer.json text (and, after a NUL byte, a
// tokenizer_config.json). A file that loads must encode and decode a few
// fixed texts without failing its own invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The fuzzer's bytes are the files' text.
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = all.find('\0');
  const std::string_view json = all.substr(0, nul);
  const std::string_view config =
      nul == std::string_view::npos ? std::string_view{} : all.substr(nul + 1);
  auto t = hix::tok::Tokenizer::from_json(json, hix::tok::ConfigJson{config});
  if (!t) return 0;
  for (const std::string_view text :
       {"Hello world", " it's 123 <s> \xC3\xA9\xF0\x9F\x98\x80\n\n", ""}) {
    auto ids = t->encode(text, true);
    if (!ids) continue;  // a pattern may hit its match limit
    for (const std::int32_t id : *ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= t->vocab_size()) std::abort();
    }
    hix::tok::StreamDecoder s(*t, false);
    std::string streamed;
    for (const std::int32_t id : *ids) streamed += s.push(id);
    streamed += s.finish();
    if (streamed != t->decode(*ids, false)) std::abort();
  }
  return 0;
}
