/* The EPCM table (internal to the core). */
#ifndef HIX_EPCM_H
#define HIX_EPCM_H

#include "hix_core.h"

#ifdef __cplusplus
extern "C" {
#endif

int hix_epcm_init(struct hix_epcm* epcm, size_t limit);
void hix_epcm_destroy(struct hix_epcm* epcm);
void hix_epcm_clear(struct hix_epcm* epcm);
struct hix_epcm_entry* hix_epcm_find(const struct hix_epcm* epcm, hix_pfn_t pfn);
/* False when the EPC limit is reached. */
bool hix_epcm_insert(struct hix_epcm* epcm, const struct hix_epcm_entry* entry);
void hix_epcm_remove(struct hix_epcm* epcm, struct hix_epcm_entry* entry);
bool hix_epcm_slot_used(const struct hix_epcm_entry* entry);

#ifdef __cplusplus
}
#endif

#endif /* HIX_EPCM_H */
