/* fastconv/filter_rows.h -- the register-blocked row kernel of direct filtering.
 *
 *   fc_rows_<dt>(s, ss, nt, off, w, b, add, R, W, y, ys):
 *       y[r*ys + o] = (add ? y[r*ys + o] : b) + sum_{t < nt} w[t] * s[r*ss + off[t] + o]
 *       for r < R, o < W
 *
 * A kernel is a list of taps (offset into the source, weight): dense 2-d,
 * sparse (zero taps dropped), a single row or a single column all look alike,
 * so the same kernel serves scipy-style filtering of padded strips
 * (filter.h), both passes of a separable filter, and the interior of the
 * depthwise convolution (direct.h).  Several output rows and vectors stay in
 * registers across all the taps.
 *
 * ISA variants are generated from filter_rows_impl.h, one per (dtype, ISA):
 *
 *     name                       vector   rows x vectors in registers
 *     fc_rows_<dt>_avx512        64 B     4 x 4  (16 of 32 zmm)
 *     fc_rows_<dt>_avx2          32 B     3 x 4  (12 of 16 ymm)
 *     fc_rows_<dt>_sse2          16 B     3 x 4  (12 of 16 xmm)
 *     fc_rows_<dt>_neon          16 B     4 x 4  (16 of 32 v, aarch64)
 *     fc_rows_<dt>_generic       scalar   1 x 1  (other compilers / CPUs)
 *
 * and fc_rows2d_<dt>_<isa> for dense kh x kw kernels (4 x 4 for avx512,
 * 3 x 3 otherwise), which feeds each load to several output rows.
 *
 * and fc_rows_pick_<dt> picks one for fc_isa_level() (runtime.h: the CPU's
 * features under the FASTCONV_ISA cap): no -march needed at build time.
 */
#ifndef FASTCONV_FILTER_ROWS_H
#define FASTCONV_FILTER_ROWS_H

#include <stdint.h>

#include "geom.h"
#include "runtime.h"

#if defined(FC_ISA_X86)
#define FC_ROWS_X86 1
#elif defined(FC_ISA_NEON)
#define FC_ROWS_NEON 1
#endif

#ifdef FC_ROWS_X86
#include <immintrin.h>
#elif defined(FC_ROWS_NEON)
#include <arm_neon.h>
#endif
typedef void (*fc_rows_f32_fn)(const float *, int64_t, int64_t, const int64_t *, const float *,
                               float, int, int64_t, int64_t, float *, int64_t);
typedef void (*fc_rows_f64_fn)(const double *, int64_t, int64_t, const int64_t *,
                               const double *, double, int, int64_t, int64_t, double *, int64_t);

typedef void (*fc_rows2d_f32_fn)(const float *, int64_t, int64_t, int64_t, const float *,
                                 float, int, int64_t, int64_t, float *, int64_t);
typedef void (*fc_rows2d_f64_fn)(const double *, int64_t, int64_t, int64_t, const double *,
                                 double, int, int64_t, int64_t, double *, int64_t);

/* -- generated variants: (ISA parameters) x filter_rows_variant.h ----------- */

/* scalar reference, always built (and the only one without GCC/clang) */
#define FC_ISA generic
#define FC_TARGET
#if defined(__aarch64__) || defined(__FMA__)
#define FC_FMA_HW 1
#else
#define FC_FMA_HW 0
#endif
#define FC_VBYTES 0
#define FC_RB 1
#define FC_VB 1
#define FC_RB2 3
#define FC_VB2 1
#include "filter_rows_variant.h"

#ifdef FC_ROWS_X86
#define FC_ISA sse2
#define FC_TARGET
#define FC_FMA_HW 0
#define FC_VBYTES 16
#define FC_RB 3
#define FC_VB 4
#define FC_RB2 3
#define FC_VB2 3
#include "filter_rows_variant.h"

#define FC_ISA avx2
#define FC_TARGET __attribute__((target("avx2,fma")))
#define FC_FMA_HW 1
#define FC_VBYTES 32
#define FC_RB 3
#define FC_VB 4
#define FC_RB2 3
#define FC_VB2 3
#include "filter_rows_variant.h"

#define FC_ISA avx512
#define FC_TARGET __attribute__((target("avx512f")))
#define FC_FMA_HW 1
#define FC_VBYTES 64
#define FC_RB 4
#define FC_VB 4
#define FC_RB2 4
#define FC_VB2 4
#include "filter_rows_variant.h"
#endif /* FC_ROWS_X86 */

#ifdef FC_ROWS_NEON   /* Advanced SIMD is baseline on aarch64: no target attribute */
#define FC_ISA neon
#define FC_TARGET
#define FC_FMA_HW 1
#define FC_VBYTES 16
#define FC_RB 4
#define FC_VB 4
#define FC_RB2 4
#define FC_VB2 4
#include "filter_rows_variant.h"
#endif

/* -- run-time dispatch ------------------------------------------------------ */
/* The level is runtime.h's fc_isa_level(), capped by FASTCONV_ISA. */

#ifdef FC_ROWS_X86
#define FC_ROWS_PICK(NAME)                                           \
    switch (fc_isa_level()) {                                         \
    case FC_ISA_AVX512: return FC_CAT(NAME, avx512);                 \
    case FC_ISA_AVX2: return FC_CAT(NAME, avx2);                     \
    case FC_ISA_SSE2: return FC_CAT(NAME, sse2);                     \
    default: return FC_CAT(NAME, generic);                           \
    }
#elif defined(FC_ROWS_NEON)
#define FC_ROWS_PICK(NAME)                                           \
    if (fc_isa_level() >= FC_ISA_SSE2) return FC_CAT(NAME, neon);     \
    return FC_CAT(NAME, generic);
#else
#define FC_ROWS_PICK(NAME) return FC_CAT(NAME, generic);
#endif

/* Whether the row kernels in use fuse their multiply-adds: the loops that
 * compute the border of the same outputs (direct.h) must round alike. */
#ifdef FC_ROWS_X86
static inline int fc_rows_fused(void)
{
    switch (fc_isa_level()) {
    case FC_ISA_AVX512: return fc_rows_fma_avx512;
    case FC_ISA_AVX2: return fc_rows_fma_avx2;
    case FC_ISA_SSE2: return fc_rows_fma_sse2;
    default: return fc_rows_fma_generic;
    }
}
#elif defined(FC_ROWS_NEON)
static inline int fc_rows_fused(void)
{
    return fc_isa_level() >= FC_ISA_SSE2 ? fc_rows_fma_neon : fc_rows_fma_generic;
}
#else
static inline int fc_rows_fused(void) { return fc_rows_fma_generic; }
#endif

/* Chosen once per call by the drivers, outside their loops. */
static inline fc_rows_f32_fn fc_rows_pick_f32(void) { FC_ROWS_PICK(fc_rows_f32) }
static inline fc_rows_f64_fn fc_rows_pick_f64(void) { FC_ROWS_PICK(fc_rows_f64) }
/* The dense kernels pay off with 16+ vector registers of 32+ bytes (measured,
 * 2048x1024 float32, kh = kw = 9: avx512 83 vs 56 GFLOP/s, avx2 70 vs 54,
 * sse2 28 vs 30): NULL below AVX2, and the drivers use fc_rows. */
#ifdef FC_ROWS_NEON
#define FC_ROWS2D_LEVEL FC_ISA_SSE2   /* NEON has the 32 registers it needs */
#else
#define FC_ROWS2D_LEVEL FC_ISA_AVX2
#endif
static inline fc_rows2d_f32_fn fc_rows2d_pick_f32(void)
{
    if (fc_isa_level() < FC_ROWS2D_LEVEL) return 0;
    FC_ROWS_PICK(fc_rows2d_f32)
}
static inline fc_rows2d_f64_fn fc_rows2d_pick_f64(void)
{
    if (fc_isa_level() < FC_ROWS2D_LEVEL) return 0;
    FC_ROWS_PICK(fc_rows2d_f64)
}

#endif
