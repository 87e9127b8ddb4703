/* The audit log (docs/specs/hix-isa.md §9): one JSON line per denial. */
#include <inttypes.h>
#include <time.h>

#include "hix_core.h"

static const char* const kind_names[HIX_DENY_KIND_COUNT] = {
    [HIX_DENY_EPC_READ] = "epc-read",
    [HIX_DENY_EPC_WRITE] = "epc-write",
    [HIX_DENY_EPC_FETCH] = "epc-fetch",
    [HIX_DENY_ENCLAVE_LINEAR_MISMATCH] = "enclave-linear-mismatch",
    [HIX_DENY_ENCLAVE_PERM] = "enclave-perm",
    [HIX_DENY_ENCLAVE_FETCH_OUTSIDE] = "enclave-fetch-outside",
    [HIX_DENY_ENCLAVE_UNMAPPED] = "enclave-unmapped",
    [HIX_DENY_ENCLAVE_EXCEPTION] = "enclave-exception",
    [HIX_DENY_ENCLS_CPL] = "encls-cpl",
    [HIX_DENY_ENCLU_CPL] = "enclu-cpl",
    [HIX_DENY_BAR_READ] = "bar-read",
    [HIX_DENY_BAR_WRITE] = "bar-write",
    [HIX_DENY_BAR_FETCH] = "bar-fetch",
    [HIX_DENY_ENCLAVE_GLRANGE_MISMATCH] = "enclave-glrange-mismatch",
    [HIX_DENY_BAR_UNTAGGED] = "bar-untagged",
    [HIX_DENY_CONFIG_WRITE] = "config-write",
    [HIX_DENY_CONFIG_WRITE_BRIDGE] = "config-write-bridge",
    [HIX_DENY_DMA_EPC] = "dma-epc",
    [HIX_DENY_DMA_BAR] = "dma-bar",
    [HIX_DENY_CONFIG_WRITE_CHIPSET] = "config-write-chipset",
    [HIX_DENY_ENCLAVE_EPC_DECODE] = "enclave-epc-decode",
};

const char* hix_deny_kind_name(enum hix_deny_kind kind) {
  return kind < HIX_DENY_KIND_COUNT ? kind_names[kind] : "unknown";
}

const char* hix_verdict_name(enum hix_verdict verdict) {
  switch (verdict) {
    case HIX_ALLOW:
      return "allow";
    case HIX_ABORT_PAGE:
      return "abort-page";
    case HIX_FAULT_GP:
      return "gp";
    case HIX_ENCLAVE_ABORT:
      return "enclave-abort";
  }
  return "unknown";
}

void hix_audit_format(const struct hix_denial* d, double unix_time, char* line, size_t len) {
  snprintf(line, len,
           "{\"t\":%.6f,\"vcpu\":%d,\"cpl\":%d,\"linear\":\"0x%" PRIx64
           "\",\"physical\":\"0x%" PRIx64
           "\",\"kind\":\"%s\",\"verdict\":\"%s\",\"enclave\":\"0x%" PRIx64 "\"}",
           unix_time, d->vcpu, d->cpl, d->linear, d->physical, hix_deny_kind_name(d->kind),
           hix_verdict_name(d->verdict), d->enclave_secs);
}

void hix_audit_record(struct hix_core* core, const struct hix_denial* d) {
  struct hix_audit* a = &core->audit;
  struct timespec ts;
  char line[320];

  if (d->kind < HIX_DENY_KIND_COUNT) {
    __atomic_fetch_add(&a->counts[d->kind], 1, __ATOMIC_RELAXED);
  }
  const uint64_t n = __atomic_add_fetch(&a->total, 1, __ATOMIC_RELAXED);
  if (!a->file) {
    return;
  }
  clock_gettime(CLOCK_REALTIME, &ts);
  if (n <= HIX_AUDIT_LINE_CAP) {
    hix_audit_format(d, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, line, sizeof(line));
    fprintf(a->file, "%s\n", line);
  } else if (n % HIX_AUDIT_LINE_CAP == 0) {
    fprintf(a->file, "{\"t\":%.6f,\"kind\":\"suppressed\",\"total\":%" PRIu64 "}\n",
            (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, n);
  } else {
    return;
  }
  fflush(a->file);
}
