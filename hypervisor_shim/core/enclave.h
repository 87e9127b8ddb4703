/* What other parts of the core may ask about an enclave (internal to the
 * core; the enclave's state is enclave.c's alone). */
#ifndef HIX_ENCLAVE_H
#define HIX_ENCLAVE_H

#include "hix_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Has the enclave finished EINIT (and is not dying)? */
bool hix_enclave_is_initialized(const struct hix_core* core, int enclave);

/* Is [linear, linear + len) inside the enclave's ELRANGE, holding no page
 * added to it (a window a device may be mapped into)? */
bool hix_enclave_range_is_free(const struct hix_core* core, int enclave, hix_laddr_t linear,
                               uint64_t len);

#ifdef __cplusplus
}
#endif

#endif /* HIX_ENCLAVE_H */
