// The executor (spec §6.2-§6.6).
#include "executor.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string_view>

namespace hix::vgpu {
namespace {

// Product of shape dimensions; every dimension at least 1, no overflow.
Result<std::uint64_t> elements(std::initializer_list<std::uint64_t> dims) {
  std::uint64_t n = 1;
  for (const auto d : dims) {
    if (d == 0 || !checked_mul(n, d, n)) return Status::bad_shape;
  }
  return n;
}

// A u32 or u64 field of a record (the table says which).
std::uint64_t field_value(std::span<const std::byte> rec, Field f) {
  if (f.size == sizeof(std::uint32_t)) return load_record<std::uint32_t>(rec, f.offset);
  return load_record<std::uint64_t>(rec, f.offset);
}

std::size_t dim_count(const Operand& o) {
  std::size_t n = 0;
  while (n < o.dims.size() && o.dims[n].size != 0) ++n;
  return n;
}

// The element count of a tensor operand as its row's count rule says.
// Products of two or more dimensions are checked here; a single dimension
// is passed on as it is and checked (after the handle) by operand().
Result<std::uint64_t> element_count(const Operand& o, std::span<const std::byte> rec) {
  if (o.count == CountRule::bytes) {
    const auto t = load_record<hix_vgpu_tref>(rec, o.field.offset);
    const std::uint64_t es = hix_vgpu_dtype_bytes(t.dtype);
    if (es == 0) return Status::bad_dtype;  // the parser let no such reference through
    const std::uint64_t bytes = field_value(rec, o.dims[0]);
    if (bytes == 0 || bytes % es != 0) return Status::bad_shape;
    return bytes / es;
  }
  if (o.batched_by.size != 0 &&
      (load_record<hix_vgpu_op_header>(rec, 0).flags & HIX_VGPU_BATCH) != 0) {
    // One [dims] tensor per sequence (spec §6.4.1).
    return elements({field_value(rec, o.batched_by), field_value(rec, o.dims[0]),
                     field_value(rec, o.dims[1]), field_value(rec, o.dims[2])});
  }
  switch (dim_count(o)) {
    case 0:
      return std::uint64_t{1};
    case 1:
      return field_value(rec, o.dims[0]);
    case 2:
      return elements({field_value(rec, o.dims[0]), field_value(rec, o.dims[1])});
    default:
      return elements(
          {field_value(rec, o.dims[0]), field_value(rec, o.dims[1]), field_value(rec, o.dims[2])});
  }
}

bool batched(std::span<const std::byte> rec) {
  return (load_record<hix_vgpu_op_header>(rec, 0).flags & HIX_VGPU_BATCH) != 0;
}

// ROPE's and ROPE_LLAMA3's rot_dim: even, 2..head_dim.
template <class Rope>
bool rotary_ok(std::span<const std::byte> rec) {
  const auto r = load_record<Rope>(rec, 0);
  return r.rot_dim != 0 && r.rot_dim % 2 == 0 && r.rot_dim <= r.head_dim;
}

// The row's shape rule (BAD_SHAPE when it fails).
bool shape_ok(const OpDesc& d, std::span<const std::byte> rec) {
  switch (d.shape) {
    case ShapeRule::none:
      return true;
    case ShapeRule::broadcast: {
      const auto r = load_record<hix_vgpu_op_binary>(rec, 0);
      return r.n != 0 && r.nb != 0 && r.n % r.nb == 0;
    }
    case ShapeRule::rotary:
      return d.record == Record::rope_llama3 ? rotary_ok<hix_vgpu_op_rope_llama3>(rec)
                                             : rotary_ok<hix_vgpu_op_rope>(rec);
    case ShapeRule::grouped_heads: {
      const auto r = load_record<hix_vgpu_op_attention>(rec, 0);
      return r.kv_heads != 0 && r.q_heads % r.kv_heads == 0;
    }
    case ShapeRule::sealed_bytes:
      return load_record<hix_vgpu_op_dma_crypt>(rec, 0).bytes <= HIX_VGPU_TENSOR_MAX_BYTES;
  }
  return false;
}

// The handlers below name operands by their index in the row; these hold
// every row of a layout to the order its handler reads.
constexpr bool same_name(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}
constexpr bool operands_are(Record record, std::initializer_list<const char*> names) {
  for (const OpDesc& d : kOpTable) {
    if (d.record != record) continue;
    std::size_t i = 0;
    for (const char* n : names) {
      if (!d.operands[i].is_tensor() || !same_name(d.operands[i].name, n)) return false;
      ++i;
    }
  }
  return true;
}
static_assert(operands_are(Record::dma, {}) && operands_are(Record::dma_crypt, {}) &&
              operands_are(Record::dma_peer, {}));
static_assert(operands_are(Record::embedding, {"out", "table", "ids"}));
static_assert(operands_are(Record::matmul, {"out", "a", "b", "bias"}));
static_assert(operands_are(Record::binary, {"out", "a", "b"}));
static_assert(operands_are(Record::layernorm, {"out", "x", "gamma", "beta"}));
static_assert(operands_are(Record::rmsnorm, {"out", "x", "gamma"}));
static_assert(operands_are(Record::unary, {"out", "x"}));
static_assert(operands_are(Record::rows, {"out", "x"}));
static_assert(operands_are(Record::rope, {"out", "x"}));
static_assert(operands_are(Record::rope_llama3, {"out", "x"}));
static_assert(operands_are(Record::attention, {"out", "q", "k", "v", "k_cache", "v_cache"}));
static_assert(operands_are(Record::sample, {"out", "x"}));
static_assert(operands_are(Record::fill, {"dst"}) && operands_are(Record::copy, {"dst", "src"}));
static_assert(operands_are(Record::break_if_eq, {"x"}));

}  // namespace

// Evaluates a Result-returning expression into `var`, or returns its status.
#define HIX_ASSIGN(var, expr)      \
  auto var##_result_ = (expr);     \
  if (!var##_result_) {            \
    return var##_result_.status(); \
  }                                \
  const auto var = *var##_result_  // NOLINT(bugprone-macro-parentheses): var is a declarator

Result<TensorArg> Executor::operand(const hix_vgpu_tref& t, std::uint64_t count) const {
  auto buf = env_.ctx.lookup(t.handle);
  if (!buf) return buf.status();
  const auto dtype = static_cast<DType>(t.dtype);
  std::uint64_t start = t.offset;
  if (t.index_reg != HIX_VGPU_REG_NONE) {
    const std::int32_t r = st_.regs[t.index_reg];
    if (r < 0) return Status::index_out_of_range;
    std::uint64_t step = 0;
    if (!checked_mul(static_cast<std::uint64_t>(r), t.index_stride, step) ||
        !checked_add(start, step, start)) {
      return Status::out_of_bounds;
    }
  }
  std::uint64_t bytes = 0;
  std::uint64_t end = 0;
  if (count == 0 || !checked_mul(count, dtype_size(dtype), bytes)) return Status::bad_shape;
  if (!checked_add(start, bytes, end) || end > buf->size) return Status::out_of_bounds;
  if (iterating_ && t.index_reg != HIX_VGPU_REG_NONE) {
    // The device adds R[index_reg] * stride to the register-free place.
    return TensorArg{VramOffset{buf->base.value + t.offset}, dtype, count,
                     MovingIndex{t.index_reg, t.index_stride, buf->base, buf->size}};
  }
  return TensorArg{VramOffset{buf->base.value + start}, dtype, count};
}

Result<std::uint64_t> Executor::position(std::uint32_t pos, std::uint8_t reg) const {
  std::uint64_t p = pos;
  if (reg != HIX_VGPU_REG_NONE) {
    if (st_.regs[reg] < 0) return Status::index_out_of_range;
    p += static_cast<std::uint64_t>(st_.regs[reg]);
  }
  return p;
}

// The row's part of an op, for every op alike: plain DMA refused in
// protected mode, the shape rule, every tensor operand's element count,
// then the required operands resolved and their dtypes checked, then the
// optional ones.
Status Executor::resolve(const OpDesc& d, std::span<const std::byte> rec, Operands& t) const {
  if (env_.protected_mode &&
      (d.dma == Dma::in_plain || d.dma == Dma::out_plain || d.dma == Dma::in_peer_plain)) {
    return Status::denied_protected;
  }
  if (!shape_ok(d, rec)) return Status::bad_shape;
  std::array<std::uint64_t, kMaxOperands> counts{};
  const std::size_t n = d.operand_count();
  for (std::size_t i = 0; i < n; ++i) {
    if (!d.operands[i].is_tensor()) continue;
    HIX_ASSIGN(count, element_count(d.operands[i], rec));
    counts[i] = count;
  }
  const auto tref_of = [&](std::size_t i) {
    return load_record<hix_vgpu_tref>(rec, d.operands[i].field.offset);
  };
  const auto want_dtype = [&](std::size_t i) {
    return accepts(d.operands[i], static_cast<std::uint8_t>(t[i]->dtype)) ? Status::ok
                                                                          : Status::bad_dtype;
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (!d.operands[i].is_tensor() || d.operands[i].optional) continue;
    HIX_ASSIGN(arg, operand(tref_of(i), counts[i]));
    t[i] = arg;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (t[i]) HIX_TRY(want_dtype(i));
  }
  if ((d.traits & kDTypePairs) != 0) {
    bool floats = true;
    bool ints = true;
    for (const auto& arg : t) {
      if (!arg) continue;
      floats = floats && is_float(arg->dtype);
      ints = ints && arg->dtype == DType::i32;
    }
    if (!floats && !ints) return Status::bad_dtype;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!d.operands[i].is_tensor() || !d.operands[i].optional) continue;
    const hix_vgpu_tref ref = tref_of(i);
    if (ref.handle == 0) continue;  // absent
    HIX_ASSIGN(arg, operand(ref, counts[i]));
    t[i] = arg;
    HIX_TRY(want_dtype(i));
  }
  return Status::ok;
}

Status Executor::nop(Mode /*m*/, const OpDesc& /*d*/, std::span<const std::byte> /*rec*/,
                     const Operands& /*t*/) {
  return Status::ok;  // NOP; LOOP too: the run loop handles it
}

Status Executor::fill(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                      const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  return env_.backend.fill(*t[0], load_record<hix_vgpu_op_fill>(rec, 0).value);
}

Status Executor::copy(Mode m, const OpDesc& /*d*/, std::span<const std::byte> /*rec*/,
                      const Operands& t) {
  return m == Mode::validate ? Status::ok : env_.backend.copy(*t[0], *t[1]);
}

Status Executor::dma(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_dma>(rec, 0);
  auto guest = env_.dma.map(GuestPhys{r.gpa}, r.bytes);
  if (!guest) return guest.status();
  return d.dma == Dma::in_plain ? env_.backend.write_bytes(t[0]->offset, *guest)
                                : env_.backend.read_bytes(t[0]->offset, *guest);
}

Status Executor::dma_crypt(Mode m, const OpDesc& d, std::span<const std::byte> rec,
                           const Operands& t) {
  const auto r = load_record<hix_vgpu_op_dma_crypt>(rec, 0);
  const bool inbound = d.dma == Dma::in_decrypt;
  HIX_ASSIGN(slot_ptr, crypt_slot(r, inbound));
  KeySlot& slot = *slot_ptr;
  if (m == Mode::validate) return Status::ok;
  const VramOffset buf = t[0]->offset;
  const SealParams params{static_cast<std::uint8_t>(r.key_slot), r.tensor_id};
  if (inbound) {
    return env_.crypto.dma_in_decrypt(buf, GuestPhys{r.gpa}, r.bytes, params, slot.key.bytes());
  }
  // The counter is the key's (spec §4.1), shared by every slot that holds
  // it; it moves before sealing: an id is never used twice under one key,
  // even when the DMA that follows fails.
  if (r.tensor_id <= slot.counters->last_out_id) return Status::replay;
  slot.counters->last_out_id = r.tensor_id;
  return env_.crypto.dma_out_encrypt(buf, GuestPhys{r.gpa}, r.bytes, params, slot.key.bytes());
}

Result<KeySlot*> Executor::crypt_slot(const hix_vgpu_op_dma_crypt& r, bool inbound) const {
  if (r.key_slot >= kKeySlots) return Status::bad_key_slot;
  KeySlot& slot = env_.ctx.slots[r.key_slot];
  if (!slot.key.present() || slot.counters == nullptr) return Status::bad_key_slot;
  const bool device_id = (r.tensor_id & kDeviceTensorBit) != 0;
  if (inbound == device_id) return Status::invalid_arg;
  return &slot;
}

std::optional<DecryptItem> Executor::decrypt_item(const DecodedOp& o,
                                                  std::span<const std::byte> bytes) const {
  const OpDesc& d = *o.desc;
  if (d.record != Record::dma_crypt || d.dma != Dma::in_decrypt) return std::nullopt;
  const std::span<const std::byte> rec = bytes.subspan(o.offset, d.size);
  Operands t{};
  if (resolve(d, rec, t) != Status::ok) return std::nullopt;
  const auto r = load_record<hix_vgpu_op_dma_crypt>(rec, 0);
  auto slot = crypt_slot(r, true);
  if (!slot) return std::nullopt;
  // The crypto engine's own checks, without counting a refusal: the op
  // that fails them runs alone and is counted then.
  const std::uint64_t sealed = sealed_size(r.bytes);
  if (sealed == 0 || !env_.dma.allowed(GuestPhys{r.gpa}, sealed)) return std::nullopt;
  return DecryptItem{t[0]->offset, GuestPhys{r.gpa}, r.bytes,
                     SealParams{static_cast<std::uint8_t>(r.key_slot), r.tensor_id},
                     (*slot)->key.bytes()};
}

std::optional<Executor::DecryptRun> Executor::run_decrypts(const Program& prog,
                                                           std::span<const std::byte> bytes,
                                                           std::size_t first) {
  const DecryptRunLimits& limits = env_.decrypt_runs;
  if (limits.max_tensors < 2) return std::nullopt;
  std::vector<DecryptItem> run;
  std::uint64_t sealed = 0;
  for (std::size_t j = first; j < prog.ops.size() && run.size() < limits.max_tensors; ++j) {
    if (st_.executed + run.size() + 1 > env_.op_budget) break;  // that op reports LIMIT
    auto item = decrypt_item(prog.ops[j], bytes);
    if (!item) break;
    const std::uint64_t size = sealed_size(item->bytes);
    if (size > limits.max_sealed_bytes - sealed) break;
    // One by one, the later of two overlapping destinations wins; a run
    // writes its tensors in no particular order.
    const bool overlaps = std::any_of(run.begin(), run.end(), [&](const DecryptItem& e) {
      return item->dst.value < e.dst.value + e.bytes && e.dst.value < item->dst.value + item->bytes;
    });
    if (overlaps) break;
    run.push_back(*item);
    sealed += size;
  }
  if (run.size() < 2) return std::nullopt;
  const RunOutcome out = env_.crypto.dma_in_decrypt_run(run);
  if (out.status == Status::ok) {
    st_.executed += run.size();
    return DecryptRun{run.size(), {Status::ok, 0}};
  }
  st_.executed += out.opened + 1;
  return DecryptRun{out.opened + 1, {out.status, static_cast<std::uint32_t>(first + out.opened)}};
}

// DMA_IN_PEER and DMA_IN_DECRYPT_PEER (spec §7.4).
Status Executor::dma_peer(Mode m, const OpDesc& d, std::span<const std::byte> rec,
                          const Operands& t) {
  const auto r = load_record<hix_vgpu_op_dma_peer>(rec, 0);
  const bool sealed = d.dma == Dma::in_peer_decrypt;
  if (sealed) {
    if (r.key_slot >= kKeySlots) return Status::bad_key_slot;
    const KeySlot& slot = env_.ctx.slots[r.key_slot];
    if (!slot.key.present() || slot.counters == nullptr) return Status::bad_key_slot;
    if ((r.tensor_id & kDeviceTensorBit) != 0) return Status::invalid_arg;
  }
  if (m == Mode::validate) return Status::ok;
  static const PeerDisks kNoDisks;
  const PeerDisks& disks = env_.peers != nullptr ? *env_.peers : kNoDisks;
  const VramOffset buf = t[0]->offset;
  if (sealed) {
    const KeySlot& slot = env_.ctx.slots[r.key_slot];
    const SealParams params{static_cast<std::uint8_t>(r.key_slot), r.tensor_id};
    return env_.crypto.dma_in_decrypt_peer(buf, disks, PeerAt{r.disk, r.offset}, r.bytes, params,
                                           slot.key.bytes());
  }
  if (!disks.holds(r.disk, r.offset, r.bytes)) {
    env_.dma.count_denied();
    return Status::dma_denied;
  }
  // Plain mode: the disk's bytes through a host buffer into VRAM.
  std::vector<std::byte> host(r.bytes);
  if (const Status s = disks.read(r.disk, r.offset, host); s != Status::ok) {
    if (s == Status::dma_denied) env_.dma.count_denied();
    return s;
  }
  return env_.backend.write_bytes(buf, host);
}

Status Executor::embedding(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                           const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_embedding>(rec, 0);
  return env_.backend.embedding(EmbeddingArgs{*t[0], *t[1], *t[2], r.rows, r.dim, r.vocab});
}

Status Executor::matmul(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                        const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_matmul>(rec, 0);
  return env_.backend.matmul(MatmulArgs{*t[0], *t[1], *t[2], t[3], r.m, r.n, r.k,
                                        (r.h.flags & HIX_VGPU_MATMUL_TRANS_B) != 0,
                                        (r.h.flags & HIX_VGPU_MATMUL_ACCUMULATE) != 0});
}

Status Executor::binary(Mode m, const OpDesc& d, std::span<const std::byte> /*rec*/,
                        const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const BinaryOp op = d.opcode == HIX_VGPU_OP_ADD ? BinaryOp::add : BinaryOp::mul;
  return env_.backend.binary(BinaryArgs{op, *t[0], *t[1], *t[2]});
}

Status Executor::layernorm(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                           const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_layernorm>(rec, 0);
  return env_.backend.layernorm(NormArgs{*t[0], *t[1], *t[2], t[3], r.rows, r.cols, r.eps});
}

Status Executor::rmsnorm(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                         const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_rmsnorm>(rec, 0);
  return env_.backend.rmsnorm(NormArgs{*t[0], *t[1], *t[2], std::nullopt, r.rows, r.cols, r.eps});
}

Status Executor::unary(Mode m, const OpDesc& d, std::span<const std::byte> /*rec*/,
                       const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const UnaryOp op = d.opcode == HIX_VGPU_OP_GELU ? UnaryOp::gelu : UnaryOp::silu;
  return env_.backend.unary(UnaryArgs{op, *t[0], *t[1]});
}

Status Executor::rows(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_rows>(rec, 0);
  const RowsArgs args{*t[0], *t[1], r.rows, r.cols};
  return d.opcode == HIX_VGPU_OP_ARGMAX ? env_.backend.argmax(args) : env_.backend.softmax(args);
}

Status Executor::rope(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                      const Operands& t) {
  const auto r = load_record<hix_vgpu_op_rope>(rec, 0);
  HIX_ASSIGN(pos, position(r.pos, r.pos_reg));
  if (m == Mode::validate) return Status::ok;
  const bool batch = batched(rec);
  if (moves(r.pos_reg)) {
    return env_.backend.rope(RopeArgs{*t[0], *t[1], r.tokens, r.heads, r.head_dim, r.rot_dim, r.pos,
                                      r.theta, Llama3Rope{}, r.pos_reg, batch});
  }
  return env_.backend.rope(RopeArgs{*t[0], *t[1], r.tokens, r.heads, r.head_dim, r.rot_dim, pos,
                                    r.theta, Llama3Rope{}, std::nullopt, batch});
}

Status Executor::rope_llama3(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                             const Operands& t) {
  const auto r = load_record<hix_vgpu_op_rope_llama3>(rec, 0);
  // The blend between the two bands divides by their factors' difference.
  if (!(r.high_freq_factor > r.low_freq_factor) || r.original_max_pos == 0) {
    return Status::invalid_arg;
  }
  HIX_ASSIGN(pos, position(r.pos, r.pos_reg));
  if (m == Mode::validate) return Status::ok;
  const Llama3Rope scaling{r.factor, r.low_freq_factor, r.high_freq_factor, r.original_max_pos};
  const bool batch = batched(rec);
  if (moves(r.pos_reg)) {
    return env_.backend.rope(RopeArgs{*t[0], *t[1], r.tokens, r.heads, r.head_dim, r.rot_dim, r.pos,
                                      r.theta, scaling, r.pos_reg, batch});
  }
  return env_.backend.rope(RopeArgs{*t[0], *t[1], r.tokens, r.heads, r.head_dim, r.rot_dim, pos,
                                    r.theta, scaling, std::nullopt, batch});
}

Status Executor::attention(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                           const Operands& t) {
  const auto r = load_record<hix_vgpu_op_attention>(rec, 0);
  HIX_ASSIGN(pos, position(r.pos, r.pos_reg));
  // Batched: every sequence writes one row, at p (spec §6.4.1).
  const bool batch = batched(rec);
  if (pos + (batch ? 1 : r.tokens) > r.max_seq) return Status::index_out_of_range;
  if (m == Mode::validate) return Status::ok;
  if (moves(r.pos_reg)) {
    return env_.backend.attention(AttentionArgs{*t[0], *t[1], *t[2], *t[3], *t[4], *t[5], r.tokens,
                                                r.q_heads, r.kv_heads, r.head_dim, r.max_seq, r.pos,
                                                r.scale, r.pos_reg, batch});
  }
  return env_.backend.attention(AttentionArgs{*t[0], *t[1], *t[2], *t[3], *t[4], *t[5], r.tokens,
                                              r.q_heads, r.kv_heads, r.head_dim, r.max_seq, pos,
                                              r.scale, std::nullopt, batch});
}

Status Executor::sample(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                        const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_sample>(rec, 0);
  const Status s =
      iterating_
          ? env_.backend.sample(SampleArgs{*t[0], *t[1], r.rows, r.cols, r.temperature, r.top_k,
                                           r.seed, st_.draws - iteration_draws_, true})
          : env_.backend.sample(SampleArgs{*t[0], *t[1], r.rows, r.cols, r.temperature, r.top_k,
                                           r.seed, st_.draws});
  st_.draws += r.rows;
  return s;
}

Status Executor::reg(Mode m, const OpDesc& d, std::span<const std::byte> rec,
                     const Operands& /*t*/) {
  if (m == Mode::validate) return Status::ok;
  const auto r = load_record<hix_vgpu_op_reg>(rec, 0);
  if (iterating_) {
    HIX_TRY(env_.backend.record_reg(static_cast<std::uint8_t>(r.reg), r.value,
                                    d.opcode == HIX_VGPU_OP_SET_REG));
  }
  std::int32_t& dst = st_.regs[r.reg];
  if (d.opcode == HIX_VGPU_OP_SET_REG) {
    dst = r.value;
  } else {  // wrapping add, spelled in unsigned arithmetic
    dst = static_cast<std::int32_t>(static_cast<std::uint32_t>(dst) +
                                    static_cast<std::uint32_t>(r.value));
  }
  return Status::ok;
}

Status Executor::break_if_eq(Mode m, const OpDesc& /*d*/, std::span<const std::byte> rec,
                             const Operands& t) {
  if (m == Mode::validate) return Status::ok;
  const TensorArg& x = *t[0];
  const std::int32_t value = load_record<hix_vgpu_op_break_if_eq>(rec, 0).value;
  if (breaks_ != nullptr) {  // recording: the device decides when replayed
    const auto id = static_cast<std::uint32_t>(breaks_->size());
    HIX_TRY(env_.backend.record_break_if_eq(x, value, id));
    breaks_->push_back(st_);
    return Status::ok;
  }
  std::int32_t v = 0;
  HIX_TRY(env_.backend.read_bytes(x.offset, std::as_writable_bytes(std::span(&v, 1))));
  if (v == value) break_ = true;
  return Status::ok;
}

Status Executor::op(Mode mode, const DecodedOp& op, std::span<const std::byte> bytes) {
  // The handler of each record layout, in the order of enum Record.
  struct Row {
    Record record;
    Handler handler;
  };
  static constexpr std::array<Row, kRecordLayouts> kHandlers{{
      {Record::nop, &Executor::nop},
      {Record::fill, &Executor::fill},
      {Record::copy, &Executor::copy},
      {Record::dma, &Executor::dma},
      {Record::dma_crypt, &Executor::dma_crypt},
      {Record::dma_peer, &Executor::dma_peer},
      {Record::embedding, &Executor::embedding},
      {Record::matmul, &Executor::matmul},
      {Record::binary, &Executor::binary},
      {Record::layernorm, &Executor::layernorm},
      {Record::rmsnorm, &Executor::rmsnorm},
      {Record::unary, &Executor::unary},
      {Record::rows, &Executor::rows},
      {Record::rope, &Executor::rope},
      {Record::rope_llama3, &Executor::rope_llama3},
      {Record::attention, &Executor::attention},
      {Record::sample, &Executor::sample},
      {Record::reg, &Executor::reg},
      {Record::loop, &Executor::nop},
      {Record::break_if_eq, &Executor::break_if_eq},
  }};
  static_assert(
      [] {
        for (std::size_t i = 0; i < kHandlers.size(); ++i) {
          if (static_cast<std::size_t>(kHandlers[i].record) != i) return false;
        }
        return true;
      }(),
      "one handler per record layout, in enum order");

  const OpDesc& d = *op.desc;
  const std::span<const std::byte> rec = bytes.subspan(op.offset, d.size);
  Operands t{};
  HIX_TRY(resolve(d, rec, t));
  return (this->*kHandlers[static_cast<std::size_t>(d.record)].handler)(mode, d, rec, t);
}

const LoopRecordings::Entry* LoopRecordings::find(std::span<const std::byte> fingerprint) const {
  for (const auto& e : entries_) {
    if (std::ranges::equal(e.fingerprint, fingerprint)) return &e;
  }
  return nullptr;
}

const LoopRecordings::Entry& LoopRecordings::add(Entry e) {
  // The backend keeps as many as it likes; a replay of one it evicted fails
  // and the executor records again.
  if (entries_.size() >= kMaxEntries) entries_.erase(entries_.begin());
  entries_.push_back(std::move(e));
  return entries_.back();
}

void LoopRecordings::forget(std::uint64_t key) {
  std::erase_if(entries_, [key](const Entry& e) { return e.key == key; });
}

void LoopRecordings::drop_all(Backend& backend) {
  entries_.clear();
  backend.drop_recordings();
}

ExecResult Executor::validate(const Program& prog, std::span<const std::byte> bytes) {
  st_ = {};
  for (std::size_t i = 0; i < prog.ops.size(); ++i) {
    const Status s = op(Mode::validate, prog.ops[i], bytes);
    if (s != Status::ok) return {s, static_cast<std::uint32_t>(i)};
  }
  return {Status::ok, 0};
}

ExecResult Executor::step(const Program& prog, std::span<const std::byte> bytes, std::size_t i) {
  if (++st_.executed > env_.op_budget) return {Status::limit, static_cast<std::uint32_t>(i)};
  return {op(Mode::run, prog.ops[i], bytes), static_cast<std::uint32_t>(i)};
}

ExecResult Executor::run_loop_eagerly(const Program& prog, std::span<const std::byte> bytes,
                                      std::size_t first, std::size_t body_end) {
  const auto loop = load_record<hix_vgpu_op_loop>(bytes, prog.ops[first].offset);
  break_ = false;
  for (std::uint32_t it = 0; it < loop.count && !break_; ++it) {
    for (std::size_t j = first + 1; j < body_end && !break_; ++j) {
      const auto r = step(prog, bytes, j);
      if (r.status != Status::ok) return r;
    }
  }
  break_ = false;
  return {Status::ok, 0};
}

bool Executor::recordable(const Program& prog, std::size_t first, std::size_t body_end) const {
  if (env_.recordings == nullptr || !env_.backend.can_record()) return false;
  // Guest memory and the crypto engine are not recorded.
  return std::all_of(prog.ops.begin() + static_cast<std::ptrdiff_t>(first) + 1,
                     prog.ops.begin() + static_cast<std::ptrdiff_t>(body_end),
                     [](const DecodedOp& o) { return o.desc->recordable(); });
}

// Ends the recording in progress: kept under `key` when the walk that made
// it succeeded; otherwise dropped and the state restored to `entry`.
bool Executor::keep_recording(Status walked, const RunState& entry, std::uint64_t key) {
  if (walked != Status::ok) {
    env_.backend.abort_recording();
    st_ = entry;
    return false;
  }
  if (env_.backend.end_recording(key) != Status::ok) {
    st_ = entry;
    return false;
  }
  return true;
}

// Records the whole loop, every iteration, then replays the recording; a
// later run of the same loop from the same state replays it with no
// per-iteration host work. Nothing runs while recording, so on any failure
// the state is restored and the caller runs the loop eagerly, which gives
// the eager semantics (and errors) exactly.
std::optional<ExecResult> Executor::run_loop_recorded(const Program& prog,
                                                      std::span<const std::byte> bytes,
                                                      std::size_t first, std::size_t body_end) {
  const std::uint32_t begin = prog.ops[first].offset;
  const std::uint32_t end = prog.ops[body_end - 1].offset + prog.ops[body_end - 1].desc->size;
  std::vector<std::byte> fingerprint(sizeof env_.ctx_id + sizeof st_.regs + sizeof st_.draws);
  std::memcpy(fingerprint.data(), &env_.ctx_id, sizeof env_.ctx_id);
  std::memcpy(fingerprint.data() + sizeof env_.ctx_id, st_.regs.data(), sizeof st_.regs);
  std::memcpy(fingerprint.data() + sizeof env_.ctx_id + sizeof st_.regs, &st_.draws,
              sizeof st_.draws);
  fingerprint.insert(fingerprint.end(), bytes.begin() + begin, bytes.begin() + end);

  LoopRecordings& recs = *env_.recordings;
  const RunState entry = st_;
  const LoopRecordings::Entry* found = recs.find(fingerprint);
  if (found == nullptr) {
    LoopRecordings::Entry e{std::move(fingerprint), recs.next_key(), entry, {}, {}};
    if (env_.backend.begin_recording() != Status::ok) return std::nullopt;
    breaks_ = &e.at_break;
    const ExecResult walked = run_loop_eagerly(prog, bytes, first, body_end);
    breaks_ = nullptr;
    if (!keep_recording(walked.status, entry, e.key)) return std::nullopt;
    e.at_end = st_;
    found = &recs.add(std::move(e));
  }
  // Ops a replay executes, counted as the eager run would count them; the
  // budget is checked against the longest outcome (no break).
  const auto executed_after = [&](const RunState& s) {
    return entry.executed + (s.executed - found->at_entry.executed);
  };
  if (executed_after(found->at_end) > env_.op_budget) {
    st_ = entry;
    return std::nullopt;  // the eager run reports LIMIT at the right op
  }
  const std::uint64_t key = found->key;
  auto fired = env_.backend.replay(key);
  if (!fired) {
    recs.forget(key);  // the backend no longer holds it
    st_ = entry;
    return std::nullopt;
  }
  const RunState& after = fired->has_value() && **fired < found->at_break.size()
                              ? found->at_break[**fired]
                              : found->at_end;
  st_ = after;
  st_.executed = executed_after(after);
  return ExecResult{Status::ok, 0};
}

namespace {

// Operands a register may move inside an iteration recording: the ones
// whose kernels read the register on the device (spec §6.7).
bool may_move(const OpDesc& d, std::string_view operand) {
  switch (d.record) {
    case Record::embedding:
      return operand == "ids";
    case Record::copy:
      return operand == "dst" || operand == "src";
    case Record::rows:
      return d.opcode == HIX_VGPU_OP_ARGMAX && operand == "out";
    case Record::sample:
      return operand == "out";
    case Record::break_if_eq:
      return operand == "x";
    default:
      return false;
  }
}

// Whether a register moves any of the op's tensor operands.
bool has_moving_operand(const OpDesc& d, std::span<const std::byte> rec) {
  for (std::size_t i = 0; i < d.operand_count(); ++i) {
    if (!d.operands[i].is_tensor()) continue;
    const auto t = load_record<hix_vgpu_tref>(rec, d.operands[i].field.offset);
    if (t.handle != 0 && t.index_reg != HIX_VGPU_REG_NONE) return true;
  }
  return false;
}

}  // namespace

bool Executor::iteration_recordable(const Program& prog, std::span<const std::byte> bytes,
                                    std::size_t first, std::size_t body_end) const {
  if (body_end == first + 1 || !recordable(prog, first, body_end) ||
      !env_.backend.can_record_iterations()) {
    return false;
  }
  for (std::size_t j = first + 1; j < body_end; ++j) {
    const OpDesc& d = *prog.ops[j].desc;
    const auto rec = bytes.subspan(prog.ops[j].offset, d.size);
    for (std::size_t i = 0; i < d.operand_count(); ++i) {
      if (!d.operands[i].is_tensor()) continue;
      const auto t = load_record<hix_vgpu_tref>(rec, d.operands[i].field.offset);
      if (t.handle != 0 && t.index_reg != HIX_VGPU_REG_NONE && !may_move(d, d.operands[i].name)) {
        return false;
      }
    }
  }
  return true;
}

Status Executor::walk(const Program& prog, std::span<const std::byte> bytes, std::size_t first,
                      std::size_t ops) {
  for (std::size_t j = first + 1; j < first + 1 + ops; ++j) {
    ++st_.executed;
    const DecodedOp& o = prog.ops[j];
    const OpDesc& d = *o.desc;
    const auto rec = bytes.subspan(o.offset, d.size);
    if (d.record == Record::reg) {
      HIX_TRY(op(Mode::run, o, bytes));  // the host's registers only
      continue;
    }
    // An op whose operands and positions no register moves was checked when
    // it was recorded, and is the same in every iteration.
    const bool positioned = d.record == Record::rope || d.record == Record::rope_llama3 ||
                            d.record == Record::attention;
    if (positioned || has_moving_operand(d, rec)) HIX_TRY(op(Mode::validate, o, bytes));
    if (d.record == Record::sample) st_.draws += load_record<hix_vgpu_op_sample>(rec, 0).rows;
  }
  return Status::ok;
}

// One iteration recorded for all (spec §6.7): the registers and the sample
// count live on the device, so the recording serves every iteration, every
// entry state and every command buffer of the context that reaches the same
// loop; a replay is one launch per iteration with no host work between
// them. Every iteration's moving operands and positions are checked here
// first; anything that fails leaves the state untouched and the caller runs
// the loop eagerly, which reports the eager error at the eager op.
std::optional<ExecResult> Executor::run_loop_iterations(const Program& prog,
                                                        std::span<const std::byte> bytes,
                                                        std::size_t first, std::size_t body_end) {
  const auto loop = load_record<hix_vgpu_op_loop>(bytes, prog.ops[first].offset);
  const std::size_t body = body_end - first - 1;
  const RunState entry = st_;
  std::uint64_t longest = 0;  // the op budget, against the run with no break
  if (!checked_mul(std::uint64_t{loop.count}, std::uint64_t{body}, longest) ||
      !checked_add(longest, entry.executed, longest) || longest > env_.op_budget) {
    return std::nullopt;
  }
  for (std::uint32_t it = 0; it < loop.count; ++it) {
    if (walk(prog, bytes, first, body) != Status::ok) {
      st_ = entry;
      return std::nullopt;
    }
  }
  const RunState at_end = st_;
  st_ = entry;

  const std::uint32_t begin = prog.ops[first + 1].offset;
  const std::uint32_t end = prog.ops[body_end - 1].offset + prog.ops[body_end - 1].desc->size;
  std::vector<std::byte> fingerprint(1 + sizeof env_.ctx_id);
  fingerprint[0] = std::byte{'I'};  // not a whole-loop recording's
  std::memcpy(fingerprint.data() + 1, &env_.ctx_id, sizeof env_.ctx_id);
  fingerprint.insert(fingerprint.end(), bytes.begin() + begin, bytes.begin() + end);

  LoopRecordings& recs = *env_.recordings;
  const LoopRecordings::Entry* found = recs.find(fingerprint);
  if (found == nullptr) {
    LoopRecordings::Entry e{std::move(fingerprint), recs.next_key(), entry, {}, entry, true, {}};
    if (env_.backend.begin_recording() != Status::ok) return std::nullopt;
    breaks_ = &e.at_break;
    iterating_ = true;
    iteration_draws_ = entry.draws;
    ExecResult walked{Status::ok, 0};
    for (std::size_t j = first + 1; j < body_end && walked.status == Status::ok; ++j) {
      walked = step(prog, bytes, j);
    }
    iterating_ = false;
    breaks_ = nullptr;
    if (walked.status == Status::ok) {
      walked.status = env_.backend.record_iteration_end(st_.draws - entry.draws);
    }
    if (!keep_recording(walked.status, entry, e.key)) return std::nullopt;
    for (const RunState& b : e.at_break) e.ops_to_break.push_back(b.executed - entry.executed);
    found = &recs.add(std::move(e));
  }
  const std::uint64_t key = found->key;
  const std::vector<std::uint64_t> ops_to_break = found->ops_to_break;
  st_ = entry;
  auto fired = env_.backend.replay_iterations(key, {entry.regs, entry.draws, loop.count});
  if (!fired) {
    recs.forget(key);  // the backend no longer holds it
    return std::nullopt;
  }
  if (!fired->has_value()) {
    st_ = at_end;
    return ExecResult{Status::ok, 0};
  }
  // A break fired: the state the eager run has there, walked again on the
  // host (every step of it was checked above).
  const auto [id, iteration] = **fired;
  if (id >= ops_to_break.size() || iteration >= loop.count) {
    return ExecResult{Status::internal, static_cast<std::uint32_t>(first)};
  }
  for (std::uint32_t it = 0; it < iteration; ++it) {
    if (walk(prog, bytes, first, body) != Status::ok) {
      return ExecResult{Status::internal, static_cast<std::uint32_t>(first)};
    }
  }
  if (walk(prog, bytes, first, ops_to_break[id]) != Status::ok) {
    return ExecResult{Status::internal, static_cast<std::uint32_t>(first)};
  }
  return ExecResult{Status::ok, 0};
}

ExecResult Executor::run(const Program& prog, std::span<const std::byte> bytes) {
  st_ = {};
  ExecResult result{Status::ok, 0};
  std::size_t i = 0;
  while (i < prog.ops.size()) {
    if ((prog.ops[i].desc->traits & kOpensLoop) == 0) {
      if (const auto run = run_decrypts(prog, bytes, i)) {
        result = run->result;
        if (result.status != Status::ok) break;
        i += run->ops;
        continue;
      }
      result = step(prog, bytes, i);
      if (result.status != Status::ok) break;
      ++i;
      continue;
    }
    const auto loop = load_record<hix_vgpu_op_loop>(bytes, prog.ops[i].offset);
    const std::size_t body_end = i + 1 + loop.body_ops;  // in range: checked by the parser
    std::optional<ExecResult> recorded;
    if (iteration_recordable(prog, bytes, i, body_end)) {
      recorded = run_loop_iterations(prog, bytes, i, body_end);
    } else if (recordable(prog, i, body_end)) {
      recorded = run_loop_recorded(prog, bytes, i, body_end);
    }
    result = recorded ? *recorded : run_loop_eagerly(prog, bytes, i, body_end);
    if (result.status != Status::ok) break;
    i = body_end;
  }
  // An asynchronous backend reports data-dependent errors here (spec §6.7).
  const Status drained = env_.backend.finish();
  if (result.status == Status::ok && drained != Status::ok) {
    const auto last = prog.ops.empty() ? 0 : prog.ops.size() - 1;
    return {drained, static_cast<std::uint32_t>(std::min(i, last))};
  }
  return result;
}

}  // namespace hix::vgpu
