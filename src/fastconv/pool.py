"""Max and average pooling and their gradients, with the semantics of
``torch.nn.functional.max_poolNd`` / ``avg_poolNd``.

The window geometry (kernel, stride, padding, dilation, ceil_mode) is a
``ConvGeometry``; this module validates arguments, applies the dtype and
layout policy of :mod:`fastconv.conv` and calls the direct kernels of
``include/fastconv/pool.h`` through ``fastconv._ext._pool``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from fastconv._engine import DIRECT_BLOCK, scratch_empty
from fastconv._ext import _pool
from fastconv._geometry import ConvGeometry, normalize_tuple
from fastconv._threads import resolve_workers
from fastconv.conv import _as_real_array, _as_shape, _dtypes
from fastconv._validate import aligned

__all__ = ["max_pool", "avg_pool", "max_pool_grad", "avg_pool_grad",
           "global_avg_pool", "global_max_pool"]


def _as_bool(value, name):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {value!r}")


@dataclass(frozen=True)
class _PoolPlan:
    """What the drivers of ``_ext/_pool.pyx`` read (see ``make_geom``)."""

    planes: int           # independent images
    vector: int           # values per position: C for channels-last data, else 1
    in_spatial: tuple     # of one plane
    out_spatial: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad_lo: tuple
    block_rows: int       # output rows (all axes but the last) per block
    threads: int


@dataclass(frozen=True)
class _Pooling:
    """One pooling problem: its geometry, layout and engine plan."""

    geom: ConvGeometry
    batch: int
    channels: int
    batched: bool
    channels_last: bool
    plan: _PoolPlan

    @property
    def out_shape(self):
        """Output (and grad_out) shape in the caller's layout."""
        spatial = self.geom.out_spatial
        if self.channels_last:
            shape = (self.batch,) + spatial + (self.channels,)
        else:
            shape = (self.batch, self.channels) + spatial
        return shape if self.batched else shape[1:]

    @property
    def engine_in_shape(self):
        """Input shape in the caller's layout, batched."""
        spatial = self.geom.in_spatial
        if self.channels_last:
            return (self.batch,) + spatial + (self.channels,)
        return (self.batch, self.channels) + spatial

    def batched_view(self, a):
        return a if self.batched else a[None]

    def deliver(self, res, result):
        res = res if self.batched else res[0]
        return res if res.dtype == result else res.astype(result)


def _rank(kernel_size, ndim, name):
    """(spatial rank, batched) from kernel_size and the rank of the input."""
    if isinstance(kernel_size, (str, bytes)):
        raise TypeError(f"kernel_size must be an int or a sequence of ints, got {kernel_size!r}")
    try:
        d = len(kernel_size)
    except TypeError:
        if ndim < 3:
            raise ValueError(
                f"{name} must have shape (N, C, *S) with at least one spatial dimension, "
                f"got {ndim} dimensions; for an unbatched (C, *S) input give kernel_size "
                f"one entry per spatial dimension") from None
        return ndim - 2, True
    if d >= 1 and ndim == d + 2:
        return d, True
    if d >= 1 and ndim == d + 1:
        return d, False
    raise ValueError(
        f"kernel_size {tuple(kernel_size)!r} has {d} entries but {name} has {ndim} "
        f"dimensions; expected {d + 2} (batched) or {d + 1} (unbatched)")


def _plan(geom, planes, vector, threads):
    out = geom.out_spatial
    if len(out) == 1:
        block_rows = 1
    else:
        # Blocks two apart must not share input rows (the gradients run even
        # blocks, then odd ones): (rows0 + 1) * stride > dilation * (k - 1).
        halo = geom.dilation[0] * (geom.kernel[0] - 1)
        inner = max(prod(out[1:]) * vector, 1)
        rows0 = max(halo // geom.stride[0] + 1, -(-DIRECT_BLOCK // inner))
        block_rows = rows0 * prod(out[1:-1])
    return _PoolPlan(planes, vector, geom.in_spatial, out, geom.kernel, geom.stride,
                     geom.dilation, tuple(lo for lo, _ in geom.pad), max(block_rows, 1), threads)


def _pooling(shape, name, kernel_size, stride, padding, dilation, ceil_mode, channels_last,
             workers):
    """Validate a pooling call on an input of ``shape`` (the caller's layout)."""
    channels_last = _as_bool(channels_last, "channels_last")
    ceil_mode = _as_bool(ceil_mode, "ceil_mode")
    d, batched = _rank(kernel_size, len(shape), name)
    shape_b = tuple(shape) if batched else (1,) + tuple(shape)
    if channels_last:
        n, c, spatial = shape_b[0], shape_b[-1], shape_b[1:-1]
    else:
        n, c, spatial = shape_b[0], shape_b[1], shape_b[2:]
    kernel = normalize_tuple(kernel_size, d, "kernel_size", minimum=1)
    stride = kernel if stride is None else normalize_tuple(stride, d, "stride", minimum=1)
    geom = ConvGeometry.create(spatial, kernel, in_channels=c, out_channels=c, stride=stride,
                               padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    if any(max(lo, hi) > k // 2 for k, (lo, hi) in zip(geom.kernel, geom.pad)):
        raise ValueError(f"padding must be at most half of kernel_size in every dimension "
                         f"(as torch), got padding={padding!r} with kernel_size={geom.kernel}")
    if any(o < 1 for o in geom.out_spatial):
        raise ValueError(
            f"{name} of spatial size {tuple(spatial)} with kernel_size={geom.kernel}, "
            f"stride={geom.stride}, padding={geom.pad}, dilation={geom.dilation} gives an "
            f"output of size {geom.out_spatial}: too small")
    threads = resolve_workers(workers)
    planes, vector = (n, c) if channels_last else (n * c, 1)
    return _Pooling(geom, n, c, batched, channels_last, _plan(geom, planes, vector, threads))


def _window_counts(pooling, count_include_pad, dtype):
    """Window sizes per axis, concatenated (see include/fastconv/pool.h), as torch
    counts them: clipped to the padded input, and to the input itself when the
    padding does not count."""
    geom = pooling.geom
    parts = []
    for n, k, s, (lo, hi), o in zip(geom.in_spatial, geom.kernel, geom.stride, geom.pad,
                                    geom.out_spatial):
        start = np.arange(o, dtype=np.int64) * s - lo
        end = np.minimum(start + k, n + hi)
        if count_include_pad:
            parts.append(end - start)
        else:
            parts.append(np.minimum(end, n) - np.maximum(start, 0))
    return np.concatenate(parts).astype(dtype)


def _flat(a):
    return a.reshape(-1)


def _scratch(plan, dtype):
    """Per-thread rows of one block."""
    return scratch_empty(plan.threads * plan.block_rows * plan.out_spatial[-1] * plan.vector,
                         dtype)


# -- public API --------------------------------------------------------------

_POOL_PARAMS = """kernel_size : int or sequence of d ints
        Window size, >= 1.  The number of spatial dimensions d is
        ``x.ndim - 2``, or ``len(kernel_size)`` when that is a sequence: then
        ``x`` may also be unbatched, (C, *S).
    stride : None, int or sequence of d ints, default None
        Step between windows, >= 1; None means ``kernel_size``.
    padding : int, d ints, d (lo, hi) pairs or "valid", default 0
        Implicit padding, at most ``kernel_size // 2`` on each side (torch's rule)."""

_CEIL_PARAMS = """ceil_mode : bool, default False
        Round the number of windows up instead of down; as in torch, a last
        window that would start beyond the input and its low padding is dropped."""

_LAYOUT_PARAMS = """channels_last : bool, default False
        ``x`` is (N, *S, C) (or (*S, C)) and so is the result."""

_WORKERS_PARAM = """workers : None, int > 0 or -1, default None
        Threads, as for :func:`fastconv.conv`."""


def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             channels_last=False, return_indices=False, workers=None):
    """N-d max pooling, as ``torch.nn.functional.max_pool1d/2d/3d``.

    ``y[n, c, p] = max_t xpad[n, c, p*stride + t*dilation]`` with padding that
    never wins (-inf).  NaN propagates: a window holding a NaN gives NaN.

    Parameters
    ----------
    x : array_like, shape (N, C, *S) or unbatched (C, *S)
        Input of any real dtype.
    {params}
    dilation : int or sequence of d ints, default 1
        Spacing between the elements of a window, >= 1.
    {ceil}
    {layout}
    return_indices : bool, default False
        Also return, for every output, the flat index of the chosen element
        within its (n, c) plane of the input (``np.unravel_index(i, S)``), as
        torch does; ties go to the first maximum in row-major window order, a
        NaN to the last NaN.  A window lying wholly in the padding (possible
        only with dilation) gives -inf and index -1.
    {workers}

    Returns
    -------
    y : ndarray, shape (N, C, *S_out) in the chosen layout
        ``S_out = (S + lo + hi - dilation*(K-1) - 1) // stride + 1`` (rounded
        up with ``ceil_mode``).  dtype: float64 for integer/bool ``x``,
        float16 for float16 (computed in float32), else
        ``np.result_type(x, np.float32)``.
    indices : ndarray of int64, same shape as ``y``
        Only with ``return_indices=True``.

    Raises
    ------
    TypeError
        Complex or non-numeric ``x``; ``ceil_mode``, ``channels_last`` or
        ``return_indices`` not a bool; ``kernel_size``, ``stride``,
        ``padding`` or ``dilation`` not integers.
    ValueError
        ``x`` with neither d + 2 nor d + 1 dimensions; sizes, strides or
        dilations < 1; negative padding or padding over half the window; or
        an output size below 1 (as torch).

    See Also
    --------
    max_pool_grad : Its gradient.
    global_max_pool : The maximum over all spatial positions.
    avg_pool : Average pooling.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.arange(16).reshape(1, 1, 4, 4)
    >>> fastconv.max_pool(x, 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> y, idx = fastconv.max_pool(np.array([[1.0, 3.0, 2.0, 0.0]]), (2,),
    ...                            return_indices=True)      # unbatched (C, L)
    >>> print(y, idx)
    [[3. 2.]] [[1 2]]
    >>> fastconv.max_pool(np.zeros((2, 7, 7, 3)), 3, stride=2, padding=1,
    ...                   channels_last=True).shape
    (2, 4, 4, 3)
    """
    x = _as_real_array(x, "x")
    return_indices = _as_bool(return_indices, "return_indices")
    pooling = _pooling(x.shape, "x", kernel_size, stride, padding, dilation, ceil_mode,
                       channels_last, workers)
    compute, result = _dtypes(x)
    xb = np.ascontiguousarray(pooling.batched_view(x), compute)
    shape = pooling.batched_view(np.empty(pooling.out_shape, np.bool_)).shape
    y = np.empty(shape, compute)
    idx = np.empty(shape if return_indices else 0, np.int64)
    if y.size:
        _pool.forward(pooling.plan, True, _flat(xb), np.empty(0, compute), _flat(y), _flat(idx))
    y = pooling.deliver(y, result)
    if return_indices:
        return y, (idx if pooling.batched else idx[0])
    return y


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             channels_last=False, workers=None):
    """N-d average pooling, as ``torch.nn.functional.avg_pool1d/2d/3d``.

    Every output is the sum of its window divided by the window size:
    with ``count_include_pad`` the window clipped to the padded input (torch's
    rule, which matters with ``ceil_mode``), else the number of input
    elements it covers.

    Parameters
    ----------
    x : array_like, shape (N, C, *S) or unbatched (C, *S)
        Input of any real dtype.
    {params}
    {ceil}
    count_include_pad : bool, default True
        Count padding elements in the divisor.
    {layout}
    {workers}

    Returns
    -------
    y : ndarray, shape (N, C, *S_out) in the chosen layout
        ``S_out = (S + lo + hi - K) // stride + 1`` (rounded up with
        ``ceil_mode``).  dtype: float64 for integer/bool ``x``, float16 for
        float16 (computed in float32), else ``np.result_type(x, np.float32)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`max_pool` (``count_include_pad`` must be a bool).

    See Also
    --------
    avg_pool_grad : Its gradient.
    global_avg_pool : The mean over all spatial positions.
    max_pool : Max pooling.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.arange(16).reshape(1, 1, 4, 4)
    >>> fastconv.avg_pool(x, 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> blocks = x.reshape(1, 1, 2, 2, 2, 2).mean(axis=(3, 5))    # 2 x 2 block means
    >>> bool(np.array_equal(fastconv.avg_pool(x, 2), blocks))
    True

    Padding in the divisor, or not:

    >>> x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> print(fastconv.avg_pool(x, (3,), stride=2, padding=1))
    [[1. 3. 3.]]
    >>> print(fastconv.avg_pool(x, (3,), stride=2, padding=1, count_include_pad=False))
    [[1.5 3.  4.5]]
    """
    x = _as_real_array(x, "x")
    count_include_pad = _as_bool(count_include_pad, "count_include_pad")
    pooling = _pooling(x.shape, "x", kernel_size, stride, padding, 1, ceil_mode,
                       channels_last, workers)
    compute, result = _dtypes(x)
    xb = np.ascontiguousarray(pooling.batched_view(x), compute)
    y = np.empty(pooling.batched_view(np.empty(pooling.out_shape, np.bool_)).shape, compute)
    if y.size:
        _pool.forward(pooling.plan, False, _flat(xb),
                      _window_counts(pooling, count_include_pad, compute), _flat(y),
                      np.empty(0, np.int64))
    return pooling.deliver(y, result)


def _check_grad_out(gy, pooling):
    if gy.shape != pooling.out_shape:
        raise ValueError(f"grad_out has shape {gy.shape}, but this pooling's output has shape "
                         f"{pooling.out_shape}")


def max_pool_grad(grad_out, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                  channels_last=False, workers=None, *, indices=None):
    """Gradient of :func:`max_pool` with respect to ``x``.

    Each output's gradient goes to the element its window chose (the first
    maximum in window order, as torch; the last NaN if the window holds
    NaNs).  Without ``indices`` the arg-maxes are recomputed from ``x`` on the
    fly.  Overlapping windows add up in a fixed order: the result does not
    depend on ``workers``.

    Parameters
    ----------
    grad_out : array_like, the shape of ``max_pool(x, ...)``
        Gradient with respect to the pooled output.
    x : array_like, shape (N, C, *S) or unbatched (C, *S)
        The input of the forward pass.
    {params}
    dilation : int or sequence of d ints, default 1
        Spacing between the elements of a window, >= 1.
    {ceil}
    {layout}
    {workers}
    indices : array_like of ints, optional
        The indices ``max_pool(x, ..., return_indices=True)`` returned: the
        gradient is then routed through them (as torch's backward does) and
        ``x`` is only used for its shape and dtype.  Keyword only.

    Returns
    -------
    grad_x : ndarray, shape of ``x``
        The dtype is float64 if ``grad_out`` and ``x`` are integer/bool, float16 if
        they promote to float16 (computed in float32), else
        ``np.result_type(grad_out, x, np.float32)``.

    Raises
    ------
    TypeError
        As :func:`max_pool`; also a complex or non-numeric ``grad_out``.
    ValueError
        ``grad_out`` not of the pooled shape; ``indices`` not integers of
        that shape or holding an index outside its plane; otherwise as
        :func:`max_pool`.

    See Also
    --------
    max_pool, avg_pool_grad

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[1.0, 3.0, 2.0, 0.0]]])
    >>> y, idx = fastconv.max_pool(x, 2, return_indices=True)
    >>> fastconv.max_pool_grad(np.array([[[10.0, 20.0]]]), x, 2)
    array([[[ 0., 10., 20.,  0.]]])
    >>> fastconv.max_pool_grad(np.array([[[10.0, 20.0]]]), x, 2, indices=idx)
    array([[[ 0., 10., 20.,  0.]]])
    """
    gy = _as_real_array(grad_out, "grad_out")
    x = _as_real_array(x, "x")
    pooling = _pooling(x.shape, "x", kernel_size, stride, padding, dilation, ceil_mode,
                       channels_last, workers)
    _check_grad_out(gy, pooling)
    compute, result = _dtypes(gy, x)
    # the kernels zero gx as they go, on every thread
    gx = (np.empty if gy.size else np.zeros)(pooling.engine_in_shape, compute)
    if indices is not None:
        idx = aligned(np.asarray(indices))
        if idx.shape != pooling.out_shape or idx.dtype.kind not in "iu":
            raise ValueError(f"indices must be integers of shape {pooling.out_shape} (as "
                             f"max_pool returned them), got {idx.dtype} of shape {idx.shape}")
        if gy.size:
            bad = _pool.max_pool_scatter(
                pooling.plan, _flat(np.ascontiguousarray(pooling.batched_view(gy), compute)),
                _flat(np.ascontiguousarray(pooling.batched_view(idx), np.int64)), _flat(gx))
            if bad:
                raise ValueError(f"indices holds {bad} value(s) outside [-1, "
                                 f"{prod(pooling.geom.in_spatial)}): not indices of this pooling")
    elif gy.size:
        plan = pooling.plan
        _pool.grad(plan, True, _flat(np.ascontiguousarray(pooling.batched_view(x), compute)),
                   _flat(np.ascontiguousarray(pooling.batched_view(gy), compute)),
                   np.empty(0, compute), _flat(gx), _scratch(plan, compute),
                   _scratch(plan, np.int64))
    return pooling.deliver(gx, result)


def avg_pool_grad(grad_out, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                  count_include_pad=True, channels_last=False, workers=None):
    """Gradient of :func:`avg_pool` with respect to its input (its exact adjoint).

    Each output's gradient, divided by its window size, is spread over the
    window's input elements; contributions add up in a fixed order.

    Parameters
    ----------
    grad_out : array_like, the shape of ``avg_pool(x, ...)``
        Gradient with respect to the pooled output.
    input_shape : sequence of ints
        The whole shape of ``x``, the input of the forward pass, in the chosen
        layout (batched or not).
    {params}
    {ceil}
    count_include_pad : bool, default True
        Count padding elements in the divisor.
    {layout}
    {workers}

    Returns
    -------
    grad_x : ndarray, shape ``input_shape``
        The dtype is float64 for integer/bool ``grad_out``, float16 for float16
        (computed in float32), else ``np.result_type(grad_out, np.float32)``.

    Raises
    ------
    TypeError
        ``input_shape`` not a sequence of ints; otherwise as :func:`avg_pool`.
    ValueError
        A negative entry in ``input_shape``, ``grad_out`` not of the pooled
        shape; otherwise as :func:`avg_pool`.

    See Also
    --------
    avg_pool, max_pool_grad

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.avg_pool_grad(np.array([[[1.0, 2.0]]]), (1, 1, 4), 2)
    array([[[0.5, 0.5, 1. , 1. ]]])

    The adjoint identity, with overlapping windows and padding:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 9, 9))
    >>> kw = dict(kernel_size=3, stride=2, padding=1)
    >>> g = rng.standard_normal(fastconv.avg_pool(x, **kw).shape)
    >>> gx = fastconv.avg_pool_grad(g, x.shape, **kw)
    >>> bool(np.isclose(np.vdot(fastconv.avg_pool(x, **kw), g), np.vdot(x, gx)))
    True
    """
    gy = _as_real_array(grad_out, "grad_out")
    input_shape = _as_shape(input_shape, "input_shape")
    if any(s < 0 for s in input_shape):
        raise ValueError(f"input_shape must be non-negative, got {input_shape}")
    count_include_pad = _as_bool(count_include_pad, "count_include_pad")
    pooling = _pooling(input_shape, "input_shape", kernel_size, stride, padding, 1, ceil_mode,
                       channels_last, workers)
    _check_grad_out(gy, pooling)
    compute, result = _dtypes(gy)
    gx = (np.empty if gy.size else np.zeros)(pooling.engine_in_shape, compute)
    if gy.size:
        plan = pooling.plan
        _pool.grad(plan, False, np.empty(0, compute),
                   _flat(np.ascontiguousarray(pooling.batched_view(gy), compute)),
                   _window_counts(pooling, count_include_pad, compute), _flat(gx),
                   _scratch(plan, compute), np.empty(0, np.int64))
    return pooling.deliver(gx, result)


for _f in (max_pool, avg_pool, max_pool_grad, avg_pool_grad):
    _f.__doc__ = (_f.__doc__.replace("{params}", _POOL_PARAMS).replace("{ceil}", _CEIL_PARAMS)
                  .replace("{layout}", _LAYOUT_PARAMS).replace("{workers}", _WORKERS_PARAM))


def _global_axes(x, channels_last, keepdims):
    channels_last = _as_bool(channels_last, "channels_last")
    keepdims = _as_bool(keepdims, "keepdims")
    if x.ndim < 3:
        raise ValueError(f"x must have shape (N, C, *S) (or (N, *S, C) with channels_last) "
                         f"with at least one spatial dimension, got shape {x.shape}")
    axes = tuple(range(1, x.ndim - 1)) if channels_last else tuple(range(2, x.ndim))
    if any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"global pooling needs a non-empty spatial extent, got shape {x.shape}")
    return axes, keepdims


def global_avg_pool(x, channels_last=False, keepdims=False):
    """Mean over all spatial axes: (N, C, *S) -> (N, C).

    Computed with NumPy's pairwise summation.

    Parameters
    ----------
    x : array_like, shape (N, C, *S)
        Batched input with at least one non-empty spatial axis; (N, *S, C)
        with ``channels_last``.
    channels_last : bool, default False
        The channel axis is the last one.
    keepdims : bool, default False
        Keep the spatial axes, with size 1.

    Returns
    -------
    y : ndarray, shape (N, C)
        (N, C, 1, ..., 1) with ``keepdims`` ((N, 1, ..., 1, C) channels last).
        The dtype is float64 for integer/bool ``x``, float16 for float16 (computed
        in float32), else ``np.result_type(x, np.float32)``.

    Raises
    ------
    TypeError
        Complex or non-numeric ``x``; ``channels_last`` or ``keepdims`` not a bool.
    ValueError
        ``x`` with fewer than 3 dimensions or an empty spatial axis.

    See Also
    --------
    global_max_pool, avg_pool

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.arange(24).reshape(1, 2, 3, 4)
    >>> fastconv.global_avg_pool(x)
    array([[ 5.5, 17.5]])
    >>> fastconv.global_avg_pool(x, keepdims=True).shape
    (1, 2, 1, 1)
    """
    x = _as_real_array(x, "x")
    axes, keepdims = _global_axes(x, channels_last, keepdims)
    compute, result = _dtypes(x)
    res = np.mean(x, axis=axes, dtype=compute, keepdims=keepdims)
    return res.astype(result, copy=False)


def global_max_pool(x, channels_last=False, keepdims=False):
    """Maximum over all spatial axes: (N, C, *S) -> (N, C).

    NaN propagates.

    Parameters
    ----------
    x : array_like, shape (N, C, *S)
        Batched input with at least one non-empty spatial axis; (N, *S, C)
        with ``channels_last``.
    channels_last : bool, default False
        The channel axis is the last one.
    keepdims : bool, default False
        Keep the spatial axes, with size 1.

    Returns
    -------
    y : ndarray, shape (N, C)
        (N, C, 1, ..., 1) with ``keepdims`` ((N, 1, ..., 1, C) channels last).
        The dtype is float64 for integer/bool ``x``, float16 for float16, else
        ``np.result_type(x, np.float32)``.

    Raises
    ------
    TypeError
        Complex or non-numeric ``x``; ``channels_last`` or ``keepdims`` not a bool.
    ValueError
        ``x`` with fewer than 3 dimensions or an empty spatial axis.

    See Also
    --------
    global_avg_pool, max_pool

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.arange(24).reshape(1, 2, 3, 4)
    >>> fastconv.global_max_pool(x)
    array([[11., 23.]])
    >>> fastconv.global_max_pool(x.transpose(0, 2, 3, 1), channels_last=True, keepdims=True).shape
    (1, 1, 1, 2)
    """
    x = _as_real_array(x, "x")
    axes, keepdims = _global_axes(x, channels_last, keepdims)
    compute, result = _dtypes(x)
    res = np.max(x, axis=axes, keepdims=keepdims).astype(compute, copy=False)
    return res.astype(result, copy=False)
