/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hix_attack.ko's platform primitives (issue 17, docs/specs/hix-isa.md §16):
 * MSRs, SVM's VMRUN and its I/O permission map, SMIs, INIT IPIs, non-RAM
 * physical memory, raw ENCLS.
 */
#ifndef HIX_ATTACK_PLATFORM_H
#define HIX_ATTACK_PLATFORM_H

#include <linux/types.h>

#include "hix_attack_abi.h"

long hix_attack_msr(struct hix_attack_msr *req, bool write);
long hix_attack_vmrun(struct hix_attack_vmrun *req);
long hix_attack_smi(const struct hix_attack_smi *req);
long hix_attack_phys_io(const struct hix_attack_phys_rw *req, bool write);
long hix_attack_encls(struct hix_attack_encls *req);
long hix_attack_iopm_oracle(struct hix_attack_iopm_oracle *req);
long hix_attack_init_ipi(struct hix_attack_init_ipi *req);
long hix_attack_l2_enclave(struct hix_attack_l2_enclave *req);

#endif /* HIX_ATTACK_PLATFORM_H */
