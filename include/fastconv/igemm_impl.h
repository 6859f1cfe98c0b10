/* Template body of igemm.h, expanded by for_each_dtype.h. */

#define FC_FN(name) FC_CAT(name, FC_SFX)
#include "avx512_types.h"

/* lanes of a 32-byte vector of the dtype, on any target */
#define FC_YVL_ALL (32 / (int)sizeof(FC_T))

#if FC_HAVE_AVX512_KERNELS
/* AVX2 vocabulary of the dtype: FC_YI(fmadd_) is _mm256_fmadd_ps / _pd. */
#define FC_YI(op) FC_I3(_mm256_, op, FC_ISFX)
#if FC_IS_F64
#define FC_YVL 4
#define FC_YVEC __m256d
#define FC_YLANES(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#else
#define FC_YVL 8
#define FC_YVEC __m256
#define FC_YLANES(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), \
                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#endif

/* The first n < FC_YVL lanes of v to p (a masked store is dozens of uops on AMD). */
__attribute__((target("avx2,fma")))
static inline void FC_FN(fc_store_part_avx2)(FC_T *p, FC_YVEC v, int64_t n)
{
    FC_T t[FC_YVL];
    FC_YI(storeu_)(t, v);
    for (int64_t j = 0; j < n; ++j) p[j] = t[j];
}

/* The first n < FC_YVL lanes from p, the others zero. */
__attribute__((target("avx2,fma")))
static inline FC_YVEC FC_FN(fc_load_part_avx2)(const FC_T *p, int64_t n)
{
    FC_T t[FC_YVL] = {0};
    for (int64_t j = 0; j < n; ++j) t[j] = p[j];
    return FC_YI(loadu_)(t);
}

/* The packed input panel of NR = 2 FC_YVL consecutive outputs (bp 32-byte
 * aligned, FC_YVL elements of slack past kc rows):
 *     bp[k][j] = x[koffs[k] + src_j]    for k < kc, j < NR,
 * where the columns come in runs (one per output row the panel spans): run i
 * covers columns [j0[i], j0[i] + len[i]) and reads x from src[i] on.  One
 * contiguous panel, read from L1 by every output-channel tile, where reading
 * x through the offsets touches a cache line (often two) per k; and panels
 * that span rows fill every lane where rows of 14 or 56 outputs filled 7/8.
 * Each run is copied with whole vectors (masked loads: no read past a run),
 * in column order, so a vector that spills past its run is overwritten by
 * the next run; the columns past the last run's vectors are zeroed (no tile
 * stores them, but they must hold numbers). */
typedef struct {
    int64_t src[2 * FC_YVL];
    int j0[2 * FC_YVL], len[2 * FC_YVL];
    int n;
} FC_FN(fc_panel_runs);

__attribute__((target("avx2,fma")))
static void FC_FN(fc_igemm_pack_panel_avx2)(const FC_T *x, const int64_t *koffs, int64_t kc,
                                            const FC_FN(fc_panel_runs) *pr, FC_T *restrict bp)
{
    if (pr->n == 1 && pr->len[0] == 2 * FC_YVL) {
        const FC_T *xs = x + pr->src[0];
        for (int64_t k = 0; k < kc; ++k, bp += 2 * FC_YVL) {
            const FC_T *p = xs + koffs[k];
            FC_YI(store_)(bp, FC_YI(loadu_)(p));
            FC_YI(store_)(bp + FC_YVL, FC_YI(loadu_)(p + FC_YVL));
        }
        return;
    }
    const int last = pr->n - 1;
    const int filled = pr->j0[last] + (pr->len[last] + FC_YVL - 1) / FC_YVL * FC_YVL;
    for (int64_t k = 0; k < kc; ++k, bp += 2 * FC_YVL) {
        const FC_T *xk = x + koffs[k];
        for (int j = filled; j < 2 * FC_YVL; ++j) bp[j] = 0;
        for (int i = 0; i < pr->n; ++i) {
            const FC_T *p = xk + pr->src[i];
            FC_T *d = bp + pr->j0[i];
            for (int o = 0; o < pr->len[i]; o += FC_YVL) {
                const int m = pr->len[i] - o < FC_YVL ? pr->len[i] - o : FC_YVL;
                FC_YI(storeu_)(d + o, m == FC_YVL ? FC_YI(loadu_)(p + o)
                                                  : FC_YI(maskload_)(p + o, FC_YLANES(m)));
            }
        }
    }
}
#endif

/* Blocks of the packed AVX2 path (NR = 2 FC_YVL columns a panel): kc rows of
 * K a k-block, panels a block of them; and the workspace of one thread. */
static inline int64_t FC_FN(fc_igemm_kc)(void)
{
    int64_t kc = fc_igemm_l1d_bytes / 2 / (2 * FC_YVL_ALL * (int64_t)sizeof(FC_T));
    return kc < 32 ? 32 : kc > FC_IGEMM_KC_MAX ? FC_IGEMM_KC_MAX : kc;
}

static inline int64_t FC_FN(fc_igemm_panels)(void)
{
    int64_t n = fc_igemm_l2_bytes / 2
                / (FC_FN(fc_igemm_kc)() * 2 * FC_YVL_ALL * (int64_t)sizeof(FC_T));
    return n < 1 ? 1 : n > FC_IGEMM_PANELS_MAX ? FC_IGEMM_PANELS_MAX : n;
}

/* Elements of one thread's workspace for fc_igemm_rows (0: none needed). */
static inline int64_t FC_FN(fc_igemm_work)(void)
{
    if (fc_igemm_level() != FC_IGEMM_AVX2) return 0;
    return FC_FN(fc_igemm_panels)() * FC_FN(fc_igemm_kc)() * 2 * FC_YVL_ALL + 2 * FC_YVL_ALL;
}

#define MR 12
#include "igemm_tile_impl.h"
#undef MR
#define MR 8
#include "igemm_tile_impl.h"
#undef MR

/* fc_igemm_rows_12 or _8 (tile_mr): wpk is packed in panels of tile_mr output
 * channels; work holds fc_igemm_work() elements (aligned to 32 bytes). */
static void FC_FN(fc_igemm_rows)(const FC_T *x, const int64_t *koffs, int64_t K, const FC_T *wpk,
                                 int64_t cog, const int64_t *rowbase, int64_t r0, int64_t r1,
                                 int64_t w0, int64_t w1, int64_t Wout, FC_T *y, int64_t P,
                                 const FC_T *bias, int tile_mr, FC_T *work)
{
    if (tile_mr == 8)
        FC_FN(fc_igemm_rows_8)(x, koffs, K, wpk, cog, rowbase, r0, r1, w0, w1, Wout, y, P,
                               bias, work);
    else
        FC_FN(fc_igemm_rows_12)(x, koffs, K, wpk, cog, rowbase, r0, r1, w0, w1, Wout, y, P,
                                bias, work);
}

/* -- grad_weight ----------------------------------------------------------
 * acc[o, k] += sum over rows [r0, r1) and w of gy[o, row, w] * x[rowbase[row] + koffs[k] + w]
 * for k in [k0, k1): the reduction runs along the rows, so the tile keeps
 * DW_MO x DW_MK vectors of partial sums over w and reduces each horizontally
 * once per call (callers pass thousands of positions per call).  k-blocks are
 * outermost so that the DW_MK input rows stay in L1 while the gradient rows
 * of every output channel stream past them. */
#define DW_MO 2
#define DW_MK 12

#if FC_HAVE_AVX512_KERNELS
#define FC_DW_COLS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f")))
static void FC_FN(fc_igemm_dw_tile_avx512)(const FC_T *x, const int64_t *koffs, int mk,
                                           const FC_T *gy, int mo, int64_t P,
                                           const int64_t *rowbase, int64_t r0, int64_t r1,
                                           int64_t Wout, FC_T *acc, int64_t ldacc)
{
#define DECL(j) FC_VEC s0_##j = FC_ZERO(), s1_##j = FC_ZERO();
    FC_DW_COLS(DECL)
#undef DECL
    const int64_t *ko[DW_MK];
    for (int j = 0; j < DW_MK; ++j) ko[j] = koffs + (j < mk ? j : mk - 1);
    const FC_T *gy1 = mo > 1 ? gy + P : gy;
    for (int64_t r = r0; r < r1; ++r) {
        const FC_T *xr = x + rowbase[r];
        const FC_T *g0r = gy + r * Wout, *g1r = gy1 + r * Wout;
#define PTR(j) const FC_T *x##j = xr + *ko[j];
        FC_DW_COLS(PTR)
#undef PTR
        for (int64_t w = 0; w < Wout; w += FC_VL) {
            const FC_MASK m = FC_LANE_MASK(Wout - w);
            const FC_VEC g0 = FC_LOADZ(m, g0r + w), g1 = FC_LOADZ(m, g1r + w);
#define STEP(j) { const FC_VEC xv = FC_LOADZ(m, x##j + w); s0_##j = FC_FMA(g0, xv, s0_##j); \
                  s1_##j = FC_FMA(g1, xv, s1_##j); }
            FC_DW_COLS(STEP)
#undef STEP
        }
    }
#define OUT(j) if (j < mk) { acc[j] += FC_REDUCE(s0_##j); \
                             if (mo > 1) acc[ldacc + j] += FC_REDUCE(s1_##j); }
    FC_DW_COLS(OUT)
#undef OUT
}
#undef FC_DW_COLS
#endif

static FC_FORCE_INLINE void FC_FN(fc_igemm_dw_tile_c_body)(const FC_T *x, const int64_t *koffs,
                                                           int mk, const FC_T *gy, int mo,
                                                           int64_t P, const int64_t *rowbase,
                                                           int64_t r0, int64_t r1, int64_t Wout,
                                                           FC_T *acc, int64_t ldacc)
{
    for (int i = 0; i < mo; ++i) {
        for (int j = 0; j < mk; ++j) {
            FC_T part[FC_VL] = {0};
            for (int64_t r = r0; r < r1; ++r) {
                const FC_T *g = gy + i * P + r * Wout;
                const FC_T *xr = x + rowbase[r] + koffs[j];
                for (int64_t w = 0; w < Wout; ++w) part[w % FC_VL] += g[w] * xr[w];
            }
            FC_T s = 0;
            for (int l = 0; l < FC_VL; ++l) s += part[l];
            acc[i * ldacc + j] += s;
        }
    }
}
FC_ISA_VARIANTS(FC_FN(fc_igemm_dw_tile_c), FC_FN(fc_igemm_dw_tile_c_body),
                (const FC_T *x, const int64_t *koffs, int mk, const FC_T *gy, int mo, int64_t P,
                 const int64_t *rowbase, int64_t r0, int64_t r1, int64_t Wout, FC_T *acc,
                 int64_t ldacc),
                (x, koffs, mk, gy, mo, P, rowbase, r0, r1, Wout, acc, ldacc))

/* One chunk of rows of one (sample, group): acc (cog x K, row-major) += its
 * contribution for the columns k in [k0, k1). */
static void FC_FN(fc_igemm_dw_rows)(const FC_T *x, const int64_t *koffs, int64_t K, int64_t k0,
                                    int64_t k1, const FC_T *gy, int64_t cog, int64_t P,
                                    const int64_t *rowbase, int64_t r0, int64_t r1,
                                    int64_t Wout, FC_T *acc)
{
#if FC_HAVE_AVX512_KERNELS
    const int wide = fc_igemm_level() == FC_IGEMM_AVX512;
#endif
    for (int64_t kb = k0; kb < k1; kb += DW_MK) {
        const int mk = (int)(k1 - kb < DW_MK ? k1 - kb : DW_MK);
        for (int64_t ob = 0; ob < cog; ob += DW_MO) {
            const int mo = (int)(cog - ob < DW_MO ? cog - ob : DW_MO);
#if FC_HAVE_AVX512_KERNELS
            if (wide) {
                FC_FN(fc_igemm_dw_tile_avx512)(x, koffs + kb, mk, gy + ob * P, mo, P, rowbase,
                                               r0, r1, Wout, acc + ob * K + kb, K);
                continue;
            }
#endif
            FC_FN(fc_igemm_dw_tile_c)(x, koffs + kb, mk, gy + ob * P, mo, P, rowbase, r0, r1,
                                      Wout, acc + ob * K + kb, K);
        }
    }
}
#undef DW_MO
#undef DW_MK

#undef FC_VL
#undef FC_VEC
#undef FC_MASK
#if FC_HAVE_AVX512_KERNELS
#undef FC_YI
#undef FC_YVL
#undef FC_YVEC
#undef FC_YLANES
#endif
#undef FC_FN
