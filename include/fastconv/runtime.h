/* fastconv/runtime.h -- OpenMP shim and floating-point state.
 *
 * The extension builds with or without OpenMP; these wrappers let the
 * Cython drivers ask for thread numbers either way.  Kernels run with
 * flush-to-zero / denormals-are-zero (denormal weights slow x86 FMA down
 * by an order of magnitude) and restore the caller's state on exit.
 */
#ifndef FASTCONV_RUNTIME_H
#define FASTCONV_RUNTIME_H

#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
static inline int fc_thread_num(void) { return omp_get_thread_num(); }
static inline int fc_max_threads(void) { return omp_get_max_threads(); }
static inline int fc_num_procs(void) { return omp_get_num_procs(); }
static inline int fc_have_openmp(void) { return 1; }
#else
static inline int fc_thread_num(void) { return 0; }
static inline int fc_max_threads(void) { return 1; }
static inline int fc_num_procs(void) { return 1; }
static inline int fc_have_openmp(void) { return 0; }
#endif

#if defined(__SSE__) || defined(_M_X64) || defined(_M_AMD64)
#include <xmmintrin.h>
/* FTZ (bit 15) and DAZ (bit 6) of MXCSR. */
static inline unsigned int fc_fp_enter(void)
{
    unsigned int saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u);
    return saved;
}
static inline void fc_fp_exit(unsigned int saved) { _mm_setcsr(saved); }
#else
static inline unsigned int fc_fp_enter(void) { return 0; }
static inline void fc_fp_exit(unsigned int saved) { (void)saved; }
#endif

/* Thread state of a kernel region: FP control word and BLAS thread counts.
 *
 * BLAS is called from inside our OpenMP threads and must then run on one
 * thread.  MKL has a thread-local setter: the Python layer registers it, and
 * each worker sets 1 on entry and restores on exit.  OpenBLAS's "local"
 * setter changes the global count as well (a worker's restore would reach
 * the other workers' GEMMs), so OpenBLAS is limited by the Python layer,
 * once around the whole call (_threads.blas_single_threaded). */
#define FC_MAX_BLAS 4
typedef int (*fc_blas_threads_local_fn)(int);
static fc_blas_threads_local_fn fc_blas_local[FC_MAX_BLAS];
static int fc_n_blas_local = 0;

typedef struct {
    unsigned int fp;
    int blas[FC_MAX_BLAS];
} fc_tstate;

static inline void fc_register_blas_local(int i, void *fn)
{
    if (i >= 0 && i < FC_MAX_BLAS) {
        fc_blas_local[i] = (fc_blas_threads_local_fn)fn;
        if (i >= fc_n_blas_local) fc_n_blas_local = i + 1;
    }
}

/* Returned by value so that Cython makes it private to each thread. */
static inline fc_tstate fc_thread_enter(void)
{
    fc_tstate st;
    st.fp = fc_fp_enter();
    for (int i = 0; i < fc_n_blas_local; ++i)
        st.blas[i] = fc_blas_local[i] ? fc_blas_local[i](1) : 0;
    return st;
}

static inline void fc_thread_exit(fc_tstate st)
{
    for (int i = 0; i < fc_n_blas_local; ++i)
        if (fc_blas_local[i]) fc_blas_local[i](st.blas[i]);
    fc_fp_exit(st.fp);
}

/* CPU features for the kernels that pick an ISA variant at run time.  The
 * AVX-512 kernels may use AVX-512F and VL (every AVX-512 CPU but Xeon Phi). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static inline int fc_cpu_has_avx512(void)
{
    static int known = -1;  /* a benign race: every thread computes the same value */
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    }
    return known;
}
static inline int fc_cpu_has_avx2fma(void)
{
    static int known = -1;  /* benign race, as above */
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return known;
}
#else
static inline int fc_cpu_has_avx512(void) { return 0; }
static inline int fc_cpu_has_avx2fma(void) { return 0; }
#endif

/* OR of n words, in four independent streams (vectorised at -O2 and up):
 * the read of the bandwidth probe in _runtime.stream_read. */
static inline uint64_t fc_or_words(const uint64_t *w, int64_t n)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* one line per step, prefetched into L2 16 KiB ahead: the hardware
         * prefetchers stop at every page, and without this the read of
         * 115 MB on 2 threads took 1.4-1.7x as long */
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(w + i + 2048, 0, 2);
#endif
        a |= w[i] | w[i + 4];
        b |= w[i + 1] | w[i + 5];
        c |= w[i + 2] | w[i + 6];
        d |= w[i + 3] | w[i + 7];
    }
    for (; i < n; ++i) a |= w[i];
    return a | b | c | d;
}

#ifndef FASTCONV_COMPILER
#define FASTCONV_COMPILER "unknown"
#endif
static inline const char *fc_compiler(void) { return FASTCONV_COMPILER; }

#endif
