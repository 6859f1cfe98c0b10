"""Chunked convolution of dask arrays (DESIGN §1.5): ``fastconv.dask.conv``.

``import fastconv`` never imports dask; ``import fastconv.dask`` does.

How the graph is built
----------------------
The result is chunked over the batch axis and the spatial axes (the channel
axis of the input is made a single chunk).  Its spatial chunks follow the
input's: an input chunk boundary ``b`` becomes the output boundary
``ceil((b + lo - halo // 2) / stride)``, so a stride-1 ``"same"`` convolution
keeps the input chunks exactly.

Each output block ``[o0, o1)`` (per spatial axis) reads the padded input
``[o0 * stride, (o1 - 1) * stride + halo + 1)``, ``halo = dilation * (k - 1)``,
and is one task: it copies the parts of the (few) input blocks it needs into
one buffer, maps padded positions to input positions with the same index maps
``conv`` pads with (``fastconv._padding.source_index``: reflect = ndimage
"mirror", replicate = "nearest", circular = "wrap", also for pads wider than
the input; zeros and mean fill a constant), and runs an unpadded ("valid")
:func:`fastconv.conv` on it.  A task therefore depends only on the input
blocks its window touches -- neighbours, or, for ``"circular"``, the blocks at
the other end of the axis -- whatever the chunk sizes (chunks smaller than the
halo simply pull in more neighbours; stride and chunk sizes need not divide).
A strip of less than half a neighbour block is copied out by a small task of
its own, so that a block is released once its own output block and the
strips have been computed (the memory of a pass stays a few rows of blocks).
``"mean"`` padding uses the per-(sample, channel) mean as a dask reduction.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import isnan, prod

import dask.array as da
import numpy as np
from dask.array.core import Array
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from fastconv import _padding
from fastconv._threads import resolve_workers
from fastconv.conv import (
    _as_real_array, _bias, _dtypes, _geometry, _is_batched, _spatial_rank,
)
from fastconv.conv import conv as _conv

__all__ = ["conv"]


# -- per-axis planning ---------------------------------------------------------

def _output_chunks(in_chunks, lo, halo, stride, out):
    """Output chunks of one spatial axis, derived from the input chunks."""
    if out == 0:
        return (0,)
    bounds = {0, out}
    pos = 0
    for c in in_chunks[:-1]:
        pos += c
        o = -(-(pos + lo - halo // 2) // stride)
        if 0 < o < out:
            bounds.add(o)
    b = sorted(bounds)
    return tuple(int(e - s) for s, e in itertools.pairwise(b))


@dataclass(frozen=True, eq=False)
class _AxisPlan:
    """How one output chunk gathers its window along one spatial axis.

    ``pieces``: (input block index, slice within that block, slice within the
    compact buffer); ``length``: compact buffer length; ``index``: for each
    window position, its index in the compact buffer (-1 = constant fill), or
    None when the window *is* the compact buffer.
    """

    pieces: tuple
    length: int
    index: object


def _axis_plans(n, lo, hi, mode, halo, stride, in_chunks, out_chunks):
    bounds = np.concatenate([[0], np.cumsum(in_chunks)]).astype(np.int64)
    full = None if mode in ("zeros", "mean") else _padding.source_index(n, lo, hi, mode)
    plans = []
    o0 = 0
    for m in out_chunks:
        start, stop = o0 * stride, (o0 + m - 1) * stride + halo + 1
        o0 += m
        if m == 0:
            plans.append(_AxisPlan((), 0, None))
            continue
        if full is None:
            g = np.arange(start - lo, stop - lo)
            src = np.where((g >= 0) & (g < n), g, -1)
        else:
            src = full[start:stop]
        valid = src >= 0
        blk = np.searchsorted(bounds, src[valid], side="right") - 1
        index = np.full(src.shape, -1, np.int64)
        pieces, offset = [], 0
        for i in np.unique(blk):
            local = src[valid][blk == i] - bounds[i]
            a, b = int(local.min()), int(local.max()) + 1
            pieces.append((int(i), slice(a, b), slice(offset, offset + b - a)))
            sel = np.flatnonzero(valid)[blk == i]
            index[sel] = offset + local - a
            offset += b - a
        if offset == index.size and np.array_equal(index, np.arange(offset)):
            index = None
        else:
            index.flags.writeable = False
        plans.append(_AxisPlan(tuple(pieces), offset, index))
    return plans


# -- the task ------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _BlockPlan:
    """Everything one output block needs besides its input blocks (a plain
    object, so that dask does not look inside it for keys)."""

    batch: int
    channels: int
    dtype: object
    pieces: tuple          # per input block (in task order): (src slices, dst slices)
    lengths: tuple         # compact buffer spatial shape
    indices: tuple         # per axis: index map or None
    conv_kwargs: tuple     # stride, dilation, groups, workers
    channels_last: bool
    result: object         # result dtype


def _gather(a, axis, index, fill):
    """``a`` with ``axis`` replaced by ``a[index]`` along it (-1 -> ``fill``)."""
    shape = list(a.shape)
    shape[axis] = index.size
    valid = np.flatnonzero(index >= 0)
    lead = (slice(None),) * axis
    if valid.size == 0:
        out = np.empty(shape, a.dtype)
        out[...] = fill
        return out
    first, last = int(valid[0]), int(valid[-1]) + 1
    start = int(index[first])
    if last - first == valid.size and np.array_equal(index[first:last],
                                                     np.arange(start, start + valid.size)):
        out = np.empty(shape, a.dtype)
        out[lead + (slice(first, last),)] = a[lead + (slice(start, start + valid.size),)]
        out[lead + (slice(0, first),)] = fill
        out[lead + (slice(last, None),)] = fill
        return out
    out = np.take(a, np.where(index >= 0, index, 0), axis=axis)
    if valid.size < index.size:
        out[lead + (np.flatnonzero(index < 0),)] = fill
    return out


def _copy_part(block, src):
    """A copy (not a view, which would keep the whole block alive) of a part."""
    return block[(slice(None), slice(None)) + src].copy()


def _conv_block(blocks, mean, untied, params, plan):
    """One output block: gather the padded window, then a valid ``conv``."""
    w, tied = params
    if len(blocks) == 1 and all(ix is None for ix in plan.indices):
        src, _ = plan.pieces[0]
        window = blocks[0][(slice(None), slice(None)) + src]
    else:
        window = np.empty((plan.batch, plan.channels) + plan.lengths, plan.dtype)
        for blk, (src, dst) in zip(blocks, plan.pieces):
            window[(slice(None), slice(None)) + dst] = blk[(slice(None), slice(None)) + src]
        fill = 0 if mean is None else mean.reshape(mean.shape + (1,) * len(plan.lengths))
        for a, ix in enumerate(plan.indices):
            if ix is not None:
                window = _gather(window, 2 + a, ix, fill)
    stride, dilation, groups, workers = plan.conv_kwargs
    y = _conv(window, w, tied, stride=stride, dilation=dilation, groups=groups,
              workers=workers)
    if untied is not None:
        y += untied
    if plan.channels_last:
        y = np.ascontiguousarray(np.moveaxis(y, 1, -1))
    return y.astype(plan.result, copy=False)


# -- public --------------------------------------------------------------------

def conv(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
         channels_last=False, workers=1):
    """:func:`fastconv.conv` of a dask array, chunked over batch and space.

    The same contract as :func:`fastconv.conv` (DESIGN §1.1) -- cross-correlation,
    every ``padding`` form and ``padding_mode``, ``dilation``, ``groups``, tied
    or untied ``bias``, ``channels_last``, unbatched input -- with a lazy
    result whose computed value equals ``fastconv.conv(x.compute(), w, ...)``.
    Each output block is one task that reads only the input blocks under its
    window (plus the halo ``dilation * (k - 1)``, split as the padding says)
    and runs an unpadded ``fastconv.conv`` on them, padding with the same index
    maps ``conv`` uses, so no task ever holds the whole input.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C_in, *S) or unbatched (C_in, *S)
        With ``channels_last=True``: (N, *S, C_in) or (*S, C_in).  Any chunking
        with known chunk sizes; the channel axis is rechunked to one chunk if
        it is split.  A NumPy array is refused (call :func:`fastconv.conv`, or
        wrap it with ``dask.array.from_array``).
    w : array_like, shape (C_out, C_in/groups, *K)
        In memory (a dask array is computed); the spatial rank d is ``w.ndim - 2``.
    bias : array_like or dask.array.Array, shape (C_out,) or untied (C_out, *S_out), optional
        An untied dask bias stays lazy and is rechunked like the output.
    stride, dilation : int or sequence of d ints
    padding : int, d ints, d (lo, hi) pairs, "valid", "same" or "full"
        As in :func:`fastconv.conv`.
    groups : int
    padding_mode : {"zeros", "reflect", "replicate", "circular", "mean"}
        As in :func:`fastconv.conv` (ndimage "constant" 0, "mirror", "nearest",
        "wrap"; "mean" = the per-(sample, channel) mean of the input).
    channels_last : bool
    workers : None, int > 0 or -1, default 1
        Threads of each block's ``fastconv.conv``.  The default is 1 because
        dask already runs blocks in parallel; ``None`` = the library default.

    Returns
    -------
    y : dask.array.Array, shape (N, C_out, *S_out) (or the chosen layout / unbatched)
        dtype as :func:`fastconv.conv` (``np.result_type(x, w, np.float32)``;
        integer input gives float64, float16 is computed in float32).  Chunks:
        the input's batch chunks, one chunk of output channels, and spatial
        chunks that follow the input's (identical for stride 1 with
        ``padding="same"``).

    Raises
    ------
    TypeError
        ``x`` is not a dask array; complex or non-numeric input.
    ValueError
        Inconsistent shapes, channels, groups or parameters (the messages of
        :func:`fastconv.conv`, e.g. naming ``padding_mode``); chunk sizes
        that are not known (call ``x.compute_chunk_sizes()`` first).

    Notes
    -----
    Every block runs ``fastconv.conv`` on a window of the same padded input,
    so the values are those of ``fastconv.conv`` up to the order in which the
    engine sums the taps of one output.  That order is the same wherever the
    output sits for the implicit-GEMM, direct and depthwise kernels and for
    single-channel filtering with the non-zero modes: there the result is
    bitwise equal.  The im2col + BLAS path (e.g. stride > 1 on the last axis,
    or few output channels), single-channel filtering with ``"zeros"`` (which
    ``conv`` pads implicitly) and ``"mean"`` (whose fill value is a chunked
    dask reduction) agree to rounding (measured within 1e-6 of max|y| in
    float32, 1e-12 in float64).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastconv, fastconv.dask
    >>> rng = np.random.default_rng(0)
    >>> img = rng.standard_normal((1, 1, 300, 200)).astype(np.float32)
    >>> w = np.full((1, 1, 5, 5), 1 / 25, np.float32)
    >>> x = da.from_array(img, chunks=(1, 1, 128, 64))
    >>> y = fastconv.dask.conv(x, w, padding="same", padding_mode="reflect")
    >>> y.numblocks
    (1, 1, 3, 4)
    >>> ref = fastconv.conv(img, w, padding="same", padding_mode="reflect")
    >>> bool(np.array_equal(y.compute(), ref))
    True
    """
    if not isinstance(x, Array):
        raise TypeError(
            f"x must be a dask.array.Array, got {type(x).__name__}; use fastconv.conv for "
            f"in-memory arrays or wrap x with dask.array.from_array"
        )
    if any(isnan(c) for chunks in x.chunks for c in chunks):
        raise ValueError(f"x has unknown chunk sizes (shape {x.shape}); call "
                         f"x.compute_chunk_sizes() first")
    _as_real_array(np.empty(0, x.dtype), "x")
    w = _as_real_array(w, "w")
    d = _spatial_rank(w)
    batched = _is_batched(x.ndim, d, "x", x.shape)
    compute, result = _dtypes(np.empty(0, x.dtype), w)
    threads = resolve_workers(workers)
    xs = x if batched else x[None]
    if channels_last:
        xs = da.moveaxis(xs, -1, 1)
    n_batch, c_in = xs.shape[:2]
    spatial = xs.shape[2:]
    geom = _geometry(spatial, w.shape[2:], c_in, w.shape[0], stride, padding, dilation,
                     groups, padding_mode, w.shape)
    tied, untied = _check_bias(bias, geom, compute)
    w = np.ascontiguousarray(w, compute)
    xs = xs.astype(compute)
    if xs.numblocks[1] > 1:
        xs = xs.rechunk({1: -1})

    halos = [dl * (k - 1) for k, dl in zip(geom.kernel, geom.dilation)]
    out_chunks = tuple(
        _output_chunks(ch, lo, halo, s, o)
        for ch, (lo, _), halo, s, o in zip(xs.chunks[2:], geom.pad, halos, geom.stride,
                                          geom.out_spatial))
    chunks_cf = (xs.chunks[0], (geom.out_channels,)) + out_chunks
    n_out = n_batch * geom.out_channels * prod(geom.out_spatial)
    if n_out == 0 or c_in == 0:
        y = _constant_result(chunks_cf, tied, untied, compute, geom.ndim)
        if channels_last:
            y = da.moveaxis(y, 1, -1)
        y = y.astype(result)
        return y if batched else y[0]
    if geom.padding_mode != "zeros":
        _padding._check(spatial, geom.pad, geom.padding_mode)  # conv's own error

    mean = None
    if geom.padding_mode == "mean" and any(lo or hi for lo, hi in geom.pad):
        mean = xs.mean(axis=tuple(range(2, 2 + geom.ndim)))
    if untied is not None:
        untied = da.asarray(untied).astype(compute).rechunk(chunks_cf[1:])

    axes = [_axis_plans(nn, lo, hi, geom.padding_mode, halo, s, ch, oc)
            for nn, (lo, hi), halo, s, ch, oc in zip(spatial, geom.pad, halos, geom.stride,
                                                     xs.chunks[2:], out_chunks)]
    token = tokenize(xs.name, w, tied, None if untied is None else untied.name, geom,
                     channels_last, threads, str(result))
    name = f"fastconv-conv-{token}"
    params_key = (f"fastconv-conv-weights-{token}",)
    layer = {params_key: (w, tied)}
    conv_kwargs = (geom.stride, geom.dilation, geom.groups, threads)
    halo_name = f"fastconv-conv-halo-{token}"
    slivers = {}
    whole = (slice(None),) * geom.ndim
    for b, nb in enumerate(xs.chunks[0]):
        for js in itertools.product(*(range(len(oc)) for oc in out_chunks)):
            plans = [axes[a][j] for a, j in enumerate(js)]
            keys, pieces = [], []
            for combo in itertools.product(*(p.pieces for p in plans)):
                idx = tuple(i for i, _, _ in combo)
                src = tuple(s for _, s, _ in combo)
                key = (xs.name, b, 0) + idx
                if 2 * prod(s.stop - s.start for s in src) < prod(
                        xs.chunks[2 + a][i] for a, i in enumerate(idx)):
                    # A strip of a neighbour: copied out by a small task of its
                    # own, so that the neighbour block can be released early.
                    sig = (b,) + idx + tuple((s.start, s.stop) for s in src)
                    if sig not in slivers:
                        slivers[sig] = (halo_name, len(slivers))
                        layer[slivers[sig]] = (_copy_part, key, src)
                    key, src = slivers[sig], whole
                keys.append(key)
                pieces.append((src, tuple(t for _, _, t in combo)))
            plan = _BlockPlan(nb, c_in, compute, tuple(pieces), tuple(p.length for p in plans),
                              tuple(p.index for p in plans), conv_kwargs, channels_last,
                              result)
            out_key = (name, b, 0) + js
            if channels_last:
                out_key = (name, b) + js + (0,)
            layer[out_key] = (_conv_block, keys,
                              None if mean is None else (mean.name, b, 0),
                              None if untied is None else (untied.name, 0) + js,
                              params_key, plan)
    deps = [xs] + [a for a in (mean, untied) if a is not None]
    graph = HighLevelGraph.from_collections(name, layer, dependencies=deps)
    chunks = chunks_cf
    if channels_last:
        chunks = (chunks_cf[0],) + chunks_cf[2:] + (chunks_cf[1],)
    y = Array(graph, name, chunks, meta=np.empty((0,) * len(chunks), result))
    return y if batched else y[0]


def _check_bias(bias, geom, compute):
    """conv's bias validation; an untied dask bias is kept lazy."""
    if not isinstance(bias, Array):
        return _bias(bias, geom, compute)
    _as_real_array(np.empty(0, bias.dtype), "bias")
    stand_in = np.broadcast_to(np.zeros((), compute), bias.shape)
    tied, _ = _bias(stand_in, geom, compute)
    if tied is not None:
        return np.asarray(bias.astype(compute).compute()), None
    return None, bias


def _constant_result(chunks, tied, untied, compute, d):
    """A result with no data to convolve: empty, or no input channels (bias only)."""
    y = da.zeros(tuple(sum(c) for c in chunks), dtype=compute, chunks=chunks)
    if tied is not None:
        y = y + tied.reshape((-1,) + (1,) * d)
    if untied is not None:
        y = y + da.asarray(untied).astype(compute).rechunk(chunks[1:])
    return y
