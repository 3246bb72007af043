/* The library's choice of the BLIS kernel set (made once per process; nothing process-wide changes). */
#ifndef LCT_KERNELS_H
#define LCT_KERNELS_H

/* Idempotent and thread-safe; returns LCT_OK or a status with the error recorded. */
int lct__kernels_init(void);
const char *lct__kernels_name(void);
int lct__kernels_source(void);
/* The BLIS context (cntx_t *) of the chosen set, for every GEMM call; NULL: BLIS's own choice. */
void *lct__kernels_context(void);

#endif
