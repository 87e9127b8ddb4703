// The executor (spec §6.2-§6.6).
#include "executor.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>

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

Status want_float(const TensorArg& t) {
  return is_float(t.dtype) ? Status::ok : Status::bad_dtype;
}
Status want_i32(const TensorArg& t) {
  return t.dtype == DType::i32 ? Status::ok : Status::bad_dtype;
}

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

Status Executor::fill(Mode m, const hix_vgpu_op_fill& r) {
  HIX_ASSIGN(dst, operand(r.dst, r.count));
  return m == Mode::validate ? Status::ok : env_.backend.fill(dst, r.value);
}

Status Executor::copy(Mode m, const hix_vgpu_op_copy& r) {
  HIX_ASSIGN(dst, operand(r.dst, r.count));
  HIX_ASSIGN(src, operand(r.src, r.count));
  const bool floats = is_float(dst.dtype) && is_float(src.dtype);
  const bool ints = dst.dtype == DType::i32 && src.dtype == DType::i32;
  if (!floats && !ints) return Status::bad_dtype;
  return m == Mode::validate ? Status::ok : env_.backend.copy(dst, src);
}

Status Executor::dma(Mode m, std::uint16_t opcode, const hix_vgpu_op_dma& r) {
  if (env_.protected_mode) return Status::denied_protected;
  const std::uint64_t es = dtype_size(static_cast<DType>(r.buf.dtype));
  if (r.bytes == 0 || r.bytes % es != 0) return Status::bad_shape;
  HIX_ASSIGN(buf, operand(r.buf, r.bytes / es));
  if (m == Mode::validate) return Status::ok;
  auto guest = env_.dma.map(GuestPhys{r.gpa}, r.bytes);
  if (!guest) return guest.status();
  return opcode == HIX_VGPU_OP_DMA_IN ? env_.backend.write_bytes(buf.offset, *guest)
                                      : env_.backend.read_bytes(buf.offset, *guest);
}

Status Executor::dma_crypt(Mode m, std::uint16_t opcode, const hix_vgpu_op_dma_crypt& r) {
  const std::uint64_t es = dtype_size(static_cast<DType>(r.buf.dtype));
  if (r.bytes == 0 || r.bytes % es != 0 || r.bytes > HIX_VGPU_TENSOR_MAX_BYTES) {
    return Status::bad_shape;
  }
  HIX_ASSIGN(buf, operand(r.buf, r.bytes / es));
  if (r.key_slot >= kKeySlots) return Status::bad_key_slot;
  KeySlot& slot = env_.ctx.slots[r.key_slot];
  if (!slot.key.present() || slot.counters == nullptr) return Status::bad_key_slot;
  const bool inbound = opcode == HIX_VGPU_OP_DMA_IN_DECRYPT;
  const bool device_id = (r.tensor_id & kDeviceTensorBit) != 0;
  if (inbound == device_id) return Status::invalid_arg;
  if (m == Mode::validate) return Status::ok;
  const SealParams params{static_cast<std::uint8_t>(r.key_slot), r.tensor_id};
  if (inbound) {
    return env_.crypto.dma_in_decrypt(buf.offset, GuestPhys{r.gpa}, r.bytes, params,
                                      slot.key.bytes());
  }
  // The counter is the key's (spec §4.1), shared by every slot that holds
  // it; it moves before sealing: an id is never used twice under one key,
  // even when the DMA that follows fails.
  if (r.tensor_id <= slot.counters->last_out_id) return Status::replay;
  slot.counters->last_out_id = r.tensor_id;
  return env_.crypto.dma_out_encrypt(buf.offset, GuestPhys{r.gpa}, r.bytes, params,
                                     slot.key.bytes());
}

Status Executor::embedding(Mode m, const hix_vgpu_op_embedding& r) {
  HIX_ASSIGN(n_out, elements({r.rows, r.dim}));
  HIX_ASSIGN(n_table, elements({r.vocab, r.dim}));
  HIX_ASSIGN(out, operand(r.out, n_out));
  HIX_ASSIGN(table, operand(r.table, n_table));
  HIX_ASSIGN(ids, operand(r.ids, r.rows));
  HIX_TRY(want_float(out));
  HIX_TRY(want_float(table));
  HIX_TRY(want_i32(ids));
  if (m == Mode::validate) return Status::ok;
  return env_.backend.embedding(EmbeddingArgs{out, table, ids, r.rows, r.dim, r.vocab});
}

Status Executor::matmul(Mode m, const hix_vgpu_op_matmul& r) {
  HIX_ASSIGN(n_out, elements({r.m, r.n}));
  HIX_ASSIGN(n_a, elements({r.m, r.k}));
  HIX_ASSIGN(n_b, elements({r.k, r.n}));
  HIX_ASSIGN(out, operand(r.out, n_out));
  HIX_ASSIGN(a, operand(r.a, n_a));
  HIX_ASSIGN(b, operand(r.b, n_b));
  HIX_TRY(want_float(out));
  HIX_TRY(want_float(a));
  HIX_TRY(want_float(b));
  std::optional<TensorArg> bias;
  if (r.bias.handle != 0) {
    HIX_ASSIGN(bv, operand(r.bias, r.n));
    HIX_TRY(want_float(bv));
    bias = bv;
  }
  if (m == Mode::validate) return Status::ok;
  return env_.backend.matmul(MatmulArgs{out, a, b, bias, r.m, r.n, r.k,
                                        (r.h.flags & HIX_VGPU_MATMUL_TRANS_B) != 0,
                                        (r.h.flags & HIX_VGPU_MATMUL_ACCUMULATE) != 0});
}

Status Executor::binary(Mode m, std::uint16_t opcode, const hix_vgpu_op_binary& r) {
  if (r.n == 0 || r.nb == 0 || r.n % r.nb != 0) return Status::bad_shape;
  HIX_ASSIGN(out, operand(r.out, r.n));
  HIX_ASSIGN(a, operand(r.a, r.n));
  HIX_ASSIGN(b, operand(r.b, r.nb));
  HIX_TRY(want_float(out));
  HIX_TRY(want_float(a));
  HIX_TRY(want_float(b));
  if (m == Mode::validate) return Status::ok;
  const BinaryOp op = opcode == HIX_VGPU_OP_ADD ? BinaryOp::add : BinaryOp::mul;
  return env_.backend.binary(BinaryArgs{op, out, a, b});
}

Status Executor::layernorm(Mode m, const hix_vgpu_op_layernorm& r) {
  HIX_ASSIGN(n, elements({r.rows, r.cols}));
  HIX_ASSIGN(out, operand(r.out, n));
  HIX_ASSIGN(x, operand(r.x, n));
  HIX_ASSIGN(gamma, operand(r.gamma, r.cols));
  HIX_ASSIGN(beta, operand(r.beta, r.cols));
  for (const auto* t : {&out, &x, &gamma, &beta}) HIX_TRY(want_float(*t));
  if (m == Mode::validate) return Status::ok;
  return env_.backend.layernorm(NormArgs{out, x, gamma, beta, r.rows, r.cols, r.eps});
}

Status Executor::rmsnorm(Mode m, const hix_vgpu_op_rmsnorm& r) {
  HIX_ASSIGN(n, elements({r.rows, r.cols}));
  HIX_ASSIGN(out, operand(r.out, n));
  HIX_ASSIGN(x, operand(r.x, n));
  HIX_ASSIGN(gamma, operand(r.gamma, r.cols));
  for (const auto* t : {&out, &x, &gamma}) HIX_TRY(want_float(*t));
  if (m == Mode::validate) return Status::ok;
  return env_.backend.rmsnorm(NormArgs{out, x, gamma, std::nullopt, r.rows, r.cols, r.eps});
}

Status Executor::unary(Mode m, std::uint16_t opcode, const hix_vgpu_op_unary& r) {
  HIX_ASSIGN(out, operand(r.out, r.count));
  HIX_ASSIGN(x, operand(r.x, r.count));
  HIX_TRY(want_float(out));
  HIX_TRY(want_float(x));
  if (m == Mode::validate) return Status::ok;
  const UnaryOp op = opcode == HIX_VGPU_OP_GELU ? UnaryOp::gelu : UnaryOp::silu;
  return env_.backend.unary(UnaryArgs{op, out, x});
}

Status Executor::rows(Mode m, std::uint16_t opcode, const hix_vgpu_op_rows& r) {
  HIX_ASSIGN(n, elements({r.rows, r.cols}));
  const bool is_argmax = opcode == HIX_VGPU_OP_ARGMAX;
  HIX_ASSIGN(out, operand(r.out, is_argmax ? r.rows : n));
  HIX_ASSIGN(x, operand(r.x, n));
  HIX_TRY(is_argmax ? want_i32(out) : want_float(out));
  HIX_TRY(want_float(x));
  if (m == Mode::validate) return Status::ok;
  const RowsArgs args{out, x, r.rows, r.cols};
  return is_argmax ? env_.backend.argmax(args) : env_.backend.softmax(args);
}

Status Executor::rope(Mode m, const hix_vgpu_op_rope& r) {
  HIX_ASSIGN(n, elements({r.tokens, r.heads, r.head_dim}));
  if (r.rot_dim == 0 || r.rot_dim % 2 != 0 || r.rot_dim > r.head_dim) return Status::bad_shape;
  HIX_ASSIGN(out, operand(r.out, n));
  HIX_ASSIGN(x, operand(r.x, n));
  HIX_TRY(want_float(out));
  HIX_TRY(want_float(x));
  HIX_ASSIGN(pos, position(r.pos, r.pos_reg));
  if (m == Mode::validate) return Status::ok;
  return env_.backend.rope(
      RopeArgs{out, x, r.tokens, r.heads, r.head_dim, r.rot_dim, pos, r.theta});
}

Status Executor::attention(Mode m, const hix_vgpu_op_attention& r) {
  if (r.kv_heads == 0 || r.q_heads % r.kv_heads != 0) return Status::bad_shape;
  HIX_ASSIGN(n_q, elements({r.tokens, r.q_heads, r.head_dim}));
  HIX_ASSIGN(n_kv, elements({r.tokens, r.kv_heads, r.head_dim}));
  HIX_ASSIGN(n_cache, elements({r.max_seq, r.kv_heads, r.head_dim}));
  HIX_ASSIGN(out, operand(r.out, n_q));
  HIX_ASSIGN(q, operand(r.q, n_q));
  HIX_ASSIGN(k, operand(r.k, n_kv));
  HIX_ASSIGN(v, operand(r.v, n_kv));
  HIX_ASSIGN(kc, operand(r.k_cache, n_cache));
  HIX_ASSIGN(vc, operand(r.v_cache, n_cache));
  for (const auto* t : {&out, &q, &k, &v, &kc, &vc}) HIX_TRY(want_float(*t));
  HIX_ASSIGN(pos, position(r.pos, r.pos_reg));
  if (pos + r.tokens > r.max_seq) return Status::index_out_of_range;
  if (m == Mode::validate) return Status::ok;
  return env_.backend.attention(AttentionArgs{out, q, k, v, kc, vc, r.tokens, r.q_heads, r.kv_heads,
                                              r.head_dim, r.max_seq, pos, r.scale});
}

Status Executor::sample(Mode m, const hix_vgpu_op_sample& r) {
  HIX_ASSIGN(n, elements({r.rows, r.cols}));
  HIX_ASSIGN(out, operand(r.out, r.rows));
  HIX_ASSIGN(x, operand(r.x, n));
  HIX_TRY(want_i32(out));
  HIX_TRY(want_float(x));
  if (m == Mode::validate) return Status::ok;
  const Status s = env_.backend.sample(
      SampleArgs{out, x, r.rows, r.cols, r.temperature, r.top_k, r.seed, st_.draws});
  st_.draws += r.rows;
  return s;
}

Status Executor::reg(Mode m, std::uint16_t opcode, const hix_vgpu_op_reg& r) {
  if (m == Mode::validate) return Status::ok;
  std::int32_t& dst = st_.regs[r.reg];
  if (opcode == HIX_VGPU_OP_SET_REG) {
    dst = r.value;
  } else {  // wrapping add, spelled in unsigned arithmetic
    dst = static_cast<std::int32_t>(static_cast<std::uint32_t>(dst) +
                                    static_cast<std::uint32_t>(r.value));
  }
  return Status::ok;
}

Status Executor::break_if_eq(Mode m, const hix_vgpu_op_break_if_eq& r) {
  HIX_ASSIGN(x, operand(r.x, 1));
  HIX_TRY(want_i32(x));
  if (m == Mode::validate) return Status::ok;
  if (breaks_ != nullptr) {  // recording: the device decides when replayed
    const auto id = static_cast<std::uint32_t>(breaks_->size());
    HIX_TRY(env_.backend.record_break_if_eq(x, r.value, id));
    breaks_->push_back(st_);
    return Status::ok;
  }
  std::int32_t v = 0;
  HIX_TRY(env_.backend.read_bytes(x.offset, std::as_writable_bytes(std::span(&v, 1))));
  if (v == r.value) break_ = true;
  return Status::ok;
}

Status Executor::op(Mode mode, const DecodedOp& op, std::span<const std::byte> bytes) {
  const std::uint32_t off = op.offset;
  switch (static_cast<hix_vgpu_opcode>(op.opcode)) {
    case HIX_VGPU_OP_NOP:
    case HIX_VGPU_OP_LOOP:  // the run loop handles LOOP itself
      return Status::ok;
    case HIX_VGPU_OP_FILL:
      return fill(mode, load_record<hix_vgpu_op_fill>(bytes, off));
    case HIX_VGPU_OP_COPY:
      return copy(mode, load_record<hix_vgpu_op_copy>(bytes, off));
    case HIX_VGPU_OP_DMA_IN:
    case HIX_VGPU_OP_DMA_OUT:
      return dma(mode, op.opcode, load_record<hix_vgpu_op_dma>(bytes, off));
    case HIX_VGPU_OP_DMA_IN_DECRYPT:
    case HIX_VGPU_OP_DMA_OUT_ENCRYPT:
      return dma_crypt(mode, op.opcode, load_record<hix_vgpu_op_dma_crypt>(bytes, off));
    case HIX_VGPU_OP_EMBEDDING:
      return embedding(mode, load_record<hix_vgpu_op_embedding>(bytes, off));
    case HIX_VGPU_OP_MATMUL:
      return matmul(mode, load_record<hix_vgpu_op_matmul>(bytes, off));
    case HIX_VGPU_OP_ADD:
    case HIX_VGPU_OP_MUL:
      return binary(mode, op.opcode, load_record<hix_vgpu_op_binary>(bytes, off));
    case HIX_VGPU_OP_LAYERNORM:
      return layernorm(mode, load_record<hix_vgpu_op_layernorm>(bytes, off));
    case HIX_VGPU_OP_RMSNORM:
      return rmsnorm(mode, load_record<hix_vgpu_op_rmsnorm>(bytes, off));
    case HIX_VGPU_OP_GELU:
    case HIX_VGPU_OP_SILU:
      return unary(mode, op.opcode, load_record<hix_vgpu_op_unary>(bytes, off));
    case HIX_VGPU_OP_SOFTMAX:
    case HIX_VGPU_OP_ARGMAX:
      return rows(mode, op.opcode, load_record<hix_vgpu_op_rows>(bytes, off));
    case HIX_VGPU_OP_ROPE:
      return rope(mode, load_record<hix_vgpu_op_rope>(bytes, off));
    case HIX_VGPU_OP_ATTENTION:
      return attention(mode, load_record<hix_vgpu_op_attention>(bytes, off));
    case HIX_VGPU_OP_SAMPLE:
      return sample(mode, load_record<hix_vgpu_op_sample>(bytes, off));
    case HIX_VGPU_OP_SET_REG:
    case HIX_VGPU_OP_ADD_REG:
      return reg(mode, op.opcode, load_record<hix_vgpu_op_reg>(bytes, off));
    case HIX_VGPU_OP_BREAK_IF_EQ:
      return break_if_eq(mode, load_record<hix_vgpu_op_break_if_eq>(bytes, off));
  }
  return Status::bad_opcode;
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
  for (std::size_t j = first + 1; j < body_end; ++j) {
    switch (prog.ops[j].opcode) {
      case HIX_VGPU_OP_DMA_IN:
      case HIX_VGPU_OP_DMA_OUT:
      case HIX_VGPU_OP_DMA_IN_DECRYPT:
      case HIX_VGPU_OP_DMA_OUT_ENCRYPT:
        return false;  // guest memory and the crypto engine are not recorded
      default:
        break;
    }
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
  const std::uint32_t end =
      prog.ops[body_end - 1].offset + record_size(prog.ops[body_end - 1].opcode);
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
    if (walked.status != Status::ok) {
      env_.backend.abort_recording();
      st_ = entry;
      return std::nullopt;
    }
    if (env_.backend.end_recording(e.key) != Status::ok) {
      st_ = entry;
      return std::nullopt;
    }
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

ExecResult Executor::run(const Program& prog, std::span<const std::byte> bytes) {
  st_ = {};
  ExecResult result{Status::ok, 0};
  std::size_t i = 0;
  while (i < prog.ops.size()) {
    if (prog.ops[i].opcode != HIX_VGPU_OP_LOOP) {
      result = step(prog, bytes, i);
      if (result.status != Status::ok) break;
      ++i;
      continue;
    }
    const auto loop = load_record<hix_vgpu_op_loop>(bytes, prog.ops[i].offset);
    const std::size_t body_end = i + 1 + loop.body_ops;  // in range: checked by the parser
    std::optional<ExecResult> recorded;
    if (recordable(prog, i, body_end)) recorded = run_loop_recorded(prog, bytes, i, body_end);
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
