// The crypto engine on a CUDA GPU (spec §7.2, §7.3).
#include "cuda_crypto_engine.hpp"

#include <cuda_runtime_api.h>
#include <sodium.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "sealed_chunk_kernels.hpp"
#include "sealed_tensor_view.hpp"

namespace hix::vgpu::cuda {
namespace {

Status cuda_status(cudaError_t e) {
  return e == cudaSuccess ? Status::ok : Status::internal;
}

// The kernels' view of one tensor. Holds a copy of the key; wiped on exit.
class TensorArgs {
 public:
  TensorArgs(std::uint64_t bytes, SealParams params, std::span<const std::uint8_t, kKeyBytes> key) {
    describe_sealed_tensor(t_, bytes, params, key);
  }
  ~TensorArgs() { sodium_memzero(&t_, sizeof t_); }
  TensorArgs(const TensorArgs&) = delete;
  TensorArgs& operator=(const TensorArgs&) = delete;
  const SealedTensor& get() const { return t_; }

 private:
  SealedTensor t_{};
};

std::uintptr_t address(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);  // address comparison only
}

bool overlap(const void* a, std::uint64_t an, const void* b, std::uint64_t bn) {
  return address(a) < address(b) + bn && address(b) < address(a) + an;
}

bool aligned16(const void* p) {
  return address(p) % 16 == 0;
}

}  // namespace

struct CudaCryptoEngine::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  // Verification runs here: while `stream` copies the next slice (opening
  // from host memory), or while `stream` decrypts (OpenMode::concurrent);
  // so do OpenMode::one_pass's slices from host memory.
  // Events order the two (forked: what `stream` ran before -> verification;
  // copied -> verified; verified -> verdict read or gated decryption).
  cudaStream_t verify_stream = nullptr;
  cudaEvent_t forked = nullptr;
  cudaEvent_t slice_copied = nullptr;
  cudaEvent_t slices_verified = nullptr;
  std::byte* staging = nullptr;  // device copy of a sealed tensor
  std::uint64_t staging_bytes = 0;
  void* mac_scratch = nullptr;  // the chunks' Poly1305 keys, wiped after each operation
  std::uint64_t mac_scratch_bytes = 0;
  std::uint32_t* verdict = nullptr;       // device: chunks that failed, this operation
  std::uint32_t* verdict_host = nullptr;  // pinned host copy of it
  // open_run's tensors (key material: wiped after each run): written in
  // pinned host memory, copied to the device.
  RunTensor* run_host = nullptr;
  void* run_device = nullptr;
  std::uint64_t run_bytes = 0;  // of each

  ~Impl() {
    // Best effort on the way out: errors cannot be reported from here.
    static_cast<void>(quiesce());
    if (staging != nullptr) {
      static_cast<void>(cudaMemset(staging, 0, staging_bytes));
      static_cast<void>(cudaFree(staging));
    }
    if (mac_scratch != nullptr) {
      static_cast<void>(cudaMemset(mac_scratch, 0, mac_scratch_bytes));
      static_cast<void>(cudaFree(mac_scratch));
    }
    release_run_tensors();
    if (verdict != nullptr) static_cast<void>(cudaFree(verdict));
    if (verdict_host != nullptr) static_cast<void>(cudaFreeHost(verdict_host));
    if (forked != nullptr) static_cast<void>(cudaEventDestroy(forked));
    if (slice_copied != nullptr) static_cast<void>(cudaEventDestroy(slice_copied));
    if (slices_verified != nullptr) static_cast<void>(cudaEventDestroy(slices_verified));
    if (verify_stream != nullptr) static_cast<void>(cudaStreamDestroy(verify_stream));
    if (stream != nullptr) static_cast<void>(cudaStreamDestroy(stream));
  }

  Status enter() const { return cuda_status(cudaSetDevice(device)); }

  // Waits for everything either stream may still run (an operation that
  // stopped on an error can leave verification work behind on verify_stream).
  Status quiesce() const {
    const cudaError_t a = stream != nullptr ? cudaStreamSynchronize(stream) : cudaSuccess;
    const cudaError_t b =
        verify_stream != nullptr ? cudaStreamSynchronize(verify_stream) : cudaSuccess;
    return cuda_status(a != cudaSuccess ? a : b);
  }

  // Grows a device buffer to `bytes`, zeroing what it held.
  Status reserve(void*& buffer, std::uint64_t& size, std::uint64_t bytes) {
    if (size >= bytes) return Status::ok;
    HIX_TRY(quiesce());
    if (buffer != nullptr) {
      HIX_TRY(cuda_status(cudaMemset(buffer, 0, size)));
      HIX_TRY(cuda_status(cudaFree(buffer)));
      buffer = nullptr;
      size = 0;
    }
    if (cudaMalloc(&buffer, bytes) != cudaSuccess) {
      static_cast<void>(cudaGetLastError());  // clear the allocation error
      buffer = nullptr;
      return Status::no_memory;
    }
    size = bytes;
    return Status::ok;
  }

  // Wipes and frees the run tensors' buffers (quiesced first by the caller).
  void release_run_tensors() {
    if (run_host != nullptr) {
      sodium_memzero(run_host, run_bytes);
      static_cast<void>(cudaFreeHost(run_host));
    }
    if (run_device != nullptr) {
      static_cast<void>(cudaMemset(run_device, 0, run_bytes));
      static_cast<void>(cudaFree(run_device));
    }
    run_host = nullptr;
    run_device = nullptr;
    run_bytes = 0;
  }

  Status reserve_run_tensors(std::size_t count) {
    const std::uint64_t bytes = count * sizeof(RunTensor);
    if (run_bytes >= bytes) return Status::ok;
    HIX_TRY(quiesce());
    release_run_tensors();
    void* host = nullptr;
    if (cudaMallocHost(&host, bytes) != cudaSuccess) {
      static_cast<void>(cudaGetLastError());
      return Status::no_memory;
    }
    run_host = static_cast<RunTensor*>(host);
    if (cudaMalloc(&run_device, bytes) != cudaSuccess) {
      static_cast<void>(cudaGetLastError());
      static_cast<void>(cudaFreeHost(run_host));
      run_host = nullptr;
      run_device = nullptr;
      return Status::no_memory;
    }
    run_bytes = bytes;
    return Status::ok;
  }

  Status reserve_staging(std::uint64_t bytes) {
    void* p = staging;
    const Status s = reserve(p, staging_bytes, bytes);
    staging = static_cast<std::byte*>(p);
    return s;
  }

  Status reserve_mac_scratch(std::uint32_t chunks) {
    return reserve(mac_scratch, mac_scratch_bytes, cuda::mac_scratch_bytes(chunks));
  }

  // Enqueues the wipe of the chunks' Poly1305 keys.
  Status wipe_mac_scratch(std::uint32_t chunks) const {
    return cuda_status(cudaMemsetAsync(mac_scratch, 0, cuda::mac_scratch_bytes(chunks), stream));
  }

  // Copies the sealed tensor `sealed` (host memory) into staging slice by
  // slice on `stream`, and verifies each slice on verify_stream once it has
  // landed, counting bad chunks in *verdict (zeroed first). The verification
  // may still run on return: join_verification() waits for it. Uses
  // mac_scratch for the keys of one slice at a time (the slices'
  // verifications run one after the other on verify_stream).
  Status copy_and_verify(const SealedTensor& t, std::span<const std::byte> sealed) const {
    const Status s = enqueue_copy_and_verify(t, sealed);
    // Leaves no verification behind that could still write *verdict.
    if (s != Status::ok) static_cast<void>(quiesce());
    return s;
  }

  Status enqueue_copy_and_verify(const SealedTensor& t, std::span<const std::byte> sealed) const {
    return enqueue_slices(t, sealed, [&](ChunkRange range, const std::byte* staged) {
      return launch_verify_chunks(t, range, staged, mac_scratch, verdict, verify_stream);
    });
  }

  // Zeroes *verdict, then copies the sealed tensor into staging slice by
  // slice on `stream` and, for each slice once it has landed, enqueues
  // launch(range, the slice's staged bytes) -> cudaError_t on verify_stream.
  template <typename Launch>
  Status enqueue_slices(const SealedTensor& t, std::span<const std::byte> sealed,
                        const Launch& launch) const {
    HIX_TRY(cuda_status(cudaMemsetAsync(verdict, 0, sizeof(std::uint32_t), stream)));
    for (std::uint32_t first = 0; first < t.chunks; first += kHostOpenSliceChunks) {
      const ChunkRange range{first, std::min(kHostOpenSliceChunks, t.chunks - first)};
      HIX_TRY(copy_slice(range, t, sealed));
      HIX_TRY(
          cuda_status(launch(range, staging + static_cast<std::uint64_t>(first) * kChunkStride)));
    }
    return Status::ok;
  }

  // OpenMode::gated or concurrent from host memory: copy_and_verify, then
  // decrypt_gated or decrypt_concurrent from staging.
  Status copy_then_open(DeviceBytes dst, const SealedTensor& t, std::span<const std::byte> sealed,
                        OpenMode mode) {
    const std::uint32_t slice_chunks = std::min(kHostOpenSliceChunks, t.chunks);
    HIX_TRY(reserve_mac_scratch(slice_chunks));
    HIX_TRY(copy_and_verify(t, sealed));
    const DeviceConstBytes staged(staging, sealed.size());
    if (mode == OpenMode::concurrent) return decrypt_concurrent(dst, staged, t, slice_chunks);
    Status s = join_verification(slice_chunks);
    if (s == Status::ok) s = decrypt_gated(dst, staged, t);
    // After an error, no verification is left behind that could still write *verdict.
    if (s != Status::ok && s != Status::auth_failed) static_cast<void>(quiesce());
    return s;
  }

  // Enqueues the copy of chunks `range` of the sealed tensor `sealed` (host
  // memory) into their place in staging on `stream`; what verify_stream
  // queues next waits for it.
  Status copy_slice(ChunkRange range, const SealedTensor& t,
                    std::span<const std::byte> sealed) const {
    const std::uint64_t offset = static_cast<std::uint64_t>(range.first) * kChunkStride;
    // Slices are whole chunks; the last one ends where the tensor does.
    const std::uint64_t end = range.first + range.count == t.chunks
                                  ? sealed.size()
                                  : offset + static_cast<std::uint64_t>(range.count) * kChunkStride;
    HIX_TRY(cuda_status(cudaMemcpyAsync(staging + offset, sealed.data() + offset, end - offset,
                                        cudaMemcpyHostToDevice, stream)));
    HIX_TRY(cuda_status(cudaEventRecord(slice_copied, stream)));
    // Waits for this record only: re-recording the event later does not move it.
    return cuda_status(cudaStreamWaitEvent(verify_stream, slice_copied, 0));
  }

  // Enqueues the verification of `sealed` (device memory) on verify_stream
  // after what `stream` has queued so far, counting bad chunks in *verdict
  // (zeroed first). join_verification() waits for it.
  Status fork_verify(const SealedTensor& t, DeviceConstBytes sealed) const {
    HIX_TRY(cuda_status(cudaMemsetAsync(verdict, 0, sizeof(std::uint32_t), stream)));
    HIX_TRY(cuda_status(cudaEventRecord(forked, stream)));
    HIX_TRY(cuda_status(cudaStreamWaitEvent(verify_stream, forked, 0)));
    return cuda_status(launch_verify_chunks(t, sealed.data(), mac_scratch, verdict, verify_stream));
  }

  // `stream` waits for everything verify_stream has queued (what it runs next
  // sees the verdict).
  Status join() const {
    HIX_TRY(cuda_status(cudaEventRecord(slices_verified, verify_stream)));
    return cuda_status(cudaStreamWaitEvent(stream, slices_verified, 0));
  }

  // join(), then wipes the Poly1305 keys of `scratch_chunks` chunks.
  Status join_verification(std::uint32_t scratch_chunks) const {
    HIX_TRY(join());
    return wipe_mac_scratch(scratch_chunks);
  }

  // Copies *verdict back after what `stream` has queued and waits for it:
  // ok when it is 0, else auth_failed.
  Status read_verdict() const {
    HIX_TRY(cuda_status(cudaMemcpyAsync(verdict_host, verdict, sizeof(std::uint32_t),
                                        cudaMemcpyDeviceToHost, stream)));
    HIX_TRY(cuda_status(cudaStreamSynchronize(stream)));
    return *verdict_host == 0 ? Status::ok : Status::auth_failed;
  }

  // Enqueues the decryption of `sealed` (device memory) into `dst`, gated on
  // *verdict on the GPU (with any failed chunk it writes nothing), and waits
  // for it: auth_failed when a chunk failed.
  Status decrypt_gated(DeviceBytes dst, DeviceConstBytes sealed, const SealedTensor& t) const {
    HIX_TRY(cuda_status(launch_decrypt_chunks(t, sealed.data(), dst.data(), verdict, stream)));
    return read_verdict();
  }

  // OpenMode::concurrent, with the verification already queued on
  // verify_stream: decrypts `sealed` into `dst` on `stream` without waiting
  // for the verdict (so ChaCha20 runs beside Poly1305), joins the streams and
  // reads the verdict. Unless it is ok, `dst` is zeroed before this returns.
  //
  // Why writing unauthenticated plaintext into `dst` is safe: the device
  // runs one command buffer at a time, this call is the whole op, and the
  // device stops the buffer at a failing op. The op completes only after the
  // zeroing has finished on the GPU, so no later op, no other context and no
  // DMA can read what a forged tensor decrypted to. The cost is the
  // destination's previous contents (denial of service: out of scope).
  Status decrypt_concurrent(DeviceBytes dst, DeviceConstBytes sealed, const SealedTensor& t,
                            std::uint32_t scratch_chunks) const {
    return zeroed_unless_ok(dst, enqueue_decrypt_and_join(dst, sealed, t, scratch_chunks));
  }

  Status enqueue_decrypt_and_join(DeviceBytes dst, DeviceConstBytes sealed, const SealedTensor& t,
                                  std::uint32_t scratch_chunks) const {
    HIX_TRY(cuda_status(launch_decrypt_chunks(t, sealed.data(), dst.data(), nullptr, stream)));
    HIX_TRY(join_verification(scratch_chunks));
    return read_verdict();
  }

  // The end of an open that wrote `dst` before its verdict (concurrent,
  // one_pass): unless `s` is ok, `dst` is zeroed before this returns `s`
  // (internal if the zeroing fails).
  Status zeroed_unless_ok(DeviceBytes dst, Status s) const {
    if (s == Status::ok) return s;
    if (s != Status::auth_failed) {
      // A CUDA error: let nothing still running write after the zeroing. If
      // the error is sticky the zeroing fails too, and the context (with
      // `dst`) is unusable by anyone.
      static_cast<void>(quiesce());
    }
    const cudaError_t z = cudaMemsetAsync(dst.data(), 0, dst.size(), stream);
    const cudaError_t w = cudaStreamSynchronize(stream);
    if (z != cudaSuccess || w != cudaSuccess) return Status::internal;
    return s;
  }

  // OpenMode::one_pass from device memory: one kernel on `stream` decrypts
  // `sealed` into `dst` and counts bad chunks in *verdict; then the verdict
  // is read and, unless it is ok, `dst` zeroed before this returns (see
  // decrypt_concurrent for why writing first is safe). `lanes`: threads per
  // chunk.
  Status open_one_pass(DeviceBytes dst, DeviceConstBytes sealed, const SealedTensor& t,
                       std::uint32_t lanes) const {
    return zeroed_unless_ok(dst, enqueue_one_pass(dst, sealed, t, lanes));
  }

  Status enqueue_one_pass(DeviceBytes dst, DeviceConstBytes sealed, const SealedTensor& t,
                          std::uint32_t lanes) const {
    HIX_TRY(cuda_status(cudaMemsetAsync(verdict, 0, sizeof(std::uint32_t), stream)));
    HIX_TRY(cuda_status(launch_open_chunks(t, sealed.data(), dst.data(), lanes, verdict, stream)));
    return read_verdict();
  }

  // OpenMode::one_pass from host memory: the sealed tensor `sealed` is copied
  // into staging slice by slice on `stream`, and each slice, once it has
  // landed, is opened into its part of `dst` on verify_stream while the next
  // is copied; then as open_one_pass.
  Status copy_and_open(DeviceBytes dst, const SealedTensor& t, std::span<const std::byte> sealed,
                       std::uint32_t lanes) const {
    return zeroed_unless_ok(dst, enqueue_copy_and_open(dst, t, sealed, lanes));
  }

  Status enqueue_copy_and_open(DeviceBytes dst, const SealedTensor& t,
                               std::span<const std::byte> sealed, std::uint32_t lanes) const {
    HIX_TRY(enqueue_slices(t, sealed, [&](ChunkRange range, const std::byte* staged) {
      return launch_open_chunks(t, range, staged,
                                dst.data() + static_cast<std::uint64_t>(range.first) * kChunkBytes,
                                lanes, verdict, verify_stream);
    }));
    HIX_TRY(join());
    return read_verdict();
  }
};

Result<std::unique_ptr<CudaCryptoEngine>> CudaCryptoEngine::create(int device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) return Status::unavailable;
  if (e != cudaSuccess) return Status::internal;
  if (device < 0 || device >= count) return Status::unavailable;
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  HIX_TRY(impl->enter());
  // A blocking stream: it waits for work the caller put on the legacy default
  // stream (cudaMemcpy, cudaMemset), such as filling a buffer it reads.
  HIX_TRY(cuda_status(cudaStreamCreate(&impl->stream)));
  HIX_TRY(cuda_status(cudaStreamCreate(&impl->verify_stream)));
  HIX_TRY(cuda_status(cudaEventCreateWithFlags(&impl->forked, cudaEventDisableTiming)));
  HIX_TRY(cuda_status(cudaEventCreateWithFlags(&impl->slice_copied, cudaEventDisableTiming)));
  HIX_TRY(cuda_status(cudaEventCreateWithFlags(&impl->slices_verified, cudaEventDisableTiming)));
  void* verdict = nullptr;
  HIX_TRY(cuda_status(cudaMalloc(&verdict, sizeof(std::uint32_t))));
  impl->verdict = static_cast<std::uint32_t*>(verdict);
  void* verdict_host = nullptr;
  HIX_TRY(cuda_status(cudaMallocHost(&verdict_host, sizeof(std::uint32_t))));
  impl->verdict_host = static_cast<std::uint32_t*>(verdict_host);
  return std::unique_ptr<CudaCryptoEngine>(new CudaCryptoEngine(std::move(impl)));
}

CudaCryptoEngine::CudaCryptoEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CudaCryptoEngine::~CudaCryptoEngine() = default;

void* CudaCryptoEngine::stream() const {
  return impl_->stream;
}

Status CudaCryptoEngine::open_tensor(DeviceBytes dst, std::span<const std::byte> sealed,
                                     SealParams params,
                                     std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t total = sealed_size(dst.size());
  if (total == 0 || sealed.size() != total) return Status::invalid_arg;
  HIX_TRY(impl_->enter());
  HIX_TRY(impl_->reserve_staging(total));
  const TensorArgs args(dst.size(), params, key);
  // The device's own copy, verified (or opened) as it lands: everything
  // reads only it.
  Status s = open_mode_ == OpenMode::one_pass
                 ? impl_->copy_and_open(dst, args.get(), sealed, one_pass_lanes_)
                 : impl_->copy_then_open(dst, args.get(), sealed, open_mode_);
  s = counted(s);
  if (s == Status::auth_failed) {
    // Spec §7.2: a failed open wipes the staging copy.
    HIX_TRY(cuda_status(cudaMemsetAsync(impl_->staging, 0, total, impl_->stream)));
    HIX_TRY(cuda_status(cudaStreamSynchronize(impl_->stream)));
  }
  return s;
}

Status CudaCryptoEngine::open_tensor(DeviceBytes dst, DeviceConstBytes sealed, SealParams params,
                                     std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t total = sealed_size(dst.size());
  if (total == 0 || sealed.size() != total || !aligned16(sealed.data()) ||
      overlap(dst.data(), dst.size(), sealed.data(), sealed.size())) {
    return Status::invalid_arg;
  }
  HIX_TRY(impl_->enter());
  return open_device_staged(dst, sealed, params, key);
}

Status CudaCryptoEngine::open_device_staged(DeviceBytes dst, DeviceConstBytes sealed,
                                            SealParams params,
                                            std::span<const std::uint8_t, kKeyBytes> key) {
  const TensorArgs args(dst.size(), params, key);
  if (open_mode_ == OpenMode::one_pass) {
    return counted(impl_->open_one_pass(dst, sealed, args.get(), one_pass_lanes_));
  }
  const std::uint32_t chunks = args.get().chunks;
  HIX_TRY(impl_->reserve_mac_scratch(chunks));
  if (open_mode_ == OpenMode::concurrent) {
    if (const Status s = impl_->fork_verify(args.get(), sealed); s != Status::ok) {
      // Leaves no verification behind that could still write *verdict.
      static_cast<void>(impl_->quiesce());
      return s;
    }
    return counted(impl_->decrypt_concurrent(dst, sealed, args.get(), chunks));
  }
  cudaStream_t s = impl_->stream;
  HIX_TRY(cuda_status(cudaMemsetAsync(impl_->verdict, 0, sizeof(std::uint32_t), s)));
  HIX_TRY(cuda_status(
      launch_verify_chunks(args.get(), sealed.data(), impl_->mac_scratch, impl_->verdict, s)));
  HIX_TRY(impl_->wipe_mac_scratch(chunks));
  return counted(impl_->decrypt_gated(dst, sealed, args.get()));
}

CudaCryptoEngine::RunResult CudaCryptoEngine::open_run(std::span<const RunItem> run) {
  // The run's layout: each tensor's sealed bytes 16-byte aligned in the
  // staging, its chunks numbered through the run.
  std::uint64_t staged = 0;
  std::uint64_t chunks = 0;
  for (const RunItem& t : run) {
    const std::uint64_t total = sealed_size(t.dst.size());
    if (total == 0 || t.sealed.size() != total) return {0, Status::invalid_arg};
    staged = (staged + 15) / 16 * 16 + total;
    chunks += sealed_chunk_count(t.dst.size());
  }
  if (run.empty() || chunks > kMaxRunChunks) return {0, Status::invalid_arg};
  if (const Status s = impl_->enter(); s != Status::ok) return {0, s};
  Status s = impl_->reserve_staging(staged);
  if (s == Status::ok) {
    s = impl_->reserve_mac_scratch(
        static_cast<std::uint32_t>(std::min<std::uint64_t>(kHostOpenSliceChunks, chunks)));
  }
  if (s == Status::ok) s = impl_->reserve_run_tensors(run.size());
  if (s == Status::ok) s = enqueue_run(run, static_cast<std::uint32_t>(chunks));
  // Leaves nothing queued that could still write (or read the keys) after
  // we return.
  if (s != Status::ok) static_cast<void>(impl_->quiesce());
  if (impl_->run_host != nullptr) sodium_memzero(impl_->run_host, impl_->run_bytes);
  if (s != Status::ok) return {0, s};
  const std::uint32_t first_bad = *impl_->verdict_host;
  if (first_bad >= run.size()) return {run.size(), Status::ok};
  // Spec §7.2: a failed open wipes the staging copy.
  const cudaError_t w = cudaMemsetAsync(impl_->staging, 0, staged, impl_->stream);
  const cudaError_t y = cudaStreamSynchronize(impl_->stream);
  if (w != cudaSuccess || y != cudaSuccess) return {0, Status::internal};
  return {first_bad, counted(Status::auth_failed)};
}

Status CudaCryptoEngine::enqueue_run(std::span<const RunItem> run, std::uint32_t chunks) {
  Impl& m = *impl_;
  const auto n = static_cast<std::uint32_t>(run.size());
  std::vector<std::uint64_t> staged(run.size());
  std::uint64_t at = 0;
  std::uint32_t chunk = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    RunTensor& d = m.run_host[i];
    describe_sealed_tensor(d.t, run[i].dst.size(), run[i].params, run[i].key);
    at = (at + 15) / 16 * 16;
    staged[i] = at;
    d.staged = at;
    d.dst = run[i].dst.data();
    d.first_chunk = chunk;
    d.reserved = 0;
    at += run[i].sealed.size();
    chunk += d.t.chunks;
  }
  const auto* tensors = static_cast<const RunTensor*>(m.run_device);
  HIX_TRY(cuda_status(cudaMemcpyAsync(m.run_device, m.run_host, n * sizeof(RunTensor),
                                      cudaMemcpyHostToDevice, m.stream)));
  // The verdict is the lowest failing tensor's index; none: all ones.
  HIX_TRY(cuda_status(cudaMemsetAsync(m.verdict, 0xFF, sizeof(std::uint32_t), m.stream)));
  std::uint32_t copy_next = 0;     // the first tensor not wholly copied
  std::uint32_t decrypted_to = 0;  // run chunks below this are queued for decryption
  for (std::uint32_t first = 0; first < chunks; first += kHostOpenSliceChunks) {
    const std::uint32_t count = std::min(kHostOpenSliceChunks, chunks - first);
    const std::uint32_t end = first + count;
    // The slice's pieces of each tensor it touches (whole chunks; a
    // tensor's last piece ends where its sealed bytes do).
    while (copy_next < n && m.run_host[copy_next].first_chunk < end) {
      const RunTensor& d = m.run_host[copy_next];
      const std::uint32_t lo = std::max(first, d.first_chunk) - d.first_chunk;
      const std::uint32_t hi = std::min(end, d.first_chunk + d.t.chunks) - d.first_chunk;
      const std::span<const std::byte> sealed = run[copy_next].sealed;
      const std::uint64_t from = std::uint64_t{lo} * kChunkStride;
      const std::uint64_t to = hi == d.t.chunks ? sealed.size() : std::uint64_t{hi} * kChunkStride;
      HIX_TRY(
          cuda_status(cudaMemcpyAsync(m.staging + staged[copy_next] + from, sealed.data() + from,
                                      to - from, cudaMemcpyHostToDevice, m.stream)));
      if (hi != d.t.chunks) break;  // it goes on in the next slice
      ++copy_next;
    }
    HIX_TRY(cuda_status(cudaEventRecord(m.slice_copied, m.stream)));
    HIX_TRY(cuda_status(cudaStreamWaitEvent(m.verify_stream, m.slice_copied, 0)));
    HIX_TRY(cuda_status(launch_verify_run(tensors, n, ChunkRange{first, count}, m.staging,
                                          m.mac_scratch, m.verdict, m.verify_stream)));
    // Tensors wholly verified by now (and all before them): decrypted,
    // gated on the verdict so far, which is final for them.
    const std::uint32_t complete = copy_next < n ? m.run_host[copy_next].first_chunk : chunks;
    if (complete > decrypted_to) {
      HIX_TRY(cuda_status(launch_decrypt_run(tensors, n,
                                             ChunkRange{decrypted_to, complete - decrypted_to},
                                             m.staging, m.verdict, m.verify_stream)));
      decrypted_to = complete;
    }
  }
  HIX_TRY(m.join_verification(std::min(kHostOpenSliceChunks, chunks)));
  // The tensors' keys leave device memory with the run.
  HIX_TRY(cuda_status(cudaMemsetAsync(m.run_device, 0, n * sizeof(RunTensor), m.stream)));
  HIX_TRY(cuda_status(cudaMemcpyAsync(m.verdict_host, m.verdict, sizeof(std::uint32_t),
                                      cudaMemcpyDeviceToHost, m.stream)));
  return cuda_status(cudaStreamSynchronize(m.stream));
}

Status CudaCryptoEngine::set_one_pass_lanes(std::uint32_t lanes) {
  if (!one_pass_lanes_supported(lanes)) return Status::invalid_arg;
  one_pass_lanes_ = lanes;
  return Status::ok;
}

Status CudaCryptoEngine::counted(Status s) {
  if (s == Status::auth_failed && auth_failures_ != std::numeric_limits<std::uint32_t>::max()) {
    ++auth_failures_;
  }
  return s;
}

Status CudaCryptoEngine::seal_tensor(std::span<std::byte> sealed, DeviceConstBytes src,
                                     SealParams params,
                                     std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t total = sealed_size(src.size());
  if (total == 0 || sealed.size() != total) return Status::invalid_arg;
  HIX_TRY(impl_->enter());
  HIX_TRY(impl_->reserve_staging(total));
  HIX_TRY(seal_into(DeviceBytes(impl_->staging, total), src, params, key));
  HIX_TRY(cuda_status(cudaMemcpyAsync(sealed.data(), impl_->staging, total, cudaMemcpyDeviceToHost,
                                      impl_->stream)));
  return cuda_status(cudaStreamSynchronize(impl_->stream));
}

Status CudaCryptoEngine::seal_tensor(DeviceBytes sealed, DeviceConstBytes src, SealParams params,
                                     std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t total = sealed_size(src.size());
  if (total == 0 || sealed.size() != total || !aligned16(sealed.data()) ||
      overlap(sealed.data(), sealed.size(), src.data(), src.size())) {
    return Status::invalid_arg;
  }
  HIX_TRY(impl_->enter());
  HIX_TRY(seal_into(sealed, src, params, key));
  return cuda_status(cudaStreamSynchronize(impl_->stream));
}

Status CudaCryptoEngine::seal_into(DeviceBytes sealed, DeviceConstBytes src, SealParams params,
                                   std::span<const std::uint8_t, kKeyBytes> key) {
  const TensorArgs args(src.size(), params, key);
  HIX_TRY(impl_->reserve_mac_scratch(args.get().chunks));
  HIX_TRY(cuda_status(launch_encrypt_chunks(args.get(), src.data(), sealed.data(), impl_->stream)));
  HIX_TRY(
      cuda_status(launch_tag_chunks(args.get(), sealed.data(), impl_->mac_scratch, impl_->stream)));
  return impl_->wipe_mac_scratch(args.get().chunks);
}

Status CudaCryptoEngine::wipe() {
  HIX_TRY(impl_->enter());
  HIX_TRY(impl_->quiesce());
  for (auto [buffer, size] :
       {std::pair<void*, std::uint64_t*>{impl_->staging, &impl_->staging_bytes},
        std::pair<void*, std::uint64_t*>{impl_->mac_scratch, &impl_->mac_scratch_bytes}}) {
    if (buffer == nullptr) continue;
    HIX_TRY(cuda_status(cudaMemset(buffer, 0, *size)));
    HIX_TRY(cuda_status(cudaFree(buffer)));
    *size = 0;
  }
  impl_->staging = nullptr;
  impl_->mac_scratch = nullptr;
  impl_->release_run_tensors();
  return Status::ok;
}

}  // namespace hix::vgpu::cuda
