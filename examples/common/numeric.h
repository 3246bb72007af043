/* Small numeric helpers shared by the examples: a greatest common divisor, a quantile, a clock. */
#ifndef LCT_EXAMPLES_NUMERIC_H
#define LCT_EXAMPLES_NUMERIC_H

#include <stddef.h>
#include <stdint.h>

/* Greatest common divisor of a and b (gcd(a, 0) = a). */
uint64_t ex_gcd(uint64_t a, uint64_t b);

/* The p-quantile (0..1, nearest rank) of v[0..n), n > 0; sorts v in place. */
double ex_quantile(double *v, size_t n, double p);

/* Milliseconds of the monotonic clock, or of this thread's CPU time when thread_cpu is set. */
double ex_clock_ms(int thread_cpu);

#endif
