/* fastconv/direct.h -- direct (no GEMM) kernels for channel-wise convolution.
 *
 * When each output channel reads one input channel (depthwise, channel
 * multipliers, single-channel filtering) the GEMM has M = 1 and is the wrong
 * tool.  These kernels walk one output row at a time and add each kernel tap
 * into it (the row stays in L1), vectorised along the contiguous last axis.
 *
 * ISA variants: the row loops are compiled once per x86 level (AVX-512,
 * AVX2 + FMA, the SSE2 baseline: runtime.h's FC_ISA_VARIANTS) and run for
 * fc_isa_level(), so the shipped build needs no -march and FASTCONV_ISA caps
 * them.  Dtype variants come from direct_impl.h.
 */
#ifndef FASTCONV_DIRECT_H
#define FASTCONV_DIRECT_H

#include <stdlib.h>

#include "geom.h"
#include "filter_rows.h"


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

/* -- the interior of a plane, for the register-blocked row kernel ---------- */

#define FC_DIRECT_STACK_TAPS 512

typedef struct {
    int64_t lo[FC_MAXD], hi[FC_MAXD];  /* interior outputs per leading axis */
    int64_t c0, c1;                    /* interior columns (last axis) */
    int64_t ss;                        /* input distance of consecutive rows */
} fc_interior;

/* Outputs o of an axis whose taps o*s + t*dil - pad (t < k) all lie in [0, n). */
static inline void fc_interior_axis(int64_t n, int64_t out, int64_t k, int64_t s,
                                    int64_t dil, int64_t pad, int64_t *lo, int64_t *hi)
{
    int64_t a = (pad + s - 1) / s;
    const int64_t last = n - 1 - (k - 1) * dil + pad;   /* o*s <= last */
    int64_t b = last < 0 ? 0 : last / s + 1;
    if (a > out) a = out;
    if (b > out) b = out;
    *lo = a;
    *hi = b < a ? a : b;
}

/* 0 when the last axis is strided or no output reads only the inside. */
static inline int fc_interior_init(const fc_geom *g, fc_interior *in)
{
    const int L = g->ndim - 1;
    if (g->stride[L] != 1) return 0;
    for (int j = 0; j < L; ++j) {
        fc_interior_axis(g->in[j], g->out[j], g->k[j], g->stride[j], g->dil[j], g->pad[j],
                         &in->lo[j], &in->hi[j]);
        if (in->hi[j] <= in->lo[j]) return 0;
    }
    fc_interior_axis(g->in[L], g->out[L], g->k[L], 1, g->dil[L], g->pad[L], &in->c0, &in->c1);
    if (in->c1 <= in->c0) return 0;
    in->ss = L > 0 ? g->stride[L - 1] * g->in[L] : 0;
    return 1;
}

static inline int fc_interior_row(const fc_interior *in, const fc_geom *g, const int64_t *oi)
{
    for (int j = 0; j < g->ndim - 1; ++j)
        if (oi[j] < in->lo[j] || oi[j] >= in->hi[j]) return 0;
    return 1;
}

/* Input offset read by tap t (all offsets, row-major taps) from the input
 * position of an output, and that position for output row oi, column 0. */
static inline void fc_interior_taps(const fc_geom *g, int64_t *off)
{
    int64_t koff[FC_MAXD];
    for (int64_t t = 0; t < g->k_size; ++t) {
        fc_koff(g, t, koff);
        int64_t o = 0;
        for (int j = 0; j < g->ndim; ++j) o = o * g->in[j] + koff[j];
        off[t] = o;
    }
}

static inline int64_t fc_interior_base(const fc_geom *g, const int64_t *oi)
{
    const int L = g->ndim - 1;
    int64_t base = 0;
    for (int j = 0; j < L; ++j) base = base * g->in[j] + oi[j] * g->stride[j];
    return base * g->in[L];
}

static inline void fc_next_row(const fc_geom *g, int64_t *oi)
{
    for (int j = g->ndim - 2; j >= 0; --j) {
        if (++oi[j] < g->out[j]) break;
        oi[j] = 0;
    }
}

#define FC_TEMPLATE "direct_impl.h"
#include "for_each_dtype.h"

#endif
