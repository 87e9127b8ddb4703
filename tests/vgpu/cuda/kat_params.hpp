// The known-answer vectors' parameters: sizes around every block, keystream
// and chunk boundary, tensor ids with high bits (bit 63: device-sealed) and
// several key ids. Answers in kat_vectors.inc (gen_kat.cpp).
#pragma once

#include "kat_common.hpp"

namespace hix::vgpu::cuda::kat {

inline constexpr Params kParams[] = {
    {1, 0, 0x0, 1},
    {15, 1, 0x1, 2},
    {16, 2, 0x100, 3},
    {17, 3, 0xffffffffu, 4},
    {63, 4, 0x100000000u, 5},
    {64, 5, 0x7fffffffffffffffu, 6},
    {65, 6, 0x8000000000000001u, 7},
    {100, 7, 0x0123456789abcdefu, 8},
    {1000, 255, 0xfedcba9876543210u, 9},
    {4095, 9, 42, 10},
    {65535, 10, 43, 11},
    {65536, 11, 44, 12},
    {65537, 12, 45, 13},
    {2 * 65536 + 13, 13, 46, 14},
    {3 * 65536 + 4000, 14, 0x8000000000000fffu, 15},
    {7 * 65536 + 65535, 15, 0xdeadbeefcafef00du, 16},
};

}  // namespace hix::vgpu::cuda::kat
