/* Template body of pool.h: expects FC_T and FC_SFX (direct_impl.h supplies
 * fc_tap for the same dtype).
 *
 * Every position holds V contiguous values (see pool.h): output row r of a
 * block starts at element (r - r0) * W * V, input position i at i * V. */

#define FC_FN(name) FC_CAT(name, FC_SFX)

/* Run OP(yi, xi, pos) over the outputs [lo, hi) of one row and one tap:
 * yi = element of the output row, xi = element of the input row read
 * through the tap (relative to the tap's first input position), pos = that
 * input position.  V = 1 runs along the row with the stride a compile-time
 * constant in the common cases (the loads vectorise); V > 1 runs the V
 * contiguous values of each position as the inner loop. */
#define FC_TAP_ROW(V, s, lo, hi, OP)                                           \
    do {                                                                       \
        if ((V) == 1) {                                                        \
            if ((s) == 1) {                                                    \
                for (int64_t o = (lo); o < (hi); ++o) OP(o, o, o)              \
            } else if ((s) == 2) {                                             \
                for (int64_t o = (lo); o < (hi); ++o) OP(o, 2 * o, 2 * o)      \
            } else {                                                           \
                for (int64_t o = (lo); o < (hi); ++o) OP(o, o * (s), o * (s))  \
            }                                                                  \
        } else {                                                               \
            for (int64_t o = (lo); o < (hi); ++o)                              \
                for (int64_t v = 0; v < (V); ++v)                              \
                    OP(o * (V) + v, o * (s) * (V) + v, o * (s))                \
        }                                                                      \
    } while (0)

/* max: take x when larger or NaN (NaN propagates; ties keep the earlier element) */
#define FC_OP_MAX(yi, xi, pos)                                                 \
    {                                                                          \
        const FC_T v_ = x[xi];                                                 \
        y[yi] = ((v_ > y[yi]) | (v_ != v_)) ? v_ : y[yi];                      \
    }
/* arg-max: as max, recording the input position; idx < 0 (nothing taken yet)
 * takes any element, so a window of -inf points at its first element (torch) */
#define FC_OP_ARGMAX(yi, xi, pos)                                              \
    {                                                                          \
        const FC_T v_ = x[xi];                                                 \
        const int take_ = (v_ > y[yi]) | (v_ != v_) | (idx[yi] < 0);           \
        y[yi] = take_ ? v_ : y[yi];                                            \
        idx[yi] = take_ ? roff + (pos) : idx[yi];                              \
    }
#define FC_OP_SUM(yi, xi, pos) { y[yi] += x[xi]; }
#define FC_OP_SPREAD(yi, xi, pos) { x[xi] += y[yi]; }

#if FC_HAVE_AVX512_ROWS
#define FC_VL ((int64_t)(64 / sizeof(FC_T)))
/* the dtype's AVX-512 types and intrinsics: FC_V512_(loadu) -> _mm512_loadu_ps */
#define FC_V512_(op) FC_CAT(_mm512_##op, FC_ISFX)
#if FC_IS_F64
#define FC_V512 __m512d
#define FC_V512_MASK __mmask8
#define FC_V512_EVEN _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0)
#else
#define FC_V512 __m512
#define FC_V512_MASK __mmask16
#define FC_V512_EVEN _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0)
#endif
#define FC_V512_LOADU FC_V512_(loadu)
#define FC_V512_STOREU FC_V512_(storeu)
#define FC_V512_PERMUTEX2 FC_V512_(permutex2var)
#define FC_V512_MOV FC_V512_(mask_mov)
#define FC_V512_CMP(a, b, pred) FC_CAT(FC_V512_(cmp), mask)((a), (b), (pred))

/* x[o*s] for FC_VL outputs from o, s = 1 or 2.  Stride 2 loads two vectors
 * and keeps the even lanes: it reads x[2*(o+FC_VL) - 1], one past the last
 * element used (see fc_max_pool_by_window). */
FC_AVX512 static inline FC_V512 FC_FN(fc_v512_strided)(const FC_T *x, int64_t o, int64_t s)
{
    if (s == 1) return FC_V512_LOADU(x + o);
    return FC_V512_PERMUTEX2(FC_V512_LOADU(x + 2 * o), FC_V512_EVEN,
                             FC_V512_LOADU(x + 2 * o + FC_VL));
}

/* take v where v > m or v is NaN */
#define FC_V512_TAKE(v, m) \
    ((FC_V512_MASK)(FC_V512_CMP(v, m, _CMP_GT_OQ) | FC_V512_CMP(v, v, _CMP_UNORD_Q)))

/* The input position of each lane's running max (roff of its tap, then plus
 * the lane's o*s): int32 lanes beside float, int64 beside double, so both
 * fill one 512-bit register. */
#if FC_IS_F64
typedef int64_t FC_FN(fc_pos_lane);
#define FC_POS_SET1(v) _mm512_set1_epi64(v)
#define FC_POS_MOV _mm512_mask_mov_epi64
#define FC_POS_ADD _mm512_add_epi64
#define FC_POS_LANES(s) _mm512_set_epi64(7 * (s), 6 * (s), 5 * (s), 4 * (s), 3 * (s), 2 * (s), \
                                         (s), 0)
#else
typedef int32_t FC_FN(fc_pos_lane);
#define FC_POS_SET1(v) _mm512_set1_epi32((int32_t)(v))
#define FC_POS_MOV _mm512_mask_mov_epi32
#define FC_POS_ADD _mm512_add_epi32
#define FC_POS_LANES(s) _mm512_set_epi32(15 * (s), 14 * (s), 13 * (s), 12 * (s), 11 * (s), \
                                         10 * (s), 9 * (s), 8 * (s), 7 * (s), 6 * (s), \
                                         5 * (s), 4 * (s), 3 * (s), 2 * (s), (s), 0)
#endif

/* The running max of FC_VL outputs from o over the row's taps (m), and the
 * input position of each (at). */
#define FC_ARGMAX_STEP(o, m, at)                                                 \
    {                                                                            \
        m = FC_FN(fc_v512_strided)(x + tp->roff[0], (o), s);                     \
        at = FC_POS_SET1(tp->roff[0]);                                           \
        for (int64_t i = 1; i < tp->n; ++i) {                                    \
            const FC_V512 v = FC_FN(fc_v512_strided)(x + tp->roff[i], (o), s);   \
            const FC_V512_MASK take = FC_V512_TAKE(v, m);                        \
            m = FC_V512_MOV(m, take, v);                                         \
            at = FC_POS_MOV(at, take, FC_POS_SET1(tp->roff[i]));                 \
        }                                                                        \
        at = FC_POS_ADD(FC_POS_ADD(at, lanes), FC_POS_SET1((o) * s));            \
    }

/* FC_VL outputs from o, each unless NULL: y = their max m, idx = its input
 * position at, gx[at] += gy for the outputs from `from` on (a step moved back
 * to end at the row's end revisits outputs already done). */
FC_AVX512 static void FC_FN(fc_argmax_out_avx512)(int64_t o, int64_t from, FC_V512 m,
                                                  __m512i at, FC_T *y, int64_t *idx,
                                                  const FC_T *gy, FC_T *gx)
{
    FC_FN(fc_pos_lane) pos[FC_VL];
    if (y) FC_V512_STOREU(y + o, m);
    if (idx) {
#if FC_IS_F64
        _mm512_storeu_si512(idx + o, at);
#else
        _mm512_storeu_si512(idx + o, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(at)));
        _mm512_storeu_si512(idx + o + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(at, 1)));
#endif
    }
    if (gx) {
        _mm512_storeu_si512(pos, at);
        for (int64_t l = from - o; l < FC_VL; ++l) gx[pos[l]] += gy[o + l];
    }
}

/* One output row, outputs [lo, hi) (hi - lo >= FC_VL; with s = 2, x[roff +
 * 2*hi - 1] readable for every tap; positions fit the lanes), window by
 * window: y[o] = the max, idx[o] = its input position, gx[that position] +=
 * gy[o], each unless NULL.  The last step moves back to end at hi. */
FC_AVX512 static void FC_FN(fc_argmax_row_avx512)(const FC_T *x, const fc_row_taps *tp,
                                                  int64_t s, int64_t lo, int64_t hi,
                                                  FC_T *y, int64_t *idx, const FC_T *gy,
                                                  FC_T *gx)
{
    const __m512i lanes = FC_POS_LANES(s);
    int64_t o0 = lo;
    /* two vectors at a time: each window's max is a chain of dependent
     * compares, and two chains overlap (the 3x3/2 forward a fifth faster) */
    for (; o0 + 2 * FC_VL <= hi; o0 += 2 * FC_VL) {
        FC_V512 m0, m1;
        __m512i at0, at1;
        FC_ARGMAX_STEP(o0, m0, at0)
        FC_ARGMAX_STEP(o0 + FC_VL, m1, at1)
        FC_FN(fc_argmax_out_avx512)(o0, o0, m0, at0, y, idx, gy, gx);
        FC_FN(fc_argmax_out_avx512)(o0 + FC_VL, o0 + FC_VL, m1, at1, y, idx, gy, gx);
    }
    if (o0 < hi) {
        const int64_t o = o0 + FC_VL <= hi ? o0 : hi - FC_VL;
        FC_V512 m;
        __m512i at;
        FC_ARGMAX_STEP(o, m, at)
        FC_FN(fc_argmax_out_avx512)(o, o0, m, at, y, idx, gy, gx);
        if (o + FC_VL < hi) {
            FC_ARGMAX_STEP(hi - FC_VL, m, at)
            FC_FN(fc_argmax_out_avx512)(hi - FC_VL, o + FC_VL, m, at, y, idx, gy, gx);
        }
    }
}
#undef FC_ARGMAX_STEP
#undef FC_POS_SET1
#undef FC_POS_MOV
#undef FC_POS_ADD
#undef FC_POS_LANES
#undef FC_V512_TAKE
#undef FC_VL
#undef FC_V512_
#undef FC_V512
#undef FC_V512_MASK
#undef FC_V512_EVEN
#undef FC_V512_LOADU
#undef FC_V512_STOREU
#undef FC_V512_PERMUTEX2
#undef FC_V512_MOV
#undef FC_V512_CMP
#endif

/* The row loops, inlined into their ISA-cloned callers (restrict lets the
 * compiler vectorise; FC_ROW_INLINE: see pool.h). */
FC_ROW_INLINE void FC_FN(fc_max_tap_row)(FC_T *restrict y, const FC_T *restrict x, int64_t lo,
                                         int64_t hi, int64_t s, int64_t V)
{
    FC_TAP_ROW(V, s, lo, hi, FC_OP_MAX);
}

FC_ROW_INLINE void FC_FN(fc_argmax_tap_row)(FC_T *restrict y, int64_t *restrict idx,
                                            const FC_T *restrict x, int64_t roff, int64_t lo,
                                            int64_t hi, int64_t s, int64_t V)
{
    FC_TAP_ROW(V, s, lo, hi, FC_OP_ARGMAX);
}

FC_ROW_INLINE void FC_FN(fc_sum_tap_row)(FC_T *restrict y, const FC_T *restrict x, int64_t lo,
                                         int64_t hi, int64_t s, int64_t V)
{
    FC_TAP_ROW(V, s, lo, hi, FC_OP_SUM);
}

FC_ROW_INLINE void FC_FN(fc_spread_tap_row)(const FC_T *restrict y, FC_T *restrict x, int64_t lo,
                                            int64_t hi, int64_t s, int64_t V)
{
    FC_TAP_ROW(V, s, lo, hi, FC_OP_SPREAD);
}

/* Window sizes along `axis` (see pool.h): counts of axis j follow those of j-1. */
static inline const FC_T *FC_FN(fc_axis_counts)(const fc_geom *g, const FC_T *counts, int axis)
{
    for (int j = 0; j < axis; ++j) counts += g->out[j];
    return counts;
}

/* Rows [r0, r1) (src, dst point at row r0) divided by the window sizes:
 * dst = src / (outer-axes count * last-axis count). */
static inline void FC_FN(fc_divide_by_counts)(const fc_geom *g, int64_t V, const FC_T *counts,
                                              int64_t r0, int64_t r1, const FC_T *src,
                                              FC_T *dst)
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
        const FC_T *restrict s = src + (r - r0) * W * V;
        FC_T *restrict d = dst + (r - r0) * W * V;
        for (int64_t o = 0; o < W; ++o) {
            const FC_T c = outer * last[o];
            for (int64_t v = 0; v < V; ++v) d[o * V + v] = s[o * V + v] / c;
        }
        for (int j = L - 1; j >= 0; --j) {
            if (++oi[j] < g->out[j]) break;
            oi[j] = 0;
        }
    }
}

/* gx's input indices [z0, z1) along axis 0 (see fc_pool_block_zeros) set to
 * zero. */
static inline void FC_FN(fc_zero_axis0)(const fc_geom *g, int64_t V, FC_T *gx, int64_t z0,
                                        int64_t z1)
{
    if (z1 <= z0) return;
    const int64_t unit = g->in_size / g->in[0] * V;  /* elements per index */
    memset(gx + z0 * unit, 0, (size_t)((z1 - z0) * unit) * sizeof(FC_T));
}

/* One output row of fc_max_pool_by_window, outputs [lo, hi), one at a time. */
static inline void FC_FN(fc_argmax_row)(const FC_T *x, const fc_row_taps *tp, int64_t s,
                                        int64_t lo, int64_t hi, FC_T *y, int64_t *idx,
                                        const FC_T *gy, FC_T *gx)
{
    for (int64_t o = lo; o < hi; ++o) {
        FC_T best = -INFINITY;
        int64_t at = -1;
        for (int64_t i = 0; i < tp->n; ++i) {
            if (o < tp->lo[i] || o >= tp->hi[i]) continue;
            const FC_T v = x[tp->roff[i] + o * s];
            if (at < 0 || v > best || v != v) {
                best = v;
                at = tp->roff[i] + o * s;
            }
        }
        if (y) y[o] = best;
        if (idx) idx[o] = at;
        if (gx && at >= 0) gx[at] += gy[o];
    }
}

/* Rows [r0, r1) of one plane, window by window (y, idx, gy point at row r0;
 * each may be NULL): the max, its position (-1 and -inf for a window wholly
 * in the padding), gx[position] += gy, gx's indices [z0, z1) along axis 0
 * zeroed first (each just before the first output row that reads it: the
 * plane's gradient would push its input out of L1 if zeroed at once).  The
 * same windows, scan order and order of the gradient's sums as the
 * tap-by-tap loops.  Channels-first data, a last-axis stride of 1 or 2, at
 * most FC_ROW_TAPS taps and AVX-512; returns 0 (nothing done) otherwise. */
static int FC_FN(fc_max_pool_by_window)(const fc_geom *g, int64_t V, const FC_T *x, int64_t r0,
                                        int64_t r1, FC_T *y, int64_t *idx, const FC_T *gy,
                                        FC_T *gx, int64_t z0, int64_t z1)
{
#if FC_HAVE_AVX512_ROWS
    const int L = g->ndim - 1;
    const int64_t W = g->out[L], s = g->stride[L];
    int64_t koffs[FC_ROW_TAPS * FC_MAXD], tlo[FC_ROW_TAPS], thi[FC_ROW_TAPS];
    /* input positions fit 32-bit lanes */
    if (V != 1 || s > 2 || g->k_size > FC_ROW_TAPS || g->in_size > ((int64_t)1 << 30)
        || !fc_use_avx512())
        return 0;
    const int64_t ntaps = fc_last_axis_taps(g, koffs, tlo, thi);
    const int64_t VL = 64 / (int64_t)sizeof(FC_T);
    fc_row_taps tp;
    int64_t oi[FC_MAXD];
    fc_unravel(r0, L, g->out, oi);
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t at = (r - r0) * W;
        if (gx && z1 > z0) {
            int64_t read_end = L ? oi[0] * g->stride[0] - g->pad[0]
                                   + (g->k[0] - 1) * g->dil[0] + 1 : z1;
            read_end = read_end < z1 ? read_end : z1;
            if (read_end > z0) {
                FC_FN(fc_zero_axis0)(g, 1, gx, z0, read_end);
                z0 = read_end;
            }
        }
        FC_T *yr = y ? y + at : NULL;
        int64_t *ir = idx ? idx + at : NULL;
        const FC_T *gyr = gy ? gy + at : NULL;
        fc_row_taps_of(g, ntaps, koffs, tlo, thi, oi, &tp);
        for (int j = L - 1; j >= 0; --j) {
            if (++oi[j] < g->out[j]) break;
            oi[j] = 0;
        }
        /* outputs every tap reads inside: the vector body */
        int64_t lo = W, hi = 0;
        if (tp.n) {
            lo = 0;
            hi = W;
            for (int64_t i = 0; i < tp.n; ++i) {
                lo = tp.lo[i] > lo ? tp.lo[i] : lo;
                hi = tp.hi[i] < hi ? tp.hi[i] : hi;
                if (s == 2) {
                    const int64_t room = (g->in_size - tp.roff[i]) / 2;
                    hi = room < hi ? room : hi;
                }
            }
        }
        if (hi - lo < VL) {
            FC_FN(fc_argmax_row)(x, &tp, s, 0, W, yr, ir, gyr, gx);
            continue;
        }
        FC_FN(fc_argmax_row)(x, &tp, s, 0, lo, yr, ir, gyr, gx);
        FC_FN(fc_argmax_row_avx512)(x, &tp, s, lo, hi, yr, ir, gyr, gx);
        FC_FN(fc_argmax_row)(x, &tp, s, hi, W, yr, ir, gyr, gx);
    }
    if (gx) FC_FN(fc_zero_axis0)(g, 1, gx, z0, z1);
    return 1;
#else
    (void)g; (void)V; (void)x; (void)r0; (void)r1; (void)y; (void)idx; (void)gy; (void)gx;
    (void)z0; (void)z1;
    return 0;
#endif
}

/* Rows [r0, r1) of one plane (y, idx point at row r0): y = max of each window;
 * idx (unless NULL) = the window's chosen input position in the plane, or -1
 * for a window that lies entirely in the padding (then y = -inf). */
static FC_FORCE_INLINE void FC_FN(fc_max_pool_rows_body)(const fc_geom *g, int64_t V,
                                                         const FC_T *x, int64_t r0, int64_t r1,
                                                         FC_T *y, int64_t *idx)
{
    const int64_t W = g->out[g->ndim - 1];
    const int64_t s = g->stride[g->ndim - 1];
    const int64_t y0 = r0 * W;
    int64_t koff[FC_MAXD], lo, hi;
    if (FC_FN(fc_max_pool_by_window)(g, V, x, r0, r1, y, idx, NULL, NULL, 0, 0)) return;
    for (int64_t i = 0; i < (r1 - r0) * W * V; ++i) y[i] = -INFINITY;
    if (idx)
        for (int64_t i = 0; i < (r1 - r0) * W * V; ++i) idx[i] = -1;
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        FC_FOR_VALID_ROW_RUNS(g, koff, r0, r1, {
            if (idx)
                FC_FN(fc_argmax_tap_row)(y + (yoff - y0) * V, idx + (yoff - y0) * V,
                                         x + roff * V, roff, lo, hi, s, V);
            else
                FC_FN(fc_max_tap_row)(y + (yoff - y0) * V, x + roff * V, lo, hi, s, V);
        });
    }
}
FC_ISA_VARIANTS(FC_FN(fc_max_pool_rows), FC_FN(fc_max_pool_rows_body),
                (const fc_geom *g, int64_t V, const FC_T *x, int64_t r0, int64_t r1, FC_T *y,
                 int64_t *idx),
                (g, V, x, r0, r1, y, idx))

/* Rows [r0, r1) of one plane (y points at row r0): the window sums divided
 * by the window sizes in `counts`. */
static FC_FORCE_INLINE void FC_FN(fc_avg_pool_rows_body)(const fc_geom *g, int64_t V,
                                                         const FC_T *x, const FC_T *counts,
                                                         int64_t r0, int64_t r1, FC_T *y)
{
    const int64_t W = g->out[g->ndim - 1];
    const int64_t s = g->stride[g->ndim - 1];
    const int64_t y0 = r0 * W;
    int64_t koff[FC_MAXD], lo, hi;
    for (int64_t i = 0; i < (r1 - r0) * W * V; ++i) y[i] = 0;
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        FC_FOR_VALID_ROW_RUNS(g, koff, r0, r1, {
            FC_FN(fc_sum_tap_row)(y + (yoff - y0) * V, x + roff * V, lo, hi, s, V);
        });
    }
    FC_FN(fc_divide_by_counts)(g, V, counts, r0, r1, y, y);
}
FC_ISA_VARIANTS(FC_FN(fc_avg_pool_rows), FC_FN(fc_avg_pool_rows_body),
                (const fc_geom *g, int64_t V, const FC_T *x, const FC_T *counts, int64_t r0,
                 int64_t r1, FC_T *y),
                (g, V, x, counts, r0, r1, y))

/* gx (one input plane) += gy of rows [r0, r1) (gy points at the plane)
 * routed to each window's arg-max, gx's indices [z0, z1) along axis 0 zeroed
 * first; ybuf and ibuf hold (r1 - r0) rows.  Outputs are visited in order,
 * so sums into one element have a fixed order. */
static void FC_FN(fc_max_pool_grad_rows)(const fc_geom *g, int64_t V, const FC_T *x,
                                         const FC_T *gy, int64_t r0, int64_t r1, FC_T *ybuf,
                                         int64_t *ibuf, FC_T *gx, int64_t z0, int64_t z1)
{
    const int64_t W = g->out[g->ndim - 1];
    if (FC_FN(fc_max_pool_by_window)(g, V, x, r0, r1, NULL, NULL, gy + r0 * W, gx, z0, z1))
        return;
    FC_FN(fc_zero_axis0)(g, V, gx, z0, z1);
    FC_FN(fc_max_pool_rows)(g, V, x, r0, r1, ybuf, ibuf);
    const FC_T *gyr = gy + r0 * W * V;
    for (int64_t i0 = 0; i0 < (r1 - r0) * W * V; i0 += V)
        for (int64_t v = 0; v < V; ++v)
            if (ibuf[i0 + v] >= 0) gx[ibuf[i0 + v] * V + v] += gyr[i0 + v];
}

/* gx (one input plane of `size` positions) += gy routed through `idx`, the
 * indices max pooling returned: output i of the plane goes to position idx[i]
 * (value i % V).  -1 (an empty window) routes nowhere; returns how many
 * indices were out of range (and skipped). */
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
 * the plane) divided by its window size, spread over its window, gx's indices
 * [z0, z1) along axis 0 zeroed first; `scaled` holds (r1 - r0) rows. */
static FC_FORCE_INLINE void FC_FN(fc_avg_pool_grad_rows_body)(const fc_geom *g, int64_t V,
                                                              const FC_T *gy, const FC_T *counts,
                                                              int64_t r0, int64_t r1, FC_T *scaled,
                                                              FC_T *gx, int64_t z0, int64_t z1)
{
    const int64_t W = g->out[g->ndim - 1];
    const int64_t s = g->stride[g->ndim - 1];
    const int64_t y0 = r0 * W;
    int64_t koff[FC_MAXD], lo, hi;
    FC_FN(fc_zero_axis0)(g, V, gx, z0, z1);
    FC_FN(fc_divide_by_counts)(g, V, counts, r0, r1, gy + y0 * V, scaled);
    for (int64_t t = 0; t < g->k_size; ++t) {
        if (!FC_FN(fc_tap)(g, t, koff, &lo, &hi)) continue;
        FC_FOR_VALID_ROW_RUNS(g, koff, r0, r1, {
            FC_FN(fc_spread_tap_row)(scaled + (yoff - y0) * V, gx + roff * V, lo, hi, s, V);
        });
    }
}
FC_ISA_VARIANTS(FC_FN(fc_avg_pool_grad_rows), FC_FN(fc_avg_pool_grad_rows_body),
                (const fc_geom *g, int64_t V, const FC_T *gy, const FC_T *counts, int64_t r0,
                 int64_t r1, FC_T *scaled, FC_T *gx, int64_t z0, int64_t z1),
                (g, V, gy, counts, r0, r1, scaled, gx, z0, z1))

#undef FC_OP_MAX
#undef FC_OP_ARGMAX
#undef FC_OP_SUM
#undef FC_OP_SPREAD
#undef FC_TAP_ROW
#undef FC_FN
