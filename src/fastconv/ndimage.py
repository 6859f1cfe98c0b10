"""Drop-in replacements for scipy.ndimage's correlate and convolve, on fastconv's
direct SIMD filter engine.

Same results as SciPy: the output has the shape of `input` and the dtype of
`input` (or of `output`), every boundary ``mode`` ('reflect', 'constant',
'nearest', 'mirror', 'wrap' and the 'grid-*' aliases SciPy accepts), `cval`,
`origin` (scalar or per axis), complex data (``correlate`` conjugates complex
weights, as SciPy does), the same dtypes SciPy accepts and the exceptions it
raises.  As in SciPy, weights with ``|w| <= 2.2e-16`` are left out of the sum
(a NaN under such a weight does not propagate), and a floating-point result
stored into an integer output is truncated towards zero and wraps around as
SciPy's C cast does on x86-64.

Differences: float32 input with a float32 output is computed in single
precision (SciPy sums in double), with flush-to-zero; ``workers=`` sets the
threads (the GIL is released).  With 'reflect' weights reaching more than two
periods (four lengths) beyond an edge, the extension stays periodic, where
SciPy maps the positions 2k periods out (k >= 2) to index -1 and reads outside
the line.  ``axes=`` works as in SciPy: the weights have
one dimension per listed axis, the other axes are batch axes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import numpy as np

from fastconv import _filtering
from fastconv._threads import resolve_workers
from fastconv._validate import aligned

__all__ = ["correlate", "convolve"]

# scipy.ndimage's boundary modes, by the rule the filter applies.
_MODES = {"nearest": "nearest", "wrap": "wrap", "reflect": "reflect",
          "grid-mirror": "reflect", "mirror": "mirror", "constant": "constant",
          "grid-wrap": "wrap", "grid-constant": "constant"}
# dtypes the C filters of scipy.ndimage read and write
_SUPPORTED = frozenset("?bBhHiIlLqQfd")


# -- SciPy's argument rules -------------------------------------------------------

def _check_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    if np.isscalar(axes):
        axes = (operator.index(axes),)
    elif isinstance(axes, Iterable):
        axes = tuple(operator.index(ax) for ax in axes)
        for ax in axes:
            if ax < -ndim or ax > ndim - 1:
                raise ValueError(f"specified axis: {ax} is out of range")
        axes = tuple(ax % ndim if ax < 0 else ax for ax in axes)
    else:
        raise ValueError("axes must be an integer, iterable of integers, or None")
    if len(set(axes)) != len(axes):
        raise ValueError("axes must be unique")
    return axes


def _normalize_sequence(value, rank):
    if not isinstance(value, str) and np.iterable(value):
        out = list(value)
        if len(out) != rank:
            raise RuntimeError("sequence argument must have length equal to input rank")
        return out
    return [value] * rank


def _expand_weights(ndim, axes, weights):
    if len(axes) < ndim:
        if weights.ndim != len(axes):
            raise RuntimeError(f"weights.ndim ({weights.ndim}) must match len(axes) "
                               f"({len(axes)})")
        weights = np.expand_dims(weights, tuple(a for a in range(ndim) if a not in axes))
    return weights


def _expand_origin(ndim, axes, origin):
    origins = _normalize_sequence(origin, len(axes))
    if len(axes) < ndim:
        full = [0] * ndim
        for o, ax in zip(origins, axes):
            full[ax] = o
        origins = full
    return origins


def _get_output(output, input, complex_output=False):
    """SciPy's _ni_support._get_output: the array to fill (every element gets
    written, so a new one need not be zeroed)."""
    shape = input.shape
    if output is None:
        if not complex_output:
            return np.empty(shape, dtype=input.dtype.name)
        return np.empty(shape, dtype=np.promote_types(input.dtype, np.complex64))
    if isinstance(output, (type, np.dtype)):
        if complex_output and np.dtype(output).kind != "c":
            import warnings

            warnings.warn("promoting specified output dtype to complex", stacklevel=4)
            output = np.promote_types(output, np.complex64)
        return np.empty(shape, dtype=output)
    if isinstance(output, str):
        output = np.dtype(output)
        if complex_output and output.kind != "c":
            raise RuntimeError("output must have complex dtype")
        if not issubclass(output.type, np.number):
            raise RuntimeError("output must have numeric dtype")
        return np.empty(shape, dtype=output)
    output = np.asarray(output)
    if output.shape != shape:
        raise RuntimeError("output shape not correct")
    if complex_output and output.dtype.kind != "c":
        raise RuntimeError("output must have complex dtype")
    return output


def _real_cval(cval):
    if isinstance(cval, (str, bytes, complex, np.complexfloating)) or cval is None:
        raise TypeError(f"must be real number, not {type(cval).__name__}")
    try:
        return float(cval)
    except (TypeError, ValueError):
        raise TypeError(f"must be real number, not {type(cval).__name__}") from None


def _check_origin_ints(origins):
    for o in origins:
        if isinstance(o, (bool, np.bool_)):
            raise TypeError("an integer is required")
        operator.index(o)


# -- casting like SciPy's C filters ------------------------------------------------

def _store(y, out):
    """Write the float result into `out` as scipy.ndimage's C cast does on x86-64
    (truncation, then the low bits: via int32 for bool, types up to 16 bits and
    int32, via int64 above), or rounding to float."""
    dt = out.dtype
    if dt.kind == "f":
        np.copyto(out, y, casting="unsafe")
        return
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.trunc(y)
        if dt.itemsize < 4 or dt == np.int32:
            lim = 2.0 ** 31
            i = np.where((t >= -lim) & (t < lim), t, -lim).astype(np.int64)
        elif dt == np.uint64:
            top = t >= 2.0 ** 63
            i = np.where(top, t - 2.0 ** 63, t)
            i = np.where((i >= -2.0 ** 63) & (i < 2.0 ** 63), i, -2.0 ** 63).astype(np.int64)
            i = i.view(np.uint64) + (top.astype(np.uint64) << np.uint64(63))
        else:
            i = np.where((t >= -2.0 ** 63) & (t < 2.0 ** 63), t, -2.0 ** 63).astype(np.int64)
    if dt.kind == "b":  # npy_bool is an unsigned char: the low byte, then nonzero
        i = (i & 0xFF) != 0
    np.copyto(out, i, casting="unsafe")


# -- the filter -------------------------------------------------------------------

def _complex_via_real_components(input, weights, output, mode, cval, origin, axes,
                                 workers, convolution):
    """As SciPy: complex filtering as a linear combination of real ones."""
    kw = dict(mode=mode, origin=origin, axes=axes, workers=workers,
              convolution=convolution)
    ci, cw = input.dtype.kind == "c", weights.dtype.kind == "c"
    if ci and cw:
        _filter(input.real, weights.real, output.real, cval=np.real(cval), **kw)
        output.real -= _filter(input.imag, weights.imag, None, cval=np.imag(cval), **kw)
        _filter(input.real, weights.imag, output.imag, cval=np.real(cval), **kw)
        output.imag += _filter(input.imag, weights.real, None, cval=np.imag(cval), **kw)
    elif ci:
        _filter(input.real, weights, output.real, cval=np.real(cval), **kw)
        _filter(input.imag, weights, output.imag, cval=np.imag(cval), **kw)
    else:
        if np.iscomplexobj(cval):
            raise ValueError("Cannot provide a complex-valued cval when the input is real.")
        _filter(input, weights.real, output.real, cval=cval, **kw)
        _filter(input, weights.imag, output.imag, cval=cval, **kw)
    return output


def _filter(input, weights, output, mode, cval, origin, axes, workers, convolution):
    input = aligned(np.asarray(input))
    weights = aligned(np.asarray(weights))
    if input.dtype.kind == "c" or weights.dtype.kind == "c":
        if weights.dtype.kind == "c" and not convolution:
            weights = weights.conj()  # as np.correlate: conjugate the weights
        output = _get_output(output, input, complex_output=True)
        return _complex_via_real_components(input, weights, output, mode, cval, origin,
                                            axes, workers, convolution)
    axes = _check_axes(axes, input.ndim)
    weights = np.asarray(weights, dtype=np.float64)
    weights = _expand_weights(input.ndim, axes, weights)
    origins = _expand_origin(input.ndim, axes, origin)
    wshape = [n for n in weights.shape if n > 0]
    if len(wshape) != input.ndim:
        raise RuntimeError(f"weights.ndim ({len(wshape)}) must match len(axes) "
                           f"({len(axes)})")
    if convolution:
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        for i in range(len(origins)):
            origins[i] = -origins[i]
            if not weights.shape[i] & 1:
                origins[i] -= 1
    for o, k in zip(origins, wshape):
        if o < -(k // 2) or o > (k - 1) // 2:
            raise ValueError("Invalid origin; origin must satisfy -(weights.shape[k] // 2) "
                             "<= origin[k] <= (weights.shape[k]-1) // 2")
    output = _get_output(output, input)
    if not isinstance(mode, str) and isinstance(mode, Iterable):
        raise RuntimeError("A sequence of modes is not supported")
    if not isinstance(mode, str) or mode not in _MODES:
        raise RuntimeError("boundary mode not supported")
    _check_origin_ints(origins)
    cval = _real_cval(cval)
    if input.dtype.char not in _SUPPORTED or output.dtype.char not in _SUPPORTED:
        if input.dtype.kind in "USV":
            raise TypeError(f"data type {input.dtype.name!r} not understood")
        raise RuntimeError("array type not supported")
    threads = resolve_workers(workers)
    _run(input, weights, output, _MODES[mode], cval, [int(o) for o in origins], threads)
    return output


def _run(input, weights, output, mode, cval, origins, threads):
    """Filter `input` into `output` (validated; weights expanded to input.ndim)."""
    if input.size == 0:
        return
    if input.ndim == 0:
        w = float(weights)
        _store(np.asarray(w * float(input) if abs(w) > _filtering.NDIMAGE_EPS else 0.0), output)
        return
    # Filtered axes: those the weights extend along (size 1 with origin 0 is the
    # identity); the others are batch axes.
    axes = tuple(a for a in range(input.ndim) if weights.shape[a] > 1)
    if not axes:
        axes = (input.ndim - 1,) if input.ndim else ()
    batch = tuple(a for a in range(input.ndim) if a not in axes)
    perm = batch + axes
    compute = np.dtype(np.float32 if input.dtype == np.float32 and output.dtype == np.float32
                       else np.float64)
    x = np.transpose(input, perm)
    S = x.shape[len(batch):]
    x = np.ascontiguousarray(x, compute).reshape((-1,) + S)
    w = np.ascontiguousarray(np.transpose(weights, perm)[(0,) * len(batch)], compute)[None]
    lo = [weights.shape[a] // 2 + origins[a] for a in axes]
    # write straight into `output` when it is laid out as the engine writes
    direct_out = None
    if (output.dtype == compute and output.flags.c_contiguous and perm == tuple(range(input.ndim))
            and not np.may_share_memory(output, input)):
        direct_out = output.reshape((-1,) + S)
    y = _filtering.direct(x, w, lo, (mode,) * len(axes), cval, S, threads, skip_eps=True,
                          out=direct_out)
    if direct_out is not None:
        return
    y = y.reshape(tuple(input.shape[a] for a in batch) + S)
    _store(np.transpose(y, np.argsort(perm)), output)


_DOC_PARAMS = """
    Parameters
    ----------
    input : array_like
        The input array (bool, integer, float32, float64 or complex).
    weights : array_like
        Weights, one dimension per axis of `input` (or per axis in `axes`).
    output : ndarray or dtype, optional
        Array to fill (the input's shape) or dtype of the result.  Default:
        the dtype of `input`.
    mode : {'reflect', 'constant', 'nearest', 'mirror', 'wrap', 'grid-mirror',
            'grid-constant', 'grid-wrap'}, default 'reflect'
        How the input extends beyond its edges:
        ``reflect`` (d c b a | a b c d | d c b a), ``constant`` (`cval`),
        ``nearest`` (a a a a | a b c d | d d d d), ``mirror``
        (d c b | a b c d | c b a), ``wrap`` (a b c d | a b c d | a b c d).
    cval : scalar, default 0.0
        The value beyond the edges for ``mode='constant'``.
    origin : int or sequence of int, default 0
        Shift of the filter: 0 centres it on the pixel, positive values
        shift it to the left (one per axis, or one for all).
    axes : int or sequence of int, optional
        The axes to filter (default all); the others are batch axes.
        Keyword only.
    workers : int, optional
        Threads (``None``, the default: ``fastconv.get_num_threads()``;
        ``-1``: all cores).  Keyword only.

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape and of the dtype of `input`
        (or of `output`); `output` itself when an array was given.  Complex
        input or weights give a complex result.

    Raises
    ------
    RuntimeError
        Weights of the wrong dimensionality, an unknown `mode` or a sequence
        of modes, an `output` of the wrong shape or a non-numeric one, or an
        unsupported dtype (as SciPy).
    ValueError
        An origin outside ``-(k // 2) <= origin <= (k - 1) // 2``, invalid or
        repeated `axes`, a complex `cval` with real input and complex weights.
    TypeError
        A non-real `cval` (with real data), a bool `origin`, a string dtype
        of `input`.
"""

_SEE_ALSO = """
    See Also
    --------
    {other} : {other_what}.
    fastconv.signal.{name} : Full/valid/same output sizes, zero padding.
    scipy.ndimage.{name} : The reference.
"""


def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None,
              workers=None):
    """Multidimensional correlation (``scipy.ndimage.correlate``).

    ``result[i] = sum_j weights[j] * input[i + j - (k // 2 + origin)]``, the
    input extended beyond its edges by `mode`.
    """
    return _filter(input, weights, output, mode, cval, origin, axes, workers, False)


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None,
             workers=None):
    """Multidimensional convolution (``scipy.ndimage.convolve``).

    Correlation with the weights reversed along every axis and the origins
    negated (shifted by one more for even sizes), as SciPy defines it.
    """
    return _filter(input, weights, output, mode, cval, origin, axes, workers, True)


correlate.__doc__ += _DOC_PARAMS + _SEE_ALSO.format(
    name="correlate", other="convolve", other_what="The same with the weights flipped") + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import ndimage
    >>> ndimage.correlate(np.arange(5.0), [1, 2, 1], mode="nearest")
    array([ 1.,  4.,  8., 12., 15.])
    >>> ndimage.correlate(np.arange(5), [1, 1, 1], mode="constant")   # int in, int out
    array([1, 3, 6, 9, 7])

    The same values as SciPy:

    >>> import scipy.ndimage
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((32, 32)), rng.standard_normal((5, 3))
    >>> bool(np.allclose(ndimage.correlate(x, w, mode="constant", cval=1.5),
    ...                  scipy.ndimage.correlate(x, w, mode="constant", cval=1.5)))
    True

    A stack of float32 images, filtering axes 1 and 2 (computed in float32):

    >>> s = rng.standard_normal((4, 20, 20)).astype(np.float32)
    >>> y = ndimage.correlate(s, np.full((3, 3), 1 / 9), axes=(1, 2))
    >>> print(y.shape, y.dtype, bool(np.allclose(y[3], scipy.ndimage.uniform_filter(s[3], 3),
    ...                                          atol=1e-5)))
    (4, 20, 20) float32 True
"""
convolve.__doc__ += _DOC_PARAMS + _SEE_ALSO.format(
    name="convolve", other="correlate", other_what="The same without the flip") + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import ndimage
    >>> ndimage.convolve(np.arange(5.0), [1, 0, -1], mode="nearest")
    array([1., 2., 2., 2., 1.])
    >>> import scipy.ndimage
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((32, 32)), rng.standard_normal((4, 3))
    >>> bool(np.allclose(ndimage.convolve(x, w, mode="wrap", origin=(1, -1)),
    ...                  scipy.ndimage.convolve(x, w, mode="wrap", origin=(1, -1))))
    True
"""
