// Protected or plain (docs/specs/hix-session.md §10): which DMA ops the
// validator allows, whether a channel key protects the ring, whether OPEN
// carries a report.
#pragma once

#include <cstdint>

namespace hix::session {

enum class Mode : std::uint8_t {
  protected_mode,  // the GPU enclave: channel key, DMA_*_CRYPT only, reports
  plain,           // hixd --plain: no channel key, DMA_IN/DMA_OUT only, no report
};

}  // namespace hix::session
