# cython: freethreading_compatible = True
"""OpenMP drivers of unshared (locally connected) and tiled convolution.

The output positions are cut into blocks of whole outer rows (``plan.block``
positions), each block into chunks of ``plan.tile`` positions, the batch into
runs of ``plan.nb`` samples.  A chunk is packed with fc_im2col (the conv
engine's packing), re-laid out as one row per (position, sample) grouped by
weight class (include/fastconv/local.h), and every class is one GEMM.

Partitions depend on the shape only: results are bitwise the same whatever
the thread count.  grad_input runs even blocks, then odd ones (blocks two
apart never share input rows); grad_weight writes each class from one block
when no two blocks share a class (the locally connected case), else sums per
bucket of blocks and adds the buckets in order.  Arrays are flat,
C-contiguous, channels-first, in the compute dtype; the Python layer
(``fastconv.local``) validated them and allocated every workspace.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t, uintptr_t
from libc.string cimport memset

from fastconv._ext._blas cimport floating, gemm
from fastconv._ext._pack cimport add_bias, col2im, im2col
from fastconv._ext._plan cimport fc_geom, make_geom
from fastconv._ext._runtime cimport (
    FC_MAX_BLAS, fc_register_blas_local, fc_thread_enter, fc_thread_exit, fc_thread_num, fc_tstate,
)


cdef extern from "fastconv/local.h" nogil:
    enum: FC_GATHER_PIECE
    void fc_class_order(int ndim, const int64_t *out, const int64_t *tiles, int64_t p0,
                        int64_t p1, int64_t *cls, int64_t *order)
    void fc_to_position_rows_f32(const float *grid, const int64_t *order, int64_t nb,
                                 int64_t R, int64_t ld, int64_t ncol, float *rows)
    void fc_to_position_rows_f64(const double *grid, const int64_t *order, int64_t nb,
                                 int64_t R, int64_t ld, int64_t ncol, double *rows)
    void fc_from_position_rows_f32(const float *rows, const int64_t *order, int64_t nb,
                                   int64_t R, int64_t ld, int64_t ncol, float *grid)
    void fc_from_position_rows_f64(const double *rows, const int64_t *order, int64_t nb,
                                   int64_t R, int64_t ld, int64_t ncol, double *grid)
    void fc_local_gather_f32(const float *src, int64_t xs, int64_t nb, const int64_t *runs,
                             int64_t nrun, int64_t plane, int64_t kc, int64_t channels,
                             int one_piece, float *rows, int64_t ldr)
    void fc_local_gather_f64(const double *src, int64_t xs, int64_t nb, const int64_t *runs,
                             int64_t nrun, int64_t plane, int64_t kc, int64_t channels,
                             int one_piece, double *rows, int64_t ldr)
    void fc_local_combine_f32(const float *g, const float *w, int64_t nb, int64_t K,
                              int64_t cout, float *rows, int64_t ldr)
    void fc_local_combine_f64(const double *g, const double *w, int64_t nb, int64_t K,
                              int64_t cout, double *rows, int64_t ldr)
    void fc_local_scatter_f32(const float *rows, int64_t ldr, int64_t nb, const int64_t *runs,
                              int64_t nrun, int64_t plane, int64_t kc, int64_t channels,
                              int one_piece, float *dst, int64_t xs)
    void fc_local_scatter_f64(const double *rows, int64_t ldr, int64_t nb,
                              const int64_t *runs, int64_t nrun, int64_t plane, int64_t kc,
                              int64_t channels, int one_piece, double *dst, int64_t xs)
    void fc_local_outer_f32(const float *g, const float *rows, int64_t ldr, int64_t nb,
                            int64_t K, int64_t cout, int accumulate, float *gw)
    void fc_local_outer_f64(const double *g, const double *rows, int64_t ldr, int64_t nb,
                            int64_t K, int64_t cout, int accumulate, double *gw)
    void fc_local_dots_f32(const float *w, const float *rows, int64_t ldr, int64_t nb,
                           int64_t K, int64_t cout, const float *bias, float *y, int64_t ldn,
                           int64_t ldc, int64_t ahead)
    void fc_local_dots_f64(const double *w, const double *rows, int64_t ldr, int64_t nb,
                           int64_t K, int64_t cout, const double *bias, double *y,
                           int64_t ldn, int64_t ldc, int64_t ahead)


cdef inline void to_rows(const floating *grid, const int64_t *order, int64_t nb, int64_t R,
                         int64_t ld, int64_t ncol, floating *rows) noexcept nogil:
    if floating is float:
        fc_to_position_rows_f32(grid, order, nb, R, ld, ncol, rows)
    else:
        fc_to_position_rows_f64(grid, order, nb, R, ld, ncol, rows)


cdef inline void from_rows(const floating *rows, const int64_t *order, int64_t nb, int64_t R,
                           int64_t ld, int64_t ncol, floating *grid) noexcept nogil:
    if floating is float:
        fc_from_position_rows_f32(rows, order, nb, R, ld, ncol, grid)
    else:
        fc_from_position_rows_f64(rows, order, nb, R, ld, ncol, grid)


# elements the gather of the direct kernels copies at once: the rows and the
# padded input carry that much room past their ends
GATHER_PIECE = FC_GATHER_PIECE


include "_isa.pxi"


def register_blas_threads_local(addresses):
    """As ``_conv.register_blas_threads_local``: each extension keeps its own
    copy of the setters (runtime.h state is per compilation unit)."""
    cdef int i
    for i, address in enumerate(list(addresses)[:FC_MAX_BLAS]):
        fc_register_blas_local(i, <void *><uintptr_t>address)


cdef struct LDims:
    int64_t N, C, Cout, CK, P, S, wclass   # wclass = Cout*CK, one weight class
    int64_t tile, nb, block, nblocks
    bint shared      # blocks share weight classes
    int64_t tiles[16]


cdef LDims make_ldims(plan, const fc_geom *g) except *:
    cdef LDims d
    cdef int j
    d.N = plan.batch
    d.C = plan.in_channels
    d.Cout = plan.out_channels
    d.CK = d.C * g.k_size
    d.P = g.out_size
    d.S = g.in_size
    d.wclass = d.Cout * d.CK
    d.tile = plan.tile
    d.nb = plan.nb
    d.block = plan.block
    d.nblocks = (d.P + d.block - 1) // d.block
    d.shared = plan.shared
    for j in range(g.ndim):
        d.tiles[j] = plan.tiles[j]
    return d


cdef struct Work:
    # one thread's buffers
    void *patches    # nb * CK * tile: fc_im2col output, one patch matrix per sample
    void *rows       # nb * CK * tile: the same as position rows
    void *outs       # nb * Cout * tile: output / grad_out values as position rows
    int64_t *cls
    int64_t *order


cdef inline Work thread_work(floating *fwork, int64_t *iwork, const LDims *d) noexcept nogil:
    cdef Work wk
    cdef int64_t per = 2 * d.nb * d.CK * d.tile + d.nb * d.Cout * d.tile
    cdef int t = fc_thread_num()
    cdef floating *base = fwork + t * per
    wk.patches = base
    wk.rows = base + d.nb * d.CK * d.tile
    wk.outs = base + 2 * d.nb * d.CK * d.tile
    wk.cls = iwork + t * 2 * d.tile
    wk.order = wk.cls + d.tile
    return wk


cdef inline int64_t class_run(const int64_t *cls, const int64_t *order, int64_t a,
                              int64_t ncol) noexcept nogil:
    """End of the run of slots from a that share a weight class."""
    cdef int64_t b = a + 1
    while b < ncol and cls[order[b]] == cls[order[a]]:
        b += 1
    return b


cdef enum Face:
    FORWARD, GRAD_INPUT, GRAD_WEIGHT


cdef void run_block(Face face, const fc_geom *g, const LDims *d, const floating *x,
                    const floating *w, const floating *gy, const floating *bias, floating *out,
                    int64_t p0, int64_t p1, Work wk) noexcept nogil:
    """One face on the output positions [p0, p1), chunk by chunk, batch run by run.

    FORWARD:     out = y;  rows = patches of x,  outs = W_class @ rows (+ bias)
    GRAD_INPUT:  out = gx; outs = gy,            rows = outs @ W_class, col2im'd
    GRAD_WEIGHT: out = gw; rows = patches of x,  outs = gy, gw_class += outs^T @ rows
    """
    cdef floating *pat = <floating *>wk.patches
    cdef floating *rows = <floating *>wk.rows
    cdef floating *outs = <floating *>wk.outs
    cdef const floating *wc
    cdef int64_t q0, q1, ncol, n0, nb, n, a, b, m
    q0 = p0
    while q0 < p1:
        q1 = q0 + d.tile if q0 + d.tile < p1 else p1
        ncol = q1 - q0
        fc_class_order(g.ndim, g.out, d.tiles, q0, q1, wk.cls, wk.order)
        n0 = 0
        while n0 < d.N:
            nb = d.nb if n0 + d.nb < d.N else d.N - n0
            if face != GRAD_INPUT:
                for n in range(nb):
                    im2col(g, x + (n0 + n) * d.C * d.S, d.C, q0, q1, pat + n * d.CK * ncol)
                to_rows(pat, wk.order, nb, d.CK, ncol, ncol, rows)
            if face != FORWARD:
                to_rows(gy + n0 * d.Cout * d.P + q0, wk.order, nb, d.Cout, d.P, ncol, outs)
            a = 0
            while a < ncol:  # one GEMM per run of slots sharing a weight class
                b = class_run(wk.cls, wk.order, a, ncol)
                m = (b - a) * nb
                wc = w + wk.cls[wk.order[a]] * d.wclass
                if face == FORWARD:
                    gemm(c'T', c'N', <int>d.Cout, <int>m, <int>d.CK, 1, wc, <int>d.CK,
                         rows + a * nb * d.CK, <int>d.CK, 0, outs + a * nb * d.Cout,
                         <int>d.Cout)
                elif face == GRAD_INPUT:
                    gemm(c'N', c'N', <int>d.CK, <int>m, <int>d.Cout, 1, wc, <int>d.CK,
                         outs + a * nb * d.Cout, <int>d.Cout, 0, rows + a * nb * d.CK,
                         <int>d.CK)
                else:  # a class of its own block is overwritten by its first batch run
                    gemm(c'N', c'T', <int>d.CK, <int>d.Cout, <int>m, 1, rows + a * nb * d.CK,
                         <int>d.CK, outs + a * nb * d.Cout, <int>d.Cout,
                         0 if n0 == 0 and not d.shared else 1,
                         out + wk.cls[wk.order[a]] * d.wclass, <int>d.CK)
                a = b
            if face == FORWARD:
                from_rows(outs, wk.order, nb, d.Cout, d.P, ncol, out + n0 * d.Cout * d.P + q0)
                if bias != NULL:
                    for n in range(nb):
                        add_bias(out + (n0 + n) * d.Cout * d.P + q0, bias, d.Cout, ncol, d.P)
            elif face == GRAD_INPUT:
                from_rows(rows, wk.order, nb, d.CK, ncol, ncol, pat)
                for n in range(nb):
                    col2im(g, pat + n * d.CK * ncol, d.C, q0, q1, out + (n0 + n) * d.C * d.S)
            n0 += nb
        q0 = q1


def forward(plan, const floating[::1] x, const floating[::1] w, const floating[::1] bias,
            floating[::1] y, floating[::1] fwork, int64_t[::1] iwork):
    """y = tiled_conv(x, w) + bias (tied bias, or empty for none)."""
    cdef fc_geom g = make_geom(plan)
    cdef LDims d = make_ldims(plan, &g)
    cdef int nthreads = plan.threads
    cdef const floating *xp = &x[0]
    cdef const floating *wp = &w[0]
    cdef const floating *bp = &bias[0] if bias.shape[0] > 0 else NULL
    cdef floating *yp = &y[0]
    cdef floating *fw = &fwork[0]
    cdef int64_t *iw = &iwork[0]
    cdef int64_t blk, p0, p1
    cdef Work wk
    cdef fc_tstate tstate
    with nogil, parallel(num_threads=nthreads):
        tstate = fc_thread_enter()
        wk = thread_work(fw, iw, &d)
        for blk in prange(d.nblocks, schedule="dynamic"):
            p0 = blk * d.block
            p1 = p0 + d.block if p0 + d.block < d.P else d.P
            run_block(FORWARD, &g, &d, xp, wp, NULL, bp, yp, p0, p1, wk)
        fc_thread_exit(tstate)


def grad_input(plan, const floating[::1] gy, const floating[::1] w, floating[::1] gx,
               floating[::1] fwork, int64_t[::1] iwork):
    """gx += the adjoint of tiled_conv applied to gy; gx must arrive zeroed."""
    cdef fc_geom g = make_geom(plan)
    cdef LDims d = make_ldims(plan, &g)
    cdef int nthreads = plan.threads
    cdef const floating *gyp = &gy[0]
    cdef const floating *wp = &w[0]
    cdef floating *gxp = &gx[0]
    cdef floating *fw = &fwork[0]
    cdef int64_t *iw = &iwork[0]
    cdef int64_t it, blk, p0, p1, per_color
    cdef int color
    cdef Work wk
    cdef fc_tstate tstate
    for color in range(2):
        per_color = (d.nblocks - color + 1) // 2
        if per_color <= 0:
            continue
        with nogil, parallel(num_threads=nthreads):
            tstate = fc_thread_enter()
            wk = thread_work(fw, iw, &d)
            for it in prange(per_color, schedule="dynamic"):
                blk = 2 * it + color
                p0 = blk * d.block
                p1 = p0 + d.block if p0 + d.block < d.P else d.P
                run_block(GRAD_INPUT, &g, &d, NULL, wp, gyp, NULL, gxp, p0, p1, wk)
            fc_thread_exit(tstate)


def grad_weight(plan, const floating[::1] x, const floating[::1] gy, floating[::1] gw,
                floating[::1] partial, floating[::1] fwork, int64_t[::1] iwork):
    """gw = the weight gradient of tiled_conv.

    Without shared classes every block overwrites its own classes of gw (gw
    must arrive zeroed only where T exceeds S_out: classes no position uses).  With
    them, bucket b sums blocks [b*nblocks/B, (b+1)*nblocks/B) into its slice of
    ``partial`` (gw itself when B = 1); the caller adds the slices in order."""
    cdef fc_geom g = make_geom(plan)
    cdef LDims d = make_ldims(plan, &g)
    cdef int nthreads = plan.threads
    cdef bint shared = plan.shared
    cdef int64_t B = plan.buckets
    cdef int64_t wsize = gw.shape[0]
    cdef const floating *xp = &x[0]
    cdef const floating *gyp = &gy[0]
    cdef floating *gwp = &gw[0]
    cdef floating *pp = &partial[0]
    cdef floating *fw = &fwork[0]
    cdef int64_t *iw = &iwork[0]
    cdef int64_t it, blk, p0, p1
    cdef Work wk
    cdef fc_tstate tstate
    with nogil, parallel(num_threads=nthreads):
        tstate = fc_thread_enter()
        wk = thread_work(fw, iw, &d)
        if not shared:
            for blk in prange(d.nblocks, schedule="dynamic"):
                p0 = blk * d.block
                p1 = p0 + d.block if p0 + d.block < d.P else d.P
                run_block(GRAD_WEIGHT, &g, &d, xp, NULL, gyp, NULL, gwp, p0, p1, wk)
        else:
            for it in prange(B, schedule="dynamic"):
                memset(pp + it * wsize, 0, wsize * sizeof(floating))
                for blk in range(it * d.nblocks // B, (it + 1) * d.nblocks // B):
                    p0 = blk * d.block
                    p1 = p0 + d.block if p0 + d.block < d.P else d.P
                    run_block(GRAD_WEIGHT, &g, &d, xp, NULL, gyp, NULL, pp + it * wsize, p0,
                              p1, wk)
        fc_thread_exit(tstate)


cdef int64_t thread_share(str name, int64_t ldr, int64_t need_ldr, int64_t have,
                          int nthreads, int64_t need) except -1:
    """Each thread's share of the workspace the Python layer sized (its
    length over the threads, so the layer may round shares up to whole cache
    lines), after the drivers' own guard on it."""
    if ldr < need_ldr or nthreads < 1 or have // nthreads < need:
        raise ValueError(f"{name}: patch rows too small")
    return have // nthreads


cdef struct Patch:
    # one position's patch, channel by channel (fc_local_gather in local_impl.h)
    const int64_t *runs   # channel 0's runs: (src offset, length, patch offset)
    int64_t nrun
    int64_t plane         # channel stride of the padded input
    int64_t kc            # patch elements per channel
    int64_t channels
    bint one_piece        # every run fits one piece of the gather


cdef Patch make_patch(const int64_t[::1] runs, int64_t K, int64_t xs, int64_t Cin) except *:
    if Cin < 1 or K % Cin or xs % Cin or runs.shape[0] % 3 or runs.shape[0] == 0:
        raise ValueError("inconsistent patch runs")
    cdef Patch pt
    cdef int64_t j
    pt.runs = &runs[0]
    pt.nrun = runs.shape[0] // 3
    pt.plane = xs // Cin
    pt.kc = K // Cin
    pt.channels = Cin
    pt.one_piece = True
    for j in range(pt.nrun):
        if runs[3 * j + 1] > FC_GATHER_PIECE:
            pt.one_piece = False
    return pt


cdef inline void gather(const floating *src, int64_t xs, int64_t nb, const Patch *pt,
                        floating *rows, int64_t ldr) noexcept nogil:
    """The patches of nb samples (src: sample 0's at the position's base)."""
    if floating is float:
        fc_local_gather_f32(src, xs, nb, pt.runs, pt.nrun, pt.plane, pt.kc, pt.channels,
                            pt.one_piece, rows, ldr)
    else:
        fc_local_gather_f64(src, xs, nb, pt.runs, pt.nrun, pt.plane, pt.kc, pt.channels,
                            pt.one_piece, rows, ldr)


cdef inline void dots(const floating *w, const floating *rows, int64_t ldr, int64_t nb,
                      int64_t K, int64_t cout, const floating *bias, floating *y, int64_t ldn,
                      int64_t ldc, int64_t ahead) noexcept nogil:
    if floating is float:
        fc_local_dots_f32(w, rows, ldr, nb, K, cout, bias, y, ldn, ldc, ahead)
    else:
        fc_local_dots_f64(w, rows, ldr, nb, K, cout, bias, y, ldn, ldc, ahead)


def forward_direct(const floating[::1] xp, const int64_t[::1] runs, int64_t K,
                   const int64_t[::1] bases, const int64_t[::1] wbases,
                   const floating[::1] w, const floating[::1] bias, floating[::1] y,
                   floating[::1] rows, int64_t ldr, int64_t N, int64_t Cin, int64_t Cout,
                   int64_t xs, int64_t nb, int64_t ahead, int nthreads):
    """y = tiled_conv(xp, w) (+ tied bias), one output position at a time.

    ``xp``: the zero-padded input, ``xs`` elements per sample, ``Cin``
    channels.  Position p's patch (K elements) is given by ``runs``, those of
    channel 0 (triples: offset from ``xp[n*xs + bases[p]]``, length, offset
    in the patch); its weight class starts at ``w[wbases[p]]`` (C_out x K); ``rows``: nb patch rows per
    thread, ``ldr`` >= K + GATHER_PIECE apart; ``ahead``: the weight
    prefetch distance in bytes.  Every output is one dot product in a fixed
    order: bitwise the same for any thread count (each thread takes a
    contiguous range of positions)."""
    cdef int64_t P = bases.shape[0]
    cdef int64_t per
    cdef Patch pt = make_patch(runs, K, xs, Cin)
    cdef const floating *xpp = &xp[0]
    cdef const int64_t *bp = &bases[0]
    cdef const int64_t *wbp = &wbases[0]
    cdef const floating *wp = &w[0]
    cdef const floating *biasp = &bias[0] if bias.shape[0] > 0 else NULL
    cdef floating *yp = &y[0]
    cdef floating *rp = &rows[0]
    cdef floating *buf
    cdef int64_t t, p, n0, m
    cdef fc_tstate tstate
    per = thread_share("forward_direct", ldr, K + FC_GATHER_PIECE, rows.shape[0], nthreads,
                       nb * ldr)
    with nogil, parallel(num_threads=nthreads):
        tstate = fc_thread_enter()
        for t in prange(nthreads, schedule="static", chunksize=1):
            buf = rp + t * per
            for p in range(t * P // nthreads, (t + 1) * P // nthreads):
                n0 = 0
                while n0 < N:
                    m = nb if n0 + nb <= N else N - n0
                    gather(xpp + n0 * xs + bp[p], xs, m, &pt, buf, ldr)
                    dots(wp + wbp[p], buf, ldr, m, K, Cout, biasp, yp + n0 * Cout * P + p,
                         Cout * P, P, ahead)
                    n0 = n0 + m
        fc_thread_exit(tstate)


cdef inline void gather_column(const floating *gy, int64_t n0, int64_t m, int64_t Cout,
                               int64_t P, int64_t p, floating *gcol) noexcept nogil:
    """gcol[n*Cout + co] = gy[n0 + n, co, p]: one position's output gradients."""
    cdef int64_t n, co
    for n in range(m):
        for co in range(Cout):
            gcol[n * Cout + co] = gy[((n0 + n) * Cout + co) * P + p]


def grad_weight_direct(const floating[::1] xp, const int64_t[::1] runs, int64_t K,
                       const int64_t[::1] bases, const int64_t[::1] wbases,
                       const floating[::1] gy, floating[::1] gw, floating[::1] rows,
                       int64_t ldr, int64_t N, int64_t Cin, int64_t Cout, int64_t xs,
                       int64_t nb, int nthreads):
    """gw = the weight gradient of an unshared tiled_conv, one position at a time.

    The arguments are those of ``forward_direct``; ``gy`` is the output
    gradient (N, C_out, P), ``rows`` holds nb patch rows and nb*C_out output
    gradients per thread.  Each position's class of gw is written once (its
    batch runs accumulate in order): bitwise the same for any thread count."""
    cdef int64_t P = bases.shape[0]
    cdef int64_t per
    cdef Patch pt = make_patch(runs, K, xs, Cin)
    cdef const floating *xpp = &xp[0]
    cdef const int64_t *bp = &bases[0]
    cdef const int64_t *wbp = &wbases[0]
    cdef const floating *gyp = &gy[0]
    cdef floating *gwp = &gw[0]
    cdef floating *rp = &rows[0]
    cdef floating *buf
    cdef floating *gcol
    cdef int64_t t, p, p0, p1, n0, m
    cdef fc_tstate tstate
    per = thread_share("grad_weight_direct", ldr, K + FC_GATHER_PIECE, rows.shape[0], nthreads,
                       nb * (ldr + Cout))
    with nogil, parallel(num_threads=nthreads):
        tstate = fc_thread_enter()
        for t in prange(nthreads, schedule="static", chunksize=1):
            p0 = t * P // nthreads
            p1 = (t + 1) * P // nthreads
            buf = rp + t * per
            gcol = buf + nb * ldr
            for p in range(p0, p1):
                n0 = 0
                while n0 < N:
                    m = nb if n0 + nb <= N else N - n0
                    gather(xpp + n0 * xs + bp[p], xs, m, &pt, buf, ldr)
                    gather_column(gyp, n0, m, Cout, P, p, gcol)
                    if floating is float:
                        fc_local_outer_f32(gcol, buf, ldr, m, K, Cout, n0 > 0, gwp + wbp[p])
                    else:
                        fc_local_outer_f64(gcol, buf, ldr, m, K, Cout, n0 > 0, gwp + wbp[p])
                    n0 = n0 + m
        fc_thread_exit(tstate)


def grad_input_direct(floating[::1] gxp, const int64_t[::1] runs, int64_t K,
                      const int64_t[::1] bases, const int64_t[::1] wbases,
                      const floating[::1] w, const floating[::1] gy, floating[::1] rows,
                      int64_t ldr, int64_t N, int64_t Cin, int64_t Cout, int64_t xs,
                      int64_t nb, const int64_t[::1] blocks, int nthreads):
    """gxp += the adjoint of an unshared tiled_conv applied to gy (N, C_out, P).

    ``gxp`` is the zero-padded input gradient (``xs`` elements per sample);
    the other arguments are those of ``forward_direct``, ``rows`` holding nb
    patch rows and nb*C_out output gradients per thread.  Positions come in
    blocks of whole outer rows (``blocks``: boundaries) such that blocks two
    apart never reach the same input: even blocks run at once, then odd ones,
    each block in position order, so the sums do not depend on the threads."""
    cdef int64_t P = bases.shape[0]
    cdef int64_t nblocks = blocks.shape[0] - 1
    cdef int64_t per
    cdef Patch pt = make_patch(runs, K, xs, Cin)
    cdef const int64_t *bp = &bases[0]
    cdef const int64_t *wbp = &wbases[0]
    cdef const int64_t *blk = &blocks[0]
    cdef const floating *wp = &w[0]
    cdef const floating *gyp = &gy[0]
    cdef floating *gxpp = &gxp[0]
    cdef floating *rp = &rows[0]
    cdef floating *buf
    cdef floating *gcol
    cdef int64_t it, b, p, n0, m, per_color
    cdef int color
    cdef fc_tstate tstate
    per = thread_share("grad_input_direct", ldr, K, rows.shape[0], nthreads,
                       nb * (ldr + Cout))
    for color in range(2):
        per_color = (nblocks - color + 1) // 2
        if per_color <= 0:
            continue
        with nogil, parallel(num_threads=nthreads):
            tstate = fc_thread_enter()
            buf = rp + fc_thread_num() * per
            gcol = buf + nb * ldr
            for it in prange(per_color, schedule="static"):
                b = 2 * it + color
                for p in range(blk[b], blk[b + 1]):
                    n0 = 0
                    while n0 < N:
                        m = nb if n0 + nb <= N else N - n0
                        gather_column(gyp, n0, m, Cout, P, p, gcol)
                        if floating is float:
                            fc_local_combine_f32(gcol, wp + wbp[p], m, K, Cout, buf, ldr)
                            fc_local_scatter_f32(buf, ldr, m, pt.runs, pt.nrun, pt.plane,
                                                 pt.kc, pt.channels, pt.one_piece,
                                                 gxpp + n0 * xs + bp[p], xs)
                        else:
                            fc_local_combine_f64(gcol, wp + wbp[p], m, K, Cout, buf, ldr)
                            fc_local_scatter_f64(buf, ldr, m, pt.runs, pt.nrun, pt.plane,
                                                 pt.kc, pt.channels, pt.one_piece,
                                                 gxpp + n0 * xs + bp[p], xs)
                        n0 = n0 + m
            fc_thread_exit(tstate)
