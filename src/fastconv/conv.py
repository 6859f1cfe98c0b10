"""The convolution and its three faces: forward, grad_input (= transposed
convolution) and grad_weight, plus grad_bias and a vjp.

This module validates arguments, applies the dtype and layout policy and
dispatches to the engine; it never loops over data itself.
"""

from __future__ import annotations

import operator
from functools import lru_cache

import numpy as np

from fastconv import _engine, _padding
from fastconv._geometry import ConvGeometry, normalize_padding, normalize_tuple
from fastconv._threads import resolve_workers

__all__ = [
    "conv", "conv1d", "conv2d", "conv3d",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_grad_input", "conv_grad_weight", "conv_grad_bias", "conv_vjp",
]


# -- argument policy ---------------------------------------------------------

def _as_real_array(a, name):
    """Any array-like -> ndarray of a real numeric dtype (no copy if possible)."""
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be an array-like of real numbers: {exc}") from None
    if arr.dtype.kind == "c":
        raise TypeError(
            f"{name} is complex ({arr.dtype}); the convolution layers are real-valued "
            f"(use fastconv.signal for complex data)"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _dtypes(*arrays):
    """(compute dtype, result dtype), native byte order.

    All-integer/bool input -> float64; otherwise result_type(*arrays, float32)
    (float16 is computed in float32 and returned as float16).
    """
    return _dtype_policy(tuple(a.dtype for a in arrays))


@lru_cache(maxsize=256)
def _dtype_policy(dtypes):
    if all(dt.kind in "biu" for dt in dtypes):
        return np.dtype(np.float64), np.dtype(np.float64)
    if np.result_type(*dtypes) == np.float16:
        return np.dtype(np.float32), np.dtype(np.float16)
    result = np.result_type(*dtypes, np.float32)
    if result in (np.float32, np.float64):
        return np.dtype(result).newbyteorder("="), np.dtype(result).newbyteorder("=")
    # extended precision: computed in float64, returned as asked
    return np.dtype(np.float64), np.dtype(result)


def _spatial_rank(w, name="w"):
    if w.ndim < 3:
        raise ValueError(
            f"{name} must have shape (C_out, C_in/groups, *kernel) with at least one "
            f"spatial dimension, got shape {w.shape}"
        )
    if any(k < 1 for k in w.shape[2:]):
        raise ValueError(f"{name} kernel sizes must be >= 1, got shape {w.shape}")
    return w.ndim - 2


def _is_batched(ndim, d, name, shape):
    if ndim == d + 2:
        return True
    if ndim == d + 1:
        return False
    raise ValueError(
        f"{name} must have {d + 2} dimensions (batched) or {d + 1} (unbatched) for a "
        f"{d}-d kernel, got shape {shape}"
    )


def _channels_first(a, channels_last):
    """Batched array in the user's layout -> channels-first view."""
    return np.moveaxis(a, -1, 1) if channels_last else a


def _user_layout(a_cf, channels_last, batched):
    """Channels-first result -> the user's layout (C-contiguous)."""
    if channels_last:
        a_cf = np.ascontiguousarray(np.moveaxis(a_cf, 1, -1))
    return a_cf if batched else a_cf[0]


def _shape_in_layout(shape_cf, channels_last, batched):
    shape = (shape_cf[0],) + tuple(shape_cf[2:]) + (shape_cf[1],) if channels_last else shape_cf
    return tuple(shape) if batched else tuple(shape[1:])


def _check_out(out, shape, dtype):
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"out has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous (in the chosen layout)")


def _direct_target(out, compute, channels_last, inputs):
    """``out`` itself if the engine may write into it, else None."""
    if out is None or channels_last or out.dtype != compute:
        return None
    if any(np.may_share_memory(out, a) for a in inputs if a is not None):
        return None
    return out


def _deliver(res_cf, out, result_dtype, channels_last, batched):
    """Engine result (channels-first, batched) -> what the caller gets."""
    res = _user_layout(res_cf, channels_last, batched)
    if out is not None:
        np.copyto(out, res, casting="unsafe")
        return out
    if res.dtype != result_dtype:
        res = res.astype(result_dtype)
    return res


def _geometry(spatial, kernel, c_in, c_out, stride, padding, dilation, groups, padding_mode,
              w_shape):
    geom = ConvGeometry.create(spatial, kernel, in_channels=c_in, out_channels=c_out,
                               stride=stride, padding=padding, dilation=dilation,
                               groups=groups, padding_mode=padding_mode)
    if w_shape[1] * geom.groups != c_in:
        raise ValueError(
            f"the input has {c_in} channels but the weight of shape {tuple(w_shape)} with "
            f"groups={geom.groups} expects {w_shape[1] * geom.groups}"
        )
    return geom


def _bias(bias, geom, compute):
    """-> (tied bias or None, untied bias or None), validated, compute dtype."""
    if bias is None:
        return None, None
    b = _as_real_array(bias, "bias")
    if b.shape == (geom.out_channels,):
        return np.ascontiguousarray(b, compute), None
    untied = (geom.out_channels,) + geom.out_spatial
    if b.shape == untied:
        return None, np.asarray(b, compute)
    raise ValueError(
        f"bias must have shape ({geom.out_channels},) or the untied shape {untied}, "
        f"got {b.shape}"
    )


# -- the three faces on channels-first, batched arrays -----------------------

def _engine_input(geom, x_cf, compute):
    if geom.padding_mode == "zeros":
        return np.ascontiguousarray(x_cf, compute)
    return _padding.pad(np.asarray(x_cf, compute), geom.pad, geom.padding_mode)


def _forward(geom, x_cf, w, tied, untied, compute, threads, target=None):
    n = x_cf.shape[0]
    shape = (n, geom.out_channels) + geom.out_spatial
    y = target.reshape(shape) if target is not None else np.empty(shape, compute)
    if y.size == 0:
        return y
    if geom.in_channels == 0:
        y[...] = 0
        if tied is not None:
            y += tied.reshape((-1,) + (1,) * geom.ndim)
    else:
        plan = _engine.make_plan(geom, n, threads)
        _engine.forward(plan, _engine_input(geom, x_cf, compute),
                        np.ascontiguousarray(w, compute), tied, y)
    if untied is not None:
        y += untied
    return y


def _grad_input(geom, gy_cf, w, n, compute, threads):
    gx = np.zeros((n, geom.in_channels) + geom.padded_spatial, compute)
    if gy_cf.size and gx.size:
        plan = _engine.make_plan(geom, n, threads)
        _engine.grad_input(plan, np.ascontiguousarray(gy_cf, compute),
                           np.ascontiguousarray(w, compute), gx)
    if geom.padding_mode != "zeros":
        gx = _padding.pad_adjoint(gx, geom.in_spatial, geom.pad, geom.padding_mode)
    return gx


def _grad_weight(geom, x_cf, gy_cf, compute, threads):
    gw = np.zeros(geom.weight_shape, compute)
    if gy_cf.size and gw.size:
        plan = _engine.make_plan(geom, x_cf.shape[0], threads)
        _engine.grad_weight(plan, _engine_input(geom, x_cf, compute),
                            np.ascontiguousarray(gy_cf, compute), gw)
    return gw


def _check_grad_out(gy, geom, n, channels_last, batched):
    expected = _shape_in_layout((n, geom.out_channels) + geom.out_spatial, channels_last, batched)
    if gy.shape != expected:
        raise ValueError(
            f"grad_out has shape {gy.shape}, but this convolution's output has shape {expected}"
        )


def _as_shape(shape, name):
    try:
        return tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {shape!r}") from None


# -- public API --------------------------------------------------------------

def conv(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
         channels_last=False, out=None, workers=None):
    """N-d multichannel cross-correlation (the neural-network "convolution").

    ``y[n, o, p] = bias[o] + sum_{c in group(o), t} w[o, c, t] * xpad[n, c, p*stride + t*dilation]``

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        With ``channels_last=True``: (N, *S, C_in) or (*S, C_in).
    w : array_like, shape (C_out, C_in/groups, *K)
        The number of spatial dimensions d is ``w.ndim - 2`` (any d >= 1).
    bias : array_like, shape (C_out,) or untied (C_out, *S_out), optional
    stride, dilation : int or sequence of d ints
    padding : int, d ints, d (lo, hi) pairs, "valid", "same" or "full"
        "same" gives ceil(S / stride) outputs, the odd remainder padded on the
        high side; "full" pads dilation*(k-1) on both sides.
    groups : int
    padding_mode : "zeros", "reflect", "replicate", "circular" or "mean"
        As scipy.ndimage's "constant" (0), "mirror", "nearest", "wrap"; "mean"
        pads with the per-(sample, channel) mean of the input.
    channels_last : bool
    out : ndarray, optional
        Exact shape and dtype, writeable, C-contiguous in the chosen layout.
    workers : None, int > 0 or -1
        Threads; None = ``fastconv.get_num_threads()``, -1 = all cores.

    Returns
    -------
    y : ndarray, shape (N, C_out, *S_out) (channels-first), dtype
        ``np.result_type(x, w, np.float32)`` (float16 is computed in float32).
        A kernel larger than the padded input gives a size-0 output axis.

    Raises
    ------
    TypeError
        Complex or non-numeric input.
    ValueError
        Inconsistent shapes, channels, groups or parameters.
    """
    x = _as_real_array(x, "x")
    w = _as_real_array(w, "w")
    d = _spatial_rank(w)
    batched = _is_batched(x.ndim, d, "x", x.shape)
    compute, result = _dtypes(x, w)
    threads = resolve_workers(workers)
    x_cf = _channels_first(x if batched else x[None], channels_last)
    geom = _geometry(x_cf.shape[2:], w.shape[2:], x_cf.shape[1], w.shape[0], stride, padding,
                     dilation, groups, padding_mode, w.shape)
    tied, untied = _bias(bias, geom, compute)
    out_shape = _shape_in_layout((x_cf.shape[0], geom.out_channels) + geom.out_spatial,
                                 channels_last, batched)
    _check_out(out, out_shape, result)
    target = _direct_target(out, compute, channels_last, (x, w, bias))
    y = _forward(geom, x_cf, w, tied, untied, compute, threads, target)
    return out if target is not None else _deliver(y, out, result, channels_last, batched)


def _rank_checked(fn, d):
    """``fn`` for a weight of exactly d spatial dimensions (conv2d, ...)."""
    name = f"{fn.__name__}{d}d"

    def checked(x, w, bias=None, **kwargs):
        w = _as_real_array(w, "w")
        if w.ndim != d + 2:
            raise ValueError(f"{name} needs a weight with {d + 2} dimensions "
                             f"(C_out, C_in/groups{', k' * d}), got shape {w.shape}")
        return fn(x, w, bias, **kwargs)
    checked.__name__ = checked.__qualname__ = name
    checked.__doc__ = f"{d}-d :func:`{fn.__name__}`: the same call with a {d + 2}-d weight."
    return checked


conv1d, conv2d, conv3d = (_rank_checked(conv, d) for d in (1, 2, 3))


def conv_grad_input(grad_out, w, input_shape, *, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", channels_last=False, out=None, workers=None):
    """Gradient of :func:`conv` w.r.t. its input (the transposed convolution).

    ``input_shape`` is the whole shape of ``x`` in the chosen layout (batched
    or unbatched).  The result is ``A^T grad_out`` for the linear map
    ``A: x -> conv(x, w)``; with a non-zero ``padding_mode`` the gradient of the
    padding is folded back onto the input.  Dtype: result_type(grad_out, w, float32).
    """
    gy = _as_real_array(grad_out, "grad_out")
    w = _as_real_array(w, "w")
    d = _spatial_rank(w)
    input_shape = _as_shape(input_shape, "input_shape")
    batched = _is_batched(len(input_shape), d, "input_shape", input_shape)
    compute, result = _dtypes(gy, w)
    threads = resolve_workers(workers)
    shape_cf = (input_shape if batched else (1,) + input_shape)
    if channels_last:
        shape_cf = (shape_cf[0], shape_cf[-1]) + tuple(shape_cf[1:-1])
    if any(s < 0 for s in shape_cf):
        raise ValueError(f"input_shape must be non-negative, got {input_shape}")
    geom = _geometry(shape_cf[2:], w.shape[2:], shape_cf[1], w.shape[0], stride, padding,
                     dilation, groups, padding_mode, w.shape)
    _check_grad_out(gy, geom, shape_cf[0], channels_last, batched)
    _check_out(out, input_shape, result)
    gy_cf = _channels_first(gy if batched else gy[None], channels_last)
    gx = _grad_input(geom, gy_cf, w, shape_cf[0], compute, threads)
    return _deliver(gx, out, result, channels_last, batched)


def conv_grad_weight(x, grad_out, weight_shape, *, stride=1, padding=0, dilation=1, groups=1,
                     padding_mode="zeros", channels_last=False, out=None, workers=None):
    """Gradient of :func:`conv` w.r.t. its weight, shape ``weight_shape``.

    ``sum_n grad_out[n] (x) patches(x[n])``, reduced in an order fixed by the
    shapes alone: the result is bitwise the same whatever ``workers`` is.
    Dtype: result_type(x, grad_out, float32).
    """
    x = _as_real_array(x, "x")
    gy = _as_real_array(grad_out, "grad_out")
    weight_shape = _as_shape(weight_shape, "weight_shape")
    if len(weight_shape) < 3 or any(s < 0 for s in weight_shape) \
            or any(k < 1 for k in weight_shape[2:]):
        raise ValueError(f"weight_shape must be (C_out, C_in/groups, *kernel) with kernel "
                         f"sizes >= 1, got {weight_shape}")
    d = len(weight_shape) - 2
    batched = _is_batched(x.ndim, d, "x", x.shape)
    compute, result = _dtypes(x, gy)
    threads = resolve_workers(workers)
    x_cf = _channels_first(x if batched else x[None], channels_last)
    geom = _geometry(x_cf.shape[2:], weight_shape[2:], x_cf.shape[1], weight_shape[0], stride,
                     padding, dilation, groups, padding_mode, weight_shape)
    _check_grad_out(gy, geom, x_cf.shape[0], channels_last, batched)
    _check_out(out, weight_shape, result)
    gy_cf = _channels_first(gy if batched else gy[None], channels_last)
    gw = _grad_weight(geom, x_cf, gy_cf, compute, threads)
    if out is not None:
        np.copyto(out, gw, casting="unsafe")
        return out
    return gw.astype(result, copy=False)


def conv_grad_bias(grad_out, *, channels_last=False):
    """Gradient w.r.t. a tied bias: ``grad_out`` summed over all but the channel axis.

    ``grad_out`` is batched, (N, C_out, *S_out), or (N, *S_out, C_out) with
    ``channels_last``; in that layout an unbatched (*S_out, C_out) works too.
    """
    gy = _as_real_array(grad_out, "grad_out")
    if gy.ndim < 2:
        raise ValueError(f"grad_out must have a batch and a channel axis, got shape {gy.shape}")
    axis = gy.ndim - 1 if channels_last else 1
    compute, result = _dtypes(gy)
    axes = tuple(a for a in range(gy.ndim) if a != axis)
    return gy.astype(compute, copy=False).sum(axis=axes).astype(result, copy=False)


def conv_vjp(x, w, bias=None, **kwargs):
    """``(y, vjp)`` with ``y = conv(x, w, bias, **kwargs)`` and
    ``vjp(g) -> (dx, dw, db)``; ``db`` has the shape of ``bias`` (None without one).

    The pullback reads ``x`` and ``w`` when it is called.
    """
    kwargs.pop("out", None)
    channels_last = kwargs.get("channels_last", False)
    x = _as_real_array(x, "x")
    w = _as_real_array(w, "w")
    y = conv(x, w, bias, **kwargs)
    d = w.ndim - 2
    batched = x.ndim == d + 2
    bias_shape = None if bias is None else np.shape(bias)

    def vjp(g):
        g = _as_real_array(g, "g")
        if g.shape != y.shape:
            raise ValueError(f"g has shape {g.shape}, expected the output shape {y.shape}")
        dx = conv_grad_input(g, w, x.shape, **kwargs).astype(y.dtype, copy=False)
        dw = conv_grad_weight(x, g, w.shape, **kwargs).astype(y.dtype, copy=False)
        db = None
        if bias_shape is not None:
            gb = g if batched else g[None]
            gb = _channels_first(gb, channels_last)
            if len(bias_shape) == 1:
                db = gb.sum(axis=(0,) + tuple(range(2, gb.ndim)), dtype=np.float64)
            else:
                db = gb.sum(axis=0, dtype=np.float64)
            db = db.astype(y.dtype)
        return dx, dw, db

    return y, vjp


def _transpose_size(x_spatial, kernel, stride, padding, output_padding, dilation,
                    output_size, channels_last, n, c_out):
    """Spatial size of the output of ``conv_transpose`` (= the forward conv's input)."""
    d = len(kernel)
    stride = normalize_tuple(stride, d, "stride", minimum=1)
    dilation = normalize_tuple(dilation, d, "dilation", minimum=1)
    same = isinstance(padding, str) and padding == "same"
    if same:
        smallest = tuple(n_ * s for n_, s in zip(x_spatial, stride))
    else:
        pads = normalize_padding(padding, x_spatial, kernel, stride, dilation)
        smallest = tuple((n_ - 1) * s - lo - hi + dl * (k - 1) + 1 for n_, k, s, dl, (lo, hi)
                         in zip(x_spatial, kernel, stride, dilation, pads))
    if output_size is None:
        op = normalize_tuple(output_padding, d, "output_padding", minimum=0)
        for o, s, dl in zip(op, stride, dilation):
            if o >= max(s, dl):
                raise ValueError(f"output_padding must be smaller than stride or dilation, "
                                 f"got output_padding={output_padding!r}, stride={stride}, "
                                 f"dilation={dilation}")
        return tuple(m + o for m, o in zip(smallest, op))
    size = _as_shape(output_size, "output_size")
    if len(size) in (d + 1, d + 2):  # the full shape, in the chosen layout
        lead = (n, c_out) if len(size) == d + 2 else (c_out,)
        given = ((size[0], size[-1]) if len(size) == d + 2 else (size[-1],)) if channels_last \
            else size[:len(size) - d]
        if tuple(given) != lead[-len(given):]:
            raise ValueError(f"output_size {tuple(output_size)} does not match the batch and "
                             f"channels of the result {lead}")
        size = size[-d - 1:-1] if channels_last else size[-d:]
    if len(size) != d:
        raise ValueError(f"output_size must have {d} spatial sizes (or the full shape), "
                         f"got {output_size!r}")
    for sz, m, s, dl in zip(size, smallest, stride, dilation):
        if not m <= sz < m + max(s, dl):
            raise ValueError(
                f"output_size {tuple(size)} is not reachable: each size must lie in "
                f"[{list(smallest)}, {[m_ + max(s_, d_) - 1 for m_, s_, d_ in zip(smallest, stride, dilation)]}]"
            )
    return size


def conv_transpose(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1,
                   groups=1, output_size=None, channels_last=False, out=None, workers=None):
    """Transposed convolution: the adjoint of :func:`conv` w.r.t. its input, plus bias.

    ``w`` has the shape of the weight of the convolution it transposes,
    ``(C_in, C_out/groups, *K)``, as in torch.  The output spatial size is
    ``(S-1)*stride - lo - hi + dilation*(k-1) + output_padding + 1``;
    ``output_size`` (spatial sizes or the full shape) picks any size whose
    forward convolution gives back ``S`` and overrides ``output_padding``.
    ``padding="same"`` means the forward conv was "same": the output is
    ``S*stride`` (+ output_padding) unless ``output_size`` says otherwise.
    """
    x = _as_real_array(x, "x")
    w = _as_real_array(w, "w")
    d = _spatial_rank(w)
    batched = _is_batched(x.ndim, d, "x", x.shape)
    xb = x if batched else x[None]
    n = xb.shape[0]
    c_in = xb.shape[-1] if channels_last else xb.shape[1]
    x_spatial = xb.shape[1:-1] if channels_last else xb.shape[2:]
    if c_in != w.shape[0]:
        raise ValueError(f"x has {c_in} channels but w of shape {w.shape} transposes a "
                         f"convolution with {w.shape[0]} output channels")
    g = operator.index(groups) if not isinstance(groups, bool) else groups
    if not isinstance(g, int) or g < 1 or w.shape[0] % g:
        raise ValueError(f"groups must be a positive int dividing w.shape[0]={w.shape[0]}, "
                         f"got {groups!r}")
    c_out = w.shape[1] * g
    size = _transpose_size(x_spatial, w.shape[2:], stride, padding, output_padding,
                           dilation, output_size, channels_last, n, c_out)
    if any(s < 0 for s in size):
        raise ValueError(f"the transposed convolution has a negative output size {size}")
    geom = ConvGeometry.create(size, w.shape[2:], in_channels=c_out, out_channels=w.shape[0],
                               stride=stride, padding=padding, dilation=dilation, groups=g)
    # With output_padding >= stride (dilation > stride) the conv of `size` has
    # more outputs than x has positions: those see a zero gradient, as in torch.
    extra = [o - s for o, s in zip(geom.out_spatial, x_spatial)]
    if any(e < 0 for e in extra):
        raise ValueError(f"output size {size} is too small for an input of size "
                         f"{tuple(x_spatial)}")
    input_shape = _shape_in_layout((n, c_out) + size, channels_last, batched)
    compute, result = _dtypes(x, w)
    bias_arr = None
    if bias is not None:
        bias_arr = _as_real_array(bias, "bias")
        if bias_arr.shape not in ((c_out,), (c_out,) + size):
            raise ValueError(f"bias must have shape ({c_out},) or ({c_out}, *{size}), "
                             f"got {bias_arr.shape}")
    _check_out(out, input_shape, result)
    threads = resolve_workers(workers)
    gy_cf = _channels_first(xb, channels_last)
    if any(extra):
        gy_cf = _engine.pad_or_crop(np.asarray(gy_cf, compute), [(0, e) for e in extra])
    res = _grad_input(geom, gy_cf, w, n, compute, threads)
    if bias_arr is not None:
        b = bias_arr.astype(compute, copy=False)
        res += b.reshape((c_out,) + (1,) * d) if b.ndim == 1 else b
    return _deliver(res, out, result, channels_last, batched)


conv_transpose1d, conv_transpose2d, conv_transpose3d = (_rank_checked(conv_transpose, d)
                                                      for d in (1, 2, 3))
