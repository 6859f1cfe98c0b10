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
 * (A stride s on the last axis is read from the input split into its s
 * phases, and a plane of rows may run as one row over the padded width: see
 * fastconv/_engine.py.)
 *
 * Register tile: MR output channels x NR outputs of one row, MR = 12 or 8:
 * the caller picks the height that pads cog least (cog = 64 fills 4 rows of
 * its sixth 12-high panel, cog = 8 two thirds of its only one).  Weights are packed per
 * group as [ceil(cog/MR)][K][MR] (zero rows past cog).  The AVX-512
 * kernel is chosen at run time from the CPU's features; elsewhere a portable
 * C kernel (cloned for AVX2 where the compiler can) does the same work.
 */
#ifndef FASTCONV_IGEMM_H
#define FASTCONV_IGEMM_H

#include "geom.h"
#include "direct.h"
#include "runtime.h"
#include "avx512.h"


static inline int fc_igemm_vector(void) { return FC_HAVE_AVX512_KERNELS && fc_cpu_has_avx512(); }

static inline const char *fc_igemm_isa(void)
{
    return FC_HAVE_AVX512_KERNELS && fc_cpu_has_avx512() ? "avx512f"
                                                        : "portable C (auto-vectorised)";
}

#define FC_TEMPLATE "igemm_impl.h"
#include "for_each_dtype.h"

#endif
