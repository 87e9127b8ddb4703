// A small strict JSON parser (RFC 8259 syntax) for safetensors headers and
// config.json: recursive descent with a depth bound, every error a message
// with its byte offset.
#include "json.hpp"

#include "hix/utf8.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace hix::model {

const JsonValue* JsonValue::find(std::string_view key) const {
  if (kind != Kind::object) return nullptr;
  for (const auto& [k, v] : object) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<JsonValue> document() {
    skip_ws();
    JsonValue v;
    if (!value(v, 0)) return fail(err_);
    skip_ws();
    if (i_ != s_.size()) return fail(at("trailing characters after the JSON value"));
    return v;
  }

 private:
  std::string at(const std::string& what) const {
    return "json: " + what + " at byte " + std::to_string(i_);
  }
  bool error(const std::string& what) {
    if (err_.empty()) err_ = at(what);
    return false;
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return error("invalid literal");
    i_ += word.size();
    return true;
  }

  bool value(JsonValue& v, std::size_t depth) {
    if (depth >= kJsonMaxDepth) return error("nesting too deep");
    if (i_ >= s_.size()) return error("unexpected end of input");
    switch (s_[i_]) {
      case '{':
        return object(v, depth);
      case '[':
        return array(v, depth);
      case '"':
        v.kind = JsonValue::Kind::string;
        return string(v.string);
      case 't':
        v.kind = JsonValue::Kind::boolean;
        v.boolean = true;
        return literal("true");
      case 'f':
        v.kind = JsonValue::Kind::boolean;
        v.boolean = false;
        return literal("false");
      case 'n':
        v.kind = JsonValue::Kind::null;
        return literal("null");
      default:
        return number(v);
    }
  }

  bool object(JsonValue& v, std::size_t depth) {
    v.kind = JsonValue::Kind::object;
    ++i_;  // '{'
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return error("expected a string key");
      std::string key;
      if (!string(key)) return false;
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return error("expected ':'");
      ++i_;
      skip_ws();
      JsonValue member;
      if (!value(member, depth + 1)) return false;
      v.object.push_back(JsonMember{std::move(key), std::move(member)});
      skip_ws();
      if (i_ >= s_.size()) return error("unterminated object");
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == '}') {
        ++i_;
        return unique_keys(v);
      }
      return error("expected ',' or '}'");
    }
  }

  // Duplicate keys are checked once the object is complete: sorting views
  // of its keys costs no allocation per key (vocabularies have 150k).
  bool unique_keys(const JsonValue& v) {
    std::vector<std::string_view> keys;
    keys.reserve(v.object.size());
    for (const auto& m : v.object) keys.emplace_back(m.key);
    std::sort(keys.begin(), keys.end());
    const auto dup = std::adjacent_find(keys.begin(), keys.end());
    if (dup != keys.end()) return error("duplicate key \"" + std::string(*dup) + "\"");
    return true;
  }

  bool array(JsonValue& v, std::size_t depth) {
    v.kind = JsonValue::Kind::array;
    ++i_;  // '['
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      JsonValue e;
      if (!value(e, depth + 1)) return false;
      v.array.push_back(std::move(e));
      skip_ws();
      if (i_ >= s_.size()) return error("unterminated array");
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == ']') {
        ++i_;
        return true;
      }
      return error("expected ',' or ']'");
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(std::uint32_t& out) {
    if (s_.size() - i_ < 4) return error("truncated \\u escape");
    out = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const int d = hex(s_[i_ + j]);
      if (d < 0) return error("bad hex digit in \\u escape");
      out = out * 16 + static_cast<std::uint32_t>(d);
    }
    i_ += 4;
    return true;
  }
  bool string(std::string& out) {
    ++i_;  // '"'
    for (;;) {
      if (i_ >= s_.size()) return error("unterminated string");
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return error("control character in string");
      if (c != '\\') {
        // A run of plain characters in one append.
        std::size_t j = i_ + 1;
        while (j < s_.size() && s_[j] != '"' && s_[j] != '\\' &&
               static_cast<unsigned char>(s_[j]) >= 0x20)
          ++j;
        out.append(s_.substr(i_, j - i_));
        i_ = j;
        continue;
      }
      ++i_;
      if (i_ >= s_.size()) return error("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            std::uint32_t lo = 0;
            if (s_.substr(i_, 2) != "\\u") return error("unpaired surrogate");
            i_ += 2;
            if (!hex4(lo)) return false;
            if (lo < 0xDC00 || lo >= 0xE000) return error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return error("unpaired surrogate");
          }
          utf8_append(out, static_cast<char32_t>(cp));
          break;
        }
        default:
          return error("bad escape");
      }
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number(JsonValue& v) {
    v.kind = JsonValue::Kind::number;
    const std::size_t start = i_;
    bool negative = false, integral = true;
    if (s_[i_] == '-') {
      negative = true;
      ++i_;
    }
    if (i_ >= s_.size() || !digit(s_[i_])) return error("invalid value");
    if (s_[i_] == '0') {
      ++i_;
      if (i_ < s_.size() && digit(s_[i_])) return error("leading zero in number");
    } else {
      while (i_ < s_.size() && digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      integral = false;
      ++i_;
      if (i_ >= s_.size() || !digit(s_[i_])) return error("digit expected after '.'");
      while (i_ < s_.size() && digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false;
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size() || !digit(s_[i_])) return error("digit expected in exponent");
      while (i_ < s_.size() && digit(s_[i_])) ++i_;
    }
    const std::string_view text = s_.substr(start, i_ - start);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v.number);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v.number)) {
      return error("number out of range");
    }
    if (integral && !negative) {
      std::uint64_t u = 0;
      bool fits = true;
      for (const char c : text) {
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (u > (UINT64_MAX - d) / 10) {
          fits = false;
          break;
        }
        u = u * 10 + d;
      }
      v.is_uint = fits;
      v.uint = fits ? u : 0;
    }
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string err_;
};

}  // namespace

Result<JsonValue> parse_json(std::string_view text) {
  return Parser(text).document();
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_number(double v, int digits) {
  if (!std::isfinite(v)) return "null";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

}  // namespace hix::model
