"""The engine's plan: tile sizes and workspaces for one geometry.

Input: arrays that the public layer has already validated and converted to
C-contiguous, channels-first, compute-dtype form (explicit padding applied).
Everything that the drivers in ``_ext/_conv.pyx`` need to know is decided
here, once per call; the drivers only loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from fastconv import _threads
from fastconv._ext import _conv, _direct

# The patch tile of one thread (C*K rows x tile columns) is sized to sit in
# L2 next to the weights it multiplies.  Measured on the 2-core AVX-512
# machine with OpenBLAS: 3x3 64->64 at 56^2 is flat between 256 KiB and
# 1 MiB and 20% slower at 64 KiB.
TILE_BYTES = 512 * 1024
MIN_TILE = 64
# The grad_weight buckets: at most this many partial sums of the weight
# gradient, and at most this many bytes of them.
MAX_BUCKETS = 16
BUCKET_BYTES = 128 * 1024 * 1024
# Channel-wise layers (one input channel per group) with at most this many
# outputs per group run the direct kernels: as a GEMM they have M <= 4.
DIRECT_MAX_OUT_PER_GROUP = 4
# Output elements in one block of rows of the direct kernels: the block (16 KiB
# of float32) stays in L1 while every kernel tap passes over it.
DIRECT_BLOCK = 4096

_INT_MAX = 2**31 - 1  # BLAS dimensions and leading dimensions are C ints


@dataclass(frozen=True)
class Plan:
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_spatial: tuple      # as the engine sees it (explicit padding applied)
    out_spatial: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad_lo: tuple          # implicit zero padding, low side
    pointwise: bool
    direct: bool           # channel-wise: direct kernels instead of GEMM
    tile: int              # output positions per patch tile
    rows: int              # outermost-axis outputs per block (grad_input, direct)
    buckets: int           # grad_weight: partial sums
    threads: int

    @property
    def patch_rows(self):
        return self.in_channels // self.groups * prod(self.kernel)


def make_plan(geom, batch, threads):
    """A Plan for a ConvGeometry applied to ``batch`` samples."""
    in_spatial = geom.padded_spatial
    pad_lo = tuple(lo for lo, _ in geom.implicit_pad)
    pointwise = (all(k == 1 for k in geom.kernel) and all(s == 1 for s in geom.stride)
                 and all(p == 0 for p in pad_lo) and in_spatial == geom.out_spatial)
    cg = geom.in_channels // geom.groups
    ck = cg * prod(geom.kernel)
    P = prod(geom.out_spatial)
    itemsize = 8  # the float64 size keeps plans identical across dtypes
    if pointwise:
        tile = max(MIN_TILE, TILE_BYTES // (max(cg, 1) * itemsize))
    else:
        tile = max(MIN_TILE, TILE_BYTES // (max(ck, 1) * itemsize))
    tile = max(1, min(tile, P))
    cog = geom.out_channels // geom.groups
    direct = cg == 1 and cog <= DIRECT_MAX_OUT_PER_GROUP and not pointwise
    # Row blocks (grad_input): blocks two apart must not share input rows:
    # (rows + 1) * stride > dilation * (k - 1) on the outermost axis.
    halo = geom.dilation[0] * (geom.kernel[0] - 1)
    inner = max(prod(geom.out_spatial[1:]), 1)
    block = DIRECT_BLOCK if direct else tile
    rows = max(halo // geom.stride[0] + 1, -(-block // inner))
    if direct:
        nblocks = 1 if geom.ndim == 1 else -(-geom.out_spatial[0] // rows)
        chunks = batch * nblocks
    else:
        chunks = batch * (-(-P // tile) if P else 0)
    wbytes = max(1, geom.out_channels * ck * itemsize)
    buckets = max(1, min(chunks, MAX_BUCKETS, BUCKET_BYTES // wbytes))
    for dim in (P, prod(in_spatial), ck, geom.out_channels):
        if dim > _INT_MAX:
            raise ValueError(
                f"a matrix dimension of this convolution ({dim}) exceeds the BLAS "
                f"integer range; split the input"
            )
    return Plan(batch, geom.in_channels, geom.out_channels, geom.groups, in_spatial,
                geom.out_spatial, geom.kernel, geom.stride, geom.dilation, pad_lo,
                pointwise, direct, tile, rows, buckets, threads)


_registered = False


def _register_blas():
    """Hand the kernels the BLAS thread-local setters (once per process)."""
    global _registered
    if not _registered:
        _conv.register_blas_threads_local(_threads.blas_local_setters())
        _registered = True


def _workspace(plan, dtype):
    if plan.pointwise or plan.direct:
        return np.empty(0, dtype)
    return np.empty(plan.threads * plan.patch_rows * plan.tile, dtype)


def _flat(a):
    return a.reshape(-1)


def forward(plan, x, w, bias, y):
    """y = conv(x, w) + bias (tied bias or None), written into ``y``."""
    b = np.empty(0, y.dtype) if bias is None else bias
    if plan.direct:
        _direct.forward(plan, _flat(x), _flat(w), b, _flat(y))
        return y
    work = _workspace(plan, y.dtype)
    _register_blas()
    with _threads.blas_single_threaded():
        _conv.forward(plan, _flat(x), _flat(w), b, _flat(y), work)
    return y


def grad_input(plan, gy, w, gx):
    """gx = conv_grad_input(gy, w) on the engine's (padded) input; gx zeroed."""
    if plan.direct:
        _direct.grad_input(plan, _flat(gy), _flat(w), _flat(gx))
        return gx
    work = _workspace(plan, gx.dtype)
    _register_blas()
    with _threads.blas_single_threaded():
        _conv.grad_input(plan, _flat(gy), _flat(w), _flat(gx), work)
    return gx


def grad_weight(plan, x, gy, gw):
    """gw = conv_grad_weight(x, gy), bitwise independent of the thread count."""
    if plan.buckets == 1:
        partial = _flat(gw)
    else:
        partial = np.empty(plan.buckets * gw.size, gw.dtype)
    if plan.direct:
        _direct.grad_weight(plan, _flat(x), _flat(gy), _flat(gw), partial)
        return gw
    work = _workspace(plan, gw.dtype)
    _register_blas()
    with _threads.blas_single_threaded():
        _conv.grad_weight(plan, _flat(x), _flat(gy), _flat(gw), partial, work)
    return gw
