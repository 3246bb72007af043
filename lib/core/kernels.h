/* Process-wide choice of the BLIS kernel set (the only place that sets it). */
#ifndef LCT_KERNELS_H
#define LCT_KERNELS_H

/* Idempotent and thread-safe; returns LCT_OK or a status with the error recorded. */
int lct__kernels_init(void);
const char *lct__kernels_name(void);
int lct__kernels_source(void);

#endif
