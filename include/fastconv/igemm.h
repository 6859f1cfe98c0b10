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
#include "runtime.h"

#define FC_IGEMM_MR 12

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(FASTCONV_NO_AVX512)
#define FC_HAVE_AVX512_KERNELS 1
#include <immintrin.h>
#else
#define FC_HAVE_AVX512_KERNELS 0
#endif

static inline const char *fc_igemm_isa(void)
{
    return FC_HAVE_AVX512_KERNELS && fc_cpu_has_avx512() ? "avx512f"
                                                        : "portable C (auto-vectorised)";
}

#if FC_HAVE_AVX512_KERNELS
/* AVX-512 intrinsics of the template's dtype: FC_I(fmadd_) -> _mm512_fmadd_ps. */
#define FC_I3_(a, b, c) a##b##c
#define FC_I3(a, b, c) FC_I3_(a, b, c)
#define FC_I(op) FC_I3(_mm512_, op, FC_ISFX)
#define FC_ZERO() FC_I(setzero_)()
#define FC_LOADZ(m, p) FC_I(maskz_loadu_)((m), (p))
#define FC_BCAST(p) FC_I(set1_)(*(p))
#define FC_FMA(a, b, c) FC_I(fmadd_)((a), (b), (c))
#define FC_ADD(a, b) FC_I(add_)((a), (b))
#define FC_STOREM(p, m, v) FC_I(mask_storeu_)((p), (m), (v))
#define FC_REDUCE(v) FC_I(reduce_add_)(v)
#endif

#define FC_TEMPLATE "igemm_impl.h"
#include "for_each_dtype.h"

#endif
