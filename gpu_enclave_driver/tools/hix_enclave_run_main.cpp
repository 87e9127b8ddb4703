// hix-enclave-run IMAGE [--report HEX] [--bench N [--null-ecall K]]
//                       [--ecall N [HEX]]... [--device PATH]
//
// Loads an SDK enclave image through /dev/hix (docs/enclave-sdk.md §5) and:
//   - prints EXPECTED_MRENCLAVE=<hex>, the offline measurement of IMAGE;
//   - runs the report ecall (ecall 0, the SDK convention) with HEX (up to 64
//     bytes, zero-padded; default all zero) as report data and prints
//     MRENCLAVE=<hex> (from the report), REPORT=<hex of the 256 bytes> and
//     MRENCLAVE_MATCH=yes|no;
//   - with --bench N, times N null ecalls (ecall K, default 3) and prints
//     ecall_roundtrip_ns=<median> (plus mean/min/max);
//   - runs each --ecall N in order with HEX (default empty) as the in/out
//     buffer and prints one ECALL line: the outcome, the buffer afterwards
//     and UNSCRUBBED=<registers left non-zero, or none>; then one line
//     ECALL_NS=N <nanoseconds from EENTER's call to its return>.
// Exit status: 0 all ok; 2 usage, image or load failure; 3 an ecall returned
// an error status; 4 the enclave aborted; 5 EENTER was refused.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "hex.hpp"
#include "hix/loader/enclave.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/measurement.hpp"
#include "hix_sdk/ecall_abi.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitEcallError = 3;
constexpr int kExitAborted = 4;
constexpr int kExitEnterRefused = 5;
constexpr std::uint64_t kDefaultNullEcall = 3;  // the hello enclave's null ecall

struct EcallRequest {
  std::uint64_t number = 0;
  std::vector<std::uint8_t> buffer;
};

struct Options {
  std::string image;
  std::string device = hix::loader::DevHix::kDefaultPath;
  std::vector<std::uint8_t> report_data;
  std::uint64_t bench = 0;
  std::uint64_t null_ecall = kDefaultNullEcall;
  std::vector<EcallRequest> ecalls;
};

int usage() {
  std::fprintf(stderr,
               "usage: hix-enclave-run IMAGE [--report HEX] [--bench N [--null-ecall K]]\n"
               "                       [--ecall N [HEX]]... [--device PATH]\n");
  return kExitUsage;
}

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 0);
  if (end == s || *end != '\0') return false;
  out = v;
  return true;
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_next = i + 1 < argc;
    if (a == "--report" && has_next) {
      auto bytes = hix::from_hex(argv[++i]);
      if (!bytes || bytes->size() > HIX_REPORT_DATA_SIZE) return false;
      o.report_data = std::move(*bytes);
    } else if (a == "--bench" && has_next) {
      if (!parse_u64(argv[++i], o.bench)) return false;
    } else if (a == "--null-ecall" && has_next) {
      if (!parse_u64(argv[++i], o.null_ecall)) return false;
    } else if (a == "--device" && has_next) {
      o.device = argv[++i];
    } else if (a == "--ecall" && has_next) {
      EcallRequest r;
      if (!parse_u64(argv[++i], r.number)) return false;
      if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) {
        auto bytes = hix::from_hex(argv[++i]);
        if (!bytes) return false;
        r.buffer = std::move(*bytes);
      }
      o.ecalls.push_back(std::move(r));
    } else if (o.image.empty() && a.rfind("--", 0) != 0) {
      o.image = a;
    } else {
      return false;
    }
  }
  return !o.image.empty();
}

std::string join(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ",") + n;
  return s;
}

// Exit code for an ecall outcome (0 when the handler returned ok).
int exit_code_of(const hix::loader::EcallResult& r) {
  switch (r.status) {
    case hix::loader::Status::ok:
      return r.enclave_status == HIX_ECALL_OK ? 0 : kExitEcallError;
    case hix::loader::Status::enclave_aborted:
      return kExitAborted;
    default:
      return kExitEnterRefused;
  }
}

std::string describe(const hix::loader::EcallResult& r) {
  char buf[160];
  switch (r.status) {
    case hix::loader::Status::ok:
      return "RESULT=exit STATUS=" + hix::loader::ecall_status_name(r.enclave_status);
    case hix::loader::Status::enclave_aborted:
      std::snprintf(buf, sizeof buf, "RESULT=aborted VECTOR=%llu ISA_STATUS=%llu",
                    static_cast<unsigned long long>(r.vector),
                    static_cast<unsigned long long>(r.isa_status));
      return buf;
    default:
      std::snprintf(buf, sizeof buf, "RESULT=enter_refused ISA_STATUS=%llu",
                    static_cast<unsigned long long>(r.isa_status));
      return buf;
  }
}

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

int run_bench(hix::loader::Enclave& enclave, const Options& o) {
  std::vector<std::uint64_t> ns;
  ns.reserve(o.bench);
  for (std::uint64_t i = 0; i < o.bench; ++i) {
    const std::uint64_t t0 = now_ns();
    const auto r = enclave.ecall(o.null_ecall, {});
    const std::uint64_t t1 = now_ns();
    if (!r.succeeded()) {
      std::printf("BENCH_ERROR %s\n", describe(r).c_str());
      return exit_code_of(r) != 0 ? exit_code_of(r) : kExitEcallError;
    }
    ns.push_back(t1 - t0);
  }
  if (ns.empty()) return 0;
  std::sort(ns.begin(), ns.end());
  long double sum = 0;
  for (const std::uint64_t v : ns) sum += static_cast<long double>(v);
  std::printf("ecalls=%zu\n", ns.size());
  std::printf("ecall_roundtrip_ns=%llu\n", static_cast<unsigned long long>(ns[ns.size() / 2]));
  std::printf("ecall_roundtrip_mean_ns=%.0Lf\n", sum / static_cast<long double>(ns.size()));
  std::printf("ecall_roundtrip_min_ns=%llu\n", static_cast<unsigned long long>(ns.front()));
  std::printf("ecall_roundtrip_max_ns=%llu\n", static_cast<unsigned long long>(ns.back()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, o)) return usage();
  if (sodium_init() < 0) {
    std::fprintf(stderr, "hix-enclave-run: libsodium failed to initialise\n");
    return kExitUsage;
  }
  // Line-buffered: a test reading the serial console sees each line as it happens.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  const auto image = hix::loader::load_enclave_image(o.image);
  if (!image.ok()) {
    std::printf("LOAD_ERROR=%s %s\n", hix::loader::to_string(image.status()),
                image.detail().c_str());
    return kExitUsage;
  }
  const std::string expected = hix::loader::to_hex(hix::loader::measure_image(image.value()));
  std::printf("IMAGE=%s\nEXPECTED_MRENCLAVE=%s\n", o.image.c_str(), expected.c_str());

  auto driver = hix::loader::DevHix::open(o.device);
  if (!driver.ok()) {
    std::printf("LOAD_ERROR=%s %s\n", hix::loader::to_string(driver.status()),
                driver.detail().c_str());
    return kExitUsage;
  }
  auto loaded = hix::loader::Enclave::load(std::move(driver.value()), image.value());
  if (!loaded.ok()) {
    std::printf("LOAD_ERROR=%s %s\n", hix::loader::to_string(loaded.status()),
                loaded.detail().c_str());
    return kExitUsage;
  }
  hix::loader::Enclave& enclave = loaded.value();
  std::printf("LOADED base=0x%llx size=0x%llx tcs=0x%llx\n",
              static_cast<unsigned long long>(enclave.base().value),
              static_cast<unsigned long long>(enclave.size()),
              static_cast<unsigned long long>(enclave.tcs().value));

  std::vector<std::uint8_t> report(sizeof(hix_report), 0);
  std::copy(o.report_data.begin(), o.report_data.end(), report.begin());
  const auto rr = enclave.ecall(HIX_ECALL_REPORT, report);
  if (!rr.succeeded()) {
    std::printf("REPORT_ERROR %s\n", describe(rr).c_str());
    return exit_code_of(rr) != 0 ? exit_code_of(rr) : kExitEcallError;
  }
  hix_report fields;
  std::memcpy(&fields, report.data(), sizeof fields);
  const std::string measured = hix::to_hex(fields.mrenclave);
  std::printf("MRENCLAVE=%s\nREPORT=%s\nMRENCLAVE_MATCH=%s\n", measured.c_str(),
              hix::to_hex(report).c_str(), measured == expected ? "yes" : "no");

  int rc = 0;
  if (o.bench != 0) rc = run_bench(enclave, o);
  for (EcallRequest& req : o.ecalls) {
    const std::uint64_t t0 = now_ns();
    const auto r = enclave.ecall(req.number, req.buffer);
    const std::uint64_t elapsed = now_ns() - t0;
    std::printf("ECALL=%llu %s OUT=%s UNSCRUBBED=%s\n", static_cast<unsigned long long>(req.number),
                describe(r).c_str(), hix::to_hex(req.buffer).c_str(),
                r.status == hix::loader::Status::enter_failed
                    ? "n/a"
                    : join(hix::loader::unscrubbed_registers(r)).c_str());
    std::printf("ECALL_NS=%llu %llu\n", static_cast<unsigned long long>(req.number),
                static_cast<unsigned long long>(elapsed));
    if (rc == 0) rc = exit_code_of(r);
  }
  return rc;
}
