/* fastconv/direct.h -- direct (no GEMM) kernels for channel-wise convolution.
 *
 * When each output channel reads one input channel (depthwise, channel
 * multipliers, single-channel filtering) the GEMM has M = 1 and is the wrong
 * tool.  These kernels walk one output row at a time and add each kernel tap
 * into it (the row stays in L1), vectorised along the contiguous last axis.
 *
 * ISA variants: GCC clones the row loops for AVX-512, AVX2+FMA and the
 * baseline and picks one at load time from the CPU's features (ifunc), so
 * the shipped build needs no -march.  Dtype variants come from direct_impl.h.
 */
#ifndef FASTCONV_DIRECT_H
#define FASTCONV_DIRECT_H

#include "geom.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(FASTCONV_NO_CLONES)
#define FC_ISA_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#define FC_ISA_NAMES "avx512f, avx2+fma, sse2 (chosen at load time)"
#else
#define FC_ISA_CLONES
#define FC_ISA_NAMES "baseline (compiler auto-vectorised)"
#endif

static inline const char *fc_direct_isa_names(void) { return FC_ISA_NAMES; }

/* Row r of the output (all axes but the last) read through tap offsets koff:
 * the input row it reads, or NULL when that row lies in the zero padding. */
static inline int64_t fc_row_base(const fc_geom *g, const int64_t *oi, const int64_t *koff)
{
    int64_t base = 0;
    for (int j = 0; j < g->ndim - 1; ++j) {
        int64_t i = oi[j] * g->stride[j] + koff[j];
        if (i < 0 || i >= g->in[j]) return -1;
        base = base * g->in[j] + i;
    }
    return base;
}

static inline void fc_koff(const fc_geom *g, int64_t t, int64_t *koff)
{
    int64_t kidx[FC_MAXD];
    fc_unravel(t, g->ndim, g->k, kidx);
    for (int j = 0; j < g->ndim; ++j) koff[j] = kidx[j] * g->dil[j] - g->pad[j];
}

#define FC_T float
#define FC_SFX f32
#include "direct_impl.h"
#undef FC_T
#undef FC_SFX

#define FC_T double
#define FC_SFX f64
#include "direct_impl.h"
#undef FC_T
#undef FC_SFX

#endif
