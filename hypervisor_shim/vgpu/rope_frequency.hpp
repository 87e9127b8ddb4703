// ROPE_LLAMA3's frequencies (docs/specs/hix-gpu.md §6.4): Llama 3's scaling
// of one rotary frequency, for the cpu backend (host compiler) and the cuda
// kernels (nvcc): one definition for both sides, in double on both.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define HIX_ROPE_HOST_DEVICE __host__ __device__
#else
#define HIX_ROPE_HOST_DEVICE
#endif

namespace hix::vgpu {

// The scaling's parameters as ROPE_LLAMA3 carries them; factor 0 (never a
// valid record's) means plain ROPE.
struct Llama3Rope {
  float factor = 0;
  float low_freq_factor = 0;
  float high_freq_factor = 0;
  std::uint32_t original_max_pos = 0;
};

// inv_freq (theta^(-2i/rot_dim)) scaled as transformers' llama3 rope type
// does: wavelength 2pi/inv_freq above original_max_pos / low_freq_factor is
// divided by factor, below original_max_pos / high_freq_factor kept, and in
// between blended by smooth = (original_max_pos / wavelength -
// low_freq_factor) / (high_freq_factor - low_freq_factor).
HIX_ROPE_HOST_DEVICE inline double llama3_inv_freq(double inv_freq, const Llama3Rope& s) {
  if (s.factor == 0.0f) return inv_freq;
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const double wavelen = kTwoPi / inv_freq;
  const double old_ctx = static_cast<double>(s.original_max_pos);
  const double low = static_cast<double>(s.low_freq_factor);
  const double high = static_cast<double>(s.high_freq_factor);
  const double factor = static_cast<double>(s.factor);
  if (wavelen > old_ctx / low) return inv_freq / factor;
  if (wavelen < old_ctx / high) return inv_freq;
  const double smooth = (old_ctx / wavelen - low) / (high - low);
  return (1.0 - smooth) * inv_freq / factor + smooth * inv_freq;
}

}  // namespace hix::vgpu

#undef HIX_ROPE_HOST_DEVICE
