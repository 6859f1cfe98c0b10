/* Template body of direct.h: expects FC_T and FC_SFX. */

#define FC_FN(name) FC_CAT(name, FC_SFX)

static FC_FORCE_INLINE FC_T FC_FN(fc_fma)(FC_T a, FC_T b, FC_T c)
{
#if FC_IS_F64
    return __builtin_fma(a, b, c);
#else
    return __builtin_fmaf(a, b, c);
#endif
}

/* Lanes of the partial sums in fc_direct_grad_weight: enough for one
 * AVX-512 register of float; the reduction order is fixed by the shape. */
#define FC_DOT_LANES 16

/* For the rows [r0, r1) of a plane that tap `koff` reads inside the input,
 * run BODY with yoff = the row's first output and roff = the input element
 * read by output 0 of the row (output o reads roff + o*stride). */
#define FC_FOR_VALID_ROWS(g, koff, r0, r1, BODY)                                \
    do {                                                                        \
        const int L_ = (g)->ndim - 1;                                           \
        const int64_t W_ = (g)->out[L_];                                        \
        int64_t oi_[FC_MAXD];                                                   \
        fc_unravel((r0), L_, (g)->out, oi_);                                    \
        for (int64_t r_ = (r0); r_ < (r1); ++r_) {                              \
            const int64_t base_ = fc_row_base((g), oi_, (koff));                \
            if (base_ >= 0) {                                                   \
                const int64_t yoff = r_ * W_;                                   \
                const int64_t roff = base_ * (g)->in[L_] + (koff)[L_];          \
                BODY                                                            \
            }                                                                   \
            for (int j_ = L_ - 1; j_ >= 0; --j_) {                              \
                if (++oi_[j_] < (g)->out[j_]) break;                            \
                oi_[j_] = 0;                                                    \
            }                                                                   \
        }                                                                       \
    } while (0)

/* Tap t of the kernel: its offsets and the outputs [lo, hi) of a row that
 * read inside the input along the last axis.  Returns 0 if there are none. */
static inline int FC_FN(fc_tap)(const fc_geom *g, int64_t t, int64_t *koff, int64_t *lo,
                                int64_t *hi)
{
    const int L = g->ndim - 1;
    fc_koff(g, t, koff);
    fc_valid_range(0, g->out[L], g->stride[L], koff[L], g->in[L], lo, hi);
    return *hi > *lo;
}

/* Sets y = bias on rows [r0, r1) and the interior outputs to bias + all their
 * taps with the row kernel; returns 0 (nothing done) when the geometry has no such interior or
 * the last axis is strided. */
static int FC_FN(fc_direct_interior)(const fc_geom *g, const FC_T *x, const FC_T *w,
                                     FC_T bias, int64_t r0, int64_t r1, FC_T *y,
                                     fc_interior *in)
{
    const int L = g->ndim - 1;
    const int64_t W = g->out[L];
    if (!fc_interior_init(g, in)) return 0;
    int64_t stack_off[FC_DIRECT_STACK_TAPS];
    int64_t *off = g->k_size <= FC_DIRECT_STACK_TAPS ? stack_off
                   : (int64_t *)malloc((size_t)g->k_size * sizeof(int64_t));
    if (!off) return 0;
    fc_interior_taps(g, off);
    const FC_CAT(fc_rows, FC_CAT(FC_SFX, fn)) rows = FC_CAT(fc_rows_pick, FC_SFX)();
    for (int64_t i = r0 * W; i < r1 * W; ++i) y[i] = bias;
    /* runs of consecutive interior rows along axis L-1: their inputs are
       in->ss apart */
    int64_t oi[FC_MAXD];
    fc_unravel(r0, L, g->out, oi);
    int64_t r = r0;
    while (r < r1) {
        if (!fc_interior_row(in, g, oi)) {
            fc_next_row(g, oi);
            ++r;
            continue;
        }
        int64_t n = 1;
        const int64_t base = fc_interior_base(g, oi);
        fc_next_row(g, oi);
        while (r + n < r1 && (L == 0 || oi[L - 1] > 0) && fc_interior_row(in, g, oi)) {
            fc_next_row(g, oi);
            ++n;
        }
        rows(x + base + in->c0, in->ss, g->k_size, off, w, bias, 0, n, in->c1 - in->c0,
             y + r * W + in->c0, W);
        r += n;
    }
    if (off != stack_off) free(off);
    return 1;
}

/* y[o * ys] += w * x[o * xs] for o < n, fused as the row kernels fuse (see
 * fc_rows_fused), in every face, so a build that no longer lets the compiler
 * contract multiply-adds keeps its FMAs here: inlined into each clone, the
 * FMA is the clone's (the SSE2 clone is only reached unfused). */
static FC_FORCE_INLINE void FC_FN(fc_direct_axpy)(FC_T *restrict y, int64_t ys, FC_T w,
                                                  const FC_T *restrict x, int64_t xs, int64_t n,
                                                  int fused)
{
    if (ys == 1 && xs == 1) {   /* the common case, vectorised */
        if (fused)
            for (int64_t o = 0; o < n; ++o) y[o] = FC_FN(fc_fma)(w, x[o], y[o]);
        else
            for (int64_t o = 0; o < n; ++o) y[o] += w * x[o];
    } else if (fused) {
        for (int64_t o = 0; o < n; ++o) y[o * ys] = FC_FN(fc_fma)(w, x[o * xs], y[o * ys]);
    } else {
        for (int64_t o = 0; o < n; ++o) y[o * ys] += w * x[o * xs];
    }
}

/* part[(o - lo) % FC_DOT_LANES] += y[o] * x[o * s] for o in [lo, hi), fused likewise. */
static FC_FORCE_INLINE void FC_FN(fc_direct_dot_lanes)(FC_T *restrict part,
                                                       const FC_T *restrict y,
                                                       const FC_T *restrict x, int64_t lo,
                                                       int64_t hi, int64_t s, int fused)
{
    int64_t o = lo;
    if (s == 1) {
        if (fused)
            for (; o + FC_DOT_LANES <= hi; o += FC_DOT_LANES)
                for (int j = 0; j < FC_DOT_LANES; ++j)
                    part[j] = FC_FN(fc_fma)(y[o + j], x[o + j], part[j]);
        else
            for (; o + FC_DOT_LANES <= hi; o += FC_DOT_LANES)
                for (int j = 0; j < FC_DOT_LANES; ++j) part[j] += y[o + j] * x[o + j];
    }
    for (; o < hi; ++o) {
        FC_T *p = part + (o - lo) % FC_DOT_LANES;
        *p = fused ? FC_FN(fc_fma)(y[o], x[o * s], *p) : *p + y[o] * x[o * s];
    }
}

/* Rows [r0, r1) of one output plane: y = bias + sum_t w[t] * (x through tap t).
 *
 * With stride 1 along the last axis, the interior (outputs whose taps all read
 * inside the input) runs the register-blocked row kernel of filter_rows.h over
 * runs of consecutive interior rows (fc_direct_interior); the per-tap loop
 * below then only covers the border. */
static FC_FORCE_INLINE void FC_FN(fc_direct_fwd_body)(const fc_geom *g, const FC_T *x,
                                                      const FC_T *w, FC_T bias, int64_t r0,
                                                      int64_t r1, FC_T *y)
{
    const int64_t W = g->out[g->ndim - 1];
    const int64_t s = g->stride[g->ndim - 1];
    int64_t koff[FC_MAXD], lo, hi;
    fc_interior in;
    const int inner = FC_FN(fc_direct_interior)(g, x, w, bias, r0, r1, y, &in);
    const int fused = fc_rows_fused();
    if (!inner)
        for (int64_t i = r0 * W; i < r1 * W; ++i) y[i] = bias;
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        const FC_T wt = w[t];
        FC_FOR_VALID_ROWS(g, koff, r0, r1, {
            FC_T *restrict yr = y + yoff;
            const FC_T *restrict xr = x + roff;
            if (s == 1 && inner && fc_interior_row(&in, g, oi_)) {
                /* the interior columns are done: only the borders */
                const int64_t a = hi < in.c0 ? hi : in.c0;
                const int64_t b = lo > in.c1 ? lo : in.c1;
                if (a > lo) FC_FN(fc_direct_axpy)(yr + lo, 1, wt, xr + lo, 1, a - lo, fused);
                if (hi > b) FC_FN(fc_direct_axpy)(yr + b, 1, wt, xr + b, 1, hi - b, fused);
            } else if (hi > lo) {
                FC_FN(fc_direct_axpy)(yr + lo, 1, wt, xr + lo * s, s, hi - lo, fused);
            }
        });
    }
}
FC_ISA_VARIANTS(FC_FN(fc_direct_fwd), FC_FN(fc_direct_fwd_body),
                (const fc_geom *g, const FC_T *x, const FC_T *w, FC_T bias, int64_t r0, int64_t r1,
                 FC_T *y),
                (g, x, w, bias, r0, r1, y))

/* One input plane: x += sum_t w[t] * (rows [r0, r1) of y sent back through tap t). */
static FC_FORCE_INLINE void FC_FN(fc_direct_grad_input_body)(const fc_geom *g, const FC_T *y,
                                                             const FC_T *w, int64_t r0, int64_t r1,
                                                             FC_T *x)
{
    const int64_t s = g->stride[g->ndim - 1];
    const int fused = fc_rows_fused();
    int64_t koff[FC_MAXD], lo, hi;
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        const FC_T wt = w[t];
        FC_FOR_VALID_ROWS(g, koff, r0, r1, {
            if (hi > lo)
                FC_FN(fc_direct_axpy)(x + roff + lo * s, s, wt, y + yoff + lo, 1, hi - lo,
                                      fused);
        });
    }
}
FC_ISA_VARIANTS(FC_FN(fc_direct_grad_input), FC_FN(fc_direct_grad_input_body),
                (const fc_geom *g, const FC_T *y, const FC_T *w, int64_t r0, int64_t r1, FC_T *x),
                (g, y, w, r0, r1, x))

/* acc[t] += sum over rows [r0, r1) of y . (x through tap t). */
static FC_FORCE_INLINE void FC_FN(fc_direct_grad_weight_body)(const fc_geom *g, const FC_T *x,
                                                              const FC_T *y, int64_t r0,
                                                              int64_t r1, FC_T *acc)
{
    const int64_t s = g->stride[g->ndim - 1];
    const int fused = fc_rows_fused();
    int64_t koff[FC_MAXD], lo, hi;
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        FC_T part[FC_DOT_LANES] = {0};
        FC_FOR_VALID_ROWS(g, koff, r0, r1, {
            FC_FN(fc_direct_dot_lanes)(part, y + yoff, x + roff, lo, hi, s, fused);
        });
        FC_T sum = 0;
        for (int j = 0; j < FC_DOT_LANES; ++j) sum += part[j];
        acc[t] += sum;
    }
}
FC_ISA_VARIANTS(FC_FN(fc_direct_grad_weight), FC_FN(fc_direct_grad_weight_body),
                (const fc_geom *g, const FC_T *x, const FC_T *y, int64_t r0, int64_t r1,
                 FC_T *acc),
                (g, x, y, r0, r1, acc))

#undef FC_FN
