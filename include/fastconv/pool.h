/* fastconv/pool.h -- direct max and average pooling kernels and their adjoints.
 *
 * One call handles the rows [r0, r1) (all axes but the last) of the output
 * of one plane.  Every position of a plane holds V contiguous values: V = 1
 * for channels-first data (a plane is one (sample, channel) image, and the
 * loops run along its last axis), V = C for channels-last data (a plane is
 * one sample, and the loops run along the channels of each position).
 *
 * The loops reuse the tap walk of the direct convolution kernels
 * (direct.h: kernel taps outer, output rows of an L1-sized block inner),
 * and each tap is a max or a sum instead of a multiply-add.  Windows are
 * scanned tap by tap in row-major order, which is torch's scan order: max
 * keeps the first maximum (strict >) and takes any NaN it meets, so NaN
 * propagates and the index of a NaN is the last one scanned, as in torch.
 *
 * Dtype variants are generated from pool_impl.h.
 */
#ifndef FASTCONV_POOL_H
#define FASTCONV_POOL_H

#include <math.h>

#include "direct.h"
#include "runtime.h"

/* For tap koff, run BODY for every output row r in [r0, r1) (all axes but the
 * last) that reads inside the input, with yoff = r * W (the row's first
 * output position) and roff = the input position output 0 of the row reads
 * (output o reads roff + o * stride).  Same contract as direct.h's
 * FC_FOR_VALID_ROWS, but pooling rows are short (tens of outputs): the rows
 * along the second-to-last axis that read inside are found once per run with
 * fc_valid_range and walked with constant strides, the outer axes resolved
 * once per run.  For ndim >= 3, [r0, r1) holds whole runs (the plans cut
 * blocks along axis 0 only). */
#define FC_FOR_VALID_ROW_RUNS(g, koff, r0, r1, BODY)                             \
    do {                                                                         \
        const int L_ = (g)->ndim - 1;                                            \
        const int64_t W_ = (g)->out[L_];                                         \
        if (L_ == 0) {                                                           \
            const int64_t yoff = 0;                                              \
            const int64_t roff = (koff)[0];                                      \
            BODY                                                                 \
            break;                                                               \
        }                                                                        \
        const int A_ = L_ - 1;                                                   \
        const int64_t n_ = (g)->out[A_];                                         \
        int64_t oi_[FC_MAXD];                                                    \
        fc_unravel((r0) / n_, A_, (g)->out, oi_);                                \
        for (int64_t u_ = (r0) / n_; u_ * n_ < (r1); ++u_) {                     \
            int64_t base_ = 0;                                                   \
            int inside_ = 1;                                                     \
            for (int j_ = 0; j_ < A_; ++j_) {                                    \
                const int64_t i_ = oi_[j_] * (g)->stride[j_] + (koff)[j_];       \
                if (i_ < 0 || i_ >= (g)->in[j_]) { inside_ = 0; break; }         \
                base_ = base_ * (g)->in[j_] + i_;                                \
            }                                                                    \
            if (inside_) {                                                       \
                const int64_t a0_ = (r0) > u_ * n_ ? (r0) - u_ * n_ : 0;         \
                const int64_t a1_ = (r1) < (u_ + 1) * n_ ? (r1) - u_ * n_ : n_;  \
                int64_t alo_, ahi_;                                              \
                fc_valid_range(a0_, a1_, (g)->stride[A_], (koff)[A_], (g)->in[A_], \
                               &alo_, &ahi_);                                    \
                const int64_t rstep_ = (g)->stride[A_] * (g)->in[L_];            \
                int64_t roff = ((base_ * (g)->in[A_]) + alo_ * (g)->stride[A_]   \
                                + (koff)[A_]) * (g)->in[L_] + (koff)[L_];        \
                int64_t yoff = (u_ * n_ + alo_) * W_;                            \
                for (int64_t a_ = alo_; a_ < ahi_; ++a_, roff += rstep_, yoff += W_) { \
                    BODY                                                         \
                }                                                                \
            }                                                                    \
            for (int j_ = A_ - 1; j_ >= 0; --j_) {                               \
                if (++oi_[j_] < (g)->out[j_]) break;                             \
                oi_[j_] = 0;                                                     \
            }                                                                    \
        }                                                                        \
    } while (0)

/* Average pooling: `counts` (in the compute dtype) holds, axis after axis,
 * the window size of every output index along that axis (out[0] values, then
 * out[1], ...); the divisor of an output is their product (windows are boxes). */

/* Row loops are inlined into their ISA-cloned callers: left out of line they
 * would be compiled once, for the baseline ISA. */
#if defined(__GNUC__)
#define FC_ROW_INLINE static inline __attribute__((always_inline))
#else
#define FC_ROW_INLINE static inline
#endif

/* AVX-512 row kernels for max pooling of channels-first data (V = 1, stride
 * 1 or 2), window by window.  Rows are short (tens of outputs): left to the
 * auto-vectoriser, the alignment peel and the scalar remainder cost more
 * than the vector body; written with intrinsics, every step is one full
 * vector and the last step is moved back to end at the row's end.  Compiled
 * with a target attribute and chosen at run time (runtime.h's CPU probe), as
 * the implicit-GEMM kernels. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(FASTCONV_NO_AVX512)
#define FC_HAVE_AVX512_ROWS 1
#include <immintrin.h>
#define FC_AVX512 __attribute__((target("avx512f")))
#else
#define FC_HAVE_AVX512_ROWS 0
#endif

/* The gradients zero their planes block by block, just before adding into
 * them (a separate pass, or NumPy's, writes the whole input gradient once
 * more, on one thread).  Input indices along axis 0 are the unit. */

/* The input indices [lo, hi) along axis 0 that output rows [r0, r1) (all axes
 * but the last) read. */
static inline void fc_pool_rows_read(const fc_geom *g, int64_t r0, int64_t r1, int64_t *lo,
                                     int64_t *hi)
{
    const int64_t n = g->in[0];
    if (g->ndim == 1) {
        *lo = 0;
        *hi = n;
        return;
    }
    int64_t inner = 1;  /* output rows per index along axis 0 */
    for (int j = 1; j < g->ndim - 1; ++j) inner *= g->out[j];
    const int64_t a0 = r0 / inner, a1 = (r1 + inner - 1) / inner;
    int64_t l = a0 * g->stride[0] - g->pad[0];
    int64_t h = (a1 - 1) * g->stride[0] - g->pad[0] + (g->k[0] - 1) * g->dil[0] + 1;
    *lo = l < 0 ? 0 : (l > n ? n : l);
    *hi = h < *lo ? *lo : (h > n ? n : h);
}

/* The input indices [z0, z1) along axis 0 that block b of nb (`per` output
 * rows each, of `rows`) zeroes.  Block b owns the indices from the first one
 * it reads to the first one block b+1 reads (block 0 from 0, the last block
 * to the end).  Even blocks run first: one zeroes what it owns and what it
 * reads past that; an odd block what it owns beyond what the even block
 * before it read.  Blocks two apart read disjoint indices (the plans see to
 * it), so every index is zeroed once, before any gradient reaches it. */
typedef struct { int64_t z0, z1; } fc_span;

/* Returned by value, so that a parallel loop's caller keeps it private. */
static inline fc_span fc_pool_block_zeros(const fc_geom *g, int64_t per, int64_t rows,
                                          int64_t b, int64_t nb)
{
    int64_t lo, hi, next_lo = 0, next_hi, prev_lo, prev_hi;
    fc_span z;
    fc_pool_rows_read(g, b * per, (b + 1) * per < rows ? (b + 1) * per : rows, &lo, &hi);
    if (b + 1 < nb)
        fc_pool_rows_read(g, (b + 1) * per, (b + 2) * per < rows ? (b + 2) * per : rows,
                          &next_lo, &next_hi);
    const int64_t own0 = b == 0 ? 0 : lo, own1 = b + 1 == nb ? g->in[0] : next_lo;
    if (b % 2 == 0) {
        z.z0 = own0;
        z.z1 = hi > own1 ? hi : own1;
    } else {
        fc_pool_rows_read(g, (b - 1) * per, b * per, &prev_lo, &prev_hi);
        z.z0 = prev_hi > own0 ? prev_hi : own0;
        z.z1 = own1 > z.z0 ? own1 : z.z0;
    }
    return z;
}

/* Max pooling window by window (channels-first, AVX-512): the taps of one
 * output row that lie inside the input on the outer axes, in window order,
 * with the input position output 0 of the row reads through each (roff) and
 * the outputs [lo, hi) whose last-axis input is inside.  The tap-by-tap
 * loops keep each window's running max and arg-max in memory, 9 loads and
 * stores per output for 3x3; window by window they stay in registers. */
#define FC_ROW_TAPS 64
typedef struct {
    int64_t n;
    int64_t roff[FC_ROW_TAPS], lo[FC_ROW_TAPS], hi[FC_ROW_TAPS];
} fc_row_taps;

/* The taps valid on the last axis (of at most FC_ROW_TAPS), once per call:
 * koffs (n x FC_MAXD) and their output ranges; returns how many (n). */
static inline int64_t fc_last_axis_taps(const fc_geom *g, int64_t *koffs, int64_t *lo,
                                        int64_t *hi)
{
    const int L = g->ndim - 1;
    int64_t n = 0;
    for (int64_t t = 0; t < g->k_size; ++t) {
        int64_t *koff = koffs + n * FC_MAXD;
        fc_koff(g, t, koff);
        fc_valid_range(0, g->out[L], g->stride[L], koff[L], g->in[L], &lo[n], &hi[n]);
        n += hi[n] > lo[n];
    }
    return n;
}

/* The taps of the output row at multi-index oi (all axes but the last; see
 * fc_row_taps) from those of fc_last_axis_taps. */
static inline void fc_row_taps_of(const fc_geom *g, int64_t ntaps, const int64_t *koffs,
                                  const int64_t *lo, const int64_t *hi, const int64_t *oi,
                                  fc_row_taps *tp)
{
    const int L = g->ndim - 1;
    tp->n = 0;
    for (int64_t t = 0; t < ntaps; ++t) {
        const int64_t *koff = koffs + t * FC_MAXD;
        int64_t base = 0;
        int j = 0;
        for (; j < L; ++j) {
            const int64_t i = oi[j] * g->stride[j] + koff[j];
            if (i < 0 || i >= g->in[j]) break;
            base = base * g->in[j] + i;
        }
        if (j < L) continue;
        tp->roff[tp->n] = base * g->in[L] + koff[L];
        tp->lo[tp->n] = lo[t];
        tp->hi[tp->n] = hi[t];
        ++tp->n;
    }
}

#define FC_TEMPLATE "pool_impl.h"
#include "for_each_dtype.h"

#endif
