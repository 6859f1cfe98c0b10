/* fastconv/filter.h -- single-channel N-d correlation with any boundary rule.
 *
 * The problem (what fastconv.signal and fastconv.ndimage reduce to):
 *
 *   y[b, o] = sum_t w[b or 0, t] * ext(x[b])[o + t]       for o < out, t < k
 *
 * where ext extends each filtered axis j of an input plane by an index map
 * src_j(e) (e < out[j] + k[j] - 1): the source index along j, or -1 for
 * the constant cval.  A map is the identity shifted by lo[j] on an interior
 * run [a[j], b[j]) and is tabulated only outside it (fc_filter_src).  Every
 * boundary rule of SciPy (zero padding, fill, wrap, symm, reflect, mirror,
 * nearest, origins, 'same' centring) is such a map; the Python layer builds
 * them, this file only reads them.
 *
 * Work is split in items: (plane b, outer output index over the axes before
 * the last two, block of `rows` output rows, block of `cols` output columns).
 * For one item and one outer tap, the columns whose taps all read inside the
 * source read its rows in place; the others (and blocks of rows that reach
 * beyond the source) get the rows they read copied once into a padded strip
 * (per-thread scratch).  Either way the hot loop (filter_rows.h) never tests
 * a boundary.  A rank-1 2-d kernel may run as two passes of the same row
 * kernel (a row filter over the strip, then a column filter).
 */
#ifndef FASTCONV_FILTER_H
#define FASTCONV_FILTER_H

#include <stdint.h>
#include <string.h>

#include "geom.h"
#include "filter_rows.h"

typedef struct {
    int nd;                          /* filtered axes (>= 2; leading ones may be 1) */
    int64_t in[FC_MAXD], out[FC_MAXD], k[FC_MAXD];
    /* per axis j: extended position e reads source e - lo[j] on [a[j], b[j]),
       src_lo[j][e] below a[j], src_hi[j][e - b[j]] from b[j] on (-1: cval) */
    int64_t lo[FC_MAXD], a[FC_MAXD], b[FC_MAXD];
    const int64_t *src_lo[FC_MAXD];
    const int64_t *src_hi[FC_MAXD];
    int64_t in_size, out_size;       /* elements of one input / output plane */
    int64_t rows;                    /* output rows (axis nd-2) of one block */
    int64_t blocks;                  /* blocks along axis nd-2 */
    int64_t cols;                    /* output columns (axis nd-1) of one block */
    int64_t cblocks;                 /* blocks along axis nd-1 */
    int64_t outer;                   /* output positions over axes [0, nd-2) */
    int64_t items;                   /* planes * outer * blocks * cblocks */
    int64_t ss;                      /* row stride of the strip (elements) */
    /* taps: for outer tap u (over axes [0, nd-2)), taps [tap_start[u], tap_start[u+1])
       of the 2-d slice; tap_off is the offset in the strip (p*ss + q), tap_off_in
       the offset when reading the source plane in place (p*in[nd-1] + q). */
    int64_t n_outer;
    const int64_t *tap_start;
    const int64_t *tap_off;
    const int64_t *tap_off_in;
    int64_t ntaps;
    int64_t w_stride;                /* weights per plane (0: one kernel for all) */
    int dense;                       /* every slice has all kh*kw taps, row-major:
                                        fc_rows2d may run it */
    /* separable 2-d kernel (nd == 2, one kernel): a row pass, then a column pass */
    int separable;
    int64_t n_h, n_v;                /* taps of each pass */
    const int64_t *h_off;            /* q */
    const int64_t *v_off;            /* p * tmp_stride */
    int64_t tmp_stride;              /* row stride of the row-pass result */
    int64_t strip_elems;             /* scratch per thread: strip (+ row-pass rows) */
} fc_filter_plan;

/* Source index along axis j of extended position e (-1: the constant). */
static inline int64_t fc_filter_src(const fc_filter_plan *P, int j, int64_t e)
{
    if (e < P->a[j]) return P->src_lo[j][e];
    if (e >= P->b[j]) return P->src_hi[j][e - P->b[j]];
    return e - P->lo[j];
}

#define FC_TEMPLATE "filter_impl.h"
#include "for_each_dtype.h"

#endif
