// The cuda compute backend (cuda_backend.hpp, spec §6.4-§6.7): VRAM is one
// device allocation in the device's primary context (shared with the CUDA
// runtime, cuBLAS and the crypto engine), ops are our kernels
// (tensor_kernels.cu) or cuBLAS queued on one stream, loops are recorded as
// CUDA graphs.
//
// Aliasing (spec §6.2: every op reads all inputs before writing): an
// element-wise or row op may write over an input with the same offset,
// element size and count; any other overlap of the output with an input
// computes into scratch device memory and copies from there.
//
// Held ops: a matmul the GEMV-group kernel can run (gemv_fusion.hpp), and,
// where their switches are on, a norm that may lead such a group, a ROPE
// that may pair with the next (rope_fusion.hpp) and an activation a MUL may
// join, are held back while later ops may join them; every other entry
// point launches what is held first, so the stream sees the ops in issue
// order.
#include "cuda_backend.hpp"

#include <cublas_v2.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "attention_plan.hpp"
#include "cuda_crypto_engine.hpp"
#include "driver_api.hpp"
#include "gemv_fusion.hpp"
#include "kernel_profile.hpp"
#include "kernel_shapes.hpp"
#include "rope_fusion.hpp"
#include "tensor_fatbin.hpp"

namespace hix::vgpu::cuda {
namespace {

constexpr std::size_t kMaxRecordings = 16;
// cuBLAS's workspace, ours so that captured GEMMs name memory that outlives
// every recording (cuBLAS recommends 32 MiB on Hopper).
constexpr std::uint64_t kBlasWorkspaceBytes = 32ull << 20;
constexpr std::uint32_t kGemvMaxRows = 8;  // rows of a per GEMV launch
constexpr int kGroupStaticSmem = 1024;     // the group kernel's own, bytes (at most)
using shapes::kArgmaxSplitSpan;
using shapes::kAttKeys;
using shapes::kAttWarps;
using shapes::kGemmTile;
using shapes::kGemvGroupWarps;
using shapes::kGemvNtCols;
using shapes::kGemvWarps;
using shapes::kNormThreads;
using shapes::kSampleThreads;
constexpr unsigned kGemvNtThreads = shapes::kGemvNtCols * shapes::kGemvNtSlices;
constexpr unsigned kAttMaxHeadDim = 32 * shapes::kAttMaxDimsPerLane;
constexpr std::uint64_t kMaxGrid = 8192;  // grid-stride kernels
constexpr std::uint64_t kMaxRowGrid = INT_MAX;
// Counters of the merges in the last block: row blocks of a split
// attention (fewer than 8 an SM: key_splits) or rows of a split ARGMAX;
// a launch that needs more merges as before.
constexpr std::uint32_t kMergeCounts = 8192;

using shapes::kDrawsWord;
using shapes::kErrorWord;
using shapes::kHaltIdWord;
using shapes::kHaltWord;
using shapes::kIterWord;
using shapes::kRegWord;
using shapes::kWordCount;

int dt(DType d) {
  return static_cast<int>(d);
}

std::uint64_t bytes_of(const TensorArg& t) {
  return t.count * dtype_size(t.dtype);
}

bool overlaps(const TensorArg& x, const TensorArg& y) {
  return operands_overlap(x, y);
}

// Writing `out` element by element cannot change an element of `in` that is
// still to be read: disjoint, or the very same elements.
bool elementwise_safe(const TensorArg& out, const TensorArg& in) {
  return !overlaps(out, in) ||
         (!out.moving && !in.moving && out.offset == in.offset &&
          dtype_size(out.dtype) == dtype_size(in.dtype) && out.count == in.count);
}

// A moving operand's register (-1: it does not move) and stride, as the
// kernels take them.
int move_reg(const TensorArg& t) {
  return t.moving ? static_cast<int>(t.moving->reg) : -1;
}
std::uint64_t move_stride(const TensorArg& t) {
  return t.moving ? t.moving->stride : 0;
}
int pos_reg(const std::optional<std::uint8_t>& r) {
  return r ? static_cast<int>(*r) : -1;
}

std::uint64_t round_up(std::uint64_t v, std::uint64_t to) {
  return (v + to - 1) / to * to;
}

unsigned grid_for(std::uint64_t count, unsigned block) {
  return static_cast<unsigned>(std::clamp<std::uint64_t>((count + block - 1) / block, 1, kMaxGrid));
}

// A device address as a pointer, the form the runtime-side APIs (cuBLAS, the
// crypto engine) take in CUDA's unified address space; never dereferenced.
void* device_ptr(CUdeviceptr p) {
  const auto address = static_cast<std::uintptr_t>(p);
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address the driver handed out
  return reinterpret_cast<void*>(address);
}

Status check(CUresult r) {
  return r == CUDA_SUCCESS ? Status::ok : Status::internal;
}

Status check_alloc(CUresult r) {
  if (r == CUDA_SUCCESS) return Status::ok;
  return r == CUDA_ERROR_OUT_OF_MEMORY ? Status::no_memory : Status::internal;
}

// Bytes for one op's scratch regions, laid out one after another.
class ScratchPlan {
 public:
  std::uint64_t add(std::uint64_t bytes) {
    const std::uint64_t at = total_;
    total_ += round_up(bytes, 256);
    return at;
  }
  std::uint64_t total() const { return total_; }

 private:
  std::uint64_t total_ = 0;
};

// ATTENTION's key splits: with few blocks (decode) the keys are split so
// that every SM has work (two blocks an SM), each split whole kAttKeys tiles.
// With a moving position the host plans for max_seq keys while the device
// sees pos + 1: the splits are then single tiles where eight blocks an SM
// allow it, so the few that hold keys each read one tile (the splits past
// the position exit at once, and the merge reads only the splits a row
// reaches).
struct KeySplits {
  std::uint64_t count = 1;
  std::uint64_t len = 0;
};

KeySplits key_splits(std::uint64_t blocks, std::uint64_t seen, int sm_count, bool allowed,
                     bool moving) {
  const auto target = (moving ? 8 : 2) * static_cast<std::uint64_t>(sm_count);
  const std::uint64_t min_len = moving ? kAttKeys : 64;
  std::uint64_t count = 1;
  if (allowed && blocks < target && seen > 128) {
    count = std::min((target + blocks - 1) / blocks, (seen + min_len - 1) / min_len);
  }
  const std::uint64_t len = round_up((seen + count - 1) / count, kAttKeys);
  return {.count = (seen + len - 1) / len, .len = len};
}

// A cuda-core ATTENTION launch: a grid of base_blocks x seqs x the key
// splits (blocks_x row blocks a kv head), q at q_src, into out, the splits'
// partials at part_o and part_ml (AttentionScratch's); cache_stride != 0:
// BATCH, one cache a sequence.
struct CoreAttention {
  std::uint64_t base_blocks = 0;
  std::uint64_t blocks_x = 0;
  unsigned seqs = 1;
  KeySplits splits;
  CUdeviceptr q_src = 0, out = 0, part_o = 0, part_ml = 0;
  std::uint64_t cache_stride = 0;
  // k_attention_roped: the held ROPEs, run in the launch with the stores
  // into these cache rows (rope_attention_fusable).
  const RopeHold* ropes = nullptr;
  const TensorArg* k_rows = nullptr;
  const TensorArg* v_rows = nullptr;
};

// ATTENTION's scratch: the operands staged (k, v, q, out), then the key
// splits' partial outputs and their (m, l).
struct AttentionStaging {
  bool k, v, q, out;
};

struct AttentionScratch {
  std::uint64_t k = 0, v = 0, q = 0, out = 0, part_o = 0, part_ml = 0, total = 0;
};

AttentionScratch attention_scratch(const AttentionArgs& a, AttentionStaging stage,
                                   KeySplits splits) {
  ScratchPlan plan;
  AttentionScratch at;
  const std::uint64_t rows = std::uint64_t{a.tokens} * a.q_heads;
  if (stage.k) at.k = plan.add(bytes_of(a.k));
  if (stage.v) at.v = plan.add(bytes_of(a.v));
  if (stage.q) at.q = plan.add(bytes_of(a.q));
  if (stage.out) at.out = plan.add(bytes_of(a.out));
  if (splits.count > 1) {
    at.part_o = plan.add(splits.count * rows * a.head_dim * 4);
    at.part_ml = plan.add(splits.count * rows * 2 * 4);
  }
  at.total = plan.total();
  return at;
}

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct Kernels {
  CUfunction break_if_eq{}, reg{}, iteration_end{}, fill{}, copy{}, copy_bytes{}, zero_bytes{},
      embedding{}, binary{}, unary{}, act_mul{}, layernorm{}, rmsnorm{}, softmax{}, argmax{},
      argmax_split{}, rope{}, rope_store{}, sample{}, matmul_epilogue{}, gemm_tiled{}, attention{},
      attention_merged{}, attention_roped{}, attention_combine{}, cache_rows{};
  CUfunction attention_tc_d64{}, attention_tc_d128{};  // head_dim 64, 128
  // [rows - 1][weights bf16/f32 x activations bf16/f32: bb, bf, fb, ff]
  std::array<std::array<CUfunction, 4>, kGemvMaxRows> gemv_vec{};
  std::array<CUfunction, kGemvMaxRows> gemv_scalar{}, gemv_nt{};
  CUfunction copy_pair{};
  // [GemvKernel - 1][rows - 1][weights bf16, f32]
  std::array<std::array<std::array<CUfunction, 2>, kGemvMaxRows>, 3> gemv_group{};
};

// The GEMV-group kernel's name suffix and weight rows per warp (C).
struct GroupVariant {
  GemvKernel kernel;
  const char* name;
  unsigned rows_per_warp;
};
constexpr std::array<GroupVariant, 3> kGroupVariants{{
    {GemvKernel::c2u4, "c2u4", 2},
    {GemvKernel::c4u4, "c4u4", 4},
    {GemvKernel::c2u8, "c2u8", 2},
}};

std::size_t group_variant(GemvKernel g) {
  for (std::size_t i = 0; i < kGroupVariants.size(); ++i) {
    if (kGroupVariants[i].kernel == g) return i;
  }
  return 0;
}

// k_attention's dynamic shared memory: a tile's K and V rows and each
// warp's q row; `roped` (k_attention_roped): and the new K and V rows.
unsigned attention_smem(unsigned head_dim, bool roped = false) {
  return (kAttKeys * (head_dim + 1) + kAttKeys * head_dim + kAttWarps * head_dim +
          (roped ? 2 * head_dim : 0)) *
         static_cast<unsigned>(sizeof(float));
}

}  // namespace

struct CudaBackend::Impl {
  // DMA_IN_DECRYPT / DMA_OUT_ENCRYPT in VRAM through the crypto engine.
  class Crypto final : public DeviceCrypto {
   public:
    explicit Crypto(Impl& impl) : impl_(impl) {}
    Status open(VramOffset dst, std::uint64_t bytes, std::span<const std::byte> sealed,
                SealParams params, std::span<const std::uint8_t, kKeyBytes> key) override {
      // Ops queued on the backend's stream may still use dst. A pending
      // embedding error stays for the executor's finish().
      HIX_TRY(impl_.sync());
      return impl_.engine->open_tensor(DeviceBytes(impl_.device_pointer(dst), bytes), sealed,
                                       params, key);
    }
    Status seal(std::span<std::byte> sealed, VramOffset src, std::uint64_t bytes, SealParams params,
                std::span<const std::uint8_t, kKeyBytes> key) override {
      HIX_TRY(impl_.sync());
      return impl_.engine->seal_tensor(sealed, DeviceConstBytes(impl_.device_pointer(src), bytes),
                                       params, key);
    }
    Status wipe() override { return impl_.engine->wipe(); }
    // Spec §7.2.1: the whole run as one engine operation.
    RunOutcome open_run(std::span<const OpenItem> run) override {
      if (const Status s = impl_.sync(); s != Status::ok) return {0, s};
      std::vector<CudaCryptoEngine::RunItem> items;
      items.reserve(run.size());
      for (const OpenItem& t : run) {
        items.push_back(
            {DeviceBytes(impl_.device_pointer(t.dst), t.bytes), t.sealed, t.params, t.key});
      }
      const auto r = impl_.engine->open_run(items);
      return {r.opened, r.status};
    }

   private:
    Impl& impl_;
  };

  DriverApi api;
  CudaBackendOptions options;
  CUdevice device = 0;
  CUcontext ctx = nullptr;
  CUmodule module = nullptr;
  Kernels k;
  // A moving operand reached an op that cannot move it: the recording in
  // progress is not kept (the loop then runs eagerly).
  mutable bool unmovable = false;
  CUstream stream = nullptr;
  CUdeviceptr vram = 0;
  std::uint64_t vram_bytes = 0;
  CUdeviceptr words = 0;
  // kMergeCounts arrival counters of the merges in the last block
  // (CudaBackendOptions::attention_merge, split_argmax): zero between
  // launches, each launch's merging blocks set theirs back.
  CUdeviceptr merge_counts = 0;
  CUdeviceptr scratch = 0;
  std::uint64_t scratch_bytes = 0;
  // Scratch buffers replaced while recordings may still use them.
  std::vector<CUdeviceptr> retired;
  cublasHandle_t blas = nullptr;
  CUdeviceptr blas_workspace = 0;
  int sm_count = 1;
  GemvLimits limits;
  // Ops not launched yet, one kind at a time: a GEMV group (or the norm
  // that may lead one; gemv_fusion.hpp), a ROPE or ROPE pair
  // (rope_fusion.hpp), or an activation a MUL may join (gemv_fusion.hpp).
  std::variant<std::monostate, GemvGroup, RopeHold, UnaryArgs> held;
  // What the last kernel on the stream may write, where known
  // (gemv_fusion.hpp): every stream operation forgets it, the launches that
  // know their writes set it after.
  LaunchWrites last_writes;
  // With options.profile: every launch's GPU time, by kernel name (+ tag).
  std::unique_ptr<KernelProfile> profile;
  std::vector<std::pair<CUfunction, std::string>> names;
  std::string profile_tag;  // appended to the next launch's label
  // Blocks of a kernel resident per SM at a dynamic shared memory size.
  struct Occupancy {
    CUfunction f;
    unsigned smem;
    int blocks;
  };
  std::vector<Occupancy> occupancy;
  bool recording = false;
  bool error_possible = false;  // an embedding ran since the last finish()
  std::vector<std::pair<std::uint64_t, CUgraphExec>> graphs;  // oldest first
  std::unique_ptr<CudaCryptoEngine> engine;
  std::unique_ptr<Crypto> crypto;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    // Best effort on the way out: errors cannot be reported from here.
    crypto.reset();
    engine.reset();
    if (ctx == nullptr) return;
    static_cast<void>(api.ctx_set_current(ctx));
    if (profile) {
      if (stream != nullptr && api.stream_synchronize(stream) == CUDA_SUCCESS) profile->collect();
      std::fputs(profile->report().c_str(), stderr);
      profile.reset();
    }
    if (recording) abort_capture();
    if (stream != nullptr) static_cast<void>(api.stream_synchronize(stream));
    for (auto& [key, exec] : graphs) static_cast<void>(api.graph_exec_destroy(exec));
    if (blas != nullptr) static_cast<void>(cublasDestroy(blas));
    if (blas_workspace != 0) static_cast<void>(api.mem_free(blas_workspace));
    if (vram != 0) {
      // Tensors may be plaintext: scrubbed before the memory goes back.
      if (stream != nullptr) {
        static_cast<void>(api.memset_d8_async(vram, 0, vram_bytes, stream));
        static_cast<void>(api.stream_synchronize(stream));
      }
      static_cast<void>(api.mem_free(vram));
    }
    for (const CUdeviceptr p : retired) static_cast<void>(api.mem_free(p));
    if (scratch != 0) static_cast<void>(api.mem_free(scratch));
    if (words != 0) static_cast<void>(api.mem_free(words));
    if (merge_counts != 0) static_cast<void>(api.mem_free(merge_counts));
    if (module != nullptr) static_cast<void>(api.module_unload(module));
    if (stream != nullptr) static_cast<void>(api.stream_destroy(stream));
    static_cast<void>(api.primary_ctx_release(device));
  }

  std::byte* device_pointer(VramOffset o) const {
    return static_cast<std::byte*>(device_ptr(vram + o.value));
  }

  CUdeviceptr at(VramOffset o) const { return vram + o.value; }
  CUdeviceptr at(const TensorArg& t) const {
    if (t.moving) unmovable = true;
    return vram + t.offset.value;
  }
  // A moving operand's register-free place, for the kernels that move it.
  CUdeviceptr base(const TensorArg& t) const { return vram + t.offset.value; }

  Status enter() const { return check(api.ctx_set_current(ctx)); }

  // Whether ops may be held to share a launch: the group kernel with groups
  // on (GEMV groups, ROPE and cache-store pairs) and, for the fusion that
  // `fusion` switches, that switch too.
  bool grouping(bool fusion = true) const {
    return options.gemv != GemvKernel::legacy && options.group_gemvs && fusion;
  }

  // What is held, launched as it is.
  Status release() {
    const auto h = std::exchange(held, std::monostate{});
    if (const auto* g = std::get_if<GemvGroup>(&h)) {
      return g->count == 0 ? launch_norm(g->norm->args, g->norm->layer) : launch_group(*g);
    }
    if (const auto* r = std::get_if<RopeHold>(&h)) {
      for (std::size_t i = 0; i < r->count; ++i) HIX_TRY(launch_rope(r->r[i]));
    }
    if (const auto* u = std::get_if<UnaryArgs>(&h)) return launch_unary(*u);
    return Status::ok;
  }

  // The held op of kind T, or nullptr.
  template <class T>
  T* held_as() {
    return std::get_if<T>(&held);
  }

  // Every entry point but the ops a group takes starts here. What it then
  // puts on the stream (a copy, a fill, a recording's edge, a sync) may not
  // be a launch that records its writes: the last ones are forgotten.
  Status ready() {
    HIX_TRY(enter());
    HIX_TRY(release());
    last_writes.forget();
    return Status::ok;
  }

  // Device word `w` (kernel_shapes.hpp).
  CUdeviceptr word(unsigned w) const { return words + std::uint64_t{w} * 4; }

  // The recording kept under `key`, or nullptr.
  CUgraphExec graph(std::uint64_t key) const {
    const auto it =
        std::find_if(graphs.begin(), graphs.end(), [key](const auto& e) { return e.first == key; });
    return it == graphs.end() ? nullptr : it->second;
  }

  Status sync() {
    if (recording) return Status::internal;
    HIX_TRY(ready());
    HIX_TRY(check(api.stream_synchronize(stream)));
    if (profile) profile->collect();
    return Status::ok;
  }

  // The label of a launch of `f` in the profile: its name and profile_tag.
  std::string label(CUfunction f) const {
    const auto it =
        std::find_if(names.begin(), names.end(), [f](const auto& e) { return e.first == f; });
    return (it == names.end() ? std::string("?") : it->second) + profile_tag;
  }

  void abort_capture() {
    CUgraph g = nullptr;
    if (api.stream_end_capture(stream, &g) == CUDA_SUCCESS && g != nullptr) {
      static_cast<void>(api.graph_destroy(g));
    }
    recording = false;
  }

  // Every kernel takes the halt word first.
  // With options.pdl, launched with programmatic stream serialization
  // (CudaBackendOptions::pdl).
  template <class... Args>
  Status launch_now(CUfunction f, Dim3 grid, unsigned block, unsigned smem, Args... args) {
    last_writes.forget();
    CUdeviceptr halt = words;
    std::array<void*, sizeof...(Args) + 1> params{&halt, static_cast<void*>(&args)...};
    if (options.pdl && api.launch_kernel_ex != nullptr) {
      CUlaunchAttribute early{};
      early.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
      early.value.programmaticStreamSerializationAllowed = 1;
      CUlaunchConfig config{};
      config.gridDimX = grid.x;
      config.gridDimY = grid.y;
      config.gridDimZ = grid.z;
      config.blockDimX = block;
      config.blockDimY = 1;
      config.blockDimZ = 1;
      config.sharedMemBytes = smem;
      config.hStream = stream;
      config.attrs = &early;
      config.numAttrs = 1;
      return check(api.launch_kernel_ex(&config, f, params.data(), nullptr));
    }
    return check(api.launch_kernel(f, grid.x, grid.y, grid.z, block, 1, 1, smem, stream,
                                   params.data(), nullptr));
  }

  template <class... Args>
  Status launch(CUfunction f, Dim3 grid, unsigned block, unsigned smem, Args... args) {
    if (!profile) return launch_now(f, grid, block, smem, args...);
    const auto s = static_cast<cudaStream_t>(stream);
    profile->begin(s);
    const Status launched = launch_now(f, grid, block, smem, args...);
    profile->end(s, label(f));
    return launched;
  }

  Status copy_bytes(CUdeviceptr dst, CUdeviceptr src, std::uint64_t bytes) {
    return launch(k.copy_bytes, {grid_for(bytes / 16 + 1, 256)}, 256, 0, dst, src, bytes);
  }

  Status copy_elements(CUdeviceptr dst, DType ddt, CUdeviceptr src, DType sdt,
                       std::uint64_t count) {
    return launch(k.copy, {grid_for(count, 256)}, 256, 0, dst, dt(ddt), src, dt(sdt), count, -1,
                  std::uint64_t{0}, -1, std::uint64_t{0});
  }

  // At least `bytes` of scratch. A recording may hold the old buffer, so it
  // is kept until the recordings are dropped.
  Status reserve_scratch(std::uint64_t bytes) {
    if (scratch_bytes >= bytes) return Status::ok;
    const std::uint64_t want = std::max(bytes, scratch_bytes * 2);
    CUdeviceptr p = 0;
    HIX_TRY(check_alloc(api.mem_alloc(&p, want)));
    if (scratch != 0) {
      if (recording || !graphs.empty()) {
        retired.push_back(scratch);
      } else {
        HIX_TRY(check(api.stream_synchronize(stream)));
        static_cast<void>(api.mem_free(scratch));
      }
    }
    scratch = p;
    scratch_bytes = want;
    return Status::ok;
  }

  // The output of an op whose output overlaps an input: computed in scratch
  // at `scratch_at` and copied to `out` afterwards.
  Status finish_staged(const TensorArg& out, bool staged, std::uint64_t scratch_at) {
    if (!staged) return Status::ok;
    return copy_bytes(at(out), scratch + scratch_at, bytes_of(out));
  }

  Status load_module();
  // Where our matmul kernels write (`out`) and where they read out's old
  // values (`cin`): apart only when the output aliases an input.
  struct MatmulDst {
    CUdeviceptr out = 0;
    CUdeviceptr cin = 0;
  };
  Status gemv(const MatmulArgs& a, MatmulDst dst);
  Status gemm_tiled(const MatmulArgs& a, MatmulDst dst);
  Status gemm_cublas(const MatmulArgs& a, bool alias);
  Status launch_group(const GemvGroup& g);
  Status norm(const NormArgs& a, bool layer);
  Status launch_rope(const RopeArgs& a);
  Status launch_unary(const UnaryArgs& a);
  Status launch_norm(const NormArgs& a, bool layer);
  // The tensor-core attention (attention_plan.hpp) over caches already
  // written, q at `q_src`, into `out`.
  Status attention_tc(const AttentionArgs& a, const TcAttentionPlan& plan, CUdeviceptr out,
                      CUdeviceptr q_src);
  // k_attention over caches already written (CoreAttention), then with
  // more than one key split k_attention_combine over the partials.
  Status attention_cores(const AttentionArgs& a, const CoreAttention& c);
  Result<int> blocks_per_sm(CUfunction f, unsigned smem);
};

Status CudaBackend::Impl::load_module() {
  HIX_TRY(check(api.module_load_data(&module, hix_tensor_fatbin_begin)));
  const auto get = [this](CUfunction& f, const std::string& name) {
    HIX_TRY(check(api.module_get_function(&f, module, name.c_str())));
    names.emplace_back(f, name);
    return Status::ok;
  };
  HIX_TRY(get(k.break_if_eq, "k_break_if_eq"));
  HIX_TRY(get(k.reg, "k_reg"));
  HIX_TRY(get(k.iteration_end, "k_iteration_end"));
  HIX_TRY(get(k.fill, "k_fill"));
  HIX_TRY(get(k.copy, "k_copy"));
  HIX_TRY(get(k.copy_bytes, "k_copy_bytes"));
  HIX_TRY(get(k.zero_bytes, "k_zero_bytes"));
  HIX_TRY(get(k.embedding, "k_embedding"));
  HIX_TRY(get(k.binary, "k_binary"));
  HIX_TRY(get(k.unary, "k_unary"));
  HIX_TRY(get(k.act_mul, "k_act_mul"));
  HIX_TRY(get(k.layernorm, "k_layernorm"));
  HIX_TRY(get(k.rmsnorm, "k_rmsnorm"));
  HIX_TRY(get(k.softmax, "k_softmax"));
  HIX_TRY(get(k.argmax, "k_argmax"));
  HIX_TRY(get(k.argmax_split, "k_argmax_split"));
  HIX_TRY(get(k.rope, "k_rope"));
  HIX_TRY(get(k.rope_store, "k_rope_store"));
  HIX_TRY(get(k.sample, "k_sample"));
  HIX_TRY(get(k.matmul_epilogue, "k_matmul_epilogue"));
  HIX_TRY(get(k.gemm_tiled, "k_gemm_tiled"));
  HIX_TRY(get(k.attention, "k_attention"));
  HIX_TRY(get(k.attention_merged, "k_attention_merged"));
  HIX_TRY(get(k.attention_roped, "k_attention_roped"));
  HIX_TRY(get(k.attention_combine, "k_attention_combine"));
  HIX_TRY(get(k.attention_tc_d64, "k_attention_tc_d64"));
  HIX_TRY(get(k.attention_tc_d128, "k_attention_tc_d128"));
  HIX_TRY(get(k.cache_rows, "k_cache_rows"));
  HIX_TRY(get(k.copy_pair, "k_copy_pair"));
  static constexpr std::array<const char*, 4> kVariants = {"bb", "bf", "fb", "ff"};
  for (std::uint32_t m = 1; m <= kGemvMaxRows; ++m) {
    const std::string rows = std::to_string(m);
    for (std::size_t v = 0; v < kVariants.size(); ++v) {
      HIX_TRY(get(k.gemv_vec[m - 1][v], "k_gemv_tb_m" + rows + "_" + kVariants[v]));
    }
    HIX_TRY(get(k.gemv_scalar[m - 1], "k_gemv_tbs_m" + rows));
    HIX_TRY(get(k.gemv_nt[m - 1], "k_gemv_nt_m" + rows));
    for (std::size_t v = 0; v < kGroupVariants.size(); ++v) {
      for (std::size_t w = 0; w < 2; ++w) {
        CUfunction& f = k.gemv_group[v][m - 1][w];
        HIX_TRY(
            get(f, "k_gemv_group_m" + rows + (w == 0 ? "_b_" : "_f_") + kGroupVariants[v].name));
        // The staged activation rows may take all a block can have.
        HIX_TRY(check(api.func_set_attribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                             static_cast<int>(limits.max_stage_bytes))));
      }
    }
  }
  for (const CUfunction f : std::array{k.attention, k.attention_merged}) {
    HIX_TRY(check(api.func_set_attribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                         static_cast<int>(attention_smem(kAttMaxHeadDim)))));
  }
  return check(api.func_set_attribute(k.attention_roped,
                                      CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                      static_cast<int>(attention_smem(kAttMaxHeadDim, true))));
}

Result<std::unique_ptr<CudaBackend>> CudaBackend::create(std::uint64_t vram_bytes,
                                                         const CudaBackendOptions& options) {
  if (vram_bytes == 0) return Status::invalid_arg;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return Status::unavailable;
  }
  if (options.device < 0 || options.device >= count) return Status::unavailable;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.profile) impl->profile = std::make_unique<KernelProfile>();
  if (!impl->api.load()) return Status::unavailable;
  DriverApi& api = impl->api;
  HIX_TRY(check(api.device_get(&impl->device, options.device)));
  CUcontext ctx = nullptr;
  HIX_TRY(check(api.primary_ctx_retain(&ctx, impl->device)));
  impl->ctx = ctx;
  HIX_TRY(impl->enter());
  // The runtime (cuBLAS, the crypto engine) then works in this same context.
  if (cudaSetDevice(options.device) != cudaSuccess) return Status::internal;
  HIX_TRY(check(api.device_get_attribute(&impl->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                                         impl->device)));
  int smem_optin = 0;
  HIX_TRY(check(api.device_get_attribute(
      &smem_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, impl->device)));
  // The group kernel's static shared memory (a leading norm's sums) comes
  // out of the same per-block limit as the staged rows.
  impl->limits = GemvLimits{
      .max_rows = options.cublas_min_rows,
      .max_stage_bytes = static_cast<std::uint64_t>(std::max(smem_optin - kGroupStaticSmem, 0))};
  HIX_TRY(impl->load_module());
  HIX_TRY(check(api.stream_create(&impl->stream, CU_STREAM_NON_BLOCKING)));
  HIX_TRY(check_alloc(api.mem_alloc(&impl->vram, vram_bytes)));
  impl->vram_bytes = vram_bytes;
  HIX_TRY(check_alloc(api.mem_alloc(&impl->words, std::uint64_t{kWordCount} * 4)));
  HIX_TRY(check(api.memset_d8_async(impl->vram, 0, vram_bytes, impl->stream)));
  HIX_TRY(check(api.memset_d32_async(impl->words, 0, kWordCount, impl->stream)));
  HIX_TRY(check_alloc(api.mem_alloc(&impl->merge_counts, std::uint64_t{kMergeCounts} * 4)));
  HIX_TRY(check(api.memset_d32_async(impl->merge_counts, 0, kMergeCounts, impl->stream)));
  HIX_TRY(check(api.stream_synchronize(impl->stream)));
  if (options.use_cublas) {
    if (cublasCreate(&impl->blas) != CUBLAS_STATUS_SUCCESS) {
      impl->blas = nullptr;
      return Status::internal;
    }
    // Same stream as the kernels; no TF32, so f32 GEMMs agree with the cpu.
    if (cublasSetStream(impl->blas, impl->stream) != CUBLAS_STATUS_SUCCESS ||
        cublasSetMathMode(impl->blas, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) {
      return Status::internal;
    }
    // After cublasSetStream, which resets the workspace to cuBLAS's pool: a
    // stream capture then allocates nothing inside cuBLAS.
    HIX_TRY(check_alloc(api.mem_alloc(&impl->blas_workspace, kBlasWorkspaceBytes)));
    if (cublasSetWorkspace(impl->blas, device_ptr(impl->blas_workspace), kBlasWorkspaceBytes) !=
        CUBLAS_STATUS_SUCCESS) {
      return Status::internal;
    }
  }
  // Without the engine the device server seals on the CPU (device_crypto()
  // is then nullptr), so its absence is not fatal.
  auto engine = CudaCryptoEngine::create(options.device);
  if (engine.ok()) {
    impl->engine = std::move(engine.value());
    impl->crypto = std::make_unique<Impl::Crypto>(*impl);
  }
  HIX_TRY(impl->enter());
  return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(impl)));
}

CudaBackend::CudaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CudaBackend::~CudaBackend() = default;

// A profiled backend runs every op as it comes (CudaBackendOptions::profile).
bool CudaBackend::can_record() const {
  return !impl_->options.profile;
}

bool CudaBackend::can_record_iterations() const {
  return !impl_->options.profile;
}

std::uint64_t CudaBackend::vram_size() const {
  return impl_->vram_bytes;
}

std::uint64_t CudaBackend::device_base() const {
  return impl_->vram;
}

void* CudaBackend::stream() const {
  return impl_->stream;
}

DeviceCrypto* CudaBackend::device_crypto() {
  return impl_->crypto.get();
}

// ---- Memory ----

Status CudaBackend::write_bytes(VramOffset dst, std::span<const std::byte> src) {
  if (impl_->recording) return Status::internal;  // not an op a recording holds
  if (src.empty()) return Status::ok;
  HIX_TRY(impl_->ready());
  // From pageable memory the call returns once the source is staged; from
  // pinned guest RAM the copy reads it as the stream reaches it.
  return check(impl_->api.memcpy_htod_async(impl_->at(dst), src.data(), src.size(), impl_->stream));
}

Status CudaBackend::read_bytes(VramOffset src, std::span<std::byte> dst) {
  if (impl_->recording) return Status::internal;
  if (dst.empty()) return Status::ok;
  HIX_TRY(impl_->ready());
  HIX_TRY(
      check(impl_->api.memcpy_dtoh_async(dst.data(), impl_->at(src), dst.size(), impl_->stream)));
  return check(impl_->api.stream_synchronize(impl_->stream));
}

Status CudaBackend::zero(VramOffset dst, std::uint64_t bytes) {
  if (bytes == 0) return Status::ok;
  HIX_TRY(impl_->ready());
  if (impl_->recording) {  // no memset calls in a capture
    return impl_->launch(impl_->k.zero_bytes, {grid_for(bytes / 16 + 1, 256)}, 256, 0,
                         impl_->at(dst), bytes);
  }
  return check(impl_->api.memset_d8_async(impl_->at(dst), 0, bytes, impl_->stream));
}

Status CudaBackend::finish() {
  Impl& d = *impl_;
  if (d.recording) return Status::ok;  // nothing recorded has run
  HIX_TRY(d.sync());
  if (!d.error_possible) return Status::ok;
  d.error_possible = false;
  std::uint32_t err = 0;
  HIX_TRY(check(d.api.memcpy_dtoh_async(&err, d.word(kErrorWord), 4, d.stream)));
  HIX_TRY(check(d.api.stream_synchronize(d.stream)));
  if (err == 0) return Status::ok;
  HIX_TRY(check(d.api.memset_d32_async(d.word(kErrorWord), 0, 1, d.stream)));
  HIX_TRY(check(d.api.stream_synchronize(d.stream)));
  return Status::index_out_of_range;
}

Status CudaBackend::pin_host(std::span<std::byte> range) {
  if (range.empty()) return Status::ok;
  HIX_TRY(impl_->enter());
  const CUresult r =
      impl_->api.mem_host_register(range.data(), range.size(), CU_MEMHOSTREGISTER_PORTABLE);
  if (r == CUDA_SUCCESS || r == CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) return Status::ok;
  return Status::internal;
}

void CudaBackend::unpin_host(std::span<std::byte> range) {
  if (range.empty() || impl_->enter() != Status::ok) return;
  static_cast<void>(impl_->api.mem_host_unregister(range.data()));
}

// ---- Element-wise ops ----

Status CudaBackend::fill(const TensorArg& dst, std::uint32_t bits) {
  Impl& d = *impl_;
  HIX_TRY(d.ready());
  return d.launch(d.k.fill, {grid_for(dst.count, 256)}, 256, 0, d.at(dst), dt(dst.dtype), dst.count,
                  bits);
}

Status CudaBackend::copy(const TensorArg& dst, const TensorArg& src) {
  Impl& d = *impl_;
  HIX_TRY(d.ready());
  if (dst.moving || src.moving) {
    // Inside an iteration recording; overlapping ranges would need staging
    // at a place only the device knows.
    if (overlaps(dst, src)) return Status::internal;
    return d.launch(d.k.copy, {grid_for(dst.count, 256)}, 256, 0, d.base(dst), dt(dst.dtype),
                    d.base(src), dt(src.dtype), dst.count, move_reg(dst), move_stride(dst),
                    move_reg(src), move_stride(src));
  }
  if (elementwise_safe(dst, src)) {
    // In place f32/i32 is nothing to do; bf16 in place still quiets NaNs.
    if (dst.offset == src.offset && dst.dtype == src.dtype && dst.dtype != DType::bf16) {
      return Status::ok;
    }
    return d.copy_elements(d.at(dst), dst.dtype, d.at(src), src.dtype, dst.count);
  }
  // Overlapping ranges: the source goes to scratch first.
  HIX_TRY(d.reserve_scratch(bytes_of(src)));
  HIX_TRY(d.copy_bytes(d.scratch, d.at(src), bytes_of(src)));
  return d.copy_elements(d.at(dst), dst.dtype, d.scratch, src.dtype, dst.count);
}

Status CudaBackend::embedding(const EmbeddingArgs& a) {
  Impl& d = *impl_;
  HIX_TRY(d.ready());
  const bool staged = overlaps(a.out, a.table) || overlaps(a.out, a.ids);
  if (staged) HIX_TRY(d.reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = staged ? d.scratch : d.at(a.out);
  const std::uint64_t total = std::uint64_t{a.rows} * a.dim;
  HIX_TRY(d.launch(d.k.embedding, {grid_for(total, 256)}, 256, 0, d.word(kErrorWord), out,
                   dt(a.out.dtype), d.at(a.table), dt(a.table.dtype), d.base(a.ids), a.rows, a.dim,
                   a.vocab, move_reg(a.ids), move_stride(a.ids)));
  d.last_writes.set(std::array{a.out});  // or scratch, copied to a.out below
  d.error_possible = true;
  return d.finish_staged(a.out, staged, 0);
}

Status CudaBackend::binary(const BinaryArgs& a) {
  Impl& d = *impl_;
  HIX_TRY(d.enter());
  if (auto* g = d.held_as<GemvGroup>(); g && join(*g, a)) {
    return g->complete() ? d.release() : Status::ok;
  }
  if (const auto* held_act = d.held_as<UnaryArgs>(); held_act && act_mul_joinable(*held_act, a)) {
    const UnaryArgs act = *held_act;
    d.held = std::monostate{};
    const int op = act.op == UnaryOp::gelu ? 0 : 1;
    return d.launch(d.k.act_mul, {grid_for(a.a.count, 256)}, 256, 0, op, d.at(a.out),
                    dt(a.out.dtype), d.at(a.b), dt(a.b.dtype), a.a.count);
  }
  HIX_TRY(d.release());
  const bool staged = !elementwise_safe(a.out, a.a) || !elementwise_safe(a.out, a.b);
  if (staged) HIX_TRY(d.reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = staged ? d.scratch : d.at(a.out);
  const int op = a.op == BinaryOp::add ? 0 : 1;
  HIX_TRY(d.launch(d.k.binary, {grid_for(a.a.count, 256)}, 256, 0, op, out, dt(a.out.dtype),
                   d.at(a.a), dt(a.a.dtype), d.at(a.b), dt(a.b.dtype), a.a.count, a.b.count));
  return d.finish_staged(a.out, staged, 0);
}

Status CudaBackend::unary(const UnaryArgs& a) {
  Impl& d = *impl_;
  HIX_TRY(d.enter());
  if (auto* g = d.held_as<GemvGroup>(); g && join(*g, a)) {
    return g->complete() ? d.release() : Status::ok;
  }
  HIX_TRY(d.release());
  if (d.grouping(d.options.group_act_mul) && act_holdable(a)) {
    d.held = a;
    return Status::ok;
  }
  return d.launch_unary(a);
}

Status CudaBackend::Impl::launch_unary(const UnaryArgs& a) {
  const bool staged = !elementwise_safe(a.out, a.x);
  if (staged) HIX_TRY(reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = staged ? scratch : at(a.out);
  const int op = a.op == UnaryOp::gelu ? 0 : 1;
  HIX_TRY(launch(k.unary, {grid_for(a.x.count, 256)}, 256, 0, op, out, dt(a.out.dtype), at(a.x),
                 dt(a.x.dtype), a.x.count));
  return finish_staged(a.out, staged, 0);
}

// ---- Row ops: one block per row ----

Status CudaBackend::layernorm(const NormArgs& a) {
  if (!a.beta) return Status::internal;
  return impl_->norm(a, true);
}

Status CudaBackend::rmsnorm(const NormArgs& a) {
  return impl_->norm(a, false);
}

// A norm that may lead a GEMV group is held (gemv_fusion.hpp); else, and
// when no matmul joins it, it runs as its own kernel.
Status CudaBackend::Impl::norm(const NormArgs& a, bool layer) {
  if (a.rows > kMaxRowGrid) return Status::internal;
  HIX_TRY(ready());
  if (grouping(options.group_norms) && norm_groupable(a, layer, limits)) {
    held = GemvGroup::of(a, layer);
    return Status::ok;
  }
  return launch_norm(a, layer);
}

Status CudaBackend::Impl::launch_norm(const NormArgs& a, bool layer) {
  const bool staged = !elementwise_safe(a.out, a.x) || !elementwise_safe(a.out, a.gamma) ||
                      (a.beta && !elementwise_safe(a.out, *a.beta));
  if (staged) HIX_TRY(reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = staged ? scratch : at(a.out);
  if (layer) {
    HIX_TRY(launch(k.layernorm, {a.rows}, kNormThreads, 0, out, dt(a.out.dtype), at(a.x),
                   dt(a.x.dtype), at(a.gamma), dt(a.gamma.dtype), at(*a.beta), dt(a.beta->dtype),
                   a.cols, a.eps));
  } else {
    HIX_TRY(launch(k.rmsnorm, {a.rows}, kNormThreads, 0, out, dt(a.out.dtype), at(a.x),
                   dt(a.x.dtype), at(a.gamma), dt(a.gamma.dtype), a.cols, a.eps));
  }
  return finish_staged(a.out, staged, 0);
}

Status CudaBackend::softmax(const RowsArgs& a) {
  Impl& d = *impl_;
  if (a.rows > kMaxRowGrid) return Status::internal;
  HIX_TRY(d.ready());
  const bool staged = !elementwise_safe(a.out, a.x);
  if (staged) HIX_TRY(d.reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = staged ? d.scratch : d.at(a.out);
  HIX_TRY(d.launch(d.k.softmax, {a.rows}, 256, 0, out, dt(a.out.dtype), d.at(a.x), dt(a.x.dtype),
                   a.cols));
  return d.finish_staged(a.out, staged, 0);
}

Status CudaBackend::argmax(const RowsArgs& a) {
  Impl& d = *impl_;
  if (a.rows > kMaxRowGrid) return Status::internal;
  HIX_TRY(d.ready());
  const bool staged = overlaps(a.out, a.x);
  if (staged && a.out.moving) return Status::internal;  // staged at a place only the device knows
  // Split across blocks where a row has more than one block's columns and
  // every row has a counter (its parts' keys in scratch after the output).
  const std::uint64_t parts = (std::uint64_t{a.cols} + kArgmaxSplitSpan - 1) / kArgmaxSplitSpan;
  // (kMergeCounts rows also fit the grid's y.)
  const bool split = d.options.split_argmax && parts > 1 && a.rows <= kMergeCounts;
  ScratchPlan plan;
  const std::uint64_t out_at = staged ? plan.add(bytes_of(a.out)) : 0;
  const std::uint64_t keys_at = split ? plan.add(a.rows * parts * 8) : 0;
  if (plan.total() > 0) HIX_TRY(d.reserve_scratch(plan.total()));
  const CUdeviceptr out = staged ? d.scratch + out_at : d.base(a.out);
  if (split) {
    HIX_TRY(d.launch(
        d.k.argmax_split, {static_cast<unsigned>(parts), static_cast<unsigned>(a.rows)},
        shapes::kArgmaxSplitThreads, 0, out, d.at(a.x), dt(a.x.dtype), a.cols, kArgmaxSplitSpan,
        d.scratch + keys_at, d.merge_counts, move_reg(a.out), move_stride(a.out)));
  } else {
    HIX_TRY(d.launch(d.k.argmax, {a.rows}, shapes::kArgmaxThreads, 0, out, d.at(a.x), dt(a.x.dtype),
                     a.cols, move_reg(a.out), move_stride(a.out)));
  }
  return d.finish_staged(a.out, staged, out_at);
}

Status CudaBackend::sample(const SampleArgs& a) {
  Impl& d = *impl_;
  if (a.rows > kMaxRowGrid) return Status::internal;
  HIX_TRY(d.ready());
  const bool staged = overlaps(a.out, a.x);
  if (staged && a.out.moving) return Status::internal;
  if (staged) HIX_TRY(d.reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = staged ? d.scratch : d.base(a.out);
  HIX_TRY(d.launch(d.k.sample, {a.rows}, kSampleThreads, 0, out, d.at(a.x), dt(a.x.dtype), a.cols,
                   a.temperature, a.top_k, a.seed, a.first_draw, move_reg(a.out),
                   move_stride(a.out), a.draws_on_device ? 1 : 0));
  return d.finish_staged(a.out, staged, 0);
}

// A ROPE that may start a ROPE pair is held, and a second joins it
// (rope_fusion.hpp); ATTENTION may then take both into its cache stores.
Status CudaBackend::rope(const RopeArgs& a) {
  Impl& d = *impl_;
  HIX_TRY(d.enter());
  if (auto* r = d.held_as<RopeHold>(); r && join(*r, a)) return Status::ok;
  HIX_TRY(d.release());
  if (d.grouping(d.options.group_ropes) && rope_holdable(a)) {
    d.held = RopeHold{{a}, 1};
    return Status::ok;
  }
  return d.launch_rope(a);
}

Status CudaBackend::Impl::launch_rope(const RopeArgs& a) {
  const bool staged = !elementwise_safe(a.out, a.x);
  if (staged) HIX_TRY(reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = staged ? scratch : at(a.out);
  const std::uint64_t total = std::uint64_t{a.tokens} * a.heads * a.head_dim;
  HIX_TRY(launch(k.rope, {grid_for(total, 256)}, 256, 0, out, dt(a.out.dtype), at(a.x),
                 dt(a.x.dtype), a.tokens, a.heads, a.head_dim, a.rot_dim, a.pos, a.theta,
                 a.llama3.factor, a.llama3.low_freq_factor, a.llama3.high_freq_factor,
                 a.llama3.original_max_pos, pos_reg(a.pos_reg), a.batch ? 1 : 0));
  return finish_staged(a.out, staged, 0);
}

// ---- MATMUL ----

// m < cublas_min_rows: the weights are streamed once per 8 rows of a.
Status CudaBackend::Impl::gemv(const MatmulArgs& a, MatmulDst dst) {
  const CUdeviceptr out = dst.out;
  const CUdeviceptr cin = dst.cin;
  const std::uint64_t ea = dtype_size(a.a.dtype);
  const std::uint64_t eo = dtype_size(a.out.dtype);
  const CUdeviceptr bias = a.bias ? at(*a.bias) : 0;
  const int bias_dt = a.bias ? dt(a.bias->dtype) : dt(DType::f32);
  const bool vec = a.trans_b && a.k % 8 == 0 && at(a.a) % 16 == 0 && at(a.b) % 16 == 0;
  const std::size_t variant =
      (a.b.dtype == DType::bf16 ? 0U : 2U) + (a.a.dtype == DType::bf16 ? 0U : 1U);
  for (std::uint32_t i0 = 0; i0 < a.m; i0 += kGemvMaxRows) {
    const std::uint32_t rows = std::min(kGemvMaxRows, a.m - i0);
    const CUdeviceptr arow = at(a.a) + std::uint64_t{i0} * a.k * ea;
    const CUdeviceptr orow = out + std::uint64_t{i0} * a.n * eo;
    const CUdeviceptr crow = cin + std::uint64_t{i0} * a.n * eo;
    CUfunction f = nullptr;
    unsigned grid = 0;
    unsigned block = 0;
    if (a.trans_b) {
      f = vec ? k.gemv_vec[rows - 1][variant] : k.gemv_scalar[rows - 1];
      grid = (a.n + kGemvWarps - 1) / kGemvWarps;
      block = kGemvWarps * 32;
    } else {
      f = k.gemv_nt[rows - 1];
      grid = (a.n + kGemvNtCols - 1) / kGemvNtCols;
      block = kGemvNtThreads;
    }
    HIX_TRY(launch(f, {grid}, block, 0, orow, dt(a.out.dtype), crow, arow, dt(a.a.dtype), at(a.b),
                   dt(a.b.dtype), bias, bias_dt, a.n, a.k, static_cast<int>(a.accumulate)));
  }
  return Status::ok;
}

Result<int> CudaBackend::Impl::blocks_per_sm(CUfunction f, unsigned smem) {
  for (const Occupancy& o : occupancy) {
    if (o.f == f && o.smem == smem) return o.blocks;
  }
  int blocks = 0;
  HIX_TRY(check(api.occupancy(&blocks, f, static_cast<int>(kGemvGroupWarps * 32), smem)));
  blocks = std::max(blocks, 1);
  occupancy.push_back({f, smem, blocks});
  return blocks;
}

// One launch for the group: a grid of as many blocks as the GPU holds at
// once (or fewer when there are fewer units), each warp taking units of C
// weight rows in turn.
Status CudaBackend::Impl::launch_group(const GemvGroup& g) {
  const MatmulArgs& first = g.mm[0];
  shapes::GemvGroupParams p{};
  std::uint64_t rows = 0;
  for (std::size_t i = 0; i < g.count; ++i) {
    const MatmulArgs& a = g.mm[i];
    p.part[i] = shapes::GemvGroupPart{at(a.out),
                                      at(a.b),
                                      a.bias ? at(*a.bias) : 0,
                                      a.n,
                                      dt(a.out.dtype),
                                      a.bias ? dt(a.bias->dtype) : dt(DType::f32),
                                      a.accumulate ? 1 : 0};
    rows += a.n;
  }
  if (g.norm) {
    const NormArgs& n = g.norm->args;
    p.norm = shapes::GemvGroupNorm{at(n.x),
                                   at(n.gamma),
                                   n.beta ? at(*n.beta) : 0,
                                   g.norm->layer ? shapes::kGemvNormLayer : shapes::kGemvNormRms,
                                   dt(n.x.dtype),
                                   dt(n.gamma.dtype),
                                   n.beta ? dt(n.beta->dtype) : dt(DType::f32),
                                   n.eps};
  }
  p.a = at(first.a);
  p.a_dt = dt(first.a.dtype);
  p.parts = static_cast<unsigned>(g.count);
  p.k = first.k;
  p.rows = static_cast<unsigned>(rows);  // join() keeps it within INT_MAX
  p.epilogue = g.epilogue == GemvEpilogue::none  ? shapes::kGemvEpilogueNone
               : g.epilogue == GemvEpilogue::act ? shapes::kGemvEpilogueAct
                                                 : shapes::kGemvEpilogueGated;
  p.act = g.act == UnaryOp::gelu ? 0 : 1;
  p.early_weights = options.pdl && last_writes.weights_apart(g) ? 1 : 0;
  const GroupVariant& v = kGroupVariants[group_variant(options.gemv)];
  const CUfunction f =
      k.gemv_group[group_variant(options.gemv)][first.m - 1][first.b.dtype == DType::bf16 ? 0 : 1];
  std::uint64_t stage_bytes = std::uint64_t{first.m} * first.k * sizeof(float);
  if (g.norm && options.async_norm_stage) {
    const NormArgs& n = g.norm->args;
    const NormStaging ns =
        norm_staging(n, {.x = at(n.x), .gamma = at(n.gamma), .beta = n.beta ? at(*n.beta) : 0});
    p.stage_x = ns.x ? 1 : 0;
    if (ns.params_bytes > 0 && stage_bytes + ns.params_bytes <= limits.max_stage_bytes) {
      p.stage_params = options.pdl && last_writes.norm_params_apart(g) ? 2 : 1;
      stage_bytes += ns.params_bytes;
    }
  }
  const auto smem = static_cast<unsigned>(stage_bytes);
  const std::uint64_t units =
      g.epilogue == GemvEpilogue::gated
          ? (std::uint64_t{first.n} + v.rows_per_warp / 2 - 1) / (v.rows_per_warp / 2)
          : (rows + v.rows_per_warp - 1) / v.rows_per_warp;
  auto resident = blocks_per_sm(f, smem);
  if (!resident) return resident.status();
  const std::uint64_t blocks = std::min<std::uint64_t>(
      (units + kGemvGroupWarps - 1) / kGemvGroupWarps,
      static_cast<std::uint64_t>(sm_count) * static_cast<std::uint64_t>(*resident));
  if (profile) {
    profile_tag = " m=" + std::to_string(first.m) + " n=" + std::to_string(rows) +
                  " k=" + std::to_string(first.k) + (g.norm ? " +norm" : "") +
                  (g.epilogue == GemvEpilogue::none ? "" : " +act");
  }
  const Status launched = launch(f, {static_cast<unsigned>(blocks)}, kGemvGroupWarps * 32, smem, p);
  profile_tag.clear();
  set_group_writes(last_writes, g);
  return launched;
}

Status CudaBackend::Impl::gemm_tiled(const MatmulArgs& a, MatmulDst dst) {
  const CUdeviceptr out = dst.out;
  const CUdeviceptr cin = dst.cin;
  const CUdeviceptr bias = a.bias ? at(*a.bias) : 0;
  const int bias_dt = a.bias ? dt(a.bias->dtype) : dt(DType::f32);
  const Dim3 grid{(a.n + kGemmTile - 1) / kGemmTile,
                  std::min<unsigned>((a.m + kGemmTile - 1) / kGemmTile, 65535U), 1};
  return launch(k.gemm_tiled, grid, 256, 0, out, dt(a.out.dtype), cin, at(a.a), dt(a.a.dtype),
                at(a.b), dt(a.b.dtype), bias, bias_dt, a.m, a.n, a.k, static_cast<int>(a.trans_b),
                static_cast<int>(a.accumulate));
}

// cuBLAS takes one type for both operands: the activations are converted to
// the weights' type (bf16 weights: bf16 activations, as PyTorch computes);
// bf16 activations with bf16 weights go to cuBLAS as they are. The product
// lands in out directly when one rounding gives the reference's result, else
// in f32 scratch and an epilogue adds (out +) and (+ bias). A bf16 out with a
// bf16 bias and no accumulate takes the bias first: the bias rows are
// written into out (exact: same type) and cuBLAS adds the product to them
// in f32 (beta = 1) and rounds once, as the reference does, with no f32
// scratch pass.
Status CudaBackend::Impl::gemm_cublas(const MatmulArgs& a, bool alias) {
  const DType wt = a.b.dtype;
  const bool convert_a = a.a.dtype != wt;
  const bool bias_first = !alias && a.bias && !a.accumulate && wt == DType::bf16 &&
                          a.out.dtype == DType::bf16 && a.bias->dtype == DType::bf16;
  const bool direct = bias_first || (!alias && (a.out.dtype == DType::f32 || wt == DType::bf16) &&
                                     (!a.bias || a.out.dtype == DType::f32));
  ScratchPlan plan;
  const std::uint64_t a_at = convert_a ? plan.add(a.a.count * dtype_size(wt)) : 0;
  const std::uint64_t c_at = direct ? 0 : plan.add(std::uint64_t{a.m} * a.n * 4);
  HIX_TRY(reserve_scratch(plan.total()));
  CUdeviceptr a_ptr = at(a.a);
  if (convert_a) {
    a_ptr = scratch + a_at;
    HIX_TRY(copy_elements(a_ptr, wt, at(a.a), a.a.dtype, a.a.count));
  }
  const std::uint64_t count = std::uint64_t{a.m} * a.n;
  if (bias_first) {
    HIX_TRY(launch(k.matmul_epilogue, {grid_for(count, 256)}, 256, 0, at(a.out), dt(a.out.dtype),
                   at(a.out), CUdeviceptr{0}, at(*a.bias), dt(a.bias->dtype), count, a.n, 0));
  }
  const cudaDataType ab_type = wt == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const float alpha = 1.0F;
  const float beta = direct && (a.accumulate || bias_first) ? 1.0F : 0.0F;
  const CUdeviceptr c_ptr = direct ? at(a.out) : scratch + c_at;
  const cudaDataType c_type = direct && a.out.dtype == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F;
  // Row-major out[m,n] = a[m,k] b is column-major out^T = b^T a^T.
  const auto m = static_cast<int>(a.m);
  const auto n = static_cast<int>(a.n);
  const auto kk = static_cast<int>(a.k);
  const void* b_dev = device_ptr(at(a.b));
  const void* a_dev = device_ptr(a_ptr);
  void* c_dev = device_ptr(c_ptr);
  last_writes.forget();
  if (profile) profile->begin(static_cast<cudaStream_t>(stream));
  const cublasStatus_t gemm =
      cublasGemmEx(blas, a.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, n, m, kk, &alpha,
                   b_dev, ab_type, a.trans_b ? kk : n, a_dev, ab_type, kk, &beta, c_dev, c_type, n,
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (profile) {
    profile->end(static_cast<cudaStream_t>(stream), "cublasGemmEx m=" + std::to_string(m) +
                                                        " n=" + std::to_string(n) +
                                                        " k=" + std::to_string(kk));
  }
  if (gemm != CUBLAS_STATUS_SUCCESS) return Status::internal;
  if (direct && (!a.bias || bias_first)) return Status::ok;
  const CUdeviceptr bias = a.bias ? at(*a.bias) : 0;
  const int bias_dt = a.bias ? dt(a.bias->dtype) : dt(DType::f32);
  const CUdeviceptr s = direct ? 0 : scratch + c_at;
  const int accumulate = direct ? 1 : static_cast<int>(a.accumulate);
  return launch(k.matmul_epilogue, {grid_for(count, 256)}, 256, 0, at(a.out), dt(a.out.dtype),
                at(a.out), s, bias, bias_dt, count, a.n, accumulate);
}

Status CudaBackend::matmul(const MatmulArgs& a) {
  Impl& d = *impl_;
  HIX_TRY(d.enter());
  if (auto* g = d.held_as<GemvGroup>(); g && join(*g, a, d.limits)) {
    return g->complete() ? d.release() : Status::ok;
  }
  HIX_TRY(d.release());
  if (d.options.gemv != GemvKernel::legacy && gemv_groupable(a, d.limits)) {
    if (!d.options.group_gemvs) return d.launch_group(GemvGroup::of(a));
    d.held = GemvGroup::of(a);
    return Status::ok;
  }
  const bool alias =
      overlaps(a.out, a.a) || overlaps(a.out, a.b) || (a.bias && overlaps(a.out, *a.bias));
  const bool small = a.m < d.options.cublas_min_rows;
  const bool fits_int = a.m <= INT_MAX && a.n <= INT_MAX && a.k <= INT_MAX;
  const bool blas = d.blas != nullptr && (!d.recording || d.options.cublas_in_recordings);
  if (!small && blas && fits_int) return d.gemm_cublas(a, alias);
  // Our kernels read `cin` (out's old values) and write `out` element by
  // element, so with aliasing only the written copy moves to scratch.
  if (alias) HIX_TRY(d.reserve_scratch(bytes_of(a.out)));
  const CUdeviceptr out = alias ? d.scratch : d.at(a.out);
  const Impl::MatmulDst dst{.out = out, .cin = d.at(a.out)};
  HIX_TRY(small ? d.gemv(a, dst) : d.gemm_tiled(a, dst));
  return d.finish_staged(a.out, alias, 0);
}

// ---- ATTENTION ----

Status CudaBackend::attention(const AttentionArgs& a) {
  Impl& d = *impl_;
  if (a.head_dim > kAttMaxHeadDim) return Status::internal;  // beyond the kernel's registers
  if (a.batch) return attention_batch(a);
  HIX_TRY(d.enter());
  // ROPEs of q and k held for this op's cache stores (rope_fusion.hpp).
  std::optional<RopeHold> ropes;
  if (const auto* r = d.held_as<RopeHold>(); r && rope_store_fusable(*r, a)) {
    ropes = *r;
    d.held = std::monostate{};
  }
  HIX_TRY(d.release());
  const std::uint64_t hd = a.head_dim;
  const std::uint64_t kv_row = std::uint64_t{a.kv_heads} * hd;
  const std::uint64_t kv_count = std::uint64_t{a.tokens} * kv_row;
  // With a moving position (an iteration recording) the rows written and
  // read are known on the device only: the host plans for any position.
  const bool moving = a.pos_reg.has_value();
  const std::uint64_t seen = moving ? a.max_seq : a.pos + a.tokens;
  const auto rows_at = [&](const TensorArg& cache) {
    const std::uint64_t row_bytes = kv_row * dtype_size(cache.dtype);
    std::optional<MovingIndex> move;
    if (moving) move = MovingIndex{*a.pos_reg, row_bytes, cache.offset, a.max_seq * row_bytes};
    return TensorArg{VramOffset{cache.offset.value + a.pos * row_bytes}, cache.dtype, kv_count,
                     move};
  };
  const TensorArg kw = rows_at(a.k_cache);
  const TensorArg vw = rows_at(a.v_cache);
  const TensorArg kr{a.k_cache.offset, a.k_cache.dtype, seen * kv_row};  // read by the kernel
  const TensorArg vr{a.v_cache.offset, a.v_cache.dtype, seen * kv_row};
  const bool k_in_place = !moving && a.k.offset == kw.offset && a.k.dtype == kw.dtype;
  const bool v_in_place = !moving && a.v.offset == vw.offset && a.v.dtype == vw.dtype;
  // The reference loads q, k and v, stores the cache rows, then reads the
  // caches: an input the cache stores would change is staged first.
  const bool stage_k = !k_in_place && overlaps(a.k, kw);
  const bool stage_v = !v_in_place && (overlaps(a.v, kw) || overlaps(a.v, vw));
  const bool stage_q = overlaps(a.q, kw) || overlaps(a.q, vw);
  const bool stage_out = overlaps(a.out, a.q) || overlaps(a.out, kr) || overlaps(a.out, vr);
  // Both stores in one launch (with the GEMV groups' fewer launches) where
  // that cannot change what either does: the caches' rows apart, and the K
  // store's source apart from the V rows (one by one, it is read before they
  // are written). The V store's source is apart from the K rows already
  // (else it was staged).
  const bool pair = d.grouping() && !k_in_place && !v_in_place && !overlaps(kw, vw) &&
                    (stage_k || !overlaps(a.k, vw));
  // The held ROPEs join the stores only where nothing is staged (the
  // staging copies would read q and k before the ROPEs ran); else they run
  // first, as they are.
  if (ropes && (!pair || stage_k || stage_v || stage_q)) {
    for (std::size_t i = 0; i < ropes->count; ++i) HIX_TRY(d.launch_rope(ropes->r[i]));
    ropes.reset();
  }

  std::optional<TcAttentionPlan> tc;
  if (d.options.tc_attention && attention_kernel(a) == AttentionKernel::tensor_cores) {
    tc = plan_tc_attention(a, d.at(a.k_cache), d.at(a.v_cache));
  }
  const std::uint32_t group = a.q_heads / a.kv_heads;
  const std::uint64_t blocks_x = (std::uint64_t{a.tokens} * group + kAttWarps - 1) / kAttWarps;
  const std::uint64_t base_blocks = blocks_x * a.kv_heads;
  if (base_blocks > INT_MAX) return Status::internal;
  // The held ROPEs and the stores inside the attention's own launch.
  const bool roped = ropes && d.options.rope_in_attention && !tc && !stage_out &&
                     base_blocks <= kMergeCounts && rope_attention_fusable(*ropes, a, kAttWarps);
  const KeySplits ks = key_splits(base_blocks, seen, d.sm_count, !tc, moving);
  const AttentionScratch sc = attention_scratch(a, {stage_k, stage_v, stage_q, stage_out}, ks);
  HIX_TRY(d.reserve_scratch(sc.total));

  CUdeviceptr k_src = d.at(a.k);
  CUdeviceptr v_src = d.at(a.v);
  CUdeviceptr q_src = d.at(a.q);
  if (stage_k) {
    k_src = d.scratch + sc.k;
    HIX_TRY(d.copy_bytes(k_src, d.at(a.k), bytes_of(a.k)));
  }
  if (stage_v) {
    v_src = d.scratch + sc.v;
    HIX_TRY(d.copy_bytes(v_src, d.at(a.v), bytes_of(a.v)));
  }
  if (stage_q) {
    q_src = d.scratch + sc.q;
    HIX_TRY(d.copy_bytes(q_src, d.at(a.q), bytes_of(a.q)));
  }
  const auto store = [&](const TensorArg& cache_rows, CUdeviceptr src, DType sdt) {
    return d.launch(d.k.copy, {grid_for(kv_count, 256)}, 256, 0, d.base(cache_rows),
                    dt(cache_rows.dtype), src, dt(sdt), kv_count, move_reg(cache_rows),
                    move_stride(cache_rows), -1, std::uint64_t{0});
  };
  if (roped) {
    // Nothing before the attention: its launch ropes and stores.
  } else if (ropes) {
    const RopeArgs& rq = ropes->r[0];
    const RopeArgs& rk = ropes->r[1];
    shapes::RopeStoreParams p{};
    p.q = d.at(a.q);
    p.k = d.at(a.k);
    p.v = v_src;
    p.k_rows = d.base(kw);
    p.v_rows = d.base(vw);
    p.pos = rq.pos;
    p.k_stride = move_stride(kw);
    p.v_stride = move_stride(vw);
    p.q_dt = dt(a.q.dtype);
    p.k_dt = dt(a.k.dtype);
    p.v_dt = dt(a.v.dtype);
    p.kc_dt = dt(kw.dtype);
    p.vc_dt = dt(vw.dtype);
    p.tokens = rq.tokens;
    p.q_heads = rq.heads;
    p.kv_heads = rk.heads;
    p.head_dim = rq.head_dim;
    p.rot_dim = rq.rot_dim;
    p.theta = rq.theta;
    p.factor = rq.llama3.factor;
    p.low_freq_factor = rq.llama3.low_freq_factor;
    p.high_freq_factor = rq.llama3.high_freq_factor;
    p.original_max_pos = rq.llama3.original_max_pos;
    p.pos_reg = pos_reg(rq.pos_reg);
    p.rows_reg = move_reg(kw);
    HIX_TRY(d.launch(d.k.rope_store, {grid_for(a.q.count + 2 * kv_count, 256)}, 256, 0, p));
  } else if (pair) {
    HIX_TRY(d.launch(d.k.copy_pair, {grid_for(2 * kv_count, 256)}, 256, 0, d.base(kw), dt(kw.dtype),
                     k_src, dt(a.k.dtype), d.base(vw), dt(vw.dtype), v_src, dt(a.v.dtype), kv_count,
                     move_reg(kw), move_stride(kw), move_stride(vw)));
  } else {
    if (!k_in_place) HIX_TRY(store(kw, k_src, a.k.dtype));
    if (!v_in_place) HIX_TRY(store(vw, v_src, a.v.dtype));
  }

  const CUdeviceptr out = stage_out ? d.scratch + sc.out : d.at(a.out);
  if (tc) {
    HIX_TRY(d.attention_tc(a, *tc, out, q_src));
    return stage_out ? d.copy_bytes(d.at(a.out), out, bytes_of(a.out)) : Status::ok;
  }
  HIX_TRY(d.attention_cores(a, {.base_blocks = base_blocks,
                                .blocks_x = blocks_x,
                                .splits = ks,
                                .q_src = q_src,
                                .out = out,
                                .part_o = d.scratch + sc.part_o,
                                .part_ml = d.scratch + sc.part_ml,
                                .ropes = roped ? &*ropes : nullptr,
                                .k_rows = &kw,
                                .v_rows = &vw}));
  if (!stage_out) return Status::ok;
  return d.copy_bytes(d.at(a.out), out, bytes_of(a.out));
}

// Spec §6.4.1: `tokens` sequences at one position, a cache each. The K and
// V rows go to their caches in two launches (K first, as the reference
// stores them); an input that either store could change is staged first,
// judged against each whole B-cache operand (the rows written are known on
// the device only when the position moves). Then one attention launch whose
// grid's y is the sequence.
Status CudaBackend::attention_batch(const AttentionArgs& a) {
  Impl& d = *impl_;
  if (a.tokens > 65535) return Status::internal;  // grid y
  HIX_TRY(d.ready());
  const std::uint64_t hd = a.head_dim;
  const std::uint64_t kv_row = std::uint64_t{a.kv_heads} * hd;
  const std::uint64_t cache_stride = std::uint64_t{a.max_seq} * kv_row;
  const bool moving = a.pos_reg.has_value();
  const std::uint64_t seen = moving ? a.max_seq : a.pos + 1;
  const bool stage_k = overlaps(a.k, a.k_cache) || overlaps(a.k, a.v_cache);
  const bool stage_v = overlaps(a.v, a.k_cache) || overlaps(a.v, a.v_cache);
  const bool stage_q = overlaps(a.q, a.k_cache) || overlaps(a.q, a.v_cache);
  const bool stage_out =
      overlaps(a.out, a.q) || overlaps(a.out, a.k_cache) || overlaps(a.out, a.v_cache);

  const std::uint32_t group = a.q_heads / a.kv_heads;
  const std::uint64_t blocks_x = (std::uint64_t{group} + kAttWarps - 1) / kAttWarps;
  const std::uint64_t base_blocks = blocks_x * a.kv_heads;
  if (base_blocks > INT_MAX) return Status::internal;
  const KeySplits ks = key_splits(base_blocks * a.tokens, seen, d.sm_count, true, moving);
  const AttentionScratch sc = attention_scratch(a, {stage_k, stage_v, stage_q, stage_out}, ks);
  HIX_TRY(d.reserve_scratch(sc.total));
  const auto staged = [&](const TensorArg& t, bool stage, std::uint64_t at) -> Result<CUdeviceptr> {
    if (!stage) return d.at(t);
    HIX_TRY(d.copy_bytes(d.scratch + at, d.at(t), bytes_of(t)));
    return d.scratch + at;
  };
  auto k_src = staged(a.k, stage_k, sc.k);
  if (!k_src) return k_src.status();
  auto v_src = staged(a.v, stage_v, sc.v);
  if (!v_src) return v_src.status();
  auto q_src = staged(a.q, stage_q, sc.q);
  if (!q_src) return q_src.status();
  const std::uint64_t kv_count = std::uint64_t{a.tokens} * kv_row;
  for (const auto& [cache, src, sdt] :
       {std::tuple{&a.k_cache, *k_src, a.k.dtype}, std::tuple{&a.v_cache, *v_src, a.v.dtype}}) {
    HIX_TRY(d.launch(d.k.cache_rows, {grid_for(kv_count, 256)}, 256, 0, d.at(*cache),
                     dt(cache->dtype), src, dt(sdt), a.tokens, kv_row, cache_stride, a.pos,
                     pos_reg(a.pos_reg)));
  }
  const CUdeviceptr out = stage_out ? d.scratch + sc.out : d.at(a.out);
  HIX_TRY(d.attention_cores(a, {.base_blocks = base_blocks,
                                .blocks_x = blocks_x,
                                .seqs = a.tokens,
                                .splits = ks,
                                .q_src = *q_src,
                                .out = out,
                                .part_o = d.scratch + sc.part_o,
                                .part_ml = d.scratch + sc.part_ml,
                                .cache_stride = cache_stride}));
  if (!stage_out) return Status::ok;
  return d.copy_bytes(d.at(a.out), out, bytes_of(a.out));
}

Status CudaBackend::Impl::attention_cores(const AttentionArgs& a, const CoreAttention& c) {
  const KeySplits& ks = c.splits;
  const bool split = ks.count > 1;
  const CUdeviceptr part_o = split ? c.part_o : 0;
  const CUdeviceptr part_ml = split ? c.part_ml : 0;
  const Dim3 grid{static_cast<unsigned>(c.base_blocks), c.seqs, static_cast<unsigned>(ks.count)};
  // The last split of each row block to finish merges (one counter each).
  const bool merge = split && options.attention_merge && c.base_blocks * c.seqs <= kMergeCounts;
  if (c.ropes != nullptr) {
    // k_attention_roped (the caller checked rope_attention_fusable and the
    // counters): it merges its splits itself, and writes q, k and both
    // cache rows besides out.
    const RopeArgs& rq = c.ropes->r[0];
    const shapes::RopeAttentionParams rp{at(a.k),
                                         at(a.v),
                                         dt(a.k.dtype),
                                         dt(a.v.dtype),
                                         rq.rot_dim,
                                         rq.theta,
                                         rq.llama3.factor,
                                         rq.llama3.low_freq_factor,
                                         rq.llama3.high_freq_factor,
                                         rq.llama3.original_max_pos};
    HIX_TRY(launch(k.attention_roped, grid, kAttWarps * 32, attention_smem(a.head_dim, true), c.out,
                   dt(a.out.dtype), c.q_src, dt(a.q.dtype), at(a.k_cache), dt(a.k_cache.dtype),
                   at(a.v_cache), dt(a.v_cache.dtype), a.tokens, a.q_heads, a.kv_heads, a.head_dim,
                   a.pos, a.scale, static_cast<unsigned>(c.blocks_x), ks.len, part_o, part_ml,
                   pos_reg(a.pos_reg), c.cache_stride, merge_counts, rp));
    last_writes.set(std::array{a.out, a.q, a.k, *c.k_rows, *c.v_rows});
    return Status::ok;
  }
  const auto attend = [&](CUfunction f, auto... more) {
    return launch(f, grid, kAttWarps * 32, attention_smem(a.head_dim), c.out, dt(a.out.dtype),
                  c.q_src, dt(a.q.dtype), at(a.k_cache), dt(a.k_cache.dtype), at(a.v_cache),
                  dt(a.v_cache.dtype), a.tokens, a.q_heads, a.kv_heads, a.head_dim, a.pos, a.scale,
                  static_cast<unsigned>(c.blocks_x), ks.len, part_o, part_ml, pos_reg(a.pos_reg),
                  c.cache_stride, more...);
  };
  HIX_TRY(merge ? attend(k.attention_merged, merge_counts) : attend(k.attention));
  if (split && !merge) {
    const std::uint64_t rows = std::uint64_t{a.tokens} * a.q_heads;
    HIX_TRY(launch(k.attention_combine, {static_cast<unsigned>((rows + 7) / 8)}, 256, 0, c.out,
                   dt(a.out.dtype), part_o, part_ml, rows, a.head_dim,
                   static_cast<unsigned>(ks.count), ks.len, a.pos, pos_reg(a.pos_reg), a.q_heads,
                   c.cache_stride != 0 ? 1 : 0));
  }
  // Either kernel writes c.out: a.out, or scratch that the caller copies there.
  last_writes.set(std::array{a.out});
  return Status::ok;
}

Status CudaBackend::Impl::attention_tc(const AttentionArgs& a, const TcAttentionPlan& plan,
                                       CUdeviceptr out, CUdeviceptr q_src) {
  const CUfunction f = a.head_dim == 64 ? k.attention_tc_d64 : k.attention_tc_d128;
  return launch(f, {plan.row_tiles, plan.kv_heads, 1}, plan.threads, 0, out, dt(a.out.dtype), q_src,
                at(a.k_cache), at(a.v_cache), a.tokens, a.q_heads, a.kv_heads, a.pos, a.scale,
                plan.vector_loads ? 1 : 0);
}

// ---- Loop recording ----

Status CudaBackend::begin_recording() {
  Impl& d = *impl_;
  if (d.recording) return Status::internal;
  HIX_TRY(d.ready());
  // Relaxed: scratch may grow (cuMemAlloc) while a loop is captured.
  HIX_TRY(check(d.api.stream_begin_capture(d.stream, CU_STREAM_CAPTURE_MODE_RELAXED)));
  d.recording = true;
  d.unmovable = false;
  return Status::ok;
}

Status CudaBackend::record_reg(std::uint8_t reg, std::int32_t value, bool set) {
  Impl& d = *impl_;
  if (!d.recording || reg >= HIX_VGPU_NUM_SCALAR_REGS) return Status::internal;
  HIX_TRY(d.ready());
  return d.launch(d.k.reg, {1}, 1, 0, static_cast<unsigned>(reg), value, set ? 1 : 0);
}

Status CudaBackend::record_iteration_end(std::uint64_t draws) {
  Impl& d = *impl_;
  if (!d.recording) return Status::internal;
  HIX_TRY(d.ready());
  return d.launch(d.k.iteration_end, {1}, 1, 0, draws);
}

Status CudaBackend::record_break_if_eq(const TensorArg& x, std::int32_t value,
                                       std::uint32_t break_id) {
  Impl& d = *impl_;
  if (!d.recording) return Status::internal;
  HIX_TRY(d.ready());
  return d.launch(d.k.break_if_eq, {1}, 1, 0, d.base(x), value, break_id, move_reg(x),
                  move_stride(x));
}

Status CudaBackend::end_recording(std::uint64_t key) {
  Impl& d = *impl_;
  if (!d.recording) return Status::internal;
  HIX_TRY(d.ready());
  CUgraph graph = nullptr;
  const CUresult ended = d.api.stream_end_capture(d.stream, &graph);
  d.recording = false;
  if (std::exchange(d.unmovable, false)) {
    if (graph != nullptr) static_cast<void>(d.api.graph_destroy(graph));
    return Status::internal;
  }
  if (ended != CUDA_SUCCESS || graph == nullptr) {
    if (graph != nullptr) static_cast<void>(d.api.graph_destroy(graph));
    return Status::internal;
  }
  CUgraphExec exec = nullptr;
  const CUresult made = d.api.graph_instantiate(&exec, graph, 0);
  static_cast<void>(d.api.graph_destroy(graph));
  if (made != CUDA_SUCCESS) return Status::internal;
  const auto same = [key](const auto& e) { return e.first == key; };
  if (const auto it = std::find_if(d.graphs.begin(), d.graphs.end(), same); it != d.graphs.end()) {
    static_cast<void>(d.api.graph_exec_destroy(it->second));
    d.graphs.erase(it);
  }
  if (d.graphs.size() >= kMaxRecordings) {
    static_cast<void>(d.api.graph_exec_destroy(d.graphs.front().second));
    d.graphs.erase(d.graphs.begin());
  }
  d.graphs.emplace_back(key, exec);
  return Status::ok;
}

void CudaBackend::abort_recording() {
  Impl& d = *impl_;
  if (!d.recording || d.enter() != Status::ok) return;
  d.held = std::monostate{};  // issued into the capture being dropped
  d.last_writes.forget();
  d.abort_capture();
}

Result<std::optional<std::uint32_t>> CudaBackend::replay(std::uint64_t key) {
  Impl& d = *impl_;
  if (d.recording) return Status::internal;
  const CUgraphExec exec = d.graph(key);
  if (exec == nullptr) return Status::invalid_arg;
  HIX_TRY(d.ready());
  std::array<std::uint32_t, 2> halt{};
  HIX_TRY(check(d.api.memset_d32_async(d.words, 0, 2, d.stream)));
  HIX_TRY(check(d.api.graph_launch(exec, d.stream)));
  d.error_possible = true;  // a recorded embedding reports at finish()
  HIX_TRY(check(d.api.memcpy_dtoh_async(halt.data(), d.word(kHaltWord), sizeof halt, d.stream)));
  // Later ops run unhalted.
  HIX_TRY(check(d.api.memset_d32_async(d.words, 0, 2, d.stream)));
  HIX_TRY(check(d.api.stream_synchronize(d.stream)));
  static_assert(kHaltIdWord == kHaltWord + 1);
  if (halt[0] != 0) return std::optional<std::uint32_t>(halt[1]);
  return std::optional<std::uint32_t>();
}

Result<std::optional<Backend::IterationBreak>> CudaBackend::replay_iterations(
    std::uint64_t key, const IterationStart& start) {
  Impl& d = *impl_;
  if (d.recording) return Status::internal;
  const CUgraphExec exec = d.graph(key);
  if (exec == nullptr) return Status::invalid_arg;
  HIX_TRY(d.ready());
  // The replay starts unhalted, at iteration 0, from the host's registers
  // and sample count; the error word stays as it is. `words` outlives the
  // copies: the stream is synchronised before returning.
  std::array<std::uint32_t, kWordCount> words{};
  for (std::size_t r = 0; r < start.regs.size(); ++r) {
    words[kRegWord + r] = static_cast<std::uint32_t>(start.regs[r]);
  }
  std::memcpy(&words[kDrawsWord], &start.draws, sizeof start.draws);
  HIX_TRY(check(d.api.memset_d32_async(d.word(kHaltWord), 0, 2, d.stream)));
  HIX_TRY(check(d.api.memcpy_htod_async(d.word(kIterWord), &words[kIterWord],
                                        std::uint64_t{kWordCount - kIterWord} * 4, d.stream)));
  for (std::uint32_t i = 0; i < start.count; ++i) {
    HIX_TRY(check(d.api.graph_launch(exec, d.stream)));
  }
  d.error_possible = true;  // a recorded embedding reports at finish()
  HIX_TRY(check(d.api.memcpy_dtoh_async(words.data(), d.words, sizeof words, d.stream)));
  // Later ops run unhalted.
  HIX_TRY(check(d.api.memset_d32_async(d.words, 0, 2, d.stream)));
  HIX_TRY(check(d.api.stream_synchronize(d.stream)));
  if (words[kHaltWord] == 0) return std::optional<IterationBreak>();
  return std::optional<IterationBreak>(IterationBreak{words[kHaltIdWord], words[kIterWord]});
}

void CudaBackend::drop_recordings() {
  Impl& d = *impl_;
  if (d.enter() != Status::ok) return;
  if (!d.recording) static_cast<void>(d.api.stream_synchronize(d.stream));
  for (auto& [key, exec] : d.graphs) static_cast<void>(d.api.graph_exec_destroy(exec));
  d.graphs.clear();
  if (d.recording) return;  // the capture in progress may hold retired scratch
  for (const CUdeviceptr p : d.retired) static_cast<void>(d.api.mem_free(p));
  d.retired.clear();
}

CudaBackendOptions options_from_environment(CudaBackendOptions base) {
  if (const char* g = std::getenv("HIX_CUDA_GEMV"); g != nullptr) {
    const std::string_view v(g);
    if (v == "legacy") base.gemv = GemvKernel::legacy;
    for (const GroupVariant& gv : kGroupVariants) {
      if (v == gv.name) base.gemv = gv.kernel;
    }
  }
  // A switch: "0" or "1" sets it, anything else leaves it.
  const auto flag = [](const char* name, bool& field) {
    const char* e = std::getenv(name);
    if (e == nullptr) return;
    const std::string_view v(e);
    if (v == "0" || v == "1") field = v == "1";
  };
  flag("HIX_CUDA_GROUP_GEMVS", base.group_gemvs);
  flag("HIX_CUDA_GROUP_NORMS", base.group_norms);
  flag("HIX_CUDA_GROUP_ROPES", base.group_ropes);
  flag("HIX_CUDA_GROUP_ACT_MUL", base.group_act_mul);
  flag("HIX_CUDA_TC_ATTENTION", base.tc_attention);
  flag("HIX_CUDA_PDL", base.pdl);
  flag("HIX_CUDA_ATTENTION_MERGE", base.attention_merge);
  flag("HIX_CUDA_SPLIT_ARGMAX", base.split_argmax);
  flag("HIX_CUDA_ASYNC_NORM_STAGE", base.async_norm_stage);
  flag("HIX_CUDA_ROPE_IN_ATTENTION", base.rope_in_attention);
  flag("HIX_CUDA_PROFILE", base.profile);
  flag("HIX_CUDA_CUBLAS_RECORD", base.cublas_in_recordings);
  if (const char* m = std::getenv("HIX_CUDA_CUBLAS_MIN_ROWS"); m != nullptr) {
    char* end = nullptr;
    const unsigned long rows = std::strtoul(m, &end, 10);
    if (end != m && *end == '\0' && rows >= 1 && rows <= 4096) {
      base.cublas_min_rows = static_cast<std::uint32_t>(rows);
    }
  }
  return base;
}

}  // namespace hix::vgpu::cuda
