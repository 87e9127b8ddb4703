// The in-process HIX platform for host tests (see fake_platform.hpp).
// Built with -fno-stack-protector: the signal handler starts with FS.base
// still pointing at the enclave's TCB and switches it back first.
#include "fake_platform.hpp"

#include <signal.h>
#include <sodium.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cpuid.h>

#include <cstring>
#include <map>
#include <string>

namespace hix::test {

// The handler's and the driver's way to the platform's private state.
struct PlatformAccess {
  static std::vector<AddPagesCall>& calls(FakePlatform& p) { return p.add_calls_; }
  static std::array<std::uint8_t, 32>& last(FakePlatform& p) { return p.last_mrenclave_; }
  static bool enforce(const FakePlatform& p) { return p.enforce_; }
  static bool scrub_on_abort(const FakePlatform& p) { return p.scrub_on_abort_; }
  static const std::array<std::uint8_t, 32>& public_key(const FakePlatform& p) {
    return p.public_key_;
  }
  static const std::array<std::uint8_t, 64>& secret_key(const FakePlatform& p) {
    return p.secret_key_;
  }
  static const std::array<std::uint8_t, 32>& seal_root(const FakePlatform& p) {
    return p.seal_root_;
  }
};

namespace {

constexpr std::uint64_t kPage = HIX_PAGE_SIZE;
constexpr int kSignals[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP};
constexpr int kSignalCount = sizeof kSignals / sizeof kSignals[0];
constexpr std::uint64_t kVectorGp = 13;
constexpr std::uint64_t kRflagsZf = 1u << 6;
constexpr std::size_t kAltStackSize = std::size_t{256} << 10;
constexpr unsigned long kHwcap2Fsgsbase = 1ul << 1;

struct FakeEnclave {
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  bool initialised = false;
  bool dead = false;
  bool busy = false;
  std::map<std::uint64_t, std::uint64_t> epcm;  // offset -> EADD flags
  std::vector<std::uint8_t> records;            // spec §6 input, hashed at EINIT
  std::array<std::uint8_t, 32> mrenclave{};
};

// The handler's view of the world. Only one FakePlatform exists at a time.
struct Global {
  FakePlatform* platform = nullptr;
  std::vector<FakeEnclave*> enclaves;
  FakeEnclave* inside = nullptr;
  std::uint64_t saved_rsp = 0;
  std::uint64_t saved_rbp = 0;
  std::uint64_t saved_rflags = 0;
  std::uint64_t saved_fs = 0;
  std::uint64_t aep = 0;
  struct sigaction previous[kSignalCount];
  stack_t previous_alt_stack{};
};
Global g;

// A linear address of this process as a pointer: the ISA's operands, the
// ioctl's src and ELRANGE are all addresses.
template <class T = void>
T* at(std::uint64_t linear) {
  // reinterpret_cast: integer linear address to pointer, by definition here.
  return reinterpret_cast<T*>(linear);  // NOLINT(performance-no-int-to-ptr)
}

// --- measurement, written from spec §6's table --------------------------------

void put_le64(std::uint8_t* at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void log_ecreate(FakeEnclave& e) {
  std::uint8_t r[64] = {};
  static constexpr std::uint8_t kTag[8] = {'E', 'C', 'R', 'E', 'A', 'T', 'E', 0};
  std::memcpy(r, kTag, sizeof kTag);
  put_le64(r + 12, e.size);  // after the u32 SSA frame size (0)
  e.records.insert(e.records.end(), r, r + 64);
}

void log_eadd(FakeEnclave& e, std::uint64_t offset, std::uint64_t flags) {
  std::uint8_t r[64] = {};
  static constexpr std::uint8_t kTag[8] = {'E', 'A', 'D', 'D', 0, 0, 0, 0};
  std::memcpy(r, kTag, sizeof kTag);
  put_le64(r + 8, offset);
  put_le64(r + 16, flags);
  e.records.insert(e.records.end(), r, r + 64);
}

void log_eextend(FakeEnclave& e, std::uint64_t offset, const std::uint8_t* chunk) {
  std::uint8_t r[64] = {};
  static constexpr std::uint8_t kTag[8] = {'E', 'E', 'X', 'T', 'E', 'N', 'D', 0};
  std::memcpy(r, kTag, sizeof kTag);
  put_le64(r + 8, offset);
  e.records.insert(e.records.end(), r, r + 64);
  e.records.insert(e.records.end(), chunk, chunk + HIX_EEXTEND_CHUNK);
}

// --- registers ----------------------------------------------------------------

std::uint64_t reg(const ucontext_t* uc, int r) {
  return static_cast<std::uint64_t>(uc->uc_mcontext.gregs[r]);
}

void set_reg(ucontext_t* uc, int r, std::uint64_t v) {
  uc->uc_mcontext.gregs[r] = static_cast<greg_t>(v);
}

std::uint64_t read_fs_base() {
  std::uint64_t v = 0;
  // asm: RDFSBASE (FSGSBASE, checked by unsupported_reason()).
  asm volatile("rdfsbase %0" : "=r"(v));
  return v;
}

void write_fs_base(std::uint64_t v) {
  // asm: WRFSBASE; the handler must run on the test process's own TLS.
  asm volatile("wrfsbase %0" : : "r"(v) : "memory");
}

bool is_enclu(std::uint64_t rip) {
  const auto* p = at<const std::uint8_t>(rip);  // the faulting instruction's bytes
  return p[0] == 0x0f && p[1] == 0x01 && p[2] == 0xd7;
}

bool in_elrange(const FakeEnclave& e, std::uint64_t addr, std::uint64_t len) {
  return addr >= e.base && len <= e.size && addr - e.base <= e.size - len;
}

// Spec §3 step 2: x87/MMX, XMM, YMM/ZMM and MXCSR to their reset state.
void scrub_vector_state(ucontext_t* uc) {
  _libc_fpstate* fp = uc->uc_mcontext.fpregs;
  std::memset(fp->_st, 0, sizeof fp->_st);
  std::memset(fp->_xmm, 0, sizeof fp->_xmm);
  fp->cwd = 0x37f;
  fp->swd = 0;
  fp->ftw = 0;
  fp->fop = 0;
  fp->rip = 0;
  fp->rdp = 0;
  fp->mxcsr = 0x1f80;
  // An XSAVE signal frame: clearing a component's XSTATE_BV bit makes the
  // kernel's XRSTOR load its initial (zero) state: AVX (2), AVX-512 (5-7).
  // reinterpret_cast: the FXSAVE area is the start of the kernel's XSAVE frame.
  auto* bytes = reinterpret_cast<std::uint8_t*>(fp);
  std::uint32_t magic1 = 0;
  std::memcpy(&magic1, bytes + 464, sizeof magic1);  // sw_reserved.magic1
  if (magic1 == FP_XSTATE_MAGIC1) {
    std::uint64_t xstate_bv = 0;
    std::memcpy(&xstate_bv, bytes + 512, sizeof xstate_bv);
    xstate_bv &= ~std::uint64_t{0xe4};
    std::memcpy(bytes + 512, &xstate_bv, sizeof xstate_bv);
  }
}

// Spec §3: kill the enclave and resume at the AEP.
void abort_enclave(ucontext_t* uc, std::uint64_t vector) {
  FakeEnclave& e = *g.inside;
  e.dead = true;
  e.busy = false;
  for (const auto& [offset, flags] : e.epcm) {
    void* page = at(e.base + offset);
    mprotect(page, kPage, PROT_READ | PROT_WRITE);
    std::memset(page, 0, kPage);
  }
  if (PlatformAccess::scrub_on_abort(*g.platform)) {
    for (const int r : {REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_R8, REG_R9,
                        REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15}) {
      set_reg(uc, r, 0);
    }
    scrub_vector_state(uc);
  }
  set_reg(uc, REG_RSP, g.saved_rsp);
  set_reg(uc, REG_RBP, g.saved_rbp);
  set_reg(uc, REG_EFL, g.saved_rflags);
  set_reg(uc, REG_RAX, HIX_ERR_ENCLAVE_ABORTED);
  set_reg(uc, REG_RBX, vector);
  set_reg(uc, REG_RIP, g.aep);
  g.inside = nullptr;
}

void emulate_eenter(ucontext_t* uc) {
  const std::uint64_t tcs = reg(uc, REG_RBX);
  FakeEnclave* target = nullptr;
  hix_status refusal = HIX_ERR_BAD_TCS;
  for (FakeEnclave* e : g.enclaves) {
    if (!in_elrange(*e, tcs, kPage) || (tcs - e->base) % kPage != 0) continue;
    const auto it = e->epcm.find(tcs - e->base);
    if (!e->initialised || it == e->epcm.end() ||
        (it->second & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_TCS) {
      break;
    }
    if (e->dead) {
      refusal = HIX_ERR_ENCLAVE_DEAD;
    } else if (e->busy) {
      refusal = HIX_ERR_TCS_BUSY;
    } else {
      target = e;
    }
    break;
  }
  const std::uint64_t after = reg(uc, REG_RIP) + 3;
  if (target == nullptr) {
    set_reg(uc, REG_RAX, refusal);
    set_reg(uc, REG_EFL, reg(uc, REG_EFL) | kRflagsZf);
    set_reg(uc, REG_RIP, after);
    return;
  }
  hix_tcs t;
  std::memcpy(&t, at<const void>(tcs), sizeof t);
  target->busy = true;
  g.inside = target;
  g.saved_rsp = reg(uc, REG_RSP);
  g.saved_rbp = reg(uc, REG_RBP);
  g.saved_rflags = reg(uc, REG_EFL);
  g.saved_fs = read_fs_base();
  g.aep = reg(uc, REG_RCX);
  set_reg(uc, REG_RIP, target->base + t.entry);
  set_reg(uc, REG_RSP, target->base + t.stack);
  set_reg(uc, REG_RBP, 0);
  set_reg(uc, REG_RCX, after);
  set_reg(uc, REG_RAX, 0);
}

hix_status emulate_ereport(const FakeEnclave& e, std::uint64_t data, std::uint64_t out) {
  if (!in_elrange(e, data, HIX_REPORT_DATA_SIZE) || !in_elrange(e, out, sizeof(hix_report))) {
    return HIX_ERR_INVALID_PARAM;
  }
  const FakePlatform& p = *g.platform;
  hix_report r;
  std::memset(&r, 0, sizeof r);
  r.version = HIX_REPORT_VERSION;
  r.isa_version = HIX_ISA_VERSION;
  r.attributes = PlatformAccess::enforce(p) ? 0 : HIX_ATTR_UNENFORCED;
  std::memcpy(r.mrenclave, e.mrenclave.data(), sizeof r.mrenclave);
  std::memcpy(r.report_data, at<const void>(data), sizeof r.report_data);
  const auto& pk = PlatformAccess::public_key(p);
  crypto_hash_sha256(r.platform_key_id, pk.data(), pk.size());
  // reinterpret_cast: the signature covers the report's first 192 bytes as bytes.
  crypto_sign_detached(r.signature, nullptr, reinterpret_cast<const std::uint8_t*>(&r),
                       HIX_REPORT_SIGNED_SIZE, PlatformAccess::secret_key(p).data());
  std::memcpy(at(out), &r, sizeof r);
  return HIX_OK;
}

hix_status emulate_egetkey(const FakeEnclave& e, std::uint64_t request, std::uint64_t out) {
  if (!in_elrange(e, request, sizeof(hix_keyrequest)) || !in_elrange(e, out, HIX_KEY_SIZE)) {
    return HIX_ERR_INVALID_PARAM;
  }
  hix_keyrequest req;
  std::memcpy(&req, at<const void>(request), sizeof req);
  if (req.name != HIX_KEY_SEAL) return HIX_ERR_INVALID_PARAM;
  static constexpr char kLabel[] = "HIX-SEAL-KEY-v1";
  crypto_auth_hmacsha256_state st;
  const auto& root = PlatformAccess::seal_root(*g.platform);
  crypto_auth_hmacsha256_init(&st, root.data(), root.size());
  // reinterpret_cast: the label's characters are hashed as bytes.
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const std::uint8_t*>(kLabel),
                                sizeof kLabel - 1);
  crypto_auth_hmacsha256_update(&st, e.mrenclave.data(), e.mrenclave.size());
  crypto_auth_hmacsha256_update(&st, req.id, sizeof req.id);
  std::uint8_t key[HIX_KEY_SIZE];
  crypto_auth_hmacsha256_final(&st, key);
  std::memcpy(at(out), key, sizeof key);
  sodium_memzero(key, sizeof key);
  return HIX_OK;
}

void on_fault(int sig, siginfo_t* /*info*/, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  if (g.inside != nullptr) {
    // First of all: this code's TLS, not the enclave's TCB.
    const std::uint64_t enclave_fs = read_fs_base();
    write_fs_base(g.saved_fs);
    const std::uint64_t rip = reg(uc, REG_RIP);
    FakeEnclave& e = *g.inside;
    if (!in_elrange(e, rip, 3) || !is_enclu(rip)) {
      abort_enclave(uc, reg(uc, REG_TRAPNO));
      return;
    }
    switch (reg(uc, REG_RAX)) {
      case HIX_EEXIT:
        e.busy = false;
        g.inside = nullptr;
        set_reg(uc, REG_RIP, reg(uc, REG_RBX));
        set_reg(uc, REG_RSP, g.saved_rsp);
        set_reg(uc, REG_RBP, g.saved_rbp);
        return;  // FS.base is already the caller's again
      case HIX_EREPORT:
        set_reg(uc, REG_RAX, emulate_ereport(e, reg(uc, REG_RBX), reg(uc, REG_RCX)));
        break;
      case HIX_EGETKEY:
        set_reg(uc, REG_RAX, emulate_egetkey(e, reg(uc, REG_RBX), reg(uc, REG_RCX)));
        break;
      default:  // EENTER inside, unknown leaves: #GP(0), which aborts
        abort_enclave(uc, kVectorGp);
        return;
    }
    set_reg(uc, REG_RIP, rip + 3);
    write_fs_base(enclave_fs);
    return;
  }
  if (is_enclu(reg(uc, REG_RIP)) && reg(uc, REG_RAX) == HIX_EENTER) {
    emulate_eenter(uc);
    return;
  }
  // Not ours: let the default action happen when the instruction re-runs.
  signal(sig, SIG_DFL);
}

// --- the driver ----------------------------------------------------------------

}  // namespace

class FakeDriver final : public loader::EnclaveDriver {
 public:
  explicit FakeDriver(FakePlatform& platform) : platform_(platform) {}
  ~FakeDriver() override {
    if (enclave_.size != 0) {
      munmap(at(enclave_.base), enclave_.size);
    }
    std::erase(g.enclaves, &enclave_);
  }
  FakeDriver(const FakeDriver&) = delete;
  FakeDriver& operator=(const FakeDriver&) = delete;

  loader::Result<hix_ioc_info> info() override {
    hix_ioc_info i{};
    i.isa_version = HIX_ISA_VERSION;
    i.encls_leaves = HIX_ENCLS_LEAF_MASK;
    i.enclu_leaves = HIX_ENCLU_LEAF_MASK;
    return i;
  }

  loader::Outcome create(const hix_ioc_create& r) override {
    if (enclave_.size != 0) return {loader::Status::create_failed, "EEXIST"};
    const bool pow2 = r.size >= kPage && (r.size & (r.size - 1)) == 0;
    if (!pow2 || r.base % r.size != 0 || r.base + r.size > (std::uint64_t{1} << 47) ||
        r.attributes != 0) {
      return {loader::Status::create_failed, "ECREATE: HIX_ERR_INVALID_PARAM"};
    }
    void* want = at(r.base);
    void* got = mmap(want, r.size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (got != want) return {loader::Status::create_failed, "ELRANGE is not free in this process"};
    enclave_.base = r.base;
    enclave_.size = r.size;
    log_ecreate(enclave_);
    g.enclaves.push_back(&enclave_);
    PlatformAccess::calls(platform_).clear();
    return {};
  }

  loader::Outcome add_pages(hix_ioc_add_pages& r) override {
    PlatformAccess::calls(platform_).push_back({r.offset, r.length, r.flags, r.options});
    r.count = 0;
    r.status = HIX_OK;
    const std::uint64_t perms = r.flags & HIX_PAGE_PERM_MASK;
    const std::uint64_t type = r.flags & HIX_PAGE_TYPE_MASK;
    const bool flags_ok = (r.flags & ~(HIX_PAGE_PERM_MASK | HIX_PAGE_TYPE_MASK)) == 0 &&
                          (type == HIX_PAGE_TYPE_REG ||
                           (type == HIX_PAGE_TYPE_TCS && perms == (HIX_PAGE_R | HIX_PAGE_W)));
    if (enclave_.size == 0) return {loader::Status::add_failed, "ENXIO"};
    if (enclave_.initialised || !flags_ok || r.length % kPage != 0 || r.offset % kPage != 0) {
      r.status = enclave_.initialised ? HIX_ERR_ENCLAVE_STATE : HIX_ERR_INVALID_PARAM;
      return {loader::Status::add_failed, "EINVAL"};
    }
    for (std::uint64_t done = 0; done < r.length; done += kPage) {
      const std::uint64_t offset = r.offset + done;
      if (offset >= enclave_.size) {
        r.status = HIX_ERR_INVALID_PARAM;
        return {loader::Status::add_failed, "EINVAL"};
      }
      if (enclave_.epcm.count(offset) != 0) {
        r.status = HIX_ERR_LINADDR_IN_USE;
        return {loader::Status::add_failed, "EINVAL"};
      }
      const auto* src = at<const std::uint8_t>(r.src + done);
      auto* dst = at<std::uint8_t>(enclave_.base + offset);
      if (type == HIX_PAGE_TYPE_TCS) {
        hix_tcs t;
        std::memcpy(&t, src, sizeof t);
        if (t.flags != 0 || t.stack % 16 != 0 || t.stack > enclave_.size ||
            t.entry >= enclave_.size) {
          r.status = HIX_ERR_INVALID_PARAM;
          return {loader::Status::add_failed, "EINVAL"};
        }
      }
      std::memcpy(dst, src, kPage);
      enclave_.epcm[offset] = r.flags;
      log_eadd(enclave_, offset, r.flags);
      if ((r.options & HIX_IOC_MEASURE) != 0) {
        for (std::uint64_t c = 0; c < kPage; c += HIX_EEXTEND_CHUNK) {
          log_eextend(enclave_, offset + c, dst + c);
        }
      }
      ++r.count;
    }
    return {};
  }

  loader::Outcome init(hix_ioc_init& out) override {
    out.status = HIX_OK;
    bool has_tcs = false;
    for (const auto& [offset, flags] : enclave_.epcm) {
      has_tcs = has_tcs || (flags & HIX_PAGE_TYPE_MASK) == HIX_PAGE_TYPE_TCS;
    }
    if (enclave_.size == 0 || enclave_.initialised || !has_tcs) {
      out.status = has_tcs ? HIX_ERR_ENCLAVE_STATE : HIX_ERR_NO_TCS;
      return {loader::Status::init_failed, "EINVAL"};
    }
    crypto_hash_sha256(enclave_.mrenclave.data(), enclave_.records.data(), enclave_.records.size());
    PlatformAccess::last(platform_) = enclave_.mrenclave;
    // The EPCM permissions, enforced by the MMU from now on; pages never
    // added (the stack guard) stay inaccessible.
    mprotect(at(enclave_.base), enclave_.size, PROT_NONE);
    for (const auto& [offset, flags] : enclave_.epcm) {
      int prot = 0;
      if ((flags & HIX_PAGE_R) != 0) prot |= PROT_READ;
      if ((flags & HIX_PAGE_W) != 0) prot |= PROT_WRITE;
      if ((flags & HIX_PAGE_X) != 0) prot |= PROT_EXEC;
      mprotect(at(enclave_.base + offset), kPage, prot);
    }
    enclave_.initialised = true;
    return {};
  }

  loader::Outcome map(loader::LinearAddress base, std::uint64_t size) override {
    if (base.value != enclave_.base || size != enclave_.size) {
      return {loader::Status::map_failed, "mmap must cover exactly ELRANGE"};
    }
    return {};
  }

 private:
  FakePlatform& platform_;
  FakeEnclave enclave_;
};

std::string FakePlatform::unsupported_reason() {
  if ((getauxval(AT_HWCAP2) & kHwcap2Fsgsbase) == 0) {
    return "the kernel does not enable FSGSBASE (the SDK's entry stub uses WRFSBASE)";
  }
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & bit_RDRND) == 0) {
    return "this CPU has no RDRAND (the SDK's randombytes)";
  }
  return {};
}

FakePlatform::FakePlatform() : alt_stack_(kAltStackSize) {
  if (sodium_init() < 0) std::abort();
  crypto_sign_keypair(public_key_.data(), secret_key_.data());
  static constexpr char kRootLabel[] = "HIX-SEAL-ROOT-v1";
  // reinterpret_cast: the label's characters are hashed as bytes.
  crypto_auth_hmacsha256(seal_root_.data(), reinterpret_cast<const std::uint8_t*>(kRootLabel),
                         sizeof kRootLabel - 1, secret_key_.data());  // keyed with the seed
  g.platform = this;
  stack_t ss{};
  ss.ss_sp = alt_stack_.data();
  ss.ss_size = alt_stack_.size();
  sigaltstack(&ss, &g.previous_alt_stack);
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < kSignalCount; ++i) sigaction(kSignals[i], &sa, &g.previous[i]);
}

FakePlatform::~FakePlatform() {
  for (int i = 0; i < kSignalCount; ++i) sigaction(kSignals[i], &g.previous[i], nullptr);
  sigaltstack(&g.previous_alt_stack, nullptr);
  g.platform = nullptr;
  sodium_memzero(secret_key_.data(), secret_key_.size());
}

std::unique_ptr<loader::EnclaveDriver> FakePlatform::open() {
  return std::make_unique<FakeDriver>(*this);
}

}  // namespace hix::test
