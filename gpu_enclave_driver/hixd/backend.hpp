// What runs the sessions behind hixd (docs/specs/hix-session.md §9, §10):
// the GPU enclave entered through its ecalls (protected mode), or the
// session core in hixd's own process (plain mode; tests). The calls mirror
// the ecalls and take their ABI structs, so both kinds behave alike.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gpu_enclave_abi.h"

namespace hix::hixd {

// How an entry into the backend went.
enum class Entry : std::uint8_t {
  ok,       // it ran; the struct's own status field says how
  refused,  // the ecall refused its buffer (HIX_ECALL_* other than OK)
  dead,     // the enclave aborted or cannot be entered: restart it
};

struct EntryResult {
  Entry entry = Entry::ok;
  std::string why;  // for refused and dead
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual bool plain() const = 0;
  // "mrenclave=<hex>" or "plain": what hixd's ready line names.
  virtual std::string identity() const = 0;

  virtual EntryResult init(gpu_enclave_init& io) = 0;
  virtual EntryResult open(gpu_enclave_open& io) = 0;
  // `buffer`: struct gpu_enclave_call then the sealed request, sized by
  // hix::session::call_buffer_bytes.
  virtual EntryResult call(std::span<std::uint8_t> buffer) = 0;
  virtual EntryResult drop(gpu_enclave_drop& io) = 0;
  virtual EntryResult stats(gpu_enclave_stats& out) = 0;

 protected:
  Backend() = default;
  Backend(const Backend&) = default;
  Backend& operator=(const Backend&) = default;
};

}  // namespace hix::hixd
