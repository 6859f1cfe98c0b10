"""Unshared (locally connected) and tiled convolution and their adjoints.

``tiled_conv`` is the general case: output position ``p`` uses the kernel
``w[p % T]`` of a weight ``(*T, C_out, C_in, *K)``.  ``local_conv`` is
``T = S_out`` (every output position has its own kernel); ``T = (1, ..., 1)``
is :func:`fastconv.conv` without groups.  The geometry is a ``ConvGeometry``,
the argument policy that of :mod:`fastconv.conv`, and the engine
(``_ext/_local.pyx``) packs patches with the conv engine's fc_im2col, one
GEMM per weight class -- except the forward of unshared layers (every class
used once), which streams each position's weights once past its gathered
patches (``forward_direct``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod
from types import MappingProxyType

import numpy as np

from fastconv import _padding, _threads
from fastconv._engine import (
    BUCKET_BYTES, MAX_BUCKETS, SERIAL_WORK, _offset_tables, pad_or_crop,
    scratch_empty, scratch_zeros, whole_lines,
)
from fastconv._ext import _local
from fastconv._geometry import ConvGeometry
from fastconv._threads import resolve_workers
from fastconv.conv import (
    _as_real_array, _as_shape, _bias, _channels_first, _check_out, _deliver, _dtypes,
    _engine_input, _is_batched, _shape_in_layout,
)

__all__ = ["local_conv", "local_conv_grad_input", "local_conv_grad_weight",
           "tiled_conv", "tiled_conv_grad_input", "tiled_conv_grad_weight"]

_INT_MAX = 2**31 - 1  # BLAS dimensions are C ints
# At least this many (position, sample) columns per GEMM when the batch allows.
_MIN_COLUMNS = 8
# A thread's packed patches (twice: im2col output and position rows): chunks
# of whole output rows make fc_im2col copy runs long; measured on 3x3 64->64 at
# 28x28, N=8: 1 MiB is 10% faster than 512 KiB and still sits in the 2 MiB L2
# with the weights streaming by.
_TILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class _LocalPlan:
    """What the drivers of ``_ext/_local.pyx`` read (see ``make_geom``)."""

    batch: int
    in_channels: int
    out_channels: int
    in_spatial: tuple     # as the engine sees it (explicit padding applied)
    out_spatial: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad_lo: tuple         # implicit zero padding, low side
    tiles: tuple          # T
    tile: int             # positions per packed chunk
    nb: int               # samples per packed chunk
    block: int            # positions per block (whole outer rows)
    shared: bool          # do blocks share weight classes (T < S_out somewhere)?
    buckets: int          # grad_weight partial sums when shared
    threads: int

    def workspaces(self, dtype):
        per_thread = 2 * self.nb * self.in_channels * prod(self.kernel) * self.tile \
            + self.nb * self.out_channels * self.tile
        return (scratch_empty(self.threads * per_thread, dtype),
                scratch_empty(self.threads * 2 * self.tile, np.int64))


def _make_plan(geom, batch, tiles, threads):
    out = geom.out_spatial
    P = prod(out)
    ck = geom.in_channels * prod(geom.kernel)
    per_sample = max(ck, 1) * 8  # bytes of one patch column (float64 keeps plans dtype-free)
    nb = max(1, min(batch, _TILE_BYTES // (per_sample * _MIN_COLUMNS)))
    tile = max(1, min(P, _TILE_BYTES // (nb * per_sample)))
    # Blocks of whole outer rows; two blocks apart never share input rows:
    # (rows + 1) * stride > dilation * (k - 1) on the outermost axis.
    halo = geom.dilation[0] * (geom.kernel[0] - 1)
    inner = max(prod(out[1:]), 1)
    rows = max(halo // geom.stride[0] + 1, -(-tile // inner))
    block = rows * inner
    shared = any(t < o for t, o in zip(tiles, out))
    nblocks = -(-P // block)
    wbytes = max(1, prod(tiles) * geom.out_channels * ck * 8)
    buckets = max(1, min(nblocks, MAX_BUCKETS, BUCKET_BYTES // wbytes)) if shared else 1
    for dim in (ck, geom.out_channels, tile * nb):
        if dim > _INT_MAX:
            raise ValueError(f"a matrix dimension of this convolution ({dim}) exceeds the "
                             f"BLAS integer range; split the input")
    return _LocalPlan(batch, geom.in_channels, geom.out_channels, geom.padded_spatial, out,
                      geom.kernel, geom.stride, geom.dilation,
                      tuple(lo for lo, _ in geom.implicit_pad), tuple(tiles), tile, nb, block,
                      shared, buckets, threads)


def _weight_parts(shape, name, kind):
    """(d, T, C_out, C_in, K) of a local/tiled weight shape."""
    layout = "(*S_out, C_out, C_in, *K)" if kind == "local" else "(*T, C_out, C_in, *K)"
    if len(shape) < 4 or len(shape) % 2:
        raise ValueError(f"{name} must have shape {layout} with d >= 1 spatial dimensions "
                         f"(2d + 2 axes), got shape {tuple(shape)}")
    d = (len(shape) - 2) // 2
    tiles, kernel = tuple(shape[:d]), tuple(shape[d + 2:])
    if any(k < 1 for k in kernel):
        raise ValueError(f"{name} kernel sizes must be >= 1, got shape {tuple(shape)}")
    if kind == "tiled" and any(t < 1 for t in tiles):
        raise ValueError(f"{name} tile sizes T must be >= 1, got shape {tuple(shape)}")
    return d, tiles, shape[d], shape[d + 1], kernel


@dataclass(frozen=True)
class _Problem:
    """One local/tiled convolution: geometry, batch, layout and weight classes."""

    geom: ConvGeometry
    batch: int
    tiles: tuple
    batched: bool
    channels_last: bool
    compute: np.dtype
    result: np.dtype
    threads: int

    def plan(self):
        return _make_plan(self.geom, self.batch, self.tiles, self.threads)

    @property
    def weight_shape(self):
        g = self.geom
        return self.tiles + (g.out_channels, g.in_channels) + g.kernel

    @property
    def out_shape(self):
        g = self.geom
        return _shape_in_layout((self.batch, g.out_channels) + g.out_spatial,
                                self.channels_last, self.batched)

    @property
    def in_shape(self):
        g = self.geom
        return _shape_in_layout((self.batch, g.in_channels) + g.in_spatial,
                                self.channels_last, self.batched)

    def check_grad_out(self, gy):
        if gy.shape != self.out_shape:
            raise ValueError(f"grad_out has shape {gy.shape}, but this convolution's output "
                             f"has shape {self.out_shape}")


def _problem(kind, in_name, in_shape_cf, batched, w_shape, w_name, stride, padding, dilation,
             padding_mode, channels_last, workers, dtype_arrays):
    """Validate a call; ``in_shape_cf`` is the batched, channels-first input shape."""
    d, tiles, c_out, c_in, kernel = _weight_parts(w_shape, w_name, kind)
    if len(in_shape_cf) != d + 2:
        raise ValueError(f"{in_name} has {len(in_shape_cf) - 2} spatial dimensions but "
                         f"{w_name} of shape {tuple(w_shape)} has {d}")
    if any(s < 0 for s in in_shape_cf):
        raise ValueError(f"{in_name} must be non-negative, got {in_shape_cf}")
    geom = ConvGeometry.create(in_shape_cf[2:], kernel, in_channels=in_shape_cf[1],
                               out_channels=c_out, stride=stride, padding=padding,
                               dilation=dilation, padding_mode=padding_mode)
    if c_in != geom.in_channels:
        raise ValueError(f"{in_name} has {geom.in_channels} channels but {w_name} of shape "
                         f"{tuple(w_shape)} expects {c_in}")
    if kind == "local" and tiles != geom.out_spatial:
        raise ValueError(f"{w_name} of shape {tuple(w_shape)} has kernels for output positions "
                         f"{tiles}, but this convolution's output is {geom.out_spatial}")
    compute, result = _dtypes(*dtype_arrays)
    return _Problem(geom, in_shape_cf[0], tiles, batched, bool(channels_last), compute, result,
                    resolve_workers(workers))


def _flat(a):
    return a.reshape(-1)


# -- the three faces on channels-first, batched arrays -----------------------

def _forward(pb, x_cf, w, tied, untied):
    g = pb.geom
    y = np.empty((pb.batch, g.out_channels) + g.out_spatial, pb.compute)
    if y.size == 0:
        return y
    if g.in_channels == 0:
        y[...] = 0 if tied is None else tied.reshape((-1,) + (1,) * g.ndim)
    elif _direct(pb):
        _forward_direct(pb, x_cf, w, tied, y)
    else:
        plan = pb.plan()
        b = np.empty(0, pb.compute) if tied is None else tied
        with _threads.blas_in_workers(_local):
            _local.forward(plan, _flat(_engine_input(g, x_cf, pb.compute)),
                           _flat(np.ascontiguousarray(w, pb.compute)), b, _flat(y),
                           *plan.workspaces(pb.compute))
    if untied is not None:
        y += untied
    return y


# Patch rows of the direct kernels: a few samples' patches stay in L1/L2
# while each weight row of the position streams by once.
_DIRECT_ROWS_BYTES = 64 * 1024
# How far ahead (bytes) the direct forward prefetches the weight stream: the
# hardware prefetchers stop at every 4 KiB page (measured on 3x3 64->64 at
# 28^2, N=8: 9.7 ms without, 5.3-5.9 ms at 4-8 KiB, slower beyond).
_DIRECT_PREFETCH = 4096
# Tests set this False to run unshared layers on GEMM as well.
_DIRECT = True


def _direct(pb):
    """Unshared classes (local_conv, or T >= S_out): the three faces run direct
    kernels that read or write each position's weights once (GEMM would pack
    them first, or write them through a re-layout)."""
    return _DIRECT and all(t >= o for t, o in zip(pb.tiles, pb.geom.out_spatial))


@lru_cache(maxsize=64)
def _cached_runs(koffs_bytes):
    koffs = np.frombuffer(koffs_bytes, np.int64)
    starts = np.flatnonzero(np.diff(koffs, prepend=koffs[0] - 2) != 1)
    lengths = np.diff(np.append(starts, koffs.size))
    return np.stack([koffs[starts], lengths, starts], axis=1).reshape(-1)


def _offset_runs(koffs):
    """``koffs`` as runs of consecutive offsets: (offset, length, position in
    koffs) triples."""
    return _cached_runs(koffs.tobytes())


def _gather_row(k, itemsize):
    """Elements per patch row of the direct kernels: k and the piece the
    gather may write past them, in whole cache lines."""
    return whole_lines(k + _local.GATHER_PIECE, itemsize)


def _direct_rows(a, per_thread, dtype):
    """The direct drivers' workspace: per_thread elements for each thread, in
    whole cache lines from a line boundary (the drivers take each thread's
    share as the workspace's length over the threads)."""
    return scratch_empty(a["nthreads"] * whole_lines(per_thread, np.dtype(dtype).itemsize),
                         dtype)


def _direct_padded_spatial(g):
    """The spatial shape the direct kernels read: the engine's input with its
    implicit zero padding."""
    return tuple(n + lo + hi for n, (lo, hi) in zip(g.padded_spatial, g.implicit_pad))


@lru_cache(maxsize=64)
def _direct_plan(geom, batch, tiles, compute, threads):
    """What the direct kernels need besides the arrays, fixed by the shapes:
    channel 0's patch runs over the padded input, each position's input base
    and weight class, rows per batch run and threads (the keyword arguments
    the three drivers share) and the blocks of grad_input_direct.  Arrays are read-only: shared by the
    cache."""
    g = geom
    spatial = _direct_padded_spatial(g)
    out = g.out_spatial
    # channel 0's offsets: fc_local_gather reads channel c c planes further on
    koffs, rowbase = _offset_tables(spatial, out, g.kernel, g.dilation, g.stride, 1)
    k = koffs.size * g.in_channels
    bases = (rowbase[:, None] + np.arange(out[-1]) * g.stride[-1]).reshape(-1)
    classes = np.ravel_multi_index(tuple(np.indices(out).reshape(len(out), -1)), tiles)
    runs = _offset_runs(koffs)
    itemsize = np.dtype(compute).itemsize
    work = batch * g.out_channels * bases.size * k
    # Up to 8 blocks of whole outer rows, as even as the rows allow (four of
    # each color: even shares for 2 or 4 threads), two apart never reaching
    # the same input: (rows + 1) * stride > dilation * (k - 1) on the
    # outermost axis.  They depend on the shape alone: so does the order of
    # every sum.
    min_rows = g.dilation[0] * (g.kernel[0] - 1) // g.stride[0] + 1
    nblocks = max(1, min(8, out[0] // min_rows))
    blocks = np.unique(np.arange(nblocks + 1) * out[0] // nblocks * prod(out[1:]))
    blocks = blocks.astype(np.int64)
    args = dict(runs=runs, K=k, bases=np.ascontiguousarray(bases, np.int64),
                wbases=classes.astype(np.int64) * (g.out_channels * k),
                ldr=_gather_row(k, itemsize), N=batch, Cin=g.in_channels, Cout=g.out_channels,
                xs=g.in_channels * prod(spatial),
                nb=max(1, min(batch, _DIRECT_ROWS_BYTES // (k * itemsize))),
                nthreads=1 if work < SERIAL_WORK else threads)
    for v in (*args.values(), blocks):
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
    return MappingProxyType(args), blocks


def _direct_input(pb, x_cf):
    """The padded input of the gathering kernels, with a piece of slack for
    the gather (local_impl.h)."""
    g = pb.geom
    xp = pad_or_crop(_engine_input(g, x_cf, pb.compute), g.implicit_pad,
                     slack=_local.GATHER_PIECE, threads=pb.threads)
    return _flat(xp)


def _forward_direct(pb, x_cf, w, tied, y):
    a, _ = _direct_plan(pb.geom, pb.batch, pb.tiles, pb.compute, pb.threads)
    rows = _direct_rows(a, a["nb"] * a["ldr"], pb.compute)
    _local.forward_direct(_direct_input(pb, x_cf),
                          w=_flat(np.ascontiguousarray(w, pb.compute)),
                          bias=np.empty(0, pb.compute) if tied is None else tied,
                          y=_flat(y), rows=rows, ahead=_DIRECT_PREFETCH, **a)


def _grad_weight_direct(pb, x_cf, gy_cf, gw):
    a, _ = _direct_plan(pb.geom, pb.batch, pb.tiles, pb.compute, pb.threads)
    rows = _direct_rows(a, a["nb"] * (a["ldr"] + a["Cout"]), pb.compute)
    _local.grad_weight_direct(_direct_input(pb, x_cf),
                              gy=_flat(np.ascontiguousarray(gy_cf, pb.compute)),
                              gw=_flat(gw), rows=rows, **a)


def _grad_input_direct(pb, gy_cf, w):
    """The input gradient on the engine's (explicitly padded) input grid."""
    g = pb.geom
    a, blocks = _direct_plan(g, pb.batch, pb.tiles, pb.compute, pb.threads)
    # a temporary when the result is a crop of it
    cropped = any(lo or hi for lo, hi in g.implicit_pad)
    gxp = (scratch_zeros if cropped else np.zeros)(
        (pb.batch, g.in_channels) + _direct_padded_spatial(g), pb.compute)
    rows = _direct_rows(a, a["nb"] * (a["ldr"] + a["Cout"]), pb.compute)
    _local.grad_input_direct(_flat(gxp), w=_flat(np.ascontiguousarray(w, pb.compute)),
                             gy=_flat(np.ascontiguousarray(gy_cf, pb.compute)), rows=rows,
                             blocks=blocks, **a)
    crop = tuple(slice(lo, lo + n) for n, (lo, _) in zip(g.padded_spatial, g.implicit_pad))
    return np.ascontiguousarray(gxp[(slice(None), slice(None)) + crop])


def _grad_input(pb, gy_cf, w):
    g = pb.geom
    shape = (pb.batch, g.in_channels) + g.padded_spatial
    if gy_cf.size and prod(shape) and _direct(pb):
        gx = _grad_input_direct(pb, gy_cf, w)
    else:
        gx = np.zeros(shape, pb.compute)
    if gy_cf.size and gx.size and not _direct(pb):
        plan = pb.plan()
        with _threads.blas_in_workers(_local):
            _local.grad_input(plan, _flat(np.ascontiguousarray(gy_cf, pb.compute)),
                              _flat(np.ascontiguousarray(w, pb.compute)), _flat(gx),
                              *plan.workspaces(pb.compute))
    if g.padding_mode != "zeros":
        gx = _padding.pad_adjoint(gx, g.in_spatial, g.pad, g.padding_mode)
    return gx


def _grad_weight(pb, x_cf, gy_cf):
    # the engine overwrites every class some position uses (all of them when
    # T = S_out): no zeroing pass over a weight as large as the locally connected one
    every_class_used = pb.tiles == pb.geom.out_spatial and gy_cf.size
    gw = (np.empty if every_class_used else np.zeros)(pb.weight_shape, pb.compute)
    if gy_cf.size and gw.size and _direct(pb):
        _grad_weight_direct(pb, x_cf, gy_cf, gw)
    elif gy_cf.size and gw.size:
        plan = pb.plan()
        partial = scratch_empty(plan.buckets * gw.size if plan.buckets > 1 else 0, pb.compute)
        with _threads.blas_in_workers(_local):
            _local.grad_weight(plan, _flat(_engine_input(pb.geom, x_cf, pb.compute)),
                               _flat(np.ascontiguousarray(gy_cf, pb.compute)), _flat(gw),
                               partial if partial.size else _flat(gw),
                               *plan.workspaces(pb.compute))
        if partial.size:  # bucket sums, added in bucket order
            np.sum(partial.reshape(plan.buckets, -1), axis=0, out=_flat(gw))
    return gw


# -- public API (shared by the local and tiled names) ------------------------

def _run_forward(kind, x, w, bias, stride, padding, dilation, padding_mode, channels_last,
                 out, workers):
    x = _as_real_array(x, "x")
    w = _as_real_array(w, "w")
    d = _weight_parts(w.shape, "w", kind)[0]
    batched = _is_batched(x.ndim, d, "x", x.shape)
    x_cf = _channels_first(x if batched else x[None], channels_last)
    pb = _problem(kind, "x", x_cf.shape, batched, w.shape, "w", stride, padding, dilation,
                  padding_mode, channels_last, workers, (x, w))
    tied, untied = _bias(bias, pb.geom, pb.compute)
    _check_out(out, pb.out_shape, pb.result)
    y = _forward(pb, x_cf, w, tied, untied)
    return _deliver(y, out, pb.result, pb.channels_last, batched)


def _run_grad_input(kind, grad_out, w, input_shape, stride, padding, dilation, padding_mode,
                    channels_last, out, workers):
    gy = _as_real_array(grad_out, "grad_out")
    w = _as_real_array(w, "w")
    d = _weight_parts(w.shape, "w", kind)[0]
    input_shape = _as_shape(input_shape, "input_shape")
    batched = _is_batched(len(input_shape), d, "input_shape", input_shape)
    shape_cf = input_shape if batched else (1,) + input_shape
    if channels_last:
        shape_cf = (shape_cf[0], shape_cf[-1]) + tuple(shape_cf[1:-1])
    pb = _problem(kind, "input_shape", shape_cf, batched, w.shape, "w", stride, padding, dilation,
                  padding_mode, channels_last, workers, (gy, w))
    pb.check_grad_out(gy)
    _check_out(out, input_shape, pb.result)
    gy_cf = _channels_first(gy if batched else gy[None], channels_last)
    gx = _grad_input(pb, gy_cf, w)
    return _deliver(gx, out, pb.result, pb.channels_last, batched)


def _run_grad_weight(kind, x, grad_out, weight_shape, stride, padding, dilation, padding_mode,
                     channels_last, out, workers):
    x = _as_real_array(x, "x")
    gy = _as_real_array(grad_out, "grad_out")
    weight_shape = _as_shape(weight_shape, "weight_shape")
    if any(s < 0 for s in weight_shape):
        raise ValueError(f"weight_shape must be non-negative, got {weight_shape}")
    d = _weight_parts(weight_shape, "weight_shape", kind)[0]
    batched = _is_batched(x.ndim, d, "x", x.shape)
    x_cf = _channels_first(x if batched else x[None], channels_last)
    pb = _problem(kind, "x", x_cf.shape, batched, weight_shape, "weight_shape", stride, padding,
                  dilation, padding_mode, channels_last, workers, (x, gy))
    pb.check_grad_out(gy)
    _check_out(out, weight_shape, pb.result)
    gy_cf = _channels_first(gy if batched else gy[None], channels_last)
    gw = _grad_weight(pb, x_cf, gy_cf)
    if out is not None:
        np.copyto(out, gw, casting="unsafe")
        return out
    return gw.astype(pb.result, copy=False)


_COMMON = """stride : int or sequence of d ints, default 1
        Step between output positions, as for :func:`fastconv.conv`.
    padding : int, d ints, d (lo, hi) pairs, "valid", "same" or "full", default 0
        As for :func:`fastconv.conv`.
    dilation : int or sequence of d ints, default 1
        Spacing between kernel taps, as for :func:`fastconv.conv`.
    padding_mode : {"zeros", "reflect", "replicate", "circular", "mean"}, default "zeros"
        As for :func:`fastconv.conv`; the adjoints fold the padding back.
    channels_last : bool, default False
        Data (input, output, grad_out) is (N, *S, C); the weight layout never changes.
    out : ndarray, optional
        Array to write the result into: exactly its shape and dtype, writeable
        and C-contiguous in the chosen layout.
    workers : None, int > 0 or -1, default None
        Threads, as for :func:`fastconv.conv`.  Results do not depend on it."""



def local_conv(x, w, bias=None, *, stride=1, padding=0, dilation=1, padding_mode="zeros",
               channels_last=False, out=None, workers=None):
    """Unshared (locally connected) convolution: every output position has its own kernel.

    ``y[n, o, p] = bias[o] + sum_{c, t} w[p, o, c, t] * xpad[n, c, p*stride + t*dilation]``

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        Input of any real dtype; channels last with ``channels_last=True``.
    w : array_like, shape (*S_out, C_out, C_in, *K)
        One (C_out, C_in, *K) kernel per output position; d = (w.ndim - 2) / 2
        and ``S_out`` must be this convolution's output size.
    bias : array_like, shape (C_out,) or untied (C_out, *S_out), optional
        Added per output channel (or per channel and position).  Default: none.
    {common}

    {returns}

    See Also
    --------
    tiled_conv : Kernels repeating with a period T; ``local_conv`` is ``T = S_out``.
    local_conv_grad_input, local_conv_grad_weight : Its gradients.
    fastconv.conv : One kernel shared by all positions.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> w = np.zeros((3, 1, 1, 3))          # S_out = 3 kernels of size 3, 1 -> 1 channel
    >>> w[:, 0, 0, 0] = [0, 1, 2]           # output p is p * x[p]
    >>> fastconv.local_conv(np.arange(5.0)[None], w)
    array([[0., 1., 4.]])

    The same kernel at every position is an ordinary convolution:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 8, 8))
    >>> k = rng.standard_normal((4, 3, 3, 3))
    >>> w = np.broadcast_to(k, (6, 6) + k.shape)
    >>> bool(np.allclose(fastconv.local_conv(x, w), fastconv.conv(x, k)))
    True
    """
    return _run_forward("local", x, w, bias, stride, padding, dilation, padding_mode,
                        channels_last, out, workers)


def tiled_conv(x, w, bias=None, *, stride=1, padding=0, dilation=1, padding_mode="zeros",
               channels_last=False, out=None, workers=None):
    """Tiled convolution: the kernel of output position ``p`` is ``w[p % T]``.

    ``y[n, o, p] = bias[o] + sum_{c, t} w[p % T, o, c, t] * xpad[n, c, p*stride + t*dilation]``

    ``T = (1, ..., 1)`` is :func:`fastconv.conv` (``groups=1``); ``T = S_out`` is
    :func:`local_conv`; any T >= 1 works (T larger than S_out leaves kernels unused).

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        Input of any real dtype; channels last with ``channels_last=True``.
    w : array_like, shape (*T, C_out, C_in, *K)
        T kernels of shape (C_out, C_in, *K) per spatial axis, tile sizes >= 1.
    bias : array_like, shape (C_out,) or untied (C_out, *S_out), optional
        Added per output channel (or per channel and position).  Default: none.
    {common}

    {returns}

    See Also
    --------
    local_conv : The case ``T = S_out``.
    tiled_conv_grad_input, tiled_conv_grad_weight : Its gradients.
    fastconv.conv : The case ``T = (1, ..., 1)``.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 8, 8))
    >>> w = rng.standard_normal((2, 2, 4, 3, 3, 3))     # T = (2, 2), 3 -> 4 channels
    >>> y = fastconv.tiled_conv(x, w, padding=1)
    >>> y.shape
    (2, 4, 8, 8)

    Rows ``2i`` and columns ``2j + 1`` use the kernel ``w[0, 1]``:

    >>> ref = fastconv.conv(x, w[0, 1], padding=1)
    >>> bool(np.allclose(y[:, :, ::2, 1::2], ref[:, :, ::2, 1::2]))
    True
    """
    return _run_forward("tiled", x, w, bias, stride, padding, dilation, padding_mode,
                        channels_last, out, workers)


_FORWARD_RETURNS = """Returns
    -------
    y : ndarray, shape (N, C_out, *S_out)
        Unbatched or channels last as ``x``; ``S_out`` as for
        :func:`fastconv.conv`.  dtype: float64 if ``x`` and ``w`` are
        integer/bool, float16 if they promote to float16 (computed in
        float32), else ``np.result_type(x, w, np.float32)``.  ``out`` when given.

    Raises
    ------
    TypeError
        ``x``, ``w`` or ``bias`` complex or non-numeric; non-integer
        ``stride``, ``padding`` or ``dilation``; ``out`` not an ndarray.
    ValueError
        ``w`` not of 2d + 2 axes, a kernel (or tile) size < 1; ``x`` of
        another rank or channel count than ``w``; for ``local_conv``, ``w``
        not having one kernel per output position; invalid ``stride``,
        ``padding``, ``dilation`` or ``padding_mode``; ``bias`` or ``out`` of
        another shape (or ``out`` of another dtype, read-only or not
        C-contiguous)."""


_WEIGHT = {"local": "(*S_out, C_out, C_in, *K)", "tiled": "(*T, C_out, C_in, *K)"}
_GRAD_WEIGHT_FORMULA = {
    "local": "``gw[p, o, c, t] = sum_n grad_out[n, o, p] * xpad[n, c, p*stride + t*dilation]``",
    "tiled": "``gw[r, o, c, t]`` sums ``grad_out[n, o, p] * xpad[n, c, p*stride + t*dilation]`` "
             "over the samples and the output positions p with ``p % T == r``",
}


_GRAD_RAISES = """Raises
    ------
    TypeError
        Complex or non-numeric arrays, a shape that is not a sequence of
        ints; otherwise as :func:`{kind}_conv`.
    ValueError
        ``grad_out`` not of the forward output's shape, a negative size in the
        given shape; otherwise as :func:`{kind}_conv`."""

_GRAD_EXAMPLES = {
    "local": """\
    >>> import numpy as np, fastconv
    >>> w = np.zeros((3, 1, 1, 3))                 # output p is p * x[p]
    >>> w[:, 0, 0, 0] = [0, 1, 2]
    >>> fastconv.local_conv_grad_input(np.ones((1, 3)), w, (1, 5))
    array([[0., 1., 2., 0., 0.]])
    >>> fastconv.local_conv_grad_weight(np.arange(5.0)[None], np.ones((1, 3)), w.shape)[:, 0, 0]
    array([[0., 1., 2.],
           [1., 2., 3.],
           [2., 3., 4.]])""",
    "tiled": """\
    >>> import numpy as np, fastconv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 8, 8))
    >>> w = rng.standard_normal((2, 2, 4, 3, 3, 3))     # T = (2, 2)
    >>> y = fastconv.tiled_conv(x, w, padding=1)
    >>> g = rng.standard_normal(y.shape)
    >>> gx = fastconv.tiled_conv_grad_input(g, w, x.shape, padding=1)
    >>> gw = fastconv.tiled_conv_grad_weight(x, g, w.shape, padding=1)
    >>> print(gx.shape, gw.shape)
    (2, 3, 8, 8) (2, 2, 4, 3, 3, 3)
    >>> bool(np.isclose(np.vdot(y, g), np.vdot(x, gx)))      # adjoint in x
    True
    >>> bool(np.isclose(np.vdot(y, g), np.vdot(w, gw)))      # adjoint in w
    True""",
}


def _grad_input_api(kind):
    def grad_input(grad_out, w, input_shape, *, stride=1, padding=0, dilation=1,
                   padding_mode="zeros", channels_last=False, out=None, workers=None):
        return _run_grad_input(kind, grad_out, w, input_shape, stride, padding, dilation,
                               padding_mode, channels_last, out, workers)

    grad_input.__name__ = grad_input.__qualname__ = f"{kind}_conv_grad_input"
    grad_input.__doc__ = f"""Gradient of :func:`{kind}_conv` w.r.t. its input (its exact adjoint).

    Parameters
    ----------
    grad_out : array_like, shape of the forward output
        (N, C_out, *S_out), unbatched or channels last as the forward returns it.
    w : array_like, shape {_WEIGHT[kind]}
        The weight of the forward call.
    input_shape : sequence of ints
        The whole shape of ``x`` in the chosen layout (batched or unbatched).
    {_COMMON}

    Returns
    -------
    grad_x : ndarray, shape ``input_shape``
        The dtype is float64 if ``grad_out`` and ``w`` are integer/bool, float16 if
        they promote to float16 (computed in float32), else
        ``np.result_type(grad_out, w, np.float32)``.  ``out`` when given.

    {_GRAD_RAISES.format(kind=kind)}

    See Also
    --------
    {kind}_conv, {kind}_conv_grad_weight

    Examples
    --------
{_GRAD_EXAMPLES[kind]}
    """
    return grad_input


def _grad_weight_api(kind):
    def grad_weight(x, grad_out, weight_shape, *, stride=1, padding=0, dilation=1,
                    padding_mode="zeros", channels_last=False, out=None, workers=None):
        return _run_grad_weight(kind, x, grad_out, weight_shape, stride, padding, dilation,
                                padding_mode, channels_last, out, workers)

    grad_weight.__name__ = grad_weight.__qualname__ = f"{kind}_conv_grad_weight"
    grad_weight.__doc__ = f"""Gradient of :func:`{kind}_conv` w.r.t. its weight.

    {_GRAD_WEIGHT_FORMULA[kind]},
    summed in an order fixed by the shapes (bitwise the same whatever ``workers`` is).

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        The input of the forward call.
    grad_out : array_like, shape of the forward output
        (N, C_out, *S_out), in the layout of ``x``.
    weight_shape : sequence of ints, {_WEIGHT[kind]}
        Shape of the weight.
    {_COMMON}

    Returns
    -------
    grad_w : ndarray, shape ``weight_shape``
        The dtype is float64 if ``x`` and ``grad_out`` are integer/bool, float16 if
        they promote to float16 (computed in float32), else
        ``np.result_type(x, grad_out, np.float32)``.  ``out`` when given.

    {_GRAD_RAISES.format(kind=kind)}

    See Also
    --------
    {kind}_conv, {kind}_conv_grad_input

    Examples
    --------
{_GRAD_EXAMPLES[kind]}
    """
    return grad_weight



local_conv_grad_input = _grad_input_api("local")
tiled_conv_grad_input = _grad_input_api("tiled")
local_conv_grad_weight = _grad_weight_api("local")
tiled_conv_grad_weight = _grad_weight_api("tiled")

for _f in (local_conv, tiled_conv):
    _f.__doc__ = _f.__doc__.replace("{common}", _COMMON).replace("{returns}", _FORWARD_RETURNS)
