// The libsodium platform: randombytes (RDRAND inside an SDK enclave) and no
// report (hixd's plain mode).
#include "hix/session/platform.hpp"

#include <sodium.h>

namespace hix::session {

void SodiumPlatform::random(std::span<std::uint8_t> out) {
  randombytes_buf(out.data(), out.size());
}

bool SodiumPlatform::report(ReportData /*data*/, ReportOut /*out*/) {
  return false;
}

}  // namespace hix::session
