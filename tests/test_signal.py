"""fastconv.signal against scipy.signal as the oracle.

Random cases (hypothesis, small shapes) cross every mode, method, boundary,
dtype pair, even and oversized kernels; targeted cases cover axes= batching,
threads, the engine's block/separable/ISA paths, exact integer arithmetic,
empty inputs and SciPy's errors.
"""

import warnings

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import signal as fs
from fastconv._ext import _filter

FLOATS = ["float32", "float64", "complex64", "complex128", "float16"]
INTS = ["bool", "int8", "uint8", "int16", "int32", "int64", "uint64"]
DTYPES = FLOATS + INTS
TOL = {"float16": 4e-3, "float32": 2e-5, "complex64": 2e-5, "float64": 1e-12,
       "complex128": 1e-12, "longdouble": 1e-12, "clongdouble": 1e-12}


def make(rng, shape, dtype, low=-9, high=10):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        lo = 0 if dtype.kind == "u" else low
        return rng.integers(lo, high, shape).astype(dtype)
    a = rng.standard_normal(shape)
    if dtype.kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def check_same(got, ref, scale=None, inputs=()):
    """Same type, dtype, shape, and values (exact for integers and bools; floats
    to the precision of the least precise input, as SciPy's FFT path has)."""
    assert type(got) is type(ref) or (isinstance(got, np.ndarray) and isinstance(ref, np.ndarray))
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    if ref.dtype.kind in "biuO":
        np.testing.assert_array_equal(got, ref)
        return
    if ref.size == 0:
        return
    tol = max([TOL.get(ref.dtype.name, 1e-12)]
              + [TOL.get(np.asarray(a).dtype.name, 0) for a in inputs])
    g = got.astype(np.complex128)
    r = ref.astype(np.complex128)
    both_nan = np.isnan(g) & np.isnan(r)
    assert (np.isnan(g) == np.isnan(r)).all(), "NaN positions differ"
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(np.where(both_nan, 0, r)))))
    err = float(np.max(np.abs(np.where(both_nan, 0, g - r))))
    assert err <= tol * scale, f"max error {err:.3g} > {tol:g} * {scale:.3g}"


def scale_of(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.size == 0 or b.size == 0:
        return 1.0
    return max(1.0, float(np.max(np.abs(a.astype(np.complex128))))
               * float(np.sum(np.abs(b.astype(np.complex128)))))


def same_outcome(ours, theirs):
    """Both raise the same exception type, or both return the same array."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ref = theirs()
        except Exception as exc:  # SciPy refused: so must we, with the same type
            with pytest.raises(type(exc)):
                ours()
            return None
    got = ours()
    return got, ref


# --------------------------------------------------------------------------
# random cases against scipy.signal
# --------------------------------------------------------------------------
shapes = st.integers(1, 3).flatmap(
    lambda d: st.tuples(st.lists(st.integers(1, 7), min_size=d, max_size=d),
                        st.lists(st.integers(1, 8), min_size=d, max_size=d)))


@settings(max_examples=150)
@given(shp=shapes, mode=st.sampled_from(["full", "same", "valid"]),
       method=st.sampled_from(["auto", "direct", "fft"]),
       dt1=st.sampled_from(DTYPES), dt2=st.sampled_from(DTYPES),
       conv=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_correlate_convolve_match_scipy(shp, mode, method, dt1, dt2, conv, seed):
    s1, s2 = shp
    # SciPy's FFT path casts round-off to True for booleans; fastconv is exact
    assume(not (dt1 == dt2 == "bool" and method == "fft"))
    rng = np.random.default_rng(seed)
    a, b = make(rng, s1, dt1), make(rng, s2, dt2)
    name = "convolve" if conv else "correlate"
    out = same_outcome(lambda: getattr(fs, name)(a, b, mode, method),
                       lambda: getattr(ss, name)(a, b, mode, method))
    if out is not None:
        check_same(*out, scale=scale_of(a, b), inputs=(a, b))


@settings(max_examples=120)
@given(s1=st.tuples(st.integers(1, 7), st.integers(1, 7)),
       s2=st.tuples(st.integers(1, 8), st.integers(1, 8)),
       mode=st.sampled_from(["full", "same", "valid"]),
       boundary=st.sampled_from(["fill", "wrap", "symm", "circular", "symmetric"]),
       fill=st.sampled_from([0, 1.5, -2, 3]),
       dt1=st.sampled_from(DTYPES), dt2=st.sampled_from(DTYPES),
       conv=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_correlate2d_convolve2d_match_scipy(s1, s2, mode, boundary, fill, dt1, dt2, conv,
                                            seed):
    rng = np.random.default_rng(seed)
    a, b = make(rng, s1, dt1), make(rng, s2, dt2)
    name = "convolve2d" if conv else "correlate2d"
    out = same_outcome(lambda: getattr(fs, name)(a, b, mode, boundary, fill),
                       lambda: getattr(ss, name)(a, b, mode, boundary, fill))
    if out is not None:
        check_same(*out, scale=scale_of(a, b) + abs(fill) * scale_of(1, b))


# --------------------------------------------------------------------------
# the engine's paths on larger inputs
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [(3, 3), (4, 6), (9, 9), (1, 7), (7, 1), (17, 15)])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_blocks_and_threads(dtype, k, mode, rng):
    """Images split in many row blocks and tails of vectors, several threads."""
    a = make(rng, (203, 131), dtype)
    b = make(rng, k, dtype)
    ref = ss.correlate(a, b, mode, method="direct")
    for workers in (1, 2, 3):
        check_same(fs.correlate(a, b, mode, "direct", workers=workers), ref,
                   scale_of(a, b))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [5, 9, 31])
def test_separable_kernel(dtype, k, rng):
    """A rank-1 kernel runs as a row pass and a column pass: same result."""
    g = np.exp(-np.linspace(-2, 2, k) ** 2)
    b = np.outer(g, g[::-1] + 0.5).astype(dtype)
    a = make(rng, (150, 170), dtype)
    for mode in ("full", "same", "valid"):
        check_same(fs.correlate(a, b, mode, "direct"), ss.correlate(a, b, mode, "direct"),
                   scale_of(a, b))
    for boundary in ("fill", "wrap", "symm"):
        check_same(fs.convolve2d(a, b, "same", boundary, 0.5),
                   ss.convolve2d(a, b, "same", boundary, 0.5), scale_of(a, b) * 2)


@pytest.mark.parametrize("isa", ["generic", "sse2", "avx2", "avx512"])
def test_every_isa_variant(isa, rng):
    """Each generated kernel variant the CPU runs gives SciPy's answer."""
    a = make(rng, (61, 77), "float32")
    b = make(rng, (5, 4), "float32")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    try:
        used = _filter.set_isa(isa)
        if used.split("+")[0] != isa:
            pytest.skip(f"this CPU has no {isa}")
        check_same(fs.correlate(a, b, "same", "direct"), ss.correlate(a, b, "same", "direct"),
                   scale_of(a, b))
        check_same(fs.correlate(a64, b64, "full", "direct"),
                   ss.correlate(a64, b64, "full", "direct"), scale_of(a, b))
    finally:
        fastconv._config.apply_isa_cap()   # back to FASTCONV_ISA's cap, if any


def test_fft_path_large(rng):
    a = make(rng, (120, 140), "float64")
    b = make(rng, (33, 31), "float64")
    for mode in ("full", "same", "valid"):
        check_same(fs.correlate(a, b, mode, "fft"), ss.correlate(a, b, mode, "fft"),
                   scale_of(a, b))
        check_same(fs.convolve(a, b, mode, "fft"), ss.convolve(a, b, mode, "fft"),
                   scale_of(a, b))


# --------------------------------------------------------------------------
# axes=: batch axes
# --------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["correlate", "convolve"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_axes_stack_one_kernel(fn, mode, method, rng):
    """(H, C, W) images filtered over axes (0, 2) with one kernel = a loop."""
    a = make(rng, (9, 3, 11), "float64")
    b = make(rng, (4, 3), "float64")
    got = getattr(fs, fn)(a, b, mode, method, axes=(0, 2))
    ref = np.stack([getattr(ss, fn)(a[:, c], b, mode, method) for c in range(3)], axis=1)
    check_same(got, ref, scale_of(a, b))
    # the kernel with size-1 batch axes instead: the same
    got2 = getattr(fs, fn)(a, b[:, None, :], mode, method, axes=[-1, 0])
    check_same(got2, ref, scale_of(a, b))


def test_axes_kernel_per_image(rng):
    """in2 with the batch axis: one kernel per image (broadcast, like fftconvolve)."""
    a = make(rng, (4, 10, 12), "complex128")
    b = make(rng, (4, 3, 5), "complex128")
    for mode in ("full", "same", "valid"):
        got = fs.correlate(a, b, mode, axes=(1, 2))
        ref = np.stack([ss.correlate(a[i], b[i], mode) for i in range(4)])
        check_same(got, ref, scale_of(a, b))
        got = fs.convolve(a[:1], b, mode, axes=(1, 2))  # the image broadcasts
        ref = np.stack([ss.convolve(a[0], b[i], mode) for i in range(4)])
        check_same(got, ref, scale_of(a, b))
    ref = ss.fftconvolve(a, b, "same", axes=(1, 2))
    check_same(fs.convolve(a, b, "same", "fft", axes=(1, 2)), ref, scale_of(a, b))


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_axes_2d(boundary, rng):
    a = make(rng, (3, 8, 2, 7), "int32")
    b = make(rng, (3, 4), "int32")
    got = fs.correlate2d(a, b, "same", boundary, 2, axes=(1, 3))
    ref = np.empty_like(got)
    for i in range(3):
        for j in range(2):
            ref[i, :, j] = ss.correlate2d(a[i, :, j], b, "same", boundary, 2)
    check_same(got, ref)


def test_axes_errors(rng):
    a = make(rng, (3, 8, 7), "float64")
    with pytest.raises(ValueError):
        fs.correlate(a, np.ones((2, 3, 3)), axes=(1, 2))  # batch 3 vs 2
    with pytest.raises(ValueError):
        fs.correlate(a, np.ones((3, 3)), axes=(1, 1))
    with pytest.raises(ValueError):
        fs.correlate(a, np.ones((3, 3)), axes=(1, 3))
    with pytest.raises(ValueError):
        fs.correlate(a, np.ones(3), axes=(1, 2))
    with pytest.raises(ValueError):
        fs.correlate2d(a, np.ones((3, 3)), axes=(0, 1, 2))


# --------------------------------------------------------------------------
# dtypes and exactness
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "uint64", "int32", "int8"])
def test_integer_overflow_wraps_like_scipy(dtype, rng):
    """Sums beyond float64's 53 bits: exact, wrapping in the result dtype."""
    info = np.iinfo(dtype)
    a = rng.integers(info.max // 4, info.max // 2, (6, 7), dtype=dtype)
    b = rng.integers(1, 2**7, (3, 2), dtype=dtype)
    for mode in ("full", "same", "valid"):
        check_same(fs.correlate(a, b, mode, "direct"), ss.correlate(a, b, mode, "direct"))
        check_same(fs.convolve2d(a, b, mode, "symm"), ss.convolve2d(a, b, mode, "symm"))
    big = np.array([2**62, 3, -2**61], np.int64)
    check_same(fs.correlate(big, big, "full"), ss.correlate(big, big, "full", "direct"))


def test_longdouble(rng):
    a = make(rng, (9, 8), "float64").astype(np.longdouble)
    b = make(rng, (3, 3), "float64").astype(np.longdouble)
    check_same(fs.correlate(a, b, "same", "direct"), ss.correlate(a, b, "same", "direct"))
    check_same(fs.correlate2d(a, b, boundary="wrap"), ss.correlate2d(a, b, boundary="wrap"))


def test_nan_propagates_like_scipy_direct():
    a = np.ones((5, 6))
    a[2, 3] = np.nan
    b = np.array([[1.0, 0.0], [0.0, 0.0]])
    check_same(fs.correlate(a, b, "same", "direct"), ss.correlate(a, b, "same", "direct"))
    check_same(fs.correlate2d(a, b), ss.correlate2d(a, b))


def test_scalars_and_lists():
    check_same(fs.correlate(np.array(2 + 1j), np.array(3j)),
               ss.correlate(np.array(2 + 1j), np.array(3j)))
    check_same(fs.convolve([1, 2, 3], [0, 1, 0.5]), ss.convolve([1, 2, 3], [0, 1, 0.5]))
    check_same(fs.correlate2d([[1, 2], [3, 4]], [[1, 1]], boundary="wrap"),
               ss.correlate2d([[1, 2], [3, 4]], [[1, 1]], boundary="wrap"))


@pytest.mark.parametrize("fillvalue", [1.5, np.float64(-1.7), np.int64(300), True, [2],
                                       np.array(300), np.array([]), 2 + 1j, 2.5 + 0j,
                                       [1, 2], "x", None])
@pytest.mark.parametrize("dtype", ["uint8", "float64", "complex128"])
def test_fillvalue_conversion_like_scipy(fillvalue, dtype, rng):
    a = make(rng, (4, 5), dtype)
    b = make(rng, (2, 3), dtype)
    out = same_outcome(lambda: fs.correlate2d(a, b, fillvalue=fillvalue),
                       lambda: ss.correlate2d(a, b, fillvalue=fillvalue))
    if out is not None:
        check_same(*out, scale=1e3)


def test_non_contiguous_big_endian_read_only(rng):
    a = make(rng, (20, 30), "float64")[::2, ::-3].astype(">f8")
    b = make(rng, (3, 4), "float32")
    a.flags.writeable = False
    check_same(fs.correlate(a, b, "same"), ss.correlate(a, b, "same"), scale_of(a, b))
    check_same(fs.convolve2d(a, b, "same", "symm"), ss.convolve2d(a, b, "same", "symm"),
               scale_of(a, b))


# --------------------------------------------------------------------------
# empty inputs (SciPy is inconsistent there: the documented rule)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("s1,s2,mode,shape", [
    ((0, 3), (2, 2), "full", (1, 4)),
    ((0, 3), (2, 2), "same", (0, 3)),
    ((3, 3), (0, 2), "valid", (4, 2)),
    ((3, 4), (3, 0), "full", (5, 3)),
    ((0,), (3,), "same", (0,)),
    ((5,), (0,), "full", (4,)),
])
def test_empty_inputs(s1, s2, mode, shape):
    for f in (fs.correlate, fs.convolve):
        y = f(np.ones(s1, np.float32), np.ones(s2, np.float32), mode)
        assert y.shape == shape and y.dtype == np.float32 and not y.any()
    y = fs.correlate2d(np.ones((0, 3)), np.ones((2, 2)), fillvalue=2.0)
    assert y.shape == (1, 4) and (y == 8).all()  # every tap reads the fill value
    with pytest.raises(ValueError):
        fs.correlate2d(np.ones((0, 3)), np.ones((2, 2)), boundary="wrap")


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda m: m.correlate(np.ones((3, 3)), np.ones(3)),
    lambda m: m.convolve(np.ones((3, 3)), np.ones(3)),
    lambda m: m.correlate(np.ones(3), np.ones(2), mode="xx"),
    lambda m: m.correlate(np.ones(3), np.ones(2), mode=0),
    lambda m: m.correlate(np.ones(3), np.ones(2), mode=["full"]),
    lambda m: m.convolve(np.ones(3), np.ones(2), method="xx"),
    lambda m: m.correlate(np.ones((3, 2)), np.ones((2, 3)), mode="valid"),
    lambda m: m.convolve(np.ones((3, 2)), np.ones((2, 3)), mode="valid"),
    lambda m: m.correlate(np.ones((3, 3), bool), np.ones((2, 2), bool), method="direct"),
    lambda m: m.correlate(np.ones((3, 3), np.float16), np.ones((2, 2), np.float16),
                          method="direct"),
    lambda m: m.correlate(np.array([["a"]]), np.array([["b"]])),
    lambda m: m.correlate2d(np.ones(3), np.ones(3)),
    lambda m: m.convolve2d(np.ones((3, 3)), np.ones((2, 2)), boundary="reflect"),
    lambda m: m.convolve2d(np.ones((3, 3)), np.ones((2, 2)), boundary="xx"),
    lambda m: m.correlate2d(np.ones((3, 3)), np.ones((2, 2)), mode="xx"),
    lambda m: m.correlate2d(np.ones((3, 2)), np.ones((2, 3)), mode="valid"),
    lambda m: m.correlate2d(np.ones((3, 3), bool), np.ones((2, 2), bool)),
    lambda m: m.convolve2d(np.ones((3, 3), np.float16), np.ones((2, 2), np.int8)),
])
def test_errors_like_scipy(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as ref:
            call(ss)
    with pytest.raises(ref.type):
        call(fs)


def test_workers_argument(rng):
    a = make(rng, (40, 50), "float32")
    b = make(rng, (3, 3), "float32")
    ref = fs.correlate(a, b, workers=1)
    np.testing.assert_array_equal(fs.correlate(a, b, workers=-1), ref)
    with fastconv.threads(2):
        np.testing.assert_array_equal(fs.correlate(a, b), ref)
    for bad, exc in ((0, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(exc):
            fs.correlate(a, b, workers=bad)


# --------------------------------------------------------------------------
# the cost model
# --------------------------------------------------------------------------
def test_auto_chooses_by_cost():
    from fastconv import _filtering as F
    assert F.choose_method(1, (2048, 2048), (3, 3), 4, 2) == "direct"
    assert F.choose_method(1, (2048, 2048), (9, 9), 8, 2) == "direct"
    assert F.choose_method(1, (2048, 2048), (127, 127), 4, 2) == "fft"
    assert F.choose_method(1, (2048, 2048), (127, 127), 4, 2, separable=True) == "direct"
    assert F.choose_method(1, (2**20,), (4096,), 8, 2) == "fft"
    assert F.choose_method(1, (100,), (5,), 8, 2) == "direct"
    assert F.choose_method(0, (100,), (5,), 8, 2) == "direct"


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_long_signal_column_blocks(mode, rng):
    """A long 1-d signal is one row: split in column blocks for the threads."""
    a = make(rng, (50003,), "float64")
    b = make(rng, (9,), "float64")
    for workers in (1, 2, 4):
        check_same(fs.correlate(a, b, mode, "direct", workers=workers),
                   ss.correlate(a, b, mode, "direct"), scale_of(a, b))
    wide = make(rng, (3, 70001), "float32")   # rows wider than a strip
    k2 = make(rng, (2, 5), "float32")
    check_same(fs.convolve2d(wide, k2, mode, "wrap"), ss.convolve2d(wide, k2, mode, "wrap"),
               scale_of(wide, k2))
