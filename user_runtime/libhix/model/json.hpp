// A small strict JSON parser for the subsets the model compiler reads: the
// safetensors header and Hugging Face config.json (objects, arrays, strings
// with escapes, numbers, true/false/null). Bounded depth and size, never
// crashes on hostile input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "result.hpp"

namespace hix::model {

struct JsonMember;

struct JsonValue {
  enum class Kind : std::uint8_t { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  double number = 0;
  // A number written as a non-negative integer without fraction or exponent
  // that fits 64 bits (safetensors offsets and shapes must be exact).
  bool is_uint = false;
  std::uint64_t uint = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<JsonMember> object;  // in document order

  // The member named `key` of an object, or nullptr.
  const JsonValue* find(std::string_view key) const;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

constexpr std::size_t kJsonMaxDepth = 64;

// Parses one JSON document (surrounding whitespace allowed). Duplicate
// object keys are rejected.
Result<JsonValue> parse_json(std::string_view text);

// Writing JSON: `s` as a string literal (UTF-8 passed through, control
// characters escaped), and a number ("null" when not finite; `digits`
// significant digits).
std::string json_quote(std::string_view s);
std::string json_number(double v, int digits = 9);

}  // namespace hix::model
