// hixd's counters and its status file (/run/hixd.status by default): one
// `key=value` line per counter, rewritten (to a temporary file, then
// renamed) after every event, so a test in the guest can read a consistent
// snapshot at any time.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "gpu_enclave_abi.h"

namespace hix::hixd {

inline constexpr std::size_t kStatusNames = HIX_SESSION_INTERNAL + 1;

struct Counters {
  std::uint64_t connections_live = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t connections_refused = 0;  // over the connection limit
  std::uint64_t sessions_live = 0;
  std::uint64_t sessions_opened = 0;
  std::uint64_t sessions_closed = 0;  // CLOSE, DROP and sessions lost with the enclave
  std::uint64_t sessions_lost = 0;    // ended by the enclave's death
  std::uint64_t requests = 0;         // frames handled
  std::uint64_t calls = 0;
  std::uint64_t puts = 0;
  std::uint64_t gets = 0;
  std::uint64_t loads = 0;
  std::uint64_t load_bytes = 0;
  std::uint64_t load_ns = 0;
  std::uint64_t rejections = 0;                        // replies with a status other than OK
  std::array<std::uint64_t, kStatusNames> rejected{};  // by status
  std::uint64_t protocol_errors = 0;                   // MALFORMED frames; their connection closed
  std::uint64_t stalled = 0;  // connections closed for stalling inside a frame
  std::uint64_t enclave_deaths = 0;
  std::uint64_t enclave_restarts = 0;
};

struct StatusSnapshot {
  const Counters* counters = nullptr;
  const char* mode = "";
  std::string identity;  // "mrenclave=<hex>" or "plain"
  bool ready = false;
  std::uint16_t port = 0;
  const gpu_enclave_stats* enclave = nullptr;  // the backend's STATS, when it gave them
};

// The status file's text.
std::string format_status(const StatusSnapshot& s);
// Writes it to `path` atomically; false when it could not.
bool write_status(const std::string& path, const StatusSnapshot& s);

// "malformed", "forged", ... (docs/specs/hix-session.md §8).
const char* status_name(std::uint32_t status);

}  // namespace hix::hixd
