// The tensor ISA's kernels (docs/specs/hix-gpu.md §6.4, §6.5) for the cuda
// backend. Built by nvcc into a fatbin that cuda_backend.cpp loads as a module
// and launches by name, so every kernel is extern "C". Storage is f32 or bf16
// per operand (dtype codes of the ABI: 1 f32, 2 bf16, 3 i32); arithmetic is
// fp32, and where the cpu reference sums in double these kernels do too.
//
// Every kernel takes `halt` first and returns at once when it is set: a
// recorded BREAK_IF_EQ sets it, and the rest of a replayed graph then does
// nothing.
#include <cstdint>

#include "../rope_frequency.hpp"
#include "kernel_shapes.hpp"

using namespace hix::vgpu::cuda::shapes;  // NOLINT: the kernels' launch shapes

typedef unsigned long long u64;

#define DT_F32 1
#define DT_BF16 2

namespace {

__device__ __forceinline__ float bf2f(unsigned short h) {
  return __uint_as_float(static_cast<unsigned>(h) << 16);
}

// Round to nearest even; NaN stays NaN with its sign (include/hix/vgpu/bf16.hpp).
__device__ __forceinline__ unsigned short f2bf(float f) {
  const unsigned u = __float_as_uint(f);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0) {
    return static_cast<unsigned short>((u >> 16) | 0x0040u);
  }
  return static_cast<unsigned short>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float ld(const void* p, int dt, u64 i) {
  return dt == DT_BF16 ? bf2f(static_cast<const unsigned short*>(p)[i])
                       : static_cast<const float*>(p)[i];
}

__device__ __forceinline__ unsigned dt_bytes(int dt) {
  return dt == DT_BF16 ? 2u : 4u;
}

// The value an element of dtype `dt` holds after `v` is stored in it.
__device__ __forceinline__ float stored(int dt, float v) {
  return dt == DT_BF16 ? bf2f(f2bf(v)) : v;
}

__device__ __forceinline__ void st(void* p, int dt, u64 i, float v) {
  if (dt == DT_BF16) {
    static_cast<unsigned short*>(p)[i] = f2bf(v);
  } else {
    static_cast<float*>(p)[i] = v;
  }
}

// Programmatic dependent launch (CudaBackendOptions::pdl): a kernel may be
// running before the one ahead of it in the stream has finished. It waits
// here until that kernel has finished and its writes are visible, then lets
// the next kernel start launching (that one waits here in turn). Every
// kernel calls this before its first access to device memory (through
// halted(), which reads the halt word first, or directly), but for the GEMV
// group's first weights where the host has found them apart from what the
// kernel ahead writes (GemvGroupParams::early_weights). Launched without the
// attribute, both instructions do nothing.
__device__ __forceinline__ void after_previous_kernel() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

__device__ __forceinline__ bool halted(const unsigned* halt) {
  after_previous_kernel();
  return *static_cast<const volatile unsigned*>(halt) != 0u;
}

// Inside an iteration recording (spec §6.7) a position or an operand's
// place moves with a scalar register kept in the device words; reg < 0: it
// does not. The host has checked every iteration's value.
__device__ __forceinline__ u64 reg_value(const unsigned* halt, int reg) {
  return reg < 0 ? 0ull : static_cast<u64>(static_cast<int>(halt[kRegWord + reg]));
}

template <class T>
__device__ __forceinline__ T* moved(T* p, const unsigned* halt, int reg, u64 stride) {
  if (reg < 0) return p;
  return reinterpret_cast<T*>(reinterpret_cast<u64>(p) + reg_value(halt, reg) * stride);
}

__device__ __forceinline__ u64 gtid() {
  return static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ u64 gstride() {
  return static_cast<u64>(gridDim.x) * blockDim.x;
}

// cp.async (sm_80 and later): 16 bytes from global to shared memory
// without passing through registers; committed as a group, waited for with
// cp_async_wait_all.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const auto s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}

__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_all;" ::: "memory");
}

__device__ __forceinline__ unsigned round_up16(unsigned bytes) {
  return (bytes + 15u) & ~15u;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  return v;
}

// Block-wide reductions: a fixed tree, so results are deterministic. `sh`
// holds 32 values; every thread gets the result.
__device__ double block_sum_d(double v, double* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  double r = 0.0;
  const unsigned nw = (blockDim.x + 31) / 32;
  for (unsigned i = 0; i < nw; ++i) r += sh[i];
  __syncthreads();
  return r;
}

__device__ float block_max_f(float v, float* sh) {
  v = warp_max(v);
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = -INFINITY;
  const unsigned nw = (blockDim.x + 31) / 32;
  for (unsigned i = 0; i < nw; ++i) r = fmaxf(r, sh[i]);
  __syncthreads();
  return r;
}

__device__ u64 block_max_u64(u64 v, u64* sh) {
  for (int o = 16; o > 0; o >>= 1) {
    const u64 w = __shfl_xor_sync(0xFFFFFFFFu, v, o);
    v = w > v ? w : v;
  }
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  u64 r = 0;
  const unsigned nw = (blockDim.x + 31) / 32;
  for (unsigned i = 0; i < nw; ++i) r = sh[i] > r ? sh[i] : r;
  __syncthreads();
  return r;
}

// The order of SAMPLE (§6.5) and ARGMAX as one 64-bit key: logit
// descending, then index ascending, NaN below everything; -0 ranks as +0
// (the reference compares with >, where they are equal).
__device__ __forceinline__ unsigned ord_f(float v) {
  if (v != v) return 0u;
  unsigned u = __float_as_uint(v);
  if ((u & 0x7FFFFFFFu) == 0) u = 0;
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ u64 rank_key(float v, unsigned c) {
  return (static_cast<u64>(ord_f(v)) << 32) | static_cast<u64>(0xFFFFFFFFu - c);
}

__device__ __forceinline__ unsigned key_index(u64 key) {
  return 0xFFFFFFFFu - static_cast<unsigned>(key & 0xFFFFFFFFull);
}

__device__ __forceinline__ u64 splitmix64_mix(u64 z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

// ---- Memory ----

extern "C" __global__ void k_break_if_eq(unsigned* halt, const int* x, int value, unsigned id,
                                         int xreg, u64 xstride) {
  after_previous_kernel();
  if (threadIdx.x == 0 && blockIdx.x == 0 && halt[kHaltWord] == 0u &&
      moved(x, halt, xreg, xstride)[0] == value) {
    halt[kHaltWord] = 1u;
    halt[kHaltIdWord] = id;
  }
}

// SET_REG (set != 0) and ADD_REG (wrapping) of an iteration recording.
extern "C" __global__ void k_reg(unsigned* halt, unsigned reg, int value, int set) {
  if (threadIdx.x != 0 || blockIdx.x != 0 || halted(halt)) return;
  halt[kRegWord + reg] =
      set != 0 ? static_cast<unsigned>(value) : halt[kRegWord + reg] + static_cast<unsigned>(value);
}

// The end of an iteration: `draws` rows were sampled in it.
extern "C" __global__ void k_iteration_end(unsigned* halt, u64 draws) {
  if (threadIdx.x != 0 || blockIdx.x != 0 || halted(halt)) return;
  halt[kIterWord] += 1u;
  *reinterpret_cast<u64*>(halt + kDrawsWord) += draws;
}

extern "C" __global__ void k_fill(const unsigned* halt, void* dst, int dt, u64 count,
                                  unsigned bits) {
  if (halted(halt)) return;
  if (dt == DT_BF16) {
    const unsigned short h = f2bf(__uint_as_float(bits));
    for (u64 i = gtid(); i < count; i += gstride()) static_cast<unsigned short*>(dst)[i] = h;
  } else {
    for (u64 i = gtid(); i < count; i += gstride()) static_cast<unsigned*>(dst)[i] = bits;
  }
}

namespace {

// COPY's element rule: f32 and i32 to the same type copy bits; anything
// else converts through f32 (bf16 to bf16 quiets a signalling NaN, as the
// reference does).
__device__ __forceinline__ void copy_element(void* dst, int ddt, const void* src, int sdt, u64 i) {
  if (ddt == sdt && ddt != DT_BF16) {
    static_cast<unsigned*>(dst)[i] = static_cast<const unsigned*>(src)[i];
  } else {
    st(dst, ddt, i, ld(src, sdt, i));
  }
}

}  // namespace

// f32 and i32 to the same type copy bits; anything else converts through
// f32 (bf16 to bf16 quiets a signalling NaN, as the reference does).
extern "C" __global__ void k_copy(const unsigned* halt, void* dst, int ddt, const void* src,
                                  int sdt, u64 count, int dreg, u64 dstride, int sreg,
                                  u64 sstride) {
  if (halted(halt)) return;
  dst = moved(dst, halt, dreg, dstride);
  src = moved(src, halt, sreg, sstride);
  if (ddt == sdt && ddt != DT_BF16) {
    for (u64 i = gtid(); i < count; i += gstride()) {
      static_cast<unsigned*>(dst)[i] = static_cast<const unsigned*>(src)[i];
    }
  } else {
    for (u64 i = gtid(); i < count; i += gstride()) st(dst, ddt, i, ld(src, sdt, i));
  }
}

// Two copies of `count` elements in one launch (ATTENTION's K and V cache
// rows): element i < count of the first, the rest of the second. The host
// has checked that neither copy writes what the other reads or writes.
extern "C" __global__ void k_copy_pair(const unsigned* halt, void* dst0, int ddt0, const void* src0,
                                       int sdt0, void* dst1, int ddt1, const void* src1, int sdt1,
                                       u64 count, int dreg, u64 dstride0, u64 dstride1) {
  if (halted(halt)) return;
  dst0 = moved(dst0, halt, dreg, dstride0);
  dst1 = moved(dst1, halt, dreg, dstride1);
  for (u64 e = gtid(); e < 2 * count; e += gstride()) {
    if (e < count) {
      copy_element(dst0, ddt0, src0, sdt0, e);
    } else {
      copy_element(dst1, ddt1, src1, sdt1, e - count);
    }
  }
}

// Raw bytes between non-overlapping ranges (scratch to destination).
extern "C" __global__ void k_copy_bytes(const unsigned* halt, unsigned char* dst,
                                        const unsigned char* src, u64 bytes) {
  if (halted(halt)) return;
  u64 done = 0;
  if ((reinterpret_cast<u64>(dst) | reinterpret_cast<u64>(src)) % 16 == 0) {
    const u64 vecs = bytes / 16;
    for (u64 i = gtid(); i < vecs; i += gstride()) {
      reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[i];
    }
    done = vecs * 16;
  }
  for (u64 i = done + gtid(); i < bytes; i += gstride()) dst[i] = src[i];
}

extern "C" __global__ void k_zero_bytes(const unsigned* halt, unsigned char* dst, u64 bytes) {
  if (halted(halt)) return;
  u64 done = 0;
  if (reinterpret_cast<u64>(dst) % 16 == 0) {
    const u64 vecs = bytes / 16;
    for (u64 i = gtid(); i < vecs; i += gstride()) {
      reinterpret_cast<uint4*>(dst)[i] = make_uint4(0, 0, 0, 0);
    }
    done = vecs * 16;
  }
  for (u64 i = done + gtid(); i < bytes; i += gstride()) dst[i] = 0;
}

// ---- Elementwise ----

// An id outside [0, vocab) writes a zero row and sets the sticky error word.
extern "C" __global__ void k_embedding(const unsigned* halt, unsigned* err, void* out, int odt,
                                       const void* table, int tdt, const int* ids, unsigned rows,
                                       unsigned dim, unsigned vocab, int ireg, u64 istride) {
  if (halted(halt)) return;
  ids = moved(ids, halt, ireg, istride);
  const u64 total = static_cast<u64>(rows) * dim;
  for (u64 i = gtid(); i < total; i += gstride()) {
    const u64 t = i / dim;
    const u64 c = i - t * dim;
    const int id = ids[t];
    if (id < 0 || static_cast<unsigned>(id) >= vocab) {
      st(out, odt, i, 0.0f);
      if (c == 0) atomicOr(err, 1u);
    } else if (odt == tdt && odt == DT_F32) {
      static_cast<unsigned*>(out)[i] =
          static_cast<const unsigned*>(table)[static_cast<u64>(id) * dim + c];
    } else {
      st(out, odt, i, ld(table, tdt, static_cast<u64>(id) * dim + c));
    }
  }
}

extern "C" __global__ void k_binary(const unsigned* halt, int op, void* out, int odt, const void* a,
                                    int adt, const void* b, int bdt, u64 n, u64 nb) {
  if (halted(halt)) return;
  for (u64 i = gtid(); i < n; i += gstride()) {
    const float x = ld(a, adt, i);
    const float y = ld(b, bdt, nb == n ? i : i % nb);
    st(out, odt, i, op == 0 ? __fadd_rn(x, y) : __fmul_rn(x, y));
  }
}

namespace {

// GELU (op 0, tanh form) or SILU (op 1); the GEMV-group kernel's epilogue
// computes them with this same code.
__device__ __forceinline__ float unary_value(int op, float v) {
  if (op == 0) {
    const float k_sqrt2_over_pi = 0.7978845608028654f;
    return 0.5f * v * (1.0f + tanhf(k_sqrt2_over_pi * (v + 0.044715f * v * v * v)));
  }
  return v / (1.0f + expf(-v));
}

}  // namespace

extern "C" __global__ void k_unary(const unsigned* halt, int op, void* out, int odt, const void* x,
                                   int xdt, u64 n) {
  if (halted(halt)) return;
  for (u64 i = gtid(); i < n; i += gstride()) st(out, odt, i, unary_value(op, ld(x, xdt, i)));
}

// GELU or SILU of g in place, then g * u into g (MUL, no broadcast), in one
// pass: each element as the two ops one by one round it (the activation
// stored in g's dtype, the product of that and u stored again). The host
// has checked that u shares no byte with g.
extern "C" __global__ void k_act_mul(const unsigned* halt, int op, void* g, int gdt, const void* u,
                                     int udt, u64 n) {
  if (halted(halt)) return;
  for (u64 i = gtid(); i < n; i += gstride()) {
    const float a = stored(gdt, unary_value(op, ld(g, gdt, i)));
    st(g, gdt, i, __fmul_rn(a, ld(u, udt, i)));
  }
}

// ---- Row ops: one block per row; every read of the row is done before
// the first write (the reductions end in a barrier), so out may be x. ----

extern "C" __global__ void k_layernorm(const unsigned* halt, void* out, int odt, const void* x,
                                       int xdt, const void* gamma, int gdt, const void* beta,
                                       int bdt, unsigned cols, float eps) {
  if (halted(halt)) return;
  __shared__ double sh[32];
  const u64 base = static_cast<u64>(blockIdx.x) * cols;
  double s = 0.0;
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) s += ld(x, xdt, base + c);
  const double mean = block_sum_d(s, sh) / static_cast<double>(cols);
  double v = 0.0;
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    const double d = static_cast<double>(ld(x, xdt, base + c)) - mean;
    v += d * d;
  }
  const double var = block_sum_d(v, sh) / static_cast<double>(cols);
  const double inv = 1.0 / sqrt(var + static_cast<double>(eps));
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    const float n = static_cast<float>((static_cast<double>(ld(x, xdt, base + c)) - mean) * inv);
    st(out, odt, base + c, __fadd_rn(__fmul_rn(n, ld(gamma, gdt, c)), ld(beta, bdt, c)));
  }
}

extern "C" __global__ void k_rmsnorm(const unsigned* halt, void* out, int odt, const void* x,
                                     int xdt, const void* gamma, int gdt, unsigned cols,
                                     float eps) {
  if (halted(halt)) return;
  __shared__ double sh[32];
  const u64 base = static_cast<u64>(blockIdx.x) * cols;
  double s = 0.0;
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    const double v = ld(x, xdt, base + c);
    s += v * v;
  }
  const double ss = block_sum_d(s, sh);
  const double inv = 1.0 / sqrt(ss / static_cast<double>(cols) + static_cast<double>(eps));
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    const float n = static_cast<float>(static_cast<double>(ld(x, xdt, base + c)) * inv);
    st(out, odt, base + c, __fmul_rn(n, ld(gamma, gdt, c)));
  }
}

extern "C" __global__ void k_softmax(const unsigned* halt, void* out, int odt, const void* x,
                                     int xdt, unsigned cols) {
  if (halted(halt)) return;
  __shared__ float shf[32];
  __shared__ double shd[32];
  const u64 base = static_cast<u64>(blockIdx.x) * cols;
  float mx = -INFINITY;
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) mx = fmaxf(mx, ld(x, xdt, base + c));
  mx = block_max_f(mx, shf);
  double s = 0.0;
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    s += static_cast<double>(expf(ld(x, xdt, base + c) - mx));
  }
  const double sum = block_sum_d(s, shd);
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    const float e = expf(ld(x, xdt, base + c) - mx);
    st(out, odt, base + c, static_cast<float>(static_cast<double>(e) / sum));
  }
}

// Lowest index of the row's maximum; NaN never wins (all NaN: 0). One
// block of kArgmaxThreads a row; the row is read in 16-byte loads,
// kArgmaxDepth of them in flight a thread, from its first 16-byte boundary
// (the columns before it and after the last whole load one by one). The
// keys are distinct (rank_key holds the index), so the maximum is the same
// whichever thread sees which column.

namespace {

// Element e of a 16-byte load as f32, from its word `wd`: the word's low or
// high half when `bf16`, else the word itself.
__device__ __forceinline__ float load_word_value(unsigned wd, unsigned e, bool bf16) {
  if (!bf16) return __uint_as_float(wd);
  return __uint_as_float((e & 1u) != 0 ? wd & 0xFFFF0000u : wd << 16);
}

// The best key of `cols` columns at `row`, the first of them column
// `first` of its row (the index the keys carry).
template <bool kBf16>
__device__ u64 row_best_key(const void* row, unsigned cols, unsigned first) {
  constexpr unsigned kSize = kBf16 ? 2u : 4u;
  constexpr unsigned kPer = 16u / kSize;  // columns a 16-byte load holds
  const auto addr = reinterpret_cast<unsigned long long>(row);
  const unsigned mis = static_cast<unsigned>(addr % 16u) / kSize;
  const unsigned head = min(mis == 0 ? 0u : kPer - mis, cols);
  const unsigned vecs = (cols - head) / kPer;
  const int dt = kBf16 ? DT_BF16 : DT_F32;
  u64 best = 0;
  for (unsigned c = threadIdx.x; c < head; c += blockDim.x) {
    const u64 key = rank_key(ld(row, dt, c), first + c);
    best = key > best ? key : best;
  }
  // Aligned: addr + head * kSize is a multiple of 16 by the choice of head.
  const auto* v4 = reinterpret_cast<const uint4*>(addr + static_cast<u64>(head) * kSize);
  for (unsigned v0 = threadIdx.x; v0 < vecs; v0 += kArgmaxDepth * blockDim.x) {
    uint4 w[kArgmaxDepth];
#pragma unroll
    for (unsigned u = 0; u < kArgmaxDepth; ++u) {
      const unsigned v = v0 + u * blockDim.x;
      w[u] = v < vecs ? v4[v] : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (unsigned u = 0; u < kArgmaxDepth; ++u) {
      const unsigned v = v0 + u * blockDim.x;
      if (v >= vecs) break;
      const unsigned words[4] = {w[u].x, w[u].y, w[u].z, w[u].w};
#pragma unroll
      for (unsigned e = 0; e < kPer; ++e) {
        const unsigned c = head + v * kPer + e;
        const u64 key = rank_key(load_word_value(words[e * kSize / 4], e, kBf16), first + c);
        best = key > best ? key : best;
      }
    }
  }
  for (unsigned c = head + vecs * kPer + threadIdx.x; c < cols; c += blockDim.x) {
    const u64 key = rank_key(ld(row, dt, c), first + c);
    best = key > best ? key : best;
  }
  return best;
}

}  // namespace

extern "C" __global__ void __launch_bounds__(kArgmaxThreads)
    k_argmax(const unsigned* halt, int* out, const void* x, int xdt, unsigned cols, int oreg,
             u64 ostride) {
  if (halted(halt)) return;
  out = moved(out, halt, oreg, ostride);
  __shared__ u64 sh[32];
  const u64 base = static_cast<u64>(blockIdx.x) * cols;
  u64 best = 0;
  if (xdt == DT_BF16) {
    best = row_best_key<true>(static_cast<const unsigned short*>(x) + base, cols, 0);
  } else {
    best = row_best_key<false>(static_cast<const float*>(x) + base, cols, 0);
  }
  best = block_max_u64(best, sh);
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<int>(key_index(best));
}

namespace {

// The last of a group of `parts` blocks to arrive at `*count` (device
// memory, 0 before the group's first arrival): true in every thread of that
// block, which also sets *count back to 0 for the next launch. Every thread
// of each block calls it after its writes for the merge; the merging block
// reads them with __ldcg (L2, where the fences left them).
__device__ bool last_to_arrive(unsigned* count, unsigned parts) {
  __shared__ unsigned last;
  __threadfence();  // this thread's writes before the block's arrival
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned before = atomicAdd(count, 1u);
    last = before + 1 == parts ? 1u : 0u;
    if (last != 0) atomicExch(count, 0u);
  }
  __syncthreads();
  if (last == 0) return false;
  __threadfence();  // the other blocks' writes, seen through their arrivals
  return true;
}

}  // namespace

// ARGMAX with a row split across blocks (CudaBackendOptions::split_argmax):
// block (p, row) takes columns [p * span, (p + 1) * span) of its row and
// writes its best key to keys[row * gridDim.x + p]; the row's last block to
// arrive at counts[row] takes the best of the row's keys. The same keys and
// the same maximum as k_argmax's one block: the keys are distinct.
extern "C" __global__ void __launch_bounds__(kArgmaxSplitThreads)
    k_argmax_split(const unsigned* halt, int* out, const void* x, int xdt, unsigned cols,
                   unsigned span, u64* keys, unsigned* counts, int oreg, u64 ostride) {
  if (halted(halt)) return;
  out = moved(out, halt, oreg, ostride);
  __shared__ u64 sh[32];
  const unsigned row = blockIdx.y;
  const unsigned first = blockIdx.x * span;
  const unsigned n = min(span, cols - first);
  const u64 at = static_cast<u64>(row) * cols + first;
  u64 best = 0;
  if (xdt == DT_BF16) {
    best = row_best_key<true>(static_cast<const unsigned short*>(x) + at, n, first);
  } else {
    best = row_best_key<false>(static_cast<const float*>(x) + at, n, first);
  }
  best = block_max_u64(best, sh);
  u64* row_keys = keys + static_cast<u64>(row) * gridDim.x;
  if (threadIdx.x == 0) row_keys[blockIdx.x] = best;
  if (!last_to_arrive(counts + row, gridDim.x)) return;
  u64 all = 0;
  for (unsigned p = threadIdx.x; p < gridDim.x; p += blockDim.x) {
    const u64 k = __ldcg(row_keys + p);
    all = k > all ? k : all;
  }
  all = block_max_u64(all, sh);
  if (threadIdx.x == 0) out[row] = static_cast<int>(key_index(all));
}

// ---- RoPE: one thread per (token, head, dim) (batch != 0: rows are
// sequences, all at pos, spec §6.4.1); pair i < rot_dim/2 rotates
// (i, i + rot_dim/2), dims >= rot_dim are copied. Angles in double as the
// reference computes them; factor != 0 scales the frequencies as
// ROPE_LLAMA3 does (rope_frequency.hpp, shared with the cpu backend). ----

namespace {

// The angle inputs of a RoPE op.
struct RopeAngles {
  u64 pos;  // register already added
  float theta;
  hix::vgpu::Llama3Rope scaling;
  int batch;
};

// Pair i (< rot_dim / 2) of token t's head, (x1, x2) = elements (i, i +
// rot_dim / 2), turned by its angle: (y1, y2) before they are stored.
__device__ __forceinline__ void rope_rotate(const RopeAngles& r, u64 t, unsigned i,
                                            unsigned rot_dim, float x1, float x2, float& y1,
                                            float& y2) {
  const double p = static_cast<double>(r.batch != 0 ? r.pos : r.pos + t);  // BATCH: one position
  const double inv_freq =
      hix::vgpu::llama3_inv_freq(pow(static_cast<double>(r.theta),
                                     -2.0 * static_cast<double>(i) / static_cast<double>(rot_dim)),
                                 r.scaling);
  const double angle = p * inv_freq;
  const float c = static_cast<float>(cos(angle));
  const float s = static_cast<float>(sin(angle));
  y1 = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
  y2 = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
}

// Element e of a [tokens, heads, head_dim] tensor roped from x into out:
// for i < rot_dim/2 the pair (i, i + rot_dim/2), for i >= rot_dim a copy
// (the pair's second element is written by its first's thread). Each value
// written is also handed to `also(index, value as stored)`.
template <class Also>
__device__ __forceinline__ void rope_element(const RopeAngles& r, void* out, int odt, const void* x,
                                             int xdt, unsigned heads, unsigned head_dim,
                                             unsigned rot_dim, u64 e, Also also) {
  const unsigned half = rot_dim / 2;
  const u64 row = e / head_dim;
  const unsigned i = static_cast<unsigned>(e - row * head_dim);
  const u64 t = row / heads;
  const u64 base = row * head_dim;
  if (i < half) {
    float y1 = 0.0f;
    float y2 = 0.0f;
    rope_rotate(r, t, i, rot_dim, ld(x, xdt, base + i), ld(x, xdt, base + i + half), y1, y2);
    st(out, odt, base + i, y1);
    st(out, odt, base + i + half, y2);
    also(base + i, stored(odt, y1));
    also(base + i + half, stored(odt, y2));
  } else if (i >= rot_dim) {
    if (odt == xdt && odt == DT_F32) {
      static_cast<unsigned*>(out)[base + i] = static_cast<const unsigned*>(x)[base + i];
    } else {
      st(out, odt, base + i, ld(x, xdt, base + i));
    }
    also(base + i, ld(out, odt, base + i));
  }
}

}  // namespace

extern "C" __global__ void k_rope(const unsigned* halt, void* out, int odt, const void* x, int xdt,
                                  unsigned tokens, unsigned heads, unsigned head_dim,
                                  unsigned rot_dim, u64 pos, float theta, float factor,
                                  float low_freq_factor, float high_freq_factor,
                                  unsigned original_max_pos, int pos_reg, int batch) {
  const hix::vgpu::Llama3Rope scaling{factor, low_freq_factor, high_freq_factor, original_max_pos};
  if (halted(halt)) return;
  const RopeAngles r{pos + reg_value(halt, pos_reg), theta, scaling, batch};
  const u64 total = static_cast<u64>(tokens) * heads * head_dim;
  for (u64 e = gtid(); e < total; e += gstride()) {
    rope_element(r, out, odt, x, xdt, heads, head_dim, rot_dim, e, [](u64, float) {});
  }
}

// ROPE of q and of k in place, then ATTENTION's cache stores (spec §6.4),
// in one launch (RopeStoreParams): k's roped values go to k and to the K
// cache rows, v's to the V cache rows, each converted as a copy of the
// stored value would be. The host has checked that no write meets another
// element's read or write.
extern "C" __global__ void k_rope_store(const unsigned* halt, const RopeStoreParams p) {
  const hix::vgpu::Llama3Rope scaling{p.factor, p.low_freq_factor, p.high_freq_factor,
                                      p.original_max_pos};
  if (halted(halt)) return;
  const RopeAngles r{p.pos + reg_value(halt, p.pos_reg), p.theta, scaling, 0};
  void* q = reinterpret_cast<void*>(p.q);
  void* k = reinterpret_cast<void*>(p.k);
  const void* v = reinterpret_cast<const void*>(p.v);
  void* kc = moved(reinterpret_cast<void*>(p.k_rows), halt, p.rows_reg, p.k_stride);
  void* vc = moved(reinterpret_cast<void*>(p.v_rows), halt, p.rows_reg, p.v_stride);
  const u64 nq = static_cast<u64>(p.tokens) * p.q_heads * p.head_dim;
  const u64 nk = static_cast<u64>(p.tokens) * p.kv_heads * p.head_dim;
  for (u64 e = gtid(); e < nq + 2 * nk; e += gstride()) {
    if (e < nq) {
      rope_element(r, q, p.q_dt, q, p.q_dt, p.q_heads, p.head_dim, p.rot_dim, e, [](u64, float) {});
    } else if (e < nq + nk) {
      rope_element(r, k, p.k_dt, k, p.k_dt, p.kv_heads, p.head_dim, p.rot_dim, e - nq,
                   [&](u64 i, float y) { st(kc, p.kc_dt, i, y); });
    } else {
      copy_element(vc, p.vc_dt, v, p.v_dt, e - nq - nk);
    }
  }
}

// ---- SAMPLE (§6.5): one block of 1024 threads per row. ----
//
// The top_k candidates are the keys >= the k-th largest rank_key, found by
// an 8-bit radix select. Up to 1024 candidates are sorted in shared memory
// and summed in order in double, exactly as the reference does. More are
// weighed with per-digit histograms of the weights (a radix descent to the
// first candidate whose running sum exceeds the target); those sums are in a
// different order than the reference's, so a pick can differ only when the
// target lies within double rounding of a boundary.

namespace {

__device__ double sample_weight(float v, double mx, double temperature) {
  return v != v ? 0.0 : exp((static_cast<double>(v) - mx) / temperature);
}

}  // namespace

extern "C" __global__ void __launch_bounds__(kSampleThreads)
    k_sample(const unsigned* halt, int* out, const void* x, int xdt, unsigned cols,
             float temperature, unsigned top_k, u64 seed, u64 first_draw, int oreg, u64 ostride,
             int draws_on_device) {
  if (halted(halt)) return;
  out = moved(out, halt, oreg, ostride);
  if (draws_on_device != 0) first_draw += *reinterpret_cast<const u64*>(halt + kDrawsWord);
  __shared__ unsigned hist[256];
  __shared__ double whist[256];
  __shared__ u64 keys[kSampleSortMax];
  __shared__ double w[kSampleSortMax];
  __shared__ u64 shk[32];
  __shared__ double shd[32];
  __shared__ unsigned pick_digit;
  __shared__ unsigned remaining;
  __shared__ unsigned count;
  __shared__ double acc_sh;
  __shared__ int last_mode;

  const u64 base = static_cast<u64>(blockIdx.x) * cols;
  const unsigned k = (top_k == 0 || top_k > cols) ? cols : top_k;
  const double temp = static_cast<double>(temperature);

  // The largest key (the first candidate) gives x_max.
  u64 top = 0;
  u64 low = ~0ull;
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    const u64 key = rank_key(ld(x, xdt, base + c), c);
    top = key > top ? key : top;
    low = key < low ? key : low;
  }
  top = block_max_u64(top, shk);
  const u64 lowest = ~block_max_u64(~low, shk);
  const double mx = static_cast<double>(ld(x, xdt, base + key_index(top)));

  // kth: the smallest candidate key.
  u64 kth = lowest;
  if (k < cols) {
    u64 prefix = 0;
    u64 mask = 0;
    if (threadIdx.x == 0) remaining = k;
    for (int shift = 56; shift >= 0; shift -= 8) {
      for (unsigned d = threadIdx.x; d < 256; d += blockDim.x) hist[d] = 0;
      __syncthreads();
      for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
        const u64 key = rank_key(ld(x, xdt, base + c), c);
        if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        unsigned rem = remaining;
        unsigned chosen = 0;
        for (int d = 255; d >= 0; --d) {
          if (hist[d] >= rem) {
            chosen = static_cast<unsigned>(d);
            break;
          }
          rem -= hist[d];
        }
        remaining = rem;
        pick_digit = chosen;
      }
      __syncthreads();
      prefix |= static_cast<u64>(pick_digit) << shift;
      mask |= 0xFFull << shift;
      __syncthreads();
    }
    kth = prefix;
  }

  const u64 n = first_draw + blockIdx.x;
  const u64 z = splitmix64_mix(seed + (n + 1) * 0x9E3779B97F4A7C15ull);
  const double u = static_cast<double>(z >> 40) / 16777216.0;

  if (k <= kSampleSortMax) {
    // Gather the k candidates, sort them descending, sum in order.
    unsigned p2 = 1;
    while (p2 < k) p2 <<= 1;
    if (threadIdx.x == 0) count = 0;
    __syncthreads();
    for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
      const u64 key = rank_key(ld(x, xdt, base + c), c);
      if (key >= kth) keys[atomicAdd(&count, 1u)] = key;
    }
    __syncthreads();
    for (unsigned i = k + threadIdx.x; i < p2; i += blockDim.x) keys[i] = 0;  // below every key
    __syncthreads();
    for (unsigned size = 2; size <= p2; size <<= 1) {
      for (unsigned stride = size >> 1; stride > 0; stride >>= 1) {
        for (unsigned i = threadIdx.x; i < p2; i += blockDim.x) {
          const unsigned j = i ^ stride;
          if (j > i) {
            const bool desc = (i & size) == 0;
            const u64 a = keys[i];
            const u64 b = keys[j];
            if (desc ? (a < b) : (a > b)) {
              keys[i] = b;
              keys[j] = a;
            }
          }
        }
        __syncthreads();
      }
    }
    for (unsigned i = threadIdx.x; i < k; i += blockDim.x) {
      w[i] = sample_weight(ld(x, xdt, base + key_index(keys[i])), mx, temp);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      double total = 0.0;
      for (unsigned i = 0; i < k; ++i) total += w[i];
      const double target = u * total;
      unsigned pick = k - 1;
      double run = 0.0;
      for (unsigned i = 0; i < k; ++i) {
        run += w[i];
        if (run > target) {
          pick = i;
          break;
        }
      }
      out[blockIdx.x] = static_cast<int>(key_index(keys[pick]));
    }
    return;
  }

  double part = 0.0;
  for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = ld(x, xdt, base + c);
    if (rank_key(v, c) >= kth) part += sample_weight(v, mx, temp);
  }
  const double target = u * block_sum_d(part, shd);
  u64 prefix = 0;
  u64 mask = 0;
  if (threadIdx.x == 0) {
    acc_sh = 0.0;
    last_mode = 0;
  }
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (unsigned d = threadIdx.x; d < 256; d += blockDim.x) {
      hist[d] = 0;
      whist[d] = 0.0;
    }
    __syncthreads();
    for (unsigned c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = ld(x, xdt, base + c);
      const u64 key = rank_key(v, c);
      if (key >= kth && (key & mask) == prefix) {
        const unsigned d = static_cast<unsigned>((key >> shift) & 255u);
        atomicAdd(&hist[d], 1u);
        atomicAdd(&whist[d], sample_weight(v, mx, temp));
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int chosen = -1;
      if (last_mode == 0) {
        double run = acc_sh;
        for (int d = 255; d >= 0; --d) {
          if (hist[d] == 0) continue;
          if (run + whist[d] > target) {
            chosen = d;
            acc_sh = run;
            break;
          }
          run += whist[d];
        }
      }
      if (chosen < 0) {  // rounding left none: the last candidate from here on
        last_mode = 1;
        for (int d = 0; d < 256; ++d) {
          if (hist[d] != 0) {
            chosen = d;
            break;
          }
        }
      }
      pick_digit = static_cast<unsigned>(chosen);
    }
    __syncthreads();
    prefix |= static_cast<u64>(pick_digit) << shift;
    mask |= 0xFFull << shift;
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<int>(key_index(prefix));
}

// ---- MATMUL ----

// Epilogue of the cuBLAS path: out = ((accumulate ? cin : 0) + s) + bias,
// s an f32 product (or absent: 0).
extern "C" __global__ void k_matmul_epilogue(const unsigned* halt, void* out, int odt,
                                             const void* cin, const float* s, const void* bias,
                                             int bdt, u64 count, unsigned n, int accumulate) {
  if (halted(halt)) return;
  for (u64 i = gtid(); i < count; i += gstride()) {
    float v = s != nullptr ? s[i] : 0.0f;
    if (accumulate != 0) v = __fadd_rn(ld(cin, odt, i), v);
    if (bias != nullptr) v = __fadd_rn(v, ld(bias, bdt, i % n));
    st(out, odt, i, v);
  }
}

namespace {

__device__ __forceinline__ void epilogue_store(void* out, int odt, const void* cin,
                                               const void* bias, int bdt, u64 idx, unsigned j,
                                               int accumulate, float acc) {
  float v = acc;
  if (accumulate != 0) v = __fadd_rn(ld(cin, odt, idx), v);
  if (bias != nullptr) v = __fadd_rn(v, ld(bias, bdt, j));
  st(out, odt, idx, v);
}

__device__ __forceinline__ void unpack_bf16x8(const uint4 w, float* f) {
  const unsigned parts[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    f[2 * q] = __uint_as_float(parts[q] << 16);
    f[2 * q + 1] = __uint_as_float(parts[q] & 0xFFFF0000u);
  }
}

// A chunk of VW elements of row `i` of `a` at element `e` (16-byte aligned
// for VW = 8 bf16 / 4 f32 weights; a's rows are 16-byte aligned too).
template <bool BF16A, int VW>
__device__ __forceinline__ void load_a(const void* a, u64 e, float* f) {
  if constexpr (BF16A) {
    const unsigned short* p = static_cast<const unsigned short*>(a) + e;
    if constexpr (VW == 8) {
      unpack_bf16x8(__ldg(reinterpret_cast<const uint4*>(p)), f);
    } else {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
      f[0] = __uint_as_float(v.x << 16);
      f[1] = __uint_as_float(v.x & 0xFFFF0000u);
      f[2] = __uint_as_float(v.y << 16);
      f[3] = __uint_as_float(v.y & 0xFFFF0000u);
    }
  } else {
    const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(a) + e);
#pragma unroll
    for (int q = 0; q < VW / 4; ++q) {
      const float4 v = __ldg(p + q);
      f[4 * q] = v.x;
      f[4 * q + 1] = v.y;
      f[4 * q + 2] = v.z;
      f[4 * q + 3] = v.w;
    }
  }
}

template <int M, bool BF16A, int VW>
__device__ __forceinline__ void gemv_chunk(float (&acc)[M], const float* wf, const void* a, u64 c,
                                           unsigned k) {
#pragma unroll
  for (int i = 0; i < M; ++i) {
    float af[VW];
    load_a<BF16A, VW>(a, static_cast<u64>(i) * k + c * VW, af);
#pragma unroll
    for (int q = 0; q < VW; ++q) acc[i] = fmaf(af[q], wf[q], acc[i]);
  }
}

template <bool BF16B>
__device__ __forceinline__ void weights_f32(const uint4 w, float* f) {
  if constexpr (BF16B) {
    unpack_bf16x8(w, f);
  } else {
    f[0] = __uint_as_float(w.x);
    f[1] = __uint_as_float(w.y);
    f[2] = __uint_as_float(w.z);
    f[3] = __uint_as_float(w.w);
  }
}

// Small-m matmul with b [n,k] (TRANS_B): one warp per output column j
// streams b's row j once in 16-byte loads (4 in flight per lane) and uses
// each for all M rows of a. Rows of a and b are 16-byte aligned and k is a
// multiple of 8 (the host checks; the scalar kernel takes the rest).
template <int M, bool BF16B, bool BF16A>
__device__ void gemv_tb_vec(const unsigned* halt, void* out, int odt, const void* cin,
                            const void* a, const void* b, const void* bias, int bdt, unsigned n,
                            unsigned k, int accumulate) {
  if (halted(halt)) return;
  constexpr int VW = BF16B ? 8 : 4;
  const unsigned lane = threadIdx.x & 31;
  const unsigned j = blockIdx.x * kGemvWarps + (threadIdx.x >> 5);
  if (j >= n) return;
  const uint4* row = reinterpret_cast<const uint4*>(static_cast<const unsigned char*>(b) +
                                                    static_cast<u64>(j) * k * (BF16B ? 2 : 4));
  const unsigned nv = k / VW;
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.0f;
  unsigned c = lane;
  for (; c + 96 < nv; c += 128) {
    uint4 wv[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) wv[u] = __ldcs(row + c + 32 * u);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      float wf[VW];
      weights_f32<BF16B>(wv[u], wf);
      gemv_chunk<M, BF16A, VW>(acc, wf, a, c + 32 * u, k);
    }
  }
  for (; c < nv; c += 32) {
    float wf[VW];
    weights_f32<BF16B>(__ldcs(row + c), wf);
    gemv_chunk<M, BF16A, VW>(acc, wf, a, c, k);
  }
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = warp_sum(acc[i]);
  if (lane < static_cast<unsigned>(M)) {
    float mine = acc[0];
#pragma unroll
    for (int i = 1; i < M; ++i) {
      if (lane == static_cast<unsigned>(i)) mine = acc[i];
    }
    epilogue_store(out, odt, cin, bias, bdt, static_cast<u64>(lane) * n + j, j, accumulate, mine);
  }
}

// The same for any alignment and k: element loads, still one warp per
// column.
template <int M>
__device__ void gemv_tb_scalar(const unsigned* halt, void* out, int odt, const void* cin,
                               const void* a, int adt, const void* b, int bdt_w, const void* bias,
                               int bdt, unsigned n, unsigned k, int accumulate) {
  if (halted(halt)) return;
  const unsigned lane = threadIdx.x & 31;
  const unsigned j = blockIdx.x * kGemvWarps + (threadIdx.x >> 5);
  if (j >= n) return;
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.0f;
  for (unsigned p = lane; p < k; p += 32) {
    const float wv = ld(b, bdt_w, static_cast<u64>(j) * k + p);
#pragma unroll
    for (int i = 0; i < M; ++i) acc[i] = fmaf(ld(a, adt, static_cast<u64>(i) * k + p), wv, acc[i]);
  }
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = warp_sum(acc[i]);
  if (lane < static_cast<unsigned>(M)) {
    float mine = acc[0];
#pragma unroll
    for (int i = 1; i < M; ++i) {
      if (lane == static_cast<unsigned>(i)) mine = acc[i];
    }
    epilogue_store(out, odt, cin, bias, bdt, static_cast<u64>(lane) * n + j, j, accumulate, mine);
  }
}

// Small-m matmul with b [k,n]: a block of 32 columns x 16 slices of k; the
// slices are summed in shared memory.
template <int M>
__device__ void gemv_nt(const unsigned* halt, void* out, int odt, const void* cin, const void* a,
                        int adt, const void* b, int bdt_w, const void* bias, int bdt, unsigned n,
                        unsigned k, int accumulate) {
  if (halted(halt)) return;
  __shared__ float part[M][kGemvNtSlices][kGemvNtCols];
  const unsigned tx = threadIdx.x % kGemvNtCols;
  const unsigned ty = threadIdx.x / kGemvNtCols;
  const unsigned j = blockIdx.x * kGemvNtCols + tx;
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.0f;
  if (j < n) {
    for (unsigned p = ty; p < k; p += kGemvNtSlices) {
      const float wv = ld(b, bdt_w, static_cast<u64>(p) * n + j);
#pragma unroll
      for (int i = 0; i < M; ++i) {
        acc[i] = fmaf(ld(a, adt, static_cast<u64>(i) * k + p), wv, acc[i]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < M; ++i) part[i][ty][tx] = acc[i];
  __syncthreads();
  if (ty == 0 && j < n) {
#pragma unroll
    for (int i = 0; i < M; ++i) {
      float s = 0.0f;
      for (int q = 0; q < kGemvNtSlices; ++q) s += part[i][q][tx];
      epilogue_store(out, odt, cin, bias, bdt, static_cast<u64>(i) * n + j, j, accumulate, s);
    }
  }
}

}  // namespace

#define GEMV_ARGS                                                                    \
  const unsigned *halt, void *out, int odt, const void *cin, const void *a, int adt, \
      const void *b, int bdt_w, const void *bias, int bdt, unsigned n, unsigned k, int accumulate

#define GEMV_VEC(M, BB, BA, NAME)                                                   \
  extern "C" __global__ void __launch_bounds__(kGemvWarps * 32) NAME(GEMV_ARGS) {   \
    (void)adt;                                                                      \
    (void)bdt_w;                                                                    \
    gemv_tb_vec<M, BB, BA>(halt, out, odt, cin, a, b, bias, bdt, n, k, accumulate); \
  }

#define GEMV_M(M)                                                                            \
  GEMV_VEC(M, true, true, k_gemv_tb_m##M##_bb)                                               \
  GEMV_VEC(M, true, false, k_gemv_tb_m##M##_bf)                                              \
  GEMV_VEC(M, false, true, k_gemv_tb_m##M##_fb)                                              \
  GEMV_VEC(M, false, false, k_gemv_tb_m##M##_ff)                                             \
  extern "C" __global__ void __launch_bounds__(kGemvWarps * 32) k_gemv_tbs_m##M(GEMV_ARGS) { \
    gemv_tb_scalar<M>(halt, out, odt, cin, a, adt, b, bdt_w, bias, bdt, n, k, accumulate);   \
  }                                                                                          \
  extern "C" __global__ void __launch_bounds__(kGemvNtCols* kGemvNtSlices)                   \
      k_gemv_nt_m##M(GEMV_ARGS) {                                                            \
    gemv_nt<M>(halt, out, odt, cin, a, adt, b, bdt_w, bias, bdt, n, k, accumulate);          \
  }

GEMV_M(1)
GEMV_M(2)
GEMV_M(3)
GEMV_M(4)
GEMV_M(5)
GEMV_M(6)
GEMV_M(7)
GEMV_M(8)

// ---- GEMV groups (gemv_fusion.hpp) ----
//
// Up to three matmuls b [n,k] (TRANS_B) over the same M rows of a, and an
// epilogue, in one launch. A block of kGemvGroupWarps warps first stages
// the M rows of a in shared memory as f32 (read once per block, not once per
// weight chunk per warp); each warp then takes C weight rows at a time (a
// unit), streams them once in 16-byte loads with U loads per row in flight
// per lane, and uses each weight chunk for all M rows. Units are spread over
// a grid sized to the GPU (the host's occupancy query), warp after warp, so
// every warp ends within one unit of the others. The rows of a unit are the
// parts' rows one after another; with the gated epilogue they are pairs (row
// j of part 0, row j of part 1), so one lane has both results.
//
// Results round where the ops one by one round: each matmul's output is
// stored in its dtype (after ACCUMULATE and bias, as epilogue_store), the
// activation reads that stored value and stores its own, and the product
// reads both stored values.

namespace {

// A weight row of a unit: its part, its index j within the part, and what
// the epilogue adds to it for the lane's row of a (loaded early).
struct GroupRow {
  const uint4* w;
  int part;
  unsigned j;
  bool valid;
};

__device__ __forceinline__ GroupRow group_row(const GemvGroupParams& p, unsigned r, bool bf16b) {
  GroupRow g{nullptr, 0, r, false};
  if (r >= p.rows) return g;
  while (g.part + 1 < static_cast<int>(p.parts) && g.j >= p.part[g.part].n) {
    g.j -= p.part[g.part].n;
    ++g.part;
  }
  g.valid = true;
  g.w = reinterpret_cast<const uint4*>(p.part[g.part].b +
                                       static_cast<u64>(g.j) * p.k * (bf16b ? 2u : 4u));
  return g;
}

__device__ __forceinline__ GroupRow gated_row(const GemvGroupParams& p, unsigned j, int part,
                                              bool bf16b) {
  GroupRow g{nullptr, part, j, j < p.part[0].n};
  if (g.valid) {
    g.w = reinterpret_cast<const uint4*>(p.part[part].b +
                                         static_cast<u64>(j) * p.k * (bf16b ? 2u : 4u));
  }
  return g;
}

// What a part's output element (row i of a, column j) gets besides the
// product: out's old value (ACCUMULATE) and the bias.
struct GroupAddends {
  float cin = 0.0f;
  float bias = 0.0f;
};

__device__ __forceinline__ GroupAddends group_addends(const GemvGroupPart& q, unsigned i,
                                                      unsigned j) {
  GroupAddends e;
  if (q.accumulate != 0) {
    e.cin = ld(reinterpret_cast<const void*>(q.out), q.out_dt, static_cast<u64>(i) * q.n + j);
  }
  if (q.bias != 0) e.bias = ld(reinterpret_cast<const void*>(q.bias), q.bias_dt, j);
  return e;
}

// The part's output value as epilogue_store computes it, as stored.
__device__ __forceinline__ float group_value(const GemvGroupPart& q, const GroupAddends& e,
                                             float acc) {
  float v = acc;
  if (q.accumulate != 0) v = __fadd_rn(e.cin, v);
  if (q.bias != 0) v = __fadd_rn(v, e.bias);
  return stored(q.out_dt, v);
}

// A norm leading the group (GemvGroupNorm): row i of a, normalised from x
// as k_rmsnorm or k_layernorm computes it (same threads, same sums, same
// roundings), stored into a by block 0 only and staged by every block as
// the value a then holds, in the layout the staging below uses. Each thread
// keeps its own columns (c = threadIdx.x + j * blockDim.x) in their staging
// slots between the passes: x is read once, kNormDepth loads in flight a
// thread, and gamma (and beta) likewise. (Four loads, and one instance per
// norm kind, keep the group kernel within 80 registers: three blocks an SM.)
// With stage_x (GemvGroupParams) x arrives by cp.async: every row's
// 16-byte groups of four columns straight into their slots (a slot holds
// four consecutive columns), all in flight at once; then each thread sums
// its own columns from the slots in the same order. With stage_params
// gamma (and beta) are read from `params` (shared memory, staged by
// stage_norm_params) instead of global memory. The values are the same.
template <int M, bool BF16B, bool kLayer>
__device__ void stage_norm(const GemvGroupParams& p, float* a_f, unsigned q4, unsigned nv,
                           const unsigned char* params) {
  __shared__ double sh[32];
  const GemvGroupNorm& n = p.norm;
  const void* x = reinterpret_cast<const void*>(n.x);
  const void* gamma = reinterpret_cast<const void*>(n.gamma);
  const void* beta = reinterpret_cast<const void*>(n.beta);
  void* out = reinterpret_cast<void*>(p.a);
  const unsigned cols = p.k;
  const unsigned step = blockDim.x;
  if (p.stage_params != 0) {
    gamma = params;
    beta = params + round_up16(cols * dt_bytes(n.gamma_dt));
  }
  if (p.stage_x != 0) {
    const auto* x4 = static_cast<const float4*>(x);  // 16-byte aligned (stage_x)
    for (unsigned g = threadIdx.x; g < M * q4; g += step) {
      const unsigned i = g / q4;
      const unsigned qq = g - i * q4;
      cp_async16(a_f + 4 * (i * q4 + (BF16B ? (qq & 1u) * nv + (qq >> 1) : qq)), x4 + g);
    }
    cp_async_commit();
  }
  if (p.stage_x != 0 || p.stage_params != 0) {
    cp_async_wait_all();
    __syncthreads();
  }
  for (int i = 0; i < M; ++i) {
    const u64 base = static_cast<u64>(i) * cols;
    const auto slot = [&](unsigned c) -> float& {
      const unsigned qq = c / 4;
      return a_f[4 * (i * q4 + (BF16B ? (qq & 1u) * nv + (qq >> 1) : qq)) + (c & 3u)];
    };
    // x into the slots; the first sum (layer: of x, rms: of its squares)
    // in the thread's column order.
    double s = 0.0;
    if (p.stage_x != 0) {
      for (unsigned c = threadIdx.x; c < cols; c += step) {
        if constexpr (kLayer) {
          s += slot(c);
        } else {
          const double d = slot(c);
          s += d * d;
        }
      }
    }
    for (unsigned c0 = threadIdx.x; p.stage_x == 0 && c0 < cols; c0 += kNormDepth * step) {
      float v[kNormDepth];
#pragma unroll
      for (unsigned u = 0; u < kNormDepth; ++u) {
        const unsigned c = c0 + u * step;
        v[u] = c < cols ? ld(x, n.x_dt, base + c) : 0.0f;
      }
#pragma unroll
      for (unsigned u = 0; u < kNormDepth; ++u) {
        const unsigned c = c0 + u * step;
        if (c >= cols) break;
        slot(c) = v[u];
        if constexpr (kLayer) {
          s += v[u];
        } else {
          const double d = v[u];
          s += d * d;
        }
      }
    }
    double mean = 0.0;
    double inv = 0.0;
    if constexpr (kLayer) {
      mean = block_sum_d(s, sh) / static_cast<double>(cols);
      double var_sum = 0.0;
      for (unsigned c = threadIdx.x; c < cols; c += step) {
        const double d = static_cast<double>(slot(c)) - mean;
        var_sum += d * d;
      }
      const double var = block_sum_d(var_sum, sh) / static_cast<double>(cols);
      inv = 1.0 / sqrt(var + static_cast<double>(n.eps));
    } else {
      const double ss = block_sum_d(s, sh);
      inv = 1.0 / sqrt(ss / static_cast<double>(cols) + static_cast<double>(n.eps));
    }
    for (unsigned c0 = threadIdx.x; c0 < cols; c0 += kNormDepth * step) {
      float g[kNormDepth];
      float bt[kNormDepth];
#pragma unroll
      for (unsigned u = 0; u < kNormDepth; ++u) {
        const unsigned c = c0 + u * step;
        g[u] = c < cols ? ld(gamma, n.gamma_dt, c) : 0.0f;
        if constexpr (kLayer) bt[u] = c < cols ? ld(beta, n.beta_dt, c) : 0.0f;
      }
#pragma unroll
      for (unsigned u = 0; u < kNormDepth; ++u) {
        const unsigned c = c0 + u * step;
        if (c >= cols) break;
        const float xv = slot(c);
        float v = 0.0f;
        if constexpr (kLayer) {
          const float r = static_cast<float>((static_cast<double>(xv) - mean) * inv);
          v = __fadd_rn(__fmul_rn(r, g[u]), bt[u]);
        } else {
          const float r = static_cast<float>(static_cast<double>(xv) * inv);
          v = __fmul_rn(r, g[u]);
        }
        if (blockIdx.x == 0) st(out, p.a_dt, base + c, v);
        slot(c) = stored(p.a_dt, v);
      }
    }
  }
}

// A leading norm's gamma (and beta) into `params` (shared memory) by
// cp.async, 16 bytes a copy (stage_params: whole aligned chunks); waited
// for in stage_norm.
__device__ __forceinline__ void stage_norm_params(const GemvGroupParams& p, unsigned char* params) {
  const GemvGroupNorm& n = p.norm;
  const unsigned gamma_bytes = p.k * dt_bytes(n.gamma_dt);
  const auto* gamma = reinterpret_cast<const unsigned char*>(n.gamma);
  for (unsigned b = 16 * threadIdx.x; b < gamma_bytes; b += 16 * blockDim.x) {
    cp_async16(params + b, gamma + b);
  }
  if (n.kind == kGemvNormLayer) {
    const unsigned beta_bytes = p.k * dt_bytes(n.beta_dt);
    const auto* beta = reinterpret_cast<const unsigned char*>(n.beta);
    unsigned char* const to = params + round_up16(gamma_bytes);
    for (unsigned b = 16 * threadIdx.x; b < beta_bytes; b += 16 * blockDim.x) {
      cp_async16(to + b, beta + b);
    }
  }
  cp_async_commit();
}

template <int M, bool BF16B, int C, int U>
__device__ void gemv_group(const unsigned* halt, const GemvGroupParams& p) {
  static_assert(C % 2 == 0, "the gated epilogue pairs rows");
  static_assert(C * M <= 32, "one lane per output of a unit");
  extern __shared__ float4 a_s[];  // [M][k / 4]
  constexpr int VW = BF16B ? 8 : 4;
  const unsigned k = p.k;
  const unsigned q4 = k / 4;   // float4s per staged row
  const unsigned nv = k / VW;  // 16-byte weight chunks per row
  const unsigned lane = threadIdx.x & 31;
  const unsigned warps = gridDim.x * kGemvGroupWarps;
  const bool gated = p.epilogue == kGemvEpilogueGated;
  const unsigned units = gated ? (p.part[0].n + C / 2 - 1) / (C / 2) : (p.rows + C - 1) / C;
  unsigned unit = blockIdx.x * kGemvGroupWarps + (threadIdx.x >> 5);

  GroupRow rows[C];
  uint4 w[C][U];
  GroupAddends add0;
  GroupAddends add1;
  // The lane's output of the unit: (c, i) for c * M + i = lane; gated:
  // pair c / 2 = lane / M.
  const unsigned out_c = lane / M;
  const unsigned out_i = lane % M;
  const auto setup_rows = [&](unsigned u) {
#pragma unroll
    for (int c = 0; c < C; ++c) {
      rows[c] =
          gated ? gated_row(p, u * (C / 2) + c / 2, c % 2, BF16B) : group_row(p, u * C + c, BF16B);
    }
  };
  const auto setup_addends = [&](unsigned u) {
    if (gated) {
      const unsigned j = u * (C / 2) + out_c;
      if (out_c < C / 2 && j < p.part[0].n) {
        add0 = group_addends(p.part[0], out_i, j);
        add1 = group_addends(p.part[1], out_i, j);
      }
    } else if (out_c < C) {
      const GroupRow r = group_row(p, u * C + out_c, BF16B);
      if (r.valid) add0 = group_addends(p.part[r.part], out_i, r.j);
    }
  };
  // A unit's first U chunks a row (the lane's).
  const auto fetch_first = [&]() {
#pragma unroll
    for (int c = 0; c < C; ++c) {
#pragma unroll
      for (int v = 0; v < U; ++v) {
        const unsigned idx = lane + 32u * v;
        w[c][v] = rows[c].valid && idx < nv ? __ldcs(rows[c].w + idx) : make_uint4(0, 0, 0, 0);
      }
    }
  };
  // The first unit's weights are on their way while a is staged: with
  // early_weights already while the kernel ahead finishes (the weights are
  // not among its writes; every other read waits for them in halted()).
  const bool early = p.early_weights != 0 && unit < units;
  if (early) {
    setup_rows(unit);
    fetch_first();
  }
  // A leading norm's gamma and beta after the activation rows.
  unsigned char* const params = reinterpret_cast<unsigned char*>(a_s + M * q4);
  if (p.stage_params == 2) stage_norm_params(p, params);
  if (halted(halt)) {
    cp_async_wait_all();  // no copy outlives the block
    return;
  }
  if (p.stage_params == 1) stage_norm_params(p, params);
  if (unit < units) {
    if (!early) {
      setup_rows(unit);
      fetch_first();
    }
    setup_addends(unit);
  }
  if (p.norm.kind == kGemvNormLayer) {
    stage_norm<M, BF16B, true>(p, reinterpret_cast<float*>(a_s), q4, nv, params);
  } else if (p.norm.kind == kGemvNormRms) {
    stage_norm<M, BF16B, false>(p, reinterpret_cast<float*>(a_s), q4, nv, params);
  } else {
    const float4* a4 = reinterpret_cast<const float4*>(p.a);
    const uint2* a2 = reinterpret_cast<const uint2*>(p.a);
    const unsigned total = M * q4;
    constexpr unsigned kBatch = 4;
    for (unsigned q0 = threadIdx.x; q0 < total; q0 += kBatch * blockDim.x) {
      float4 v[kBatch];
#pragma unroll
      for (unsigned t = 0; t < kBatch; ++t) {
        const unsigned q = q0 + t * blockDim.x;
        v[t] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (q < total) {
          if (p.a_dt == DT_BF16) {
            const uint2 h = a2[q];
            v[t] = make_float4(__uint_as_float(h.x << 16), __uint_as_float(h.x & 0xFFFF0000u),
                               __uint_as_float(h.y << 16), __uint_as_float(h.y & 0xFFFF0000u));
          } else {
            v[t] = a4[q];
          }
        }
      }
#pragma unroll
      for (unsigned t = 0; t < kBatch; ++t) {
        const unsigned q = q0 + t * blockDim.x;
        if (q >= total) break;
        // bf16 weights: chunk c's eight activations as float4s [c] and
        // [k / 8 + c] of the row, so that a warp's reads are consecutive.
        const unsigned i = q / q4;
        const unsigned qq = q - i * q4;
        a_s[i * q4 + (BF16B ? (qq & 1u) * nv + (qq >> 1) : qq)] = v[t];
      }
    }
  }
  __syncthreads();

  // Each lane keeps U 16-byte loads a row in flight throughout: a slot's
  // next chunk is requested as soon as the slot is converted, and the next
  // unit's first chunks before this unit's sums are reduced and stored.
  for (bool first = true; unit < units; unit += warps, first = false) {
    if (!first) setup_addends(unit);  // its rows and first weights: below
    float acc[C][M];
#pragma unroll
    for (int c = 0; c < C; ++c) {
#pragma unroll
      for (int i = 0; i < M; ++i) acc[c][i] = 0.0f;
    }
    for (unsigned base = lane; base < nv; base += 32u * U) {
#pragma unroll
      for (int v = 0; v < U; ++v) {
        const unsigned idx = base + 32u * v;
        if (idx >= nv) break;
        float wf[C][VW];
#pragma unroll
        for (int c = 0; c < C; ++c) weights_f32<BF16B>(w[c][v], wf[c]);
#pragma unroll
        for (int i = 0; i < M; ++i) {
          float af[VW];
          const float4 lo = a_s[i * q4 + idx];
          af[0] = lo.x;
          af[1] = lo.y;
          af[2] = lo.z;
          af[3] = lo.w;
          if constexpr (BF16B) {
            const float4 hi = a_s[i * q4 + nv + idx];
            af[4] = hi.x;
            af[5] = hi.y;
            af[6] = hi.z;
            af[7] = hi.w;
          }
#pragma unroll
          for (int c = 0; c < C; ++c) {
#pragma unroll
            for (int e = 0; e < VW; ++e) acc[c][i] = fmaf(af[e], wf[c][e], acc[c][i]);
          }
        }
        // The slot's next chunk, on its way while the other slots are used.
        const unsigned next = idx + 32u * U;
#pragma unroll
        for (int c = 0; c < C; ++c) {
          w[c][v] = rows[c].valid && next < nv ? __ldcs(rows[c].w + next) : make_uint4(0, 0, 0, 0);
        }
      }
    }
    if (unit + warps < units) {
      setup_rows(unit + warps);
      fetch_first();
    }
#pragma unroll
    for (int c = 0; c < C; ++c) {
#pragma unroll
      for (int i = 0; i < M; ++i) acc[c][i] = warp_sum(acc[c][i]);
    }
    // Every lane holds every sum; lane (c, i) stores one.
    const auto sum_of = [&](unsigned c) {
      float v = 0.0f;
#pragma unroll
      for (int cc = 0; cc < C; ++cc) {
#pragma unroll
        for (int i = 0; i < M; ++i) {
          if (cc == static_cast<int>(c) && i == static_cast<int>(out_i)) v = acc[cc][i];
        }
      }
      return v;
    };
    if (gated) {
      const unsigned j = unit * (C / 2) + out_c;
      if (out_c < C / 2 && j < p.part[0].n) {
        const GemvGroupPart& g0 = p.part[0];
        const GemvGroupPart& g1 = p.part[1];
        const float gate = group_value(g0, add0, sum_of(2 * out_c));
        const float up = group_value(g1, add1, sum_of(2 * out_c + 1));
        const u64 i0 = static_cast<u64>(out_i) * g0.n + j;
        const u64 i1 = static_cast<u64>(out_i) * g1.n + j;
        st(reinterpret_cast<void*>(g1.out), g1.out_dt, i1, up);
        const float act = stored(g0.out_dt, unary_value(p.act, gate));
        st(reinterpret_cast<void*>(g0.out), g0.out_dt, i0, __fmul_rn(act, up));
      }
    } else if (out_c < C) {
      const GroupRow r = group_row(p, unit * C + out_c, BF16B);
      if (r.valid) {
        const GemvGroupPart& g = p.part[r.part];
        float v = group_value(g, add0, sum_of(out_c));
        if (p.epilogue == kGemvEpilogueAct && r.part == 0) {
          v = stored(g.out_dt, unary_value(p.act, v));
        }
        st(reinterpret_cast<void*>(g.out), g.out_dt, static_cast<u64>(out_i) * g.n + r.j, v);
      }
    }
  }
}

}  // namespace

#define GEMV_GROUP(M, BB, C, U, NAME)                                \
  extern "C" __global__ void __launch_bounds__(kGemvGroupWarps * 32) \
      NAME(const unsigned* halt, const GemvGroupParams p) {          \
    gemv_group<M, BB, C, U>(halt, p);                                \
  }

#define GEMV_GROUP_M(M)                                  \
  GEMV_GROUP(M, true, 2, 4, k_gemv_group_m##M##_b_c2u4)  \
  GEMV_GROUP(M, false, 2, 4, k_gemv_group_m##M##_f_c2u4) \
  GEMV_GROUP(M, true, 4, 4, k_gemv_group_m##M##_b_c4u4)  \
  GEMV_GROUP(M, false, 4, 4, k_gemv_group_m##M##_f_c4u4) \
  GEMV_GROUP(M, true, 2, 8, k_gemv_group_m##M##_b_c2u8)  \
  GEMV_GROUP(M, false, 2, 8, k_gemv_group_m##M##_f_c2u8)

GEMV_GROUP_M(1)
GEMV_GROUP_M(2)
GEMV_GROUP_M(3)
GEMV_GROUP_M(4)
GEMV_GROUP_M(5)
GEMV_GROUP_M(6)
GEMV_GROUP_M(7)
GEMV_GROUP_M(8)

// Any m: 64x64 output tiles, k in steps of 16 through shared memory, 4x4
// outputs per thread, fp32 accumulate. For recordings (no cuBLAS there) and
// use_cublas = false.

extern "C" __global__ void __launch_bounds__(256)
    k_gemm_tiled(const unsigned* halt, void* out, int odt, const void* cin, const void* a, int adt,
                 const void* b, int bdt_w, const void* bias, int bdt, unsigned m, unsigned n,
                 unsigned k, int trans_b, int accumulate) {
  if (halted(halt)) return;
  __shared__ float as[kGemmK][kGemmTile + 4];
  __shared__ float bs[kGemmK][kGemmTile + 4];
  const unsigned tid = threadIdx.x;
  const unsigned tx = tid % 16;
  const unsigned ty = tid / 16;
  const unsigned col0 = blockIdx.x * kGemmTile;
  const unsigned tiles_m = (m + kGemmTile - 1) / kGemmTile;
  for (unsigned tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
    const unsigned row0 = tm * kGemmTile;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) acc[i][jj] = 0.0f;
    }
    for (unsigned k0 = 0; k0 < k; k0 += kGemmK) {
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const unsigned e = tid + 256u * q;
        {
          const unsigned r = e / kGemmK;
          const unsigned kk = e % kGemmK;
          const unsigned gr = row0 + r;
          const unsigned gk = k0 + kk;
          as[kk][r] = (gr < m && gk < k) ? ld(a, adt, static_cast<u64>(gr) * k + gk) : 0.0f;
        }
        if (trans_b != 0) {
          const unsigned cc = e / kGemmK;
          const unsigned kk = e % kGemmK;
          const unsigned gc = col0 + cc;
          const unsigned gk = k0 + kk;
          bs[kk][cc] = (gc < n && gk < k) ? ld(b, bdt_w, static_cast<u64>(gc) * k + gk) : 0.0f;
        } else {
          const unsigned kk = e / kGemmTile;
          const unsigned cc = e % kGemmTile;
          const unsigned gc = col0 + cc;
          const unsigned gk = k0 + kk;
          bs[kk][cc] = (gc < n && gk < k) ? ld(b, bdt_w, static_cast<u64>(gk) * n + gc) : 0.0f;
        }
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kGemmK; ++kk) {
        float af[4];
        float bf[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) af[i] = as[kk][ty * 4 + i];
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) bf[jj] = bs[kk][tx * 4 + jj];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
          for (int jj = 0; jj < 4; ++jj) acc[i][jj] = fmaf(af[i], bf[jj], acc[i][jj]);
        }
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const unsigned r = row0 + ty * 4 + i;
      if (r >= m) continue;
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const unsigned c = col0 + tx * 4 + jj;
        if (c < n) {
          epilogue_store(out, odt, cin, bias, bdt, static_cast<u64>(r) * n + c, c, accumulate,
                         acc[i][jj]);
        }
      }
    }
  }
}

// ---- ATTENTION ----
//
// A block takes 8 query rows of one kv head g (row r = t*group + h%group;
// GQA heads of a group share the K/V tiles) and a range of keys; K/V tiles
// of 32 keys go through shared memory as f32 (staged in 16-byte loads, many
// in flight a thread, where the caches' rows are aligned for them: a decode
// step's split reads one tile, so the loads' latency is most of its time).
// A warp owns one query row:
// lane j scores key j of the tile, the warp keeps an online softmax, and
// lane l accumulates output dims l, l+32, ... (head_dim <= 256). With more
// than one key split (gridDim.z), each split writes its partial (m, l, o)
// and k_attention_combine merges them.
//
// Batched (cache_stride != 0, spec §6.4.1): `tokens` sequences, one query
// row each, all at pos; blockIdx.y is the sequence, whose cache starts
// cache_stride elements after the previous one's.

namespace {

// Whether a cache's rows can be read in 16-byte loads: its start and every
// head's row (hd elements, kv_row apart) 16-byte aligned.
__device__ __forceinline__ bool kv_vectors(const void* c, int dt, unsigned hd, u64 kv_row) {
  const unsigned es = dt_bytes(dt);
  return (reinterpret_cast<u64>(c) & 15u) == 0 && (hd * es) % 16u == 0 && (kv_row * es) % 16u == 0;
}

// A 16-byte chunk of a cache row as f32 (4 or 8 elements, by dtype) into
// shared memory at `dst`: as float4s where `dst` is 16-byte aligned.
template <bool kAligned>
__device__ __forceinline__ void put_chunk(float* dst, const uint4& v, int dt) {
  float f[8];
  const int n = dt == DT_BF16 ? 8 : 4;
  if (n == 8) {
    weights_f32<true>(v, f);
  } else {
    weights_f32<false>(v, f);
  }
  if constexpr (kAligned) {
    auto* d4 = reinterpret_cast<float4*>(dst);
    d4[0] = make_float4(f[0], f[1], f[2], f[3]);
    if (n == 8) d4[1] = make_float4(f[4], f[5], f[6], f[7]);
  } else {
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      if (e < n) dst[e] = f[e];
    }
  }
}

// The K and V rows of a tile (cnt keys, key jj's head row at element
// src0 + jj * kv_row of each cache) into ks ([kAttKeys][hd + 1]) and vs
// ([kAttKeys][hd]) in 16-byte loads, kAttTileLoads of each cache in flight
// a thread before any is stored: the same values the element loop stages.
__device__ __forceinline__ void stage_kv_tile(float* ks, float* vs, const void* kc, int kdt,
                                              const void* vc, int vdt, u64 src0, u64 kv_row,
                                              unsigned hd, unsigned cnt) {
  const unsigned k_es = dt_bytes(kdt);
  const unsigned v_es = dt_bytes(vdt);
  const unsigned k_per = 16u / k_es;  // elements a chunk
  const unsigned v_per = 16u / v_es;
  const unsigned k_row = hd / k_per;  // chunks a key's row
  const unsigned v_row = hd / v_per;
  const unsigned k_total = cnt * k_row;
  const unsigned v_total = cnt * v_row;
  const auto* kb = static_cast<const unsigned char*>(kc);
  const auto* vb = static_cast<const unsigned char*>(vc);
  const unsigned step = blockDim.x;
  for (unsigned c0 = threadIdx.x; c0 < k_total || c0 < v_total; c0 += kAttTileLoads * step) {
    uint4 kv[kAttTileLoads];
    uint4 vv[kAttTileLoads];
#pragma unroll
    for (unsigned u = 0; u < kAttTileLoads; ++u) {
      const unsigned c = c0 + u * step;
      kv[u] = make_uint4(0, 0, 0, 0);
      vv[u] = make_uint4(0, 0, 0, 0);
      if (c < k_total) {
        const unsigned jj = c / k_row;
        const u64 at = (src0 + jj * kv_row + (c - jj * k_row) * k_per) * k_es;
        kv[u] = *reinterpret_cast<const uint4*>(kb + at);
      }
      if (c < v_total) {
        const unsigned jj = c / v_row;
        const u64 at = (src0 + jj * kv_row + (c - jj * v_row) * v_per) * v_es;
        vv[u] = *reinterpret_cast<const uint4*>(vb + at);
      }
    }
#pragma unroll
    for (unsigned u = 0; u < kAttTileLoads; ++u) {
      const unsigned c = c0 + u * step;
      if (c < k_total) {
        const unsigned jj = c / k_row;
        put_chunk<false>(ks + jj * (hd + 1) + (c - jj * k_row) * k_per, kv[u], kdt);
      }
      if (c < v_total) {
        const unsigned jj = c / v_row;
        put_chunk<true>(vs + jj * hd + (c - jj * v_row) * v_per, vv[u], vdt);
      }
    }
  }
}

// Row `row` of `rows` merged from its first `splits` key splits' partials
// (part_o [split][rows][hd], part_ml [split][rows][m, l]) into out, by one
// warp: each lane weighs one split at a time, and every sum runs over the
// splits in ascending order. k_attention_combine and the merging block of
// k_attention_merged both merge with it. Partials are read from L2
// (__ldcg): in k_attention_merged other blocks wrote them in the same launch.
__device__ void merge_row(void* out, int odt, const float* part_o, const float* part_ml, u64 rows,
                          u64 row, unsigned hd, unsigned splits) {
  const unsigned lane = threadIdx.x & 31;
  float mx = -INFINITY;
  for (unsigned z = lane; z < splits; z += 32)
    mx = fmaxf(mx, __ldcg(part_ml + (z * rows + row) * 2));
  mx = warp_max(mx);
  float l = 0.0f;
  float acc[kAttMaxDimsPerLane];
#pragma unroll
  for (int i = 0; i < kAttMaxDimsPerLane; ++i) acc[i] = 0.0f;
  for (unsigned z0 = 0; z0 < splits; z0 += 32) {
    // Lane i: split z0 + i's m, l and weight exp(m - mx).
    const unsigned z = z0 + lane;
    float mz = -INFINITY;
    float lz = 0.0f;
    float ez = 0.0f;
    if (z < splits) {
      mz = __ldcg(part_ml + (z * rows + row) * 2);
      lz = __ldcg(part_ml + (z * rows + row) * 2 + 1);
      if (mz != -INFINITY) ez = expf(mz - mx);
    }
    const unsigned n = min(32u, splits - z0);
    for (unsigned i = 0; i < n; ++i) {
      const float mi = __shfl_sync(0xFFFFFFFFu, mz, static_cast<int>(i));
      const float li = __shfl_sync(0xFFFFFFFFu, lz, static_cast<int>(i));
      const float ei = __shfl_sync(0xFFFFFFFFu, ez, static_cast<int>(i));
      if (mi == -INFINITY) continue;
      l += li * ei;
      const float* po = part_o + ((z0 + i) * rows + row) * hd;
#pragma unroll
      for (int k = 0; k < kAttMaxDimsPerLane; ++k) {
        const unsigned d = lane + 32u * k;
        if (d < hd) acc[k] += __ldcg(po + d) * ei;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < kAttMaxDimsPerLane; ++k) {
    const unsigned d = lane + 32u * k;
    if (d < hd) st(out, odt, row * hd + d, acc[k] / l);
  }
}

// k_attention_roped: the angles of the token's ROPEs (at the attention's
// position, register added).
__device__ __forceinline__ RopeAngles rope_angles(const RopeAttentionParams& rp, u64 pos) {
  return RopeAngles{pos, rp.theta,
                    hix::vgpu::Llama3Rope{rp.factor, rp.low_freq_factor, rp.high_freq_factor,
                                          rp.original_max_pos},
                    0};
}

// k_attention_roped: kv head g's new K row as k holds it once roped (kn)
// and its V row as v holds it (vn), into shared memory by the whole block,
// with the arithmetic and roundings of k_rope_store (rope_element).
__device__ void new_kv_row(const RopeAttentionParams& rp, const RopeAngles& ra, unsigned g,
                           unsigned hd, float* kn, float* vn) {
  const auto* k = reinterpret_cast<const void*>(rp.k);
  const auto* v = reinterpret_cast<const void*>(rp.v);
  const u64 base = static_cast<u64>(g) * hd;
  const unsigned half = rp.rot_dim / 2;
  for (unsigned i = threadIdx.x; i < half; i += blockDim.x) {
    float y1 = 0.0f;
    float y2 = 0.0f;
    rope_rotate(ra, 0, i, rp.rot_dim, ld(k, rp.k_dt, base + i), ld(k, rp.k_dt, base + i + half), y1,
                y2);
    kn[i] = stored(rp.k_dt, y1);
    kn[i + half] = stored(rp.k_dt, y2);
  }
  for (unsigned d = rp.rot_dim + threadIdx.x; d < hd; d += blockDim.x) {
    kn[d] = stored(rp.k_dt, ld(k, rp.k_dt, base + d));
  }
  for (unsigned d = threadIdx.x; d < hd; d += blockDim.x) vn[d] = ld(v, rp.v_dt, base + d);
}

// k_attention_roped's writes, by the last block of a row block (every key
// of kv head g read): the warp's roped q row (from qw; q_at its first
// element, ~0 for a warp without a row), then kv head g's roped k row and
// its cache rows at pos, as k_rope_store writes them (the new rows computed
// here unless `have_new`, the block's split holding key pos).
__device__ void rope_writes(const RopeAttentionParams& rp, const void* q, int qdt, const void* kc,
                            int kdt, const void* vc, int vdt, u64 pos, u64 cache0, u64 kv_row,
                            unsigned g, unsigned hd, u64 q_at, const float* qw, float* kn,
                            float* vn, bool have_new) {
  // q, k and the caches are VRAM the launch may write (the host's checks).
  auto* qo = const_cast<void*>(q);
  auto* ko = reinterpret_cast<void*>(rp.k);
  auto* kco = const_cast<void*>(kc);
  auto* vco = const_cast<void*>(vc);
  if (q_at != ~0ull) {
    for (unsigned d = threadIdx.x & 31; d < hd; d += 32) st(qo, qdt, q_at + d, qw[d]);
  }
  if (!have_new) {
    new_kv_row(rp, rope_angles(rp, pos), g, hd, kn, vn);
    __syncthreads();
  }
  const u64 row_at = cache0 + pos * kv_row + static_cast<u64>(g) * hd;
  const u64 in_at = static_cast<u64>(g) * hd;
  for (unsigned d = threadIdx.x; d < hd; d += blockDim.x) {
    st(ko, rp.k_dt, in_at + d, kn[d]);
    st(kco, kdt, row_at + d, kn[d]);
    if (vdt == rp.v_dt && vdt != DT_BF16) {  // as copy_element: the bits
      static_cast<unsigned*>(vco)[row_at + d] = reinterpret_cast<const unsigned*>(rp.v)[in_at + d];
    } else {
      st(vco, vdt, row_at + d, vn[d]);
    }
  }
}

// One warp per query row of a block of kAttWarps rows (a kv head's rows,
// packed token-major), over split blockIdx.z of the keys (split_len keys
// each): with one split the row's output, else its partial (unnormalised
// output, running max and sum) for k_attention_combine. kMerge
// (k_attention_merged, CudaBackendOptions::attention_merge): the last of a
// row block's splits to finish merges them itself (merge_row), one counter
// of merge_counts a row block (blockIdx.y * gridDim.x + blockIdx.x), so no
// combine launch follows. Two kernels, so that k_attention's registers stay
// as they were without the merge.
// kRope (k_attention_roped, CudaBackendOptions::rope_in_attention; one
// token, one row block a kv head, merging as kMerge): q and k arrive
// unroped and the cache rows at pos unwritten, and the launch does what
// k_rope_store and then the attention would: every block ropes its rows of q
// into shared memory, the block whose split holds key pos ropes kv head g's
// new K row and takes its V row (new_kv_row) in place of the cache's row
// pos, and the last block of the row block to finish (every key read) writes
// the roped q rows, the roped k row and both cache rows.
template <bool kMerge, bool kRope = false>
__device__ __forceinline__ void attention_rows(
    const unsigned* halt, void* out, int odt, const void* q, int qdt, const void* kc, int kdt,
    const void* vc, int vdt, unsigned tokens, unsigned q_heads, unsigned kv_heads, unsigned hd,
    u64 pos, float scale, unsigned blocks_x, u64 split_len, float* part_o, float* part_ml,
    int pos_reg, u64 cache_stride, unsigned* merge_counts,
    const RopeAttentionParams* rp = nullptr) {
  if (halted(halt)) return;
  pos += reg_value(halt, pos_reg);
  const bool batched = cache_stride != 0;
  const u64 seq = blockIdx.y;             // batched: the sequence; else 0
  const u64 cache0 = seq * cache_stride;  // its cache's first element
  extern __shared__ __align__(16) float sm[];
  float* ks = sm;                        // [kAttKeys][hd + 1]
  float* vs = ks + kAttKeys * (hd + 1);  // [kAttKeys][hd]
  float* qs = vs + kAttKeys * hd;        // [kAttWarps][hd]
  const unsigned group = q_heads / kv_heads;
  const unsigned g = blockIdx.x / blocks_x;  // kv head: gridDim.x = blocks_x * kv_heads
  const unsigned bx = blockIdx.x % blocks_x;
  const unsigned warp = threadIdx.x >> 5;
  const unsigned lane = threadIdx.x & 31;
  // Rows of this block's query set: every token's, or one sequence's.
  const u64 nrows = static_cast<u64>(batched ? 1 : tokens) * group;
  const u64 r = static_cast<u64>(bx) * kAttWarps + warp;
  const bool active = r < nrows;
  const u64 tl = active ? r / group : 0;  // token within the set (0 when batched)
  const u64 t = batched ? seq : tl;       // row of q and out
  const u64 h = static_cast<u64>(g) * group + (active ? r % group : 0);
  const u64 kv_row = static_cast<u64>(kv_heads) * hd;
  const u64 r_end = min((static_cast<u64>(bx) + 1) * kAttWarps, nrows);
  const u64 block_last = pos + (r_end - 1) / group;
  const u64 my_last = pos + tl;
  const u64 j0 = static_cast<u64>(blockIdx.z) * split_len;
  const u64 j1 = min(j0 + split_len, block_last + 1);
  // A split past every key this block's rows see: k_attention_combine does
  // not read it (the same test for the whole block).
  if (j0 > block_last) return;
  const bool vec = kv_vectors(kc, kdt, hd, kv_row) && kv_vectors(vc, vdt, hd, kv_row);

  float* qw = qs + warp * hd;
  float* const kn = qs + kAttWarps * hd;  // kRope: [hd] the new K row, as k holds it
  float* const vn = kn + hd;              // kRope: [hd] the new V row, as v holds it
  if constexpr (kRope) {
    const RopeAngles ra = rope_angles(*rp, pos);
    const u64 base = (t * q_heads + h) * hd;
    const unsigned half = rp->rot_dim / 2;
    for (unsigned i = lane; i < half; i += 32) {
      float y1 = 0.0f;
      float y2 = 0.0f;
      if (active) {
        rope_rotate(ra, 0, i, rp->rot_dim, ld(q, qdt, base + i), ld(q, qdt, base + i + half), y1,
                    y2);
      }
      qw[i] = stored(qdt, y1);
      qw[i + half] = stored(qdt, y2);
    }
    for (unsigned d = rp->rot_dim + lane; d < hd; d += 32) {
      qw[d] = active ? stored(qdt, ld(q, qdt, base + d)) : 0.0f;
    }
    if (j1 > pos) new_kv_row(*rp, ra, g, hd, kn, vn);  // this split holds key pos
  } else {
    for (unsigned d = lane; d < hd; d += 32) {
      qw[d] = active ? ld(q, qdt, (t * q_heads + h) * hd + d) : 0.0f;
    }
  }
  float m = -INFINITY;
  float l = 0.0f;
  float o[kAttMaxDimsPerLane];
#pragma unroll
  for (int i = 0; i < kAttMaxDimsPerLane; ++i) o[i] = 0.0f;

  for (u64 jt = j0; jt < j1; jt += kAttKeys) {
    __syncthreads();  // the previous tile is consumed; qs is written
    const unsigned cnt = static_cast<unsigned>(min(static_cast<u64>(kAttKeys), j1 - jt));
    const u64 src0 = cache0 + jt * kv_row + static_cast<u64>(g) * hd;
    if (vec) {
      stage_kv_tile(ks, vs, kc, kdt, vc, vdt, src0, kv_row, hd, cnt);
    } else {
      for (unsigned jj = warp; jj < cnt; jj += kAttWarps) {
        const u64 src = src0 + jj * kv_row;
        for (unsigned d = lane; d < hd; d += 32) {
          ks[jj * (hd + 1) + d] = ld(kc, kdt, src + d);
          vs[jj * hd + d] = ld(vc, vdt, src + d);
        }
      }
    }
    __syncthreads();
    if constexpr (kRope) {
      // Key pos (its cache row not yet written): the new rows, as the
      // cache will hold them.
      if (jt <= pos && pos < jt + cnt) {
        const auto jj = static_cast<unsigned>(pos - jt);
        for (unsigned d = threadIdx.x; d < hd; d += blockDim.x) {
          ks[jj * (hd + 1) + d] = stored(kdt, kn[d]);
          vs[jj * hd + d] = stored(vdt, vn[d]);
        }
        __syncthreads();
      }
    }
    if (!active || jt > my_last) continue;
    float s = -INFINITY;
    if (lane < cnt && jt + lane <= my_last) {
      const float* kr = ks + lane * (hd + 1);
      float dot = 0.0f;
      for (unsigned d = 0; d < hd; ++d) dot = fmaf(qw[d], kr[d], dot);
      s = dot * scale;
    }
    const float m_new = fmaxf(m, warp_max(s));
    if (m_new == -INFINITY) continue;
    const float p = expf(s - m_new);
    const float corr = expf(m - m_new);
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int i = 0; i < kAttMaxDimsPerLane; ++i) o[i] *= corr;
    for (unsigned jj = 0; jj < cnt; ++jj) {
      const float pj = __shfl_sync(0xFFFFFFFFu, p, static_cast<int>(jj));
      const float* vr = vs + jj * hd;
#pragma unroll
      for (int i = 0; i < kAttMaxDimsPerLane; ++i) {
        const unsigned d = lane + 32u * i;
        if (d < hd) o[i] = fmaf(pj, vr[d], o[i]);
      }
    }
    m = m_new;
  }
  if (gridDim.z == 1) {
    if (active) {
      const float inv = 1.0f / l;
#pragma unroll
      for (int i = 0; i < kAttMaxDimsPerLane; ++i) {
        const unsigned d = lane + 32u * i;
        if (d < hd) st(out, odt, (t * q_heads + h) * hd + d, o[i] * inv);
      }
    }
    if constexpr (kRope) {
      rope_writes(*rp, q, qdt, kc, kdt, vc, vdt, pos, cache0, kv_row, g, hd,
                  active ? (t * q_heads + h) * hd : ~0ull, qw, kn, vn, j1 > pos);
    }
    return;
  }
  const u64 rows = static_cast<u64>(tokens) * q_heads;
  const u64 row = t * q_heads + h;
  const u64 prow = static_cast<u64>(blockIdx.z) * rows + row;
  if (active) {
#pragma unroll
    for (int i = 0; i < kAttMaxDimsPerLane; ++i) {
      const unsigned d = lane + 32u * i;
      if (d < hd) part_o[prow * hd + d] = o[i];
    }
    if (lane == 0) {
      part_ml[prow * 2] = m;
      part_ml[prow * 2 + 1] = l;
    }
  }
  if constexpr (kMerge || kRope) {
    // The splits that hold keys of this block's rows: those before block_last's.
    const auto parts =
        static_cast<unsigned>(min(static_cast<u64>(gridDim.z), block_last / split_len + 1));
    if (!last_to_arrive(merge_counts + blockIdx.y * gridDim.x + blockIdx.x, parts)) return;
    if (active) {
      const auto splits =
          static_cast<unsigned>(min(static_cast<u64>(gridDim.z), my_last / split_len + 1));
      merge_row(out, odt, part_o, part_ml, rows, row, hd, splits);
    }
    if constexpr (kRope) {
      rope_writes(*rp, q, qdt, kc, kdt, vc, vdt, pos, cache0, kv_row, g, hd,
                  active ? row * hd : ~0ull, qw, kn, vn, j1 > pos);
    }
  }
}

}  // namespace

#define ATTENTION_ARGS                                                                            \
  const unsigned *halt, void *out, int odt, const void *q, int qdt, const void *kc, int kdt,      \
      const void *vc, int vdt, unsigned tokens, unsigned q_heads, unsigned kv_heads, unsigned hd, \
      u64 pos, float scale, unsigned blocks_x, u64 split_len, float *part_o, float *part_ml,      \
      int pos_reg, u64 cache_stride
#define ATTENTION_PASS                                                                           \
  halt, out, odt, q, qdt, kc, kdt, vc, vdt, tokens, q_heads, kv_heads, hd, pos, scale, blocks_x, \
      split_len, part_o, part_ml, pos_reg, cache_stride

extern "C" __global__ void __launch_bounds__(kAttWarps * 32, 3) k_attention(ATTENTION_ARGS) {
  attention_rows<false>(ATTENTION_PASS, nullptr);
}

// Two blocks an SM rather than three: the merge's registers without
// spilling (it runs where the splits are few blocks: decode).
extern "C" __global__ void __launch_bounds__(kAttWarps * 32, 2)
    k_attention_merged(ATTENTION_ARGS, unsigned* merge_counts) {
  attention_rows<true>(ATTENTION_PASS, merge_counts);
}

// ROPE of q, ROPE of k, the cache stores and the attention as one launch
// (attention_rows' kRope); its dynamic shared memory holds two rows more.
extern "C" __global__ void __launch_bounds__(kAttWarps * 32, 2)
    k_attention_roped(ATTENTION_ARGS, unsigned* merge_counts, const RopeAttentionParams rp) {
  attention_rows<true, true>(ATTENTION_PASS, merge_counts, &rp);
}

// ATTENTION with BATCH: row b of src ([seqs, kv_row]) to row pos
// (+R[pos_reg]) of cache b, cache b at element b * cache_stride of dst.
extern "C" __global__ void k_cache_rows(const unsigned* halt, void* dst, int ddt, const void* src,
                                        int sdt, unsigned seqs, u64 kv_row, u64 cache_stride,
                                        u64 pos, int pos_reg) {
  if (halted(halt)) return;
  pos += reg_value(halt, pos_reg);
  const u64 total = static_cast<u64>(seqs) * kv_row;
  for (u64 e = gtid(); e < total; e += gstride()) {
    const u64 b = e / kv_row;
    st(dst, ddt, b * cache_stride + pos * kv_row + (e - b * kv_row), ld(src, sdt, e));
  }
}

// Merges the splits' partials: one warp per (token, head), over the splits
// that hold keys the row sees (the row's last key is pos + its token; with
// BATCH every row is at pos): k_attention writes no others.
extern "C" __global__ void k_attention_combine(const unsigned* halt, void* out, int odt,
                                               const float* part_o, const float* part_ml, u64 rows,
                                               unsigned hd, unsigned all_splits, u64 split_len,
                                               u64 pos, int pos_reg, unsigned q_heads,
                                               int batched) {
  if (halted(halt)) return;
  pos += reg_value(halt, pos_reg);
  const u64 row = static_cast<u64>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const u64 last = pos + (batched != 0 ? 0 : row / q_heads);
  const auto splits =
      static_cast<unsigned>(min(static_cast<u64>(all_splits), last / split_len + 1));
  merge_row(out, odt, part_o, part_ml, rows, row, hd, splits);
}

// ---- ATTENTION on tensor cores (prefill, bf16 q and caches) ----
//
// Spec §6.4 ATTENTION with q, k_cache and v_cache bf16: q·k on tensor cores
// (bf16 products are exact, f32 accumulation), an online softmax in f32, and
// each unnormalised weight rounded to bf16 before it multiplies v (f32
// accumulation); the normaliser sums the f32 weights. The backend takes this
// kernel only where attention_plan.hpp's rule says so (no moving position).
//
// A block takes kTcRows query rows of one kv head g, rows packed as in
// k_attention (row r = t*group + h%group, so the heads of a GQA group share
// every K/V tile), and walks the keys 0..pos+t_last in tiles of kTcKeys
// staged in shared memory as bf16. Warp w owns rows 16w..16w+15 of the
// block: S = Q·K^T and O += P·V are mma.sync m16n8k16 (bf16 in, f32
// accumulate). Fragment layouts (PTX ISA, "Matrix Fragments for
// mma.m16n8k16"), with gid = lane/4 and tig = lane%4:
//   A (16x16, row): reg i holds row gid + 8*(i&1), cols 2*tig + 8*(i>>1) + {0,1}
//   B (16x8, col):  reg i holds rows 2*tig + 8*i + {0,1}, col gid
//   C (16x8, f32):  c[i] is row gid + 8*(i>>1), col 2*tig + (i&1)
// so S's accumulators of key columns 16j..16j+15 (n-tiles 2j, 2j+1) are,
// packed to bf16 pairs, exactly the A fragment of P for k-step j.

namespace {

__device__ __forceinline__ unsigned pack_bf2(float lo, float hi) {
  return static_cast<unsigned>(f2bf(lo)) | (static_cast<unsigned>(f2bf(hi)) << 16);
}

// D = A·B + D, m16n8k16, bf16 inputs, f32 accumulators.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                         unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Copies `rows` rows of HD bf16 elements (row i from src + i*stride
// elements) into shared rows of kTcStride<HD> elements; rows from `rows`
// to kTcKeys (or kTcRows) are zero, so a weight of 0 never meets a NaN
// left in the cache past the keys read. vec: src and every row 16-byte
// aligned (uint4 loads), else 16-bit loads.
template <int HD>
__device__ __forceinline__ void tc_stage(unsigned short* dst, const unsigned short* src, u64 stride,
                                         unsigned rows, unsigned tile_rows, bool vec) {
  constexpr int kStride = HD + kTcPad;
  if (vec) {
    constexpr int kChunks = HD / 8;  // 16-byte chunks a row
    for (unsigned i = threadIdx.x; i < tile_rows * kChunks; i += blockDim.x) {
      const unsigned r = i / kChunks;
      const unsigned c = i % kChunks;
      uint4 v = make_uint4(0u, 0u, 0u, 0u);
      if (r < rows) v = *reinterpret_cast<const uint4*>(src + r * stride + c * 8);
      *reinterpret_cast<uint4*>(dst + r * kStride + c * 8) = v;
    }
  } else {
    for (unsigned i = threadIdx.x; i < tile_rows * HD; i += blockDim.x) {
      const unsigned r = i / HD;
      const unsigned c = i % HD;
      dst[r * kStride + c] = r < rows ? src[r * stride + c] : static_cast<unsigned short>(0);
    }
  }
}

// Two consecutive bf16 of shared memory as one 32-bit fragment register
// (the element at the lower address in the low half).
__device__ __forceinline__ unsigned lds32(const unsigned short* p) {
  return *reinterpret_cast<const unsigned*>(p);
}

__device__ __forceinline__ unsigned lds_pair(const unsigned short* lo, const unsigned short* hi) {
  return static_cast<unsigned>(*lo) | (static_cast<unsigned>(*hi) << 16);
}

template <int HD>
__device__ __forceinline__ void attention_tc(const unsigned* halt, void* out, int odt,
                                             const unsigned short* q, const unsigned short* kc,
                                             const unsigned short* vc, unsigned tokens,
                                             unsigned q_heads, unsigned kv_heads, u64 pos,
                                             float scale, int vec) {
  if (halted(halt)) return;
  constexpr int kStride = HD + kTcPad;
  constexpr int kSteps = HD / 16;         // k-steps of Q·K^T
  constexpr int kKeyTiles = kTcKeys / 8;  // n-tiles of S
  constexpr int kDimTiles = HD / 8;       // n-tiles of O
  static_assert(kTcRows == kTcWarps * 16, "a warp owns 16 query rows");
  static_assert(kTcKeys % 16 == 0 && HD % 16 == 0, "whole mma steps");
  __shared__ __align__(16) unsigned short ks[kTcKeys * kStride];
  __shared__ __align__(16) unsigned short vs[kTcKeys * kStride];
  static_assert(kTcRows <= kTcKeys, "Q is staged in ks");

  const unsigned group = q_heads / kv_heads;
  const unsigned g = blockIdx.y;
  // Causal: later row tiles have more keys; they are launched first.
  const u64 tile = static_cast<u64>(gridDim.x) - 1 - blockIdx.x;
  const u64 nrows = static_cast<u64>(tokens) * group;
  const u64 r0 = tile * kTcRows;
  const unsigned rows = static_cast<unsigned>(min(static_cast<u64>(kTcRows), nrows - r0));
  const unsigned warp = threadIdx.x >> 5;
  const unsigned lane = threadIdx.x & 31;
  const unsigned gid = lane >> 2;
  const unsigned tig = lane & 3;
  const u64 kv_row = static_cast<u64>(kv_heads) * HD;
  const u64 q_row = static_cast<u64>(q_heads) * HD;
  // Row r of the block is token t = (r0+r)/group, head g*group + (r0+r)%group:
  // its q row starts at t*q_row + (g*group + (r0+r)%group)*HD. The rows of a
  // token are consecutive heads, but a tile may start mid-group, so Q is
  // staged row by row.
  for (unsigned i = threadIdx.x; i < kTcRows * (HD / 2); i += blockDim.x) {
    const unsigned r = i / (HD / 2);
    const unsigned c = (i % (HD / 2)) * 2;
    unsigned v = 0u;
    if (r < rows) {
      const u64 gr = r0 + r;
      const u64 src = (gr / group) * q_row + (static_cast<u64>(g) * group + gr % group) * HD + c;
      v = lds_pair(q + src, q + src + 1);  // generic loads: q may be 2-byte aligned only
    }
    *reinterpret_cast<unsigned*>(ks + r * kStride + c) = v;
  }
  __syncthreads();
  unsigned qf[kSteps][4];
  const unsigned wr = warp * 16;  // the warp's first row in the block
#pragma unroll
  for (int s = 0; s < kSteps; ++s) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const unsigned row = wr + gid + 8u * (i & 1);
      const unsigned col = 16u * s + 2u * tig + 8u * (i >> 1);
      qf[s][i] = lds32(ks + row * kStride + col);
    }
  }
  // Each thread holds rows gid and gid+8 of its warp: their last key (the
  // causal limit pos + t; a row past the op's rows sees key 0 only and is
  // never stored).
  u64 last[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const u64 gr = r0 + wr + gid + 8u * h;
    last[h] = gr < nrows ? pos + gr / group : 0;
  }
  const u64 warp_end = min(r0 + wr + 16, nrows);  // one past the warp's last row
  const u64 warp_last_key = pos + (warp_end - 1) / group;
  const bool warp_active = r0 + wr < nrows;
  const u64 keys = pos + (r0 + rows - 1) / group + 1;  // the block's keys: 0..keys-1

  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) o[n][i] = 0.0f;
  }
  float m[2] = {-INFINITY, -INFINITY};            // running max, log2 units
  float l[2] = {0.0f, 0.0f};                      // this thread's share of the row sums
  const float sl2 = scale * 1.4426950408889634f;  // scores in log2 units: e^x = 2^(x log2 e)

  for (u64 j0 = 0; j0 < keys; j0 += kTcKeys) {
    const unsigned cnt = static_cast<unsigned>(min(static_cast<u64>(kTcKeys), keys - j0));
    __syncthreads();  // the previous tile (or Q) is consumed
    const u64 src = j0 * kv_row + static_cast<u64>(g) * HD;
    tc_stage<HD>(ks, kc + src, kv_row, cnt, kTcKeys, vec != 0);
    tc_stage<HD>(vs, vc + src, kv_row, cnt, kTcKeys, vec != 0);
    __syncthreads();
    if (!warp_active || j0 > warp_last_key) continue;

    float s[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) s[n][i] = 0.0f;
      const unsigned short* kr = ks + (n * 8u + gid) * kStride + 2u * tig;
#pragma unroll
      for (int st = 0; st < kSteps; ++st) {
        mma_bf16(s[n], qf[st], lds32(kr + 16 * st), lds32(kr + 16 * st + 8));
      }
    }
    // Scale, mask (keys past the row's limit or the block's), tile max.
    float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int h = i >> 1;
        const u64 j = j0 + n * 8u + 2u * tig + (i & 1u);
        const float v = j <= last[h] && j < keys ? s[n][i] * sl2 : -INFINITY;
        s[n][i] = v;
        mt[h] = fmaxf(mt[h], v);
      }
    }
    float corr[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      // The row's four threads (lanes 4gid..4gid+3) agree on the max.
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xFFFFFFFFu, mt[h], 1));
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xFFFFFFFFu, mt[h], 2));
      const float m_new = fmaxf(m[h], mt[h]);
      // A row with no key yet (m_new = -inf) keeps zeros: subtract 0, not -inf.
      const float base = m_new == -INFINITY ? 0.0f : m_new;
      corr[h] = exp2f(m[h] - base);  // m = -inf: 0
      m[h] = m_new;
      mt[h] = base;
      l[h] *= corr[h];
    }
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) o[n][i] *= corr[i >> 1];
    }
    // P = 2^(s - m) (f32 into the row sums, bf16 into the mma), O += P·V.
#pragma unroll
    for (int kt = 0; kt < kTcKeys / 16; ++kt) {
      unsigned pf[4];
#pragma unroll
      for (int half = 0; half < 2; ++half) {  // n-tiles 2kt and 2kt+1
        float(&sn)[4] = s[2 * kt + half];
        const float p0 = exp2f(sn[0] - mt[0]);
        const float p1 = exp2f(sn[1] - mt[0]);
        const float p2 = exp2f(sn[2] - mt[1]);
        const float p3 = exp2f(sn[3] - mt[1]);
        l[0] += p0 + p1;
        l[1] += p2 + p3;
        pf[2 * half] = pack_bf2(p0, p1);      // row gid, keys 16kt + 8half + 2tig + {0,1}
        pf[2 * half + 1] = pack_bf2(p2, p3);  // row gid + 8
      }
      const unsigned short* vr = vs + (16u * kt + 2u * tig) * kStride + gid;
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        const unsigned short* vn = vr + n * 8;
        const unsigned b0 = lds_pair(vn, vn + kStride);
        const unsigned b1 = lds_pair(vn + 8 * kStride, vn + 9 * kStride);
        mma_bf16(o[n], pf, b0, b1);
      }
    }
  }
  if (!warp_active) return;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xFFFFFFFFu, l[h], 1);
    l[h] += __shfl_xor_sync(0xFFFFFFFFu, l[h], 2);
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const u64 gr = r0 + wr + gid + 8u * h;
    if (gr >= nrows) continue;
    const float inv = 1.0f / l[h];
    const u64 dst = (gr / group) * q_row + (static_cast<u64>(g) * group + gr % group) * HD;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      const u64 d = dst + n * 8u + 2u * tig;
      st(out, odt, d, o[n][2 * h] * inv);
      st(out, odt, d + 1, o[n][2 * h + 1] * inv);
    }
  }
}

}  // namespace

#define HIX_ATTENTION_TC(HD)                                                                     \
  extern "C" __global__ void __launch_bounds__(kTcWarps * 32)                                    \
      k_attention_tc_d##HD(const unsigned* halt, void* out, int odt, const unsigned short* q,    \
                           const unsigned short* kc, const unsigned short* vc, unsigned tokens,  \
                           unsigned q_heads, unsigned kv_heads, u64 pos, float scale, int vec) { \
    attention_tc<HD>(halt, out, odt, q, kc, vc, tokens, q_heads, kv_heads, pos, scale, vec);     \
  }
HIX_ATTENTION_TC(64)
HIX_ATTENTION_TC(128)
#undef HIX_ATTENTION_TC
