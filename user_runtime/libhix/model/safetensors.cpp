// The safetensors format: strict header validation, a read-only mapping,
// and a writer (whole images or streamed from a weight source).
#include "safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "json.hpp"
#include "weight_source.hpp"

namespace hix::model {

std::size_t dtype_size(DType t) {
  return t == DType::f32 ? 4 : 2;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::bf16:
      return "BF16";
    case DType::f16:
      return "F16";
  }
  return "?";
}

Result<DType> parse_dtype(std::string_view s) {
  if (s == "F32") return DType::f32;
  if (s == "BF16") return DType::bf16;
  if (s == "F16") return DType::f16;
  return fail("unsupported dtype \"" + std::string(s) + "\" (F32, BF16 and F16 are accepted)");
}

std::uint64_t TensorInfo::elements() const {
  std::uint64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

const TensorInfo* SafetensorsHeader::find(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

Result<TensorInfo> parse_entry(const std::string& name, const JsonValue& v) {
  const std::string where = "safetensors: tensor \"" + name + "\": ";
  if (name.empty()) return fail("safetensors: empty tensor name");
  if (v.kind != JsonValue::Kind::object) return fail(where + "entry is not an object");
  TensorInfo t;
  t.name = name;
  bool have_dtype = false, have_shape = false, have_offsets = false;
  for (const auto& [key, val] : v.object) {
    if (key == "dtype") {
      if (val.kind != JsonValue::Kind::string) return fail(where + "dtype is not a string");
      auto d = parse_dtype(val.string);
      if (!d) return fail(where + d.why());
      t.dtype = *d;
      have_dtype = true;
    } else if (key == "shape") {
      if (val.kind != JsonValue::Kind::array) return fail(where + "shape is not an array");
      if (val.array.size() > 8) return fail(where + "more than 8 dimensions");
      for (const auto& d : val.array) {
        if (d.kind != JsonValue::Kind::number || !d.is_uint) {
          return fail(where + "shape holds a value that is not a non-negative integer");
        }
        t.shape.push_back(d.uint);
      }
      have_shape = true;
    } else if (key == "data_offsets") {
      if (val.kind != JsonValue::Kind::array || val.array.size() != 2) {
        return fail(where + "data_offsets is not an array of two integers");
      }
      for (const auto& d : val.array) {
        if (d.kind != JsonValue::Kind::number || !d.is_uint) {
          return fail(where + "data_offsets holds a value that is not a non-negative integer");
        }
      }
      t.begin = val.array[0].uint;
      t.end = val.array[1].uint;
      have_offsets = true;
    } else {
      std::string why = where;
      why += "unknown field \"";
      why += key;
      why += '"';
      return fail(std::move(why));
    }
  }
  if (!have_dtype || !have_shape || !have_offsets) {
    return fail(where + "needs dtype, shape and data_offsets");
  }
  if (t.begin > t.end) return fail(where + "data_offsets begin > end");
  // Shape product * element size, overflow checked.
  std::uint64_t bytes = dtype_size(t.dtype);
  for (const auto d : t.shape) {
    if (d != 0 && bytes > UINT64_MAX / d) return fail(where + "shape too large");
    bytes *= d;
  }
  if (bytes != t.end - t.begin) {
    return fail(where + "shape and dtype give " + std::to_string(bytes) +
                " bytes but data_offsets span " + std::to_string(t.end - t.begin));
  }
  return t;
}

}  // namespace

Result<SafetensorsHeader> parse_safetensors(std::span<const std::byte> file) {
  if (file.size() < 8) return fail("safetensors: file shorter than the 8-byte header length");
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < 8; ++i)
    n |= std::uint64_t{std::to_integer<std::uint8_t>(file[i])} << (8 * i);
  if (n > kSafetensorsMaxHeader) {
    return fail("safetensors: header length " + std::to_string(n) + " above the limit of " +
                std::to_string(kSafetensorsMaxHeader));
  }
  if (n < 2 || n > file.size() - 8) {
    return fail("safetensors: header length " + std::to_string(n) + " does not fit the file of " +
                std::to_string(file.size()) + " bytes");
  }
  // The header is text: viewing its bytes as chars is the intent.
  const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), n);
  auto json = parse_json(text);
  if (!json) return fail("safetensors: header: " + json.why());
  if (json->kind != JsonValue::Kind::object)
    return fail("safetensors: header is not a JSON object");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const std::uint64_t data_bytes = file.size() - h.data_start;
  for (const auto& [name, v] : json->object) {
    if (name == "__metadata__") {
      if (v.kind != JsonValue::Kind::object)
        return fail("safetensors: __metadata__ is not an object");
      for (const auto& [k, mv] : v.object) {
        if (mv.kind != JsonValue::Kind::string) {
          return fail("safetensors: __metadata__ value of \"" + k + "\" is not a string");
        }
        h.metadata.emplace_back(k, mv.string);
      }
      continue;
    }
    auto t = parse_entry(name, v);
    if (!t) return t.error();
    if (t->end > data_bytes) {
      return fail("safetensors: tensor \"" + name + "\": data_offsets end " +
                  std::to_string(t->end) + " beyond the data section of " +
                  std::to_string(data_bytes) + " bytes");
    }
    h.tensors.push_back(std::move(*t));
  }
  // Duplicate names are caught by the JSON parser (duplicate keys); ranges
  // must not overlap (empty tensors occupy nothing).
  std::vector<const TensorInfo*> by_begin;
  for (const auto& t : h.tensors) {
    if (t.end > t.begin) by_begin.push_back(&t);
  }
  std::sort(by_begin.begin(), by_begin.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_begin.size(); ++i) {
    if (by_begin[i]->begin < by_begin[i - 1]->end) {
      return fail("safetensors: tensors \"" + by_begin[i - 1]->name + "\" and \"" +
                  by_begin[i]->name + "\" overlap");
    }
  }
  return h;
}

// ---- the mapped file ------------------------------------------------------

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("safetensors: cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("safetensors: " + path + " is not a regular file");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return fail("safetensors: file shorter than the 8-byte header length");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return fail("safetensors: cannot map " + path + ": " + std::strerror(errno));
  SafetensorsFile f;
  f.base_ = static_cast<const std::byte*>(p);
  f.size_ = size;
  auto h = parse_safetensors(f.bytes());
  if (!h) return fail(h.why() + " (" + path + ")");
  f.header_ = std::move(*h);
  return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : base_(other.base_), size_(other.size_), header_(std::move(other.header_)) {
  other.base_ = nullptr;
  other.size_ = 0;
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    release();
    base_ = other.base_;
    size_ = other.size_;
    header_ = std::move(other.header_);
    other.base_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  release();
}

void SafetensorsFile::release() {
  // munmap takes a non-const pointer; the mapping is ours.
  if (base_ != nullptr) ::munmap(const_cast<std::byte*>(base_), size_);
  base_ = nullptr;
  size_ = 0;
}

std::span<const std::byte> SafetensorsFile::data(const TensorInfo& t) const {
  return bytes().subspan(header_.data_start + t.begin, t.end - t.begin);
}

// ---- the writer -----------------------------------------------------------

namespace {

std::string json_string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t bytes;
};

// The 8-byte length and the header, padded with spaces to 8 bytes.
Result<std::string> header_image(const std::vector<Entry>& entries, const Metadata& metadata) {
  std::set<std::string, std::less<>> seen;
  std::string j = "{";
  bool first = true;
  if (!metadata.empty()) {
    j += "\"__metadata__\":{";
    for (std::size_t i = 0; i < metadata.size(); ++i) {
      if (i != 0) j += ",";
      j += json_string(metadata[i].first) + ":" + json_string(metadata[i].second);
    }
    j += "}";
    first = false;
  }
  std::uint64_t at = 0;
  for (const auto& e : entries) {
    if (e.name.empty() || e.name == "__metadata__" || !seen.insert(e.name).second) {
      return fail("safetensors: bad or duplicate tensor name \"" + e.name + "\"");
    }
    std::uint64_t expect = dtype_size(e.dtype);
    for (const auto d : e.shape) expect *= d;
    if (expect != e.bytes) {
      return fail("safetensors: tensor \"" + e.name + "\": " + std::to_string(e.bytes) +
                  " bytes do not match its shape");
    }
    if (!first) j += ",";
    first = false;
    j += json_string(e.name) + ":{\"dtype\":\"" + std::string(dtype_name(e.dtype)) +
         "\",\"shape\":[";
    for (std::size_t i = 0; i < e.shape.size(); ++i) {
      if (i != 0) j += ",";
      j += std::to_string(e.shape[i]);
    }
    j += "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + e.bytes) + "]}";
    at += e.bytes;
  }
  j += "}";
  while (j.size() % 8 != 0) j += ' ';
  std::string out(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((j.size() >> (8 * i)) & 0xFF);
  return out + j;
}

std::vector<Entry> entries_of(std::span<const TensorData> tensors) {
  std::vector<Entry> e;
  e.reserve(tensors.size());
  for (const auto& t : tensors) e.push_back({t.name, t.dtype, t.shape, t.bytes.size()});
  return e;
}

Check write_all(std::ofstream& f, const void* p, std::size_t n, const std::string& path) {
  // ofstream writes chars; the bytes are passed through unchanged.
  f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
  if (!f) return fail("safetensors: write to " + path + " failed");
  return Unit{};
}

}  // namespace

Result<std::vector<std::byte>> serialize_safetensors(std::span<const TensorData> tensors,
                                                     const Metadata& metadata) {
  auto head = header_image(entries_of(tensors), metadata);
  if (!head) return head.error();
  std::vector<std::byte> out(head->size());
  std::memcpy(out.data(), head->data(), head->size());
  for (const auto& t : tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

Check write_safetensors(const std::string& path, std::span<const TensorData> tensors,
                        const Metadata& metadata) {
  auto head = header_image(entries_of(tensors), metadata);
  if (!head) return head.error();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return fail("safetensors: cannot create " + path);
  if (auto r = write_all(f, head->data(), head->size(), path); !r) return r;
  for (const auto& t : tensors) {
    if (auto r = write_all(f, t.bytes.data(), t.bytes.size(), path); !r) return r;
  }
  f.close();
  if (!f) return fail("safetensors: closing " + path + " failed");
  return Unit{};
}

Check write_safetensors(const std::string& path, const WeightSource& source,
                        const Metadata& metadata) {
  std::vector<Entry> entries;
  for (const auto& name : source.names()) {
    auto info = source.describe(name);
    if (!info) return info.error();
    std::uint64_t bytes = dtype_size(info->dtype);
    for (const auto d : info->shape) bytes *= d;
    entries.push_back({name, info->dtype, info->shape, bytes});
  }
  auto head = header_image(entries, metadata);
  if (!head) return head.error();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return fail("safetensors: cannot create " + path);
  if (auto r = write_all(f, head->data(), head->size(), path); !r) return r;
  for (const auto& e : entries) {
    auto t = source.get(e.name);
    if (!t) return t.error();
    if (t->bytes().size() != e.bytes || t->dtype() != e.dtype) {
      return fail("safetensors: tensor \"" + e.name + "\" changed between describe and get");
    }
    if (auto r = write_all(f, t->bytes().data(), t->bytes().size(), path); !r) return r;
  }
  f.close();
  if (!f) return fail("safetensors: closing " + path + " failed");
  return Unit{};
}

}  // namespace hix::model
