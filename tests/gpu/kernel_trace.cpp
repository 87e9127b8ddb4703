// A CUDA injection library that records every kernel the process runs, with
// the GPU's own start and end times, through CUPTI's activity API: the times
// of kernels inside a replayed CUDA graph and the overlap that programmatic
// dependent launch gives, which the backend's own profile mode (events
// between kernels) cannot show.
//
//   CUDA_INJECTION64_PATH=libhix-kernel-trace.so HIX_KERNEL_TRACE=out.tsv PROGRAM ...
//
// The CUDA driver loads the library at cuInit and calls InitializeInjection.
// Each kernel becomes one tab-separated line of out.tsv (the header line names
// the columns); kernel_trace_summary.py reads it. HIX_KERNEL_TRACE_MAX caps
// the lines kept (default 4000000); later kernels are counted, not kept.
#include <cupti.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kBufferBytes = std::size_t{8} << 20;
constexpr std::size_t kBufferAlign = 8;
constexpr std::uint64_t kDefaultMax = 4000000;

struct Kernel {
  std::string name;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint32_t correlation = 0;
  std::uint32_t graph = 0;
  std::uint64_t node = 0;
  std::uint32_t stream = 0;
  std::int32_t grid = 0;
  std::int32_t block = 0;
  std::uint16_t registers = 0;
  std::int32_t smem = 0;  // dynamic shared memory, bytes
};

struct Trace {
  std::mutex mu;
  std::vector<Kernel> kernels;
  std::uint64_t max = kDefaultMax;
  std::uint64_t dropped = 0;
  std::atomic<bool> written{false};
};

Trace& trace() {
  static Trace* t = new Trace;  // never destroyed: CUPTI may call in during exit
  return *t;
}

void report(const char* what, CUptiResult r) {
  const char* text = nullptr;
  cuptiGetResultString(r, &text);
  std::fprintf(stderr, "hix-kernel-trace: %s: %s\n", what, text != nullptr ? text : "?");
}

// CUPTI's callback type fixes the parameters.
void CUPTIAPI buffer_requested(std::uint8_t** buffer,
                               std::size_t* size,  // NOLINT(bugprone-easily-swappable-parameters)
                               std::size_t* max_records) {
  *buffer = static_cast<std::uint8_t*>(std::aligned_alloc(kBufferAlign, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void CUPTIAPI buffer_completed(CUcontext /*ctx*/, std::uint32_t /*stream*/, std::uint8_t* buffer,
                               std::size_t /*size*/, std::size_t valid) {
  Trace& t = trace();
  CUpti_Activity* record = nullptr;
  {
    const std::lock_guard<std::mutex> lock(t.mu);
    while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
      if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL &&
          record->kind != CUPTI_ACTIVITY_KIND_KERNEL) {
        continue;
      }
      if (t.kernels.size() >= t.max) {
        ++t.dropped;
        continue;
      }
      // The record layout of this CUPTI's own version (the header it was built with).
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      Kernel out;
      out.name = k->name != nullptr ? k->name : "?";
      out.start = k->start;
      out.end = k->end;
      out.correlation = k->correlationId;
      out.graph = k->graphId;
      out.node = k->graphNodeId;
      out.stream = k->streamId;
      out.grid = k->gridX * k->gridY * k->gridZ;
      out.block = k->blockX * k->blockY * k->blockZ;
      out.registers = k->registersPerThread;
      out.smem = k->dynamicSharedMemory;
      t.kernels.push_back(std::move(out));
    }
  }
  std::size_t lost = 0;
  if (cuptiActivityGetNumDroppedRecords(nullptr, 0, &lost) == CUPTI_SUCCESS && lost != 0) {
    const std::lock_guard<std::mutex> lock(t.mu);
    t.dropped += lost;
  }
  std::free(buffer);
}

void write_trace() {
  Trace& t = trace();
  cuptiActivityFlushAll(1);
  if (t.written.exchange(true)) return;
  const char* path = std::getenv("HIX_KERNEL_TRACE");
  FILE* f = path != nullptr ? std::fopen(path, "w") : stderr;
  if (f == nullptr) {
    std::fprintf(stderr, "hix-kernel-trace: cannot write %s\n", path);
    return;
  }
  const std::lock_guard<std::mutex> lock(t.mu);
  std::fprintf(
      f, "name\tstart_ns\tend_ns\tcorrelation\tgraph\tnode\tstream\tgrid\tblock\tregs\tsmem\n");
  for (const Kernel& k : t.kernels) {
    std::fprintf(f, "%s\t%llu\t%llu\t%u\t%u\t%llu\t%u\t%d\t%d\t%u\t%d\n", k.name.c_str(),
                 static_cast<unsigned long long>(k.start), static_cast<unsigned long long>(k.end),
                 k.correlation, k.graph, static_cast<unsigned long long>(k.node), k.stream, k.grid,
                 k.block, static_cast<unsigned>(k.registers), k.smem);
  }
  if (f != stderr) std::fclose(f);
  std::fprintf(stderr, "hix-kernel-trace: %zu kernels written to %s, %llu not kept\n",
               t.kernels.size(), path != nullptr ? path : "stderr",
               static_cast<unsigned long long>(t.dropped));
}

// Buffers still held when a context goes away are flushed before it does.
void CUPTIAPI on_resource(void* /*userdata*/, CUpti_CallbackDomain domain, CUpti_CallbackId id,
                          const void* /*data*/) {
  if (domain == CUPTI_CB_DOMAIN_RESOURCE && id == CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING) {
    cuptiActivityFlushAll(1);
  }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int InitializeInjection() {
  Trace& t = trace();
  if (const char* max = std::getenv("HIX_KERNEL_TRACE_MAX")) {
    t.max = std::strtoull(max, nullptr, 10);
  }
  CUptiResult r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  if (r != CUPTI_SUCCESS) {
    report("cuptiActivityRegisterCallbacks", r);
    return 0;
  }
  r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  if (r != CUPTI_SUCCESS) {
    report("cuptiActivityEnable", r);
    return 0;
  }
  CUpti_SubscriberHandle subscriber = nullptr;
  r = cuptiSubscribe(&subscriber, on_resource, nullptr);
  if (r == CUPTI_SUCCESS) {
    r = cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_RESOURCE,
                            CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING);
  }
  if (r != CUPTI_SUCCESS) report("cuptiSubscribe", r);
  std::atexit(write_trace);
  return 1;
}
