// Loading an enclave through the driver and entering it (docs/enclave-sdk.md §5).
#include "hix/loader/enclave.hpp"

#include <cpuid.h>

#include <cstdio>
#include <cstring>

#include "hix_sdk/ecall_abi.h"

namespace hix::loader {

namespace {

constexpr std::uint32_t kNeededEnclu =
    (1u << HIX_EREPORT) | (1u << HIX_EENTER) | (1u << HIX_EEXIT) | (1u << HIX_EGETKEY);

// The FXSAVE image (Intel SDM Vol. 1, 10.5.1).
constexpr std::size_t kFxsaveMxcsr = 24;
constexpr std::size_t kFxsaveSt0 = 32;    // 8 x 16 bytes, 10 used
constexpr std::size_t kFxsaveXmm0 = 160;  // 16 x 16 bytes
constexpr std::uint32_t kMxcsrStatusFlags = 0x3f;

std::string u32_detail(const char* what, std::uint64_t value) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s %llu", what, static_cast<unsigned long long>(value));
  return buf;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

bool host_has_avx() {
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  constexpr unsigned kOsxsave = 1u << 27;
  constexpr unsigned kAvx = 1u << 28;
  if ((ecx & kOsxsave) == 0 || (ecx & kAvx) == 0) return false;
  unsigned lo = 0;
  unsigned hi = 0;
  // asm: XGETBV(0) reads XCR0 (OSXSAVE is set, so it is legal); bits 1-2 = SSE+AVX state.
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0x6u) == 0x6u;
}

Enclave::Enclave(std::unique_ptr<EnclaveDriver> driver, LinearAddress base, std::uint64_t size,
                 LinearAddress tcs)
    : driver_(std::move(driver)),
      base_(base),
      size_(size),
      tcs_(tcs),
      capture_ymm_(host_has_avx()) {}

Result<Enclave> Enclave::load(std::unique_ptr<EnclaveDriver> driver, const EnclaveImage& image) {
  if (image.pages.empty() || image.tcs_offsets.empty()) return {Status::no_tcs, "empty image"};
  auto info = driver->info();
  if (!info.ok()) return {info.status(), info.detail()};
  if ((info->isa_version >> 16) != HIX_ISA_VERSION_MAJOR ||
      (info->enclu_leaves & kNeededEnclu) != kNeededEnclu) {
    return {Status::unsupported_platform,
            "HIX ISA revision 1 with EENTER/EEXIT/EREPORT/EGETKEY needed"};
  }

  hix_ioc_create create{};
  create.base = image.base.value;
  create.size = image.size;
  create.attributes = 0;
  if (Outcome o = driver->create(create); !o.ok()) return {o.status, o.detail};

  // Runs of consecutive pages with equal flags go down in one ioctl; the
  // order (and so the measurement) is the page list's.
  std::vector<std::uint8_t> run;
  for (std::size_t i = 0; i < image.pages.size();) {
    std::size_t j = i + 1;
    while (j < image.pages.size() && image.pages[j].flags == image.pages[i].flags &&
           image.pages[j].offset.value == image.pages[j - 1].offset.value + HIX_PAGE_SIZE) {
      ++j;
    }
    run.resize((j - i) * HIX_PAGE_SIZE);
    for (std::size_t k = i; k < j; ++k) {
      std::memcpy(run.data() + (k - i) * HIX_PAGE_SIZE, image.pages[k].contents.data(),
                  HIX_PAGE_SIZE);
    }
    hix_ioc_add_pages add{};
    // reinterpret_cast: the ioctl carries the user buffer as an integer address.
    add.src = reinterpret_cast<std::uint64_t>(run.data());
    add.offset = image.pages[i].offset.value;
    add.length = run.size();
    add.flags = image.pages[i].flags;
    add.options = HIX_IOC_MEASURE;
    const Outcome o = driver->add_pages(add);
    if (!o.ok() || add.count != j - i) {
      return {Status::add_failed, (o.ok() ? std::string("short add") : o.detail) + ", " +
                                      u32_detail("ENCLS status", add.status) + " at offset " +
                                      std::to_string(add.offset + add.count * HIX_PAGE_SIZE)};
    }
    i = j;
  }

  hix_ioc_init init{};
  const Outcome o = driver->init(init);
  if (!o.ok() || init.status != HIX_OK) {
    return {Status::init_failed, (o.ok() ? std::string("EINIT") : o.detail) + ", " +
                                     u32_detail("ENCLS status", init.status)};
  }
  if (Outcome m = driver->map(image.base, image.size); !m.ok()) return {m.status, m.detail};
  return Enclave(std::move(driver), image.base, image.size,
                 image.linear(image.tcs_offsets.front()));
}

EcallResult Enclave::ecall(std::uint64_t number, std::span<std::uint8_t> buffer) {
  EcallResult r;
  hix_loader_call& call = r.registers;
  call.tcs = tcs_.value;
  call.number = number;
  // reinterpret_cast: the enclave receives the buffer as a linear address in RSI.
  call.buffer = reinterpret_cast<std::uint64_t>(buffer.data());
  call.size = buffer.size();
  call.capture_ymm = capture_ymm_ ? 1 : 0;
  hix_loader_eenter(&call);
  if (call.landing == HIX_LOADER_LANDED_AEP) {
    r.status = Status::enclave_aborted;
    r.isa_status = call.gpr.rax;
    r.vector = call.gpr.rbx;
  } else if (call.gpr.rax == HIX_EEXIT) {
    // EENTER's refusals are ISA status codes (11..13), never 4: RAX = 4 can
    // only be the exit stub's EEXIT leaf.
    r.status = Status::ok;
    r.enclave_status = call.gpr.rdi;
  } else {
    r.status = Status::enter_failed;
    r.isa_status = call.gpr.rax;
  }
  return r;
}

std::vector<std::string> unscrubbed_registers(const EcallResult& r) {
  std::vector<std::string> bad;
  const hix_loader_gprs& g = r.registers.gpr;
  const bool exited = r.status == Status::ok;
  struct Named {
    const char* name;
    std::uint64_t value;
  };
  const Named gprs[] = {{"rcx", g.rcx}, {"rdx", g.rdx}, {"rsi", g.rsi}, {"r8", g.r8},
                        {"r9", g.r9},   {"r10", g.r10}, {"r11", g.r11}, {"r12", g.r12},
                        {"r13", g.r13}, {"r14", g.r14}, {"r15", g.r15}};
  for (const Named& n : gprs) {
    if (n.value != 0) bad.emplace_back(n.name);
  }
  // After EEXIT RDI is the status; after an abort it must be clear.
  if (!exited && g.rdi != 0) bad.emplace_back("rdi");

  const std::uint8_t* fx = r.registers.fxsave;
  std::uint32_t mxcsr = 0;
  std::memcpy(&mxcsr, fx + kFxsaveMxcsr, sizeof mxcsr);
  if ((mxcsr & kMxcsrStatusFlags) != 0) bad.emplace_back("mxcsr-flags");
  for (std::size_t i = 0; i < 8; ++i) {
    if (!all_zero(fx + kFxsaveSt0 + 16 * i, 10)) bad.push_back("st" + std::to_string(i));
  }
  for (std::size_t i = 0; i < 16; ++i) {
    if (!all_zero(fx + kFxsaveXmm0 + 16 * i, 16)) bad.push_back("xmm" + std::to_string(i));
  }
  if (r.registers.capture_ymm != 0) {
    for (std::size_t i = 0; i < 16; ++i) {
      if (!all_zero(r.registers.ymm_high[i], 16)) bad.push_back("ymm" + std::to_string(i) + "h");
    }
  }
  return bad;
}

std::string ecall_status_name(std::uint64_t status) {
  switch (status) {
    case HIX_ECALL_OK:
      return "ok";
    case HIX_ECALL_UNKNOWN:
      return "unknown";
    case HIX_ECALL_BAD_BUFFER:
      return "bad_buffer";
    case HIX_ECALL_NO_MEMORY:
      return "no_memory";
    case HIX_ECALL_BAD_SIZE:
      return "bad_size";
    case HIX_ECALL_FAILED:
      return "failed";
    default:
      return "status_" + std::to_string(status);
  }
}

}  // namespace hix::loader
