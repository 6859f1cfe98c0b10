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

#define FC_T float
#define FC_SFX f32
#include "pool_impl.h"
#undef FC_T
#undef FC_SFX

#define FC_T double
#define FC_SFX f64
#include "pool_impl.h"
#undef FC_T
#undef FC_SFX

#endif
