/* fastconv/geom.h -- the C view of a ConvGeometry (channels-first).
 *
 * The Python ConvGeometry fills this once per call; the kernels only read it.
 * Sizes are those the engine sees: `in` is the input after any explicit
 * (non-zero mode) padding, `pad` the implicit zero padding on the low side.
 */
#ifndef FASTCONV_GEOM_H
#define FASTCONV_GEOM_H

#include <stdint.h>
#include <string.h>

#define FC_MAXD 16

/* MSVC's C front end knows C99 `restrict` only as `__restrict`. */
#if defined(_MSC_VER) && !defined(__cplusplus) && !defined(restrict)
#define restrict __restrict
#endif

/* Template helpers: FC_CAT(name, f32) -> name_f32. */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)

typedef struct {
    int ndim;
    int64_t in[FC_MAXD];
    int64_t out[FC_MAXD];
    int64_t k[FC_MAXD];
    int64_t stride[FC_MAXD];
    int64_t dil[FC_MAXD];
    int64_t pad[FC_MAXD];
    int64_t in_size;   /* prod(in)  */
    int64_t out_size;  /* prod(out) */
    int64_t k_size;    /* prod(k)   */
} fc_geom;

static inline void fc_geom_finish(fc_geom *g)
{
    g->in_size = g->out_size = g->k_size = 1;
    for (int j = 0; j < g->ndim; ++j) {
        g->in_size *= g->in[j];
        g->out_size *= g->out[j];
        g->k_size *= g->k[j];
    }
}

/* Multi-index of flat position p in a row-major box of `ndim` sizes. */
static inline void fc_unravel(int64_t p, int ndim, const int64_t *sizes, int64_t *idx)
{
    for (int j = ndim - 1; j >= 0; --j) {
        idx[j] = p % sizes[j];
        p /= sizes[j];
    }
}

/* Output positions o in [a, b) of one axis whose input index o*s + off lies in [0, n). */
static inline void fc_valid_range(int64_t a, int64_t b, int64_t s, int64_t off, int64_t n,
                                  int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = (n - 1 - off) < 0 ? 0 : (n - 1 - off) / s + 1;
    *lo = l < a ? a : (l > b ? b : l);
    *hi = h > b ? b : (h < *lo ? *lo : h);
}

#endif
