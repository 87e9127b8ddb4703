// The GPU enclave (docs/gpu-enclave.md, docs/specs/hix-session.md §9): the
// ecalls of gpu_enclave_abi.h wired to the session core with the enclave's
// own seams — BAR0 through its GLRANGE (a range of ELRANGE above the image
// that hix.ko maps to the locked device, hix-isa §12, §13), untrusted
// memory only outside ELRANGE, RDRAND and EREPORT.
//
// The SDK's dispatcher has already copied each ecall buffer into the
// enclave heap (docs/enclave-sdk.md §2): the handlers read their input from
// that copy only, once.
#include <stdint.h>
#include <string.h>

#include <span>

#include "gpu_enclave_abi.h"
#include "hix/session/service.hpp"
#include "hix_sdk/ecall.h"
#include "hix_sdk/enclu.h"
#include "hix_sdk/report_ecall.h"
#include "hix_sdk/runtime.h"

// The end of the image as linked (enclave.ld): ELRANGE above it holds no
// page, which is where a GLRANGE may lie.
extern "C" const uint8_t hix_lds_image_end[];  // NOLINT(bugprone-dynamic-static-initializers)

namespace {

using hix::session::Linear;

constexpr uint64_t kBar0Size = HIX_GPU_BAR0_SIZE;

// BAR0 through the GLRANGE. Until INIT names a GLRANGE that lies in the
// unpopulated part of ELRANGE, reads return all ones and writes are dropped:
// the enclave never lets its host aim it at its own pages or outside.
class GlrangeMmio final : public hix::session::Mmio {
 public:
  // Accepts `glrange` only inside ELRANGE, above the image, page-aligned
  // and large enough for BAR0.
  bool set_base(uint64_t glrange) {
    // reinterpret_cast: the linker symbol's address is the image end.
    const uint64_t image_end = reinterpret_cast<uintptr_t>(hix_lds_image_end);
    if ((glrange & 0xFFFu) != 0 || glrange < image_end ||
        hix_sdk_inside_enclave(glrange, kBar0Size) == 0) {
      base_ = 0;
      return false;
    }
    base_ = glrange;
    return true;
  }
  uint32_t read32(hix::gpu::Reg32 reg) override {
    if (base_ == 0) return HIX_GPU_REFUSED_READ;
    return *address(reg);
  }
  void write32(hix::gpu::Reg32 reg, uint32_t value) override {
    if (base_ != 0) *address(reg) = value;
  }

 private:
  // volatile: each call is exactly one 32-bit device access, never merged or
  // elided (the device refuses any other width).
  volatile uint32_t* address(hix::gpu::Reg32 reg) const {
    // reinterpret_cast: a register's linear address inside the GLRANGE.
    return reinterpret_cast<volatile uint32_t*>(  // NOLINT(performance-no-int-to-ptr)
        base_ + hix::gpu::offset_of(reg).value);
  }
  uint64_t base_ = 0;
};

// Untrusted memory: only ranges entirely outside ELRANGE, written with one
// copy from enclave memory.
class OutsideMemory final : public hix::session::UntrustedMemory {
 public:
  [[nodiscard]] bool accepts(Linear at, uint64_t len) const override {
    return at.value != 0 && len != 0 && hix_sdk_outside_enclave(at.value, len) != 0;
  }
  void write(Linear at, std::span<const uint8_t> bytes) override {
    if (!accepts(at, bytes.size())) hix_sdk_abort();  // the core asked accepts() first
    // reinterpret_cast: an untrusted linear address outside ELRANGE.
    memcpy(reinterpret_cast<void*>(at.value), bytes.data(),  // NOLINT(performance-no-int-to-ptr)
           bytes.size());
  }
};

// RDRAND (the SDK's randombytes) and ENCLU[EREPORT].
class EnclavePlatform final : public hix::session::SodiumPlatform {
 public:
  [[nodiscard]] bool report(hix::session::ReportData data, hix::session::ReportOut out) override {
    uint8_t report_data[HIX_REPORT_DATA_SIZE];
    memcpy(report_data, data.data(), sizeof report_data);
    hix_report r;
    memset(&r, 0, sizeof r);
    if (hix_ereport(report_data, &r) != HIX_OK) return false;
    memcpy(out.data(), &r, sizeof r);
    return true;
  }
};

GlrangeMmio g_mmio;
OutsideMemory g_memory;
EnclavePlatform g_platform;
hix::session::Service g_service(g_mmio, g_memory, g_platform);

// Copies a fixed-size ecall struct out of the buffer, runs `op` on it and
// copies it back.
template <class T, class Op>
hix_ecall_status fixed(uint8_t* buf, size_t len, Op op) {
  if (len != sizeof(T)) return HIX_ECALL_BAD_SIZE;
  T io;
  memcpy(&io, buf, sizeof io);
  op(io);
  memcpy(buf, &io, sizeof io);
  return HIX_ECALL_OK;
}

hix_ecall_status ecall_init(uint8_t* buf, size_t len) {
  return fixed<gpu_enclave_init>(buf, len, [](gpu_enclave_init& io) {
    // The GLRANGE may be named again only while INIT has not succeeded.
    if (!g_service.initialised() && !g_mmio.set_base(io.glrange)) {
      io.status = HIX_SESSION_BAD_REQUEST;
      io.caps = 0;
      memset(io.enclave_pk, 0, sizeof io.enclave_pk);
      return;
    }
    g_service.init(io);
  });
}

hix_ecall_status ecall_open(uint8_t* buf, size_t len) {
  return fixed<gpu_enclave_open>(buf, len, [](gpu_enclave_open& io) { g_service.open(io); });
}

hix_ecall_status ecall_call(uint8_t* buf, size_t len) {
  return g_service.call(std::span<uint8_t>(buf, len)) == hix::session::CallBuffer::ok
             ? HIX_ECALL_OK
             : HIX_ECALL_BAD_SIZE;
}

hix_ecall_status ecall_drop(uint8_t* buf, size_t len) {
  return fixed<gpu_enclave_drop>(buf, len, [](gpu_enclave_drop& io) { g_service.drop(io); });
}

hix_ecall_status ecall_stats(uint8_t* buf, size_t len) {
  return fixed<gpu_enclave_stats>(buf, len, [](gpu_enclave_stats& io) { g_service.stats(io); });
}

}  // namespace

// The order is gpu_enclave_abi.h's enum gpu_enclave_ecall.
extern "C" {
HIX_ECALL_TABLE(hix_sdk_ecall_report, ecall_init, ecall_open, ecall_call, ecall_drop, ecall_stats);
}
