/* fastconv/pack.h -- N-d im2col / col2im on a range of output positions.
 *
 * The patch matrix of one (sample, group) has C*prod(K) rows (channel-major,
 * then kernel taps in row-major order) and one column per output position.
 * A tile is a flat range [p0, p1) of output positions; its columns are stored
 * contiguously (leading dimension p1 - p0).  col2im is the exact transpose:
 * it accumulates a tile of the patch matrix back into the input.
 *
 * Dtype variants are generated from pack_impl.h, never written twice.
 */
#ifndef FASTCONV_PACK_H
#define FASTCONV_PACK_H

#include "geom.h"

#define FC_TEMPLATE "pack_impl.h"
#include "for_each_dtype.h"

#endif
