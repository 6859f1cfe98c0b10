# cython: freethreading_compatible = True
"""OpenMP drivers of the direct channel-wise kernels (include/fastconv/direct.h).

Used when every output channel reads a single input channel (C_in/groups = 1:
depthwise, channel multipliers, single-channel filtering).  Work is split in
blocks of output rows along the outermost axis (``plan.rows`` axis-0 outputs
per block), a partition fixed by the shape so results do not depend on the
thread count.  grad_input runs even blocks, then odd ones, so that no two
threads ever add into the same input row; grad_weight sums per bucket and
reduces the buckets in order, as the GEMM engine does.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t
from libc.string cimport memset

from fastconv._ext._blas cimport floating
from fastconv._ext._plan cimport Dims, fc_geom, make_dims, make_geom
from fastconv._ext._runtime cimport fc_fp_enter, fc_fp_exit


cdef extern from "fastconv/direct.h" nogil:
    void fc_direct_fwd_f32(const fc_geom *g, const float *x, const float *w, float bias,
                           int64_t r0, int64_t r1, float *y)
    void fc_direct_fwd_f64(const fc_geom *g, const double *x, const double *w, double bias,
                           int64_t r0, int64_t r1, double *y)
    void fc_direct_grad_input_f32(const fc_geom *g, const float *y, const float *w,
                                  int64_t r0, int64_t r1, float *x)
    void fc_direct_grad_input_f64(const fc_geom *g, const double *y, const double *w,
                                  int64_t r0, int64_t r1, double *x)
    void fc_direct_grad_weight_f32(const fc_geom *g, const float *x, const float *y,
                                   int64_t r0, int64_t r1, float *acc)
    void fc_direct_grad_weight_f64(const fc_geom *g, const double *x, const double *y,
                                   int64_t r0, int64_t r1, double *acc)


include "_isa.pxi"


cdef inline void fwd_rows(const fc_geom *g, const floating *x, const floating *w,
                          floating bias, int64_t r0, int64_t r1, floating *y) noexcept nogil:
    if floating is float:
        fc_direct_fwd_f32(g, x, w, bias, r0, r1, y)
    else:
        fc_direct_fwd_f64(g, x, w, bias, r0, r1, y)


cdef inline void grad_input_rows(const fc_geom *g, const floating *y, const floating *w,
                                 int64_t r0, int64_t r1, floating *x) noexcept nogil:
    if floating is float:
        fc_direct_grad_input_f32(g, y, w, r0, r1, x)
    else:
        fc_direct_grad_input_f64(g, y, w, r0, r1, x)


cdef inline void grad_weight_rows(const fc_geom *g, const floating *x, const floating *y,
                                  int64_t r0, int64_t r1, floating *acc) noexcept nogil:
    if floating is float:
        fc_direct_grad_weight_f32(g, x, y, r0, r1, acc)
    else:
        fc_direct_grad_weight_f64(g, x, y, r0, r1, acc)


cdef struct Blocks:
    int64_t rows       # output rows of a plane (all axes but the last)
    int64_t per_block  # rows in one block
    int64_t count      # blocks per plane


cdef Blocks make_blocks(plan, const fc_geom *g) except *:
    cdef Blocks b
    cdef int64_t inner_rows = 1
    cdef int j
    b.rows = g.out_size // g.out[g.ndim - 1]
    if g.ndim == 1:
        b.per_block = 1
    else:
        for j in range(1, g.ndim - 1):
            inner_rows *= g.out[j]
        b.per_block = plan.rows * inner_rows
    b.count = (b.rows + b.per_block - 1) // b.per_block
    return b


def forward(plan, const floating[::1] x, const floating[::1] w,
            const floating[::1] bias, floating[::1] y):
    cdef fc_geom g = make_geom(plan)
    cdef Dims d = make_dims(plan, &g)
    cdef Blocks bl = make_blocks(plan, &g)
    cdef int nthreads = plan.threads
    cdef int64_t items = d.N * d.Cout * bl.count
    cdef int64_t W = g.out[g.ndim - 1]
    cdef bint has_bias = bias.shape[0] > 0
    cdef const floating *xp = &x[0]
    cdef const floating *wp = &w[0]
    cdef const floating *bp = &bias[0] if has_bias else NULL
    cdef floating *yp = &y[0]
    cdef int64_t it, n, o, blk, r0, r1
    cdef floating b
    cdef unsigned int fpsaved
    with nogil, parallel(num_threads=nthreads):
        fpsaved = fc_fp_enter()
        for it in prange(items, schedule="dynamic"):
            n = it // (d.Cout * bl.count)
            o = (it // bl.count) % d.Cout
            blk = it % bl.count
            r0 = blk * bl.per_block
            r1 = r0 + bl.per_block if r0 + bl.per_block < bl.rows else bl.rows
            b = bp[o] if has_bias else 0
            fwd_rows(&g, xp + (n * d.C + o // d.Cog) * d.S, wp + o * g.k_size, b, r0, r1,
                     yp + (n * d.Cout + o) * d.P)
        fc_fp_exit(fpsaved)


def grad_input(plan, const floating[::1] gy, const floating[::1] w, floating[::1] gx):
    """gx must arrive zeroed."""
    cdef fc_geom g = make_geom(plan)
    cdef Dims d = make_dims(plan, &g)
    cdef Blocks bl = make_blocks(plan, &g)
    cdef int nthreads = plan.threads
    cdef const floating *gyp = &gy[0]
    cdef const floating *wp = &w[0]
    cdef floating *gxp = &gx[0]
    cdef int64_t it, n, c, o, blk, r0, r1, items, per_color
    cdef int color
    cdef unsigned int fpsaved
    for color in range(2):
        per_color = (bl.count - color + 1) // 2
        items = d.N * d.C * per_color
        if items <= 0:
            continue
        with nogil, parallel(num_threads=nthreads):
            fpsaved = fc_fp_enter()
            for it in prange(items, schedule="dynamic"):
                n = it // (d.C * per_color)
                c = (it // per_color) % d.C
                blk = 2 * (it % per_color) + color
                r0 = blk * bl.per_block
                r1 = r0 + bl.per_block if r0 + bl.per_block < bl.rows else bl.rows
                for o in range(c * d.Cog, (c + 1) * d.Cog):
                    grad_input_rows(&g, gyp + (n * d.Cout + o) * d.P, wp + o * g.k_size,
                                    r0, r1, gxp + (n * d.C + c) * d.S)
            fc_fp_exit(fpsaved)


def grad_weight(plan, const floating[::1] x, const floating[::1] gy,
                floating[::1] gw, floating[::1] partial):
    """partial holds plan.buckets slices of gw.size (it may be gw itself when 1)."""
    cdef fc_geom g = make_geom(plan)
    cdef Dims d = make_dims(plan, &g)
    cdef Blocks bl = make_blocks(plan, &g)
    cdef int nthreads = plan.threads
    cdef int64_t B = plan.buckets
    cdef int64_t K = g.k_size
    cdef int64_t wsize = d.Cout * K
    cdef int64_t nchunks = d.N * bl.count
    cdef const floating *xp = &x[0]
    cdef const floating *gyp = &gy[0]
    cdef floating *pp = &partial[0]
    cdef floating *gwp = &gw[0]
    cdef int64_t it, o, b, ch, n, blk, r0, r1, i
    cdef floating *acc
    cdef floating s
    cdef unsigned int fpsaved
    with nogil, parallel(num_threads=nthreads):
        fpsaved = fc_fp_enter()
        for it in prange(d.Cout * B, schedule="dynamic"):
            o = it // B
            b = it % B
            acc = pp + b * wsize + o * K
            memset(acc, 0, K * sizeof(floating))
            for ch in range(b * nchunks // B, (b + 1) * nchunks // B):
                n = ch // bl.count
                blk = ch % bl.count
                r0 = blk * bl.per_block
                r1 = r0 + bl.per_block if r0 + bl.per_block < bl.rows else bl.rows
                grad_weight_rows(&g, xp + (n * d.C + o // d.Cog) * d.S,
                                 gyp + (n * d.Cout + o) * d.P, r0, r1, acc)
        fc_fp_exit(fpsaved)
    if B == 1:
        return
    with nogil:
        for i in prange(wsize, num_threads=nthreads, schedule="static"):
            s = pp[i]
            for b in range(1, B):
                s = s + pp[b * wsize + i]
            gwp[i] = s
