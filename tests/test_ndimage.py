"""fastconv.ndimage against scipy.ndimage as the oracle.

Random cases (hypothesis, small shapes) cross every mode, cval, origin, axes,
input/weights/output dtype and even or oversized weights; targeted cases cover
output= (arrays, dtypes, aliasing the input), the integer casts, skipped tiny
weights, the engine's block/separable/thread paths and SciPy's errors.
"""

import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fastconv import ndimage as fn

MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-wrap", "grid-constant",
         "grid-mirror"]
IN_DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
             "float32", "float64", "complex64", "complex128"]
OUT_DTYPES = [None, "float32", "float64", "int16", "uint8", "int64", "bool"]


def make(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        return rng.integers(0 if dtype.kind == "u" else -20, 21, shape).astype(dtype)
    a = rng.standard_normal(shape) * 4
    if dtype.kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def make_weights(rng, shape, dtype="float64"):
    """Multiples of 1/8 (some zero): every sum of small integers times them is
    exact in float64, so integer outputs can be compared exactly."""
    w = rng.integers(-16, 17, shape) / 8.0
    if np.dtype(dtype).kind == "c":
        w = w + 1j * rng.integers(-16, 17, shape) / 8.0
    return w.astype(dtype)


def check_same(got, ref, tol=None):
    assert type(got) is type(ref)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    assert got.shape == ref.shape
    if ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref)
        return
    if ref.size == 0:
        return
    if tol is None:
        tol = 2e-5 if ref.dtype in (np.float32, np.complex64) else 1e-12
    g, r = got.astype(np.complex128), ref.astype(np.complex128)
    assert (np.isnan(g) == np.isnan(r)).all()
    scale = max(1.0, float(np.nanmax(np.abs(r))))
    err = float(np.nanmax(np.abs(g - r))) if np.isfinite(r).any() else 0.0
    assert err <= tol * scale, f"max error {err:.3g} > {tol:g} * {scale:.3g}"


def outcome(call, module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(module)


def compare(call):
    """SciPy's result or exception type, and ours the same."""
    try:
        ref = outcome(call, ndi)
    except Exception as exc:
        with pytest.raises(type(exc)):
            outcome(call, fn)
        return
    check_same(outcome(call, fn), ref)


# SciPy's 'reflect' maps a position exactly 2k periods (k >= 2, period twice
# the length) before the start to index -1 and reads outside the line (see
# test_reflect_far_from_the_edge); the random cases keep the weights closer.
REFLECT = ("reflect", "grid-mirror")


def reach_ok(shape, wshape, axes):
    axes = range(len(shape)) if axes is None else [a % len(shape) for a in axes]
    return all(k < 4 * shape[a] for a, k in zip(sorted(axes), wshape))


@st.composite
def problems(draw):
    d = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 7), min_size=d, max_size=d))
    # filter all axes, or a subset (then the weights have one dim per axis)
    if d > 1 and draw(st.booleans()):
        axes = draw(st.lists(st.integers(-d, d - 1), min_size=1, max_size=d,
                             unique_by=lambda a: a % d))
    else:
        axes = None
    nw = d if axes is None else len(axes)
    wshape = draw(st.lists(st.integers(1, 9), min_size=nw, max_size=nw))
    if draw(st.booleans()):
        origin = [draw(st.integers(-(k // 2), (k - 1) // 2)) for k in wshape]
    else:
        origin = draw(st.integers(-(min(wshape) // 2), (min(wshape) - 1) // 2))
    return shape, wshape, axes, origin


@settings(max_examples=200)
@given(p=problems(), mode=st.sampled_from(MODES), cval=st.sampled_from([0.0, 1.5, -3.0]),
       dt=st.sampled_from(IN_DTYPES), wdt=st.sampled_from(["float64", "float32", "int16",
                                                           "complex128"]),
       out=st.sampled_from(OUT_DTYPES), conv=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_match_scipy(p, mode, cval, dt, wdt, out, conv, seed):
    shape, wshape, axes, origin = p
    assume(mode not in REFLECT or reach_ok(shape, wshape, axes))
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dt)
    w = make_weights(rng, wshape, wdt)
    name = "convolve" if conv else "correlate"
    compare(lambda m: getattr(m, name)(x, w, output=out, mode=mode, cval=cval,
                                       origin=origin, axes=axes))


@settings(max_examples=60)
@given(p=problems(), mode=st.sampled_from(MODES), dt=st.sampled_from(["float32", "float64",
                                                                      "int32", "complex64"]),
       conv=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_output_array(p, mode, dt, conv, seed):
    """output= an array: filled in place and returned; the input may be the output."""
    shape, wshape, axes, origin = p
    assume(mode not in REFLECT or reach_ok(shape, wshape, axes))
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dt)
    w = make_weights(rng, wshape)
    name = "convolve" if conv else "correlate"
    ours, theirs = np.zeros(shape, dt), np.zeros(shape, dt)
    try:
        r2 = getattr(ndi, name)(x, w, theirs, mode, 1.0, origin, axes=axes)
    except Exception as exc:  # e.g. origins in `axes` order vs weights in axis order
        with pytest.raises(type(exc)):
            getattr(fn, name)(x, w, ours, mode, 1.0, origin, axes=axes)
        return
    r1 = getattr(fn, name)(x, w, ours, mode, 1.0, origin, axes=axes)
    assert r1 is ours
    check_same(ours, theirs)
    x2 = x.copy()
    getattr(fn, name)(x2, w, x2, mode, 1.0, origin, axes=axes)   # in place
    check_same(x2, r2)


# --------------------------------------------------------------------------
# larger images: blocks, threads, separable kernels
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [(3, 3), (5, 5), (8, 6), (15, 15), (1, 11), (11, 1)])
@pytest.mark.parametrize("mode", ["reflect", "constant", "mirror", "wrap"])
def test_large_images(dtype, k, mode, rng):
    x = make(rng, (157, 203), dtype)
    w = rng.standard_normal(k)
    ref = ndi.correlate(x, w, mode=mode, cval=0.5)
    for workers in (1, 2):
        check_same(fn.correlate(x, w, mode=mode, cval=0.5, workers=workers), ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [5, 9, 21])
def test_separable_weights(dtype, k, rng):
    """Gaussian-like rank-1 weights (the two-pass path) give SciPy's result."""
    g = np.exp(-np.linspace(-2, 2, k) ** 2)
    w = np.outer(g, g) / g.sum() ** 2
    x = make(rng, (130, 170), dtype)
    for mode in ("reflect", "nearest", "constant"):
        check_same(fn.convolve(x, w, mode=mode, cval=2.0), ndi.convolve(x, w, mode=mode,
                                                                         cval=2.0))


def test_volume_and_stack(rng):
    """3-d weights on a volume; 2-d weights over a stack's last two axes."""
    x = make(rng, (9, 31, 40), "float32")
    w = rng.standard_normal((3, 4, 5))
    check_same(fn.correlate(x, w, mode="mirror", origin=(1, -1, 0)),
               ndi.correlate(x, w, mode="mirror", origin=(1, -1, 0)))
    w2 = rng.standard_normal((3, 3))
    got = fn.correlate(x, w2, axes=(1, 2))
    check_same(got, ndi.correlate(x, w2, axes=(1, 2)))
    check_same(got, np.stack([ndi.correlate(x[i], w2) for i in range(9)]))
    check_same(fn.convolve(x, w2, axes=(2, 0)), ndi.convolve(x, w2, axes=(2, 0)))


# --------------------------------------------------------------------------
# SciPy's particular rules
# --------------------------------------------------------------------------
def test_tiny_weights_are_skipped():
    x = np.array([1.0, np.nan, 3, 4, 5])
    for w in ([1e-17, 1, 0.0], [2e-16, 1, 0], [1e-15, 1, 0], [0, 0, 0]):
        check_same(fn.correlate(x, w), ndi.correlate(x, w))
    x = np.array([1e20, 2, 3])
    check_same(fn.correlate(x, [2e-16, 1, 0]), ndi.correlate(x, [2e-16, 1, 0]))


@pytest.mark.parametrize("out", ["uint8", "int8", "int16", "uint16", "int32", "uint32",
                                 "int64", "uint64", "bool"])
def test_float_to_integer_cast(out):
    """Truncation towards zero and wrap-around, as SciPy's C cast."""
    x = np.array([1.0, -1.7, 2.5, 300.7, -300.2, 70000.9, -70000.1, 3e9, -3e9, 0.2, -0.2])
    check_same(fn.correlate(x, [1.0], output=np.dtype(out)),
               ndi.correlate(x, [1.0], output=np.dtype(out)))


def test_integer_input_wraps(rng):
    x = np.array([1, 2, 3, 100], np.int8)
    check_same(fn.correlate(x, [2.0, 3.0]), ndi.correlate(x, [2.0, 3.0]))
    x = rng.integers(0, 256, (20, 20)).astype(np.uint8)
    w = make_weights(rng, (3, 3))
    check_same(fn.convolve(x, w, mode="wrap"), ndi.convolve(x, w, mode="wrap"))


def test_scalars_lists_and_layouts(rng):
    compare(lambda m: m.correlate(np.array(3.0), np.array(2.0)))
    compare(lambda m: m.correlate([[1, 2], [3, 4]], [[1, 1]]))
    compare(lambda m: m.correlate(np.zeros((0, 3)), np.ones((2, 2))))
    x = make(rng, (30, 40), "float64")[::-2, ::3].astype(">f8")
    x.flags.writeable = False
    w = make_weights(rng, (3, 2))
    compare(lambda m: m.correlate(x, w, mode="nearest"))
    compare(lambda m: m.correlate(x, w, output=np.zeros(x.shape, ">f4")))
    compare(lambda m: m.convolve(x, w, output=np.zeros((20, 15), np.float64)[::2, ::-1]))


@pytest.mark.parametrize("call", [
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), origin=0.5),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((3, 3)), origin=0.4),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((3, 3)), origin=(True, 0)),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((3, 3)), origin="a"),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), origin=2),
    lambda m: m.convolve(np.ones((4, 5)), np.ones((2, 3)), origin=(1, 0)),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), origin=[0, 0, 0]),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), mode="constant", cval=None),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), mode="constant", cval="a"),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), mode="constant", cval=1j),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3), complex), cval=1j),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), mode="foo"),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), mode=["reflect", "wrap"]),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 3)), mode=3),
    lambda m: m.correlate(np.ones((4, 5)), np.ones(3)),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((1, 2, 3))),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((0, 3))),
    lambda m: m.correlate(np.ones((4, 5)), np.array(["a", "b"])),
    lambda m: m.correlate(np.ones((4, 5)), 2.0),
    lambda m: m.correlate(np.ones((4, 5), np.float16), np.ones((2, 2))),
    lambda m: m.correlate(np.ones((4, 5), np.longdouble), np.ones((2, 2))),
    lambda m: m.correlate(np.ones((4, 5), object), np.ones((2, 2))),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), output=np.float16),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), output=np.complex64),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), output=np.zeros((4, 4))),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), output="U3"),
    lambda m: m.correlate(np.ones((4, 5), complex), np.ones((2, 2)), output=np.zeros((4, 5))),
    lambda m: m.correlate(np.ones((4, 5), complex), np.ones((2, 2)), output="f8"),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), axes=(0, 0)),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), axes=(0, 2)),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), axes=(0, 1.0)),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), axes="a"),
    lambda m: m.correlate(np.ones((4, 5)), np.ones((2, 2)), axes=1),
])
def test_errors_like_scipy(call):
    try:
        outcome(call, ndi)
    except Exception as exc:
        with pytest.raises(type(exc)):
            outcome(call, fn)
    else:
        pytest.fail("SciPy accepted the call: not an error case")


def test_complex_output_dtype_promotion():
    x = np.ones((4, 5), complex)
    with pytest.warns(UserWarning):
        y = fn.correlate(x, np.ones((2, 2)), output=np.float32)
    assert y.dtype == np.complex64


def test_workers_threads_agree(rng):
    x = make(rng, (97, 131), "float32")
    w = rng.standard_normal((7, 7))
    ref = fn.correlate(x, w, workers=1)
    for n in (2, 3, -1):
        np.testing.assert_array_equal(fn.correlate(x, w, workers=n), ref)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "wrap", "nearest", "constant"])
def test_column_blocks(mode, rng):
    """Column blocks of a long signal and of rows wider than a strip: the
    boundary rule applies at the ends only."""
    x = make(rng, (4001,), "float32")
    w = rng.standard_normal(12)
    for workers in (1, 3):
        check_same(fn.correlate(x, w, mode=mode, cval=1.0, origin=-3, workers=workers),
                   ndi.correlate(x, w, mode=mode, cval=1.0, origin=-3))
    x2 = make(rng, (2, 60001), "float64")
    w2 = rng.standard_normal((2, 7))
    check_same(fn.convolve(x2, w2, mode=mode), ndi.convolve(x2, w2, mode=mode))


def test_concurrent_callers(rng):
    """Python threads calling at once (the GIL is released): each gets its own
    answer; a caller that finds the thread pool busy runs on its own thread."""
    from concurrent.futures import ThreadPoolExecutor

    xs = [make(rng, (300, 257), "float32") for _ in range(6)]
    w = rng.standard_normal((5, 5))
    refs = [fn.correlate(x, w, workers=1) for x in xs]
    with ThreadPoolExecutor(4) as ex:
        for _ in range(3):
            outs = list(ex.map(lambda x: fn.correlate(x, w, workers=2), xs))
            for got, ref in zip(outs, refs):
                np.testing.assert_array_equal(got, ref)


def test_reflect_far_from_the_edge():
    """Taps more than two periods before the edge: the periodic extension
    (SciPy reads the neighbouring row there, a defect of its offsets)."""
    x = np.array([[10.0, 20.0], [1.0, 2.0]])
    for t in range(9):
        w = np.zeros((1, 9))
        w[0, t] = 1
        got = fn.correlate(x, w, mode="reflect", origin=(0, 4))
        src = np.arange(2) - 8 + t                 # the input columns read
        m = np.mod(src, 4)
        np.testing.assert_array_equal(got, x[:, np.where(m < 2, m, 3 - m)])
