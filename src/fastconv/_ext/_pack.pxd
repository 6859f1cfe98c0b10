# The N-d im2col / col2im packing of include/fastconv/pack.h, over the fused
# dtype: one declaration for every driver that packs patches.
from libc.stdint cimport int64_t

from fastconv._ext._blas cimport floating
from fastconv._ext._plan cimport fc_geom


cdef extern from "fastconv/pack.h" nogil:
    void fc_im2col_f32(const fc_geom *g, const float *x, int64_t C,
                       int64_t p0, int64_t p1, float *col)
    void fc_im2col_f64(const fc_geom *g, const double *x, int64_t C,
                       int64_t p0, int64_t p1, double *col)
    void fc_col2im_f32(const fc_geom *g, const float *col, int64_t C,
                       int64_t p0, int64_t p1, float *x)
    void fc_col2im_f64(const fc_geom *g, const double *col, int64_t C,
                       int64_t p0, int64_t p1, double *x)
    void fc_add_bias_f32(float *y, const float *bias, int64_t rows, int64_t ncol, int64_t ld)
    void fc_add_bias_f64(double *y, const double *bias, int64_t rows, int64_t ncol, int64_t ld)


cdef inline void im2col(const fc_geom *g, const floating *x, int64_t C,
                        int64_t p0, int64_t p1, floating *col) noexcept nogil:
    if floating is float:
        fc_im2col_f32(g, x, C, p0, p1, col)
    else:
        fc_im2col_f64(g, x, C, p0, p1, col)


cdef inline void col2im(const fc_geom *g, const floating *col, int64_t C,
                        int64_t p0, int64_t p1, floating *x) noexcept nogil:
    if floating is float:
        fc_col2im_f32(g, col, C, p0, p1, x)
    else:
        fc_col2im_f64(g, col, C, p0, p1, x)


cdef inline void add_bias(floating *y, const floating *bias, int64_t rows,
                          int64_t ncol, int64_t ld) noexcept nogil:
    if floating is float:
        fc_add_bias_f32(y, bias, rows, ncol, ld)
    else:
        fc_add_bias_f64(y, bias, rows, ncol, ld)
