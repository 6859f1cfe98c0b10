"""The convolution and its three faces: forward, grad_input (= transposed
convolution) and grad_weight, plus grad_bias and a vjp.

This module validates arguments, applies the dtype and layout policy and
dispatches to the engine; it never loops over data itself.
"""

from __future__ import annotations

import operator
from functools import lru_cache
from math import prod

import numpy as np

from fastconv import _engine, _padding
from fastconv._geometry import ConvGeometry, normalize_padding, normalize_tuple
from fastconv._threads import resolve_workers
from fastconv._validate import aligned

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
    return aligned(arr)


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
    if out is None or channels_last or out.dtype != compute or not out.flags.aligned:
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
    shape = (n, geom.in_channels) + geom.padded_spatial
    if gy_cf.size and prod(shape):
        plan = _engine.make_plan(geom, n, threads)
        gx = (np.empty if _engine.grad_input_writes_all(plan) else np.zeros)(shape, compute)
        _engine.grad_input(plan, np.ascontiguousarray(gy_cf, compute),
                           np.ascontiguousarray(w, compute), gx)
    else:
        gx = np.zeros(shape, compute)
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

    The kernel is not flipped, as in ``torch.nn.functional.conv1d/2d/3d``;
    the number of spatial dimensions d is ``w.ndim - 2``, any d >= 1.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        Input of any real dtype (bool, integer or floating).  With
        ``channels_last=True``: (N, *S, C_in) or (*S, C_in).
    w : array_like, shape (C_out, C_in/groups, *K)
        Weight; every kernel size must be >= 1.
    bias : array_like, shape (C_out,) or untied (C_out, *S_out), optional
        Added per output channel (or per channel and position).  Default: none.
    stride : int or sequence of d ints, default 1
        Step between output positions, >= 1.
    padding : int, d ints, d (lo, hi) pairs, "valid", "same" or "full", default 0
        Padding added to both sides (or lo/hi) of every spatial axis.  "valid"
        is 0; "same" gives ``ceil(S / stride)`` outputs, the odd remainder
        padded on the high side; "full" pads ``dilation*(K-1)`` on both sides.
    dilation : int or sequence of d ints, default 1
        Spacing between kernel taps, >= 1.
    groups : int, default 1
        Number of channel groups; must divide C_in and C_out.  Output channel
        ``o`` sees input channels of group ``o // (C_out/groups)`` only.
    padding_mode : {"zeros", "reflect", "replicate", "circular", "mean"}, default "zeros"
        Values of the padding: as scipy.ndimage's "constant" (0), "mirror",
        "nearest" and "wrap" (torch's padding modes); "mean" pads with the
        per-(sample, channel) mean of the input.
    channels_last : bool, default False
        ``x``, ``out`` and the result put the channel axis last; ``w`` keeps
        its layout.
    out : ndarray, optional
        Array to write the result into: exactly its shape and dtype,
        writeable and C-contiguous in the chosen layout.
    workers : None, int > 0 or -1, default None
        Threads: None means ``fastconv.get_num_threads()``, -1 all cores.

    Returns
    -------
    y : ndarray, shape (N, C_out, *S_out)
        Unbatched input gives (C_out, *S_out); channels last (N, *S_out, C_out).
        ``S_out = (S + lo + hi - dilation*(K-1) - 1) // stride + 1``, or 0
        when the kernel is larger than the padded input.  dtype: float64 if
        ``x`` and ``w`` are both integer/bool; float16 if they promote to
        float16 (computed in float32); otherwise
        ``np.result_type(x, w, np.float32)`` (long double is computed in
        float64).  ``out`` itself when given.

    Raises
    ------
    TypeError
        ``x``, ``w`` or ``bias`` complex or non-numeric; ``stride``,
        ``padding``, ``dilation`` or ``groups`` not integers; ``out`` not an
        ndarray.
    ValueError
        ``w`` with fewer than 3 dimensions or a kernel size < 1; ``x`` with
        neither ``w.ndim`` nor ``w.ndim - 1`` dimensions; C_in other than
        ``w.shape[1] * groups``; ``groups`` < 1 or not dividing C_in and
        C_out; ``stride`` or ``dilation`` < 1, negative or malformed
        ``padding``; an unknown ``padding_mode``; ``bias`` of another shape;
        ``out`` of the wrong shape or dtype, read-only or not C-contiguous.
    NotImplementedError
        More than 16 spatial dimensions.

    See Also
    --------
    conv1d, conv2d, conv3d : The same, checking the rank of ``w``.
    conv_grad_input, conv_grad_weight, conv_grad_bias : Its gradients.
    conv_transpose : The transposed convolution (adjoint w.r.t. ``x``).
    conv_vjp : The output and its pullback in one call.
    ConvOperator, conv_matrix : The convolution as a linear map.
    scipy.signal.correlate : Single-channel cross-correlation.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.conv(np.arange(5).reshape(1, 5), np.array([[[1, 2, 3]]]))  # int -> float64
    array([[ 8., 14., 20.]])

    A batch of 3-channel images, 4 output channels:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    >>> w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    >>> y = fastconv.conv(x, w, stride=2, padding="same")
    >>> print(y.shape, y.dtype)
    (2, 4, 8, 8) float32
    >>> y_last = fastconv.conv(x.transpose(0, 2, 3, 1), w, stride=2, padding="same",
    ...                        channels_last=True)
    >>> print(y_last.shape, bool(np.allclose(y_last, y.transpose(0, 2, 3, 1), atol=1e-5)))
    (2, 8, 8, 4) True

    Each output channel is a sum of scipy.signal correlations:

    >>> from scipy import signal
    >>> ref = sum(signal.correlate(x[1, c], w[2, c], mode="same") for c in range(3))
    >>> bool(np.allclose(fastconv.conv(x, w, padding="same")[1, 2], ref, atol=1e-4))
    True

    ``padding_mode="circular"`` is ``np.pad(..., mode="wrap")`` then no padding:

    >>> xw = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="wrap")
    >>> bool(np.allclose(fastconv.conv(x, w, padding=1, padding_mode="circular"),
    ...                  fastconv.conv(xw, w), atol=1e-5))
    True
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


_RANK_SPATIAL = {1: ("L", "k", "L_out"), 2: ("H, W", "kH, kW", "H_out, W_out"),
                 3: ("D, H, W", "kD, kH, kW", "D_out, H_out, W_out")}
_RANK_KEYWORDS = {
    "conv": "stride, padding, dilation, groups, padding_mode, channels_last, out, workers",
    "conv_transpose": "stride, padding, output_padding, dilation, groups, output_size, "
                      "channels_last, out, workers",
}
_RANK_EXAMPLES = {
    "conv1d": """\
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> fastconv.conv1d(x, np.array([[[1.0, 2.0, 3.0]]]))
    array([[[ 8., 14., 20.]]])
    >>> np.correlate(x[0, 0], [1.0, 2.0, 3.0], mode="valid")
    array([ 8., 14., 20.])""",
    "conv2d": """\
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> fastconv.conv2d(x, np.ones((1, 1, 2, 2)))[0, 0]   # sums of 2x2 windows
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    >>> fastconv.conv2d(np.ones((1, 1, 4)), np.ones((1, 1, 3)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: conv2d needs a weight with 4 dimensions ... got shape (1, 1, 3)""",
    "conv3d": """\
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((1, 2, 4, 5, 6))
    >>> w = rng.standard_normal((3, 2, 3, 3, 3))
    >>> y = fastconv.conv3d(x, w, padding=1)
    >>> print(y.shape, bool(np.array_equal(y, fastconv.conv(x, w, padding=1))))
    (1, 3, 4, 5, 6) True""",
    "conv_transpose1d": """\
    >>> x = np.array([[[1.0, 0.0, 10.0]]])
    >>> fastconv.conv_transpose1d(x, np.array([[[1.0, 2.0, 3.0]]]), stride=2)
    array([[[ 1.,  2.,  3.,  0., 10., 20., 30.]]])""",
    "conv_transpose2d": """\
    >>> y = fastconv.conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 3, 2, 2)), stride=2)
    >>> print(y.shape, np.unique(y))   # each pixel becomes a 2x2 block, 2 channels summed
    (1, 3, 8, 8) [2.]""",
    "conv_transpose3d": """\
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((1, 4, 3, 3, 3))
    >>> w = rng.standard_normal((4, 2, 3, 3, 3))
    >>> fastconv.conv_transpose3d(x, w, stride=2, padding=1).shape
    (1, 2, 5, 5, 5)
    >>> fastconv.conv_transpose3d(x, w, stride=2, padding=1, output_size=(6, 6, 6)).shape
    (1, 2, 6, 6, 6)""",
}


def _rank_doc(base, d):
    """The docstring of the d-d wrapper of ``base`` (conv or conv_transpose)."""
    name = f"{base}{d}d"
    s, k, s_out = _RANK_SPATIAL[d]
    w_shape = (f"(C_out, C_in/groups, {k})" if base == "conv"
               else f"(C_in, C_out/groups, {k})")
    x_shape = f"(N, C_in, {s}) or (C_in, {s})"
    return f"""{d}-d :func:`{base}`: the same call, with a weight of exactly {d + 2} dimensions.

    Parameters
    ----------
    x : array_like, shape {x_shape}
        As for :func:`{base}` (channels last with ``channels_last=True``).
    w : array_like, shape {w_shape}
        As for :func:`{base}`.
    bias : array_like, shape (C_out,) or (C_out, {s_out}), optional
        As for :func:`{base}`.  Default: none.
    **kwargs
        The keywords of :func:`{base}`, with the same meaning and defaults:
        {_RANK_KEYWORDS[base]}.

    Returns
    -------
    y : ndarray, shape (N, C_out, {s_out}) or (C_out, {s_out})
        As :func:`{base}` returns it (dtype rule included).

    Raises
    ------
    ValueError
        ``w`` does not have {d + 2} dimensions; otherwise as :func:`{base}`.
    TypeError
        As :func:`{base}`.

    See Also
    --------
    {base} : The same for any number of spatial dimensions.

    Examples
    --------
    >>> import numpy as np, fastconv
{_RANK_EXAMPLES[name]}
    """


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
    checked.__doc__ = _rank_doc(fn.__name__, d)
    return checked


conv1d, conv2d, conv3d = (_rank_checked(conv, d) for d in (1, 2, 3))


def conv_grad_input(grad_out, w, input_shape, *, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", channels_last=False, out=None, workers=None):
    """Gradient of :func:`conv` with respect to its input (the transposed convolution).

    For the linear map ``A: x -> conv(x, w, **kw)`` this is ``A^T grad_out``,
    so ``<conv(x, w), g> == <x, conv_grad_input(g, w, x.shape)>`` to rounding.
    With a ``padding_mode`` other than "zeros" the gradient reaching the
    padding is folded back onto the input elements it copies.

    Parameters
    ----------
    grad_out : array_like, shape of the forward output
        (N, C_out, *S_out), or unbatched / channels last as ``conv`` returns it.
    w : array_like, shape (C_out, C_in/groups, *K)
        The weight of the forward convolution.
    input_shape : sequence of ints
        The whole shape of ``x`` in the chosen layout, batched or unbatched.
        It is needed because with ``stride > 1`` several input sizes give the
        same output size.
    stride, padding, dilation, groups, padding_mode : optional
        Those of the forward convolution, with the meaning and defaults of
        :func:`conv`.
    channels_last : bool, default False
        ``grad_out``, ``input_shape`` and the result have the channel axis last.
    out : ndarray, optional
        Array of shape ``input_shape`` and the result dtype, writeable and
        C-contiguous, to write the result into.
    workers : None, int > 0 or -1, default None
        Threads, as for :func:`conv`.

    Returns
    -------
    grad_x : ndarray, shape ``input_shape``
        The dtype is float64 if ``grad_out`` and ``w`` are integer/bool, float16 if
        they promote to float16 (computed in float32), else
        ``np.result_type(grad_out, w, np.float32)``.  ``out`` when given.

    Raises
    ------
    TypeError
        ``grad_out`` or ``w`` complex or non-numeric, ``input_shape`` not a
        sequence of ints; otherwise as :func:`conv`.
    ValueError
        ``grad_out`` not of the forward output's shape, a negative size in
        ``input_shape``; otherwise as :func:`conv`.

    See Also
    --------
    conv_transpose : The same map in torch's convention, with a bias.
    conv_grad_weight : The gradient with respect to the weight.
    conv_vjp : All the gradients in one pullback.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> g = np.array([[1, 0, 10]])   # each output scatters w back over its window
    >>> fastconv.conv_grad_input(g, np.array([[[1, 2, 3]]]), (1, 5))
    array([[ 1.,  2., 13., 20., 30.]])

    The adjoint identity, with stride 2 on 9 x 9 images:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 9, 9))
    >>> w = rng.standard_normal((4, 3, 3, 3))
    >>> g = rng.standard_normal((2, 4, 4, 4))          # conv(x, w, stride=2).shape
    >>> gx = fastconv.conv_grad_input(g, w, x.shape, stride=2)
    >>> gx.shape
    (2, 3, 9, 9)
    >>> bool(np.isclose(np.vdot(fastconv.conv(x, w, stride=2), g), np.vdot(x, gx)))
    True
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
    """Gradient of :func:`conv` with respect to its weight.

    ``gw[o, c, t] = sum_{n, p} grad_out[n, o, p] * xpad[n, c', p*stride + t*dilation]``
    (``c'`` the input channel ``c`` of the group of ``o``): the adjoint of
    ``w -> conv(x, w)``.  The reduction order is fixed by the shapes alone, so
    the result is bitwise the same whatever ``workers`` is.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        The input of the forward convolution (channels last with
        ``channels_last=True``).
    grad_out : array_like, shape of the forward output
        (N, C_out, *S_out), in the layout of ``x``.
    weight_shape : sequence of ints, (C_out, C_in/groups, *K)
        Shape of the weight; kernel sizes >= 1.
    stride, padding, dilation, groups, padding_mode : optional
        Those of the forward convolution, with the meaning and defaults of
        :func:`conv`.
    channels_last : bool, default False
        ``x`` and ``grad_out`` have the channel axis last (the weight never does).
    out : ndarray, optional
        Array of shape ``weight_shape`` and the result dtype, writeable and
        C-contiguous, to write the result into.
    workers : None, int > 0 or -1, default None
        Threads, as for :func:`conv`.

    Returns
    -------
    grad_w : ndarray, shape ``weight_shape``
        The dtype is float64 if ``x`` and ``grad_out`` are integer/bool, float16 if
        they promote to float16 (computed in float32), else
        ``np.result_type(x, grad_out, np.float32)``.  ``out`` when given.

    Raises
    ------
    TypeError
        ``x`` or ``grad_out`` complex or non-numeric, ``weight_shape`` not a
        sequence of ints; otherwise as :func:`conv`.
    ValueError
        ``weight_shape`` with fewer than 3 entries, a negative entry or a
        kernel size < 1; ``grad_out`` not of the forward output's shape;
        otherwise as :func:`conv`.

    See Also
    --------
    conv_grad_input, conv_grad_bias, conv_vjp

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[0, 1, 2, 3, 4]])
    >>> fastconv.conv_grad_weight(x, np.array([[1, 0, 1]]), (1, 1, 3))  # x[0:3] + x[2:5]
    array([[[2., 4., 6.]]])

    ``w -> conv(x, w)`` is linear, and this is its adjoint:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 9, 9))
    >>> w = rng.standard_normal((4, 3, 3, 3))
    >>> g = rng.standard_normal((2, 4, 4, 4))          # conv(x, w, stride=2).shape
    >>> gw = fastconv.conv_grad_weight(x, g, w.shape, stride=2)
    >>> bool(np.isclose(np.vdot(fastconv.conv(x, w, stride=2), g), np.vdot(w, gw)))
    True
    >>> bool(np.array_equal(gw, fastconv.conv_grad_weight(x, g, w.shape, stride=2, workers=1)))
    True
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
    """Gradient with respect to a tied bias: ``grad_out`` summed over all but the channel axis.

    Parameters
    ----------
    grad_out : array_like, shape (N, C_out, *S_out)
        Gradient of the output, batched; with ``channels_last``
        (N, *S_out, C_out) or unbatched (*S_out, C_out).
    channels_last : bool, default False
        The channel axis is the last one instead of axis 1.

    Returns
    -------
    grad_b : ndarray, shape (C_out,)
        The dtype is float64 for integer/bool ``grad_out``, float16 for float16
        (summed in float32), else ``np.result_type(grad_out, np.float32)``.

    Raises
    ------
    TypeError
        ``grad_out`` complex or non-numeric.
    ValueError
        ``grad_out`` with fewer than 2 dimensions.

    See Also
    --------
    conv_grad_input, conv_grad_weight, conv_vjp

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> g = np.arange(12).reshape(2, 3, 2)     # N=2, C_out=3, S_out=2
    >>> fastconv.conv_grad_bias(g)
    array([14., 22., 30.])
    >>> fastconv.conv_grad_bias(g.transpose(0, 2, 1), channels_last=True)
    array([14., 22., 30.])
    """
    gy = _as_real_array(grad_out, "grad_out")
    if gy.ndim < 2:
        raise ValueError(f"grad_out must have a batch and a channel axis, got shape {gy.shape}")
    axis = gy.ndim - 1 if channels_last else 1
    compute, result = _dtypes(gy)
    axes = tuple(a for a in range(gy.ndim) if a != axis)
    return gy.astype(compute, copy=False).sum(axis=axes).astype(result, copy=False)


def conv_vjp(x, w, bias=None, **kwargs):
    """The output of :func:`conv` and its pullback (vector-Jacobian product).

    ``y = conv(x, w, bias, **kwargs)``; ``vjp(g)`` returns the gradients of
    ``sum(y * g)`` with respect to ``x``, ``w`` and ``bias``.  The pullback
    keeps references to ``x`` and ``w`` and reads them when it is called.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        As for :func:`conv`.
    w : array_like, shape (C_out, C_in/groups, *K)
        As for :func:`conv`.
    bias : array_like, shape (C_out,) or (C_out, *S_out), optional
        As for :func:`conv`.  Default: none.
    **kwargs
        Keywords of :func:`conv` (``stride``, ``padding``, ``dilation``,
        ``groups``, ``padding_mode``, ``channels_last``, ``workers``), used
        by the forward and the backward calls alike; ``out`` is ignored.

    Returns
    -------
    y : ndarray
        ``conv(x, w, bias, **kwargs)``, shape and dtype as :func:`conv`.
    vjp : callable
        ``vjp(g) -> (dx, dw, db)`` for ``g`` of the shape of ``y``: ``dx`` of
        the shape of ``x``, ``dw`` of ``w``, ``db`` of ``bias`` (None without
        a bias), all of ``y``'s dtype.  It raises ValueError when ``g`` has
        another shape than ``y``.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv`.

    See Also
    --------
    conv_grad_input, conv_grad_weight, conv_grad_bias

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 8, 8))
    >>> w = rng.standard_normal((4, 3, 3, 3))
    >>> b = rng.standard_normal(4)
    >>> y, vjp = fastconv.conv_vjp(x, w, b, padding=1)
    >>> g = rng.standard_normal(y.shape)
    >>> dx, dw, db = vjp(g)
    >>> print(dx.shape, dw.shape, db.shape)
    (2, 3, 8, 8) (4, 3, 3, 3) (4,)
    >>> bool(np.allclose(dw, fastconv.conv_grad_weight(x, g, w.shape, padding=1)))
    True
    >>> bool(np.allclose(db, fastconv.conv_grad_bias(g)))
    True
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

    As ``torch.nn.functional.conv_transpose1d/2d/3d``: ``w`` has the shape of
    the weight of the convolution it transposes, ``(C_in, C_out/groups, *K)``,
    and ``conv_transpose(x, w, **kw)`` equals
    ``conv_grad_input(x, w, y_shape, **kw)`` (plus the bias).  It is the
    usual upsampling layer: each input element scatters a copy of its kernel,
    scaled, into the output at ``stride`` steps.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *S) or unbatched (C_in, *S)
        Input (channels last with ``channels_last=True``); C_in = ``w.shape[0]``.
    w : array_like, shape (C_in, C_out/groups, *K)
        Weight; d = ``w.ndim - 2`` spatial dimensions.
    bias : array_like, shape (C_out,) or untied (C_out, *S_out), optional
        Added per output channel (or per channel and position).  Default: none.
    stride : int or sequence of d ints, default 1
        Stride of the forward convolution (the upsampling factor).
    padding : int, d ints, d (lo, hi) pairs, "valid", "same" or "full", default 0
        Padding of the forward convolution, removed from the output.
        ``"same"`` means the forward convolution was "same": the output is
        ``S*stride`` (+ ``output_padding``) unless ``output_size`` says otherwise.
    output_padding : int or sequence of d ints, default 0
        Added to the high end of every output axis; each must be smaller
        than ``max(stride, dilation)``.
    dilation : int or sequence of d ints, default 1
        Dilation of the forward convolution.
    groups : int, default 1
        Channel groups; must divide C_in.
    output_size : sequence of d ints or the whole output shape, optional
        Picks any output size whose forward convolution gives back ``S``;
        overrides ``output_padding``.  Default: the smallest.
    channels_last : bool, default False
        ``x`` and the result have the channel axis last; ``w`` keeps its layout.
    out : ndarray, optional
        Array of the result's shape and dtype, writeable and C-contiguous.
    workers : None, int > 0 or -1, default None
        Threads, as for :func:`conv`.

    Returns
    -------
    y : ndarray, shape (N, C_out, *S_out)
        Unbatched or channels last as ``x``; C_out = ``w.shape[1] * groups``;
        ``S_out = (S-1)*stride - lo - hi + dilation*(K-1) + output_padding + 1``.
        The dtype is float64 if ``x`` and ``w`` are integer/bool, float16 if they
        promote to float16 (computed in float32), else
        ``np.result_type(x, w, np.float32)``.  ``out`` when given.

    Raises
    ------
    TypeError
        ``x``, ``w`` or ``bias`` complex or non-numeric; non-integer
        ``groups``, ``stride``, ``padding``, ``dilation`` or ``output_size``.
    ValueError
        ``x``'s channels differ from ``w.shape[0]``; ``groups`` not dividing
        it; ``output_padding`` not below ``max(stride, dilation)``; an
        ``output_size`` of the wrong length, batch or channels, or not
        reachable; a negative output size; ``bias`` or ``out`` of another
        shape; otherwise as :func:`conv`.

    See Also
    --------
    conv_transpose1d, conv_transpose2d, conv_transpose3d : Rank-checked versions.
    conv_grad_input : The same map, given the forward's input shape.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose(np.array([[1, 0, 10]]), np.array([[[1, 2, 3]]]))
    array([[ 1.,  2., 13., 20., 30.]])

    Upsampling by 2; the forward convolution maps the output back to ``x``'s shape:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 4, 5, 5))
    >>> w = rng.standard_normal((4, 3, 3, 3))
    >>> y = fastconv.conv_transpose(x, w, stride=2, padding=1, output_padding=1)
    >>> print(y.shape, fastconv.conv(y, w, stride=2, padding=1).shape)
    (2, 3, 10, 10) (2, 4, 5, 5)
    >>> bool(np.allclose(y, fastconv.conv_grad_input(x, w, y.shape, stride=2, padding=1)))
    True
    >>> fastconv.conv_transpose(x, w, stride=2, padding=1, output_size=(9, 9)).shape
    (2, 3, 9, 9)
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
