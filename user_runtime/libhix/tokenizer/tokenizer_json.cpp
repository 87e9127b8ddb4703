// Loading tokenizer.json (Hugging Face tokenizers' serialization, version
// "1.0"), tokenizer_config.json (transformers) and GPT-2's encoder.json +
// vocab.bpe into the pipeline of pipeline.hpp. Strict: an unknown key or a
// component type we do not run is an error naming its path, never a default
// (docs/specs/tokenizer.md).
#include <algorithm>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>

#include "byte_level.hpp"
#include "json.hpp"
#include "pipeline.hpp"
#include "tokenizer.hpp"

namespace hix::tok {
namespace {

using model::JsonValue;
using Kind = JsonValue::Kind;

// Files larger than this are refused before they are read.
constexpr std::size_t kMaxFileBytes = std::size_t{64} << 20;
// Ids may leave gaps, but not many: the id table is dense.
constexpr std::size_t kMaxIdGap = 1024;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::null:
      return "null";
    case Kind::boolean:
      return "a boolean";
    case Kind::number:
      return "a number";
    case Kind::string:
      return "a string";
    case Kind::array:
      return "an array";
    case Kind::object:
      return "an object";
  }
  return "?";
}

Error type_error(const std::string& where, const char* want, const JsonValue& v) {
  return fail(where + ": expected " + want + ", found " + kind_name(v.kind));
}

// Every key of `obj` is one of `keys`.
Check only_keys(const JsonValue& obj, const std::string& where,
                std::initializer_list<std::string_view> keys) {
  for (const auto& m : obj.object) {
    if (std::find(keys.begin(), keys.end(), m.key) == keys.end()) {
      return fail(where + "." + m.key + ": not supported (unknown field)");
    }
  }
  return Unit{};
}

Result<const JsonValue*> member(const JsonValue& obj, std::string_view key,
                                const std::string& where) {
  const JsonValue* v = obj.find(key);
  if (v == nullptr) return fail(where + "." + std::string(key) + ": missing");
  return v;
}

Result<bool> get_bool(const JsonValue& obj, std::string_view key, const std::string& where,
                      std::optional<bool> fallback = std::nullopt) {
  const JsonValue* v = obj.find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return fail(where + "." + std::string(key) + ": missing");
  }
  if (v->kind != Kind::boolean) return type_error(where + "." + std::string(key), "a boolean", *v);
  return v->boolean;
}

Result<std::string> get_string(const JsonValue& obj, std::string_view key,
                               const std::string& where) {
  auto v = member(obj, key, where);
  if (!v) return v.error();
  if ((*v)->kind != Kind::string)
    return type_error(where + "." + std::string(key), "a string", **v);
  return (*v)->string;
}

// A key whose value may be null (or absent): nullopt then.
Result<std::optional<std::string>> get_optional_string(const JsonValue& obj, std::string_view key,
                                                       const std::string& where) {
  const JsonValue* v = obj.find(key);
  if (v == nullptr || v->kind == Kind::null) return std::optional<std::string>{};
  if (v->kind != Kind::string)
    return type_error(where + "." + std::string(key), "a string or null", *v);
  return std::optional<std::string>(v->string);
}

Result<std::int32_t> to_id(const JsonValue& v, const std::string& where) {
  if (v.kind != Kind::number || !v.is_uint ||
      v.uint > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    return fail(where + ": expected a token id (an integer from 0 to 2^31-1)");
  }
  return static_cast<std::int32_t>(v.uint);
}

Result<std::string> get_type(const JsonValue& v, const std::string& where) {
  if (v.kind != Kind::object) return type_error(where, "an object", v);
  return get_string(v, "type", where);
}

// ---- normalizer ------------------------------------------------------------

Check load_normalizer(const JsonValue& v, const std::string& where, std::vector<NormalForm>& out) {
  if (v.kind == Kind::null) return Unit{};
  auto type = get_type(v, where);
  if (!type) return type.error();
  if (*type == "Sequence") {
    if (auto r = only_keys(v, where, {"type", "normalizers"}); !r) return r;
    auto list = member(v, "normalizers", where);
    if (!list) return list.error();
    if ((*list)->kind != Kind::array) return type_error(where + ".normalizers", "an array", **list);
    for (std::size_t i = 0; i < (*list)->array.size(); ++i) {
      const std::string w = where + ".normalizers[" + std::to_string(i) + "]";
      if ((*list)->array[i].kind == Kind::null) return fail(w + ": expected an object, found null");
      if (auto r = load_normalizer((*list)->array[i], w, out); !r) return r;
    }
    return Unit{};
  }
  static constexpr std::pair<std::string_view, NormalForm> kForms[] = {{"NFC", NormalForm::nfc},
                                                                       {"NFD", NormalForm::nfd},
                                                                       {"NFKC", NormalForm::nfkc},
                                                                       {"NFKD", NormalForm::nfkd}};
  for (const auto& [name, form] : kForms) {
    if (*type == name) {
      if (auto r = only_keys(v, where, {"type"}); !r) return r;
      out.push_back(form);
      return Unit{};
    }
  }
  return fail(where + ".type: normalizer \"" + *type + "\" is not supported");
}

// ---- pre_tokenizer ---------------------------------------------------------

Result<ByteLevelStep> load_byte_level(const JsonValue& v, const std::string& where) {
  if (auto r = only_keys(v, where, {"type", "add_prefix_space", "trim_offsets", "use_regex"}); !r) {
    return r.error();
  }
  auto prefix = get_bool(v, "add_prefix_space", where);
  if (!prefix) return prefix.error();
  // trim_offsets only moves offsets, which we do not report; it must be there
  // (as serde requires) but changes no id.
  auto trim = get_bool(v, "trim_offsets", where);
  if (!trim) return trim.error();
  auto regex = get_bool(v, "use_regex", where, true);  // serde default: true
  if (!regex) return regex.error();
  return ByteLevelStep{*prefix, *regex};
}

Result<SplitStep> load_split(const JsonValue& v, const std::string& where) {
  if (auto r = only_keys(v, where, {"type", "pattern", "behavior", "invert"}); !r) return r.error();
  auto pattern = member(v, "pattern", where);
  if (!pattern) return pattern.error();
  const JsonValue& p = **pattern;
  if (p.kind != Kind::object || p.object.size() != 1 || p.object[0].value.kind != Kind::string) {
    return fail(where + ".pattern: expected {\"Regex\": \"...\"} or {\"String\": \"...\"}");
  }
  const std::string& which = p.object[0].key;
  if (which != "Regex" && which != "String") {
    return fail(where + ".pattern." + which + ": not supported (Regex or String)");
  }
  auto regex = Regex::compile(p.object[0].value.string,
                              which == "String" ? Syntax::literal : Syntax::oniguruma);
  if (!regex) return fail(where + ".pattern: " + regex.error().message);
  auto behavior = get_string(v, "behavior", where);
  if (!behavior) return behavior.error();
  static constexpr std::pair<std::string_view, SplitBehavior> kBehaviors[] = {
      {"Removed", SplitBehavior::removed},
      {"Isolated", SplitBehavior::isolated},
      {"MergedWithPrevious", SplitBehavior::merged_with_previous},
      {"MergedWithNext", SplitBehavior::merged_with_next},
      {"Contiguous", SplitBehavior::contiguous}};
  std::optional<SplitBehavior> b;
  for (const auto& [name, value] : kBehaviors) {
    if (*behavior == name) b = value;
  }
  if (!b) return fail(where + ".behavior: \"" + *behavior + "\" is not a split behavior");
  auto invert = get_bool(v, "invert", where);
  if (!invert) return invert.error();
  return SplitStep{std::move(*regex), *b, *invert};
}

Check load_pre_tokenizer(const JsonValue& v, const std::string& where,
                         std::vector<PreTokenizerStep>& out) {
  if (v.kind == Kind::null) return Unit{};
  auto type = get_type(v, where);
  if (!type) return type.error();
  if (*type == "Sequence") {
    if (auto r = only_keys(v, where, {"type", "pretokenizers"}); !r) return r;
    auto list = member(v, "pretokenizers", where);
    if (!list) return list.error();
    if ((*list)->kind != Kind::array)
      return type_error(where + ".pretokenizers", "an array", **list);
    for (std::size_t i = 0; i < (*list)->array.size(); ++i) {
      const std::string w = where + ".pretokenizers[" + std::to_string(i) + "]";
      if ((*list)->array[i].kind == Kind::null) return fail(w + ": expected an object, found null");
      if (auto r = load_pre_tokenizer((*list)->array[i], w, out); !r) return r;
    }
    return Unit{};
  }
  if (*type == "ByteLevel") {
    auto b = load_byte_level(v, where);
    if (!b) return b.error();
    out.emplace_back(*b);
    return Unit{};
  }
  if (*type == "Split") {
    auto s = load_split(v, where);
    if (!s) return s.error();
    out.emplace_back(std::move(*s));
    return Unit{};
  }
  return fail(where + ".type: pre-tokenizer \"" + *type + "\" is not supported");
}

// ---- model -----------------------------------------------------------------

Result<std::vector<std::pair<std::string, std::string>>> load_merges(const JsonValue& v,
                                                                     const std::string& where) {
  if (v.kind != Kind::array) return type_error(where, "an array", v);
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(v.array.size());
  for (std::size_t i = 0; i < v.array.size(); ++i) {
    const JsonValue& e = v.array[i];
    const auto w = [&where, i] { return where + "[" + std::to_string(i) + "]"; };
    if (e.kind == Kind::string) {
      // The legacy "a b" form; "#version" lines are skipped, as tokenizers does.
      if (e.string.starts_with("#version")) continue;
      const std::size_t sp = e.string.find(' ');
      if (sp == std::string::npos || e.string.find(' ', sp + 1) != std::string::npos) {
        return fail(w() + ": expected \"a b\" (two tokens, one space)");
      }
      merges.emplace_back(e.string.substr(0, sp), e.string.substr(sp + 1));
    } else if (e.kind == Kind::array && e.array.size() == 2 && e.array[0].kind == Kind::string &&
               e.array[1].kind == Kind::string) {
      merges.emplace_back(e.array[0].string, e.array[1].string);
    } else {
      return fail(w() + ": expected \"a b\" or [\"a\", \"b\"]");
    }
  }
  return merges;
}

Result<Vocab> load_vocab(const JsonValue& v, const std::string& where) {
  if (v.kind != Kind::object) return type_error(where, "an object", v);
  Vocab vocab;
  vocab.reserve(v.object.size());
  for (const auto& m : v.object) {
    if (m.value.kind != Kind::number || !m.value.is_uint) {
      return to_id(m.value, where + "[\"" + m.key + "\"]")
          .error();  // the message, built on failure only
    }
    auto id = to_id(m.value, where);
    if (!id) return to_id(m.value, where + "[\"" + m.key + "\"]").error();
    vocab.emplace(m.key, *id);
  }
  return vocab;
}

Result<Bpe> load_model(const JsonValue& v, const std::string& where) {
  auto type = get_type(v, where);
  if (!type) return type.error();
  if (*type != "BPE")
    return fail(where + ".type: model \"" + *type + "\" is not supported (only BPE)");
  if (auto r = only_keys(
          v, where,
          {"type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
           "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"});
      !r) {
    return r.error();
  }
  if (const JsonValue* d = v.find("dropout"); d != nullptr && d->kind != Kind::null) {
    if (d->kind != Kind::number) return type_error(where + ".dropout", "a number or null", *d);
    // Dropout makes encode() random; only "no dropout" is deterministic.
    if (d->number != 0.0)
      return fail(where + ".dropout: BPE dropout is not supported (only null or 0)");
  }
  BpeOptions o;
  auto unk = get_optional_string(v, "unk_token", where);
  if (!unk) return unk.error();
  o.unk_token = *unk;
  auto prefix = get_optional_string(v, "continuing_subword_prefix", where);
  if (!prefix) return prefix.error();
  o.continuing_subword_prefix = prefix->value_or("");
  auto suffix = get_optional_string(v, "end_of_word_suffix", where);
  if (!suffix) return suffix.error();
  o.end_of_word_suffix = suffix->value_or("");
  // tokenizers' defaults for these three when absent or null: false.
  for (const auto& [key, flag] : {std::pair<std::string_view, bool*>{"fuse_unk", &o.fuse_unk},
                                  {"byte_fallback", &o.byte_fallback},
                                  {"ignore_merges", &o.ignore_merges}}) {
    const JsonValue* f = v.find(key);
    if (f == nullptr || f->kind == Kind::null) continue;
    if (f->kind != Kind::boolean)
      return type_error(where + "." + std::string(key), "a boolean", *f);
    *flag = f->boolean;
  }
  auto vocab_v = member(v, "vocab", where);
  if (!vocab_v) return vocab_v.error();
  auto vocab = load_vocab(**vocab_v, where + ".vocab");
  if (!vocab) return vocab.error();
  auto merges_v = member(v, "merges", where);
  if (!merges_v) return merges_v.error();
  auto merges = load_merges(**merges_v, where + ".merges");
  if (!merges) return merges.error();
  return Bpe::create(std::move(*vocab), *merges, std::move(o));
}

// ---- post_processor --------------------------------------------------------

Result<Template> load_template(
    const JsonValue& v, const std::string& where,
    const std::vector<std::pair<std::string, std::vector<std::int32_t>>>& specials) {
  if (v.kind != Kind::array) {
    return fail(where + ": expected an array of pieces (the string form is not supported)");
  }
  Template t;
  for (std::size_t i = 0; i < v.array.size(); ++i) {
    const JsonValue& p = v.array[i];
    const std::string w = where + "[" + std::to_string(i) + "]";
    if (p.kind != Kind::object || p.object.size() != 1 || p.object[0].value.kind != Kind::object) {
      return fail(w + ": expected {\"Sequence\": {...}} or {\"SpecialToken\": {...}}");
    }
    const std::string& which = p.object[0].key;
    const JsonValue& body = p.object[0].value;
    std::string bw = w;
    bw += ".";
    bw += which;
    if (auto r = only_keys(body, bw, {"id", "type_id"}); !r) return r.error();
    auto id = get_string(body, "id", bw);
    if (!id) return id.error();
    auto type_id = member(body, "type_id", bw);
    if (!type_id) return type_id.error();
    if ((*type_id)->kind != Kind::number || !(*type_id)->is_uint) {
      return fail(bw + ".type_id: expected a non-negative integer");
    }
    if (which == "Sequence") {
      if (*id != "A")
        return fail(bw + ".id: \"" + *id + "\": a single-sequence template takes only A");
      t.push_back(TemplatePiece{true, {}});
    } else if (which == "SpecialToken") {
      const auto it = std::find_if(specials.begin(), specials.end(),
                                   [&](const auto& s) { return s.first == *id; });
      if (it == specials.end()) return fail(bw + ".id: \"" + *id + "\" is not in special_tokens");
      t.push_back(TemplatePiece{false, it->second});
    } else {
      return fail(bw + ": not a template piece");
    }
  }
  return t;
}

Check load_post_processor(const JsonValue& v, const std::string& where, std::vector<Template>& out,
                          const std::function<bool(std::int32_t)>& id_exists) {
  if (v.kind == Kind::null) return Unit{};
  auto type = get_type(v, where);
  if (!type) return type.error();
  if (*type == "Sequence") {
    if (auto r = only_keys(v, where, {"type", "processors"}); !r) return r;
    auto list = member(v, "processors", where);
    if (!list) return list.error();
    if ((*list)->kind != Kind::array) return type_error(where + ".processors", "an array", **list);
    for (std::size_t i = 0; i < (*list)->array.size(); ++i) {
      const std::string w = where + ".processors[" + std::to_string(i) + "]";
      if (auto r = load_post_processor((*list)->array[i], w, out, id_exists); !r) return r;
    }
    return Unit{};
  }
  if (*type == "ByteLevel") {
    // Offsets only: no id changes.
    auto b = load_byte_level(v, where);
    if (!b) return b.error();
    return Unit{};
  }
  if (*type == "TemplateProcessing") {
    if (auto r = only_keys(v, where, {"type", "single", "pair", "special_tokens"}); !r) return r;
    auto sp = member(v, "special_tokens", where);
    if (!sp) return sp.error();
    if ((*sp)->kind != Kind::object)
      return type_error(where + ".special_tokens", "an object", **sp);
    std::vector<std::pair<std::string, std::vector<std::int32_t>>> specials;
    for (const auto& m : (*sp)->object) {
      const std::string w = where + ".special_tokens." + m.key;
      if (m.value.kind != Kind::object) return type_error(w, "an object", m.value);
      if (auto r = only_keys(m.value, w, {"id", "ids", "tokens"}); !r) return r;
      auto name = get_string(m.value, "id", w);
      if (!name) return name.error();
      if (*name != m.key) return fail(w + ".id: \"" + *name + "\" differs from its key");
      auto ids_v = member(m.value, "ids", w);
      if (!ids_v) return ids_v.error();
      if ((*ids_v)->kind != Kind::array) return type_error(w + ".ids", "an array", **ids_v);
      auto toks_v = member(m.value, "tokens", w);
      if (!toks_v) return toks_v.error();
      if ((*toks_v)->kind != Kind::array || (*toks_v)->array.size() != (*ids_v)->array.size()) {
        return fail(w + ".tokens: expected an array as long as ids");
      }
      std::vector<std::int32_t> ids;
      for (std::size_t i = 0; i < (*ids_v)->array.size(); ++i) {
        auto id = to_id((*ids_v)->array[i], w + ".ids[" + std::to_string(i) + "]");
        if (!id) return id.error();
        if (!id_exists(*id))
          return fail(w + ".ids[" + std::to_string(i) + "]: no token has this id");
        ids.push_back(*id);
      }
      specials.emplace_back(m.key, std::move(ids));
    }
    auto single = member(v, "single", where);
    if (!single) return single.error();
    auto t = load_template(**single, where + ".single", specials);
    if (!t) return t.error();
    // "pair" is checked for shape only: encode() takes one sequence.
    if (auto pair = member(v, "pair", where); !pair) return pair.error();
    out.push_back(std::move(*t));
    return Unit{};
  }
  return fail(where + ".type: post-processor \"" + *type + "\" is not supported");
}

// ---- decoder ---------------------------------------------------------------

Result<DecoderKind> load_decoder(const JsonValue& v, const std::string& where) {
  if (v.kind == Kind::null) return DecoderKind::join_with_spaces;
  auto type = get_type(v, where);
  if (!type) return type.error();
  if (*type == "ByteLevel") {
    auto b = load_byte_level(v, where);
    if (!b) return b.error();
    return DecoderKind::byte_level;
  }
  if (*type == "Sequence") {
    if (auto r = only_keys(v, where, {"type", "decoders"}); !r) return r.error();
    auto list = member(v, "decoders", where);
    if (!list) return list.error();
    if ((*list)->kind != Kind::array || (*list)->array.size() != 1) {
      return fail(where + ".decoders: only a sequence of one ByteLevel decoder is supported");
    }
    auto inner = load_decoder((*list)->array[0], where + ".decoders[0]");
    if (!inner) return inner.error();
    if (*inner != DecoderKind::byte_level) {
      return fail(where + ".decoders[0]: only a ByteLevel decoder is supported in a sequence");
    }
    return DecoderKind::byte_level;
  }
  return fail(where + ".type: decoder \"" + *type + "\" is not supported");
}

// ---- added tokens ----------------------------------------------------------

Result<std::vector<AddedToken>> load_added_tokens(const JsonValue& v, const std::string& where) {
  std::vector<AddedToken> out;
  if (v.kind == Kind::null) return out;
  if (v.kind != Kind::array) return type_error(where, "an array", v);
  for (std::size_t i = 0; i < v.array.size(); ++i) {
    const JsonValue& e = v.array[i];
    const std::string w = where + "[" + std::to_string(i) + "]";
    if (e.kind != Kind::object) return type_error(w, "an object", e);
    if (auto r = only_keys(
            e, w, {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"});
        !r) {
      return r.error();
    }
    AddedToken t;
    auto id = member(e, "id", w);
    if (!id) return id.error();
    auto idv = to_id(**id, w + ".id");
    if (!idv) return idv.error();
    t.id = *idv;
    auto content = get_string(e, "content", w);
    if (!content) return content.error();
    t.content = std::move(*content);
    for (const auto& [key, flag] :
         {std::pair<std::string_view, bool*>{"single_word", &t.single_word},
          {"lstrip", &t.lstrip},
          {"rstrip", &t.rstrip},
          {"normalized", &t.normalized},
          {"special", &t.special}}) {
      auto b = get_bool(e, key, w);
      if (!b) return b.error();
      *flag = *b;
    }
    out.push_back(std::move(t));
  }
  return out;
}

// ---- assembling ------------------------------------------------------------

// Ids, the id table and the matchers from the model and the added tokens,
// with AddedVocabulary's id rule checked against the file's ids.
Check finish(TokenizerImpl& t, std::vector<AddedToken> added) {
  std::int64_t max_id = -1;
  for (const auto& [tok, id] : t.model.vocab()) max_id = std::max<std::int64_t>(max_id, id);
  const std::int64_t model_size = static_cast<std::int64_t>(t.model.vocab().size());
  // tokenizers gives a new added token the next id after the model's
  // vocabulary and the added tokens so far; a file whose ids differ is refused.
  std::int64_t next_id = model_size;
  for (std::size_t i = 0; i < added.size(); ++i) {
    AddedToken& a = added[i];
    const std::string w = "added_tokens[" + std::to_string(i) + "]";
    if (a.content.empty()) return fail(w + ".content: empty");
    if (t.added_by_content.contains(a.content))
      return fail(w + ".content: \"" + a.content + "\" listed twice");
    std::int64_t expected = 0;
    if (const auto m = t.model.token_to_id(a.content)) {
      expected = *m;
    } else {
      expected = next_id++;
    }
    if (expected != a.id) {
      return fail(w + ".id: " + std::to_string(a.id) + ", but tokenizers would give \"" +
                  a.content + "\" id " + std::to_string(expected));
    }
    t.added_by_content.emplace(a.content, a.id);
    max_id = std::max<std::int64_t>(max_id, a.id);
    next_id = std::max(next_id, static_cast<std::int64_t>(a.id) + 1);
  }
  const std::size_t count = t.model.vocab().size() + added.size();
  const auto size = static_cast<std::size_t>(max_id + 1);
  if (size > 2 * count + kMaxIdGap) {
    return fail("ids: the highest id is " + std::to_string(max_id) + " for " +
                std::to_string(count) + " tokens (ids must be nearly dense)");
  }
  t.id_token.assign(size, {});
  t.has_id.assign(size, false);
  t.special.assign(size, false);
  for (const auto& [tok, id] : t.model.vocab()) {
    const auto i = static_cast<std::size_t>(id);
    if (t.has_id[i])
      return fail("model.vocab: id " + std::to_string(id) + " is given to two tokens");
    t.id_token[i] = tok;
    t.has_id[i] = true;
  }
  std::vector<std::string> specials;
  for (const AddedToken& a : added) {
    const auto i = static_cast<std::size_t>(a.id);
    t.id_token[i] = a.content;
    t.has_id[i] = true;
    if (a.special) specials.push_back(a.content);
  }
  // Special is a property of the content (tokenizers' special_tokens_set).
  for (const std::string& s : specials) {
    if (const auto id = t.model.token_to_id(s)) t.special[static_cast<std::size_t>(*id)] = true;
    t.special[static_cast<std::size_t>(t.added_by_content.at(s))] = true;
  }
  // The matchers: special tokens first, then the others (tokenizers' order).
  std::vector<AddedToken> raw;
  std::vector<AddedToken> normalized;
  std::vector<std::string> raw_patterns;
  std::vector<std::string> normalized_patterns;
  for (const bool want_special : {true, false}) {
    for (const AddedToken& a : added) {
      if (a.special != want_special) continue;
      if (a.normalized) {
        std::string p = a.content;
        for (const NormalForm f : t.normalizers) {
          auto n = normalize(f, p);
          if (!n) return n.error();
          p = std::move(*n);
        }
        normalized_patterns.push_back(std::move(p));
        normalized.push_back(a);
      } else {
        raw_patterns.push_back(a.content);
        raw.push_back(a);
      }
    }
  }
  t.raw_added = AddedTokenMatcher(std::move(raw), std::move(raw_patterns));
  t.normalized_added = AddedTokenMatcher(std::move(normalized), std::move(normalized_patterns));
  return Unit{};
}

Check compile_byte_level_regex(TokenizerImpl& t) {
  const bool needed =
      std::any_of(t.pre_tokenizers.begin(), t.pre_tokenizers.end(), [](const auto& s) {
        const auto* b = std::get_if<ByteLevelStep>(&s);
        return b != nullptr && b->use_regex;
      });
  if (!needed) return Unit{};
  auto r = Regex::compile(kGpt2Pattern, Syntax::oniguruma);
  if (!r) return r.error();
  t.byte_level_regex = std::move(*r);
  return Unit{};
}

// A config token: "text", {"content": "text", ...} (transformers'
// AddedToken), or null.
Result<std::optional<std::int32_t>> config_token(const JsonValue& cfg, std::string_view key,
                                                 const Tokenizer& tk) {
  const std::string where = "tokenizer_config." + std::string(key);
  const JsonValue* v = cfg.find(key);
  if (v == nullptr || v->kind == Kind::null) return std::optional<std::int32_t>{};
  std::string text;
  if (v->kind == Kind::string) {
    text = v->string;
  } else if (v->kind == Kind::object) {
    auto c = get_string(*v, "content", where);
    if (!c) return c.error();
    text = *c;
  } else {
    return type_error(where, "a string, an object or null", *v);
  }
  const auto id = tk.token_to_id(text);
  if (!id) return fail(where + ": \"" + text + "\" is not a token of this tokenizer");
  return std::optional<std::int32_t>(*id);
}

Check load_config(std::string_view text, TokenizerImpl& t, const Tokenizer& tk) {
  auto parsed = model::parse_json(text);
  if (!parsed) return fail("tokenizer_config.json: " + parsed.why());
  const JsonValue& cfg = *parsed;
  if (cfg.kind != Kind::object) return type_error("tokenizer_config", "an object", cfg);
  auto bos = config_token(cfg, "bos_token", tk);
  if (!bos) return bos.error();
  t.bos = *bos;
  auto eos = config_token(cfg, "eos_token", tk);
  if (!eos) return eos.error();
  t.eos = *eos;
  if (const JsonValue* a = cfg.find("add_bos_token"); a != nullptr && a->kind != Kind::null) {
    if (a->kind != Kind::boolean)
      return type_error("tokenizer_config.add_bos_token", "a boolean", *a);
    t.add_bos_token = a->boolean;
  }
  if (const JsonValue* c = cfg.find("chat_template"); c != nullptr && c->kind != Kind::null) {
    if (c->kind == Kind::string) {
      t.chat_template = c->string;
    } else if (c->kind == Kind::array) {
      // Several named templates: the one named "default".
      for (const JsonValue& e : c->array) {
        const JsonValue* name = e.find("name");
        const JsonValue* body = e.find("template");
        if (name != nullptr && body != nullptr && name->kind == Kind::string &&
            name->string == "default" && body->kind == Kind::string) {
          t.chat_template = body->string;
        }
      }
      if (!t.chat_template)
        return fail("tokenizer_config.chat_template: no template named \"default\"");
    } else {
      return type_error("tokenizer_config.chat_template", "a string or an array", *c);
    }
  }
  return Unit{};
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return fail(path + ": cannot open");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) return fail(path + ": cannot read");
  if (static_cast<std::uint64_t>(size) > kMaxFileBytes) return fail(path + ": larger than 64 MiB");
  f.seekg(0);
  std::string s(static_cast<std::size_t>(size), '\0');
  if (!f.read(s.data(), size)) return fail(path + ": cannot read");
  return s;
}

bool exists(const std::string& path) {
  return std::ifstream(path).good();
}

}  // namespace

Result<Tokenizer> Tokenizer::from_json(std::string_view tokenizer_json, ConfigJson config_file) {
  const std::string_view tokenizer_config_json = config_file.text;
  auto parsed = model::parse_json(tokenizer_json);
  if (!parsed) return fail("tokenizer.json: " + parsed.why());
  const JsonValue& root = *parsed;
  if (root.kind != Kind::object) return type_error("tokenizer.json", "an object", root);
  if (auto r = only_keys(root, "tokenizer",
                         {"version", "truncation", "padding", "added_tokens", "normalizer",
                          "pre_tokenizer", "post_processor", "decoder", "model"});
      !r) {
    return r.error();
  }
  if (const JsonValue* v = root.find("version"); v != nullptr) {
    if (v->kind != Kind::string || v->string != "1.0")
      return fail("tokenizer.version: only \"1.0\" is supported");
  }
  for (const char* key : {"truncation", "padding"}) {
    const JsonValue* v = root.find(key);
    if (v != nullptr && v->kind != Kind::null) {
      return fail(std::string("tokenizer.") + key + ": not supported (must be null)");
    }
  }
  auto impl = std::make_shared<TokenizerImpl>();
  static const JsonValue kNull;
  const auto get = [&root](std::string_view k) -> const JsonValue& {
    const JsonValue* v = root.find(k);
    return v != nullptr ? *v : kNull;
  };
  if (auto r = load_normalizer(get("normalizer"), "normalizer", impl->normalizers); !r)
    return r.error();
  if (auto r = load_pre_tokenizer(get("pre_tokenizer"), "pre_tokenizer", impl->pre_tokenizers);
      !r) {
    return r.error();
  }
  if (auto r = compile_byte_level_regex(*impl); !r) return r.error();
  const JsonValue* model_v = root.find("model");
  if (model_v == nullptr) return fail("tokenizer.model: missing");
  auto model = load_model(*model_v, "model");
  if (!model) return model.error();
  impl->model = std::move(*model);
  auto added = load_added_tokens(get("added_tokens"), "added_tokens");
  if (!added) return added.error();
  if (auto r = finish(*impl, std::move(*added)); !r) return r.error();
  const auto exists_id = [&impl](std::int32_t id) {
    return static_cast<std::size_t>(id) < impl->has_id.size() &&
           impl->has_id[static_cast<std::size_t>(id)];
  };
  if (auto r =
          load_post_processor(get("post_processor"), "post_processor", impl->templates, exists_id);
      !r) {
    return r.error();
  }
  auto decoder = load_decoder(get("decoder"), "decoder");
  if (!decoder) return decoder.error();
  impl->decoder = *decoder;
  if (!tokenizer_config_json.empty()) {
    // Lookups need a Tokenizer; the impl is shared and finished after this.
    const Tokenizer view(impl);
    if (auto r = load_config(tokenizer_config_json, *impl, view); !r) return r.error();
  }
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::from_gpt2_files(std::string_view encoder_json,
                                             Gpt2Merges merges_file) {
  const std::string_view vocab_bpe = merges_file.text;
  auto parsed = model::parse_json(encoder_json);
  if (!parsed) return fail("encoder.json: " + parsed.why());
  auto vocab = load_vocab(*parsed, "encoder.json");
  if (!vocab) return vocab.error();
  std::vector<std::pair<std::string, std::string>> merges;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < vocab_bpe.size()) {
    std::size_t nl = vocab_bpe.find('\n', pos);
    if (nl == std::string_view::npos) nl = vocab_bpe.size();
    std::string_view line = vocab_bpe.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.starts_with("#version")) continue;
    if (line.empty() && pos >= vocab_bpe.size()) break;  // the final newline
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos) {
      return fail("vocab.bpe: line " + std::to_string(line_no) +
                  ": expected \"a b\" (two tokens, one space)");
    }
    merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  auto model = Bpe::create(std::move(*vocab), merges, BpeOptions{});
  if (!model) return fail("GPT-2 files: " + model.error().message);
  auto impl = std::make_shared<TokenizerImpl>();
  impl->model = std::move(*model);
  // GPT-2's split as gpt-3-encoder makes it (JavaScript's \s), then bytes.
  auto split = Regex::compile(kGpt2JavaScriptPattern, Syntax::pcre2);
  if (!split) return split.error();
  impl->pre_tokenizers.emplace_back(SplitStep{std::move(*split), SplitBehavior::isolated, false});
  impl->pre_tokenizers.emplace_back(ByteLevelStep{false, false});
  impl->decoder = DecoderKind::byte_level;
  if (auto r = finish(*impl, {}); !r) return r.error();
  constexpr std::string_view kEndOfText = "<|endoftext|>";
  if (const auto eot = impl->model.token_to_id(kEndOfText)) {
    impl->bos = *eot;
    impl->eos = *eot;
    impl->special[static_cast<std::size_t>(*eot)] = true;
  }
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::from_directory(const std::string& dir) {
  const std::string tj = dir + "/tokenizer.json";
  if (exists(tj)) {
    auto text = read_file(tj);
    if (!text) return text.error();
    std::string config;
    const std::string cj = dir + "/tokenizer_config.json";
    if (exists(cj)) {
      auto c = read_file(cj);
      if (!c) return c.error();
      config = std::move(*c);
    }
    return from_json(*text, ConfigJson{config});
  }
  const std::string ej = dir + "/encoder.json";
  const std::string vb = dir + "/vocab.bpe";
  if (!exists(ej) || !exists(vb)) {
    return fail(dir + ": has neither tokenizer.json nor encoder.json + vocab.bpe");
  }
  auto e = read_file(ej);
  if (!e) return e.error();
  auto v = read_file(vb);
  if (!v) return v.error();
  return from_gpt2_files(*e, Gpt2Merges{*v});
}

}  // namespace hix::tok
