"""Drop-in replacements for scipy.signal's correlate, convolve, correlate2d and
convolve2d, on fastconv's direct SIMD filter engine and scipy.fft.

The results match SciPy's: same dtype (``np.result_type(in1, in2)``), same
shape, same values (to rounding for floating point, exactly for integers),
with SciPy's conventions: 'same' is centred on the 'full' result as SciPy
centres it (even kernels included, and the one-sample difference between
``correlate`` and ``correlate2d`` kept), ``correlate`` conjugates ``in2``, in
'valid' mode the inputs are swapped when ``in2`` is the larger, and invalid
arguments raise the exception types SciPy raises.

Beyond SciPy:

* ``axes=`` on every function: the axes to filter; the others are batch axes,
  where ``in1`` and ``in2`` broadcast against each other (a stack of images
  with one kernel, or one kernel per image).  ``in2`` may also have only the
  filtered axes (one kernel for the whole stack; its axes are taken in
  increasing order of ``axes``).
* ``workers=``: threads (``None``: ``fastconv.get_num_threads()``, ``-1``:
  all cores); the GIL is released.
* ``method='auto'`` picks direct or FFT by a cost model of this library's
  own kernels (``fastconv._filtering.choose_method``).

Notes on numerics: float32 and complex64 are computed in single precision,
with flush-to-zero (denormal results become 0, as in all of fastconv);
integer and boolean results are exact (integer sums wrap around as they do
in SciPy's integer loops), computed in float64 when every partial sum is
exactly representable there, else in int64; ``longdouble`` is computed in
long double.  Empty inputs give the shape the mode implies, filled with
zeros (or ``fillvalue`` sums), where SciPy is inconsistent.
"""

from __future__ import annotations

import operator
from math import prod

import numpy as np

from fastconv import _filtering
from fastconv._threads import resolve_workers
from fastconv._validate import aligned

__all__ = ["correlate", "convolve", "correlate2d", "convolve2d"]

_MODES = ("valid", "same", "full")
_METHODS = ("auto", "direct", "fft")
_BOUNDARIES = {"fill": "constant", "pad": "constant", "wrap": "wrap", "circular": "wrap",
               "symm": "reflect", "symmetric": "reflect", "reflect": None}

_MODE_ERROR = "Acceptable mode flags are 'valid', 'same', or 'full'."
_METHOD_ERROR = "Acceptable method flags are 'auto', 'direct', or 'fft'."


# -- argument handling ----------------------------------------------------------

def _check_mode(mode):
    # a dict lookup, as SciPy's: an unhashable mode raises TypeError
    if mode not in dict.fromkeys(_MODES):
        raise ValueError(_MODE_ERROR)


def _check_method(method):
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(_METHOD_ERROR)


def _normalize_axes(axes, ndim):
    """Sorted, unique, non-negative axes (scipy.fft's rules and errors)."""
    if axes is None:
        return tuple(range(ndim))
    if np.ndim(axes) == 0:
        axes = (axes,)
    out = []
    for a in axes:
        a = operator.index(a)
        if a < -ndim or a >= ndim:
            raise ValueError(f"axes exceeds dimensionality of input: axis {a} for "
                             f"{ndim}-d input")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("all axes must be unique")
    return tuple(sorted(out))


def _swap_needed(mode, s1, s2, axes):
    """SciPy's _inputs_swap_needed: in 'valid' mode the larger input goes first."""
    if mode != "valid" or not s1:
        return False
    ok1 = all(s1[i] >= s2[i] for i in axes)
    ok2 = all(s2[i] >= s1[i] for i in axes)
    if not (ok1 or ok2):
        raise ValueError("For 'valid' mode, one must be at least as large as the other "
                         "in every dimension")
    return not ok1


def _expand_kernel(in1, in2, axes, explicit_axes):
    """in2 with in1's number of dimensions (size 1 on the batch axes it lacks)."""
    if in2.ndim == in1.ndim:
        return in2
    if explicit_axes and in2.ndim == len(axes):
        return np.expand_dims(in2, tuple(a for a in range(in1.ndim) if a not in axes))
    raise ValueError(f"in2 must have as many dimensions as in1 ({in1.ndim}) or one per "
                     f"filtered axis ({len(axes)}), got shape {in2.shape}")


class _Layout:
    """Batch axes to the front (broadcast, flattened), filtered axes last."""

    def __init__(self, in1, in2, axes):
        nd = in1.ndim
        self.axes = axes
        self.batch_axes = tuple(a for a in range(nd) if a not in axes)
        for a in self.batch_axes:
            if in1.shape[a] != in2.shape[a] and 1 not in (in1.shape[a], in2.shape[a]):
                raise ValueError(f"incompatible shapes for in1 and in2: {in1.shape} and "
                                 f"{in2.shape}")
        self.perm = self.batch_axes + axes
        self.batch_shape = tuple(max(in1.shape[a], in2.shape[a]) for a in self.batch_axes)
        self.B = prod(self.batch_shape)

    def signal(self, a, dtype):
        """(B, *S) C-contiguous in dtype."""
        t = np.transpose(a, self.perm)
        nb = len(self.batch_axes)
        t = np.broadcast_to(t, self.batch_shape + t.shape[nb:])
        return np.ascontiguousarray(t, dtype).reshape((self.B,) + t.shape[nb:])

    def kernel(self, a, dtype):
        """(1, *K) when shared by every plane, else (B, *K)."""
        t = np.transpose(a, self.perm)
        nb = len(self.batch_axes)
        if all(n == 1 for n in t.shape[:nb]):
            return np.ascontiguousarray(t, dtype).reshape((1,) + t.shape[nb:])
        t = np.broadcast_to(t, self.batch_shape + t.shape[nb:])
        return np.ascontiguousarray(t, dtype).reshape((self.B,) + t.shape[nb:])

    def result(self, y):
        """(B, *O) -> the caller's axis order, C-contiguous."""
        y = y.reshape(self.batch_shape + y.shape[1:])
        inv = np.argsort(self.perm)
        if tuple(inv) == tuple(range(y.ndim)):
            return y
        return np.ascontiguousarray(np.transpose(y, inv))


def _offsets(mode, s1, s2, axes, same_lo):
    """(lo, out) along the filtered axes for SciPy's output modes."""
    lo, out = [], []
    for a in axes:
        n, k = s1[a], s2[a]
        if mode == "full":
            lo.append(k - 1)
            out.append(max(n + k - 1, 0))
        elif mode == "same":
            lo.append(same_lo(k))
            out.append(n)
        else:
            lo.append(0)
            out.append(max(n - k + 1, 0))
    return lo, out


# -- computing one canonical correlation in the result dtype -------------------

def _exact_in_float64(x, w, cval):
    """True when every partial sum of integers is exactly a float64."""
    if x.size == 0 or w.size == 0:
        return True
    big = max(float(np.max(np.abs(x.astype(np.float64)))), abs(float(cval)))
    return big * float(np.sum(np.abs(w.astype(np.float64)))) < 2.0 ** 52


def _separable(w, dtype):
    """One rank-1 2-d kernel the direct engine would run as two passes."""
    return (w.shape[0] == 1 and w.ndim == 3 and _filtering.separable_pays(w.shape[1:])
            and _filtering.rank1(w[0], dtype) is not None)


def _real_float(x, w, lo, modes, cval, out, method, threads, allow_separable=True):
    """Real float32/float64 correlation by the chosen method."""
    if method == "auto":
        method = _filtering.choose_method(x.shape[0], out, w.shape[1:], x.dtype.itemsize,
                                          threads, separable=_separable(w, x.dtype))
    if method == "fft":
        return _filtering.fft(x, w, lo, modes, cval, out, threads).astype(x.dtype, copy=False)
    return _filtering.direct(x, w, lo, modes, cval, out, threads,
                             allow_separable=allow_separable)


def _complex_float(x, w, lo, modes, cval, out, method, threads):
    """Complex correlation (no conjugation) as real ones, or one complex FFT."""
    real = np.dtype(x.real.dtype)
    if method == "auto":
        method = _filtering.choose_method(x.shape[0], out, w.shape[1:], real.itemsize,
                                          threads, passes=4, complex_=True)
    if method == "fft":
        return _filtering.fft(x, w, lo, modes, cval, out, threads).astype(x.dtype, copy=False)

    def part(a):
        return np.ascontiguousarray(a, real)

    xr, xi, wr, wi = part(x.real), part(x.imag), part(w.real), part(w.imag)
    cr, ci = np.real(cval), np.imag(cval)

    def corr(xa, ca, wa):
        return _filtering.direct(xa, wa, lo, modes, ca, out, threads)

    y = np.empty((x.shape[0],) + tuple(out), x.dtype)
    y.real = corr(xr, cr, wr) - corr(xi, ci, wi)
    y.imag = corr(xr, cr, wi) + corr(xi, ci, wr)
    return y


def _compute(x, w, lo, modes, cval, out, rt, method, threads):
    """The correlation of canonical x (B, *S), w (Bw, *K), in SciPy's result dtype."""
    shape = (x.shape[0],) + tuple(out)
    if prod(shape) == 0:
        return np.zeros(shape, rt)
    if x.size == 0 or w.size == 0:
        # empty input or kernel: only the fill value (if any) can contribute
        total = np.sum(w, axis=tuple(range(1, w.ndim))) if w.size else np.zeros(w.shape[0])
        y = np.broadcast_to(np.reshape(total * cval, (-1,) + (1,) * len(out)), shape)
        return np.array(y, dtype=rt)
    if rt.kind in "biu":
        wide = np.dtype(np.uint64) if rt.kind == "u" and rt.itemsize == 8 else np.dtype(np.int64)
        if _exact_in_float64(x, w, cval):
            y = _filtering.direct(np.ascontiguousarray(x, np.float64),
                                  np.ascontiguousarray(w, np.float64), lo, modes, float(cval),
                                  out, threads, allow_separable=False)
            y = np.rint(y).astype(np.int64).astype(wide)
        else:
            y = _filtering.exact(x.astype(wide), w.astype(wide), lo, modes, cval, out)
        return (y != 0) if rt.kind == "b" else y.astype(rt)
    if rt.kind == "O" or (rt.kind in "fc" and rt.itemsize > 16) or rt == np.longdouble:
        return _filtering.exact(x.astype(rt), w.astype(rt), lo, modes, cval, out).astype(rt)
    if rt.kind == "c":
        return _complex_float(x.astype(rt, copy=False), w.astype(rt, copy=False), lo, modes,
                              cval, out, method, threads).astype(rt, copy=False)
    compute = np.dtype(np.float64) if rt == np.float64 else np.dtype(np.float32)
    y = _real_float(np.ascontiguousarray(x, compute), np.ascontiguousarray(w, compute), lo,
                    modes, cval, out, method, threads)
    return y.astype(rt, copy=False)


def _check_numeric(rt, what):
    if rt.kind not in "biufcO":
        raise ValueError(f"Unsupported type for {what}: {rt}")


def _scipy_rejects(in1, in2, rt, mode, method):
    """SciPy's N-d direct loops have no bool or float16 (or object) version; its
    1-d direct path (NumPy's loops, when NumPy's 'same' agrees) has them all."""
    if not (rt == np.bool_ or rt == np.float16 or rt.kind == "O"):
        return False
    if in1.ndim == 1 and (mode != "same" or in1.size >= in2.size):
        return False
    if method == "direct":
        return True
    if method == "auto":
        if rt == np.bool_ or rt.kind == "O":
            return True
        from scipy.signal import choose_conv_method

        return choose_conv_method(in1, in2, mode=mode) == "direct"
    return False


# -- correlate / convolve --------------------------------------------------------

def _correlate_or_convolve(in1, in2, mode, method, axes, workers, convolution):
    in1 = aligned(np.asarray(in1))
    in2 = aligned(np.asarray(in2))
    explicit_axes = axes is not None
    if in1.ndim == in2.ndim == 0 and not explicit_axes:
        if not convolution and in2.dtype.kind == "c":
            in2 = np.conj(in2)
        return in1 * in2
    if in1.ndim != in2.ndim and not explicit_axes:
        what = "volume and kernel" if convolution else "in1 and in2"
        raise ValueError(f"{what} should have the same dimensionality")
    _check_mode(mode)
    _check_method(method)
    axes = _normalize_axes(axes, in1.ndim)
    in2 = _expand_kernel(in1, in2, axes, explicit_axes)
    rt = np.result_type(in1, in2)
    _check_numeric(rt, "correlate" if not convolution else "convolve")
    threads = resolve_workers(workers)
    if not explicit_axes and _scipy_rejects(in1, in2, rt, mode, method):
        raise ValueError("Unsupported type")

    swapped = _swap_needed(mode, in1.shape, in2.shape, axes)
    if mode == "full" and prod(in2.shape[a] for a in axes) > prod(in1.shape[a] for a in axes):
        swapped = True  # fewer taps; the full results are equal (reversed, conjugated)
    if swapped:
        in1, in2 = in2, in1
    if convolution:
        kernel = in2[tuple(slice(None, None, -1) if a in axes else slice(None)
                           for a in range(in2.ndim))]
        conj_kernel = False
    else:
        kernel = in2
        conj_kernel = in2.dtype.kind == "c"
    lay = _Layout(in1, kernel, axes)
    lo, out = _offsets(mode, in1.shape, kernel.shape, axes, lambda k: k // 2)
    x = lay.signal(in1, in1.dtype if in1.dtype.kind != "c" else rt)
    w = lay.kernel(kernel, kernel.dtype if kernel.dtype.kind != "c" else rt)
    if conj_kernel:
        w = np.conj(w)
    y = _compute(x, w, lo, ("constant",) * len(axes), 0, out, rt, method, threads)
    if swapped and not convolution:
        y = y[(slice(None),) + (slice(None, None, -1),) * len(axes)]
        if rt.kind == "c":
            y = np.conj(y)
    return lay.result(y)


_NDARGS = """
    Parameters
    ----------
    in1 : array_like
        First input (the signal): any numeric dtype, including complex.
    in2 : array_like
        Second input: the same number of dimensions as `in1`, or (with `axes`)
        one dimension per filtered axis.
    mode : {'full', 'valid', 'same'}, default 'full'
        ``full``: the full discrete linear {op}; ``valid``: only the outputs
        that do not rely on the zero padding (the larger input goes first);
        ``same``: the size of `in1`, centred on the ``full`` output as SciPy
        centres it.
    method : {'auto', 'direct', 'fft'}, default 'auto'
        ``direct``: the sums (fastconv's SIMD engine); ``fft``: scipy.fft;
        ``auto``: the faster by fastconv's cost model.  Integer and boolean
        inputs are always summed exactly.
    axes : int or sequence of int, optional
        Axes to filter (default: all).  The others are batch axes: `in1` and
        `in2` broadcast along them.  Keyword only.
    workers : int, optional
        Threads (``None``, the default: ``fastconv.get_num_threads()``;
        ``-1``: all cores).  Keyword only.

    Returns
    -------
    out : ndarray
        Of dtype ``np.result_type(in1, in2)``; along the filtered axes the size
        ``n + k - 1`` ('full'), ``n`` ('same') or ``max(n - k + 1, 0)``
        ('valid') for the larger input n and the smaller k ('same': n of
        `in1`); the batch axes keep their places and broadcast sizes.

    Raises
    ------
    ValueError
        An unknown `mode` or `method`; inputs of different dimensionality
        (without `axes`); 'valid' inputs where neither is at least as large
        as the other; incompatible batch shapes; invalid or repeated `axes`;
        a dtype SciPy rejects (non-numeric; bool or float16 where SciPy's
        N-d loops have none).
    TypeError
        An unhashable `mode`, non-integer `axes` or `workers`.
"""


def correlate(in1, in2, mode="full", method="auto", *, axes=None, workers=None):
    """Cross-correlate two N-dimensional arrays (``scipy.signal.correlate``).

    ``z[k] = sum_l in1[l] * conj(in2[l - k])`` with SciPy's output modes.
    """
    return _correlate_or_convolve(in1, in2, mode, method, axes, workers, False)


def convolve(in1, in2, mode="full", method="auto", *, axes=None, workers=None):
    """Convolve two N-dimensional arrays (``scipy.signal.convolve``).

    ``z[k] = sum_l in1[l] * in2[k - l]`` with SciPy's output modes.
    """
    return _correlate_or_convolve(in1, in2, mode, method, axes, workers, True)


def _document(fn, params, see_also, example):
    fn.__doc__ += params + """
    See Also
    --------
""" + see_also + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import signal
""" + example


_document(correlate, _NDARGS.replace("{op}", "cross-correlation"), """\
    convolve : The same without the flip and conjugation.
    correlate2d : 2-d, with boundary conditions.
    fastconv.ndimage.correlate : Same-size output, boundary modes.
    scipy.signal.correlate : The reference.
""", """\
    >>> signal.correlate([1, 2, 3], [0, 1, 0.5])
    array([0.5, 2. , 3.5, 3. , 0. ])

    The same values as SciPy:

    >>> import scipy.signal
    >>> rng = np.random.default_rng(0)
    >>> a, v = rng.standard_normal(1000), rng.standard_normal(31)
    >>> bool(np.allclose(signal.correlate(a, v, mode="same"),
    ...                  scipy.signal.correlate(a, v, mode="same")))
    True

    A stack of images and one kernel, filtering the last two axes:

    >>> imgs = rng.standard_normal((4, 32, 32))
    >>> k = rng.standard_normal((5, 5))
    >>> out = signal.correlate(imgs, k, mode="valid", axes=(1, 2))
    >>> print(out.shape, bool(np.allclose(out[2], scipy.signal.correlate(imgs[2], k, "valid"))))
    (4, 28, 28) True
""")
_document(convolve, _NDARGS.replace("{op}", "convolution"), """\
    correlate : Cross-correlation.
    convolve2d : 2-d, with boundary conditions.
    fastconv.ndimage.convolve : Same-size output, boundary modes.
    scipy.signal.convolve : The reference.
""", """\
    >>> signal.convolve([1, 2, 3], [0, 1, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> signal.convolve(np.array([1, 2, 3], np.int16), np.array([1, 1], np.int16))  # exact
    array([1, 3, 5, 3], dtype=int16)
    >>> import scipy.signal
    >>> rng = np.random.default_rng(0)
    >>> a, v = rng.standard_normal((64, 64)), rng.standard_normal((9, 9))
    >>> bool(np.allclose(signal.convolve(a, v, method="fft"), scipy.signal.convolve(a, v)))
    True
""")

# -- correlate2d / convolve2d --------------------------------------------------

def _fill_value(fillvalue, rt):
    """SciPy's conversion of `fillvalue` to the result dtype, and its errors."""
    try:
        if isinstance(fillvalue, np.ndarray):
            if not np.can_cast(fillvalue.dtype, rt, "safe"):
                raise TypeError("not a safe cast")
            a = fillvalue.astype(rt)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                a = np.array(fillvalue, dtype=rt)
    except (TypeError, ValueError, OverflowError):
        np.array(fillvalue, dtype=np.complex128)  # raises what SciPy raises if this fails
        raise ValueError("could not cast `fillvalue` directly to the output type (it was "
                         "first converted to complex).") from None
    if a.size != 1:
        if a.size == 0:
            raise ValueError("`fillvalue` cannot be an empty array.")
        raise ValueError("`fillvalue` must be scalar or an array with one element.")
    return a.reshape(()).item() if rt.kind != "O" else a.reshape(())[()]


def _correlate2d_or_convolve2d(in1, in2, mode, boundary, fillvalue, axes, workers,
                               convolution):
    name = "convolve2d" if convolution else "correlate2d"
    in1 = aligned(np.asarray(in1))
    in2 = aligned(np.asarray(in2))
    explicit_axes = axes is not None
    if not explicit_axes:
        if not in1.ndim == in2.ndim == 2:
            raise ValueError(f"{name} inputs must both be 2-D arrays")
        axes = (0, 1)
    else:
        axes = _normalize_axes(axes, in1.ndim)
        if len(axes) != 2:
            raise ValueError(f"{name} filters two axes, got axes={axes}")
        in2 = _expand_kernel(in1, in2, axes, True)
    swapped = _swap_needed(mode, in1.shape, in2.shape, axes)
    if swapped:
        in1, in2 = in2, in1
    _check_mode(mode)
    if not isinstance(boundary, str) or boundary not in _BOUNDARIES:
        raise ValueError("Acceptable boundary flags are 'fill', 'circular' (or 'wrap'), "
                         "and 'symmetric' (or 'symm').")
    ext = _BOUNDARIES[boundary]
    rt = np.result_type(in1, in2)
    if rt == np.bool_ or rt == np.float16 or rt.kind not in "biufc":
        if rt.kind not in "biufcO" and not convolution:
            raise TypeError("cannot conjugate non-numeric dtype")
        raise ValueError(f"{name} not available for this type.")
    if ext is None:
        raise ValueError("Incorrect boundary value.")
    cval = _fill_value(fillvalue, rt) if ext == "constant" else 0
    threads = resolve_workers(workers)
    if ext != "constant" and any(in1.shape[a] == 0 for a in axes) and mode != "valid":
        raise ValueError(f"boundary={boundary!r} cannot extend an empty array "
                         f"(in1 shape {in1.shape})")
    if convolution:
        kernel = in2[tuple(slice(None, None, -1) if a in axes else slice(None)
                           for a in range(in2.ndim))]
        same_lo = (lambda k: k // 2)
    else:
        kernel = np.conj(in2) if in2.dtype.kind == "c" else in2
        same_lo = (lambda k: (k - 1) // 2)
    lay = _Layout(in1, kernel, axes)
    lo, out = _offsets(mode, in1.shape, kernel.shape, axes, same_lo)
    x = lay.signal(in1, rt)
    w = lay.kernel(kernel, rt)
    y = _compute(x, w, lo, (ext, ext), cval, out, rt, "direct", threads)
    if swapped and not convolution:
        y = y[:, ::-1, ::-1]
    return lay.result(y)


_2DARGS = """
    Parameters
    ----------
    in1 : array_like
        First input: 2-d, or N-d with `axes`.  Any numeric dtype but bool
        and float16 (as SciPy).
    in2 : array_like
        Second input: 2-d, or (with `axes`) as many dimensions as `in1` or
        two.
    mode : {'full', 'valid', 'same'}, default 'full'
        As for `correlate`; 'same' is centred as SciPy's ``{name}`` centres it.
    boundary : {'fill', 'wrap', 'symm'}, default 'fill'
        ``fill`` (or ``pad``): pad with `fillvalue`; ``wrap`` (or
        ``circular``): periodic; ``symm`` (or ``symmetric``): mirrored with
        the edge repeated.
    fillvalue : scalar, default 0
        Pad value for ``fill`` (cast to the result dtype as SciPy does).
    axes : pair of int, optional
        The two axes to filter; the others are batch axes (broadcast).
        Keyword only.
    workers : int, optional
        Threads (``None``, the default: ``fastconv.get_num_threads()``;
        ``-1``: all cores).  Keyword only.

    Returns
    -------
    out : ndarray
        Of dtype ``np.result_type(in1, in2)``; the shape as for `correlate`
        along the two filtered axes.

    Raises
    ------
    ValueError
        Non-2-d inputs (without `axes`) or `axes` not naming two axes; an
        unknown `mode` or `boundary`; a bool, float16 or non-numeric result
        dtype; a `fillvalue` that does not convert or is not a scalar;
        incompatible 'valid' shapes; ``wrap``/``symm`` on an empty input.
    TypeError
        An unhashable `mode`; for ``correlate2d``, a non-numeric input.
"""


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, axes=None,
                workers=None):
    """Cross-correlate two 2-dimensional arrays (``scipy.signal.correlate2d``).
    """
    return _correlate2d_or_convolve2d(in1, in2, mode, boundary, fillvalue, axes, workers,
                                      False)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, axes=None,
               workers=None):
    """Convolve two 2-dimensional arrays (``scipy.signal.convolve2d``).
    """
    return _correlate2d_or_convolve2d(in1, in2, mode, boundary, fillvalue, axes, workers,
                                      True)


_document(correlate2d, _2DARGS.replace("{name}", "correlate2d"), """\
    convolve2d : 2-d convolution.
    correlate : N-d, zero padding only.
    scipy.signal.correlate2d : The reference.
""", """\
    >>> signal.correlate2d([[1, 2], [3, 4]], [[1, 1]], boundary="wrap")
    array([[3, 3, 3],
           [7, 7, 7]])
    >>> signal.correlate2d(np.arange(9).reshape(3, 3), [[1, 0], [0, 1]], mode="valid")
    array([[ 4,  6],
           [10, 12]])
""")
_document(convolve2d, _2DARGS.replace("{name}", "convolve2d"), """\
    correlate2d : 2-d cross-correlation.
    convolve : N-d, zero padding only.
    scipy.signal.convolve2d : The reference.
""", """\
    >>> signal.convolve2d([[1, 2], [3, 4]], [[1, -1]], mode="same")
    array([[1, 1],
           [3, 1]])

    A batch of images, compared with SciPy image by image:

    >>> import scipy.signal
    >>> rng = np.random.default_rng(0)
    >>> x, k = rng.standard_normal((3, 16, 16)), rng.standard_normal((3, 3))
    >>> out = signal.convolve2d(x, k, mode="same", boundary="symm", axes=(1, 2))
    >>> bool(np.allclose(out[1], scipy.signal.convolve2d(x[1], k, "same", boundary="symm")))
    True
""")
