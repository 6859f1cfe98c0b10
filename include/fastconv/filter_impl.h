/* Template body of filter.h: expects FC_T and FC_SFX. */

#define FC_FN(name) FC_CAT(name, FC_SFX)
#define FC_ROWS_FN FC_CAT(fc_rows, FC_CAT(FC_SFX, fn))
#define FC_ROWS2D_FN FC_CAT(fc_rows2d, FC_CAT(FC_SFX, fn))

/* Strip row i = extended row e0 + i of a plane (NULL plane: all cval),
 * columns = extended columns [c0, c0 + n) of the last axis. */
static void FC_FN(fc_filter_strip)(const fc_filter_plan *P, const FC_T *plane, int64_t e0,
                                   int64_t nrows, int64_t c0, int64_t n, FC_T cval,
                                   FC_T *strip)
{
    const int R = P->nd - 2, L = P->nd - 1;
    const int64_t W = P->in[L];
    /* the window's interior run [ia, ib), and its border columns */
    const int64_t ia = P->a[L] - c0 < 0 ? 0 : (P->a[L] - c0 > n ? n : P->a[L] - c0);
    int64_t ib = P->b[L] - c0 > n ? n : P->b[L] - c0;
    if (ib < ia) ib = ia;
    for (int64_t i = 0; i < nrows; ++i) {
        FC_T *d = strip + i * P->ss;
        const int64_t r = plane ? fc_filter_src(P, R, e0 + i) : -1;
        if (r < 0) {
            for (int64_t c = 0; c < n; ++c) d[c] = cval;
            continue;
        }
        const FC_T *s = plane + r * W;
        for (int64_t c = 0; c < ia; ++c) {
            const int64_t sc = P->src_lo[L][c0 + c];
            d[c] = sc < 0 ? cval : s[sc];
        }
        if (ib > ia) memcpy(d + ia, s + c0 + ia - P->lo[L], (size_t)(ib - ia) * sizeof(FC_T));
        for (int64_t c = ib; c < n; ++c) {
            const int64_t sc = P->src_hi[L][c0 + c - P->b[L]];
            d[c] = sc < 0 ? cval : s[sc];
        }
    }
}

/* The plane's rows [e0, e0 + nrows), if they are consecutive source rows:
 * the first of them (to read in place), else NULL. */
static inline const FC_T *FC_FN(fc_filter_rows_in_place)(const fc_filter_plan *P,
                                                         const FC_T *plane, int64_t e0,
                                                         int64_t nrows)
{
    const int R = P->nd - 2, L = P->nd - 1;
    if (!plane || !P->tap_off_in) return NULL;
    const int64_t r0 = fc_filter_src(P, R, e0);
    if (r0 < 0) return NULL;
    for (int64_t i = 1; i < nrows; ++i)
        if (fc_filter_src(P, R, e0 + i) != r0 + i) return NULL;
    return plane + r0 * P->in[L];
}

/* Output columns [c0, c0 + nc) of rows [r0, r0 + nr), one outer tap slice
 * (taps t0.., weights w): the columns whose window is interior read the
 * source rows in place, the others a padded strip of just their window. */
static void FC_FN(fc_filter_slice)(const fc_filter_plan *P, FC_ROWS_FN rows_fn,
                                   FC_ROWS2D_FN rows2d_fn, const FC_T *plane, int64_t r0,
                                   int64_t nr, int64_t c0, int64_t nc, int64_t t0, int64_t nt,
                                   const FC_T *w, int add, FC_T cval, FC_T *y, FC_T *work)
{
    const int R = P->nd - 2, L = P->nd - 1;
    const int64_t kh = P->k[R], kw = P->k[L], Wo = P->out[L];
    const int dense = rows2d_fn && P->dense;
    const FC_T *rows = FC_FN(fc_filter_rows_in_place)(P, plane, r0, nr + kh - 1);
    /* outputs c whose window [c, c + kw) lies in the interior run [a, b) */
    int64_t ia = P->a[L] > c0 ? P->a[L] : c0;
    int64_t ib = P->b[L] - (kw - 1) < c0 + nc ? P->b[L] - (kw - 1) : c0 + nc;
    if (!rows || ib - ia < 16) ia = ib = c0 + nc;   /* all through the strip */
    if (ib > ia) {
        const FC_T *s = rows + ia - P->lo[L];
        if (dense)
            rows2d_fn(s, P->in[L], kh, kw, w, 0, add, nr, ib - ia, y + ia, Wo);
        else
            rows_fn(s, P->in[L], nt, P->tap_off_in + t0, w, 0, add, nr, ib - ia, y + ia, Wo);
    }
    /* the rest: [c0, ia) and [ib, c0 + nc) */
    const int64_t part[2][2] = {{c0, ia}, {ib, c0 + nc}};
    for (int j = 0; j < 2; ++j) {
        const int64_t a = part[j][0], n = part[j][1] - part[j][0];
        if (n <= 0) continue;
        FC_FN(fc_filter_strip)(P, plane, r0, nr + kh - 1, a, n + kw - 1, cval, work);
        if (dense)
            rows2d_fn(work, P->ss, kh, kw, w, 0, add, nr, n, y + a, Wo);
        else
            rows_fn(work, P->ss, nt, P->tap_off + t0, w, 0, add, nr, n, y + a, Wo);
    }
}

/* One work item: rows [r0, r0 + nr) x columns [c0, c0 + nc) of one output
 * slab (all axes but the last two fixed), summed over the outer taps
 * (fc_filter_slice each).
 * `work` is the thread's scratch; rows2d_fn (NULL: not available) runs
 * dense slices. */
static void FC_FN(fc_filter_item)(const fc_filter_plan *P, FC_ROWS_FN rows_fn,
                                  FC_ROWS2D_FN rows2d_fn, int64_t item, const FC_T *x,
                                  const FC_T *w, FC_T cval, FC_T *y, FC_T *work)
{
    const int nd = P->nd, R = nd - 2, L = nd - 1;
    const int64_t cblk = item % P->cblocks;
    const int64_t blk = (item / P->cblocks) % P->blocks;
    const int64_t slab = (item / (P->cblocks * P->blocks)) % P->outer;
    const int64_t b = item / (P->cblocks * P->blocks * P->outer);
    const int64_t r0 = blk * P->rows, c0 = cblk * P->cols;
    const int64_t nr = (r0 + P->rows < P->out[R] ? r0 + P->rows : P->out[R]) - r0;
    const int64_t nc = (c0 + P->cols < P->out[L] ? c0 + P->cols : P->out[L]) - c0;
    const int64_t Wo = P->out[L];
    const int64_t nin = nr + P->k[R] - 1, ncin = nc + P->k[L] - 1;  /* separable strip */
    const FC_T *xb = x + b * P->in_size;
    const FC_T *wb = w + b * P->w_stride;
    FC_T *yr = y + b * P->out_size + (slab * P->out[R] + r0) * Wo + c0;

    int64_t oi[FC_MAXD], ki[FC_MAXD];
    fc_unravel(slab, R, P->out, oi);

    if (P->separable) {
        /* row pass over the strip into tmp, then the column pass into y */
        FC_T *strip = work, *tmp = work + nin * P->ss;
        FC_FN(fc_filter_strip)(P, xb, r0, nin, c0, ncin, cval, strip);
        rows_fn(strip, P->ss, P->n_h, P->h_off, wb, 0, 0, nin, nc, tmp, P->tmp_stride);
        if (rows2d_fn && P->dense)
            rows2d_fn(tmp, P->tmp_stride, P->n_v, 1, wb + P->n_h, 0, 0, nr, nc, yr, Wo);
        else
            rows_fn(tmp, P->tmp_stride, P->n_v, P->v_off, wb + P->n_h, 0, 0, nr, nc, yr, Wo);
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
            const int64_t s = fc_filter_src(P, j, oi[j] + ki[j]);
            if (s < 0) { plane = NULL; break; }
            lin = lin * P->in[j] + s;
        }
        if (plane) plane += lin * P->in[R] * P->in[L];
        FC_FN(fc_filter_slice)(P, rows_fn, rows2d_fn, plane, r0, nr, c0, nc, t0, nt, wb + t0,
                               !first, cval, yr - c0, work);
        first = 0;
    }
    if (first)
        for (int64_t i = 0; i < nr; ++i) memset(yr + i * Wo, 0, (size_t)nc * sizeof(FC_T));
}

#undef FC_ROWS2D_FN
#undef FC_ROWS_FN
#undef FC_FN
