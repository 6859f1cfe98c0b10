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
 * group as [ceil(cog/MR)][K][MR] (zero rows past cog).  The AVX-512 tile
 * holds MR x 2 zmm; the AVX2 one MR/2 x 2 ymm (12 or 8 of 16 registers),
 * running the panel's two halves one after the other.  The tile is chosen at
 * run time (fc_igemm_level); portable C loops do the same work elsewhere.
 */
#ifndef FASTCONV_IGEMM_H
#define FASTCONV_IGEMM_H

#include "geom.h"
#include "direct.h"
#include "runtime.h"
#include "avx512.h"


/* The tile in use: FC_IGEMM_AVX512, FC_IGEMM_AVX2 (AVX2 + FMA) or the
 * portable C loops: the best tile at or below fc_isa_level() (runtime.h, under
 * the FASTCONV_ISA cap).  The AVX2 tiles need the same compiler support as
 * the AVX-512 ones. */
enum { FC_IGEMM_PORTABLE = FC_ISA_GENERIC, FC_IGEMM_AVX2 = FC_ISA_AVX2,
       FC_IGEMM_AVX512 = FC_ISA_AVX512 };

static inline int fc_igemm_level(void)
{
    if (FC_HAVE_AVX512_KERNELS && fc_use_avx512()) return FC_IGEMM_AVX512;
    if (FC_HAVE_AVX512_KERNELS && fc_use_avx2fma()) return FC_IGEMM_AVX2;
    return FC_IGEMM_PORTABLE;
}

/* Whether the forward tile (which also serves grad_input) / the grad_weight
 * tile in use is a vector one: the planner avoids the portable loops. */
static inline int fc_igemm_vector(void) { return fc_igemm_level() != FC_IGEMM_PORTABLE; }
static inline int fc_igemm_dw_vector(void) { return fc_igemm_level() == FC_IGEMM_AVX512; }

static inline const char *fc_igemm_isa(void)
{
    switch (fc_igemm_level()) {
    case FC_IGEMM_AVX512: return "avx512f";
    case FC_IGEMM_AVX2: return "avx2+fma";
    default: return "portable C";
    }
}

#define FC_TEMPLATE "igemm_impl.h"
#include "for_each_dtype.h"

#endif
