// A GPU enclave (docs/enclave-sdk.md §6, hix-isa §12): an enclave image
// loaded through /dev/hix and locked to one PCI function, its BAR0 mapped
// into ELRANGE as the GLRANGE. hixd's enclave and the lockdown suite's
// gpu_owner are loaded this one way.
#pragma once

#include <cstdint>
#include <optional>

#include "hix/loader/enclave.hpp"
#include "hix/loader/enclave_image.hpp"

namespace hix::loader {

// BAR0 goes at the first boundary of its own size above the image's last
// page; the image leaves ELRANGE free from there (the enclave's CMake rule
// keeps room for the GLRANGE). nullopt when there is no such room.
std::optional<std::uint64_t> glrange_offset(const EnclaveImage& image, std::uint64_t bar0_size);

struct GpuEnclave {
  Enclave enclave;
  std::uint64_t glrange = 0;  // the linear address BAR0 is mapped at
};

// Opens /dev/hix, loads `image` and locks the function `bdf` (BAR0 of
// `bar0_size` bytes) to it. Failures: bad_layout (no room for the GLRANGE),
// the driver's and Enclave::load's statuses, lock_failed (the detail names
// EGLOCK's status).
Result<GpuEnclave> load_gpu_enclave(const EnclaveImage& image, std::uint32_t bdf,
                                    std::uint64_t bar0_size);

}  // namespace hix::loader
