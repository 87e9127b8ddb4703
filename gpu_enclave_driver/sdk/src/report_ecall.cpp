// The standard report ecall: EREPORT over the caller's 64 bytes
// (docs/specs/hix-isa.md §2.2, §7).
#include "hix_sdk/report_ecall.h"

#include <sodium.h>
#include <string.h>

#include "hix_sdk/enclu.h"

extern "C" hix_ecall_status hix_sdk_ecall_report(uint8_t* buf, size_t len) {
  if (len != sizeof(hix_report)) return HIX_ECALL_BAD_SIZE;
  // EREPORT takes both operands in enclave memory; buf already is (the
  // dispatcher's copy), but the report is built apart from its input.
  uint8_t report_data[HIX_REPORT_DATA_SIZE];
  memcpy(report_data, buf, sizeof report_data);
  hix_report report;
  memset(&report, 0, sizeof report);
  if (hix_ereport(report_data, &report) != HIX_OK) return HIX_ECALL_FAILED;
  memcpy(buf, &report, sizeof report);
  return HIX_ECALL_OK;
}
