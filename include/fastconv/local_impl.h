/* Template body of local.h: expects FC_T and FC_SFX.
 *
 * A "grid" holds, for nb samples, R rows of positions: grid[(n*R + r)*ld + q]
 * (the patch matrices of fc_im2col with ld = chunk length, or the output
 * itself with ld = all positions).  "Position rows" hold the same values as
 * one row of R per (position, sample), positions in class order:
 * rows[(slot*nb + n)*R + r] with q = order[slot]. */

#define FC_FN(name) FC_CAT(name, FC_SFX)

static void FC_FN(fc_to_position_rows)(const FC_T *grid, const int64_t *order, int64_t nb,
                                       int64_t R, int64_t ld, int64_t ncol, FC_T *rows)
{
    /* rows are written in order, in long runs of R (the grid is read with
     * stride ld, which stays in cache across consecutive slots) */
    for (int64_t slot = 0; slot < ncol; ++slot)
        for (int64_t n = 0; n < nb; ++n) {
            const FC_T *restrict src = grid + n * R * ld + order[slot];
            FC_T *restrict dst = rows + (slot * nb + n) * R;
            for (int64_t r = 0; r < R; ++r) dst[r] = src[r * ld];
        }
}

/* The inverse of fc_to_position_rows (assigns the grid's chunk columns). */
static void FC_FN(fc_from_position_rows)(const FC_T *rows, const int64_t *order, int64_t nb,
                                         int64_t R, int64_t ld, int64_t ncol, FC_T *grid)
{
    for (int64_t slot = 0; slot < ncol; ++slot)
        for (int64_t n = 0; n < nb; ++n) {
            FC_T *restrict dst = grid + n * R * ld + order[slot];
            const FC_T *restrict src = rows + (slot * nb + n) * R;
            for (int64_t r = 0; r < R; ++r) dst[r * ld] = src[r];
        }
}


/* -- direct forward of locally connected layers ------------------------------
 * With a weight class per position (nothing shared), GEMM gains nothing from
 * batching positions and loses a pass over the weight to its packing.  Here
 * one position at a time: the patches of nb samples are gathered into rows
 * (nb x K, cache-resident), then each of the position's C_out weight rows is
 * read once and dotted with the nb patches.  The weight streams through once
 * per call, which is the floor of this layer. */

#include "avx512_types.h"

/* The patch of one position is given channel by channel: `runs` lists
 * channel 0's runs of consecutive offsets, triples (src offset in the plane,
 * length, offset in the channel's kc patch elements); channel c is the same
 * shifted by c*plane in src and c*kc in the patch.
 *
 * rows[n*ldr + k] = src[n*xs + koffs[k]] for n < nb and the patch elements
 * of all `channels`.  Runs are short (a kernel row), so they move in
 * pieces of FC_GATHER_PIECE elements: a run may read one piece past its end
 * (src carries that slack) and write one past it (runs are copied in patch
 * order, so the next one overwrites it; a row has ldr >= K + FC_GATHER_PIECE
 * elements of room).  one_piece: no run is longer than a piece. */
static void FC_FN(fc_local_gather)(const FC_T *src, int64_t xs, int64_t nb,
                                   const int64_t *restrict runs, int64_t nrun, int64_t plane,
                                   int64_t kc, int64_t channels, int one_piece,
                                   FC_T *restrict rows, int64_t ldr)
{
    const size_t piece_bytes = FC_GATHER_PIECE * sizeof(FC_T);
    for (int64_t n = 0; n < nb; ++n) {
        const FC_T *s = src + n * xs;
        FC_T *r = rows + n * ldr;
        if (one_piece) {  /* the usual case: every run (a kernel row) fits one piece */
#define FC_CHANNEL_RUNS(count)                                                  \
            for (int64_t c = 0; c < channels; ++c, s += plane, r += kc)         \
                for (int64_t j = 0; j < (count); ++j)                           \
                    memcpy(r + runs[3 * j + 2], s + runs[3 * j], piece_bytes);
            FC_SWITCH_RUN_COUNT(nrun, FC_CHANNEL_RUNS)
#undef FC_CHANNEL_RUNS
        } else
            for (int64_t c = 0; c < channels; ++c, s += plane, r += kc)
                for (int64_t j = 0; j < nrun; ++j) {
                    const FC_T *sj = s + runs[3 * j];
                    FC_T *rj = r + runs[3 * j + 2];
                    for (int64_t i = 0; i < runs[3 * j + 1]; i += FC_GATHER_PIECE)
                        memcpy(rj + i, sj + i, piece_bytes);
                }
    }
}

/* out[i*ldo + k] (+)= sum_{j < nin} coef[i*ci + j*cj] * in[j*ldi + k] for
 * i < nout, k < K, summed in order of j: the portable loops of
 * fc_local_combine (i = sample, j = output channel) and fc_local_outer
 * (i = output channel, j = sample). */
static void FC_FN(fc_sum_scaled_rows)(const FC_T *coef, int64_t ci, int64_t cj,
                                      const FC_T *in, int64_t ldi, int64_t nin, int64_t K,
                                      int accumulate, FC_T *out, int64_t ldo, int64_t nout)
{
    for (int64_t i = 0; i < nout; ++i) {
        FC_T *restrict o = out + i * ldo;
        if (!accumulate)
            for (int64_t k = 0; k < K; ++k) o[k] = 0;
        for (int64_t j = 0; j < nin; ++j) {
            const FC_T c = coef[i * ci + j * cj];
            const FC_T *restrict r = in + j * ldi;
            for (int64_t k = 0; k < K; ++k) o[k] += c * r[k];
        }
    }
}

#if FC_HAVE_AVX512_KERNELS
#define FC_DOT_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* The dots of fc_local_dots for up to 8 rows, two weight rows at a time:
 * 16 accumulators, and each row vector loaded feeds two FMAs.  Whole vectors
 * of k load unmasked, the last partial one masked (with masked loads
 * throughout, this loop alone took a third longer on 3x3 64->64 at 28^2).
 * The weight is prefetched into L1 `ahead` bytes ahead and into L2
 * FC_LOCAL_FAR bytes ahead (the hardware prefetchers lose the stream at every
 * page; on 3x3 64->64 at 28^2, N=8 the far one took another 10%). */
#define FC_LOCAL_FAR 16384
__attribute__((target("avx512f"), always_inline))
static inline void FC_FN(fc_local_dots_avx512_body)(const FC_T *w, const FC_T *rows,
                                                    int64_t ldr, int64_t nb, int64_t K,
                                                    int64_t cout, const FC_T *bias, FC_T *y,
                                                    int64_t ldn, int64_t ldc, int64_t ahead)
{
    const int64_t kfull = K - K % FC_VL;
    const FC_MASK tail = FC_LANE_MASK(K - kfull);
    for (int64_t n0 = 0; n0 < nb; n0 += 8) {
        /* rows past nb repeat the last one: a fixed register tile, results dropped */
#define PTR(i) const FC_T *r##i = rows + (n0 + i < nb ? n0 + i : nb - 1) * ldr;
        FC_DOT_ROWS(PTR)
#undef PTR
        for (int64_t co = 0; co < cout; co += 2) {
            /* an odd last row pairs with itself */
            const FC_T *wa = w + co * K, *wb = co + 1 < cout ? wa + K : wa;
#define DECL(i) FC_VEC a##i = FC_ZERO(), b##i = FC_ZERO();
            FC_DOT_ROWS(DECL)
#undef DECL
#define STEP(i) { FC_VEC x = LOAD(r##i + k); FC_IN_REG(x); \
                  a##i = FC_FMA(va, x, a##i); b##i = FC_FMA(vb, x, b##i); }
            int64_t k = 0;
            for (; k < kfull; k += FC_VL) {
#define LOAD(p) FC_LOADU(p)
                const FC_VEC va = LOAD(wa + k), vb = LOAD(wb + k);
                _mm_prefetch((const char *)(wa + k) + ahead, _MM_HINT_T0);
                _mm_prefetch((const char *)(wb + k) + ahead, _MM_HINT_T0);
                _mm_prefetch((const char *)(wa + k) + FC_LOCAL_FAR, _MM_HINT_T1);
                _mm_prefetch((const char *)(wb + k) + FC_LOCAL_FAR, _MM_HINT_T1);
                FC_DOT_ROWS(STEP)
#undef LOAD
            }
            if (tail) {
#define LOAD(p) FC_LOADZ(tail, p)
                const FC_VEC va = LOAD(wa + k), vb = LOAD(wb + k);
                FC_DOT_ROWS(STEP)
#undef LOAD
            }
#undef STEP
            const FC_T ba = bias ? bias[co] : (FC_T)0;
            const FC_T bb = bias && co + 1 < cout ? bias[co + 1] : (FC_T)0;
#define OUT(i) if (n0 + i < nb) { \
                   y[(n0 + i) * ldn + co * ldc] = FC_REDUCE(a##i) + ba; \
                   if (co + 1 < cout) y[(n0 + i) * ldn + (co + 1) * ldc] = FC_REDUCE(b##i) + bb; }
            FC_DOT_ROWS(OUT)
#undef OUT
        }
    }
}

/* nb = 8, one full register tile, compiled apart: its row selects and
 * output guards fold away (1-2% of the forward of 3x3 64->64 at 28^2, N=8) */
__attribute__((target("avx512f")))
static void FC_FN(fc_local_dots_avx512)(const FC_T *w, const FC_T *rows, int64_t ldr,
                                        int64_t nb, int64_t K, int64_t cout, const FC_T *bias,
                                        FC_T *y, int64_t ldn, int64_t ldc, int64_t ahead)
{
    if (nb == 8)
        FC_FN(fc_local_dots_avx512_body)(w, rows, ldr, 8, K, cout, bias, y, ldn, ldc, ahead);
    else
        FC_FN(fc_local_dots_avx512_body)(w, rows, ldr, nb, K, cout, bias, y, ldn, ldc, ahead);
}
#undef FC_DOT_ROWS
#undef FC_LOCAL_FAR
#endif

/* y[n*ldn + co*ldc] = sum_k w[co*K + k] * rows[n*ldr + k] (+ bias[co]),
 * n < nb, co < cout: each weight row read once for all nb rows. */
static void FC_FN(fc_local_dots)(const FC_T *w, const FC_T *rows, int64_t ldr, int64_t nb,
                                 int64_t K, int64_t cout, const FC_T *bias, FC_T *y,
                                 int64_t ldn, int64_t ldc, int64_t ahead)
{
#if FC_HAVE_AVX512_KERNELS
    if (fc_use_avx512()) {
        FC_FN(fc_local_dots_avx512)(w, rows, ldr, nb, K, cout, bias, y, ldn, ldc, ahead);
        return;
    }
#endif
    (void)ahead;
    for (int64_t co = 0; co < cout; ++co) {
        const FC_T *restrict wr = w + co * K;
        for (int64_t n = 0; n < nb; ++n) {
            const FC_T *restrict r = rows + n * ldr;
            FC_T s = 0;
            for (int64_t k = 0; k < K; ++k) s += wr[k] * r[k];
            y[n * ldn + co * ldc] = s + (bias ? bias[co] : (FC_T)0);
        }
    }
}

/* -- direct input gradient of locally connected layers ----------------------
 * rows[n*ldr + k] = sum_co g[n*cout + co] * w[co*K + k], n < nb: a position's
 * patch gradients from its output gradients g (nb x cout, gathered by the
 * caller) and its weights, each weight row read once; fc_local_scatter then
 * adds them into the (padded) input gradient. */
#if FC_HAVE_AVX512_KERNELS
#define FC_COMB_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
/* prefetch distances (bytes) along each weight row, into L1 and into L2 */
#define FC_COMB_NEAR 512
#define FC_COMB_FAR 4096

/* Two vectors of k by 8 rows of n in registers, summed over a block of 8
 * weight rows at a time: the block's rows (contiguous) stream by as 8
 * sequential runs, and the partial sums visit rows[] once per block. */
__attribute__((target("avx512f")))
static void FC_FN(fc_local_combine_avx512)(const FC_T *g, const FC_T *w, int64_t nb, int64_t K,
                                           int64_t cout, FC_T *rows, int64_t ldr)
{
    for (int64_t n0 = 0; n0 < nb; n0 += 8) {
        /* rows past nb repeat the last one: a fixed register tile, results dropped */
#define PTR(i) const int64_t row##i = n0 + i < nb ? n0 + i : nb - 1; \
               const FC_T *g##i = g + row##i * cout; FC_T *r##i = rows + row##i * ldr;
        FC_COMB_ROWS(PTR)
#undef PTR
        for (int64_t c0 = 0; c0 < cout; c0 += 8) {
            const int64_t c1 = c0 + 8 < cout ? c0 + 8 : cout;
            for (int64_t k = 0; k < K; k += 2 * FC_VL) {
                const int64_t left = K - k - FC_VL;
                const FC_MASK m0 = FC_LANE_MASK(K - k);
                const FC_MASK m1 = left > 0 ? FC_LANE_MASK(left) : (FC_MASK)0;
#define DECL(i) FC_VEC a##i = c0 ? FC_LOADZ(m0, r##i + k) : FC_ZERO(); \
                FC_VEC b##i = c0 ? FC_LOADZ(m1, r##i + k + FC_VL) : FC_ZERO();
                FC_COMB_ROWS(DECL)
#undef DECL
                const int full = left >= FC_VL;  /* unmasked loads are faster */
                for (int64_t co = c0; co < c1; ++co) {
                    const FC_T *wk = w + co * K + k;
                    const FC_VEC w0 = full ? FC_LOADU(wk) : FC_LOADZ(m0, wk);
                    const FC_VEC w1 = full ? FC_LOADU(wk + FC_VL) : FC_LOADZ(m1, wk + FC_VL);
                    /* 8 streams at once, too many for the hardware prefetchers */
                    _mm_prefetch((const char *)wk + FC_COMB_NEAR, _MM_HINT_T0);
                    _mm_prefetch((const char *)wk + FC_COMB_NEAR + 64, _MM_HINT_T0);
                    _mm_prefetch((const char *)wk + FC_COMB_FAR, _MM_HINT_T1);
                    _mm_prefetch((const char *)wk + FC_COMB_FAR + 64, _MM_HINT_T1);
#define STEP(i) { const FC_VEC gi = FC_BCAST(g##i + co); \
                  a##i = FC_FMA(gi, w0, a##i); b##i = FC_FMA(gi, w1, b##i); }
                    FC_COMB_ROWS(STEP)
#undef STEP
                }
#define OUT(i) if (n0 + i < nb) { FC_STOREM(r##i + k, m0, a##i); \
                                  FC_STOREM(r##i + k + FC_VL, m1, b##i); }
                FC_COMB_ROWS(OUT)
#undef OUT
            }
        }
    }
}
#undef FC_COMB_ROWS
#undef FC_COMB_NEAR
#undef FC_COMB_FAR
#endif

static void FC_FN(fc_local_combine)(const FC_T *g, const FC_T *w, int64_t nb, int64_t K,
                                    int64_t cout, FC_T *rows, int64_t ldr)
{
#if FC_HAVE_AVX512_KERNELS
    if (fc_use_avx512()) {
        FC_FN(fc_local_combine_avx512)(g, w, nb, K, cout, rows, ldr);
        return;
    }
#endif
    FC_FN(fc_sum_scaled_rows)(g, cout, 1, w, K, cout, K, 0, rows, ldr, nb);
}

#if FC_HAVE_AVX512_KERNELS
/* fc_local_scatter when no run is longer than FC_GATHER_PIECE: a run is one
 * masked load, add and store (a piece never writes past its run: the
 * element after it may be another thread's).  local_conv_grad_input of 3x3
 * 64->64 at 28^2, N=8 takes 0.84 of its time with the scalar loop. */
_Static_assert(FC_GATHER_PIECE == 4, "a scatter piece is one 4-lane vector");
#if FC_IS_F64
#define FC_PIECE_MADD(m, d, r) \
    _mm256_mask_storeu_pd((d), (m), _mm256_add_pd(_mm256_maskz_loadu_pd((m), (d)), \
                                                 _mm256_maskz_loadu_pd((m), (r))))
#else
#define FC_PIECE_MADD(m, d, r) \
    _mm_mask_storeu_ps((d), (m), _mm_add_ps(_mm_maskz_loadu_ps((m), (d)), \
                                           _mm_maskz_loadu_ps((m), (r))))
#endif
__attribute__((target("avx512f,avx512vl")))
static void FC_FN(fc_local_scatter_pieces)(const FC_T *rows, int64_t ldr, int64_t nb,
                                           const int64_t *restrict runs, int64_t nrun,
                                           int64_t plane, int64_t kc, int64_t channels,
                                           FC_T *dst, int64_t xs)
{
    for (int64_t n = 0; n < nb; ++n) {
        FC_T *d = dst + n * xs;
        const FC_T *r = rows + n * ldr;
#define FC_CHANNEL_RUNS(count)                                                  \
        for (int64_t c = 0; c < channels; ++c, d += plane, r += kc)             \
            for (int64_t j = 0; j < (count); ++j)                               \
                FC_PIECE_MADD((__mmask8)((1u << runs[3 * j + 1]) - 1u),         \
                              d + runs[3 * j], r + runs[3 * j + 2]);
        FC_SWITCH_RUN_COUNT(nrun, FC_CHANNEL_RUNS)
#undef FC_CHANNEL_RUNS
    }
}
#undef FC_PIECE_MADD
#endif

/* dst[n*xs + koffs[k]] += rows[n*ldr + k] for n < nb, koffs as the runs of
 * fc_local_gather (the inverse of that gather, accumulated); one_piece: no
 * run is longer than FC_GATHER_PIECE. */
static void FC_FN(fc_local_scatter)(const FC_T *rows, int64_t ldr, int64_t nb,
                                    const int64_t *runs, int64_t nrun, int64_t plane,
                                    int64_t kc, int64_t channels, int one_piece, FC_T *dst,
                                    int64_t xs)
{
#if FC_HAVE_AVX512_KERNELS
    if (one_piece && fc_use_avx512()) {
        FC_FN(fc_local_scatter_pieces)(rows, ldr, nb, runs, nrun, plane, kc, channels, dst,
                                       xs);
        return;
    }
#endif
    (void)one_piece;
    for (int64_t n = 0; n < nb; ++n) {
        FC_T *d = dst + n * xs;
        const FC_T *r = rows + n * ldr;
        for (int64_t c = 0; c < channels; ++c, d += plane, r += kc)
            for (int64_t j = 0; j < nrun; ++j) {
                FC_T *restrict dj = d + runs[3 * j];
                const FC_T *restrict rj = r + runs[3 * j + 2];
                for (int64_t i = 0; i < runs[3 * j + 1]; ++i) dj[i] += rj[i];
            }
    }
}

/* -- direct weight gradient of locally connected layers ---------------------
 * gw[co*K + k] (+)= sum_{n < nb} g[n*cout + co] * rows[n*ldr + k]: a
 * position's gradient rows, each written once, from its patches (rows, in
 * cache) and its output gradients g (nb x cout, gathered by the caller). */
#if FC_HAVE_AVX512_KERNELS
__attribute__((target("avx512f")))
static void FC_FN(fc_local_outer_avx512)(const FC_T *g, const FC_T *rows, int64_t ldr,
                                         int64_t nb, int64_t K, int64_t cout, int accumulate,
                                         FC_T *gw)
{
    for (int64_t co = 0; co < cout; ++co) {
        FC_T *wr = gw + co * K;
        /* four vectors of the row at a time: four independent sums over n */
        for (int64_t k = 0; k < K; k += 4 * FC_VL) {
#define LANES(X) X(0) X(1) X(2) X(3)
#define DECL(i) const int64_t n##i = K - k - i * FC_VL; \
                const FC_MASK m##i = n##i > 0 ? FC_LANE_MASK(n##i) : (FC_MASK)0; \
                FC_VEC c##i = accumulate ? FC_LOADZ(m##i, wr + k + i * FC_VL) : FC_ZERO();
            LANES(DECL)
#undef DECL
            /* whole blocks load unmasked (masked loads are slower) */
#define SUM_OVER_N(LOAD) \
            for (int64_t n = 0; n < nb; ++n) { \
                const FC_VEC gn = FC_BCAST(g + n * cout + co); \
                const FC_T *rn = rows + n * ldr + k; \
                LANES(LOAD) \
            }
#define STEP_FULL(i) c##i = FC_FMA(gn, FC_LOADU(rn + i * FC_VL), c##i);
#define STEP_PART(i) c##i = FC_FMA(gn, FC_LOADZ(m##i, rn + i * FC_VL), c##i);
            if (k + 4 * FC_VL <= K) {
                SUM_OVER_N(STEP_FULL)
            } else {
                SUM_OVER_N(STEP_PART)
            }
#undef STEP_FULL
#undef STEP_PART
#undef SUM_OVER_N
#define OUT(i) FC_STOREM(wr + k + i * FC_VL, m##i, c##i);
            LANES(OUT)
#undef OUT
#undef LANES
        }
    }
}
#endif

static void FC_FN(fc_local_outer)(const FC_T *g, const FC_T *rows, int64_t ldr, int64_t nb,
                                  int64_t K, int64_t cout, int accumulate, FC_T *gw)
{
#if FC_HAVE_AVX512_KERNELS
    if (fc_use_avx512()) {
        FC_FN(fc_local_outer_avx512)(g, rows, ldr, nb, K, cout, accumulate, gw);
        return;
    }
#endif
    FC_FN(fc_sum_scaled_rows)(g, 1, cout, rows, ldr, nb, K, accumulate, gw, K, cout);
}

#undef FC_VL
#undef FC_VEC
#undef FC_MASK
#undef FC_FN
