/* Template body of pack.h: expects FC_T (element type) and FC_SFX (suffix). */

#define FC_FN(name) FC_CAT(name, FC_SFX)

/* Walk the output positions [p0, p1) as runs along the last axis and call
 * BODY once per run with:
 *   q      column of the run's first position inside the tile
 *   olo,ohi   the sub-range of the run (as last-axis output indices, shifted
 *             so that the run starts at q + (o - o0)) that reads inside the
 *             input; outside it the input is implicit zero padding
 *   o0,o1  the whole run on the last axis
 *   src    input row (last axis) for this run, or NULL if the run's outer
 *          indices fall in the padding
 * Shared by im2col and col2im so that the two are transposes by construction. */
#define FC_FOR_RUNS(g, xc, koff, p0, p1, BODY)                                   \
    do {                                                                         \
        const int L_ = (g)->ndim - 1;                                            \
        const int64_t W_ = (g)->out[L_];                                         \
        int64_t oi_[FC_MAXD];                                                    \
        fc_unravel((p0), (g)->ndim, (g)->out, oi_);                              \
        int64_t p_ = (p0);                                                       \
        while (p_ < (p1)) {                                                      \
            const int64_t o0 = oi_[L_];                                          \
            const int64_t o1 = o0 + ((W_ - o0) < ((p1) - p_) ? (W_ - o0) : ((p1) - p_)); \
            const int64_t q = p_ - (p0);                                         \
            int64_t base_ = 0;                                                   \
            int inside_ = 1;                                                     \
            for (int j_ = 0; j_ < L_; ++j_) {                                    \
                int64_t i_ = oi_[j_] * (g)->stride[j_] + (koff)[j_];             \
                if (i_ < 0 || i_ >= (g)->in[j_]) { inside_ = 0; break; }         \
                base_ = base_ * (g)->in[j_] + i_;                                \
            }                                                                    \
            int64_t olo = o0, ohi = o0;                                          \
            const int64_t s = (g)->stride[L_];                                   \
            const int64_t off = (koff)[L_];                                      \
            FC_T *src = NULL;                                                    \
            if (inside_) {                                                       \
                fc_valid_range(o0, o1, s, off, (g)->in[L_], &olo, &ohi);         \
                src = (FC_T *)(xc) + base_ * (g)->in[L_];                        \
            }                                                                    \
            BODY                                                                 \
            p_ += o1 - o0;                                                       \
            oi_[L_] = o1;                                                        \
            for (int j_ = L_; j_ > 0 && oi_[j_] == (g)->out[j_]; --j_) {         \
                oi_[j_] = 0;                                                     \
                oi_[j_ - 1] += 1;                                                \
            }                                                                    \
        }                                                                        \
    } while (0)

/* Offsets o*stride + koff of kernel tap t: koff[j] = k_j*dil_j - pad_j. */
static inline void FC_FN(fc_tap_offsets)(const fc_geom *g, int64_t t, int64_t *koff)
{
    int64_t kidx[FC_MAXD];
    fc_unravel(t, g->ndim, g->k, kidx);
    for (int j = 0; j < g->ndim; ++j)
        koff[j] = kidx[j] * g->dil[j] - g->pad[j];
}

/* col[(c*K + t), q] = xpad[c, position p0+q shifted by tap t]. */
static void FC_FN(fc_im2col)(const fc_geom *g, const FC_T *x, int64_t C,
                             int64_t p0, int64_t p1, FC_T *col)
{
    const int64_t ncol = p1 - p0;
    int64_t koff[FC_MAXD];
    for (int64_t c = 0; c < C; ++c) {
        for (int64_t t = 0; t < g->k_size; ++t) {
            FC_FN(fc_tap_offsets)(g, t, koff);
            const FC_T *xc = x + c * g->in_size;
            FC_T *row = col + (c * g->k_size + t) * ncol;
            FC_FOR_RUNS(g, xc, koff, p0, p1, {
                FC_T *dst = row + q;            /* dst[o - o0]: output o of the run */
                for (int64_t o = o0; o < olo; ++o) dst[o - o0] = 0;
                if (ohi > olo) {                /* else src may be NULL */
                    if (s == 1)
                        memcpy(dst + (olo - o0), src + (olo + off),
                               (size_t)(ohi - olo) * sizeof(FC_T));
                    else
                        for (int64_t o = olo; o < ohi; ++o) dst[o - o0] = src[o * s + off];
                }
                for (int64_t o = ohi; o < o1; ++o) dst[o - o0] = 0;
            });
        }
    }
}

/* xpad[c, ...] += col[(c*K + t), q]: the transpose of fc_im2col. */
static void FC_FN(fc_col2im)(const fc_geom *g, const FC_T *col, int64_t C,
                             int64_t p0, int64_t p1, FC_T *x)
{
    const int64_t ncol = p1 - p0;
    int64_t koff[FC_MAXD];
    for (int64_t c = 0; c < C; ++c) {
        for (int64_t t = 0; t < g->k_size; ++t) {
            FC_FN(fc_tap_offsets)(g, t, koff);
            FC_T *xc = x + c * g->in_size;
            const FC_T *row = col + (c * g->k_size + t) * ncol;
            FC_FOR_RUNS(g, xc, koff, p0, p1, {
                const FC_T *from = row + q;     /* from[o - o0]: output o of the run */
                if (ohi > olo) {                /* else src may be NULL */
                    if (s == 1)
                        for (int64_t o = olo; o < ohi; ++o) src[o + off] += from[o - o0];
                    else
                        for (int64_t o = olo; o < ohi; ++o) src[o * s + off] += from[o - o0];
                }
            });
        }
    }
}

/* y[o, q] += bias[o] for the Cout rows of a tile with leading dimension ld. */
static void FC_FN(fc_add_bias)(FC_T *y, const FC_T *bias, int64_t rows, int64_t ncol, int64_t ld)
{
    for (int64_t r = 0; r < rows; ++r) {
        FC_T b = bias[r];
        FC_T *yr = y + r * ld;
        for (int64_t q = 0; q < ncol; ++q) yr[q] += b;
    }
}

#undef FC_FN
