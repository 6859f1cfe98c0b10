/* Template body of igemm_impl.h, expanded inside each dtype once per register
 * tile height MR (12 or 8 output channels): fc_igemm_rows_12_f32, ... */

#define FC_MR_FN(name) FC_FN(FC_CAT(name, MR))

#if FC_HAVE_AVX512_KERNELS

/* The MR x 2 vector register tile: 2 MR accumulators + 2 loads per k.  The two
 * vectors are two stretches of output, each reading its own input: the two
 * halves of a wide row segment, or two narrow rows (so that each weight
 * broadcast still feeds two FMAs). */
#if MR == 12
#define FC_TILE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#elif MR == 8
#define FC_TILE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#else
#error "igemm_tile_impl.h: MR must be 12 or 8"
#endif

__attribute__((target("avx512f")))
static void FC_MR_FN(fc_igemm_tile2_avx512)(const FC_T *xa, const FC_T *xb,
                                            const int64_t *koffs, int64_t K, const FC_T *wpk,
                                            FC_T *ya, FC_T *yb, int64_t ldy, int64_t na,
                                            int64_t nb, int mr, const FC_T *bias)
{
    const FC_MASK m0 = FC_LANE_MASK(na);
    const FC_MASK m1 = nb > 0 ? FC_LANE_MASK(nb) : (FC_MASK)0;
#define DECL(i) FC_VEC c##i##a = FC_ZERO(), c##i##b = FC_ZERO();
    FC_TILE_ROWS(DECL)
#undef DECL
    for (int64_t k = 0; k < K; ++k) {
        const int64_t off = koffs[k];
        const FC_VEC b0 = FC_LOADZ(m0, xa + off);
        const FC_VEC b1 = FC_LOADZ(m1, xb + off);
        const FC_T *a = wpk + k * MR;
#define STEP(i) { const FC_VEC ai = FC_BCAST(a + i); c##i##a = FC_FMA(ai, b0, c##i##a); \
                  c##i##b = FC_FMA(ai, b1, c##i##b); }
        FC_TILE_ROWS(STEP)
#undef STEP
    }
#define STORE(i) if (i < mr) { \
        if (bias) { const FC_VEC bi = FC_BCAST(bias + i); c##i##a = FC_ADD(c##i##a, bi); \
                    c##i##b = FC_ADD(c##i##b, bi); } \
        FC_STOREM(ya + i * ldy, m0, c##i##a); FC_STOREM(yb + i * ldy, m1, c##i##b); }
    FC_TILE_ROWS(STORE)
#undef STORE
}

/* NV = 1, for rows no wider than one vector. */
__attribute__((target("avx512f")))
static void FC_MR_FN(fc_igemm_tile1_avx512)(const FC_T *xb, const int64_t *koffs, int64_t K,
                                            const FC_T *wpk, FC_T *yb, int64_t ldy, int64_t nw,
                                            int mr, const FC_T *bias)
{
    const FC_MASK m0 = FC_LANE_MASK(nw);
#define DECL(i) FC_VEC c##i = FC_ZERO();
    FC_TILE_ROWS(DECL)
#undef DECL
    for (int64_t k = 0; k < K; ++k) {
        const FC_VEC b0 = FC_LOADZ(m0, xb + koffs[k]);
        const FC_T *a = wpk + k * MR;
#define STEP(i) c##i = FC_FMA(FC_BCAST(a + i), b0, c##i);
        FC_TILE_ROWS(STEP)
#undef STEP
    }
#define STORE(i) if (i < mr) { if (bias) c##i = FC_ADD(c##i, FC_BCAST(bias + i)); \
                               FC_STOREM(yb + i * ldy, m0, c##i); }
    FC_TILE_ROWS(STORE)
#undef STORE
}

/* AVX2 + FMA: rows [h0, h0 + MR/2) of the panel x 2 vectors, 12 or 8 of the
 * 16 ymm registers as accumulators; rows from mr on are not stored.  na and
 * nb (0 allowed) are the columns of the two stretches, at most FC_YVL each. */
#if MR == 12
#define FC_HALF_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#else
#define FC_HALF_ROWS(X) X(0) X(1) X(2) X(3)
#endif

/* The AVX2 + FMA tile on a packed panel (fc_igemm_pack_panel_avx2): rows
 * [h0, h0 + MR/2) x NR = 2 FC_YVL columns += the kc-block of K, 12 or 8 of the
 * 16 ymm registers as accumulators, rows from mr on not stored.  The first
 * block starts from the bias, the others from y; na and nb (0 allowed) are
 * the columns of the two vectors, at most FC_YVL each. */
__attribute__((target("avx2,fma")))
static void FC_MR_FN(fc_igemm_packed_avx2)(const FC_T *bp, int64_t kc, const FC_T *wpk, int h0,
                                           FC_T *ya, FC_T *yb, int64_t ldy, int64_t na,
                                           int64_t nb, int mr, const FC_T *bias, int first)
{
#define DECL(i) FC_YVEC c##i##a = FC_YI(setzero_)(), c##i##b = FC_YI(setzero_)();
    FC_HALF_ROWS(DECL)
#undef DECL
    const FC_T *a = wpk + h0;
    for (int64_t k = 0; k < kc; ++k, a += MR, bp += 2 * FC_YVL) {
        const FC_YVEC b0 = FC_YI(load_)(bp), b1 = FC_YI(load_)(bp + FC_YVL);
#define STEP(i) { const FC_YVEC ai = FC_YI(set1_)(a[i]);                             \
                  c##i##a = FC_YI(fmadd_)(ai, b0, c##i##a);                         \
                  c##i##b = FC_YI(fmadd_)(ai, b1, c##i##b); }
        FC_HALF_ROWS(STEP)
#undef STEP
    }
#define STORE(i) if (h0 + i < mr) {                                                   \
        FC_T *pa = ya + (h0 + i) * ldy, *pb = yb + (h0 + i) * ldy;                   \
        FC_YVEC ia, ib;                                                              \
        if (first) {                                                                 \
            ia = ib = FC_YI(set1_)(bias ? bias[h0 + i] : (FC_T)0);                   \
        } else {                                                                     \
            ia = na == FC_YVL ? FC_YI(loadu_)(pa) : FC_FN(fc_load_part_avx2)(pa, na); \
            ib = nb == FC_YVL ? FC_YI(loadu_)(pb) : FC_FN(fc_load_part_avx2)(pb, nb); \
        }                                                                            \
        c##i##a = FC_YI(add_)(ia, c##i##a); c##i##b = FC_YI(add_)(ib, c##i##b);       \
        if (na == FC_YVL) FC_YI(storeu_)(pa, c##i##a);                               \
        else FC_FN(fc_store_part_avx2)(pa, c##i##a, na);                             \
        if (nb == FC_YVL) FC_YI(storeu_)(pb, c##i##b);                               \
        else if (nb > 0) FC_FN(fc_store_part_avx2)(pb, c##i##b, nb); }
    FC_HALF_ROWS(STORE)
#undef STORE
}
#undef FC_HALF_ROWS

/* The next panel of a work block: NR consecutive outputs from (run, q) on,
 * across rows when the block holds whole rows (y's rows are one run then). */
static inline int64_t FC_MR_FN(fc_igemm_next_panel)(const int64_t *rowbase, int64_t r0,
                                                    int64_t w0, int64_t w1, int64_t Wout,
                                                    int whole, int64_t run, int64_t q,
                                                    int64_t runlen, FC_FN(fc_panel_runs) *pr,
                                                    int64_t *yoff)
{
    const int64_t ww = w1 - w0, nw = runlen - q < 2 * FC_YVL ? runlen - q : 2 * FC_YVL;
    *yoff = (whole ? r0 * Wout : (r0 + run) * Wout + w0) + q;
    pr->n = 0;
    for (int64_t j = 0; j < nw;) {
        const int64_t at = q + j;
        const int64_t r = whole ? r0 + at / ww : r0 + run, w = w0 + (whole ? at % ww : at);
        const int64_t len = nw - j < w1 - w ? nw - j : w1 - w;
        pr->src[pr->n] = rowbase[r] + w;
        pr->j0[pr->n] = (int)j;
        pr->len[pr->n++] = (int)len;
        j += len;
    }
    return nw;
}

/* Rows [r0, r1) x columns [w0, w1), AVX2 + FMA, in panels of NR outputs (the
 * GEMM's columns), blocked as BLIS blocks its loops: per block of panels
 * (fc_igemm_panels, half of L2) and k-block (fc_igemm_kc, a panel is half of
 * L1D), the panels are packed into work once; then each output-channel tile's
 * k-block of weights (kc x MR, L1) passes over every panel of the block. */
__attribute__((target("avx2,fma")))
static void FC_MR_FN(fc_igemm_rows_packed_avx2)(const FC_T *x, const int64_t *koffs, int64_t K,
                                                const FC_T *wpk, int64_t cog,
                                                const int64_t *rowbase, int64_t r0, int64_t r1,
                                                int64_t w0, int64_t w1, int64_t Wout, FC_T *y,
                                                int64_t P, const FC_T *bias, FC_T *work)
{
    enum { NR = 2 * FC_YVL };
    const int64_t kcb = FC_FN(fc_igemm_kc)(), npb = FC_FN(fc_igemm_panels)();
    const int64_t nob = (cog + MR - 1) / MR;
    const int whole = w0 == 0 && w1 == Wout;
    const int64_t nrun = whole ? 1 : r1 - r0, runlen = whole ? (r1 - r0) * Wout : w1 - w0;
    FC_FN(fc_panel_runs) pr[FC_IGEMM_PANELS_MAX];
    int64_t yoff[FC_IGEMM_PANELS_MAX], nw[FC_IGEMM_PANELS_MAX];
    int64_t run = 0, q = 0;
    while (run < nrun) {
        int64_t np = 0;
        for (; np < npb && run < nrun; ++np) {
            nw[np] = FC_MR_FN(fc_igemm_next_panel)(rowbase, r0, w0, w1, Wout, whole, run, q,
                                                   runlen, &pr[np], &yoff[np]);
            q += nw[np];
            if (q == runlen) { ++run; q = 0; }
        }
        for (int64_t k0 = 0; k0 < K; k0 += kcb) {
            const int64_t kc = K - k0 < kcb ? K - k0 : kcb;
            for (int64_t p = 0; p < np; ++p)
                FC_FN(fc_igemm_pack_panel_avx2)(x, koffs + k0, kc, &pr[p], work + p * kc * NR);
            for (int64_t ob = 0; ob < nob; ++ob) {
                const int mr = (int)(cog - ob * MR < MR ? cog - ob * MR : MR);
                const FC_T *wb = wpk + (ob * K + k0) * MR;
                const FC_T *bb = bias ? bias + ob * MR : NULL;
                for (int64_t p = 0; p < np; ++p) {
                    FC_T *yr = y + ob * MR * P + yoff[p];
                    const int64_t na = nw[p] < FC_YVL ? nw[p] : FC_YVL;
                    for (int h0 = 0; h0 < mr; h0 += MR / 2)
                        FC_MR_FN(fc_igemm_packed_avx2)(work + p * kc * NR, kc, wb, h0, yr,
                                                       yr + FC_YVL, P, na, nw[p] - na, mr, bb,
                                                       k0 == 0);
                }
            }
        }
    }
}

#endif /* FC_HAVE_AVX512_KERNELS */

/* Portable tile: MR x up to FC_VL outputs, plain loops. */
static FC_FORCE_INLINE void FC_MR_FN(fc_igemm_tile_c_body)(const FC_T *xb, const int64_t *koffs,
                                                           int64_t K, const FC_T *wpk, FC_T *yb,
                                                           int64_t ldy, int64_t nw, int mr,
                                                           const FC_T *bias)
{
    FC_T acc[MR][FC_VL];
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < FC_VL; ++j) acc[i][j] = 0;
    if (nw == FC_VL) {
        for (int64_t k = 0; k < K; ++k) {
            const FC_T *b = xb + koffs[k];
            const FC_T *a = wpk + k * MR;
            for (int i = 0; i < MR; ++i)
                for (int j = 0; j < FC_VL; ++j) acc[i][j] += a[i] * b[j];
        }
    } else {
        for (int64_t k = 0; k < K; ++k) {
            const FC_T *b = xb + koffs[k];
            const FC_T *a = wpk + k * MR;
            for (int i = 0; i < MR; ++i)
                for (int64_t j = 0; j < nw; ++j) acc[i][j] += a[i] * b[j];
        }
    }
    for (int i = 0; i < mr; ++i) {
        const FC_T bi = bias ? bias[i] : 0;
        for (int64_t j = 0; j < nw; ++j) yb[i * ldy + j] = acc[i][j] + bi;
    }
}
FC_ISA_VARIANTS(FC_MR_FN(fc_igemm_tile_c), FC_MR_FN(fc_igemm_tile_c_body),
                (const FC_T *xb, const int64_t *koffs, int64_t K, const FC_T *wpk, FC_T *yb,
                 int64_t ldy, int64_t nw, int mr, const FC_T *bias),
                (xb, koffs, K, wpk, yb, ldy, nw, mr, bias))

/* Rows [r0, r1) x columns [w0, w1) of the output of one (sample, group).
 *   x      padded input of the group;  koffs[K] its offset table
 *   wpk    packed weights of the group ([ceil(cog/MR)][K][MR])
 *   rowbase[r]  offset in x of output row r's first input element
 *   y      output of the group (cog planes of P), rows of Wout
 *   bias   cog values or NULL */
static void FC_MR_FN(fc_igemm_rows)(const FC_T *x, const int64_t *koffs, int64_t K,
                                    const FC_T *wpk, int64_t cog, const int64_t *rowbase,
                                    int64_t r0, int64_t r1, int64_t w0, int64_t w1,
                                    int64_t Wout, FC_T *y, int64_t P, const FC_T *bias,
                                    FC_T *work)
{
    const int64_t nob = (cog + MR - 1) / MR;
#if FC_HAVE_AVX512_KERNELS
    const int level = fc_igemm_level();
    const int wide = level == FC_IGEMM_AVX512;
    if (level == FC_IGEMM_AVX2 && work) {
        FC_MR_FN(fc_igemm_rows_packed_avx2)(x, koffs, K, wpk, cog, rowbase, r0, r1, w0, w1,
                                            Wout, y, P, bias, work);
        return;
    }
#endif
#if FC_HAVE_AVX512_KERNELS
    const int64_t row_step = wide && w1 - w0 <= FC_VL ? 2 : 1;
#else
    const int64_t row_step = 1;
#endif
    for (int64_t r = r0; r < r1; r += row_step) {
        const FC_T *xr = x + rowbase[r];
        for (int64_t ob = 0; ob < nob; ++ob) {
            const int mr = (int)(cog - ob * MR < MR ? cog - ob * MR : MR);
            const FC_T *wb = wpk + ob * K * MR;
            FC_T *yr = y + ob * MR * P + r * Wout;
            const FC_T *bb = bias ? bias + ob * MR : NULL;
            int64_t w = w0;
#if FC_HAVE_AVX512_KERNELS
            if (wide && w1 - w0 <= FC_VL && r + 1 < r1) {
                /* narrow rows: rows r and r + 1 share the tile */
                FC_MR_FN(fc_igemm_tile2_avx512)(xr + w0, x + rowbase[r + 1] + w0, koffs, K,
                                                wb, yr + w0, yr + Wout + w0, P, w1 - w0,
                                                w1 - w0, mr, bb);
                continue;
            }
            if (wide) {
                for (; w1 - w > FC_VL; w += 2 * FC_VL) {
                    const int64_t nw = w1 - w < 2 * FC_VL ? w1 - w : 2 * FC_VL;
                    FC_MR_FN(fc_igemm_tile2_avx512)(xr + w, xr + w + FC_VL, koffs, K, wb,
                                                    yr + w, yr + w + FC_VL, P, FC_VL,
                                                    nw - FC_VL, mr, bb);
                }
                if (w < w1)
                    FC_MR_FN(fc_igemm_tile1_avx512)(xr + w, koffs, K, wb, yr + w, P, w1 - w, mr,
                                                    bb);
                continue;
            }
#endif
            for (; w < w1; w += FC_VL) {
                const int64_t nw = w1 - w < FC_VL ? w1 - w : FC_VL;
                FC_MR_FN(fc_igemm_tile_c)(xr + w, koffs, K, wb, yr + w, P, nw, mr, bb);
            }
        }
    }
}

#ifdef FC_TILE_ROWS
#undef FC_TILE_ROWS
#endif
#undef FC_MR_FN
