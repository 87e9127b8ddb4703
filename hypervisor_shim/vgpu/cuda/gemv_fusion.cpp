// GEMV groups (gemv_fusion.hpp): the rules under which consecutive ops run
// as one launch of the group kernel.
#include "gemv_fusion.hpp"

#include "kernel_shapes.hpp"

#include <cstdint>

namespace hix::vgpu::cuda {
namespace {

// The kernel indexes a group's weight rows in int range.
constexpr std::uint64_t kMaxGroupRows = 0x7FFFFFFF;

// Bytes an operand may touch: a moving one anywhere in its buffer.
std::uint64_t lo(const TensorArg& t) {
  return t.moving ? t.moving->lo.value : t.offset.value;
}
std::uint64_t span(const TensorArg& t) {
  return t.moving ? t.moving->span : t.count * dtype_size(t.dtype);
}

bool moves(const MatmulArgs& a) {
  return a.out.moving || a.a.moving || a.b.moving || (a.bias && a.bias->moving);
}

// Whether `out` (a group's output) shares a byte with any input of `a`.
bool touches_inputs(const TensorArg& out, const MatmulArgs& a) {
  return operands_overlap(out, a.a) || operands_overlap(out, a.b) ||
         (a.bias && operands_overlap(out, *a.bias));
}

// Whether `out` shares a byte with any input of the norm.
bool touches_inputs(const TensorArg& out, const NormArgs& n) {
  return operands_overlap(out, n.x) || operands_overlap(out, n.gamma) ||
         (n.beta && operands_overlap(out, *n.beta));
}

}  // namespace

bool same_tensor(const TensorArg& x, const TensorArg& y) {
  return !x.moving && !y.moving && x.offset == y.offset && x.dtype == y.dtype && x.count == y.count;
}

bool operands_overlap(const TensorArg& x, const TensorArg& y) {
  const std::uint64_t xn = span(x);
  const std::uint64_t yn = span(y);
  return xn != 0 && yn != 0 && lo(x) < lo(y) + yn && lo(y) < lo(x) + xn;
}

GemvGroup GemvGroup::of(const MatmulArgs& a) {
  GemvGroup g;
  g.mm[0] = a;
  g.count = 1;
  return g;
}

GemvGroup GemvGroup::of(const NormArgs& n, bool layer) {
  GemvGroup g;
  g.norm = GroupNorm{n, layer};
  return g;
}

bool GemvGroup::complete() const {
  if (count == 0) return false;
  switch (epilogue) {
    case GemvEpilogue::none:
      return count == kGemvGroupMax;
    case GemvEpilogue::act:
      return count != 2;  // only a gate and its up take a MUL
    case GemvEpilogue::gated:
      return true;
  }
  return true;
}

bool gemv_groupable(const MatmulArgs& a, const GemvLimits& limits) {
  if (moves(a) || !a.trans_b) return false;
  if (a.m == 0 || a.m > kGemvGroupRowsMax || a.m >= limits.max_rows) return false;
  if (a.n == 0 || a.n > kMaxGroupRows || a.k == 0 || a.k % 8 != 0) return false;
  if (!is_float(a.a.dtype) || !is_float(a.b.dtype) || !is_float(a.out.dtype) ||
      (a.bias && !is_float(a.bias->dtype))) {
    return false;
  }
  const std::uint64_t m = a.m;
  const std::uint64_t n = a.n;
  const std::uint64_t k = a.k;
  if (a.a.count != m * k || a.b.count != n * k || a.out.count != m * n ||
      (a.bias && a.bias->count != n)) {
    return false;
  }
  // 16-byte loads of every row (k % 8 keeps each row's start aligned).
  if (a.a.offset.value % 16 != 0 || a.b.offset.value % 16 != 0) return false;
  if (m * k * sizeof(float) > limits.max_stage_bytes) return false;
  // An output over an input needs the staged path (scratch, then a copy).
  return !touches_inputs(a.out, a);
}

bool norm_groupable(const NormArgs& n, bool layer, const GemvLimits& limits) {
  if (n.x.moving || n.out.moving || n.gamma.moving || (n.beta && n.beta->moving)) return false;
  if (layer != n.beta.has_value()) return false;
  if (!is_float(n.x.dtype) || !is_float(n.out.dtype) || !is_float(n.gamma.dtype) ||
      (n.beta && !is_float(n.beta->dtype))) {
    return false;
  }
  if (n.rows == 0 || n.rows > kGemvGroupRowsMax || n.rows >= limits.max_rows || n.cols == 0) {
    return false;
  }
  const std::uint64_t count = std::uint64_t{n.rows} * n.cols;
  if (n.x.count != count || n.out.count != count || n.gamma.count != n.cols ||
      (n.beta && n.beta->count != n.cols)) {
    return false;
  }
  if (count * sizeof(float) > limits.max_stage_bytes) return false;
  return !touches_inputs(n.out, n);
}

bool join(GemvGroup& g, const MatmulArgs& next, const GemvLimits& limits) {
  if (g.count >= kGemvGroupMax || g.epilogue != GemvEpilogue::none) return false;
  if (g.norm && touches_inputs(next.out, g.norm->args)) return false;
  if (g.count == 0) {
    if (!g.norm) return false;
    const NormArgs& n = g.norm->args;
    if (!gemv_groupable(next, limits) || !same_tensor(next.a, n.out) || next.m != n.rows ||
        next.k != n.cols) {
      return false;
    }
    g.mm[g.count++] = next;
    return true;
  }
  const MatmulArgs& first = g.mm[0];
  if (!gemv_groupable(next, limits) || !same_tensor(next.a, first.a) || next.m != first.m ||
      next.k != first.k || next.b.dtype != first.b.dtype) {
    return false;
  }
  std::uint64_t rows = next.n;
  for (std::size_t i = 0; i < g.count; ++i) rows += g.mm[i].n;
  if (rows > kMaxGroupRows) return false;
  for (std::size_t i = 0; i < g.count; ++i) {
    const MatmulArgs& e = g.mm[i];
    // The ops one by one: next reads after e wrote, and a later write wins;
    // in one launch neither order holds.
    if (operands_overlap(next.out, e.out) || touches_inputs(next.out, e) ||
        touches_inputs(e.out, next)) {
      return false;
    }
  }
  g.mm[g.count++] = next;
  return true;
}

bool join(GemvGroup& g, const UnaryArgs& next) {
  if (g.epilogue != GemvEpilogue::none || (g.count != 1 && g.count != 2)) return false;
  const TensorArg& y = g.mm[0].out;
  if (!same_tensor(next.out, y) || !same_tensor(next.x, y)) return false;
  g.epilogue = GemvEpilogue::act;
  g.act = next.op;
  return true;
}

bool join(GemvGroup& g, const BinaryArgs& next) {
  if (g.epilogue != GemvEpilogue::act || g.count != 2 || next.op != BinaryOp::mul) return false;
  const TensorArg& y0 = g.mm[0].out;
  const TensorArg& y1 = g.mm[1].out;
  if (!same_tensor(next.out, y0) || !same_tensor(next.a, y0) || !same_tensor(next.b, y1) ||
      g.mm[0].n != g.mm[1].n) {
    return false;
  }
  g.epilogue = GemvEpilogue::gated;
  return true;
}

bool act_holdable(const UnaryArgs& a) {
  return is_float(a.x.dtype) && same_tensor(a.out, a.x);
}

bool act_mul_joinable(const UnaryArgs& act, const BinaryArgs& mul) {
  const TensorArg& g = act.out;
  return mul.op == BinaryOp::mul && same_tensor(mul.out, g) && same_tensor(mul.a, g) &&
         !mul.b.moving && is_float(mul.b.dtype) && mul.b.count == g.count &&
         !operands_overlap(mul.b, g);
}

void LaunchWrites::set(std::span<const TensorArg> writes) {
  known_ = writes.size() <= kMax;
  count_ = 0;
  if (!known_) return;
  for (const TensorArg& w : writes) t_[count_++] = w;
}

bool LaunchWrites::weights_apart(const GemvGroup& g) const {
  if (!known_) return false;
  for (std::size_t i = 0; i < g.count; ++i) {
    for (std::size_t j = 0; j < count_; ++j) {
      if (operands_overlap(g.mm[i].b, t_[j])) return false;
    }
  }
  return true;
}

NormStaging norm_staging(const NormArgs& n, NormAddresses at) {
  NormStaging st;
  if (n.cols <= shapes::kNormDepth * shapes::kNormThreads) return st;  // one round already
  st.x = n.x.dtype == DType::f32 && at.x % 16 == 0 && n.cols % 4 == 0;
  const std::uint64_t gamma_bytes = std::uint64_t{n.cols} * dtype_size(n.gamma.dtype);
  const std::uint64_t beta_bytes = n.beta ? std::uint64_t{n.cols} * dtype_size(n.beta->dtype) : 0;
  const bool gamma_ok = at.gamma % 16 == 0 && gamma_bytes % 16 == 0;
  const bool beta_ok = !n.beta || (at.beta % 16 == 0 && beta_bytes % 16 == 0);
  if (gamma_ok && beta_ok) st.params_bytes = gamma_bytes + beta_bytes;
  return st;
}

bool LaunchWrites::norm_params_apart(const GemvGroup& g) const {
  if (!known_ || !g.norm) return false;
  const NormArgs& n = g.norm->args;
  for (std::size_t j = 0; j < count_; ++j) {
    if (operands_overlap(n.gamma, t_[j]) || (n.beta && operands_overlap(*n.beta, t_[j]))) {
      return false;
    }
  }
  return true;
}

void set_group_writes(LaunchWrites& w, const GemvGroup& g) {
  std::array<TensorArg, kGemvGroupMax + 1> out{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < g.count; ++i) out[n++] = g.mm[i].out;
  if (g.norm) out[n++] = g.norm->args.out;
  w.set(std::span(out).first(n));
}

}  // namespace hix::vgpu::cuda
