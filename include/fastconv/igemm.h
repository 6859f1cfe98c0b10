/* fastconv/igemm.h -- implicit-GEMM direct convolution, stride 1 on the last axis.
 *
 * y[o, row, w] = bias[o] + sum_k wpk[k, o] * x[rowbase[row] + koffs[k] + w]
 *
 * x is the zero-padded input of one (sample, group); k runs over the
 * (channel, kernel tap) pairs and koffs[k] is where that pair's input row
 * starts relative to the output row's base: an offset table built once per
 * call (XNNPACK's indirection buffer, by offsets).  Because the last axis has
 * stride 1, the NR outputs of a row segment read NR contiguous inputs for
 * every k, so the GEMM's B panel is read straight from x: no im2col at all.
 *
 * Register tile: MR output channels x NR outputs of one row.  Weights are
 * packed per group as [ceil(cog/MR)][K][MR] (zero rows past cog).  The AVX-512
 * kernel is chosen at run time from the CPU's features; elsewhere a portable
 * C kernel (cloned for AVX2 where the compiler can) does the same work.
 */
#ifndef FASTCONV_IGEMM_H
#define FASTCONV_IGEMM_H

#include "geom.h"
#include "direct.h"

#define FC_IGEMM_MR 12

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(FASTCONV_NO_AVX512)
#define FC_HAVE_AVX512_KERNELS 1
#include <immintrin.h>
static inline int fc_cpu_has_avx512(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}
#else
#define FC_HAVE_AVX512_KERNELS 0
static inline int fc_cpu_has_avx512(void) { return 0; }
#endif

static inline const char *fc_igemm_isa(void)
{
    return fc_cpu_has_avx512() ? "avx512f" : "portable C (auto-vectorised)";
}

/* -- float ---------------------------------------------------------------- */
#define FC_T float
#define FC_SFX f32
#define FC_VL 16
#if FC_HAVE_AVX512_KERNELS
#define FC_VEC __m512
#define FC_MASK __mmask16
#define FC_ZERO() _mm512_setzero_ps()
#define FC_LOADZ(m, p) _mm512_maskz_loadu_ps((m), (p))
#define FC_BCAST(p) _mm512_set1_ps(*(p))
#define FC_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define FC_ADD(a, b) _mm512_add_ps((a), (b))
#define FC_STOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define FC_REDUCE(v) _mm512_reduce_add_ps(v)
#endif
#include "igemm_impl.h"
#undef FC_T
#undef FC_SFX
#undef FC_VL
#if FC_HAVE_AVX512_KERNELS
#undef FC_VEC
#undef FC_MASK
#undef FC_ZERO
#undef FC_LOADZ
#undef FC_BCAST
#undef FC_FMA
#undef FC_ADD
#undef FC_STOREM
#undef FC_REDUCE
#endif

/* -- double --------------------------------------------------------------- */
#define FC_T double
#define FC_SFX f64
#define FC_VL 8
#if FC_HAVE_AVX512_KERNELS
#define FC_VEC __m512d
#define FC_MASK __mmask8
#define FC_ZERO() _mm512_setzero_pd()
#define FC_LOADZ(m, p) _mm512_maskz_loadu_pd((m), (p))
#define FC_BCAST(p) _mm512_set1_pd(*(p))
#define FC_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define FC_ADD(a, b) _mm512_add_pd((a), (b))
#define FC_STOREM(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define FC_REDUCE(v) _mm512_reduce_add_pd(v)
#endif
#include "igemm_impl.h"
#undef FC_T
#undef FC_SFX
#undef FC_VL
#if FC_HAVE_AVX512_KERNELS
#undef FC_VEC
#undef FC_MASK
#undef FC_ZERO
#undef FC_LOADZ
#undef FC_BCAST
#undef FC_FMA
#undef FC_ADD
#undef FC_STOREM
#undef FC_REDUCE
#endif

#endif
