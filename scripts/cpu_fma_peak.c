/* The CPU's 512-bit FMA rate per core, from registers alone: 10 independent FMA chains,
 * enough to cover the FMA latency on two ports. The ceiling for the float (F16/BF16)
 * prompt kernels; run two at once to see whether the vCPUs share a core's FMA units.
 *   gcc -O2 -mavx512f -o /tmp/fma scripts/cpu_fma_peak.c && /tmp/fma & /tmp/fma; wait */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
    __m512 a0 = _mm512_set1_ps(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    const long n = 200000000L;
    const double t0 = now();
    for (long i = 0; i < n; i++) {
#define F(x) x = _mm512_fmadd_ps(x, b, c);
        F(a0) F(a1) F(a2) F(a3) F(a4) F(a5) F(a6) F(a7) F(a8) F(a9)
#undef F
    }
    const double t1 = now();
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, _mm512_add_ps(a7, _mm512_add_ps(a8, a9)))));
    printf("zmm FMA: %.2f G/s per core (checksum %f)\n", (double)n * 10 / (t1 - t0) / 1e9, _mm512_reduce_add_ps(s));
    return 0;
}
