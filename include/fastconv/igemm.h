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
 * holds MR x 2 zmm and reads x through the offsets.  The AVX2 one holds MR/2
 * x 2 ymm (12 or 8 of 16 registers), running the panel's two halves one after
 * the other, and reads packed input panels: NR = 2 vectors of consecutive
 * outputs (across rows), packed per k-block and block of panels sized from
 * the caches, as BLIS packs B.  The tile is chosen at run time
 * (fc_igemm_level); portable C loops do the same work elsewhere.
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

/* The caches of one core (probed by the Python layer) size the packed AVX2
 * path's blocks, as BLIS sizes its own: a k-block of the input panel (kc x
 * NR) takes half of L1D, and a block of panels (the columns that every
 * output-channel tile passes over) half of L2. */
static int64_t fc_igemm_l1d_bytes = 32768, fc_igemm_l2_bytes = 512 * 1024;
static inline void fc_igemm_set_caches(int64_t l1d, int64_t l2)
{
    if (l1d >= 4096) fc_igemm_l1d_bytes = l1d;
    if (l2 >= 4 * l1d) fc_igemm_l2_bytes = l2;
}
#define FC_IGEMM_KC_MAX 512
#define FC_IGEMM_PANELS_MAX 64

#define FC_TEMPLATE "igemm_impl.h"
#include "for_each_dtype.h"

#endif
