/* Template body of filter_rows.h: one register-blocked row kernel.
 *
 * Expects FC_T (element type), FC_SFX (f32 | f64), FC_ISA (isa suffix),
 * FC_TARGET (function attribute selecting the ISA, may be empty),
 * FC_VBYTES (bytes of one vector register, 0 = scalar), FC_RB (output rows
 * per register block), FC_VB (vectors per row of a register block) and
 * FC_FMA_HW (1 where the variant fuses its multiply-adds, as explicit FMAs).
 *
 * Contract of fc_rows_<dt>_<isa>:
 *
 *   for r < R, o < W:
 *       y[r*ys + o] = (add ? y[r*ys + o] : b) + sum_t w[t] * s[r*ss + off[t] + o]
 *
 * Every s[r*ss + off[t] + o] read must exist; nothing else is assumed
 * (no alignment, any R and W).  A register block holds FC_RB rows x FC_VB
 * vectors of outputs; each tap adds w[t] times FC_RB*FC_VB unaligned loads.
 * The sum over taps runs in the order of the tap list, for every output.
 *
 * Every output is rounded alike, whichever path computes it (vector block,
 * last vector, scalar tail), so a point's value does not depend on where the
 * blocking puts it.  Where the ISA has FMA, every multiply-add is an explicit
 * FMA, in vectors (intrinsics) and in the scalar tails (__builtin_fma); the
 * build turns the compiler's own contraction off, which would otherwise fuse
 * some operations and not others depending on the optimisation level and on
 * how it vectorised each loop.
 */

#define FC_RFN(name) FC_CAT(FC_CAT(name, FC_SFX), FC_ISA)
#define FC_VT FC_RFN(fc_vec)

/* a += w * x for one element, rounded as the vector code rounds it */
#if FC_FMA_HW && FC_IS_F64
#define FC_MADD(a, w, x) ((a) = __builtin_fma((w), (x), (a)))
#elif FC_FMA_HW
#define FC_MADD(a, w, x) ((a) = __builtin_fmaf((w), (x), (a)))
#else
#define FC_MADD(a, w, x) ((a) += (w) * (x))
#endif

#if FC_VBYTES > 0
#define FC_VL ((int64_t)(FC_VBYTES / sizeof(FC_T)))
/* aligned(element) + may_alias: an unaligned load or store of any element run */
typedef FC_T FC_VT __attribute__((vector_size(FC_VBYTES), aligned(sizeof(FC_T)), may_alias));
#define FC_VLOAD(p) (*(const FC_VT *)(p))
#define FC_VSTORE(p, v) (*(FC_VT *)(p) = (v))
/* FC_VSPLAT(s): every lane s; FC_VMADD(acc, w, x): acc += w * x, lane-wise */
#if FC_FMA_HW && defined(__aarch64__)
#if FC_IS_F64
#define FC_VSPLAT(s) ((FC_VT)vdupq_n_f64(s))
#define FC_VMADD(acc, w, x) ((acc) = (FC_VT)vfmaq_f64((float64x2_t)(acc), (float64x2_t)(w), (float64x2_t)(x)))
#else
#define FC_VSPLAT(s) ((FC_VT)vdupq_n_f32(s))
#define FC_VMADD(acc, w, x) ((acc) = (FC_VT)vfmaq_f32((float32x4_t)(acc), (float32x4_t)(w), (float32x4_t)(x)))
#endif
#elif FC_FMA_HW && (FC_VBYTES == 64 || FC_VBYTES == 32)
#if FC_VBYTES == 64 && FC_IS_F64
#define FC_VNATIVE __m512d
#elif FC_VBYTES == 64
#define FC_VNATIVE __m512
#elif FC_IS_F64
#define FC_VNATIVE __m256d
#else
#define FC_VNATIVE __m256
#endif
#if FC_VBYTES == 64
#define FC_VSPLAT(s) ((FC_VT)FC_CAT(_mm512_set1, FC_ISFX)(s))
#define FC_VFMADD FC_CAT(_mm512_fmadd, FC_ISFX)
#else
#define FC_VSPLAT(s) ((FC_VT)FC_CAT(_mm256_set1, FC_ISFX)(s))
#define FC_VFMADD FC_CAT(_mm256_fmadd, FC_ISFX)
#endif
#define FC_VMADD(acc, w, x) \
    ((acc) = (FC_VT)FC_VFMADD((FC_VNATIVE)(w), (FC_VNATIVE)(x), (FC_VNATIVE)(acc)))
#else   /* SSE2: no FMA; a splat by intrinsic (0 + s would turn -0 into +0) */
#define FC_VSPLAT(s) ((FC_VT)FC_CAT(_mm_set1, FC_ISFX)(s))
#define FC_VMADD(acc, w, x) ((acc) += (w) * (x))
#endif
#else
#define FC_VL ((int64_t)1)
typedef FC_T FC_VT;
#define FC_VLOAD(p) (*(p))
#define FC_VSTORE(p, v) (*(p) = (v))
#define FC_VSPLAT(s) (s)
#define FC_VMADD(acc, w, x) FC_MADD(acc, w, x)
#endif

/* One register block: rb rows x vb vectors at column o (rb, vb compile-time). */
FC_TARGET static FC_FORCE_INLINE void
FC_RFN(fc_rows_block)(const FC_T *s, int64_t ss, int64_t nt, const int64_t *off,
                      const FC_T *w, FC_T b, int add, FC_T *y, int64_t ys,
                      const int rb, const int vb)
{
    FC_VT acc[FC_RB][FC_VB];
#pragma GCC unroll 16
    for (int i = 0; i < rb; ++i)
#pragma GCC unroll 16
        for (int v = 0; v < vb; ++v) {
            if (add) acc[i][v] = FC_VLOAD(y + i * ys + v * FC_VL);
            else acc[i][v] = FC_VSPLAT(b);
        }
    /* rows as base registers, the tap offset as index, the vector as displacement */
    const FC_T *row[FC_RB];
#pragma GCC unroll 16
    for (int i = 0; i < rb; ++i) row[i] = s + i * ss;
    for (int64_t t = 0; t < nt; ++t) {
        const int64_t ot = off[t];
        const FC_VT wt = FC_VSPLAT(w[t]);
#pragma GCC unroll 16
        for (int i = 0; i < rb; ++i)
#pragma GCC unroll 16
            for (int v = 0; v < vb; ++v)
                FC_VMADD(acc[i][v], wt, FC_VLOAD(row[i] + ot + v * FC_VL));
    }
#pragma GCC unroll 16
    for (int i = 0; i < rb; ++i)
#pragma GCC unroll 16
        for (int v = 0; v < vb; ++v) FC_VSTORE(y + i * ys + v * FC_VL, acc[i][v]);
}

/* The last W % FC_VL columns of rb rows, one output at a time. */
FC_TARGET static inline void
FC_RFN(fc_rows_tail)(const FC_T *s, int64_t ss, int64_t nt, const int64_t *off,
                     const FC_T *w, FC_T b, int add, FC_T *y, int64_t ys, int rb,
                     int64_t o0, int64_t W)
{
    for (int i = 0; i < rb; ++i)
        for (int64_t o = o0; o < W; ++o) {
            FC_T a = add ? y[i * ys + o] : b;
            for (int64_t t = 0; t < nt; ++t) FC_MADD(a, w[t], s[i * ss + off[t] + o]);
            y[i * ys + o] = a;
        }
}

/* rb rows (compile-time) across the whole width. */
FC_TARGET static FC_FORCE_INLINE void
FC_RFN(fc_rows_strip)(const FC_T *s, int64_t ss, int64_t nt, const int64_t *off,
                      const FC_T *w, FC_T b, int add, int64_t W, FC_T *y, int64_t ys,
                      const int rb)
{
    int64_t o = 0;
    for (; o + FC_VB * FC_VL <= W; o += FC_VB * FC_VL)
        FC_RFN(fc_rows_block)(s + o, ss, nt, off, w, b, add, y + o, ys, rb, FC_VB);
    for (; o + FC_VL <= W; o += FC_VL)
        FC_RFN(fc_rows_block)(s + o, ss, nt, off, w, b, add, y + o, ys, rb, 1);
    if (o < W) {
        if (!add && W >= FC_VL)   /* one more vector ending at W: recomputes, same sums */
            FC_RFN(fc_rows_block)(s + W - FC_VL, ss, nt, off, w, b, 0, y + W - FC_VL, ys, rb, 1);
        else
            FC_RFN(fc_rows_tail)(s, ss, nt, off, w, b, add, y, ys, rb, o, W);
    }
}

FC_TARGET static void
FC_RFN(fc_rows)(const FC_T *s, int64_t ss, int64_t nt, const int64_t *off, const FC_T *w,
                FC_T b, int add, int64_t R, int64_t W, FC_T *y, int64_t ys)
{
    int64_t r = 0;
    for (; r + FC_RB <= R; r += FC_RB)
        FC_RFN(fc_rows_strip)(s + r * ss, ss, nt, off, w, b, add, W, y + r * ys, ys, FC_RB);
    for (; r < R; ++r)
        FC_RFN(fc_rows_strip)(s + r * ss, ss, nt, off, w, b, add, W, y + r * ys, ys, 1);
}

/* -- dense kh x kw kernels: each input load feeds several output rows -------
 *
 *   fc_rows2d_<dt>_<isa>(s, ss, kh, kw, w, b, add, R, W, y, ys):
 *       y[r*ys + o] = (add ? y[r*ys + o] : b)
 *                     + sum_{p < kh, q < kw} w[p*kw + q] * s[(r + p)*ss + o + q]
 *
 * Same sums as fc_rows with the taps (p*ss + q) in row-major order.  A
 * register block of FC_RB2 rows walks the FC_RB2 + kh - 1 input rows it
 * reads; the vectors loaded from input row j (one per column tap q) are
 * added into every block row i with 0 <= j - i < kh, with weight
 * w[(j - i)*kw + q]: up to FC_RB2 FMAs per load instead of one.  The rows i
 * an input row feeds form a range [lo, hi] known per j; each range has its
 * own unrolled loop (a switch outside the q loop), so no tap outside the
 * kernel is ever multiplied (NaN and Inf propagate exactly as the sum says).
 */

/* acc[i][v] += w[(j - i)*kw + q] * x[j][o + v*VL + q] for i in [lo, hi], q < kw. */
#define FC_RB2_ROWS(LO, HI)                                                            \
    for (int64_t q = 0; q < kw; ++q) {                                                 \
        FC_VT xv[FC_VB2];                                                              \
        _Pragma("GCC unroll 16") for (int v = 0; v < vb; ++v)                          \
            xv[v] = FC_VLOAD(xr + q + v * FC_VL);                                      \
        _Pragma("GCC unroll 16") for (int i = (LO); i <= (HI); ++i) {                  \
            const FC_VT wt = FC_VSPLAT(wj[(jj - i) * kw + q]);                         \
            _Pragma("GCC unroll 16") for (int v = 0; v < vb; ++v) FC_VMADD(acc[i][v], wt, xv[v]); \
        }                                                                              \
    }

FC_TARGET static FC_FORCE_INLINE void
FC_RFN(fc_rows2d_block)(const FC_T *s, int64_t ss, int64_t kh, int64_t kw, const FC_T *w,
                        FC_T b, int add, FC_T *y, int64_t ys, const int vb)
{
    FC_VT acc[FC_RB2][FC_VB2];
#pragma GCC unroll 16
    for (int i = 0; i < FC_RB2; ++i)
#pragma GCC unroll 16
        for (int v = 0; v < vb; ++v) {
            if (add) acc[i][v] = FC_VLOAD(y + i * ys + v * FC_VL);
            else acc[i][v] = FC_VSPLAT(b);
        }
    const FC_T *wj = w;
    for (int64_t jj = 0; jj < FC_RB2 + kh - 1; ++jj) {
        const FC_T *xr = s + jj * ss;
        const int lo = jj - kh + 1 > 0 ? (int)(jj - kh + 1) : 0;
        const int hi = jj < FC_RB2 - 1 ? (int)jj : FC_RB2 - 1;
        switch (lo * FC_RB2 + hi) {
#if FC_RB2 == 4
        case 0: FC_RB2_ROWS(0, 0) break;
        case 1: FC_RB2_ROWS(0, 1) break;
        case 2: FC_RB2_ROWS(0, 2) break;
        case 3: FC_RB2_ROWS(0, 3) break;
        case 5: FC_RB2_ROWS(1, 1) break;
        case 6: FC_RB2_ROWS(1, 2) break;
        case 7: FC_RB2_ROWS(1, 3) break;
        case 10: FC_RB2_ROWS(2, 2) break;
        case 11: FC_RB2_ROWS(2, 3) break;
        case 15: FC_RB2_ROWS(3, 3) break;
#elif FC_RB2 == 3
        case 0: FC_RB2_ROWS(0, 0) break;
        case 1: FC_RB2_ROWS(0, 1) break;
        case 2: FC_RB2_ROWS(0, 2) break;
        case 4: FC_RB2_ROWS(1, 1) break;
        case 5: FC_RB2_ROWS(1, 2) break;
        case 8: FC_RB2_ROWS(2, 2) break;
#else
#error "FC_RB2 must be 3 or 4"
#endif
        default: break;
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < FC_RB2; ++i)
#pragma GCC unroll 16
        for (int v = 0; v < vb; ++v) FC_VSTORE(y + i * ys + v * FC_VL, acc[i][v]);
}
#undef FC_RB2_ROWS

/* One output row (or the last columns): the plain sum. */
FC_TARGET static void
FC_RFN(fc_rows2d_rest)(const FC_T *s, int64_t ss, int64_t kh, int64_t kw, const FC_T *w,
                       FC_T b, int add, int64_t R, int64_t o0, int64_t W, FC_T *y, int64_t ys)
{
    for (int64_t r = 0; r < R; ++r) {
        int64_t o = o0;
        for (; o + FC_VL <= W; o += FC_VL) {
            FC_VT a;
            if (add) a = FC_VLOAD(y + r * ys + o);
            else a = FC_VSPLAT(b);
            for (int64_t p = 0; p < kh; ++p)
                for (int64_t q = 0; q < kw; ++q)
                    FC_VMADD(a, FC_VSPLAT(w[p * kw + q]), FC_VLOAD(s + (r + p) * ss + o + q));
            FC_VSTORE(y + r * ys + o, a);
        }
        for (; o < W; ++o) {
            FC_T a = add ? y[r * ys + o] : b;
            for (int64_t p = 0; p < kh; ++p)
                for (int64_t q = 0; q < kw; ++q) FC_MADD(a, w[p * kw + q], s[(r + p) * ss + o + q]);
            y[r * ys + o] = a;
        }
    }
}

FC_TARGET static void
FC_RFN(fc_rows2d)(const FC_T *s, int64_t ss, int64_t kh, int64_t kw, const FC_T *w, FC_T b,
                  int add, int64_t R, int64_t W, FC_T *y, int64_t ys)
{
    int64_t r = 0;
    for (; r + FC_RB2 <= R; r += FC_RB2) {
        const FC_T *sr = s + r * ss;
        FC_T *yr = y + r * ys;
        int64_t o = 0;
        for (; o + FC_VB2 * FC_VL <= W; o += FC_VB2 * FC_VL)
            FC_RFN(fc_rows2d_block)(sr + o, ss, kh, kw, w, b, add, yr + o, ys, FC_VB2);
        for (; o + FC_VL <= W; o += FC_VL)
            FC_RFN(fc_rows2d_block)(sr + o, ss, kh, kw, w, b, add, yr + o, ys, 1);
        if (o < W && !add && W >= FC_VL)   /* a last vector ending at W (same sums) */
            FC_RFN(fc_rows2d_block)(sr + W - FC_VL, ss, kh, kw, w, b, 0, yr + W - FC_VL, ys, 1);
        else if (o < W)
            FC_RFN(fc_rows2d_rest)(sr, ss, kh, kw, w, b, add, FC_RB2, o, W, yr, ys);
    }
    if (r < R) FC_RFN(fc_rows2d_rest)(s + r * ss, ss, kh, kw, w, b, add, R - r, 0, W, y + r * ys, ys);
}

#undef FC_MADD
#undef FC_VMADD
#undef FC_VSPLAT
#ifdef FC_VNATIVE
#undef FC_VNATIVE
#undef FC_VFMADD
#endif
#undef FC_VL
#undef FC_VLOAD
#undef FC_VSTORE
#undef FC_VT
#undef FC_RFN
