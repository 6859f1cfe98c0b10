"""Slow, obviously-correct float64 oracles for fastconv's convolution faces.

Everything here is written straight from the definitions in DESIGN.md 1.1 and
never calls fastconv.  Arrays are channels-first and batched:
``x (N, C_in, *S)``, ``w (C_out, C_in/groups, *K)``, ``y (N, C_out, *S_out)``;
the tests move axes / add the batch axis themselves.

    y[n, o, p] = bias[o] + sum_{c in group(o), t} w[o, c, t] * xpad[n, c, p*stride + t*dilation]

* ``conv_forward`` loops over kernel taps ``t`` and adds one strided slice of the
  padded input per tap (the formula with the sum over ``p`` vectorised).
* ``conv_forward_naive`` loops over every output element and every tap and reads
  the input through the padding index map itself (no padded array): a second,
  independent transcription used to check ``conv_forward``.
* ``conv_grad_input`` scatters ``w * grad_out`` into the padded input, then
  applies the adjoint of the padding map (crop for zeros, fold for the index
  modes, fold-and-average for "mean").
* ``conv_grad_weight`` correlates grad_out with the padded input, tap by tap.

Padding modes (scipy.ndimage semantics, also for pads wider than the input):
"zeros" = constant 0, "reflect" = ndimage "mirror" (period 2(n-1), n == 1
repeats), "replicate" = "nearest", "circular" = "wrap", "mean" = constant equal
to the per-(sample, channel) mean of the unpadded input over all spatial dims.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "mean")

F64 = np.float64


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------
def as_tuple(value, d):
    """An int or d ints -> tuple of d Python ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * d
    value = tuple(int(v) for v in value)
    assert len(value) == d, (value, d)
    return value


def pad_pairs(padding, in_spatial, kernel, stride=1, dilation=1):
    """Every padding form of the contract -> tuple of (lo, hi) per spatial dim."""
    d = len(kernel)
    stride = as_tuple(stride, d)
    dilation = as_tuple(dilation, d)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding == "full":
            return tuple((dl * (k - 1), dl * (k - 1)) for k, dl in zip(kernel, dilation))
        if padding == "same":
            pairs = []
            for n, k, s, dl in zip(in_spatial, kernel, stride, dilation):
                out = math.ceil(n / s)
                total = max((out - 1) * s + dl * (k - 1) + 1 - n, 0)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(padding)
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * d
    pairs = []
    assert len(padding) == d
    for item in padding:
        if isinstance(item, (int, np.integer)):
            pairs.append((int(item), int(item)))
        else:
            lo, hi = item
            pairs.append((int(lo), int(hi)))
    return tuple(pairs)


def out_size(n, k, stride, dilation, lo, hi):
    """Number of positions p >= 0 with p*stride + dilation*(k-1) <= n + lo + hi - 1."""
    last = n + lo + hi - 1 - dilation * (k - 1)  # largest admissible p*stride
    return 0 if last < 0 else last // stride + 1


def conv_output_spatial(in_spatial, kernel, stride=1, padding=0, dilation=1):
    d = len(kernel)
    stride = as_tuple(stride, d)
    dilation = as_tuple(dilation, d)
    pairs = pad_pairs(padding, in_spatial, kernel, stride, dilation)
    return tuple(
        out_size(n, k, s, dl, lo, hi)
        for n, k, s, dl, (lo, hi) in zip(in_spatial, kernel, stride, dilation, pairs)
    )


def transpose_output_spatial(in_spatial, kernel, stride=1, padding=0, dilation=1,
                             output_padding=0):
    """torch's ConvTranspose size: (in-1)*s - lo - hi + dl*(k-1) + op + 1."""
    d = len(kernel)
    stride = as_tuple(stride, d)
    dilation = as_tuple(dilation, d)
    output_padding = as_tuple(output_padding, d)
    pairs = pad_pairs(padding, [0] * d, kernel, stride, dilation)  # numeric padding only
    return tuple(
        (n - 1) * s - lo - hi + dl * (k - 1) + op + 1
        for n, k, s, dl, (lo, hi), op in zip(in_spatial, kernel, stride, dilation, pairs,
                                              output_padding)
    )


# --------------------------------------------------------------------------
# padding map and its adjoint
# --------------------------------------------------------------------------
def source_index(j, n, mode):
    """Index into an axis of length n read at (possibly out-of-range) position j."""
    j = np.asarray(j)
    if mode == "replicate":  # ndimage 'nearest'
        return np.clip(j, 0, n - 1)
    if mode == "circular":  # ndimage 'wrap'
        return np.mod(j, n)
    if mode == "reflect":  # ndimage 'mirror': ... 2 1 | 0 1 2 ... n-1 | n-2 ...
        if n == 1:
            return np.zeros_like(j)
        period = 2 * (n - 1)
        m = np.mod(j, period)
        return np.where(m < n, m, period - m)
    raise ValueError(mode)


def pad(x, pairs, mode):
    """Pad the spatial axes (2, 3, ...) of a channels-first batched array."""
    x = np.asarray(x, dtype=F64)
    spatial = x.shape[2:]
    if mode in ("zeros", "mean"):
        shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pairs))
        if mode == "zeros":
            xp = np.zeros(shape)
        else:
            axes = tuple(range(2, x.ndim))
            xp = np.empty(shape)
            xp[...] = x.mean(axis=axes, keepdims=True)
        interior = (slice(None), slice(None)) + tuple(
            slice(lo, lo + n) for n, (lo, hi) in zip(spatial, pairs))
        xp[interior] = x
        return xp
    for ax, (n, (lo, hi)) in enumerate(zip(spatial, pairs)):
        idx = source_index(np.arange(-lo, n + hi), n, mode)
        x = np.take(x, idx, axis=2 + ax)
    return x


def pad_adjoint(gp, in_spatial, pairs, mode):
    """Adjoint of ``pad``: maps a gradient on the padded array to the input."""
    gp = np.asarray(gp, dtype=F64)
    interior = (slice(None), slice(None)) + tuple(
        slice(lo, lo + n) for n, (lo, hi) in zip(in_spatial, pairs))
    if mode == "zeros":
        return gp[interior].copy()
    if mode == "mean":
        # pad(x) = E x + B m(x), m(x) = mean of x; adjoint: E^T g + m^T (B^T g)
        border = gp.copy()
        border[interior] = 0.0
        axes = tuple(range(2, gp.ndim))
        count = int(np.prod(in_spatial))
        return gp[interior] + border.sum(axis=axes, keepdims=True) / count
    g = gp
    for ax in reversed(range(len(in_spatial))):
        n = in_spatial[ax]
        lo, hi = pairs[ax]
        idx = source_index(np.arange(-lo, n + hi), n, mode)
        moved = np.moveaxis(g, 2 + ax, 0)
        acc = np.zeros((n,) + moved.shape[1:])
        np.add.at(acc, idx, moved)
        g = np.moveaxis(acc, 0, 2 + ax)
    return g


def read_padded(x, n, c, pos, pairs, mode, means=None):
    """One element of the padded input at padded position ``pos`` (scalar loop)."""
    spatial = x.shape[2:]
    j = [p - lo for p, (lo, hi) in zip(pos, pairs)]
    inside = all(0 <= jj < nn for jj, nn in zip(j, spatial))
    if inside:
        return x[(n, c) + tuple(j)]
    if mode == "zeros":
        return 0.0
    if mode == "mean":
        return means[n, c]
    src = tuple(int(source_index(jj, nn, mode)) for jj, nn in zip(j, spatial))
    return x[(n, c) + src]


# --------------------------------------------------------------------------
# the three faces
# --------------------------------------------------------------------------
def _tap_slices(tap, dilation, stride, out_spatial):
    return tuple(
        slice(t * dl, t * dl + (no - 1) * s + 1, s)
        for t, dl, s, no in zip(tap, dilation, stride, out_spatial)
    )


def _add_bias(y, bias):
    if bias is None:
        return y
    b = np.asarray(bias, dtype=F64)
    d = y.ndim - 2
    if b.ndim == 1:
        return y + b.reshape((1, -1) + (1,) * d)
    assert b.shape == y.shape[1:], (b.shape, y.shape)
    return y + b[None]


def conv_forward(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 padding_mode="zeros"):
    x = np.asarray(x, dtype=F64)
    w = np.asarray(w, dtype=F64)
    N, C = x.shape[:2]
    spatial = x.shape[2:]
    Cout, Cg = w.shape[:2]
    kernel = w.shape[2:]
    d = len(kernel)
    assert len(spatial) == d and C == Cg * groups and Cout % groups == 0
    stride = as_tuple(stride, d)
    dilation = as_tuple(dilation, d)
    pairs = pad_pairs(padding, spatial, kernel, stride, dilation)
    xp = pad(x, pairs, padding_mode)
    out_spatial = tuple(out_size(n, k, s, dl, lo, hi) for n, k, s, dl, (lo, hi)
                        in zip(spatial, kernel, stride, dilation, pairs))
    y = np.zeros((N, Cout) + out_spatial)
    og = Cout // groups
    if 0 not in out_spatial:
        for g in range(groups):
            cs = slice(g * Cg, (g + 1) * Cg)
            os_ = slice(g * og, (g + 1) * og)
            for tap in itertools.product(*(range(k) for k in kernel)):
                patch = xp[(slice(None), cs) + _tap_slices(tap, dilation, stride, out_spatial)]
                y[:, os_] += np.einsum("oc,nc...->no...", w[(os_, slice(None)) + tap], patch)
    return _add_bias(y, bias)


def conv_forward_naive(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1,
                       padding_mode="zeros"):
    """Scalar loops over (n, o, p, c, t); reads through the padding index map."""
    x = np.asarray(x, dtype=F64)
    w = np.asarray(w, dtype=F64)
    N, C = x.shape[:2]
    spatial = x.shape[2:]
    Cout, Cg = w.shape[:2]
    kernel = w.shape[2:]
    d = len(kernel)
    stride = as_tuple(stride, d)
    dilation = as_tuple(dilation, d)
    pairs = pad_pairs(padding, spatial, kernel, stride, dilation)
    out_spatial = tuple(out_size(n, k, s, dl, lo, hi) for n, k, s, dl, (lo, hi)
                        in zip(spatial, kernel, stride, dilation, pairs))
    means = x.reshape(N, C, -1).mean(axis=2) if padding_mode == "mean" else None
    og = Cout // groups
    y = np.zeros((N, Cout) + out_spatial)
    for n in range(N):
        for o in range(Cout):
            g = o // og
            for p in itertools.product(*(range(s) for s in out_spatial)):
                acc = 0.0
                for cc in range(Cg):
                    c = g * Cg + cc
                    for t in itertools.product(*(range(k) for k in kernel)):
                        pos = [pp * s + tt * dl for pp, s, tt, dl in zip(p, stride, t, dilation)]
                        acc += w[(o, cc) + t] * read_padded(x, n, c, pos, pairs,
                                                            padding_mode, means)
                y[(n, o) + p] = acc
    return _add_bias(y, bias)


def conv_grad_input(grad_out, w, input_shape, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros"):
    """Scatter: dxpad[n, c, p*s + t*dl] += w[o, c, t] * g[n, o, p]; then fold the pad.

    ``grad_out`` may be smaller than the forward output (as happens in a
    transposed conv with output_padding >= stride): missing entries are zeros.
    """
    g = np.asarray(grad_out, dtype=F64)
    w = np.asarray(w, dtype=F64)
    N, C = input_shape[:2]
    spatial = tuple(input_shape[2:])
    Cout, Cg = w.shape[:2]
    kernel = w.shape[2:]
    d = len(kernel)
    assert C == Cg * groups and g.shape[:2] == (N, Cout)
    stride = as_tuple(stride, d)
    dilation = as_tuple(dilation, d)
    pairs = pad_pairs(padding, spatial, kernel, stride, dilation)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pairs))
    out_spatial = g.shape[2:]
    full_out = tuple(out_size(n, k, s, dl, lo, hi) for n, k, s, dl, (lo, hi)
                     in zip(spatial, kernel, stride, dilation, pairs))
    assert all(a <= b for a, b in zip(out_spatial, full_out)), (out_spatial, full_out)
    gxp = np.zeros((N, C) + padded)
    og = Cout // groups
    if 0 not in out_spatial:
        for grp in range(groups):
            cs = slice(grp * Cg, (grp + 1) * Cg)
            os_ = slice(grp * og, (grp + 1) * og)
            for tap in itertools.product(*(range(k) for k in kernel)):
                sl = (slice(None), cs) + _tap_slices(tap, dilation, stride, out_spatial)
                gxp[sl] += np.einsum("oc,no...->nc...", w[(os_, slice(None)) + tap], g[:, os_])
    return pad_adjoint(gxp, spatial, pairs, padding_mode)


def conv_grad_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1, groups=1,
                     padding_mode="zeros"):
    """dw[o, c, t] = sum_{n, p} g[n, o, p] * xpad[n, c_g, p*s + t*dl]."""
    x = np.asarray(x, dtype=F64)
    g = np.asarray(grad_out, dtype=F64)
    Cout, Cg = weight_shape[:2]
    kernel = tuple(weight_shape[2:])
    d = len(kernel)
    spatial = x.shape[2:]
    stride = as_tuple(stride, d)
    dilation = as_tuple(dilation, d)
    pairs = pad_pairs(padding, spatial, kernel, stride, dilation)
    xp = pad(x, pairs, padding_mode)
    out_spatial = g.shape[2:]
    gw = np.zeros(tuple(weight_shape))
    og = Cout // groups
    if 0 not in out_spatial:
        for grp in range(groups):
            cs = slice(grp * Cg, (grp + 1) * Cg)
            os_ = slice(grp * og, (grp + 1) * og)
            for tap in itertools.product(*(range(k) for k in kernel)):
                patch = xp[(slice(None), cs) + _tap_slices(tap, dilation, stride, out_spatial)]
                summed = (0,) + tuple(range(2, 2 + d))  # batch and output positions
                gw[(os_, slice(None)) + tap] = np.tensordot(g[:, os_], patch, (summed, summed))
    return gw


def conv_grad_bias(grad_out):
    g = np.asarray(grad_out, dtype=F64)
    return g.sum(axis=(0,) + tuple(range(2, g.ndim)))


def conv_transpose(x, w, bias=None, stride=1, padding=0, output_padding=0, dilation=1,
                   groups=1, output_size=None):
    """torch.nn.functional.conv_transpose semantics; w is (C_in, C_out/groups, *K).

    The transposed conv is the input-gradient of the conv whose weight is ``w``,
    evaluated at an input of the requested size.
    """
    x = np.asarray(x, dtype=F64)
    w = np.asarray(w, dtype=F64)
    kernel = w.shape[2:]
    d = len(kernel)
    if output_size is None:
        out = transpose_output_spatial(x.shape[2:], kernel, stride, padding, dilation,
                                       output_padding)
    else:
        out = tuple(output_size)[-d:]
    input_shape = (x.shape[0], w.shape[1] * groups) + tuple(out)
    y = conv_grad_input(x, w, input_shape, stride, padding, dilation, groups)
    return _add_bias(y, bias)


# --------------------------------------------------------------------------
# layout helpers and comparison
# --------------------------------------------------------------------------
def to_channels_last(a):
    """(N, C, *S) -> (N, *S, C) (or (C, *S) -> (*S, C) when unbatched=False is not known)."""
    return np.moveaxis(a, 1, -1)


def from_channels_last(a):
    return np.moveaxis(a, -1, 1)


TOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-10}


def rel_error(got, ref):
    """max |got - ref| / max |ref|  (0/0 -> 0, x/0 -> inf)."""
    got = np.asarray(got, dtype=F64)
    ref = np.asarray(ref, dtype=F64)
    if ref.size == 0:
        return 0.0
    err = float(np.max(np.abs(got - ref)))
    scale = float(np.max(np.abs(ref)))
    if err == 0.0:
        return 0.0
    return err / scale if scale > 0 else math.inf


def require_well_conditioned(ref, ref_abs, dtype, ratio=5e-3):
    """Keep float32 comparisons meaningful.

    The float32 tolerance (2e-4) is relative to max|ref|.  When every output is
    a sum that cancels almost exactly (e.g. a 1-element grad_weight),
    max|ref| is far below the size of the terms summed (``ref_abs`` = the same
    face applied to absolute values) and no float32 summation order can meet
    it.  Examples that cancel by more than 1/ratio = 200x (where 2e-4 * max|ref|
    drops below ~16 float32 ulps of max|ref_abs|) are discarded (hypothesis
    ``assume``) instead of loosening the tolerance; outside hypothesis they are
    a badly chosen test and fail.
    """
    if np.dtype(dtype) != np.float32 or np.size(ref) == 0:
        return
    big = float(np.max(np.abs(ref_abs)))
    ok = float(np.max(np.abs(ref))) >= ratio * big
    import hypothesis

    if hypothesis.currently_in_test_context():
        hypothesis.assume(ok)
    else:
        assert ok, "ill-conditioned float32 test data"


def assert_close(got, ref, dtype=None, rtol=None, what=""):
    """The suite's single comparison: shape, dtype, finiteness and relative max error."""
    got_arr = np.asarray(got)
    ref = np.asarray(ref, dtype=F64)
    assert got_arr.shape == ref.shape, f"{what} shape {got_arr.shape} != reference {ref.shape}"
    if dtype is not None:
        assert got_arr.dtype == np.dtype(dtype), f"{what} dtype {got_arr.dtype} != {np.dtype(dtype)}"
    if rtol is None:
        rtol = TOL[np.dtype(got_arr.dtype)]
    assert np.all(np.isfinite(got_arr)), f"{what} has non-finite values"
    err = rel_error(got_arr, ref)
    assert err <= rtol, f"{what} relative max error {err:.3e} > {rtol:.1e}"


# --------------------------------------------------------------------------
# test cases: one convolution problem, in the library's layout and in the
# reference's (channels-first, batched, float64) layout
# --------------------------------------------------------------------------
class Case:
    """A convolution problem as the tests draw it.

    ``batch=None`` means an unbatched input; ``bias`` is None, "tied" or "untied".
    ``stride``/``dilation``/``padding`` are kept exactly as they are passed to
    the library (int, per-dim sequence, pairs or a string).
    """

    def __init__(self, *, spatial, kernel, batch=2, groups=1, cin_g=1, cout_g=1, stride=1,
                 padding=0, dilation=1, padding_mode="zeros", bias=None,
                 channels_last=False, dtype=np.float64, bias_dtype=None):
        self.spatial = tuple(spatial)
        self.kernel = tuple(kernel)
        self.d = len(self.kernel)
        assert len(self.spatial) == self.d
        self.batch = batch
        self.groups = groups
        self.cin_g = cin_g
        self.cout_g = cout_g
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.padding_mode = padding_mode
        self.bias = bias
        self.channels_last = channels_last
        self.dtype = np.dtype(dtype)
        self.bias_dtype = np.dtype(bias_dtype) if bias_dtype is not None else self.dtype

    def __repr__(self):
        keys = ("spatial", "kernel", "batch", "groups", "cin_g", "cout_g", "stride",
                "padding", "dilation", "padding_mode", "bias", "channels_last", "dtype")
        return "Case(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in keys) + ")"

    # sizes ----------------------------------------------------------------
    @property
    def cin(self):
        return self.cin_g * self.groups

    @property
    def cout(self):
        return self.cout_g * self.groups

    @property
    def pairs(self):
        return pad_pairs(self.padding, self.spatial, self.kernel, self.stride, self.dilation)

    @property
    def out_spatial(self):
        return conv_output_spatial(self.spatial, self.kernel, self.stride, self.padding,
                                   self.dilation)

    @property
    def weight_shape(self):
        return (self.cout, self.cin_g) + self.kernel

    @property
    def ref_batch(self):
        return 1 if self.batch is None else self.batch

    def shape(self, channels, spatial):
        """Shape of an activation in the library's layout."""
        shape = (channels,) + tuple(spatial)
        if self.channels_last:
            shape = tuple(spatial) + (channels,)
        return shape if self.batch is None else (self.batch,) + shape

    @property
    def x_shape(self):
        return self.shape(self.cin, self.spatial)

    @property
    def y_shape(self):
        return self.shape(self.cout, self.out_spatial)

    # layout conversion ----------------------------------------------------
    def to_ref(self, a):
        """Library layout -> channels-first, batched float64."""
        a = np.asarray(a, dtype=F64)
        if self.batch is None:
            a = a[None]
        if self.channels_last:
            a = np.moveaxis(a, -1, 1)
        return np.ascontiguousarray(a)

    def from_ref(self, a):
        """Channels-first, batched -> library layout."""
        if self.channels_last:
            a = np.moveaxis(a, 1, -1)
        if self.batch is None:
            assert a.shape[0] == 1
            a = a[0]
        return np.ascontiguousarray(a)

    # data -----------------------------------------------------------------
    def arrays(self, rng):
        """x, w, bias in the library layout and dtypes (values exactly representable)."""
        x = rng.standard_normal(self.x_shape).astype(self.dtype)
        w = rng.standard_normal(self.weight_shape).astype(self.dtype)
        b = None
        if self.bias == "tied":
            b = rng.standard_normal(self.cout).astype(self.bias_dtype)
        elif self.bias == "untied":
            b = rng.standard_normal((self.cout,) + self.out_spatial).astype(self.bias_dtype)
        return x, w, b

    def grad_out(self, rng):
        return rng.standard_normal(self.y_shape).astype(self.dtype)

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, padding_mode=self.padding_mode,
                    channels_last=self.channels_last)

    def ref_kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, padding_mode=self.padding_mode)

    # reference results in the library layout ------------------------------
    def ref_forward(self, x, w, b):
        y = conv_forward(self.to_ref(x), w, b, **self.ref_kwargs())
        return self.from_ref(y)

    def ref_grad_input(self, g, w):
        x_shape = (self.ref_batch, self.cin) + self.spatial
        return self.from_ref(conv_grad_input(self.to_ref(g), w, x_shape, **self.ref_kwargs()))

    def ref_grad_weight(self, x, g):
        return conv_grad_weight(self.to_ref(x), self.to_ref(g), self.weight_shape,
                                **self.ref_kwargs())

    def require_conditioned(self, x=None, w=None, b=None, g=None):
        """``require_well_conditioned`` for every face the given arrays allow."""
        if self.dtype != np.float32:
            return
        a = {k: (None if v is None else np.abs(np.asarray(v, dtype=F64)))
             for k, v in dict(x=x, w=w, b=b, g=g).items()}
        if x is not None and w is not None:
            require_well_conditioned(self.ref_forward(x, w, b),
                                     self.ref_forward(a["x"], a["w"], a["b"]), self.dtype)
        if g is not None and w is not None:
            require_well_conditioned(self.ref_grad_input(g, w),
                                     self.ref_grad_input(a["g"], a["w"]), self.dtype)
        if x is not None and g is not None:
            require_well_conditioned(self.ref_grad_weight(x, g),
                                     self.ref_grad_weight(a["x"], a["g"]), self.dtype)
        if g is not None and b is not None:
            require_well_conditioned(self.ref_grad_bias(g), self.ref_grad_bias(a["g"]),
                                     self.dtype)

    def ref_grad_bias(self, g):
        """Gradient for a bias shaped like this case's bias."""
        g = self.to_ref(g)
        if self.bias == "untied":
            return g.sum(axis=0)
        return conv_grad_bias(g)


# Realistic layer geometries (big enough to reach the engine's GEMM, direct,
# depthwise and pointwise paths), shared by the forward and adjoint tests.
LAYERS = {
    "dense3x3": dict(spatial=(19, 23), kernel=(3, 3), batch=2, cin_g=16, cout_g=24, padding=1),
    "first7x7s2": dict(spatial=(33, 37), kernel=(7, 7), batch=1, cin_g=3, cout_g=8, stride=2,
                       padding=3),
    "pointwise": dict(spatial=(9, 11), kernel=(1, 1), batch=2, cin_g=32, cout_g=48),
    "pointwise_s2": dict(spatial=(9, 11), kernel=(1, 1), batch=2, cin_g=16, cout_g=8, stride=2),
    "depthwise3x3": dict(spatial=(17, 15), kernel=(3, 3), batch=2, groups=32, cin_g=1,
                         cout_g=1, padding=1),
    "depthwise_mult_s2": dict(spatial=(16, 13), kernel=(5, 5), batch=2, groups=8, cin_g=1,
                              cout_g=2, stride=2, padding="same"),
    "grouped": dict(spatial=(13, 13), kernel=(3, 3), batch=2, groups=3, cin_g=4, cout_g=4,
                    padding=(1, 2), dilation=(2, 1)),
    "conv1d": dict(spatial=(257,), kernel=(5,), batch=3, cin_g=8, cout_g=16, dilation=2,
                   padding="same"),
    "conv3d": dict(spatial=(9, 10, 11), kernel=(3, 3, 3), batch=1, cin_g=4, cout_g=6,
                   padding=1),
    "single_channel_big_kernel": dict(spatial=(64, 64), kernel=(9, 9), batch=1, cin_g=1,
                                      cout_g=1, padding="same", padding_mode="reflect"),
    "depthwise1d": dict(spatial=(300,), kernel=(7,), batch=2, groups=16, cin_g=1, cout_g=1,
                        padding=3, padding_mode="circular"),
    # many input channels: the patch tile (C*K rows) shrinks to 64 columns, so one
    # sample spans several tiles and row blocks, and grad_weight uses many buckets
    "wide_channels": dict(spatial=(20, 21), kernel=(3, 3), batch=2, cin_g=128, cout_g=8,
                          padding=1),
    "wide_channels_s2": dict(spatial=(23, 17), kernel=(3, 2), batch=2, cin_g=96, cout_g=5,
                             stride=2, padding=((1, 0), (0, 1)), dilation=(1, 2)),
    # direct kernels over several blocks of output rows
    "depthwise_tall": dict(spatial=(150, 40), kernel=(3, 3), batch=2, groups=4, cin_g=1,
                           cout_g=3, padding=1, padding_mode="replicate"),
    # a row longer than the implicit-GEMM column block (4096)
    "conv1d_long": dict(spatial=(5000,), kernel=(5,), batch=2, cin_g=4, cout_g=13,
                        padding="same", dilation=3),
    # output channels per group around the register-tile height (12)
    "implicit_edges": dict(spatial=(11, 37), kernel=(3, 5), batch=2, groups=2, cin_g=5,
                           cout_g=25, padding=(1, 2)),
    "depthwise3d": dict(spatial=(12, 15, 16), kernel=(3, 3, 3), batch=1, groups=3, cin_g=1,
                        cout_g=2, padding="same", stride=(1, 2, 1)),
}


# --------------------------------------------------------------------------
# hypothesis strategies
# --------------------------------------------------------------------------
def _strategies():
    from hypothesis import strategies as st

    def per_dim(d, lo, hi):
        """An int, or d ints as a tuple or a list."""
        ints = st.integers(lo, hi)
        return st.one_of(
            ints,
            st.tuples(*[ints] * d),
            st.lists(ints, min_size=d, max_size=d),
        )

    def paddings(d, maxpad):
        ints = st.integers(0, maxpad)
        return st.one_of(
            ints,
            st.tuples(*[ints] * d),
            st.lists(ints, min_size=d, max_size=d),
            st.tuples(*[st.tuples(ints, ints)] * d),
            st.lists(st.lists(ints, min_size=2, max_size=2), min_size=d, max_size=d),
            st.sampled_from(["valid", "same", "full"]),
        )

    @st.composite
    def conv_cases(draw, dims=(1, 2, 3), dtypes=(np.float64, np.float32), modes=PADDING_MODES,
                   biases=(None, "tied", "untied"), batches=(None, 1, 2, 3),
                   layouts=(False, True), max_stride=3, max_dilation=3, maxpad=3,
                   groups=(1, 1, 2, 3), cin=(1, 4), cout=(1, 6), sizes=None):
        d = draw(st.sampled_from(dims))
        smax, kmax = (sizes or {1: (12, 5), 2: (7, 3), 3: (5, 3)}).get(d, (4, 2))
        groups = draw(st.sampled_from(groups))
        cin_g = draw(st.integers(*cin))
        cout_g = draw(st.integers(*cout))
        spatial = tuple(draw(st.integers(1, smax)) for _ in range(d))
        kernel = tuple(draw(st.integers(1, kmax)) for _ in range(d))
        return Case(
            spatial=spatial, kernel=kernel,
            batch=draw(st.sampled_from(batches)),
            groups=groups, cin_g=cin_g, cout_g=cout_g,
            stride=draw(per_dim(d, 1, max_stride)),
            dilation=draw(per_dim(d, 1, max_dilation)),
            padding=draw(paddings(d, maxpad)),
            padding_mode=draw(st.sampled_from(modes)),
            bias=draw(st.sampled_from(biases)),
            channels_last=draw(st.sampled_from(layouts)),
            dtype=draw(st.sampled_from(dtypes)),
            bias_dtype=draw(st.sampled_from([np.float32, np.float64])),
        )

    return conv_cases


def conv_cases(**kw):
    """Hypothesis strategy of ``Case`` objects (see ``_strategies``)."""
    return _strategies()(**kw)


# --------------------------------------------------------------------------
# pooling (torch.nn.functional.max_poolNd / avg_poolNd semantics)
# --------------------------------------------------------------------------
def pool_out_size(n, k, stride, dilation, lo, hi, ceil_mode):
    """torch's pooling output length; with ceil_mode the last window must
    start inside the input or its low padding."""
    span = n + lo + hi - dilation * (k - 1) - 1
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + lo:
        out -= 1
    return out


def _pool_windows(spatial, kernel, stride, pairs, dilation, ceil_mode):
    """Yield (output position, tuple of per-axis input index arrays of the
    window's taps that fall inside the input, in row-major tap order)."""
    d = len(spatial)
    out = tuple(pool_out_size(n, k, s, dl, lo, hi, ceil_mode)
                for n, k, s, dl, (lo, hi) in zip(spatial, kernel, stride, dilation, pairs))
    for pos in itertools.product(*(range(o) for o in out)):
        taps = [tap for tap in itertools.product(*(range(k) for k in kernel))
                if all(0 <= pos[j] * stride[j] + tap[j] * dilation[j] - pairs[j][0] < spatial[j]
                       for j in range(d))]
        idx = tuple(np.array([pos[j] * stride[j] + t[j] * dilation[j] - pairs[j][0]
                              for t in taps], dtype=np.int64) for j in range(d))
        yield pos, idx


def max_pool(x, kernel, stride, pairs, dilation=1, ceil_mode=False):
    """(y, indices) of torch's max pooling on a channels-first batched array.

    Each window is read in row-major tap order; the index is that of the last
    NaN if the window holds one, else of the first maximum; an empty window
    gives -inf and -1."""
    x = np.asarray(x, dtype=F64)
    d = x.ndim - 2
    kernel, stride, dilation = as_tuple(kernel, d), as_tuple(stride, d), as_tuple(dilation, d)
    spatial = x.shape[2:]
    out = tuple(pool_out_size(n, k, s, dl, lo, hi, ceil_mode)
                for n, k, s, dl, (lo, hi) in zip(spatial, kernel, stride, dilation, pairs))
    y = np.full(x.shape[:2] + out, -np.inf)
    ind = np.full(x.shape[:2] + out, -1, dtype=np.int64)
    for pos, idx in _pool_windows(spatial, kernel, stride, pairs, dilation, ceil_mode):
        if idx[0].size == 0:
            continue
        vals = x[(slice(None), slice(None)) + idx]          # (N, C, taps)
        flat = np.ravel_multi_index(idx, spatial)
        nan = np.isnan(vals)
        last_nan = vals.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
        first_max = np.argmax(np.where(nan, -np.inf, vals), axis=-1)
        pick = np.where(nan.any(axis=-1), last_nan, first_max)
        y[(slice(None), slice(None)) + pos] = np.take_along_axis(vals, pick[..., None], -1)[..., 0]
        ind[(slice(None), slice(None)) + pos] = flat[pick]
    return y, ind


def max_pool_grad(grad_out, x, kernel, stride, pairs, dilation=1, ceil_mode=False):
    """grad_out added at the indices of ``max_pool`` (per (n, c) plane)."""
    x = np.asarray(x, dtype=F64)
    _, ind = max_pool(x, kernel, stride, pairs, dilation, ceil_mode)
    n, c = x.shape[:2]
    gx = np.zeros((n, c, int(np.prod(x.shape[2:]))))
    g = np.asarray(grad_out, dtype=F64).reshape(n, c, -1)
    ind = ind.reshape(n, c, -1)
    for i in range(n):
        for j in range(c):
            keep = ind[i, j] >= 0
            np.add.at(gx[i, j], ind[i, j][keep], g[i, j][keep])
    return gx.reshape(x.shape)


def _avg_boxes(spatial, kernel, stride, pairs, ceil_mode, count_include_pad):
    """Yield (output position, clipped window slices, divisor) as torch counts:
    the window is clipped to the padded input for the divisor with padding,
    to the input itself for the sum (and the divisor without padding)."""
    out = tuple(pool_out_size(n, k, s, 1, lo, hi, ceil_mode)
                for n, k, s, (lo, hi) in zip(spatial, kernel, stride, pairs))
    for pos in itertools.product(*(range(o) for o in out)):
        box, padded, inner = [], 1, 1
        for p, n, k, s, (lo, hi) in zip(pos, spatial, kernel, stride, pairs):
            start = p * s - lo
            end = min(start + k, n + hi)
            padded *= end - start
            a, b = max(start, 0), min(end, n)
            inner *= b - a
            box.append(slice(a, b))
        yield pos, tuple(box), (padded if count_include_pad else inner)


def avg_pool(x, kernel, stride, pairs, ceil_mode=False, count_include_pad=True):
    x = np.asarray(x, dtype=F64)
    d = x.ndim - 2
    kernel, stride = as_tuple(kernel, d), as_tuple(stride, d)
    spatial = x.shape[2:]
    out = tuple(pool_out_size(n, k, s, 1, lo, hi, ceil_mode)
                for n, k, s, (lo, hi) in zip(spatial, kernel, stride, pairs))
    y = np.zeros(x.shape[:2] + out)
    axes = tuple(range(2, x.ndim))
    for pos, box, div in _avg_boxes(spatial, kernel, stride, pairs, ceil_mode,
                                    count_include_pad):
        y[(slice(None), slice(None)) + pos] = x[(slice(None), slice(None)) + box].sum(axis=axes) / div
    return y


def avg_pool_grad(grad_out, input_shape, kernel, stride, pairs, ceil_mode=False,
                  count_include_pad=True):
    g = np.asarray(grad_out, dtype=F64)
    d = len(input_shape) - 2
    kernel, stride = as_tuple(kernel, d), as_tuple(stride, d)
    gx = np.zeros(input_shape)
    for pos, box, div in _avg_boxes(input_shape[2:], kernel, stride, pairs, ceil_mode,
                                    count_include_pad):
        sel = (slice(None), slice(None)) + box
        gx[sel] += (g[(slice(None), slice(None)) + pos] / div).reshape(
            g.shape[:2] + (1,) * d)
    return gx


# --------------------------------------------------------------------------
# unshared (local) and tiled convolution: kernel of output position p = w[p % T]
# --------------------------------------------------------------------------
def _tiled_windows(xp_spatial, kernel, stride, dilation, out):
    """Yield (output position, slices of its window in the padded input)."""
    for pos in itertools.product(*(range(o) for o in out)):
        yield pos, tuple(slice(p * s, p * s + dl * (k - 1) + 1, dl)
                         for p, k, s, dl in zip(pos, kernel, stride, dilation))


def _tiled_setup(x_shape, w_shape, stride, padding, dilation):
    d = (len(w_shape) - 2) // 2
    tiles, kernel = tuple(w_shape[:d]), tuple(w_shape[d + 2:])
    stride, dilation = as_tuple(stride, d), as_tuple(dilation, d)
    pairs = pad_pairs(padding, x_shape[2:], kernel, stride, dilation)
    out = conv_output_spatial(x_shape[2:], kernel, stride, pairs, dilation)
    return d, tiles, kernel, stride, dilation, pairs, out


def tiled_conv(x, w, bias=None, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    """y[n, o, p] = bias + sum_{c,t} w[p % T, o, c, t] xpad[n, c, p*s + t*dl];
    x (N, C_in, *S), w (*T, C_out, C_in, *K); bias (C_out,) or (C_out, *S_out)."""
    x = np.asarray(x, dtype=F64)
    w = np.asarray(w, dtype=F64)
    d, tiles, kernel, stride, dilation, pairs, out = _tiled_setup(x.shape, w.shape, stride,
                                                                  padding, dilation)
    xp = pad(x, pairs, padding_mode)
    y = np.zeros((x.shape[0], w.shape[d]) + out)
    for pos, win in _tiled_windows(xp.shape[2:], kernel, stride, dilation, out):
        wk = w[tuple(p % t for p, t in zip(pos, tiles))]            # (C_out, C_in, *K)
        patch = xp[(slice(None), slice(None)) + win]                # (N, C_in, *K)
        y[(slice(None), slice(None)) + pos] = np.tensordot(
            patch, wk, axes=(list(range(1, d + 2)), list(range(1, d + 2))))
    if bias is not None:
        b = np.asarray(bias, dtype=F64)
        y += b.reshape(b.shape + (1,) * d) if b.ndim == 1 else b
    return y


def tiled_conv_grad_input(grad_out, w, input_shape, stride=1, padding=0, dilation=1,
                          padding_mode="zeros"):
    g = np.asarray(grad_out, dtype=F64)
    w = np.asarray(w, dtype=F64)
    d, tiles, kernel, stride, dilation, pairs, out = _tiled_setup(input_shape, w.shape, stride,
                                                                  padding, dilation)
    padded = tuple(input_shape[:2]) + tuple(n + lo + hi for n, (lo, hi)
                                            in zip(input_shape[2:], pairs))
    gp = np.zeros(padded)
    for pos, win in _tiled_windows(padded[2:], kernel, stride, dilation, out):
        wk = w[tuple(p % t for p, t in zip(pos, tiles))]
        gp[(slice(None), slice(None)) + win] += np.tensordot(
            g[(slice(None), slice(None)) + pos], wk, axes=([1], [0]))
    return pad_adjoint(gp, input_shape[2:], pairs, padding_mode)


def tiled_conv_grad_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1,
                           padding_mode="zeros"):
    x = np.asarray(x, dtype=F64)
    g = np.asarray(grad_out, dtype=F64)
    d, tiles, kernel, stride, dilation, pairs, out = _tiled_setup(x.shape, weight_shape, stride,
                                                                  padding, dilation)
    xp = pad(x, pairs, padding_mode)
    gw = np.zeros(weight_shape)
    for pos, win in _tiled_windows(xp.shape[2:], kernel, stride, dilation, out):
        cls = tuple(p % t for p, t in zip(pos, tiles))
        gw[cls] += np.tensordot(g[(slice(None), slice(None)) + pos],
                                xp[(slice(None), slice(None)) + win], axes=([0], [0]))
    return gw


def to_layout(a_cf, channels_last, batched):
    """Channels-first batched array -> the library's layout (channels_last and/or unbatched)."""
    a = np.moveaxis(a_cf, 1, -1) if channels_last else a_cf
    return a if batched else a[0]


def from_layout(a, channels_last, batched):
    """The inverse of ``to_layout``."""
    a = a if batched else a[None]
    return np.moveaxis(a, -1, 1) if channels_last else a
