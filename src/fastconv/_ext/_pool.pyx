# cython: freethreading_compatible = True
"""OpenMP drivers of the pooling kernels (include/fastconv/pool.h).

Arrays are flat, C-contiguous planes in the compute dtype: ``planes`` images
of the plan's geometry, ``plan.vector`` values per position (channels-first:
one plane per (sample, channel), 1 value; channels-last: one plane per
sample, C values).  Each plane is cut into blocks of ``plan.block_rows``
output rows (all axes but the last); the partition depends on the shape only,
so results are bitwise the same whatever the thread count.  The gradients run
even blocks, then odd ones: blocks two apart never touch the same input row.

The caller's floating-point state is left alone: pooling does no multiply
that denormals would slow down, and flushing them would change max and its
arg-max.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t
from libc.string cimport memset

from fastconv._ext._blas cimport floating
from fastconv._ext._plan cimport fc_geom, make_geom
from fastconv._ext._runtime cimport fc_thread_num


cdef extern from "fastconv/pool.h" nogil:
    void fc_max_pool_rows_f32(const fc_geom *g, int64_t V, const float *x, int64_t r0,
                              int64_t r1, float *y, int64_t *idx)
    void fc_max_pool_rows_f64(const fc_geom *g, int64_t V, const double *x, int64_t r0,
                              int64_t r1, double *y, int64_t *idx)
    void fc_avg_pool_rows_f32(const fc_geom *g, int64_t V, const float *x, const float *counts,
                              int64_t r0, int64_t r1, float *y)
    void fc_avg_pool_rows_f64(const fc_geom *g, int64_t V, const double *x,
                              const double *counts, int64_t r0, int64_t r1, double *y)
    void fc_max_pool_grad_rows_f32(const fc_geom *g, int64_t V, const float *x, const float *gy,
                                   int64_t r0, int64_t r1, float *ybuf, int64_t *ibuf,
                                   float *gx, int64_t z0, int64_t z1)
    void fc_max_pool_grad_rows_f64(const fc_geom *g, int64_t V, const double *x,
                                   const double *gy, int64_t r0, int64_t r1, double *ybuf,
                                   int64_t *ibuf, double *gx, int64_t z0, int64_t z1)
    int64_t fc_max_pool_scatter_f32(const float *gy, const int64_t *idx, int64_t n, int64_t V,
                                    int64_t size, float *gx)
    int64_t fc_max_pool_scatter_f64(const double *gy, const int64_t *idx, int64_t n, int64_t V,
                                    int64_t size, double *gx)
    void fc_avg_pool_grad_rows_f32(const fc_geom *g, int64_t V, const float *gy,
                                   const float *counts, int64_t r0, int64_t r1, float *scaled,
                                   float *gx, int64_t z0, int64_t z1)
    void fc_avg_pool_grad_rows_f64(const fc_geom *g, int64_t V, const double *gy,
                                   const double *counts, int64_t r0, int64_t r1,
                                   double *scaled, double *gx, int64_t z0, int64_t z1)
    ctypedef struct fc_span:
        int64_t z0, z1
    fc_span fc_pool_block_zeros(const fc_geom *g, int64_t per, int64_t rows, int64_t b,
                                int64_t nb)


cdef inline void max_rows(const fc_geom *g, int64_t V, const floating *x, int64_t r0,
                          int64_t r1, floating *y, int64_t *idx) noexcept nogil:
    if floating is float:
        fc_max_pool_rows_f32(g, V, x, r0, r1, y, idx)
    else:
        fc_max_pool_rows_f64(g, V, x, r0, r1, y, idx)


cdef inline void avg_rows(const fc_geom *g, int64_t V, const floating *x,
                          const floating *counts, int64_t r0, int64_t r1,
                          floating *y) noexcept nogil:
    if floating is float:
        fc_avg_pool_rows_f32(g, V, x, counts, r0, r1, y)
    else:
        fc_avg_pool_rows_f64(g, V, x, counts, r0, r1, y)


cdef inline void max_grad_rows(const fc_geom *g, int64_t V, const floating *x,
                               const floating *gy, int64_t r0, int64_t r1, floating *ybuf,
                               int64_t *ibuf, floating *gx, int64_t z0,
                               int64_t z1) noexcept nogil:
    if floating is float:
        fc_max_pool_grad_rows_f32(g, V, x, gy, r0, r1, ybuf, ibuf, gx, z0, z1)
    else:
        fc_max_pool_grad_rows_f64(g, V, x, gy, r0, r1, ybuf, ibuf, gx, z0, z1)


cdef inline int64_t scatter(const floating *gy, const int64_t *idx, int64_t n, int64_t V,
                           int64_t size, floating *gx) noexcept nogil:
    if floating is float:
        return fc_max_pool_scatter_f32(gy, idx, n, V, size, gx)
    else:
        return fc_max_pool_scatter_f64(gy, idx, n, V, size, gx)


cdef inline void avg_grad_rows(const fc_geom *g, int64_t V, const floating *gy,
                               const floating *counts, int64_t r0, int64_t r1,
                               floating *scaled, floating *gx, int64_t z0,
                               int64_t z1) noexcept nogil:
    if floating is float:
        fc_avg_pool_grad_rows_f32(g, V, gy, counts, r0, r1, scaled, gx, z0, z1)
    else:
        fc_avg_pool_grad_rows_f64(g, V, gy, counts, r0, r1, scaled, gx, z0, z1)


cdef struct Blocks:
    int64_t planes, rows, per_block, count
    int64_t V        # values per position
    int64_t S, P, W  # elements of an input plane, an output plane, an output row


cdef Blocks make_blocks(plan, const fc_geom *g) except *:
    cdef Blocks b
    b.planes = plan.planes
    b.V = plan.vector
    b.rows = g.out_size // g.out[g.ndim - 1] if g.out[g.ndim - 1] else 0
    b.per_block = plan.block_rows
    b.count = (b.rows + b.per_block - 1) // b.per_block
    b.S = g.in_size * b.V
    b.P = g.out_size * b.V
    b.W = g.out[g.ndim - 1] * b.V
    return b


include "_isa.pxi"


def forward(plan, bint is_max, const floating[::1] x, const floating[::1] counts,
            floating[::1] y, int64_t[::1] idx):
    """Max pooling (``is_max``; idx, unless empty, receives the flat plane index
    of each maximum) or average pooling (window sizes per axis in ``counts``)."""
    cdef fc_geom g = make_geom(plan)
    cdef Blocks bl = make_blocks(plan, &g)
    cdef int nthreads = plan.threads
    cdef const floating *xp = &x[0]
    cdef const floating *cp = &counts[0] if counts.shape[0] > 0 else NULL
    cdef floating *yp = &y[0]
    cdef int64_t *ip = &idx[0] if idx.shape[0] > 0 else NULL
    cdef int64_t it, plane, r0, r1
    with nogil:
        for it in prange(bl.planes * bl.count, num_threads=nthreads, schedule="dynamic"):
            plane = it // bl.count
            r0 = (it % bl.count) * bl.per_block
            r1 = r0 + bl.per_block if r0 + bl.per_block < bl.rows else bl.rows
            if is_max:
                max_rows(&g, bl.V, xp + plane * bl.S, r0, r1, yp + plane * bl.P + r0 * bl.W,
                         ip + plane * bl.P + r0 * bl.W if ip != NULL else NULL)
            else:
                avg_rows(&g, bl.V, xp + plane * bl.S, cp, r0, r1, yp + plane * bl.P + r0 * bl.W)


def grad(plan, bint is_max, const floating[::1] x, const floating[::1] gy,
         const floating[::1] counts, floating[::1] gx, floating[::1] buf, int64_t[::1] ibuf):
    """gx = gy routed to each window's arg-max of x (``is_max``), or divided by
    the window sizes in ``counts`` and spread over the windows (each block
    zeroes its part of gx first: fc_pool_block_zeros).  buf (and ibuf for
    max) hold ``block_rows * W`` elements per thread."""
    cdef fc_geom g = make_geom(plan)
    cdef Blocks bl = make_blocks(plan, &g)
    cdef int nthreads = plan.threads
    cdef int64_t scratch = bl.per_block * bl.W
    cdef const floating *xp = &x[0] if x.shape[0] > 0 else NULL
    cdef const floating *gyp = &gy[0]
    cdef const floating *cp = &counts[0] if counts.shape[0] > 0 else NULL
    cdef floating *gxp = &gx[0]
    cdef floating *bp = &buf[0]
    cdef int64_t *ib = &ibuf[0] if ibuf.shape[0] > 0 else NULL
    cdef int64_t it, plane, r0, r1, per_color, b
    cdef fc_span z          # assigned in the loop body: private to each thread
    cdef floating *bpt
    cdef int64_t *ibt
    cdef int color
    for color in range(2):
        per_color = (bl.count - color + 1) // 2
        if bl.planes * per_color <= 0:
            continue
        with nogil, parallel(num_threads=nthreads):
            bpt = bp + fc_thread_num() * scratch
            ibt = ib + fc_thread_num() * scratch if ib != NULL else NULL
            for it in prange(bl.planes * per_color, schedule="dynamic"):
                plane = it // per_color
                b = 2 * (it % per_color) + color
                r0 = b * bl.per_block
                r1 = r0 + bl.per_block if r0 + bl.per_block < bl.rows else bl.rows
                z = fc_pool_block_zeros(&g, bl.per_block, bl.rows, b, bl.count)
                if is_max:
                    max_grad_rows(&g, bl.V, xp + plane * bl.S, gyp + plane * bl.P, r0, r1, bpt, ibt,
                                  gxp + plane * bl.S, z.z0, z.z1)
                else:
                    avg_grad_rows(&g, bl.V, gyp + plane * bl.P, cp, r0, r1, bpt, gxp + plane * bl.S,
                                  z.z0, z.z1)


def max_pool_scatter(plan, const floating[::1] gy, const int64_t[::1] idx, floating[::1] gx):
    """gx = gy routed through the indices max_pool returned (each plane zeroed
    first).  Returns the number of out-of-range indices (skipped)."""
    cdef fc_geom g = make_geom(plan)
    cdef Blocks bl = make_blocks(plan, &g)
    cdef int nthreads = plan.threads
    cdef int64_t size = g.in_size
    cdef const floating *gyp = &gy[0]
    cdef const int64_t *ip = &idx[0]
    cdef floating *gxp = &gx[0]
    cdef int64_t plane, bad = 0
    with nogil:
        for plane in prange(bl.planes, num_threads=nthreads, schedule="dynamic"):
            memset(gxp + plane * bl.S, 0, bl.S * sizeof(floating))
            bad += scatter(gyp + plane * bl.P, ip + plane * bl.P, bl.P, bl.V, size,
                           gxp + plane * bl.S)
    return bad
