/* fastconv/avx512.h -- AVX-512 intrinsics named after the template's dtype.
 *
 * Inside a for_each_dtype.h template, FC_I(fmadd_) is _mm512_fmadd_ps for
 * float and _mm512_fmadd_pd for double, so one kernel body serves both.
 * Kernels using these carry __attribute__((target("avx512f"))) and run only
 * when fc_use_avx512() says so (runtime.h): the build never assumes the ISA.  The
 * per-dtype vector and mask types come from avx512_types.h.
 */
#ifndef FASTCONV_AVX512_H
#define FASTCONV_AVX512_H

#include "runtime.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(FASTCONV_NO_AVX512)
#define FC_HAVE_AVX512_KERNELS 1
#include <immintrin.h>
#else
#define FC_HAVE_AVX512_KERNELS 0
#endif

#if FC_HAVE_AVX512_KERNELS
#define FC_I3_(a, b, c) a##b##c
#define FC_I3(a, b, c) FC_I3_(a, b, c)
#define FC_I(op) FC_I3(_mm512_, op, FC_ISFX)
#define FC_ZERO() FC_I(setzero_)()
#define FC_LOADZ(m, p) FC_I(maskz_loadu_)((m), (p))
#define FC_LOADU(p) FC_I(loadu_)(p)
/* Keeps a loaded vector in its register: without this GCC folds a load used
 * by several FMAs into each of them, loading it once per use (on 3x3 64->64
 * local layers that doubled the loads and the time of the dot products). */
#define FC_IN_REG(v) __asm__("" : "+v"(v))
#define FC_BCAST(p) FC_I(set1_)(*(p))
#define FC_FMA(a, b, c) FC_I(fmadd_)((a), (b), (c))
#define FC_ADD(a, b) FC_I(add_)((a), (b))
#define FC_STOREM(p, m, v) FC_I(mask_storeu_)((p), (m), (v))
#define FC_REDUCE(v) FC_I(reduce_add_)(v)
/* the first n >= 0 lanes (all of them when n >= FC_VL) */
#define FC_LANE_MASK(n) ((n) >= FC_VL ? (FC_MASK)-1 : (FC_MASK)((1u << (n)) - 1u))
#endif

#endif
