/* fastconv/pool.h -- direct max and average pooling kernels and their adjoints.
 *
 * One call handles the rows [r0, r1) (all axes but the last) of the output
 * of one plane.  Every position of a plane holds V contiguous values: V = 1
 * for channels-first data (a plane is one (sample, channel) image, and the
 * loops run along its last axis), V = C for channels-last data (a plane is
 * one sample, and the loops run along the channels of each position).
 *
 * The loops reuse the tap walk of the direct convolution kernels
 * (direct.h: kernel taps outer, output rows of an L1-sized block inner),
 * and each tap is a max or a sum instead of a multiply-add.  Windows are
 * scanned tap by tap in row-major order, which is torch's scan order: max
 * keeps the first maximum (strict >) and takes any NaN it meets, so NaN
 * propagates and the index of a NaN is the last one scanned, as in torch.
 *
 * Dtype variants are generated from pool_impl.h.
 */
#ifndef FASTCONV_POOL_H
#define FASTCONV_POOL_H

#include <math.h>

#include "direct.h"
#include "runtime.h"

/* For tap koff, run BODY for every output row r in [r0, r1) (all axes but the
 * last) that reads inside the input, with yoff = r * W (the row's first
 * output position) and roff = the input position output 0 of the row reads
 * (output o reads roff + o * stride).  Same contract as direct.h's
 * FC_FOR_VALID_ROWS, but pooling rows are short (tens of outputs): the rows
 * along the second-to-last axis that read inside are found once per run with
 * fc_valid_range and walked with constant strides, the outer axes resolved
 * once per run.  For ndim >= 3, [r0, r1) holds whole runs (the plans cut
 * blocks along axis 0 only). */
#define FC_FOR_VALID_ROW_RUNS(g, koff, r0, r1, BODY)                             \
    do {                                                                         \
        const int L_ = (g)->ndim - 1;                                            \
        const int64_t W_ = (g)->out[L_];                                         \
        if (L_ == 0) {                                                           \
            const int64_t yoff = 0;                                              \
            const int64_t roff = (koff)[0];                                      \
            BODY                                                                 \
            break;                                                               \
        }                                                                        \
        const int A_ = L_ - 1;                                                   \
        const int64_t n_ = (g)->out[A_];                                         \
        int64_t oi_[FC_MAXD];                                                    \
        fc_unravel((r0) / n_, A_, (g)->out, oi_);                                \
        for (int64_t u_ = (r0) / n_; u_ * n_ < (r1); ++u_) {                     \
            int64_t base_ = 0;                                                   \
            int inside_ = 1;                                                     \
            for (int j_ = 0; j_ < A_; ++j_) {                                    \
                const int64_t i_ = oi_[j_] * (g)->stride[j_] + (koff)[j_];       \
                if (i_ < 0 || i_ >= (g)->in[j_]) { inside_ = 0; break; }         \
                base_ = base_ * (g)->in[j_] + i_;                                \
            }                                                                    \
            if (inside_) {                                                       \
                const int64_t a0_ = (r0) > u_ * n_ ? (r0) - u_ * n_ : 0;         \
                const int64_t a1_ = (r1) < (u_ + 1) * n_ ? (r1) - u_ * n_ : n_;  \
                int64_t alo_, ahi_;                                              \
                fc_valid_range(a0_, a1_, (g)->stride[A_], (koff)[A_], (g)->in[A_], \
                               &alo_, &ahi_);                                    \
                const int64_t rstep_ = (g)->stride[A_] * (g)->in[L_];            \
                int64_t roff = ((base_ * (g)->in[A_]) + alo_ * (g)->stride[A_]   \
                                + (koff)[A_]) * (g)->in[L_] + (koff)[L_];        \
                int64_t yoff = (u_ * n_ + alo_) * W_;                            \
                for (int64_t a_ = alo_; a_ < ahi_; ++a_, roff += rstep_, yoff += W_) { \
                    BODY                                                         \
                }                                                                \
            }                                                                    \
            for (int j_ = A_ - 1; j_ >= 0; --j_) {                               \
                if (++oi_[j_] < (g)->out[j_]) break;                             \
                oi_[j_] = 0;                                                     \
            }                                                                    \
        }                                                                        \
    } while (0)

/* Average pooling: `counts` (in the compute dtype) holds, axis after axis,
 * the window size of every output index along that axis (out[0] values, then
 * out[1], ...); the divisor of an output is their product (windows are boxes). */

/* Row loops are inlined into their ISA-cloned callers: left out of line they
 * would be compiled once, for the baseline ISA. */
#if defined(__GNUC__)
#define FC_ROW_INLINE static inline __attribute__((always_inline))
#else
#define FC_ROW_INLINE static inline
#endif

/* AVX-512 row kernels for the max loops of channels-first data (V = 1, stride
 * 1 or 2).  Rows are short (tens of outputs): left to the auto-vectoriser,
 * the alignment peel and the scalar remainder cost more than the vector body;
 * written with intrinsics, every step is one full vector and the last step
 * is moved back to end at the row's end (max updates are idempotent, so the
 * outputs it revisits do not change).  Compiled with a target attribute and
 * chosen at run time (runtime.h's CPU probe), as the implicit-GEMM kernels. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(FASTCONV_NO_AVX512)
#define FC_HAVE_AVX512_ROWS 1
#include <immintrin.h>
#define FC_AVX512 __attribute__((target("avx512f")))
#else
#define FC_HAVE_AVX512_ROWS 0
#endif

#define FC_TEMPLATE "pool_impl.h"
#include "for_each_dtype.h"

#endif
