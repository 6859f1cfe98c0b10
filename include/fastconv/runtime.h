/* fastconv/runtime.h -- OpenMP shim and floating-point state.
 *
 * The extension builds with or without OpenMP; these wrappers let the
 * Cython drivers ask for thread numbers either way.  Kernels run with
 * flush-to-zero / denormals-are-zero (denormal weights slow x86 FMA down
 * by an order of magnitude) and restore the caller's state on exit.
 */
#ifndef FASTCONV_RUNTIME_H
#define FASTCONV_RUNTIME_H

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

#ifndef FASTCONV_COMPILER
#define FASTCONV_COMPILER "unknown"
#endif
static inline const char *fc_compiler(void) { return FASTCONV_COMPILER; }

#endif
