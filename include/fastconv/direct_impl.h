/* Template body of direct.h: expects FC_T and FC_SFX. */

#define FC_FN(name) FC_CAT(name, FC_SFX)

/* y[r, o] += w * x[o*s + off] for o in [lo, hi). */
FC_ISA_CLONES
static void FC_FN(fc_row_axpy)(FC_T *y, const FC_T *x, FC_T w, int64_t s, int64_t lo, int64_t hi)
{
    if (s == 1) {
        for (int64_t o = lo; o < hi; ++o) y[o] += w * x[o];
    } else {
        for (int64_t o = lo; o < hi; ++o) y[o] += w * x[o * s];
    }
}

/* x[o*s] += w * y[o] for o in [lo, hi): the transpose of fc_row_axpy. */
FC_ISA_CLONES
static void FC_FN(fc_row_axpy_t)(FC_T *x, const FC_T *y, FC_T w, int64_t s, int64_t lo, int64_t hi)
{
    if (s == 1) {
        for (int64_t o = lo; o < hi; ++o) x[o] += w * y[o];
    } else {
        for (int64_t o = lo; o < hi; ++o) x[o * s] += w * y[o];
    }
}

/* sum_o y[o] * x[o*s] for o in [lo, hi), in a fixed order. */
FC_ISA_CLONES
static FC_T FC_FN(fc_row_dot)(const FC_T *y, const FC_T *x, int64_t s, int64_t lo, int64_t hi)
{
    FC_T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t o = lo;
    if (s == 1) {
        for (; o + 8 <= hi; o += 8)
            for (int j = 0; j < 8; ++j) acc[j] += y[o + j] * x[o + j];
    }
    for (; o < hi; ++o) acc[0] += y[o] * x[o * s];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Visit output rows [r0, r1) of one plane; for each row and tap call BODY
 * with yrow, the input row `src` (already offset so that src[o*s] is the
 * element read by output o), the tap index t and the valid range [lo, hi). */
#define FC_FOR_ROW_TAPS(g, r0, r1, BODY)                                        \
    do {                                                                        \
        const int L_ = (g)->ndim - 1;                                           \
        const int64_t W_ = (g)->out[L_];                                        \
        int64_t oi_[FC_MAXD], koff_[FC_MAXD];                                   \
        fc_unravel((r0), L_, (g)->out, oi_);                                    \
        for (int64_t r = (r0); r < (r1); ++r) {                                 \
            for (int64_t t = 0; t < (g)->k_size; ++t) {                         \
                fc_koff((g), t, koff_);                                         \
                int64_t base_ = fc_row_base((g), oi_, koff_);                   \
                if (base_ < 0) continue;                                        \
                int64_t lo, hi;                                                 \
                fc_valid_range(0, W_, (g)->stride[L_], koff_[L_], (g)->in[L_], &lo, &hi); \
                if (hi <= lo) continue;                                         \
                const int64_t roff = base_ * (g)->in[L_] + koff_[L_];           \
                const int64_t yoff = r * W_;                                    \
                BODY                                                            \
            }                                                                   \
            for (int j_ = L_ - 1; j_ >= 0; --j_) {                              \
                if (++oi_[j_] < (g)->out[j_]) break;                            \
                oi_[j_] = 0;                                                    \
            }                                                                   \
        }                                                                       \
    } while (0)

/* Rows [r0, r1) of one output plane: y = bias + sum_t w[t] * x shifted (x: one input plane). */
static void FC_FN(fc_direct_fwd)(const fc_geom *g, const FC_T *x, const FC_T *w, FC_T bias,
                                 int64_t r0, int64_t r1, FC_T *y)
{
    const int64_t W = g->out[g->ndim - 1];
    for (int64_t i = r0 * W; i < r1 * W; ++i) y[i] = bias;
    FC_FOR_ROW_TAPS(g, r0, r1, {
        FC_FN(fc_row_axpy)(y + yoff, x + roff, w[t], g->stride[L_], lo, hi);
    });
}

/* One input plane: x += sum_t w[t] * (rows [r0, r1) of y scattered back through tap t). */
static void FC_FN(fc_direct_grad_input)(const fc_geom *g, const FC_T *y, const FC_T *w,
                                        int64_t r0, int64_t r1, FC_T *x)
{
    FC_FOR_ROW_TAPS(g, r0, r1, {
        FC_FN(fc_row_axpy_t)(x + roff, y + yoff, w[t], g->stride[L_], lo, hi);
    });
}

/* acc[t] += sum over output rows [r0, r1) of y . (x through tap t). */
static void FC_FN(fc_direct_grad_weight)(const fc_geom *g, const FC_T *x, const FC_T *y,
                                         int64_t r0, int64_t r1, FC_T *acc)
{
    FC_FOR_ROW_TAPS(g, r0, r1, {
        acc[t] += FC_FN(fc_row_dot)(y + yoff, x + roff, g->stride[L_], lo, hi);
    });
}

#undef FC_FN
