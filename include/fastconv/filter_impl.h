/* Template body of filter.h: expects FC_T and FC_SFX. */

#define FC_FN(name) FC_CAT(name, FC_SFX)
#define FC_ROWS_FN FC_CAT(fc_rows, FC_CAT(FC_SFX, fn))

/* Strip row i = extended row e0 + i of a plane (NULL plane: all cval).
 * Columns: extended column c reads src_c[c]; [a, b) is one copied run. */
static void FC_FN(fc_filter_strip)(const fc_filter_plan *P, const FC_T *plane,
                                   const int64_t *src_r, int64_t e0, int64_t nrows,
                                   FC_T cval, FC_T *strip)
{
    const int L = P->nd - 1;
    const int64_t W = P->in[L];
    const int64_t ncols = P->out[L] + P->k[L] - 1;
    const int64_t *src_c = P->src[L];
    const int64_t a = P->col_a, b = P->col_b;
    for (int64_t i = 0; i < nrows; ++i) {
        FC_T *d = strip + i * P->ss;
        const int64_t r = plane ? src_r[e0 + i] : -1;
        if (r < 0) {
            for (int64_t c = 0; c < ncols; ++c) d[c] = cval;
            continue;
        }
        const FC_T *s = plane + r * W;
        for (int64_t c = 0; c < a; ++c) d[c] = src_c[c] < 0 ? cval : s[src_c[c]];
        if (b > a) memcpy(d + a, s + src_c[a], (size_t)(b - a) * sizeof(FC_T));
        for (int64_t c = b; c < ncols; ++c) d[c] = src_c[c] < 0 ? cval : s[src_c[c]];
    }
}

/* The plane's rows [e0, e0 + nrows) in place, if they are consecutive source
 * rows and the columns need no padding: the first of them, else NULL. */
static inline const FC_T *FC_FN(fc_filter_in_place)(const fc_filter_plan *P, const FC_T *plane,
                                                    const int64_t *src_r, int64_t e0,
                                                    int64_t nrows)
{
    const int L = P->nd - 1;
    if (!plane || !P->tap_off_in || P->col_a != 0 || P->col_b != P->out[L] + P->k[L] - 1)
        return NULL;
    const int64_t r0 = src_r[e0];
    if (r0 < 0) return NULL;
    for (int64_t i = 1; i < nrows; ++i)
        if (src_r[e0 + i] != r0 + i) return NULL;
    return plane + r0 * P->in[L] + P->src[L][0];
}

/* One work item: rows [r0, r1) of one output slab (all axes but the last
 * two fixed), summed over the outer taps.  `work` is the thread's scratch. */
static void FC_FN(fc_filter_item)(const fc_filter_plan *P, FC_ROWS_FN rows_fn,
                                  int64_t item, const FC_T *x, const FC_T *w, FC_T cval,
                                  FC_T *y, FC_T *work)
{
    const int nd = P->nd, R = nd - 2, L = nd - 1;
    const int64_t blk = item % P->blocks;
    const int64_t slab = (item / P->blocks) % P->outer;
    const int64_t b = item / (P->blocks * P->outer);
    const int64_t r0 = blk * P->rows;
    const int64_t nr = (r0 + P->rows < P->out[R] ? r0 + P->rows : P->out[R]) - r0;
    const int64_t Wo = P->out[L];
    const int64_t nin = nr + P->k[R] - 1;
    const FC_T *xb = x + b * P->in_size;
    const FC_T *wb = w + b * P->w_stride;
    FC_T *yr = y + b * P->out_size + (slab * P->out[R] + r0) * Wo;

    int64_t oi[FC_MAXD], ki[FC_MAXD];
    fc_unravel(slab, R, P->out, oi);

    if (P->separable) {
        /* row pass over the strip into tmp, then the column pass into y */
        FC_T *strip = work, *tmp = work + nin * P->ss;
        FC_FN(fc_filter_strip)(P, xb, P->src[R], r0, nin, cval, strip);
        rows_fn(strip, P->ss, P->n_h, P->h_off, wb, 0, 0, nin, Wo, tmp, P->tmp_stride);
        rows_fn(tmp, P->tmp_stride, P->n_v, P->v_off, wb + P->n_h, 0, 0, nr, Wo, yr, Wo);
        return;
    }

    int first = 1;
    for (int64_t u = 0; u < P->n_outer; ++u) {
        const int64_t t0 = P->tap_start[u], nt = P->tap_start[u + 1] - t0;
        if (nt == 0) continue;
        /* the source slab this outer tap reads (NULL: in the constant border) */
        const FC_T *plane = xb;
        fc_unravel(u, R, P->k, ki);
        int64_t lin = 0;
        for (int j = 0; j < R; ++j) {
            const int64_t s = P->src[j][oi[j] + ki[j]];
            if (s < 0) { plane = NULL; break; }
            lin = lin * P->in[j] + s;
        }
        if (plane) plane += lin * P->in[R] * P->in[L];
        const FC_T *s = FC_FN(fc_filter_in_place)(P, plane, P->src[R], r0, nin);
        if (s) {
            rows_fn(s, P->in[L], nt, P->tap_off_in + t0, wb + t0, 0, !first, nr, Wo, yr, Wo);
        } else {
            FC_FN(fc_filter_strip)(P, plane, P->src[R], r0, nin, cval, work);
            rows_fn(work, P->ss, nt, P->tap_off + t0, wb + t0, 0, !first, nr, Wo, yr, Wo);
        }
        first = 0;
    }
    if (first) memset(yr, 0, (size_t)(nr * Wo) * sizeof(FC_T));
}

#undef FC_ROWS_FN
#undef FC_FN
