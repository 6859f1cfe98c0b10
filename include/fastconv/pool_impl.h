/* Template body of pool.h: expects FC_T and FC_SFX (direct_impl.h supplies
 * FC_FOR_VALID_ROWS and fc_tap for the same dtype). */

#define FC_FN(name) FC_CAT(name, FC_SFX)

/* Window sizes along `axis` (see pool.h): counts of axis j follow those of j-1. */
static inline const FC_T *FC_FN(fc_axis_counts)(const fc_geom *g, const FC_T *counts, int axis)
{
    for (int j = 0; j < axis; ++j) counts += g->out[j];
    return counts;
}

/* Rows [r0, r1) of `out` (all axes but the last; `out` points at row r0)
 * divided by the window sizes: dst = src / (outer-axes count * last-axis count). */
static inline void FC_FN(fc_divide_by_counts)(const fc_geom *g, const FC_T *counts, int64_t r0,
                                              int64_t r1, const FC_T *src, FC_T *dst)
{
    const int L = g->ndim - 1;
    const int64_t W = g->out[L];
    const FC_T *last = FC_FN(fc_axis_counts)(g, counts, L);
    int64_t oi[FC_MAXD];
    fc_unravel(r0, L, g->out, oi);
    for (int64_t r = r0; r < r1; ++r) {
        FC_T outer = 1;
        const FC_T *cj = counts;
        for (int j = 0; j < L; ++j) {
            outer *= cj[oi[j]];
            cj += g->out[j];
        }
        const FC_T *restrict s = src + (r - r0) * W;
        FC_T *restrict d = dst + (r - r0) * W;
        for (int64_t o = 0; o < W; ++o) d[o] = s[o] / (outer * last[o]);
        for (int j = L - 1; j >= 0; --j) {
            if (++oi[j] < g->out[j]) break;
            oi[j] = 0;
        }
    }
}

/* One tap over one output row: y[o] takes x[o*s] when it is larger or NaN
 * (NaN propagates; ties keep the earlier element).  The stride is a
 * compile-time constant in the common cases so the loads vectorise. */
FC_ROW_INLINE void FC_FN(fc_max_tap_row)(FC_T *restrict y, const FC_T *restrict x, int64_t lo,
                                         int64_t hi, int64_t s)
{
#define FC_MAX_LOOP(S)                                                         \
    for (int64_t o = lo; o < hi; ++o) {                                        \
        const FC_T v = x[o * (S)];                                             \
        y[o] = ((v > y[o]) | (v != v)) ? v : y[o];                             \
    }
    if (s == 1) {
        FC_MAX_LOOP(1)
    } else if (s == 2) {
        FC_MAX_LOOP(2)
    } else {
        FC_MAX_LOOP(s)
    }
#undef FC_MAX_LOOP
}

/* As fc_max_tap_row, also recording in idx the flat plane index roff + o*s of
 * the element taken; idx < 0 (nothing taken yet) takes any element, so that
 * a window of -inf still points at its first element, as torch does. */
FC_ROW_INLINE void FC_FN(fc_argmax_tap_row)(FC_T *restrict y, int64_t *restrict idx,
                                            const FC_T *restrict x, int64_t roff, int64_t lo,
                                            int64_t hi, int64_t s)
{
#define FC_ARGMAX_LOOP(S)                                                      \
    for (int64_t o = lo; o < hi; ++o) {                                        \
        const FC_T v = x[o * (S)];                                             \
        const int take = (v > y[o]) | (v != v) | (idx[o] < 0);                 \
        y[o] = take ? v : y[o];                                                \
        idx[o] = take ? roff + o * (S) : idx[o];                               \
    }
    if (s == 1) {
        FC_ARGMAX_LOOP(1)
    } else if (s == 2) {
        FC_ARGMAX_LOOP(2)
    } else {
        FC_ARGMAX_LOOP(s)
    }
#undef FC_ARGMAX_LOOP
}

/* Rows [r0, r1) of one plane (y, idx point at row r0): y = max of each window;
 * idx (unless NULL) = flat index in the plane of the element chosen, or -1
 * for a window that lies entirely in the padding (then y = -inf). */
FC_ISA_CLONES
static void FC_FN(fc_max_pool_rows)(const fc_geom *g, const FC_T *x, int64_t r0, int64_t r1,
                                    FC_T *y, int64_t *idx)
{
    const int64_t W = g->out[g->ndim - 1];
    const int64_t s = g->stride[g->ndim - 1];
    const int64_t y0 = r0 * W;
    int64_t koff[FC_MAXD], lo, hi;
    for (int64_t i = 0; i < (r1 - r0) * W; ++i) y[i] = -INFINITY;
    if (idx)
        for (int64_t i = 0; i < (r1 - r0) * W; ++i) idx[i] = -1;
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        FC_FOR_VALID_ROWS(g, koff, r0, r1, {
            if (idx)
                FC_FN(fc_argmax_tap_row)(y + (yoff - y0), idx + (yoff - y0), x + roff, roff,
                                         lo, hi, s);
            else
                FC_FN(fc_max_tap_row)(y + (yoff - y0), x + roff, lo, hi, s);
        });
    }
}

/* Rows [r0, r1) of one plane (y points at row r0): the window sums divided
 * by the window sizes in `counts`. */
FC_ISA_CLONES
static void FC_FN(fc_avg_pool_rows)(const fc_geom *g, const FC_T *x, const FC_T *counts,
                                    int64_t r0, int64_t r1, FC_T *y)
{
    const int64_t W = g->out[g->ndim - 1];
    const int64_t s = g->stride[g->ndim - 1];
    const int64_t y0 = r0 * W;
    int64_t koff[FC_MAXD], lo, hi;
    for (int64_t i = 0; i < (r1 - r0) * W; ++i) y[i] = 0;
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        FC_FOR_VALID_ROWS(g, koff, r0, r1, {
            FC_T *restrict yr = y + (yoff - y0);
            const FC_T *restrict xr = x + roff;
            if (s == 1) {
                for (int64_t o = lo; o < hi; ++o) yr[o] += xr[o];
            } else {
                for (int64_t o = lo; o < hi; ++o) yr[o] += xr[o * s];
            }
        });
    }
    FC_FN(fc_divide_by_counts)(g, counts, r0, r1, y, y);
}

/* gx (one input plane) += gy of rows [r0, r1) (gy points at the plane)
 * routed to each window's arg-max; ybuf and ibuf hold (r1 - r0) rows.
 * Outputs are visited in order, so sums into one element have a fixed order. */
static void FC_FN(fc_max_pool_grad_rows)(const fc_geom *g, const FC_T *x, const FC_T *gy,
                                         int64_t r0, int64_t r1, FC_T *ybuf, int64_t *ibuf,
                                         FC_T *gx)
{
    const int64_t W = g->out[g->ndim - 1];
    FC_FN(fc_max_pool_rows)(g, x, r0, r1, ybuf, ibuf);
    const FC_T *gyr = gy + r0 * W;
    for (int64_t i = 0; i < (r1 - r0) * W; ++i)
        if (ibuf[i] >= 0) gx[ibuf[i]] += gyr[i];
}

/* gx (one input plane of `size` positions, each a vector of V channels) +=
 * gy routed through `idx`, the indices max pooling returned: output i of the
 * plane goes to position idx[i] (channel i % V).  -1 (an empty window) routes
 * nowhere; returns how many indices were out of range (and skipped). */
static int64_t FC_FN(fc_max_pool_scatter)(const FC_T *gy, const int64_t *idx, int64_t n,
                                          int64_t V, int64_t size, FC_T *gx)
{
    int64_t bad = 0;
    for (int64_t i0 = 0; i0 < n; i0 += V) {
        for (int64_t c = 0; c < V; ++c) {
            const int64_t j = idx[i0 + c];
            if ((uint64_t)j < (uint64_t)size)
                gx[j * V + c] += gy[i0 + c];
            else
                bad += j != -1;
        }
    }
    return bad;
}

/* gx (one input plane) += every output of rows [r0, r1) of gy (gy points at
 * the plane) divided by its window size, spread over its window; `scaled`
 * holds (r1 - r0) rows. */
FC_ISA_CLONES
static void FC_FN(fc_avg_pool_grad_rows)(const fc_geom *g, const FC_T *gy, const FC_T *counts,
                                         int64_t r0, int64_t r1, FC_T *scaled, FC_T *gx)
{
    const int64_t W = g->out[g->ndim - 1];
    const int64_t s = g->stride[g->ndim - 1];
    const int64_t y0 = r0 * W;
    int64_t koff[FC_MAXD], lo, hi;
    FC_FN(fc_divide_by_counts)(g, counts, r0, r1, gy + y0, scaled);
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        FC_FOR_VALID_ROWS(g, koff, r0, r1, {
            const FC_T *restrict sr = scaled + (yoff - y0);
            FC_T *restrict xr = gx + roff;
            if (s == 1) {
                for (int64_t o = lo; o < hi; ++o) xr[o] += sr[o];
            } else {
                for (int64_t o = lo; o < hi; ++o) xr[o * s] += sr[o];
            }
        });
    }
}

#undef FC_FN
