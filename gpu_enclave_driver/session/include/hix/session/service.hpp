// The session service (docs/specs/hix-session.md §3-§10): the operations
// behind the GPU enclave's ecalls INIT, OPEN, CALL, DROP and STATS, on the
// ecall ABI structs of gpu_enclave_abi.h. The enclave image wires its ecalls
// to one Service built on its GLRANGE, RDRAND and EREPORT; hixd's plain mode
// builds one in its own process over a sysfs BAR0 mapping (Mode::plain).
//
// Every operation reports its outcome inside the struct it is given (the
// `status` fields, enum hix_session_status) and never fails on hostile
// input in any other way. One thread at a time (the enclave has one TCS;
// hixd serialises its calls).
//
// The object is large (the session table: 8 sessions x 256 buffers) and
// meant to live in static storage or on the heap, not on a small stack.
#pragma once

#include <cstdint>
#include <span>

#include "gpu_enclave_abi.h"
#include "hix/session/device_driver.hpp"
#include "hix/session/mmio.hpp"
#include "hix/session/mode.hpp"
#include "hix/session/platform.hpp"
#include "hix/session/session_table.hpp"
#include "hix/session/status.hpp"
#include "hix/session/untrusted_memory.hpp"

namespace hix::session {

struct ServiceOptions {
  Mode mode = Mode::protected_mode;
  // Register reads while waiting for the device to consume a ring entry
  // before the submission counts as a device failure.
  std::uint64_t poll_budget = std::uint64_t{1} << 28;
#ifdef HIX_SESSION_TESTING
  // Test builds only (never compiled into the enclave or hixd): submit
  // command buffers without the enclave's validation, to show that the
  // device's own context checks refuse what the validator would have.
  bool skip_validation = false;
#endif
};

// Whether a CALL buffer could be used at all (the ecall's own status:
// HIX_ECALL_OK or HIX_ECALL_BAD_SIZE).
enum class CallBuffer : std::uint8_t { ok, bad_size };

// Bytes a CALL buffer needs for a request of `length` sealed bytes.
constexpr std::uint64_t call_buffer_bytes(std::uint32_t length) {
  const std::uint64_t body =
      length > GPU_ENCLAVE_CALL_RESPONSE_MAX ? length : GPU_ENCLAVE_CALL_RESPONSE_MAX;
  return sizeof(gpu_enclave_call) + body;
}

class Service {
 public:
  Service(Mmio& mmio, UntrustedMemory& memory, Platform& platform, ServiceOptions options = {});
  ~Service();  // wipes every key it holds (touches no register)
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // §9 INIT: checks the device (ID, VERSION, STATUS.LOCKED in protected
  // mode), scrubs it, installs a fresh channel key (protected mode), starts
  // the ring in `io.ring` and draws the identity key. Once per Service.
  // `io.glrange` and `io.bdf` are the enclave image's business (they locate
  // the Mmio); the service ignores them.
  void init(gpu_enclave_init& io);

  // §3.2, §4: a session for `io.client_pk` over the window `io.extents`
  // (no overlap with the ring area or another live session's window): a
  // device context, the §3.3 keys, K_t in key slot 0, and (protected mode) a
  // report binding the enclave key, the client key, the nonce and the id.
  void open(gpu_enclave_open& io);

  // §5.3, §5.2: one sealed request in `buffer` (struct gpu_enclave_call, then
  // `length` sealed bytes), answered in place (the same header with status,
  // detail and the response length, then the sealed response). Needs
  // call_buffer_bytes(length) bytes, else bad_size and nothing changes.
  // Everything after the response is zeroed.
  [[nodiscard]] CallBuffer call(std::span<std::uint8_t> buffer);

  // §4: hixd's client is gone: the session's context is destroyed and its
  // keys wiped.
  void drop(gpu_enclave_drop& io);

  // §9 STATS: the counters, and whether the device reads failed now (one
  // STATUS read).
  void stats(gpu_enclave_stats& out);

  // For tests and hixd's diagnostics.
  Mode mode() const { return options_.mode; }
  bool initialised() const { return initialised_; }
  const SessionTable& sessions() const { return sessions_; }
  std::span<const std::uint8_t, HIX_SESSION_PK_BYTES> enclave_public_key() const { return pk_; }

 private:
  struct Response;  // a response plaintext under construction (service.cpp)

  Outcome open_session(gpu_enclave_open& io);
  Outcome run_request(Session& s, std::uint16_t type, std::span<std::uint8_t> plain, Response& r);
  Outcome alloc(Session& s, std::span<const std::uint8_t> plain, Response& r);
  Outcome free_buffers(Session& s, std::span<const std::uint8_t> plain);
  Outcome model_key(Session& s, std::span<std::uint8_t> plain);
  Outcome submit(Session& s, std::span<std::uint8_t> plain, Response& r);
  void destroy(Session& s);
  void count(const Outcome& o);

  DeviceDriver device_;
  Platform& platform_;
  UntrustedMemory& memory_;
  ServiceOptions options_;
  bool initialised_ = false;
  Area ring_{};
  std::array<std::uint8_t, HIX_SESSION_PK_BYTES> pk_{};
  std::array<std::uint8_t, 32> sk_{};
  SessionTable sessions_;
  gpu_enclave_stats stats_{};
};

}  // namespace hix::session
