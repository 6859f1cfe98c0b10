# cython: freethreading_compatible = True
"""Driver of the single-channel filter engine (include/fastconv/filter.h).

``run`` takes a ``fastconv._filtering.FilterPlan`` (everything decided in
Python: index maps, taps, block sizes, threads), releases the GIL and hands
the work items to the threads; each thread owns one slice of ``work`` as its
strip scratch.  Items write disjoint output blocks, so the result does not
depend on the thread count.

The threads are an OpenMP loop, as everywhere in the package: one runtime,
which OMP_NUM_THREADS and threadpoolctl's "openmp" limits see and govern.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t
from libc.string cimport memset

from fastconv._ext._blas cimport floating
from fastconv._ext._runtime cimport fc_fp_enter, fc_fp_exit, fc_thread_num


cdef extern from "fastconv/filter.h" nogil:
    ctypedef struct fc_filter_plan:
        int nd
        int64_t in_ "in"[16]
        int64_t out[16]
        int64_t k[16]
        int64_t lo[16]
        int64_t a[16]
        int64_t b[16]
        const int64_t *src_lo[16]
        const int64_t *src_hi[16]
        int64_t in_size, out_size
        int64_t rows, blocks, cols, cblocks, outer, items, ss
        int64_t n_outer
        const int64_t *tap_start
        const int64_t *tap_off
        const int64_t *tap_off_in
        int64_t ntaps, w_stride
        int dense
        int separable
        int64_t n_h, n_v
        const int64_t *h_off
        const int64_t *v_off
        int64_t tmp_stride, strip_elems

    ctypedef void (*fc_rows_f32_fn)(const float *, int64_t, int64_t, const int64_t *,
                                    const float *, float, int, int64_t, int64_t, float *,
                                    int64_t)
    ctypedef void (*fc_rows_f64_fn)(const double *, int64_t, int64_t, const int64_t *,
                                    const double *, double, int, int64_t, int64_t,
                                    double *, int64_t)
    ctypedef void (*fc_rows2d_f32_fn)(const float *, int64_t, int64_t, int64_t, const float *,
                                      float, int, int64_t, int64_t, float *, int64_t)
    ctypedef void (*fc_rows2d_f64_fn)(const double *, int64_t, int64_t, int64_t,
                                      const double *, double, int, int64_t, int64_t,
                                      double *, int64_t)
    fc_rows_f32_fn fc_rows_pick_f32()
    fc_rows_f64_fn fc_rows_pick_f64()
    fc_rows2d_f32_fn fc_rows2d_pick_f32()
    fc_rows2d_f64_fn fc_rows2d_pick_f64()
    void fc_filter_item_f32(const fc_filter_plan *P, fc_rows_f32_fn fn,
                            fc_rows2d_f32_fn fn2, int64_t item,
                            const float *x, const float *w, float cval, float *y,
                            float *work)
    void fc_filter_item_f64(const fc_filter_plan *P, fc_rows_f64_fn fn,
                            fc_rows2d_f64_fn fn2, int64_t item,
                            const double *x, const double *w, double cval, double *y,
                            double *work)



include "_isa.pxi"


def isa():
    """Name of the row-kernel variant in use."""
    return isa_level()


cdef const int64_t *_ptr(const int64_t[::1] a) noexcept:
    return &a[0] if a.shape[0] > 0 else NULL


cdef fc_filter_plan make_plan(plan) except *:
    cdef fc_filter_plan P
    cdef int j
    memset(&P, 0, sizeof(P))
    P.nd = plan.nd
    for j in range(P.nd):
        P.in_[j] = plan.in_shape[j]
        P.out[j] = plan.out_shape[j]
        P.k[j] = plan.kernel[j]
        m = plan.maps[j]
        P.lo[j], P.a[j], P.b[j] = m.lo, m.a, m.b
        P.src_lo[j] = _ptr(m.src_lo)
        P.src_hi[j] = _ptr(m.src_hi)
    P.in_size = plan.in_size
    P.out_size = plan.out_size
    P.rows = plan.rows
    P.blocks = plan.blocks
    P.cols = plan.cols
    P.cblocks = plan.cblocks
    P.outer = plan.outer
    P.items = plan.items
    P.ss = plan.ss
    P.n_outer = plan.n_outer
    P.tap_start = _ptr(plan.tap_start)
    P.tap_off = _ptr(plan.tap_off)
    P.tap_off_in = _ptr(plan.tap_off_in) if plan.tap_off_in is not None else NULL
    P.ntaps = plan.ntaps
    P.w_stride = plan.w_stride
    P.dense = plan.dense
    P.separable = plan.separable
    if P.separable:
        P.n_h = plan.h_off.shape[0]
        P.n_v = plan.v_off.shape[0]
        P.h_off = _ptr(plan.h_off)
        P.v_off = _ptr(plan.v_off)
        P.tmp_stride = plan.tmp_stride
    P.strip_elems = plan.strip_elems
    return P


cdef struct Job:
    fc_filter_plan *P
    fc_rows_f32_fn f32
    fc_rows_f64_fn f64
    fc_rows2d_f32_fn f32_2d
    fc_rows2d_f64_fn f64_2d
    const void *x
    const void *w
    double cval
    void *y
    void *work
    int64_t per


cdef void item_f32(void *ctx, int64_t it, int slot) noexcept nogil:
    cdef Job *j = <Job *>ctx
    fc_filter_item_f32(j.P, j.f32, j.f32_2d, it, <const float *>j.x, <const float *>j.w,
                       <float>j.cval, <float *>j.y, <float *>j.work + slot * j.per)


cdef void item_f64(void *ctx, int64_t it, int slot) noexcept nogil:
    cdef Job *j = <Job *>ctx
    fc_filter_item_f64(j.P, j.f64, j.f64_2d, it, <const double *>j.x, <const double *>j.w,
                       j.cval, <double *>j.y, <double *>j.work + slot * j.per)


def run(plan, const floating[::1] x, const floating[::1] w, floating cval,
        floating[::1] y, floating[::1] work):
    """y = the plan's filter of x; ``work`` holds plan.threads * plan.strip_elems."""
    cdef fc_filter_plan P = make_plan(plan)
    cdef int nthreads = plan.threads
    cdef int64_t it
    cdef Job job
    cdef unsigned int fpsaved
    if P.items <= 0:
        return
    job.P = &P
    job.f32 = fc_rows_pick_f32()
    job.f64 = fc_rows_pick_f64()
    job.f32_2d = fc_rows2d_pick_f32()
    job.f64_2d = fc_rows2d_pick_f64()
    job.x = &x[0] if x.shape[0] > 0 else NULL
    job.w = &w[0]
    job.cval = cval
    job.y = &y[0]
    job.work = &work[0]
    job.per = P.strip_elems
    with nogil, parallel(num_threads=nthreads):
        fpsaved = fc_fp_enter()
        for it in prange(P.items, schedule="dynamic"):
            if floating is float:
                item_f32(&job, it, fc_thread_num())
            else:
                item_f64(&job, it, fc_thread_num())
        fc_fp_exit(fpsaved)
