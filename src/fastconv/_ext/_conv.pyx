# cython: freethreading_compatible = True
"""OpenMP drivers of the im2col + GEMM engine: the three faces of one map.

All arrays are flat, C-contiguous, channels-first and already in the compute
dtype; the Python layer (``fastconv._engine``) validated them, chose the tile
sizes and allocated every workspace.  Each driver releases the GIL and runs
one level of OpenMP parallelism; BLAS is kept single-threaded by the caller.

Work partitions depend on the problem shape only, never on the number of
threads, so every face gives bitwise the same result whatever ``workers`` is.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t, uintptr_t
from libc.string cimport memcpy, memset

from fastconv._ext._blas cimport floating, gemm
from fastconv._ext._pack cimport add_bias, col2im, im2col
from fastconv._ext._plan cimport Dims, fc_geom, make_dims, make_geom

from fastconv._ext._runtime cimport (
    FC_MAX_BLAS, fc_register_blas_local, fc_thread_enter, fc_thread_exit, fc_thread_num, fc_tstate,
)


def register_blas_threads_local(addresses):
    """Addresses of ``int f(int)`` setting a BLAS's thread count for the calling
    thread (e.g. ``openblas_set_num_threads_local``); see runtime.h."""
    cdef int i
    for i, address in enumerate(list(addresses)[:FC_MAX_BLAS]):
        fc_register_blas_local(i, <void *><uintptr_t>address)


cdef inline void copy_block(const floating *src, int64_t lds, floating *dst, int64_t ldd,
                            int64_t rows, int64_t n) noexcept nogil:
    """rows x n values from src (rows lds apart) to dst (ldd apart): stages a GEMM
    operand of a plane too long for a BLAS leading dimension, and back."""
    cdef int64_t r
    for r in range(rows):
        memcpy(dst + r * ldd, src + r * lds, n * sizeof(floating))


def forward(plan, const floating[::1] x, const floating[::1] w,
            const floating[::1] bias, floating[::1] y, floating[::1] work):
    """y[n, g] = W[g] @ im2col(x[n, g]), tiled over output positions."""
    cdef fc_geom g = make_geom(plan)
    cdef Dims d = make_dims(plan, &g)
    cdef int nthreads = plan.threads
    cdef int64_t ntiles = (d.P + d.tile - 1) // d.tile
    cdef int64_t items = d.N * d.G * ntiles
    cdef int64_t wstride = d.CK * d.tile + (d.Cog * d.tile if d.wide else 0)
    cdef floating *work_ptr = &work[0] if work.shape[0] > 0 else NULL
    cdef const floating *bias_ptr = &bias[0] if bias.shape[0] > 0 else NULL
    cdef const floating *xp = &x[0]
    cdef const floating *wp = &w[0]
    cdef floating *yp = &y[0]
    cdef int64_t it, n, gi, ti, p0, p1
    cdef const floating *xg
    cdef floating *yg
    cdef floating *col
    cdef floating *stage
    cdef fc_tstate tstate
    with nogil, parallel(num_threads=nthreads):
        tstate = fc_thread_enter()
        col = work_ptr + fc_thread_num() * wstride if work_ptr != NULL else NULL
        for it in prange(items, schedule="dynamic"):
            n = it // (d.G * ntiles)
            gi = (it // ntiles) % d.G
            ti = it % ntiles
            p0 = ti * d.tile
            p1 = p0 + d.tile if p0 + d.tile < d.P else d.P
            xg = xp + (n * d.C + gi * d.Cg) * d.S
            yg = yp + (n * d.Cout + gi * d.Cog) * d.P
            if d.pointwise:
                gemm(c'N', c'N', <int>(p1 - p0), <int>d.Cog, <int>d.Cg, 1,
                     xg + p0, <int>d.P, wp + gi * d.Cog * d.Cg, <int>d.Cg, 0,
                     yg + p0, <int>d.P)
            elif d.wide:
                im2col(&g, xg, d.Cg, p0, p1, col)
                stage = col + d.CK * d.tile
                gemm(c'N', c'N', <int>(p1 - p0), <int>d.Cog, <int>d.CK, 1,
                     col, <int>(p1 - p0), wp + gi * d.Cog * d.CK, <int>d.CK, 0,
                     stage, <int>(p1 - p0))
                copy_block(stage, p1 - p0, yg + p0, d.P, d.Cog, p1 - p0)
            else:
                im2col(&g, xg, d.Cg, p0, p1, col)
                gemm(c'N', c'N', <int>(p1 - p0), <int>d.Cog, <int>d.CK, 1,
                     col, <int>(p1 - p0), wp + gi * d.Cog * d.CK, <int>d.CK, 0,
                     yg + p0, <int>d.P)
            if bias_ptr != NULL:
                add_bias(yg + p0, bias_ptr + gi * d.Cog, d.Cog, p1 - p0, d.P)
        fc_thread_exit(tstate)


def grad_input(plan, const floating[::1] gy, const floating[::1] w,
               floating[::1] gx, floating[::1] work):
    """gx[n, g] = col2im(W[g]^T @ gy[n, g]); gx must arrive zeroed.

    Race-free col2im: the outermost output axis is cut into row blocks tall
    enough (``plan.rows``) that blocks two apart never touch the same input
    row; even blocks run in parallel, then odd ones.  Every input element thus
    receives its contributions in one fixed order.
    """
    cdef fc_geom g = make_geom(plan)
    cdef Dims d = make_dims(plan, &g)
    cdef int nthreads = plan.threads
    cdef int64_t wstride = d.CK * d.tile + (d.Cog * d.tile if d.wide else 0)
    cdef floating *work_ptr = &work[0] if work.shape[0] > 0 else NULL
    cdef const floating *gyp = &gy[0]
    cdef const floating *wp = &w[0]
    cdef floating *gxp = &gx[0]
    cdef floating *stage
    cdef int64_t ntiles = (d.P + d.tile - 1) // d.tile
    cdef int64_t rows = plan.rows
    cdef int64_t inner = d.P // g.out[0]
    cdef int64_t nblocks = (g.out[0] + rows - 1) // rows
    cdef int64_t it, n, gi, ti, p0, p1, q0, q1, blk, items
    cdef int color
    cdef const floating *gyg
    cdef floating *gxg
    cdef floating *col
    cdef fc_tstate tstate

    if d.pointwise:
        items = d.N * d.G * ntiles
        with nogil, parallel(num_threads=nthreads):
            tstate = fc_thread_enter()
            for it in prange(items, schedule="dynamic"):
                n = it // (d.G * ntiles)
                gi = (it // ntiles) % d.G
                ti = it % ntiles
                p0 = ti * d.tile
                p1 = p0 + d.tile if p0 + d.tile < d.P else d.P
                gemm(c'N', c'T', <int>(p1 - p0), <int>d.Cg, <int>d.Cog, 1,
                     gyp + (n * d.Cout + gi * d.Cog) * d.P + p0, <int>d.P,
                     wp + gi * d.Cog * d.Cg, <int>d.Cg, 0,
                     gxp + (n * d.C + gi * d.Cg) * d.S + p0, <int>d.P)
            fc_thread_exit(tstate)
        return

    for color in range(2):
        items = d.N * d.G * ((nblocks - color + 1) // 2)
        if items <= 0:
            continue
        with nogil, parallel(num_threads=nthreads):
            tstate = fc_thread_enter()
            col = work_ptr + fc_thread_num() * wstride
            for it in prange(items, schedule="dynamic"):
                n = it // (d.G * ((nblocks - color + 1) // 2))
                gi = (it // ((nblocks - color + 1) // 2)) % d.G
                blk = 2 * (it % ((nblocks - color + 1) // 2)) + color
                p0 = blk * rows * inner
                p1 = (blk + 1) * rows * inner
                if p1 > d.P:
                    p1 = d.P
                gyg = gyp + (n * d.Cout + gi * d.Cog) * d.P
                gxg = gxp + (n * d.C + gi * d.Cg) * d.S
                q0 = p0
                while q0 < p1:
                    q1 = q0 + d.tile if q0 + d.tile < p1 else p1
                    if d.wide:
                        stage = col + d.CK * d.tile
                        copy_block(gyg + q0, d.P, stage, q1 - q0, d.Cog, q1 - q0)
                        gemm(c'N', c'T', <int>(q1 - q0), <int>d.CK, <int>d.Cog, 1,
                             stage, <int>(q1 - q0), wp + gi * d.Cog * d.CK, <int>d.CK, 0,
                             col, <int>(q1 - q0))
                    else:
                        gemm(c'N', c'T', <int>(q1 - q0), <int>d.CK, <int>d.Cog, 1,
                             gyg + q0, <int>d.P, wp + gi * d.Cog * d.CK, <int>d.CK, 0,
                             col, <int>(q1 - q0))
                    col2im(&g, col, d.Cg, q0, q1, gxg)
                    q0 = q1
            fc_thread_exit(tstate)


def grad_weight(plan, const floating[::1] x, const floating[::1] gy,
                floating[::1] gw, floating[::1] partial, floating[::1] work):
    """gw[g] = sum_n gy[n, g] @ im2col(x[n, g])^T, reduced in a fixed order.

    The (sample, tile) chunks are split into ``plan.buckets`` contiguous runs
    (a number fixed by the shape, not by the thread count); each run sums
    into its own slice of ``partial`` in chunk order, then the slices are
    added in bucket order.  With one bucket ``partial`` is ``gw`` itself.
    Each (group, bucket) is also split into ``plan.dw_splits`` ranges of
    input channels, whose rows of the gradient are separate GEMMs.
    """
    cdef fc_geom g = make_geom(plan)
    cdef Dims d = make_dims(plan, &g)
    cdef int nthreads = plan.threads
    cdef int64_t B = plan.buckets
    cdef int64_t wsize = d.G * d.Cog * d.CK
    cdef int64_t wstride = d.CK * d.tile + (d.Cog * d.tile if d.wide else 0)
    cdef floating *work_ptr = &work[0] if work.shape[0] > 0 else NULL
    cdef floating *stage
    cdef const floating *xp = &x[0]
    cdef const floating *gyp = &gy[0]
    cdef floating *pp = &partial[0]
    cdef floating *gwp = &gw[0]
    cdef int64_t ntiles = (d.P + d.tile - 1) // d.tile
    cdef int64_t nchunks = d.N * ntiles
    cdef int64_t SP = plan.dw_splits
    cdef int64_t items = d.G * B * SP
    cdef int64_t K = d.CK // d.Cg if d.Cg > 0 else 0
    cdef int64_t it, gi, b, sp, ch, c0, c1, ci0, ci1, m, n, ti, p0, p1, i, j, lo, hi, o
    cdef floating beta
    cdef floating *acc
    cdef floating *col
    cdef const floating *xg
    cdef const floating *gyg
    cdef fc_tstate tstate
    cdef int64_t red_block = 4096
    cdef floating s

    with nogil, parallel(num_threads=nthreads):
        tstate = fc_thread_enter()
        col = work_ptr + fc_thread_num() * wstride if work_ptr != NULL else NULL
        for it in prange(items, schedule="dynamic"):
            sp = it % SP
            b = (it // SP) % B
            gi = it // (SP * B)
            c0 = b * nchunks // B
            c1 = (b + 1) * nchunks // B
            ci0 = sp * d.Cg // SP
            ci1 = (sp + 1) * d.Cg // SP
            m = (ci1 - ci0) * K
            # rows ci0 * K .. ci1 * K of each output channel's column
            acc = pp + b * wsize + gi * d.Cog * d.CK + ci0 * K
            beta = 0
            if c0 == c1:
                for o in range(d.Cog):
                    memset(acc + o * d.CK, 0, m * sizeof(floating))
            for ch in range(c0, c1):
                n = ch // ntiles
                ti = ch % ntiles
                p0 = ti * d.tile
                p1 = p0 + d.tile if p0 + d.tile < d.P else d.P
                xg = xp + (n * d.C + gi * d.Cg + ci0) * d.S
                gyg = gyp + (n * d.Cout + gi * d.Cog) * d.P
                if m == 0:
                    pass
                elif d.pointwise:
                    gemm(c'T', c'N', <int>m, <int>d.Cog, <int>(p1 - p0), 1,
                         xg + p0, <int>d.P, gyg + p0, <int>d.P, beta, acc, <int>d.CK)
                elif d.wide:
                    im2col(&g, xg, ci1 - ci0, p0, p1, col)
                    stage = col + d.CK * d.tile
                    copy_block(gyg + p0, d.P, stage, p1 - p0, d.Cog, p1 - p0)
                    gemm(c'T', c'N', <int>m, <int>d.Cog, <int>(p1 - p0), 1,
                         col, <int>(p1 - p0), stage, <int>(p1 - p0), beta, acc, <int>d.CK)
                else:
                    im2col(&g, xg, ci1 - ci0, p0, p1, col)
                    gemm(c'T', c'N', <int>m, <int>d.Cog, <int>(p1 - p0), 1,
                         col, <int>(p1 - p0), gyg + p0, <int>d.P, beta, acc, <int>d.CK)
                beta = 1
        fc_thread_exit(tstate)

    if B == 1:
        return
    with nogil:
        for j in prange((wsize + red_block - 1) // red_block, num_threads=nthreads,
                        schedule="static"):
            lo = j * red_block
            hi = lo + red_block if lo + red_block < wsize else wsize
            for i in range(lo, hi):
                s = pp[i]
                for b in range(1, B):
                    s = s + pp[b * wsize + i]
                gwp[i] = s


def copy_rows(const floating[::1] src, floating[::1] dst, const int64_t[::1] lead,
              const int64_t[::1] lead_padded, const int64_t[::1] lows, int64_t length,
              int64_t low_last, int nthreads):
    """The interior copy of a zero padding (``pad_or_crop``) on nthreads threads.

    ``src`` holds rows of ``length`` elements indexed by ``lead`` (the planes,
    then the spatial axes but the last); row i goes to ``dst`` at the same
    index shifted by ``lows`` in a grid of ``lead_padded`` rows of
    ``length + low_last + high`` elements, ``low_last`` into its row."""
    cdef int nd = lead.shape[0]
    cdef int64_t r, rem, off, stride, row_padded, R = 1
    cdef int j
    for j in range(nd):
        R *= lead[j]
    if lead_padded.shape[0] != nd or lows.shape[0] != nd or R * length > src.shape[0]:
        raise ValueError("copy_rows: inconsistent shapes")
    if R == 0 or length == 0:
        return
    row_padded = dst.shape[0]
    for j in range(nd):
        row_padded //= lead_padded[j]
    with nogil:
        for r in prange(R, num_threads=nthreads, schedule="static"):
            rem = r
            off = low_last
            stride = row_padded
            for j in range(nd - 1, -1, -1):
                off = off + (rem % lead[j] + lows[j]) * stride
                rem = rem // lead[j]
                stride = stride * lead_padded[j]
            memcpy(&dst[off], &src[r * length], length * sizeof(floating))
