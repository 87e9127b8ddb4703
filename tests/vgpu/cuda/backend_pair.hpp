// Backend pair: the cpu reference backend and one or more cuda backends side
// by side with identical VRAM contents, for op-by-op comparisons
// (hix-cuda-backend-test). Inputs are written to every backend at the same
// offsets, an op runs on each (cuda backends then finish()), and outputs are
// read back and compared element by element within a stated tolerance. A
// mismatch is a GoogleTest failure of the running case.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "hix/vgpu/bf16.hpp"

namespace hix::vgpu::cuda::test {

__attribute__((format(printf, 1, 2))) inline std::string strf(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

inline const char* dt_name(DType d) {
  return d == DType::f32 ? "f32" : d == DType::bf16 ? "bf16" : "i32";
}

inline std::string status_name(Status s) {
  return std::string(to_string(s));
}

// One bf16 unit in the last place relative to the value (2^-7): what two
// correct roundings of nearly equal fp32 results to bf16 may differ by.
inline constexpr double kBf16Ulp = 1.0 / 128;

// |got - want| <= atol + rtol * |want| per element; `exact`: bit-identical,
// where any NaN equals any NaN (spec §6.2 keeps NaN NaN, not its payload).
struct Tol {
  double atol = 0;
  double rtol = 0;
  bool exact = false;
};

inline Tol exact_tol() {
  return Tol{0, 0, true};
}

struct Target {
  std::string label;
  Backend* backend;
};

// How far past a 256-byte boundary an allocation starts: in elements for
// alloc(), in bytes for alloc_bytes().
struct Misalign {
  std::uint64_t units = 0;
};

class BackendPair {
 public:
  // `seed`: the data generator's; `dirty_bytes`: how much of VRAM, from 0,
  // earlier users of these backends may have written (the first
  // reset_arena() zeroes it).
  struct Options {
    std::uint64_t seed = 0;
    std::uint64_t dirty_bytes = 0;
  };

  BackendPair(Backend& ref, std::vector<Target> gpus, Options options)
      : ref_(ref), gpus_(std::move(gpus)), rng_(options.seed), high_(options.dirty_bytes) {}

  Backend& ref() { return ref_; }
  const std::vector<Target>& gpus() const { return gpus_; }
  std::mt19937_64& rng() { return rng_; }
  // How much of VRAM, from 0, cases have written since the last reset.
  std::uint64_t dirty_bytes() const { return high_; }

  // Starts a step of the running test. `fresh`: VRAM that earlier steps
  // touched is zeroed on every backend and allocation starts over; a step
  // that continues the previous one's state (an attention KV cache) passes
  // false. `name` prefixes the step's failure messages.
  void begin(std::string name, bool fresh = true) {
    name_ = std::move(name);
    failed_ = false;
    max_abs_ = 0;
    max_rel_ = 0;
    tol_note_.clear();
    messages_ = 0;
    if (fresh) reset_arena();
  }

  // Prints the step's figures (largest differences seen, the tolerance);
  // false when it failed.
  bool end() {
    if (messages_ > kMaxMessages) {
      ADD_FAILURE() << name_ << ": " << messages_ - kMaxMessages << " more mismatches not shown";
    }
    std::printf("  %s  %-62s max_abs %.3e max_rel %.3e%s\n", failed_ ? "FAIL" : "ok  ",
                name_.c_str(), max_abs_, max_rel_, tol_note_.c_str());
    return !failed_;
  }

  // A failure of the running test; the first kMaxMessages of a step are
  // reported, the rest counted.
  __attribute__((format(printf, 2, 3))) void fail(const char* fmt, ...) {
    failed_ = true;
    if (++messages_ > kMaxMessages) return;
    std::va_list ap;
    va_start(ap, fmt);
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ADD_FAILURE() << name_ << ": " << buf;
  }
  bool expect(bool ok, const char* what) {
    if (!ok) fail("%s", what);
    return ok;
  }

  // ---- VRAM layout ----

  void reset_arena() {
    for (Backend* b : all()) {
      if (high_ > 0 && b->zero(VramOffset{0}, high_) != Status::ok) fail("zero() failed");
      if (b->finish() != Status::ok) fail("finish() after zero failed");
    }
    cursor_ = kGap;
    high_ = 0;
  }
  // `count` elements `misalign` elements past a 256-byte boundary, with an
  // untouched gap on both sides (what compare() checks as guard bytes).
  TensorArg alloc(DType dt, std::uint64_t count, Misalign misalign = {}) {
    const std::uint64_t start = (cursor_ + 255) / 256 * 256 + misalign.units * dtype_size(dt);
    cursor_ = start + count * dtype_size(dt) + kGap;
    high_ = std::max(high_, cursor_ + kGap);
    return TensorArg{VramOffset{start}, dt, count};
  }
  // A raw byte range, for byte-level tests.
  VramOffset alloc_bytes(std::uint64_t bytes, Misalign misalign = {}) {
    const std::uint64_t start = (cursor_ + 255) / 256 * 256 + misalign.units;
    cursor_ = start + bytes + kGap;
    high_ = std::max(high_, cursor_ + kGap);
    return VramOffset{start};
  }

  // ---- Data ----

  std::vector<float> random(std::uint64_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng_);
    return v;
  }
  std::vector<std::byte> random_bytes(std::uint64_t n) {
    std::vector<std::byte> v(n);
    for (std::byte& b : v) b = static_cast<std::byte>(rng_() & 0xFF);
    return v;
  }

  static std::vector<std::byte> encode(DType dt, std::span<const float> v) {
    std::vector<std::byte> bytes(v.size() * dtype_size(dt));
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (dt == DType::bf16) {
        const std::uint16_t h = f32_to_bf16(v[i]);
        std::memcpy(&bytes[i * 2], &h, 2);
      } else {
        std::memcpy(&bytes[i * 4], &v[i], 4);
      }
    }
    return bytes;
  }
  // The values as a float tensor of that dtype holds them.
  static std::vector<float> stored(DType dt, std::vector<float> v) {
    if (dt == DType::bf16) {
      for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
    }
    return v;
  }

  void put_bytes(VramOffset off, std::span<const std::byte> bytes) {
    for (Backend* b : all()) {
      if (b->write_bytes(off, bytes) != Status::ok) fail("write_bytes on %s", name_of(b));
    }
  }
  void put(const TensorArg& t, std::span<const float> v) {
    if (v.size() != t.count) fail("put: %zu values for %" PRIu64 " elements", v.size(), t.count);
    put_bytes(t.offset, encode(t.dtype, v));
  }
  void put_i32(const TensorArg& t, std::span<const std::int32_t> v) {
    put_bytes(t.offset, std::as_bytes(v));
  }
  // 0xFF bytes: NaN for f32 and bf16, -1 for i32, so an element an op
  // failed to write cannot pass for a result.
  void poison(const TensorArg& t) {
    put_bytes(t.offset, std::vector<std::byte>(t.count * dtype_size(t.dtype), std::byte{0xFF}));
  }

  std::vector<std::byte> read_raw(Backend& b, VramOffset off, std::uint64_t bytes) {
    std::vector<std::byte> v(bytes);
    if (b.read_bytes(off, v) != Status::ok) fail("read_bytes on %s", name_of(&b));
    return v;
  }
  std::vector<float> read(Backend& b, const TensorArg& t) {
    const auto raw = read_raw(b, t.offset, t.count * dtype_size(t.dtype));
    std::vector<float> v(t.count);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (t.dtype == DType::bf16) {
        std::uint16_t h = 0;
        std::memcpy(&h, &raw[i * 2], 2);
        v[i] = bf16_to_f32(h);
      } else {
        std::memcpy(&v[i], &raw[i * 4], 4);
      }
    }
    return v;
  }
  std::vector<std::int32_t> read_i32(Backend& b, const TensorArg& t) {
    const auto raw = read_raw(b, t.offset, t.count * 4);
    std::vector<std::int32_t> v(t.count);
    std::memcpy(v.data(), raw.data(), raw.size());
    return v;
  }

  // ---- Running ----

  // The op on the reference, then on each cuda backend followed by
  // finish(); every call must answer ok.
  bool run(const std::function<Status(Backend&)>& op) {
    bool ok = true;
    const Status r = op(ref_);
    if (r != Status::ok) {
      fail("cpu op: %s", status_name(r).c_str());
      ok = false;
    }
    for (const Target& g : gpus_) {
      Status s = op(*g.backend);
      if (s == Status::ok) s = g.backend->finish();
      if (s != Status::ok) {
        fail("%s: op/finish: %s", g.label.c_str(), status_name(s).c_str());
        ok = false;
      }
    }
    return ok;
  }

  // ---- Comparing ----

  void note_tol(const Tol& t) {
    if (t.exact) {
      tol_note_ = "  (exact)";
    } else {
      tol_note_ = strf("  (tol %.1e + %.1e*|ref|)", t.atol, t.rtol);
    }
  }

  // `t` on every cuda backend against the reference, plus 64 guard bytes
  // on either side, which no op may touch.
  void compare(const TensorArg& t, const Tol& tol, const char* what = "out") {
    note_tol(tol);
    const auto want_raw = read_raw(ref_, t.offset, t.count * dtype_size(t.dtype));
    for (const Target& g : gpus_) compare_one(g, t, tol, what, want_raw);
  }

  void compare_one(const Target& g, const TensorArg& t, const Tol& tol, const char* what,
                   const std::vector<std::byte>& want_raw) {
    const auto got_raw = read_raw(*g.backend, t.offset, t.count * dtype_size(t.dtype));
    compare_values(g.label.c_str(), t.dtype, want_raw, got_raw, tol, what);
    check_guards(g, t.offset, t.count * dtype_size(t.dtype), what);
  }

  void compare_values(const char* who, DType dt, const std::vector<std::byte>& want_raw,
                      const std::vector<std::byte>& got_raw, const Tol& tol, const char* what) {
    const std::uint64_t es = dtype_size(dt);
    const std::uint64_t n = want_raw.size() / es;
    if (got_raw.size() != want_raw.size()) return;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (dt == DType::i32) {
        std::int32_t w = 0;
        std::int32_t g = 0;
        std::memcpy(&w, &want_raw[i * 4], 4);
        std::memcpy(&g, &got_raw[i * 4], 4);
        if (w != g) {
          fail("%s: %s[%" PRIu64 "] = %d, cpu %d", who, what, i, g, w);
        }
        continue;
      }
      const double w = decode(dt, want_raw, i);
      const double g = decode(dt, got_raw, i);
      if (std::isnan(w) || std::isnan(g)) {
        if (std::isnan(w) != std::isnan(g)) {
          fail("%s: %s[%" PRIu64 "] = %.9g, cpu %.9g", who, what, i, g, w);
        }
        continue;
      }
      if (std::isinf(w) || std::isinf(g)) {
        if (w != g) fail("%s: %s[%" PRIu64 "] = %.9g, cpu %.9g", who, what, i, g, w);
        continue;
      }
      const double diff = std::fabs(g - w);
      max_abs_ = std::max(max_abs_, diff);
      if (std::fabs(w) >= 1e-3) max_rel_ = std::max(max_rel_, diff / std::fabs(w));
      const bool ok = tol.exact ? std::memcmp(&want_raw[i * es], &got_raw[i * es], es) == 0
                                : diff <= tol.atol + tol.rtol * std::fabs(w);
      if (!ok) {
        fail("%s: %s[%" PRIu64 "] = %.9g, cpu %.9g (diff %.3e)", who, what, i, g, w, diff);
      }
    }
  }

  void check_guards(const Target& g, VramOffset off, std::uint64_t bytes, const char* what) {
    const std::uint64_t before = std::min<std::uint64_t>(64, off.value);
    const std::uint64_t end = off.value + bytes;
    const std::uint64_t after = std::min<std::uint64_t>(64, ref_.vram_size() - end);
    const VramOffset lo{off.value - before};
    const VramOffset hi{end};
    if (read_raw(ref_, lo, before) != read_raw(*g.backend, lo, before)) {
      fail("%s: bytes before %s were written", g.label.c_str(), what);
    }
    if (read_raw(ref_, hi, after) != read_raw(*g.backend, hi, after)) {
      fail("%s: bytes after %s were written", g.label.c_str(), what);
    }
  }

  static double decode(DType dt, const std::vector<std::byte>& raw, std::uint64_t i) {
    if (dt == DType::bf16) {
      std::uint16_t h = 0;
      std::memcpy(&h, &raw[i * 2], 2);
      return bf16_to_f32(h);
    }
    float f = 0;
    std::memcpy(&f, &raw[i * 4], 4);
    return f;
  }

  // Records an error size observed outside compare() (the loop tests).
  void observe(double abs_err) { max_abs_ = std::max(max_abs_, abs_err); }

 private:
  static constexpr std::uint64_t kGap = 256;
  static constexpr int kMaxMessages = 6;

  std::vector<Backend*> all() {
    std::vector<Backend*> v{&ref_};
    for (const Target& g : gpus_) v.push_back(g.backend);
    return v;
  }
  const char* name_of(const Backend* b) const {
    for (const Target& g : gpus_) {
      if (g.backend == b) return g.label.c_str();
    }
    return "cpu";
  }

  Backend& ref_;
  std::vector<Target> gpus_;
  std::mt19937_64 rng_;
  std::uint64_t high_ = 0;
  std::string name_;
  std::string tol_note_;
  bool failed_ = false;
  int messages_ = 0;
  double max_abs_ = 0;
  double max_rel_ = 0;
  std::uint64_t cursor_ = kGap;
};

}  // namespace hix::vgpu::cuda::test
