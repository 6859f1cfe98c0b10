/* fastconv/local.h -- unshared (locally connected) and tiled convolution.
 *
 * Output position p uses its own weight matrix W[class(p)] (C_out x C_in*K),
 * class(p) = ravel(unravel(p) % T): T = S_out is the locally connected layer,
 * T = (1, ..., 1) the ordinary convolution.  The engine reuses fc_im2col: a
 * chunk of positions is packed for a few samples at once (patch matrix per
 * sample: C_in*K rows x positions), then re-laid out as one row per
 * (position, sample), positions grouped by class, so every class is one GEMM
 * over all of its positions and samples:  Y_class = W_class @ rows_class^T.
 * The forward of a layer whose classes are not shared has its own kernels
 * (a gather of each position's patches, then dot products that read the
 * position's weights once).
 *
 * Dtype variants of the re-layouts and kernels are generated from local_impl.h.
 */
#ifndef FASTCONV_LOCAL_H
#define FASTCONV_LOCAL_H

#include "geom.h"
#include "avx512.h"

/* Weight class of every output position in [p0, p1) (out: the output grid,
 * tiles: T), and `order`: the positions' offsets q = p - p0 sorted by class,
 * stable (insertion sort: chunks are short and usually already sorted). */
static void fc_class_order(int ndim, const int64_t *out, const int64_t *tiles, int64_t p0,
                           int64_t p1, int64_t *cls, int64_t *order)
{
    int64_t oi[FC_MAXD];
    fc_unravel(p0, ndim, out, oi);
    for (int64_t q = 0; q < p1 - p0; ++q) {
        int64_t c = 0;
        for (int j = 0; j < ndim; ++j) c = c * tiles[j] + oi[j] % tiles[j];
        cls[q] = c;
        for (int j = ndim - 1; j >= 0; --j) {
            if (++oi[j] < out[j]) break;
            oi[j] = 0;
        }
    }
    for (int64_t i = 0; i < p1 - p0; ++i) {
        int64_t q = i, k = i;
        while (k > 0 && cls[order[k - 1]] > cls[q]) {
            order[k] = order[k - 1];
            --k;
        }
        order[k] = q;
    }
}

/* Elements the direct kernels' gather copies at once (fc_local_gather): a
 * kernel row of up to this many taps is one copy. */
#define FC_GATHER_PIECE 4

/* RUNS(count) with count a constant for 1-7 runs per channel (kernels of up
 * to 7 rows), else nrun: the per-channel loops of the gather and scatter
 * unroll, their run table in registers (8% of the local_conv forward of 3x3
 * 64->64 at 28^2, N=8). */
#define FC_SWITCH_RUN_COUNT(nrun, RUNS)                                         \
    switch (nrun) {                                                             \
    case 1: RUNS(1) break;                                                      \
    case 2: RUNS(2) break;                                                      \
    case 3: RUNS(3) break;                                                      \
    case 4: RUNS(4) break;                                                      \
    case 5: RUNS(5) break;                                                      \
    case 6: RUNS(6) break;                                                      \
    case 7: RUNS(7) break;                                                      \
    default: RUNS(nrun)                                                         \
    }

#define FC_TEMPLATE "local_impl.h"
#include "for_each_dtype.h"

#endif
