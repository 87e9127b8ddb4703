// The backends hix-cuda-backend-test compares, opened once (cuda_backend_rig.hpp).
#include "cuda_backend_rig.hpp"

#include <cstdio>
#include <string_view>
#include <utility>

#include "gpu_presence.hpp"

namespace hix::vgpu::cuda::test {
namespace {

BackendRig* g_rig = nullptr;

// FNV-1a of a case's name, mixed into the rig's seed (splitmix64's
// finaliser), so each case has its own stream that does not depend on which
// other cases run.
std::uint64_t case_seed(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  std::uint64_t z = seed ^ h;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

BackendRig& BackendRig::instance() {
  return *g_rig;
}

void BackendRig::install(BackendRig* rig) {
  g_rig = rig;
}

void BackendRig::broken(std::string why) {
  state_ = State::broken;
  why_ = std::move(why);
  cuda_.clear();
  targets_.clear();
  cpu_.reset();
}

void BackendRig::SetUp() {
  if (state_ == State::unopened) open();
  outcome_ = state_;
}

void BackendRig::open() {
  // Absence skips; a driver or device that is there but fails does not.
  const GpuProbe gpu = probe_gpu();
  if (gpu.state == Gpu::absent) {
    state_ = State::absent;
    why_ = gpu.why;
    return;
  }
  if (gpu.state == Gpu::broken) {
    broken(gpu.why);
    return;
  }
  for (const Variant& v : variants()) {
    auto created = CudaBackend::create(kRigVram, v.options);
    if (!created.ok()) {
      broken(strf("CudaBackend::create (%s): %s", v.label,
                  std::string(to_string(created.status())).c_str()));
      return;
    }
    cuda_.push_back(std::move(*created));
    targets_.push_back(Target{v.label, cuda_.back().get()});
  }
  auto cpu = CpuBackend::create(kRigVram);
  if (!cpu.ok()) {
    broken("CpuBackend::create: " + std::string(to_string(cpu.status())));
    return;
  }
  cpu_ = std::move(*cpu);
  for (const Target& t : targets_) {
    // VRAM starts as whatever the allocation held; the cpu's is zero.
    if (t.backend->vram_size() != kRigVram ||
        t.backend->zero(VramOffset{0}, kRigVram) != Status::ok ||
        t.backend->finish() != Status::ok) {
      broken(t.label + ": vram_size or zero");
      return;
    }
  }
  state_ = State::ready;
  std::printf("hix-cuda-backend-test: %zu cuda backends of %llu MiB against cpu, seed 0x%llx\n",
              targets_.size(), static_cast<unsigned long long>(kRigVram >> 20),
              static_cast<unsigned long long>(seed_));
}

void BackendRig::TearDown() {
  targets_.clear();
  cuda_.clear();
  cpu_.reset();
  state_ = State::unopened;
}

void BackendTest::SetUp() {
  BackendRig& rig = BackendRig::instance();
  switch (rig.state()) {
    case BackendRig::State::ready:
      break;
    case BackendRig::State::absent:
      GTEST_SKIP() << "no GPU: " << rig.why();
    case BackendRig::State::broken:
      GTEST_FAIL() << "the GPU is there but broken: " << rig.why();
    case BackendRig::State::unopened:
      GTEST_FAIL() << "the backends were not opened (no BackendRig environment)";
  }
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = std::string(info->test_suite_name()) + "." + info->name();
  const std::uint64_t seed = case_seed(rig.seed(), name);
  ::testing::Test::RecordProperty("seed", strf("0x%llx", static_cast<unsigned long long>(seed)));
  pair_.emplace(rig.cpu(), rig.targets(),
                BackendPair::Options{.seed = seed, .dirty_bytes = rig.dirty_bytes()});
  pair_->reset_arena();
  rig.set_dirty_bytes(0);
}

void BackendTest::TearDown() {
  if (!pair_) return;
  BackendRig::instance().set_dirty_bytes(pair_->dirty_bytes());
  for (const Target& t : pair_->gpus()) {
    // A case that stopped halfway leaves no capture open behind it.
    t.backend->abort_recording();
  }
  pair_.reset();
}

std::string variant_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return variants().at(info.param).id;
}

}  // namespace hix::vgpu::cuda::test
