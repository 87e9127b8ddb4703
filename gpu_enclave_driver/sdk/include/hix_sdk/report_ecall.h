/* The SDK's standard "report" ecall (HIX_ECALL_REPORT, by convention slot 0
 * of every enclave's table). */
#ifndef HIX_SDK_REPORT_ECALL_H
#define HIX_SDK_REPORT_ECALL_H

#include <stddef.h>
#include <stdint.h>

#include "hix_sdk/ecall.h"

#ifdef __cplusplus
extern "C" {
#endif

/* buf is one struct hix_report: bytes 0..63 hold the caller's report data on
 * entry; on return it is the EREPORT output (signed by the platform). */
enum hix_ecall_status hix_sdk_ecall_report(uint8_t* buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HIX_SDK_REPORT_ECALL_H */
