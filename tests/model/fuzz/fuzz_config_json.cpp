// libFuzzer target: Hugging Face config.json text. A config that parses
// must also validate.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The fuzzer's bytes are the config's text.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = hix::model::parse_config_json(text);
  if (c && !hix::model::validate(*c)) std::abort();
  return 0;
}
