// hix-cuda-backend-test: the cuda compute backend (cuda_backend.hpp) op by op
// against the cpu reference backend (spec §6.4-§6.7), as GoogleTest cases
// (cuda_backend_*_test.cpp) over one rig of backends (cuda_backend_rig.hpp).
// Takes GoogleTest's flags and `--seed N` (every case's generator derives
// from N and the case's name). Ends with one summary line: "PASS (N cases)",
// "FAIL (F of N cases failed)", "skipped: no GPU (why)" where there is no GPU
// or driver (every case skipped, exit 0), or "FAIL: the GPU is there but
// broken: why" (every case failed, exit 1).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

constexpr int kUsageError = 2;

// Reads `--seed N` (decimal, 0x hex or 0 octal); false on anything else.
bool parse_args(int argc, char** argv, std::uint64_t& seed) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seed") != 0 || i + 1 >= argc) {
      std::fprintf(stderr, "hix-cuda-backend-test: unknown argument %s\n", argv[i]);
      return false;
    }
    const char* text = argv[++i];
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
      std::fprintf(stderr, "hix-cuda-backend-test: --seed %s is not a number\n", text);
      return false;
    }
    seed = v;
  }
  return true;
}

void print_summary(const BackendRig& rig) {
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  switch (rig.outcome()) {
    case BackendRig::State::unopened:
      return;  // --gtest_list_tests, or nothing ran
    case BackendRig::State::absent:
      std::printf("hix-cuda-backend-test: skipped: no GPU (%s)\n", rig.why().c_str());
      return;
    case BackendRig::State::broken:
      std::printf("hix-cuda-backend-test: FAIL: the GPU is there but broken: %s\n",
                  rig.why().c_str());
      return;
    case BackendRig::State::ready:
      break;
  }
  if (u.failed_test_count() != 0) {
    std::printf("hix-cuda-backend-test: FAIL (%d of %d cases failed)\n", u.failed_test_count(),
                u.test_to_run_count());
  } else {
    std::printf("hix-cuda-backend-test: PASS (%d cases)\n", u.successful_test_count());
  }
}

}  // namespace
}  // namespace hix::vgpu::cuda::test

int main(int argc, char** argv) {
  using hix::vgpu::cuda::test::BackendRig;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  ::testing::InitGoogleTest(&argc, argv);
  std::uint64_t seed = hix::vgpu::cuda::test::kDefaultSeed;
  if (!hix::vgpu::cuda::test::parse_args(argc, argv, seed)) {
    std::fprintf(stderr,
                 "usage: hix-cuda-backend-test [--gtest_filter=...] [other --gtest_* flags] "
                 "[--seed N]\n");
    return hix::vgpu::cuda::test::kUsageError;
  }
  // GoogleTest owns the environment; the rig outlives every case.
  auto rig = std::make_unique<BackendRig>(seed);
  BackendRig::install(rig.get());
  BackendRig* const installed = rig.get();
  ::testing::AddGlobalTestEnvironment(rig.release());
  const int rc = RUN_ALL_TESTS();
  // Tear-down ran (the backends are closed); outcome() says how they were.
  hix::vgpu::cuda::test::print_summary(*installed);
  return rc;
}
