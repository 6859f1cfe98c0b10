# cython: freethreading_compatible = True
"""OpenMP driver of the implicit-GEMM kernels (include/fastconv/igemm.h).

Work items are (sample, group, block of output rows, block of columns); the
blocks are fixed by the shape, so every output element is computed by one
kernel call in one order whatever the number of threads.
"""

import numpy as np

from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int64_t, uintptr_t

from fastconv._ext._blas cimport floating
from fastconv._ext._runtime cimport fc_fp_enter, fc_fp_exit


cdef extern from "fastconv/igemm.h" nogil:
    const char *fc_igemm_isa()
    bint fc_igemm_vector()
    bint fc_igemm_dw_vector()
    int fc_igemm_level()
    void fc_igemm_set_caches(int64_t l1d, int64_t l2)
    int64_t fc_igemm_work_f32()
    int64_t fc_igemm_work_f64()
    void fc_igemm_rows_f32(const float *x, const int64_t *koffs, int64_t K, const float *wpk,
                           int64_t cog, const int64_t *rowbase, int64_t r0, int64_t r1,
                           int64_t w0, int64_t w1, int64_t Wout, float *y, int64_t P,
                           const float *bias, int tile_mr, float *work)
    void fc_igemm_rows_f64(const double *x, const int64_t *koffs, int64_t K, const double *wpk,
                           int64_t cog, const int64_t *rowbase, int64_t r0, int64_t r1,
                           int64_t w0, int64_t w1, int64_t Wout, double *y, int64_t P,
                           const double *bias, int tile_mr, double *work)

    void fc_igemm_dw_rows_f32(const float *x, const int64_t *koffs, int64_t K, int64_t k0,
                              int64_t k1, const float *gy, int64_t cog, int64_t P,
                              const int64_t *rowbase, int64_t r0, int64_t r1, int64_t Wout,
                              float *acc)
    void fc_igemm_dw_rows_f64(const double *x, const int64_t *koffs, int64_t K, int64_t k0,
                              int64_t k1, const double *gy, int64_t cog, int64_t P,
                              const int64_t *rowbase, int64_t r0, int64_t r1, int64_t Wout,
                              double *acc)

# The register tile heights of the forward kernel (igemm.h).
MR_CHOICES = (12, 8)


def isa():
    return fc_igemm_isa().decode()


def has_vector_kernels():
    """Whether a vector (intrinsics) forward tile runs here under the cap;
    without one the portable C tile is far slower than im2col + BLAS."""
    return fc_igemm_vector()


def has_vector_grad_weight():
    """Whether the grad_weight tile in use is a vector one (AVX-512 only)."""
    return fc_igemm_dw_vector()


include "_isa.pxi"


def set_caches(int64_t l1d, int64_t l2):
    """The per-core L1D and L2 sizes that block the packed AVX2 path."""
    fc_igemm_set_caches(l1d, l2)


def level():
    """The tile in use, as a level name: "avx512", "avx2" or "generic" (portable C)."""
    return {3: "avx512", 2: "avx2"}.get(fc_igemm_level(), "generic")


def pack_weights(const floating[:, :, :, :] w, floating[::1] out, int tile_mr, int nthreads):
    """The forward kernel's weight panels from w (G, rows, K1, T), any strides:
    out[g, ob, k1 * T + t, i] = w[g, ob * tile_mr + i, k1, t], zero past the
    rows.  One pass, each output panel written in order (a NumPy transpose
    copy of a 2.4 MB weight took 2.9 ms, a fifth of its layer's forward)."""
    cdef int64_t G = w.shape[0], rows = w.shape[1], K1 = w.shape[2], T = w.shape[3]
    cdef int64_t K = K1 * T
    cdef int64_t nob = (rows + tile_mr - 1) // tile_mr
    cdef int64_t item, g, ob, k1, t, i, o, base
    if tile_mr not in MR_CHOICES:
        raise ValueError(f"tile_mr must be one of {MR_CHOICES}, got {tile_mr}")
    if out.shape[0] != G * nob * K * tile_mr:
        raise ValueError(f"out holds {out.shape[0]} values; the panels take "
                         f"{G * nob * K * tile_mr}")
    with nogil:
        for item in prange(G * nob, num_threads=nthreads, schedule="static"):
            g = item // nob
            ob = item % nob
            base = item * K * tile_mr
            for k1 in range(K1):
                for t in range(T):
                    for i in range(tile_mr):
                        o = ob * tile_mr + i
                        out[base + (k1 * T + t) * tile_mr + i] = w[g, o, k1, t] if o < rows else 0


def forward(const floating[::1] x, const int64_t[::1] koffs, const floating[::1] wpk,
            const int64_t[::1] rowbase, const floating[::1] bias, floating[::1] y,
            Py_ssize_t N, Py_ssize_t C, Py_ssize_t Cout, Py_ssize_t G, Py_ssize_t S,
            Py_ssize_t Wout, Py_ssize_t rows_per_block, Py_ssize_t cols_per_block,
            int tile_mr, int nthreads):
    """y[n, g] = implicit GEMM of the padded x[n, g] (S elements per channel);
    wpk holds panels of tile_mr (one of MR_CHOICES) output channels."""
    if tile_mr not in MR_CHOICES:
        raise ValueError(f"tile_mr must be one of {MR_CHOICES}, got {tile_mr}")
    cdef int64_t Cg = C // G
    cdef int64_t Cog = Cout // G
    cdef int64_t K = koffs.shape[0]
    cdef int64_t R = rowbase.shape[0]
    cdef int64_t P = R * Wout
    cdef int64_t nob = (Cog + tile_mr - 1) // tile_mr
    cdef int64_t wstride = nob * K * tile_mr
    cdef int64_t nrb = (R + rows_per_block - 1) // rows_per_block
    cdef int64_t ncb = (Wout + cols_per_block - 1) // cols_per_block
    cdef int64_t items = N * G * nrb * ncb
    cdef bint has_bias = bias.shape[0] > 0
    if wpk.shape[0] < G * wstride:
        raise ValueError(f"wpk holds {wpk.shape[0]} values; the packed weights take "
                         f"{G * wstride}")
    cdef const floating *xp = &x[0]
    cdef const floating *wp = &wpk[0]
    cdef const floating *bp = &bias[0] if has_bias else NULL
    cdef const int64_t *kp = &koffs[0]
    cdef const int64_t *rp = &rowbase[0]
    cdef floating *yp = &y[0]
    cdef int64_t it, n, g, rb, cb, r0, r1, w0, w1
    cdef unsigned int fpsaved
    # one workspace per thread (the packed input panels), 32-byte aligned
    cdef int64_t nwork = fc_igemm_work_f32() if floating is float else fc_igemm_work_f64()
    cdef int64_t lanes = 32 // sizeof(floating)
    cdef int64_t per = (nwork + lanes - 1) // lanes * lanes
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] ws = np.empty(per * nthreads + lanes, dtype)
    cdef floating *wsp = &ws[0]
    wsp += (-(<uintptr_t>wsp // sizeof(floating))) % lanes
    cdef floating *mine
    with nogil, parallel(num_threads=nthreads):
        fpsaved = fc_fp_enter()
        mine = wsp + threadid() * per if nwork > 0 else NULL
        for it in prange(items, schedule="dynamic"):
            cb = it % ncb
            rb = (it // ncb) % nrb
            g = (it // (ncb * nrb)) % G
            n = it // (ncb * nrb * G)
            r0 = rb * rows_per_block
            r1 = r0 + rows_per_block if r0 + rows_per_block < R else R
            w0 = cb * cols_per_block
            w1 = w0 + cols_per_block if w0 + cols_per_block < Wout else Wout
            if floating is float:
                fc_igemm_rows_f32(xp + (n * C + g * Cg) * S, kp, K, wp + g * wstride, Cog, rp,
                                  r0, r1, w0, w1, Wout, yp + (n * Cout + g * Cog) * P, P,
                                  bp + g * Cog if has_bias else NULL, tile_mr, mine)
            else:
                fc_igemm_rows_f64(xp + (n * C + g * Cg) * S, kp, K, wp + g * wstride, Cog, rp,
                                  r0, r1, w0, w1, Wout, yp + (n * Cout + g * Cog) * P, P,
                                  bp + g * Cog if has_bias else NULL, tile_mr, mine)
        fc_fp_exit(fpsaved)


def grad_weight(const floating[::1] x, const int64_t[::1] koffs, const floating[::1] gy,
                const int64_t[::1] rowbase, floating[::1] partial,
                Py_ssize_t N, Py_ssize_t C, Py_ssize_t Cout, Py_ssize_t G, Py_ssize_t S,
                Py_ssize_t Wout, Py_ssize_t rows_per_chunk, Py_ssize_t buckets,
                Py_ssize_t k_per_item, int nthreads):
    """partial[b, g] += the (sample, row-chunk) chunks of bucket b, in order.

    partial (buckets x Cout x K, zeroed) is summed over buckets by the caller.
    Items are (group, bucket, range of k); each writes its own columns.
    """
    cdef int64_t Cg = C // G
    cdef int64_t Cog = Cout // G
    cdef int64_t K = koffs.shape[0]
    cdef int64_t R = rowbase.shape[0]
    cdef int64_t P = R * Wout
    cdef int64_t nrc = (R + rows_per_chunk - 1) // rows_per_chunk
    cdef int64_t nchunks = N * nrc
    cdef int64_t nks = (K + k_per_item - 1) // k_per_item
    cdef int64_t B = buckets
    cdef int64_t items = G * B * nks
    cdef int64_t wsize = Cout * K
    cdef const floating *xp = &x[0]
    cdef const floating *gyp = &gy[0]
    cdef const int64_t *kp = &koffs[0]
    cdef const int64_t *rp = &rowbase[0]
    cdef floating *pp = &partial[0]
    cdef int64_t it, g, b, ks, k0, k1, ch, n, rc, r0, r1
    cdef unsigned int fpsaved
    with nogil, parallel(num_threads=nthreads):
        fpsaved = fc_fp_enter()
        for it in prange(items, schedule="dynamic"):
            ks = it % nks
            b = (it // nks) % B
            g = it // (nks * B)
            k0 = ks * k_per_item
            k1 = k0 + k_per_item if k0 + k_per_item < K else K
            for ch in range(b * nchunks // B, (b + 1) * nchunks // B):
                n = ch // nrc
                rc = ch % nrc
                r0 = rc * rows_per_chunk
                r1 = r0 + rows_per_chunk if r0 + rows_per_chunk < R else R
                if floating is float:
                    fc_igemm_dw_rows_f32(xp + (n * C + g * Cg) * S, kp, K, k0, k1,
                                         gyp + (n * Cout + g * Cog) * P, Cog, P, rp, r0, r1,
                                         Wout, pp + b * wsize + g * Cog * K)
                else:
                    fc_igemm_dw_rows_f64(xp + (n * C + g * Cg) * S, kp, K, k0, k1,
                                         gyp + (n * Cout + g * Cog) * P, Cog, P, rp, r0, r1,
                                         Wout, pp + b * wsize + g * Cog * K)
        fc_fp_exit(fpsaved)
