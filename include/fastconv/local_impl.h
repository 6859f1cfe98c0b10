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

#undef FC_FN
