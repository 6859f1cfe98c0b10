/* Template body of filter_rows.h: one register-blocked row kernel.
 *
 * Expects FC_T (element type), FC_SFX (f32 | f64), FC_ISA (isa suffix),
 * FC_TARGET (function attribute selecting the ISA, may be empty),
 * FC_VBYTES (bytes of one vector register, 0 = scalar), FC_RB (output rows
 * per register block) and FC_VB (vectors per row of a register block).
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
 */

#define FC_RFN(name) FC_CAT(FC_CAT(name, FC_SFX), FC_ISA)
#define FC_VT FC_RFN(fc_vec)

#if FC_VBYTES > 0
#define FC_VL ((int64_t)(FC_VBYTES / sizeof(FC_T)))
/* aligned(element) + may_alias: an unaligned load or store of any element run */
typedef FC_T FC_VT __attribute__((vector_size(FC_VBYTES), aligned(sizeof(FC_T)), may_alias));
#define FC_VLOAD(p) (*(const FC_VT *)(p))
#define FC_VSTORE(p, v) (*(FC_VT *)(p) = (v))
#define FC_VZERO(v) ((v) = (FC_VT){0})
#else
#define FC_VL ((int64_t)1)
typedef FC_T FC_VT;
#define FC_VLOAD(p) (*(p))
#define FC_VSTORE(p, v) (*(p) = (v))
#define FC_VZERO(v) ((v) = 0)
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
            else { FC_VZERO(acc[i][v]); acc[i][v] += b; }
        }
    /* rows as base registers, the tap offset as index, the vector as displacement */
    const FC_T *row[FC_RB];
#pragma GCC unroll 16
    for (int i = 0; i < rb; ++i) row[i] = s + i * ss;
    for (int64_t t = 0; t < nt; ++t) {
        const int64_t ot = off[t];
        const FC_T wt = w[t];
#pragma GCC unroll 16
        for (int i = 0; i < rb; ++i)
#pragma GCC unroll 16
            for (int v = 0; v < vb; ++v)
                acc[i][v] += wt * FC_VLOAD(row[i] + ot + v * FC_VL);
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
            for (int64_t t = 0; t < nt; ++t) a += w[t] * s[i * ss + off[t] + o];
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
    if (o < W) FC_RFN(fc_rows_tail)(s, ss, nt, off, w, b, add, y, ys, rb, o, W);
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

#undef FC_VL
#undef FC_VLOAD
#undef FC_VSTORE
#undef FC_VZERO
#undef FC_VT
#undef FC_RFN
