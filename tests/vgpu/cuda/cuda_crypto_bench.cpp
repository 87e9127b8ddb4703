// hix-cuda-crypto-bench: the GPU crypto engine's decryption rate next to plain
// copies, in one run (docs/architecture.md §8: protected and unprotected side
// by side).
// Prints JSON on stdout (and to --json FILE); a short table on stderr.
//   hix-cuda-crypto-bench [--sizes-mib 64,128,256,512,1024] [--reps 20] [--json FILE]
// Rates are GB/s = 10^9 bytes of plaintext (for copies: of payload) per
// second, from the median of --reps timed runs after two untimed ones.
// decrypt_call_from_pinned_host_vs_copy is a plain pinned copy's time over the
// host-path open's (1.0: the open costs no more than copying its sealed bytes).
// decrypt_call_device_gbps is the engine's default open mode's figure;
// decrypt_call_device_{gated,concurrent,one_pass}_gbps are each mode's
// (OpenMode), the one-pass figure at the default lanes per chunk, and
// decrypt_call_device_one_pass_lanes_gbps the one-pass call at each lane
// count the kernel is built for. decrypt_kernels_gbps is the gated open's
// kernels (key, verify, keystream), one_pass_kernel_gbps the one-pass
// kernel's at each lane count: all of them in one run, so that one run on a
// GPU decides between them.
#include <cuda_runtime_api.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cuda_crypto_engine.hpp"
#include "device_buffer.hpp"
#include "gpu_presence.hpp"
#include "sealed_chunk.hpp"
#include "sealed_chunk_kernels.hpp"
#include "sealed_tensor_view.hpp"

namespace hix::vgpu::cuda::bench {
namespace {

using test::DeviceBuffer;
using test::PinnedBuffer;

constexpr double kTargetTBps = 1.0;  // the decryption target

[[noreturn]] void die(const char* what, cudaError_t e = cudaSuccess) {
  std::fprintf(stderr, "hix-cuda-crypto-bench: %s%s%s\n", what, e != cudaSuccess ? ": " : "",
               e != cudaSuccess ? cudaGetErrorString(e) : "");
  std::exit(1);
}

void ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) die(what, e);
}

void ok(Status s, const char* what) {
  if (s != Status::ok) {
    std::fprintf(stderr, "hix-cuda-crypto-bench: %s: %s\n", what,
                 std::string(to_string(s)).c_str());
    std::exit(1);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Seconds per run of `enqueue` on `stream`, timed with events (GPU time).
double time_gpu(cudaStream_t stream, int reps, const std::function<void()>& enqueue) {
  cudaEvent_t a;
  cudaEvent_t b;
  ok(cudaEventCreate(&a), "event");
  ok(cudaEventCreate(&b), "event");
  std::vector<double> t;
  for (int i = 0; i < reps + 2; ++i) {
    ok(cudaEventRecord(a, stream), "record");
    enqueue();
    ok(cudaEventRecord(b, stream), "record");
    ok(cudaEventSynchronize(b), "sync");
    float ms = 0;
    ok(cudaEventElapsedTime(&ms, a, b), "elapsed");
    if (i >= 2) t.push_back(ms / 1e3);
  }
  ok(cudaEventDestroy(a), "event");
  ok(cudaEventDestroy(b), "event");
  return median(t);
}

// Seconds per call of a synchronous `run`, by the host clock (what a caller waits).
double time_host(int reps, const std::function<void()>& run) {
  std::vector<double> t;
  for (int i = 0; i < reps + 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= 2) t.push_back(std::chrono::duration<double>(t1 - t0).count());
  }
  return median(t);
}

double gbps(std::uint64_t bytes, double seconds) {
  return static_cast<double>(bytes) / seconds / 1e9;
}

void fill_random(std::span<std::byte> out, std::uint64_t seed) {
  // splitmix64: fast, and not zeros (zeros can run faster than real data).
  std::byte* p = out.data();
  const std::uint64_t n = out.size();
  std::uint64_t x = seed;
  for (std::uint64_t i = 0; i < n; i += 8) {
    x += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(p + i, &z, std::min<std::uint64_t>(8, n - i));
  }
}

constexpr std::size_t kLaneVariants = std::size(kOnePassLaneChoices);

struct Row {
  std::uint64_t mib, bytes;
  double d2d, h2d, verify_k, decrypt_k, open_k, encrypt_k, open_dev, open_host, open_two;
  double open_dev_gated, open_dev_concurrent, open_dev_one_pass;  // open_dev: the default mode's
  double one_pass_k[kLaneVariants];           // the one-pass kernel, per lane count
  double open_dev_one_pass_l[kLaneVariants];  // the one-pass call, per lane count
  double open_host_concurrent;                // the pinned host path, concurrent mode
  // A plain synchronous pinned cudaMemcpy of the sealed size (host clock), in
  // GB/s of sealed bytes, and the host-path open's time against it.
  double h2d_sealed_call, open_host_vs_copy;
  bool roundtrip;
};

std::vector<std::uint64_t> parse_sizes(const char* s) {
  std::vector<std::uint64_t> v;
  while (*s != '\0') {
    char* end = nullptr;
    const unsigned long long x = std::strtoull(s, &end, 10);
    if (end == s || x == 0) die("bad --sizes-mib");
    v.push_back(x);
    s = *end == ',' ? end + 1 : end;
  }
  return v;
}

}  // namespace
}  // namespace hix::vgpu::cuda::bench

int main(int argc, char** argv) {
  using namespace hix::vgpu;
  using namespace hix::vgpu::cuda;
  using namespace hix::vgpu::cuda::bench;
  std::vector<std::uint64_t> sizes = {64, 128, 256, 512, 1024};
  int reps = 20;
  const char* json_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--sizes-mib" && i + 1 < argc) {
      sizes = parse_sizes(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--sizes-mib 64,128,...] [--reps N] [--json FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  const test::GpuProbe gpu = test::probe_gpu();
  if (gpu.state == test::Gpu::absent) {
    std::printf("hix-cuda-crypto-bench: skipped: no GPU (%s)\n", gpu.why.c_str());
    return 0;
  }
  if (gpu.state == test::Gpu::broken) die(gpu.why.c_str());
  if (sodium_init() < 0) die("sodium_init");

  cudaDeviceProp prop{};
  int driver = 0;
  int runtime = 0;
  ok(cudaGetDeviceProperties(&prop, 0), "properties");
  ok(cudaDriverGetVersion(&driver), "driver version");
  ok(cudaRuntimeGetVersion(&runtime), "runtime version");

  auto e1 = CudaCryptoEngine::create();
  auto e2 = CudaCryptoEngine::create();
  if (!e1.ok() || !e2.ok()) die("engine");
  CudaCryptoEngine& eng = **e1;
  CudaCryptoEngine& eng2 = **e2;
  const OpenMode default_mode = eng.open_mode();
  const std::uint32_t default_lanes = eng.one_pass_lanes();
  const char* default_mode_name = default_mode == OpenMode::gated        ? "gated"
                                  : default_mode == OpenMode::concurrent ? "concurrent"
                                                                         : "one_pass";
  cudaStream_t stream = nullptr;
  ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");

  const std::uint64_t max_bytes = *std::max_element(sizes.begin(), sizes.end()) << 20;
  const std::uint64_t max_sealed = sealed_size(max_bytes);
  DeviceBuffer src(max_bytes), dst(max_bytes), dst2(max_bytes), sealed(max_sealed), verdict(4);
  DeviceBuffer scratch(
      mac_scratch_bytes(static_cast<std::uint32_t>(sealed_chunk_count(max_bytes))));
  PinnedBuffer host(max_sealed);
  if (!src.ok() || !dst.ok() || !dst2.ok() || !sealed.ok() || !verdict.ok() || !scratch.ok() ||
      !host.ok()) {
    die("allocation");
  }
  std::vector<std::uint8_t> key(kKeyBytes);
  randombytes_buf(key.data(), key.size());
  const std::span<const std::uint8_t, kKeyBytes> k(key.data(), kKeyBytes);
  const SealParams params{1, 0x5eed};

  std::vector<Row> rows;
  for (const std::uint64_t mib : sizes) {
    const std::uint64_t bytes = mib << 20;
    const std::uint64_t total = sealed_size(bytes);
    const int host_reps = std::max(3, reps / 4);
    Row r{};
    r.mib = mib;
    r.bytes = bytes;
    fill_random(std::span<std::byte>(host.data(), bytes), mib);
    ok(cudaMemcpy(src.data(), host.data(), bytes, cudaMemcpyHostToDevice), "upload");
    ok(eng.seal_tensor(sealed.span(0, total), src.span(0, bytes), params, k), "seal");

    // Correctness of what is timed: open gives the plaintext back.
    std::vector<std::byte> want(bytes);
    ok(cudaMemcpy(want.data(), src.data(), bytes, cudaMemcpyDeviceToHost), "download");
    // The destination holds the plaintext (and is cleared for the next check).
    const auto dst_is_plain = [&] {
      std::vector<std::byte> got(bytes);
      ok(cudaMemcpy(got.data(), dst.data(), bytes, cudaMemcpyDeviceToHost), "download");
      ok(cudaMemset(dst.data(), 0, bytes), "memset");
      return got == want;
    };
    ok(cudaMemset(dst.data(), 0, bytes), "memset");
    ok(eng.open_tensor(dst.span(0, bytes), sealed.span(0, total), params, k), "open");
    r.roundtrip = dst_is_plain();
    if (mib <= 64) {
      // ... and libsodium (the CPU engine) opens what the GPU sealed.
      std::vector<std::byte> s(total), p(bytes);
      ok(cudaMemcpy(s.data(), sealed.data(), total, cudaMemcpyDeviceToHost), "download");
      r.roundtrip = r.roundtrip && open_tensor(p, s, params, k) == Status::ok && p == want;
    }

    r.d2d =
        gbps(bytes, time_gpu(stream, reps, [&] {
               ok(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream),
                  "d2d");
             }));
    r.h2d =
        gbps(bytes, time_gpu(stream, host_reps, [&] {
               ok(cudaMemcpyAsync(dst.data(), host.data(), bytes, cudaMemcpyHostToDevice, stream),
                  "h2d");
             }));

    // The kernels alone, as the engine enqueues them (GPU time).
    SealedTensor t{};
    describe_sealed_tensor(t, bytes, params,
                           std::span<const std::uint8_t, kKeyBytes>(key.data(), kKeyBytes));
    auto* fail = reinterpret_cast<std::uint32_t*>(verdict.data());  // 4-byte device word
    ok(cudaMemset(fail, 0, 4), "memset");
    r.verify_k =
        gbps(bytes, time_gpu(stream, reps, [&] {
               ok(launch_verify_chunks(t, sealed.data(), scratch.data(), fail, stream), "verify");
             }));
    r.decrypt_k =
        gbps(bytes, time_gpu(stream, reps, [&] {
               ok(launch_decrypt_chunks(t, sealed.data(), dst.data(), fail, stream), "decrypt");
             }));
    r.open_k =
        gbps(bytes, time_gpu(stream, reps, [&] {
               ok(cudaMemsetAsync(fail, 0, 4, stream), "memset");
               ok(launch_verify_chunks(t, sealed.data(), scratch.data(), fail, stream), "verify");
               ok(launch_decrypt_chunks(t, sealed.data(), dst.data(), fail, stream), "decrypt");
             }));
    // The one-pass kernel at each lane count, each result checked.
    for (std::size_t v = 0; v < kLaneVariants; ++v) {
      const std::uint32_t lanes = kOnePassLaneChoices[v];
      r.one_pass_k[v] =
          gbps(bytes, time_gpu(stream, reps, [&] {
                 ok(cudaMemsetAsync(fail, 0, 4, stream), "memset");
                 ok(launch_open_chunks(t, sealed.data(), dst.data(), lanes, fail, stream),
                    "one-pass open");
               }));
      std::uint32_t bad = 1;
      ok(cudaMemcpy(&bad, fail, 4, cudaMemcpyDeviceToHost), "verdict");
      if (bad != 0) die("the one-pass kernel saw a bad tag");
      r.roundtrip = dst_is_plain() && r.roundtrip;
    }
    r.encrypt_k = gbps(bytes, time_gpu(stream, reps, [&] {
                         ok(launch_encrypt_chunks(t, src.data(), sealed.data(), stream), "encrypt");
                         ok(launch_tag_chunks(t, sealed.data(), scratch.data(), stream), "tag");
                       }));
    std::uint32_t verdict_host = 1;
    ok(cudaMemcpy(&verdict_host, fail, 4, cudaMemcpyDeviceToHost), "verdict");
    if (verdict_host != 0) die("the timed kernels saw a bad tag");
    sodium_memzero(&t, sizeof t);

    // The engine's calls, as the device server would make them (host clock),
    // in each open mode (one_pass at each lane count); each result is checked
    // against the source.
    const auto time_open = [&] {
      const double rate =
          gbps(bytes, time_host(reps, [&] {
                 ok(eng.open_tensor(dst.span(0, bytes), sealed.span(0, total), params, k), "open");
               }));
      r.roundtrip = dst_is_plain() && r.roundtrip;
      return rate;
    };
    eng.set_open_mode(OpenMode::gated);
    r.open_dev_gated = time_open();
    eng.set_open_mode(OpenMode::concurrent);
    r.open_dev_concurrent = time_open();
    eng.set_open_mode(OpenMode::one_pass);
    for (std::size_t v = 0; v < kLaneVariants; ++v) {
      ok(eng.set_one_pass_lanes(kOnePassLaneChoices[v]), "lanes");
      r.open_dev_one_pass_l[v] = time_open();
      if (kOnePassLaneChoices[v] == default_lanes) r.open_dev_one_pass = r.open_dev_one_pass_l[v];
    }
    ok(eng.set_one_pass_lanes(default_lanes), "lanes");
    r.open_dev = default_mode == OpenMode::gated        ? r.open_dev_gated
                 : default_mode == OpenMode::concurrent ? r.open_dev_concurrent
                                                        : r.open_dev_one_pass;
    // From pinned host memory: concurrent, then the default mode.
    ok(cudaMemcpy(host.data(), sealed.data(), total, cudaMemcpyDeviceToHost), "download");
    const auto time_open_host = [&] {
      const double seconds = time_host(host_reps, [&] {
        ok(eng.open_tensor(dst.span(0, bytes), std::span<const std::byte>(host.data(), total),
                           params, k),
           "open from host");
      });
      r.roundtrip = dst_is_plain() && r.roundtrip;
      return seconds;
    };
    eng.set_open_mode(OpenMode::concurrent);
    r.open_host_concurrent = gbps(bytes, time_open_host());
    eng.set_open_mode(default_mode);
    const double open_host_s = time_open_host();
    r.open_host = gbps(bytes, open_host_s);
    // What the host path cannot beat: the same sealed bytes copied and waited
    // for, the way the call waits (they are the bytes `sealed` holds already).
    const double copy_s = time_host(host_reps, [&] {
      ok(cudaMemcpy(sealed.data(), host.data(), total, cudaMemcpyHostToDevice), "h2d sealed");
    });
    r.h2d_sealed_call = gbps(total, copy_s);
    r.open_host_vs_copy = copy_s / open_host_s;
    // Two engines (two streams) on two threads, each opening the tensor.
    const double two = time_host(std::max(3, reps / 2), [&] {
      std::thread other([&] {
        ok(eng2.open_tensor(dst2.span(0, bytes), sealed.span(0, total), params, k), "open 2");
      });
      ok(eng.open_tensor(dst.span(0, bytes), sealed.span(0, total), params, k), "open 1");
      other.join();
    });
    r.open_two = gbps(2 * bytes, two);
    r.roundtrip = dst_is_plain() && r.roundtrip;
    rows.push_back(r);
  }

  // {"64": x, "128": y, "256": z}: one figure per one-pass lane count.
  const auto per_lanes = [](const double(&v)[kLaneVariants]) {
    std::string o = "{";
    char b[64];
    for (std::size_t i = 0; i < kLaneVariants; ++i) {
      std::snprintf(b, sizeof b, "%s\"%u\": %.1f", i == 0 ? "" : ", ", kOnePassLaneChoices[i],
                    v[i]);
      o += b;
    }
    return o + "}";
  };
  // The fastest one-pass lane count by the kernel's figure, and its index.
  const auto best_lanes = [](const Row& r) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < kLaneVariants; ++i) {
      if (r.one_pass_k[i] > r.one_pass_k[best]) best = i;
    }
    return best;
  };
  std::string json;
  char buf[4096];
  std::snprintf(
      buf, sizeof buf,
      "{\n  \"benchmark\": \"hix-cuda-crypto-bench\",\n  \"gpu\": \"%s\",\n"
      "  \"sm\": \"%d.%d\",\n  \"multiprocessors\": %d,\n  \"driver_api\": %d,\n"
      "  \"runtime\": %d,\n  \"reps\": %d,\n"
      "  \"units\": \"GB/s = 1e9 bytes of plaintext (copies: of payload) per second, median\",\n"
      "  \"results\": [\n",
      prop.name, prop.major, prop.minor, prop.multiProcessorCount, driver, runtime, reps);
  json += buf;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::snprintf(
        buf, sizeof buf,
        "    {\"size_mib\": %" PRIu64 ", \"bytes\": %" PRIu64
        ", \"roundtrip_ok\": %s,\n"
        "     \"d2d_copy_gbps\": %.1f, \"h2d_pinned_copy_gbps\": %.1f,\n"
        "     \"decrypt_kernels_gbps\": %.1f, \"verify_kernel_gbps\": %.1f, "
        "\"decrypt_kernel_gbps\": %.1f,\n"
        "     \"one_pass_kernel_gbps\": %s, \"one_pass_kernel_best_lanes\": %u,\n"
        "     \"decrypt_call_device_gbps\": %.1f, \"decrypt_call_device_gated_gbps\": %.1f,"
        " \"decrypt_call_device_concurrent_gbps\": %.1f,\n"
        "     \"decrypt_call_device_one_pass_gbps\": %.1f,"
        " \"decrypt_call_device_one_pass_lanes_gbps\": %s,\n"
        "     \"decrypt_call_from_pinned_host_gbps\": %.1f,"
        " \"decrypt_call_from_pinned_host_concurrent_gbps\": %.1f,\n"
        "     \"decrypt_calls_two_engines_gbps\": %.1f, \"encrypt_kernels_gbps\": %.1f,\n"
        "     \"h2d_pinned_copy_sealed_call_gbps\": %.1f,"
        " \"decrypt_call_from_pinned_host_vs_copy\": %.3f}%s\n",
        r.mib, r.bytes, r.roundtrip ? "true" : "false", r.d2d, r.h2d, r.open_k, r.verify_k,
        r.decrypt_k, per_lanes(r.one_pass_k).c_str(), kOnePassLaneChoices[best_lanes(r)],
        r.open_dev, r.open_dev_gated, r.open_dev_concurrent, r.open_dev_one_pass,
        per_lanes(r.open_dev_one_pass_l).c_str(), r.open_host, r.open_host_concurrent, r.open_two,
        r.encrypt_k, r.h2d_sealed_call, r.open_host_vs_copy, i + 1 < rows.size() ? "," : "");
    json += buf;
  }
  const Row& big = rows.back();
  const auto met = [](double gbps_figure) {
    return gbps_figure >= kTargetTBps * 1e3 ? "true" : "false";
  };
  std::snprintf(buf, sizeof buf,
                "  ],\n  \"default_open_mode\": \"%s\", \"default_one_pass_lanes\": %u,\n"
                "  \"target\": {\"decrypt_tbps\": %.1f, \"at_size_mib\": %" PRIu64
                ", \"met_by_decrypt_kernels\": %s,"
                " \"met_by_one_pass_kernel\": %s, \"met_by_decrypt_call_device\": %s,"
                " \"met_by_decrypt_call_device_gated\": %s,"
                " \"met_by_decrypt_call_device_concurrent\": %s,"
                " \"met_by_decrypt_call_device_one_pass\": %s,"
                " \"met_by_two_engines\": %s}\n}\n",
                default_mode_name, default_lanes, kTargetTBps, big.mib, met(big.open_k),
                met(big.one_pass_k[best_lanes(big)]), met(big.open_dev), met(big.open_dev_gated),
                met(big.open_dev_concurrent), met(big.open_dev_one_pass), met(big.open_two));
  json += buf;
  std::fputs(json.c_str(), stdout);
  if (json_path != nullptr) {
    FILE* f = std::fopen(json_path, "w");
    if (f == nullptr || std::fputs(json.c_str(), f) < 0 || std::fclose(f) != 0) die("--json");
  }
  // Two tables on stderr: the kernels (GPU time), then the engine's calls
  // (host clock), each with the plain copies beside them.
  std::fprintf(stderr, "kernels (GB/s, GPU time)\n%6s %7s %6s %7s %8s %7s", "MiB", "d2d", "h2d",
               "dec-k", "verify-k", "xor-k");
  for (const std::uint32_t lanes : kOnePassLaneChoices) std::fprintf(stderr, "  1pass-%-3u", lanes);
  std::fprintf(stderr, " %7s\n", "enc-k");
  for (const Row& r : rows) {
    std::fprintf(stderr, "%6" PRIu64 " %7.1f %6.1f %7.1f %8.1f %7.1f", r.mib, r.d2d, r.h2d,
                 r.open_k, r.verify_k, r.decrypt_k);
    for (const double v : r.one_pass_k) std::fprintf(stderr, " %9.1f", v);
    std::fprintf(stderr, " %7.1f%s\n", r.encrypt_k, r.roundtrip ? "" : "  ROUNDTRIP FAILED");
  }
  std::fprintf(stderr,
               "engine calls (GB/s, host clock; dec-call: %s, %u lanes)\n%6s %7s %8s %8s %8s",
               default_mode_name, default_lanes, "MiB", "d2d", "dec-call", "dec-gate", "dec-conc");
  for (const std::uint32_t lanes : kOnePassLaneChoices) std::fprintf(stderr, "  dec-1p%-3u", lanes);
  std::fprintf(stderr, " %8s %9s %8s %8s %6s\n", "dec-host", "host-conc", "dec-2eng", "h2d-seal",
               "host/cp");
  for (const Row& r : rows) {
    std::fprintf(stderr, "%6" PRIu64 " %7.1f %8.1f %8.1f %8.1f", r.mib, r.d2d, r.open_dev,
                 r.open_dev_gated, r.open_dev_concurrent);
    for (const double v : r.open_dev_one_pass_l) std::fprintf(stderr, " %9.1f", v);
    std::fprintf(stderr, " %8.1f %9.1f %8.1f %8.1f %6.3f\n", r.open_host, r.open_host_concurrent,
                 r.open_two, r.h2d_sealed_call, r.open_host_vs_copy);
  }
  for (const Row& r : rows) {
    if (!r.roundtrip) return 1;
  }
  ok(cudaStreamDestroy(stream), "stream");
  return 0;
}
