// The cuda backend's memory ops against the cpu reference (spec §6.4):
// write_bytes / read_bytes / zero at odd offsets and sizes, fill, copy with
// its bf16 conversions, and embedding lookups (exact: the spec makes each a
// conversion or a move), including ids out of range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

// ---------------------------------------------------------------- byte io

struct IoCase {
  std::uint64_t bytes;
  std::uint64_t misalign;
};

std::vector<IoCase> io_cases() {
  return {{1, 1}, {3, 3}, {4097, 0}, {(1u << 20) + 1, 7}, {(32u << 20) + 3, 5}};
}

class ByteIo : public BackendParamTest<IoCase> {};

// write_bytes / read_bytes at odd byte offsets and sizes, then zero() of an
// odd sub-range.
TEST_P(ByteIo, ReadsBackWhatWasWrittenAndZeroesAnOddRange) {
  Pair& p = pair();
  const std::uint64_t n = GetParam().bytes;
  const std::uint64_t mis = GetParam().misalign;
  p.begin(strf("write/read/zero %" PRIu64 " bytes at +%" PRIu64, n, mis));
  const VramOffset off = p.alloc_bytes(n, Misalign{mis});
  const auto data = p.random_bytes(n);
  p.put_bytes(off, data);
  for (const Target& g : p.gpus()) {
    p.expect(p.read_raw(*g.backend, off, n) == data, (g.label + ": read back differs").c_str());
  }
  const std::uint64_t z_off = n / 3;
  const std::uint64_t z_len = n - n / 3 - n / 5;
  p.expect(p.ref().zero(VramOffset{off.value + z_off}, z_len) == Status::ok, "cpu zero");
  for (const Target& g : p.gpus()) {
    p.expect(g.backend->zero(VramOffset{off.value + z_off}, z_len) == Status::ok, "zero");
    p.expect(g.backend->finish() == Status::ok, "finish after zero");
  }
  auto want = data;
  std::fill(want.begin() + static_cast<std::ptrdiff_t>(z_off),
            want.begin() + static_cast<std::ptrdiff_t>(z_off + z_len), std::byte{0});
  for (const Target& g : p.gpus()) {
    p.expect(p.read_raw(*g.backend, off, n) == want, (g.label + ": after zero").c_str());
    p.check_guards(g, off, n, "range");
  }
  p.end();
}

INSTANTIATE_TEST_SUITE_P(OddSizesAndOffsets, ByteIo, ::testing::ValuesIn(io_cases()),
                         [](const ::testing::TestParamInfo<IoCase>& param_info) {
                           return strf("%" PRIu64 "_bytes_at_", param_info.param.bytes) +
                                  plus(param_info.param.misalign);
                         });

// ---------------------------------------------------------------- fill

// Values that bf16 rounding must treat exactly: ties both ways, values that
// round to infinity, NaNs (signalling, negative), denormals, signed zero.
std::vector<std::uint32_t> special_bits() {
  return {0x00000000u,
          0x80000000u,
          0x3F808000u /* 1+2^-8: tie, even down */,
          0x3F818000u /* tie, odd up */,
          0x3F808001u,
          0x3F807FFFu,
          0x7F7FFFFFu /* -> inf */,
          0x7F7F7FFFu,
          0x7F800000u,
          0xFF800000u,
          0x7FC00000u,
          0x7F800001u /* sNaN */,
          0xFFC12345u,
          0x00000001u /* denormal */,
          0x80008000u,
          0x007FFFFFu,
          0x00800000u,
          0xC0490FDBu,
          0x3EAAAAABu};
}

struct FillCase {
  DType dt;
  std::uint64_t count;
  std::uint64_t misalign;
  std::uint32_t bits;
  bool random_bits;  // bits drawn by the case instead
};

// Each dtype with every special value and one random pattern; counts and
// misalignments rotate over the whole list.
std::vector<FillCase> fill_cases() {
  const std::uint64_t counts[] = {1, 5, 7, 255, 257, 100003};
  std::vector<FillCase> v;
  std::size_t c = 0;
  for (const DType dt : {F32, BF16, I32}) {
    const auto values = special_bits();
    for (std::size_t i = 0; i <= values.size(); ++i) {
      const bool random = i == values.size();
      v.push_back(
          FillCase{dt, counts[c % std::size(counts)], c % 4, random ? 0 : values[i], random});
      ++c;
    }
  }
  return v;
}

class Fill : public BackendParamTest<FillCase> {};

TEST_P(Fill, WritesTheBitsExactlyLikeTheCpu) {
  Pair& p = pair();
  const FillCase& c = GetParam();
  const std::uint32_t v = c.random_bits ? static_cast<std::uint32_t>(p.rng()()) : c.bits;
  p.begin(
      strf("%s count=%" PRIu64 " +%" PRIu64 " bits=0x%08x", dt_name(c.dt), c.count, c.misalign, v));
  const auto t = p.alloc(c.dt, c.count, Misalign{c.misalign});
  p.poison(t);
  p.run([&](Backend& b) { return b.fill(t, v); });
  p.compare(t, exact_tol());
  p.end();
}

INSTANTIATE_TEST_SUITE_P(SpecialAndRandomBits, Fill, ::testing::ValuesIn(fill_cases()),
                         [](const ::testing::TestParamInfo<FillCase>& param_info) {
                           const FillCase& c = param_info.param;
                           return strf("%s_count%" PRIu64 "_", dt_name(c.dt), c.count) +
                                  plus(c.misalign) +
                                  (c.random_bits ? std::string("_random_bits")
                                                 : strf("_bits_%08x", c.bits));
                         });

// ---------------------------------------------------------------- copy

struct CopyCase {
  DType src_dt, dst_dt;
  std::uint64_t count;
  std::uint64_t src_mis, dst_mis;
};

std::vector<CopyCase> copy_cases() {
  const std::uint64_t counts[] = {1, 7, 33, 1000, 65537, 262147};
  const std::pair<DType, DType> kinds[] = {
      {F32, BF16}, {BF16, F32}, {F32, F32}, {BF16, BF16}, {I32, I32}};
  std::vector<CopyCase> v;
  std::size_t c = 0;
  for (const auto& [src_dt, dst_dt] : kinds) {
    for (const std::uint64_t n : counts) {
      v.push_back(CopyCase{src_dt, dst_dt, n, c % 4, (c + 1) % 4});
      ++c;
    }
  }
  return v;
}

class Copy : public BackendParamTest<CopyCase> {};

TEST_P(Copy, ConvertsBitForBitLikeTheCpu) {
  Pair& p = pair();
  const CopyCase& c = GetParam();
  const std::uint64_t n = c.count;
  p.begin(strf("%s -> %s count=%" PRIu64 " src+%" PRIu64 " dst+%" PRIu64, dt_name(c.src_dt),
               dt_name(c.dst_dt), n, c.src_mis, c.dst_mis));
  const auto src = p.alloc(c.src_dt, n, Misalign{c.src_mis});
  const auto dst = p.alloc(c.dst_dt, n, Misalign{c.dst_mis});
  if (c.src_dt == I32) {
    std::vector<std::int32_t> v(n);
    for (auto& x : v) x = static_cast<std::int32_t>(p.rng()());
    p.put_i32(src, v);
  } else {
    // Random bit patterns (every class of float), the specials, and plain
    // values: bf16 round-to-nearest-even must match bit for bit.
    std::vector<std::uint32_t> bits(n);
    const auto specials = special_bits();
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t r = p.rng()();
      const auto hi = static_cast<std::uint32_t>(r >> 32);
      if (i < specials.size()) {
        bits[i] = specials[i];
      } else if ((r & 3) == 0) {
        bits[i] = hi;  // any bit pattern
      } else if ((r & 3) == 1) {
        bits[i] = 0x3F800000u | (hi & 0x1FFFFu);  // near 1: many ties and near-ties
      } else {
        bits[i] =
            f32_bits(static_cast<float>(static_cast<std::int32_t>(hi >> 8) - (1 << 23)) / 65536.0f);
      }
    }
    std::vector<float> f(n);
    for (std::uint64_t i = 0; i < n; ++i) f[i] = bits_f32(bits[i]);
    if (c.src_dt == F32) {
      p.put_bytes(src.offset, std::as_bytes(std::span(bits)));
    } else {
      p.put(src, f);
    }
  }
  p.poison(dst);
  p.run([&](Backend& b) { return b.copy(dst, src); });
  p.compare(dst, exact_tol());
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Conversions, Copy, ::testing::ValuesIn(copy_cases()),
                         [](const ::testing::TestParamInfo<CopyCase>& param_info) {
                           const CopyCase& c = param_info.param;
                           return strf("%s_to_%s_count%" PRIu64 "_src_", dt_name(c.src_dt),
                                       dt_name(c.dst_dt), c.count) +
                                  plus(c.src_mis) + "_dst_" + plus(c.dst_mis);
                         });

// ---------------------------------------------------------------- embedding

constexpr std::uint32_t kVocab = 1000;

// `rows` token ids below `vocab`.
struct IdsShape {
  std::uint32_t rows = 0;
  std::uint32_t vocab = 0;
};

std::vector<std::int32_t> random_ids(Pair& p, IdsShape shape) {
  const std::uint32_t rows = shape.rows;
  const std::uint32_t vocab = shape.vocab;
  std::vector<std::int32_t> ids(rows);
  for (auto& id : ids) id = static_cast<std::int32_t>(p.rng()() % vocab);
  if (rows > 2) {
    ids[0] = 0;
    ids[1] = static_cast<std::int32_t>(vocab - 1);
  }
  return ids;
}

struct EmbeddingCase {
  DType table_dt, out_dt;
  std::uint32_t rows, dim;
  std::uint64_t mis;
};

std::vector<EmbeddingCase> embedding_cases() {
  const std::uint32_t dims[] = {1, 5, 768, 1023};
  const std::uint32_t rows_list[] = {1, 7, 17};
  std::vector<EmbeddingCase> v;
  std::size_t c = 0;
  for (const DType tdt : {F32, BF16}) {
    for (const DType odt : {F32, BF16}) {
      for (const std::uint32_t dim : dims) {
        v.push_back(EmbeddingCase{tdt, odt, rows_list[c % 3], dim, c % 4});
        ++c;
      }
    }
  }
  return v;
}

class Embedding : public BackendParamTest<EmbeddingCase> {};

TEST_P(Embedding, GathersTheCpusRowsExactly) {
  Pair& p = pair();
  const EmbeddingCase& c = GetParam();
  const std::uint32_t rows = c.rows;
  const std::uint32_t dim = c.dim;
  const std::uint64_t mis = c.mis;
  p.begin(strf("table=%s out=%s rows=%u dim=%u vocab=%u +%" PRIu64, dt_name(c.table_dt),
               dt_name(c.out_dt), rows, dim, kVocab, mis));
  const auto table = p.alloc(c.table_dt, cnt(kVocab, dim), Misalign{mis});
  const auto ids = p.alloc(I32, rows, Misalign{(mis + 1) % 4});
  const auto out = p.alloc(c.out_dt, cnt(rows, dim), Misalign{(mis + 3) % 4});
  p.put(table, p.random(table.count, -3, 3));
  p.put_i32(ids, random_ids(p, {.rows = rows, .vocab = kVocab}));
  p.poison(out);
  p.run([&](Backend& b) { return b.embedding(EmbeddingArgs{out, table, ids, rows, dim, kVocab}); });
  p.compare(out, exact_tol());
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Tables, Embedding, ::testing::ValuesIn(embedding_cases()),
                         [](const ::testing::TestParamInfo<EmbeddingCase>& param_info) {
                           const EmbeddingCase& c = param_info.param;
                           return strf("table_%s_out_%s_rows%u_dim%u_", dt_name(c.table_dt),
                                       dt_name(c.out_dt), c.rows, c.dim) +
                                  plus(c.mis);
                         });

class EmbeddingId : public BackendParamTest<std::int32_t> {};

// Ids outside [0, vocab): the cpu op answers at once, the cuda backend by the
// next finish() at the latest; afterwards it works as before.
TEST_P(EmbeddingId, OutOfRangeFailsAndTheNextLookupWorks) {
  Pair& p = pair();
  const std::int32_t bad = GetParam();
  p.begin(strf("id %d out of range (vocab %u), then a valid lookup", bad, kVocab));
  const std::uint32_t rows = 9;
  const std::uint32_t dim = 64;
  const auto table = p.alloc(F32, cnt(kVocab, dim), Misalign{1});
  const auto ids = p.alloc(I32, rows, Misalign{3});
  const auto out = p.alloc(F32, cnt(rows, dim));
  p.put(table, p.random(table.count, -1, 1));
  auto id_v = random_ids(p, {.rows = rows, .vocab = kVocab});
  id_v[5] = bad;
  p.put_i32(ids, id_v);
  const EmbeddingArgs args{out, table, ids, rows, dim, kVocab};
  const Status cs = p.ref().embedding(args);
  p.expect(cs == Status::index_out_of_range, "cpu: index_out_of_range");
  for (const Target& g : p.gpus()) {
    Status s = g.backend->embedding(args);
    if (s == Status::ok) s = g.backend->finish();
    if (s != Status::index_out_of_range) {
      p.fail("%s: op+finish gave %s, want index_out_of_range", g.label.c_str(),
             status_name(s).c_str());
    }
    const Status again = g.backend->finish();
    if (again != Status::ok) {
      p.fail("%s: the finish() after the error gave %s", g.label.c_str(),
             status_name(again).c_str());
    }
  }
  id_v[5] = 3;
  p.put_i32(ids, id_v);
  p.poison(out);
  p.run([&](Backend& b) { return b.embedding(args); });
  p.compare(out, exact_tol());
  p.end();
}

INSTANTIATE_TEST_SUITE_P(VocabOf1000, EmbeddingId,
                         ::testing::Values(static_cast<std::int32_t>(kVocab), -1, 0x7FFFFFFF),
                         [](const ::testing::TestParamInfo<std::int32_t>& param_info) {
                           return param_info.param < 0 ? strf("id_minus%d", -param_info.param)
                                                       : strf("id_%d", param_info.param);
                         });

}  // namespace
}  // namespace hix::vgpu::cuda::test
