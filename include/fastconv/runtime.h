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

/* -- the ISA level: one probe, one cap, for every kernel family -----------
 *
 * Levels: generic (portable C, compiled for the baseline), sse2 (on aarch64:
 * NEON, the baseline there), avx2 (AVX2 + FMA), avx512 (AVX-512F and VL,
 * every AVX-512 CPU but Xeon Phi).  A kernel family runs the best variant it
 * has at or below fc_isa_level(): the CPU's level, lowered by the cap that
 * FASTCONV_ISA=generic|sse2|avx2|avx512|neon sets (through fc_isa_set_cap,
 * from fastconv._config).  Each extension module holds its own copy of these
 * statics; the Python layer sets the same cap in all of them. */
enum { FC_ISA_GENERIC = 0, FC_ISA_SSE2 = 1, FC_ISA_AVX2 = 2, FC_ISA_AVX512 = 3 };

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FASTCONV_NO_ISA)
#define FC_ISA_X86 1
#elif defined(__GNUC__) && defined(__aarch64__) && !defined(FASTCONV_NO_ISA)
#define FC_ISA_NEON 1
#endif

/* The best level this CPU runs. */
static inline int fc_isa_detect(void)
{
#if defined(FC_ISA_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        return FC_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return FC_ISA_AVX2;
    return FC_ISA_SSE2;
#elif defined(FC_ISA_NEON)
    return FC_ISA_SSE2;
#else
    return FC_ISA_GENERIC;
#endif
}

static int fc_isa_level_now = -1;   /* a benign race: every thread computes the same value */

static inline int fc_isa_level(void)
{
    if (fc_isa_level_now < 0) fc_isa_level_now = fc_isa_detect();
    return fc_isa_level_now;
}

/* Cap the level (never above the CPU's; a negative cap lifts it); returns
 * the level in use. */
static inline int fc_isa_set_cap(int cap)
{
    const int best = fc_isa_detect();
    fc_isa_level_now = cap < 0 || cap > best ? best : cap;
    return fc_isa_level_now;
}

static inline const char *fc_isa_name(int level)
{
    switch (level) {
    case FC_ISA_AVX512: return "avx512";
    case FC_ISA_AVX2: return "avx2";
#ifdef FC_ISA_NEON
    case FC_ISA_SSE2: return "neon";
#else
    case FC_ISA_SSE2: return "sse2";
#endif
    default: return "generic";
    }
}

static inline int fc_use_avx512(void) { return fc_isa_level() >= FC_ISA_AVX512; }
static inline int fc_use_avx2fma(void) { return fc_isa_level() >= FC_ISA_AVX2; }

/* -- ISA variants of a portable loop ----------------------------------------
 *
 *     static FC_FORCE_INLINE void name_body(params) { ... }
 *     FC_ISA_VARIANTS(name, name_body, (params), (args))
 *
 * defines name(params), which runs the body compiled for the level in use:
 * the body is inlined into one function per x86 level, each compiled with
 * that level's target, so the compiler vectorises it for AVX-512, AVX2 + FMA
 * or the SSE2 baseline.  (GCC's target_clones did this too, but chose by the
 * CPU alone: FASTCONV_ISA could not cap it.)  `args` are the parameters'
 * names.  Elsewhere name is the body, compiled for the baseline. */
#if defined(__GNUC__)
#define FC_FORCE_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define FC_FORCE_INLINE __forceinline
#else
#define FC_FORCE_INLINE inline
#endif
#define FC_ISA_CAT_(a, b) a##b
#define FC_ISA_CAT(a, b) FC_ISA_CAT_(a, b)
#if defined(FC_ISA_X86) && defined(__x86_64__)
#define FC_ISA_VARIANTS(name, body, params, args)                                     \
    __attribute__((target("avx512f,avx512vl,avx2,fma")))                              \
    static void FC_ISA_CAT(name, _avx512) params { body args; }                       \
    __attribute__((target("avx2,fma")))                                               \
    static void FC_ISA_CAT(name, _avx2) params { body args; }                         \
    static void FC_ISA_CAT(name, _base) params { body args; }                         \
    static void name params                                                           \
    {                                                                                 \
        switch (fc_isa_level()) {                                                     \
        case FC_ISA_AVX512: FC_ISA_CAT(name, _avx512) args; return;                   \
        case FC_ISA_AVX2: FC_ISA_CAT(name, _avx2) args; return;                       \
        default: FC_ISA_CAT(name, _base) args; return;                                \
        }                                                                             \
    }
#define FC_ISA_VARIANT_NAMES "avx512, avx2, sse2"
#else
#define FC_ISA_VARIANTS(name, body, params, args) static void name params { body args; }
#define FC_ISA_VARIANT_NAMES "baseline"
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
