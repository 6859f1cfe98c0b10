"""Forward convolution: fastconv.conv / conv1d / conv2d / conv3d.

Oracles: ``reference.conv_forward`` (tap loop over the formula),
``reference.conv_forward_naive`` (scalar loops), scipy.signal.correlate and
scipy.ndimage.correlate (for the padding modes), and hand-computed values.
"""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sig
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastconv
import reference as R
from reference import LAYERS, Case, assert_close, conv_cases

ND_MODE = {"reflect": "mirror", "replicate": "nearest", "circular": "wrap"}


# --------------------------------------------------------------------------
# scipy-built oracle
# --------------------------------------------------------------------------
def ndimage_pad(x, pairs, mode):
    """Pad (N, C, *S) using scipy.ndimage's own boundary extension.

    For each axis and each padded position j (relative to the input start),
    correlate1d with a delta kernel reads the ndimage-extended input at j.
    """
    x = np.asarray(x, dtype=np.float64)
    if mode == "zeros":
        return np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pairs])
    if mode == "mean":
        out = np.empty(x.shape[:2] + tuple(n + lo + hi for n, (lo, hi)
                                           in zip(x.shape[2:], pairs)))
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                out[n, c] = np.pad(x[n, c], [tuple(p) for p in pairs], mode="constant",
                                   constant_values=x[n, c].mean())
        return out
    for ax, (lo, hi) in enumerate(pairs):
        axis = 2 + ax
        n = x.shape[axis]
        m = max(lo, hi) + n
        cols = []
        for j in range(-lo, n + hi):
            delta = np.zeros(2 * m + 1)
            delta[m + j] = 1.0
            r = ndi.correlate1d(x, delta, axis=axis, mode=ND_MODE[mode])
            cols.append(np.take(r, [0], axis=axis))
        x = np.concatenate(cols, axis=axis)
    return x


def scipy_conv(x, w, bias, stride, pairs, dilation, groups, mode):
    """Per output channel: sum over the group's input channels of
    scipy.signal.correlate(xpad, dilated kernel, 'valid'), then subsampled."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    d = w.ndim - 2
    stride = R.as_tuple(stride, d)
    dilation = R.as_tuple(dilation, d)
    xp = ndimage_pad(x, pairs, mode)
    kd = tuple(dl * (k - 1) + 1 for k, dl in zip(w.shape[2:], dilation))
    assert all(a >= b for a, b in zip(xp.shape[2:], kd)), "kernel must fit for this oracle"
    wd = np.zeros(w.shape[:2] + kd)
    wd[(slice(None), slice(None)) + tuple(slice(None, None, dl) for dl in dilation)] = w
    N, C = x.shape[:2]
    Cout, Cg = w.shape[:2]
    og = Cout // groups
    sub = tuple(slice(None, None, s) for s in stride)
    ys = []
    for n in range(N):
        yo = []
        for o in range(Cout):
            g = o // og
            acc = 0.0
            for cc in range(Cg):
                acc = acc + sig.correlate(xp[n, g * Cg + cc], wd[o, cc], mode="valid",
                                          method="direct")
            yo.append(np.asarray(acc)[sub])
        ys.append(yo)
    if N and Cout:
        y = np.array(ys, dtype=np.float64)
    else:
        y = np.zeros((N, Cout) + R.conv_output_spatial(x.shape[2:], w.shape[2:], stride, pairs,
                                                       dilation))
    if bias is not None:
        b = np.asarray(bias, dtype=np.float64)
        y = y + (b.reshape((1, -1) + (1,) * d) if b.ndim == 1 else b[None])
    return y


def kernel_fits(case):
    return all(n + lo + hi >= R.as_tuple(case.dilation, case.d)[i] * (k - 1) + 1
               for i, (n, k, (lo, hi)) in enumerate(zip(case.spatial, case.kernel, case.pairs)))


# --------------------------------------------------------------------------
# the reference itself
# --------------------------------------------------------------------------
@settings(max_examples=60)
@given(case=conv_cases(dtypes=(np.float64,), layouts=(False,), batches=(1, 2)),
       seed=st.integers(0, 2**32 - 1))
def test_reference_matches_scipy(case, seed):
    assume(kernel_fits(case))
    rng = np.random.default_rng(seed)
    x, w, b = case.arrays(rng)
    ref = R.conv_forward(x, w, b, **case.ref_kwargs())
    expected = scipy_conv(x, w, b, case.stride, case.pairs, case.dilation, case.groups,
                          case.padding_mode)
    assert_close(ref, expected, rtol=1e-12)


@settings(max_examples=40)
@given(case=conv_cases(dtypes=(np.float64,), layouts=(False,), batches=(1,), dims=(1, 2)),
       seed=st.integers(0, 2**32 - 1))
def test_reference_matches_naive_loops(case, seed):
    rng = np.random.default_rng(seed)
    x, w, b = case.arrays(rng)
    kw = case.ref_kwargs()
    assert_close(R.conv_forward(x, w, b, **kw), R.conv_forward_naive(x, w, b, **kw), rtol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "mean", "zeros"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("lo,hi", [(0, 0), (1, 2), (4, 7), (11, 3)])
def test_reference_pad_matches_ndimage(mode, n, lo, hi, rng):
    x = rng.standard_normal((2, 3, n, 2))
    pairs = ((lo, hi), (hi, 1))
    assert np.array_equal(R.pad(x, pairs, mode), ndimage_pad(x, pairs, mode))


def test_reference_pad_hand_values():
    x = np.array([[[1.0, 2.0, 3.0]]])
    assert R.pad(x, ((4, 4),), "reflect")[0, 0].tolist() == [1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3]
    assert R.pad(x, ((4, 4),), "replicate")[0, 0].tolist() == [1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3]
    assert R.pad(x, ((4, 4),), "circular")[0, 0].tolist() == [3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    assert R.pad(x, ((4, 4),), "mean")[0, 0].tolist() == [2, 2, 2, 2, 1, 2, 3, 2, 2, 2, 2]


# --------------------------------------------------------------------------
# fastconv.conv against the oracles
# --------------------------------------------------------------------------
def run_case(case, rng, fn=None):
    x, w, b = case.arrays(rng)
    fn = fn or fastconv.conv
    case.require_conditioned(x, w, b)
    y = fn(x, w, b, **case.kwargs())
    ref = case.ref_forward(x, w, b)
    assert_close(y, ref, dtype=case.dtype, what=repr(case))
    return y


@settings(max_examples=900)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv_matches_reference(case, seed):
    run_case(case, np.random.default_rng(seed))


@settings(max_examples=60)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv_matches_scipy(case, seed):
    assume(kernel_fits(case))
    rng = np.random.default_rng(seed)
    x, w, b = case.arrays(rng)
    case.require_conditioned(x, w, b)
    y = fastconv.conv(x, w, b, **case.kwargs())
    expected = scipy_conv(case.to_ref(x), w, b, case.stride, case.pairs, case.dilation,
                          case.groups, case.padding_mode)
    assert_close(y, case.from_ref(expected), dtype=case.dtype)


@settings(max_examples=60)
@given(case=conv_cases(dims=(1, 2, 3)), seed=st.integers(0, 2**32 - 1))
def test_rank_specific_wrappers(case, seed):
    fn = {1: fastconv.conv1d, 2: fastconv.conv2d, 3: fastconv.conv3d}[case.d]
    y = run_case(case, np.random.default_rng(seed), fn=fn)
    x, w, b = case.arrays(np.random.default_rng(seed))
    assert np.array_equal(y, fastconv.conv(x, w, b, **case.kwargs()))


@settings(max_examples=25)
@given(case=conv_cases(dims=(4,), biases=(None, "tied", "untied")), seed=st.integers(0, 2**32 - 1))
def test_conv_4d_random(case, seed):
    run_case(case, np.random.default_rng(seed))


def test_conv_4d_explicit(rng):
    case = Case(spatial=(4, 3, 5, 3), kernel=(2, 2, 3, 2), batch=2, groups=2, cin_g=2,
                cout_g=2, stride=(1, 2, 1, 1), padding=((1, 0), 1, (0, 2), 1),
                dilation=(1, 1, 2, 1), bias="tied")
    run_case(case, rng)


@settings(max_examples=120)
@given(n=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(1, 5), dl=st.integers(1, 4),
       mode=st.sampled_from(R.PADDING_MODES), seed=st.integers(0, 2**32 - 1))
def test_same_padding_output_size_and_values(n, k, s, dl, mode, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, n))
    w = rng.standard_normal((2, 3, k))
    y = fastconv.conv(x, w, stride=s, dilation=dl, padding="same", padding_mode=mode)
    assert y.shape == (2, 2, math.ceil(n / s))
    assert_close(y, R.conv_forward(x, w, stride=s, dilation=dl, padding="same",
                                   padding_mode=mode))


# --------------------------------------------------------------------------
# hand-computed values (independent of reference.py)
# --------------------------------------------------------------------------
def conv1(x, w, **kw):
    x = np.asarray(x, dtype=np.float64)[None, None]
    w = np.asarray(w, dtype=np.float64)[None, None]
    return fastconv.conv(x, w, **kw)[0, 0].tolist()


def test_cross_correlation_not_convolution():
    assert conv1([1, 2, 3], [1, 0]) == [1, 2]
    assert conv1([1, 2, 3], [0, 1]) == [2, 3]


def test_hand_values_same_and_full():
    assert conv1([1, 2, 3, 4], [1, 10], padding="same") == [21, 32, 43, 4]
    assert conv1([1, 2, 3, 4, 5], [1, 1, 1], padding="same", stride=2) == [3, 9, 9]
    assert conv1([1, 2, 3, 4, 5, 6], [1, 1], padding="same", stride=2) == [3, 7, 11]
    assert conv1([1, 2, 3, 4], [1, 2, 3, 4], padding="same") == [20, 30, 20, 11]
    assert conv1([1, 2], [1, 1], padding="full", dilation=2) == [1, 2, 1, 2]
    assert conv1([1, 2, 3, 4, 5, 6, 7], [1, 1], stride=3, dilation=2) == [4, 10]
    assert conv1([1, 2, 3], [1, 1], padding=[(2, 1)]) == [0, 1, 3, 5, 3]
    assert conv1([1, 2, 3], [1, 1], padding="valid") == [3, 5]


@pytest.mark.parametrize("mode,expected", [
    ("zeros", [0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0]),
    ("reflect", [1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3]),
    ("replicate", [1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3]),
    ("circular", [3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1]),
    ("mean", [2, 2, 2, 2, 1, 2, 3, 2, 2, 2, 2]),
])
def test_padding_modes_hand_values(mode, expected):
    # a 1-tap identity kernel returns the padded input itself; the pad (4) is wider
    # than the input (3), so this checks the ndimage semantics for wide pads
    assert conv1([1, 2, 3], [1], padding=4, padding_mode=mode) == expected


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "mean"])
def test_padding_modes_single_sample(mode):
    got = conv1([5.0], [1], padding=[(2, 3)], padding_mode=mode)
    assert got == [5.0] * 6
    # per-(sample, channel) mean, over all spatial dims
    x = np.array([[[[1.0, 2.0], [3.0, 6.0]]], [[[0.0, 0.0], [0.0, 8.0]]]])  # (2, 1, 2, 2)
    y = fastconv.conv(x, np.ones((1, 1, 1, 1)), padding=1, padding_mode="mean")
    assert y[0, 0, 0].tolist() == [3.0] * 4 and y[1, 0, 0].tolist() == [2.0] * 4
    assert y[0, 0, 1].tolist() == [3.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular", "mean"])
@pytest.mark.parametrize("shape,kshape", [
    ((11,), (3,)), ((9,), (7,)), ((4,), (9,)), ((1,), (5,)),
    ((6, 7), (3, 5)), ((3, 4), (7, 5)), ((5, 4, 6), (3, 3, 5)), ((2, 3, 2), (5, 3, 3)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_modes_match_ndimage_correlate(mode, shape, kshape, dtype, rng):
    """padding='same', stride 1, odd kernel == ndimage.correlate (kernel centred),
    per channel via a depthwise conv; includes kernels wider than the input."""
    C = 3
    x = rng.standard_normal((2, C) + shape).astype(dtype)
    w = rng.standard_normal((C, 1) + kshape).astype(dtype)
    y = fastconv.conv(x, w, padding="same", padding_mode=mode, groups=C)
    expected = np.empty(x.shape)
    for n in range(2):
        for c in range(C):
            xc = x[n, c].astype(np.float64)
            if mode == "zeros":
                kw = dict(mode="constant", cval=0.0)
            elif mode == "mean":
                kw = dict(mode="constant", cval=xc.mean())
            else:
                kw = dict(mode=ND_MODE[mode])
            expected[n, c] = ndi.correlate(xc, w[c, 0].astype(np.float64), **kw)
    assert_close(y, expected, dtype=dtype)


# --------------------------------------------------------------------------
# edge cases
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_kernel_larger_than_input_gives_empty_output(dtype, channels_last, rng):
    case = Case(spatial=(4, 5), kernel=(6, 2), batch=2, cin_g=3, cout_g=5, dtype=dtype,
                channels_last=channels_last)
    x, w, _ = case.arrays(rng)
    y = fastconv.conv(x, w, channels_last=channels_last)
    assert y.shape == case.y_shape == ((2, 0, 4, 5) if channels_last else (2, 5, 0, 4))
    assert y.dtype == dtype
    # dilation makes a small kernel too large; untied bias is empty too
    ub = np.zeros((5, 0, 4))
    y = fastconv.conv(x, w[:, :, :2], ub, dilation=(5, 1), channels_last=channels_last)
    assert y.shape == ((2, 0, 4, 5) if channels_last else (2, 5, 0, 4))
    # with enough padding the same kernel fits again
    case.padding = ((1, 1), (0, 0))
    run_case(case, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_size_batch(dtype, rng):
    x = np.zeros((0, 3, 5, 6), dtype)
    w = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
    y = fastconv.conv(x, w, rng.standard_normal(4), padding=1)
    assert y.shape == (0, 4, 5, 7) and y.dtype == dtype
    y = fastconv.conv(x.transpose(0, 2, 3, 1), w, channels_last=True, padding_mode="mean",
                      padding=1)
    assert y.shape == (0, 5, 7, 4)


def test_zero_input_channels_gives_bias(rng):
    x = np.zeros((2, 0, 7))
    w = np.zeros((4, 0, 3))
    b = rng.standard_normal(4)
    y = fastconv.conv(x, w, b, padding=1)
    assert y.shape == (2, 4, 7)
    assert np.array_equal(y, np.broadcast_to(b[None, :, None], (2, 4, 7)))
    y = fastconv.conv(x, w)
    assert y.shape == (2, 4, 5) and np.array_equal(y, np.zeros((2, 4, 5)))


def test_zero_output_channels(rng):
    x = rng.standard_normal((2, 3, 7, 4))
    w = np.zeros((0, 3, 3, 3))
    y = fastconv.conv(x, w, np.zeros(0), padding="same")
    assert y.shape == (2, 0, 7, 4)
    y = fastconv.conv(x.transpose(0, 2, 3, 1), w, channels_last=True)
    assert y.shape == (2, 5, 2, 0)


def test_zero_size_spatial_input(rng):
    x = np.zeros((2, 3, 0))
    w = rng.standard_normal((4, 3, 1))
    b = rng.standard_normal(4)
    assert fastconv.conv(x, w, b).shape == (2, 4, 0)
    y = fastconv.conv(x, w, b, padding=1)  # the output reads only zero padding
    assert np.array_equal(y, np.broadcast_to(b[None, :, None], (2, 4, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stride_larger_than_kernel(dtype, rng):
    for spatial, kernel, stride in [((17,), (2,), 5), ((9, 11), (1, 2), (4, 3)),
                                    ((7, 6, 8), (2, 1, 3), (3, 4, 5))]:
        run_case(Case(spatial=spatial, kernel=kernel, stride=stride, cin_g=2, cout_g=3,
                      dtype=dtype, bias="tied"), rng)


@pytest.mark.parametrize("mode", R.PADDING_MODES)
def test_dilation_with_padding(mode, rng):
    for spatial, kernel, dil, pad in [((13,), (3,), 3, 4), ((8, 9), (3, 2), (2, 3), ((3, 1), (0, 5))),
                                      ((6, 5, 7), (2, 3, 2), (3, 1, 2), (2, 1, (1, 3)))]:
        run_case(Case(spatial=spatial, kernel=kernel, dilation=dil, padding=pad, groups=2,
                      cin_g=2, cout_g=2, padding_mode=mode, bias="tied"), rng)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_untied_bias(channels_last, dtype, rng):
    case = Case(spatial=(6, 7), kernel=(3, 2), stride=(2, 1), padding=1, cin_g=2, cout_g=3,
                groups=2, bias="untied", channels_last=channels_last, dtype=dtype)
    x, w, b = case.arrays(rng)
    assert b.shape == (6, 3, 8)
    y = fastconv.conv(x, w, b, **case.kwargs())
    assert_close(y, case.ref_forward(x, w, b), dtype=dtype)
    # the untied bias is added per output location
    y0 = fastconv.conv(x, w, None, **case.kwargs())
    bl = np.moveaxis(b, 0, -1) if channels_last else b
    assert_close(y - y0, np.broadcast_to(bl, y.shape).astype(np.float64),
                 rtol=TOL_SUM[np.dtype(dtype)])


TOL_SUM = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}


# --------------------------------------------------------------------------
# realistic layers (exercise the GEMM / direct / depthwise / pointwise paths)
# --------------------------------------------------------------------------
@settings(max_examples=40)
@given(case=conv_cases(groups=(1, 2), cin=(20, 70), cout=(1, 40), batches=(None, 1, 2),
                       sizes={1: (40, 5), 2: (18, 3), 3: (8, 3)}),
       seed=st.integers(0, 2**32 - 1))
def test_conv_medium_random(case, seed):
    """Many channels: several patch tiles per sample, at random geometries."""
    run_case(case, np.random.default_rng(seed))


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_realistic_layers(name, dtype, channels_last, rng):
    case = Case(**LAYERS[name], dtype=dtype, channels_last=channels_last, bias="tied")
    run_case(case, rng)
