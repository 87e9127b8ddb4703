// Micro-benchmark: the cost of looking a BAR0 offset up in the register table
// (the decode every register access pays in the device).
#include <benchmark/benchmark.h>

#include "hix/gpu/regs.hpp"

namespace {

void BM_FindRegister(benchmark::State& state) {
  std::uint32_t off = 0;
  for (auto _ : state) {
    auto desc = hix::gpu::find_register(hix::gpu::BarOffset{off});
    benchmark::DoNotOptimize(desc);
    off = (off + 4) % 0x20;
  }
}
BENCHMARK(BM_FindRegister);

}  // namespace
