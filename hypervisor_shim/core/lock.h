/* Device locks (internal to the core). */
#ifndef HIX_LOCK_H
#define HIX_LOCK_H

#include "hix_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The owner is being destroyed: scrub and release its devices. */
void hix_locks_release(struct hix_core* core, int enclave);

#ifdef __cplusplus
}
#endif

#endif /* HIX_LOCK_H */
