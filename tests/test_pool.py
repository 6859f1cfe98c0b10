"""Pooling: max_pool, avg_pool, their gradients and the global pools.

Oracles: the loops of ``reference.py`` (written from torch's documented
semantics), scipy.ndimage.maximum_filter / uniform_filter sub-sampled, finite
differences, the dot-product identity for the linear avg_pool, and torch
itself when it is installed.
"""

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from scipy import ndimage

import fastconv
import reference as ref

DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------
# helpers: one pooling problem in the library's layout and in the reference's
# --------------------------------------------------------------------------
@st.composite
def pool_cases(draw, max_dims=3, dilation=True, wide=False):
    """wide: a last axis long enough for the vector kernels (16 and more
    outputs per row), strides 1 and 2 along it, the outer axes short."""
    d = draw(st.integers(1, max_dims))
    smax = {1: 12, 2: 7, 3: 5}[d]
    spatial = tuple(draw(st.integers(1, smax)) for _ in range(d))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(d))
    if wide:
        spatial = tuple(draw(st.integers(1, 4)) for _ in range(d - 1)) + (
            draw(st.integers(17, 75)),)
        stride = stride[:-1] + (draw(st.sampled_from([1, 2, 2, 3])),)
    pads = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = tuple(draw(st.integers(1, 3)) for _ in range(d)) if dilation else (1,) * d
    ceil_mode = draw(st.booleans())
    outs = [ref.pool_out_size(n, k, s, dl, p, p, ceil_mode)
            for n, k, s, dl, p in zip(spatial, kernel, stride, dil, pads)]
    assume(all(o >= 1 for o in outs))
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3))) + spatial,
        kernel=kernel, stride=stride, pads=pads, dilation=dil, ceil_mode=ceil_mode,
        channels_last=draw(st.booleans()), batched=draw(st.booleans()),
        dtype=draw(st.sampled_from(DTYPES)), seed=draw(st.integers(0, 2**16)),
        # a list form for stride sometimes, None (= kernel) sometimes
        stride_arg=draw(st.sampled_from(["tuple", "none"])),
    )


def _args(case):
    stride = None if case["stride_arg"] == "none" else case["stride"]
    eff_stride = case["kernel"] if stride is None else stride
    return stride, eff_stride


def _input(case, values="normal"):
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"] if case["batched"] else (1,) + case["shape"][1:]
    if values == "ties":  # few distinct values: many ties inside windows
        x_cf = rng.integers(-2, 3, shape).astype(np.float64)
    else:
        x_cf = rng.standard_normal(shape)
    if values == "nan":  # NaN must win every window it is in
        x_cf[rng.random(shape) < 0.15] = np.nan
    return x_cf, ref.to_layout(x_cf, case["channels_last"], case["batched"]).astype(case["dtype"])


# --------------------------------------------------------------------------
# against the reference loops
# --------------------------------------------------------------------------
@given(pool_cases(), st.sampled_from(["normal", "ties", "nan"]))
def test_max_pool_matches_reference(case, values):
    _check_max_pool(case, values)


@given(pool_cases(wide=True), st.sampled_from(["normal", "ties", "nan"]))
def test_max_pool_wide_rows_match_reference(case, values):
    # rows of 16 and more outputs: the window-by-window vector kernels, their
    # edges and their last step (moved back to end at the row's end)
    _check_max_pool(case, values)


def _check_max_pool(case, values):
    x_cf, x = _input(case, values)
    stride, eff = _args(case)
    pairs = tuple((p, p) for p in case["pads"])
    kw = dict(padding=case["pads"], dilation=case["dilation"], ceil_mode=case["ceil_mode"],
              channels_last=case["channels_last"])
    y, idx = fastconv.max_pool(x, case["kernel"], stride, return_indices=True, **kw)
    y_ref, idx_ref = ref.max_pool(ref.from_layout(x, case["channels_last"], case["batched"]),
                                  case["kernel"], eff, pairs, case["dilation"],
                                  case["ceil_mode"])
    assert y.dtype == case["dtype"] and idx.dtype == np.int64
    np.testing.assert_array_equal(ref.from_layout(y, case["channels_last"], case["batched"]),
                                  y_ref.astype(case["dtype"]))
    np.testing.assert_array_equal(ref.from_layout(idx, case["channels_last"], case["batched"]),
                                  idx_ref)
    y2 = fastconv.max_pool(x, case["kernel"], stride, **kw)
    np.testing.assert_array_equal(y2, y)

    g_cf = np.random.default_rng(1).standard_normal(y_ref.shape)
    g = ref.to_layout(g_cf, case["channels_last"], case["batched"]).astype(case["dtype"])
    gx_ref = ref.max_pool_grad(g_cf.astype(case["dtype"]),
                               ref.from_layout(x, case["channels_last"], case["batched"]),
                               case["kernel"], eff, pairs, case["dilation"], case["ceil_mode"])
    for indices in (None, idx):
        gx = fastconv.max_pool_grad(g, x, case["kernel"], stride, indices=indices, **kw)
        assert gx.shape == x.shape and gx.dtype == case["dtype"]
        ref.assert_close(ref.from_layout(gx, case["channels_last"], case["batched"]), gx_ref,
                         what="max_pool_grad")


@given(pool_cases(dilation=False), st.booleans())
def test_avg_pool_matches_reference(case, count_include_pad):
    x_cf, x = _input(case)
    stride, eff = _args(case)
    pairs = tuple((p, p) for p in case["pads"])
    kw = dict(padding=case["pads"], ceil_mode=case["ceil_mode"],
              count_include_pad=count_include_pad, channels_last=case["channels_last"])
    y = fastconv.avg_pool(x, case["kernel"], stride, **kw)
    x_ref = ref.from_layout(x, case["channels_last"], case["batched"])
    y_ref = ref.avg_pool(x_ref, case["kernel"], eff, pairs, case["ceil_mode"], count_include_pad)
    ref.assert_close(ref.from_layout(y, case["channels_last"], case["batched"]), y_ref,
                     dtype=case["dtype"], what="avg_pool")

    g_cf = np.random.default_rng(2).standard_normal(y_ref.shape)
    g = ref.to_layout(g_cf, case["channels_last"], case["batched"]).astype(case["dtype"])
    gx = fastconv.avg_pool_grad(g, x.shape, case["kernel"], stride, **kw)
    gx_ref = ref.avg_pool_grad(g_cf.astype(case["dtype"]), x_ref.shape, case["kernel"], eff,
                               pairs, case["ceil_mode"], count_include_pad)
    ref.assert_close(ref.from_layout(gx, case["channels_last"], case["batched"]), gx_ref,
                     dtype=case["dtype"], what="avg_pool_grad")
    # adjoint: <avg_pool(x), g> == <x, avg_pool_grad(g)>, in float64
    if case["dtype"] == np.float64:
        lhs = np.vdot(y, g)
        rhs = np.vdot(x, gx)
        assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


def test_reference_pool_sizes_agree_with_torch_examples():
    # torch.nn.MaxPool1d docs arithmetic, worked by hand
    assert ref.pool_out_size(5, 2, 2, 1, 0, 0, False) == 2
    assert ref.pool_out_size(5, 2, 2, 1, 0, 0, True) == 3
    # the last window would start in the high padding only: dropped
    assert ref.pool_out_size(4, 2, 2, 1, 1, 1, True) == 3
    assert ref.pool_out_size(3, 2, 2, 1, 1, 1, True) == 2


# --------------------------------------------------------------------------
# SciPy oracles: centred filters sub-sampled
# --------------------------------------------------------------------------
@pytest.mark.parametrize("k,s", [(3, 1), (3, 2), (5, 3), (1, 2)])
@pytest.mark.parametrize("padded", [False, True])
def test_max_and_avg_pool_match_ndimage_filters(rng, k, s, padded):
    x = rng.standard_normal((2, 3, 13, 10))
    p = k // 2 if padded else 0
    fp = (1, 1, k, k)
    mx = ndimage.maximum_filter(x, size=fp, mode="constant", cval=-np.inf)
    mean = ndimage.uniform_filter(x, size=fp, mode="constant", cval=0.0)
    lo = 0 if padded else k // 2
    sl = (slice(None), slice(None)) + tuple(slice(lo, n - (k // 2 - p), s) for n in (13, 10))
    np.testing.assert_array_equal(fastconv.max_pool(x, k, s, padding=p), mx[sl])
    ref.assert_close(fastconv.avg_pool(x, k, s, padding=p), mean[sl], what="avg_pool")


def test_max_pool_3d_matches_ndimage(rng):
    x = rng.standard_normal((1, 2, 7, 6, 5)).astype(np.float32)
    y = fastconv.max_pool(x, 3, 2, padding=1)
    mx = ndimage.maximum_filter(x, size=(1, 1, 3, 3, 3), mode="constant", cval=-np.inf)
    np.testing.assert_array_equal(y, mx[:, :, ::2, ::2, ::2])


# --------------------------------------------------------------------------
# finite differences and identities
# --------------------------------------------------------------------------
def numeric_vjp(f, x, g, eps):
    """sum(g * df/dx) by central differences, one element of x at a time."""
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        num[i] = (np.vdot(f(x + e), g) - np.vdot(f(x - e), g)) / (2 * eps)
    return num


def test_max_pool_grad_finite_differences(rng):
    x = rng.permutation(np.arange(2 * 2 * 7 * 6, dtype=np.float64)).reshape(2, 2, 7, 6) / 10
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    g = rng.standard_normal(fastconv.max_pool(x, **kw).shape)
    # values are 0.1 apart: a step of 1e-3 changes no arg-max
    num = numeric_vjp(lambda a: fastconv.max_pool(a, **kw), x, g, 1e-3)
    np.testing.assert_allclose(fastconv.max_pool_grad(g, x, **kw), num, atol=1e-9)


def test_avg_pool_grad_finite_differences(rng):
    x = rng.standard_normal((1, 2, 6, 5))
    kw = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True,
              count_include_pad=False)
    g = rng.standard_normal(fastconv.avg_pool(x, **kw).shape)
    num = numeric_vjp(lambda a: fastconv.avg_pool(a, **kw), x, g, 1e-6)
    np.testing.assert_allclose(fastconv.avg_pool_grad(g, x.shape, **kw), num, atol=1e-8)


def test_nan_propagates_and_is_the_chosen_index(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    y, idx = fastconv.max_pool(x, 2, return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1:, 1:]).any()
    assert idx[0, 0, 0, 0] == 4  # the last NaN scanned, as torch
    gx = fastconv.max_pool_grad(np.ones_like(y), x, 2)
    assert gx[0, 0, 1, 0] == 1 and gx[0, 0, 0, 1] == 0


def test_ties_go_to_the_first_maximum():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = 5.0
    y, idx = fastconv.max_pool(x, 2, 1, return_indices=True)
    assert idx[0, 0].tolist() == [[4, 4], [4, 4]]
    x = np.ones((1, 1, 2, 2))
    assert fastconv.max_pool(x, 2, return_indices=True)[1].item() == 0


def test_empty_window_gives_minus_inf_and_index_minus_one():
    # dilation 2, padding 1 on a size-1 axis: the taps fall at -1 and 1
    x = np.ones((1, 1, 1))
    y, idx = fastconv.max_pool(x, 2, 1, padding=1, dilation=2, return_indices=True)
    assert y.tolist() == [[[-np.inf]]] and idx.tolist() == [[[-1]]]
    assert fastconv.max_pool_grad(np.ones((1, 1, 1)), x, 2, 1, padding=1, dilation=2)[0, 0, 0] == 0


def test_grads_do_not_depend_on_the_thread_count(rng):
    x = rng.standard_normal((2, 3, 40, 33)).astype(np.float32)
    kw = dict(kernel_size=4, stride=1, padding=2)
    g = rng.standard_normal(fastconv.max_pool(x, **kw).shape).astype(np.float32)
    for f in (lambda w: fastconv.max_pool_grad(g, x, workers=w, **kw),
              lambda w: fastconv.avg_pool_grad(g, x.shape, workers=w, **kw),
              lambda w: fastconv.max_pool_grad(np.moveaxis(g, 1, -1), np.moveaxis(x, 1, -1),
                                               channels_last=True, workers=w, **kw)):
        a, b = f(1), f(2)
        np.testing.assert_array_equal(a, b)


def test_large_planes_several_blocks(rng):
    # more outputs than one block (4096): the two-colour gradient schedule
    x = rng.standard_normal((1, 2, 150, 90))
    kw = dict(kernel_size=3, stride=1, padding=1)
    g = rng.standard_normal((1, 2, 150, 90))
    ref.assert_close(fastconv.avg_pool_grad(g, x.shape, **kw),
                     ref.avg_pool_grad(g, x.shape, 3, 1, ((1, 1), (1, 1))), what="avg grad")
    ref.assert_close(fastconv.max_pool_grad(g, x, **kw),
                     ref.max_pool_grad(g, x, 3, 1, ((1, 1), (1, 1))), what="max grad")
    # 3-d: blocks of whole (axis 1, axis 2) runs
    x = rng.standard_normal((1, 1, 520, 3, 3))
    g = rng.standard_normal((1, 1, 520, 3, 3))
    pairs = ((1, 1),) * 3
    ref.assert_close(fastconv.max_pool_grad(g, x, **kw),
                     ref.max_pool_grad(g, x, 3, 1, pairs), what="max grad 3-d")
    ref.assert_close(fastconv.avg_pool(x, **kw), ref.avg_pool(x, 3, 1, pairs), what="avg 3-d")


@pytest.mark.parametrize("shape, k, s, p, d", [
    ((2, 1, 900, 70), 2, 3, 0, 1),       # stride > kernel: rows no window reads
    ((1, 2, 1201, 37), 3, 2, 1, 2),      # dilation with padding
    ((1, 1, 1200, 4, 5), 2, (1, 2, 2), 1, 1),  # 3-d, blocks of whole runs
    ((1, 1, 190, 70), 4, 1, 2, 1),       # a block's halo reaching into the next block
])
def test_gradients_zero_the_input_block_by_block(rng, shape, k, s, p, d):
    # The gradients fill fresh (uninitialised) memory: each block (about 4096
    # outputs; here 2 to 4 per plane) zeroes its part before adding.  Freeing NaNs of the same size first makes the
    # allocator likely to hand them back, so a part left out shows as NaN.
    x = rng.standard_normal(shape)
    pairs = ((p, p),) * (len(shape) - 2)
    kw = dict(kernel_size=k, stride=s, padding=p)
    y, idx = fastconv.max_pool(x, dilation=d, return_indices=True, **kw)
    g = rng.standard_normal(y.shape)
    want = ref.max_pool_grad(g, x, k, s, pairs, d)
    for indices in (None, idx):
        del_ = np.full(x.size, np.nan)
        del del_
        ref.assert_close(fastconv.max_pool_grad(g, x, dilation=d, indices=indices, **kw), want,
                         what="max grad")
    if d == 1:
        ya = fastconv.avg_pool(x, **kw)
        ga = rng.standard_normal(ya.shape)
        del_ = np.full(x.size, np.nan)
        del del_
        ref.assert_close(fastconv.avg_pool_grad(ga, x.shape, **kw),
                         ref.avg_pool_grad(ga, x.shape, k, s, pairs), what="avg grad")


# --------------------------------------------------------------------------
# torch (optional)
# --------------------------------------------------------------------------
@given(pool_cases(), st.booleans())
def test_against_torch(case, count_include_pad):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    d = len(case["kernel"])
    x_cf, _ = _input(case)
    x_cf = x_cf.astype(case["dtype"])
    tx = torch.from_numpy(x_cf).requires_grad_()
    stride, _ = _args(case)
    kw = dict(padding=case["pads"], ceil_mode=case["ceil_mode"])
    tmax = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[d]
    tavg = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[d]
    ty, ti = tmax(tx, case["kernel"], stride, dilation=case["dilation"], return_indices=True,
                  **kw)
    y, idx = fastconv.max_pool(x_cf, case["kernel"], stride, dilation=case["dilation"],
                               return_indices=True, **kw)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    if (idx < 0).any():
        # torch's index for a window lying wholly in the padding is undefined
        # (out of range, or some element the window does not hold)
        return
    np.testing.assert_array_equal(idx, ti.numpy())
    g = np.random.default_rng(3).standard_normal(y.shape).astype(case["dtype"])
    ty.backward(torch.from_numpy(g))
    ref.assert_close(fastconv.max_pool_grad(g, x_cf, case["kernel"], stride,
                                            dilation=case["dilation"], **kw),
                     tx.grad.numpy(), what="max_pool_grad vs torch")
    if all(dl == 1 for dl in case["dilation"]):
        tx.grad = None
        try:
            ty = tavg(tx, case["kernel"], stride, count_include_pad=count_include_pad, **kw)
        except RuntimeError as e:
            # avg_pool3d refuses an input smaller than the kernel even when the
            # padding makes up the difference (avg_pool1d/2d accept it); the
            # reference loops check those cases (test_avg_pool_matches_reference)
            if d == 3 and "smaller than kernel size" in str(e):
                return
            raise
        y = fastconv.avg_pool(x_cf, case["kernel"], stride, count_include_pad=count_include_pad,
                              **kw)
        ref.assert_close(y, ty.detach().numpy(), what="avg_pool vs torch")
        ty.backward(torch.from_numpy(g[tuple(slice(0, n) for n in ty.shape)]))
        gx = fastconv.avg_pool_grad(g, x_cf.shape, case["kernel"], stride,
                                    count_include_pad=count_include_pad, **kw)
        ref.assert_close(gx, tx.grad.numpy(), what="avg_pool_grad vs torch")


def test_torch_nan_and_channels_last(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 5, 9, 8)).astype(np.float32)
    x[x > 1.5] = np.nan
    ty, ti = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, padding=1,
                                            return_indices=True)
    y, idx = fastconv.max_pool(np.moveaxis(x, 1, -1), 3, 2, padding=1, channels_last=True,
                               return_indices=True)
    np.testing.assert_array_equal(np.moveaxis(y, -1, 1), ty.numpy())
    np.testing.assert_array_equal(np.moveaxis(idx, -1, 1), ti.numpy())


# --------------------------------------------------------------------------
# conventions: dtypes, layouts, edge cases, errors
# --------------------------------------------------------------------------
def test_dtypes(rng):
    x = rng.integers(0, 9, (1, 2, 4, 4))
    assert fastconv.max_pool(x, 2).dtype == np.float64
    assert fastconv.avg_pool(x.astype(np.float16), 2).dtype == np.float16
    assert fastconv.avg_pool(x.astype(np.float32), 2).dtype == np.float32
    big_endian = x.astype(">f8")
    np.testing.assert_array_equal(fastconv.max_pool(big_endian, 2), fastconv.max_pool(x, 2))
    assert fastconv.avg_pool_grad(np.ones((1, 2, 2, 2), np.float32), x.shape, 2).dtype == np.float32


def test_inputs_are_not_modified_and_odd_strides_work(rng):
    base = rng.standard_normal((2, 3, 12, 10))
    x = base[:, ::-1, ::2, 1::1]  # negative and non-unit strides
    x.flags.writeable = False
    saved = x.copy()
    g = np.ones(fastconv.max_pool(x, 2).shape)
    fastconv.max_pool(x, 2)
    fastconv.avg_pool(x, 2)
    fastconv.max_pool_grad(g, x, 2)
    fastconv.avg_pool_grad(g, x.shape, 2)
    np.testing.assert_array_equal(x, saved)
    np.testing.assert_array_equal(fastconv.max_pool(x, 2), fastconv.max_pool(x.copy(), 2))


def test_unbatched_needs_a_sequence_kernel(rng):
    x = rng.standard_normal((3, 6, 6))
    y = fastconv.max_pool(x, (2, 2))
    assert y.shape == (3, 3, 3)
    np.testing.assert_array_equal(y, fastconv.max_pool(x[None], 2)[0])
    assert fastconv.max_pool(x, 2).shape == (3, 6, 3)  # an int kernel: batched 1-d


def test_zero_size(rng):
    assert fastconv.max_pool(np.zeros((0, 3, 4, 4)), 2).shape == (0, 3, 2, 2)
    y, idx = fastconv.max_pool(np.zeros((2, 0, 4, 4)), 2, return_indices=True)
    assert y.shape == idx.shape == (2, 0, 2, 2)
    assert fastconv.avg_pool(np.zeros((2, 4, 4, 0)), 2, channels_last=True).shape == (2, 2, 2, 0)
    assert fastconv.avg_pool_grad(np.zeros((0, 1, 2)), (0, 1, 4), 2).shape == (0, 1, 4)


def test_kernel_larger_than_input_and_stride_larger_than_kernel(rng):
    x = rng.standard_normal((1, 1, 2, 2))
    with pytest.raises(ValueError, match="too small"):
        fastconv.max_pool(x, 3)
    # with padding the window fits: torch gives 2x2 here
    assert fastconv.avg_pool(x, 3, 1, padding=1).shape == (1, 1, 2, 2)
    x = rng.standard_normal((1, 1, 10))
    y = fastconv.max_pool(x, 2, 4)
    np.testing.assert_array_equal(y[0, 0], [x[0, 0, 0:2].max(), x[0, 0, 4:6].max(),
                                            x[0, 0, 8:10].max()])


def test_ceil_mode_corner_cases(rng):
    x = np.arange(5.0).reshape(1, 1, 5)
    np.testing.assert_array_equal(fastconv.max_pool(x, 2, ceil_mode=True)[0, 0], [1, 3, 4])
    np.testing.assert_array_equal(fastconv.avg_pool(x, 2, ceil_mode=True)[0, 0], [0.5, 2.5, 4])
    # count_include_pad counts the padding, not the overhang past it (torch)
    np.testing.assert_array_equal(
        fastconv.avg_pool(x, 2, padding=1, ceil_mode=True)[0, 0], [0, 1.5, 3.5])
    x = np.ones((1, 1, 4))
    assert fastconv.max_pool(x, 2, padding=1, ceil_mode=True).shape == (1, 1, 3)


def test_global_pools(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(fastconv.global_avg_pool(x), x.mean(axis=(2, 3)), rtol=1e-6)
    assert fastconv.global_avg_pool(x, keepdims=True).shape == (2, 3, 1, 1)
    xc = np.moveaxis(x, 1, -1)
    np.testing.assert_array_equal(fastconv.global_max_pool(xc, channels_last=True),
                                  x.max(axis=(2, 3)))
    assert fastconv.global_max_pool(xc, channels_last=True, keepdims=True).shape == (2, 1, 1, 3)
    x[0, 1, 2, 2] = np.nan
    assert np.isnan(fastconv.global_max_pool(x)[0, 1])
    assert fastconv.global_avg_pool(x.astype(np.float16)).dtype == np.float16
    with pytest.raises(ValueError, match="spatial"):
        fastconv.global_max_pool(np.zeros((2, 3, 0)))
    with pytest.raises(ValueError, match="x must have shape"):
        fastconv.global_avg_pool(np.zeros((2, 3)))


@pytest.mark.parametrize("call, exc, match", [
    (lambda x: fastconv.max_pool(x.astype(complex), 2), TypeError, "complex"),
    (lambda x: fastconv.max_pool(x, "2"), TypeError, "kernel_size"),
    (lambda x: fastconv.max_pool(x, 0), ValueError, "kernel_size"),
    (lambda x: fastconv.max_pool(x, 2, 0), ValueError, "stride"),
    (lambda x: fastconv.max_pool(x, 2, padding=2), ValueError, "padding"),
    (lambda x: fastconv.max_pool(x, 2, padding=-1), ValueError, "padding"),
    (lambda x: fastconv.max_pool(x, 2, dilation=0), ValueError, "dilation"),
    (lambda x: fastconv.max_pool(x, (2, 2, 2, 2)), ValueError, "kernel_size"),
    (lambda x: fastconv.max_pool(x[0, 0], 2), ValueError, "x must have shape"),
    (lambda x: fastconv.max_pool(x, 2, channels_last="yes"), TypeError, "channels_last"),
    (lambda x: fastconv.max_pool(x, 2, ceil_mode=None), TypeError, "ceil_mode"),
    (lambda x: fastconv.max_pool(x, 2, return_indices=2), TypeError, "return_indices"),
    (lambda x: fastconv.avg_pool(x, 2, count_include_pad="no"), TypeError, "count_include_pad"),
    (lambda x: fastconv.max_pool(x, 2, workers=0), ValueError, "workers"),
    (lambda x: fastconv.max_pool_grad(np.ones((1, 2, 3, 3)), x, 2), ValueError, "grad_out"),
    (lambda x: fastconv.avg_pool_grad(np.ones((1, 2, 3, 3)), x.shape, 2), ValueError,
     "grad_out"),
    (lambda x: fastconv.avg_pool_grad(np.ones((1, 2, 2, 2)), (1, 2, -4, 4), 2), ValueError,
     "input_shape"),
    (lambda x: fastconv.avg_pool_grad(np.ones((1, 2, 2, 2)), "abc", 2), TypeError,
     "input_shape"),
    (lambda x: fastconv.max_pool_grad(np.ones((1, 2, 2, 2)), x, 2,
                                      indices=np.full((1, 2, 2, 2), 99)), ValueError, "indices"),
    (lambda x: fastconv.max_pool_grad(np.ones((1, 2, 2, 2)), x, 2,
                                      indices=np.zeros((1, 2, 2, 2))), ValueError, "indices"),
    (lambda x: fastconv.max_pool_grad(np.ones((1, 2, 2, 2)), x, 2,
                                      indices=np.zeros((2, 2), np.int64)), ValueError, "indices"),
])
def test_errors_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call(np.ones((1, 2, 4, 4)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, k, s, p, ceil", [
    ((2, 3, 23, 70), 3, 2, 1, False),   # rows of 35: two vectors, the last one moved back
    ((2, 3, 23, 70), 3, 2, 0, True),
    ((1, 2, 9, 67), (2, 3), 1, 1, False),
    ((2, 2, 101), 4, 2, 2, True),        # 1-d: the plane is one row
    ((1, 1, 40, 33), 2, 2, 0, False),    # the last rows read up to the plane's end
])
def test_long_rows_vector_kernels(shape, k, s, p, ceil, dtype):
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, shape).astype(dtype)   # ties
    x[rng.random(shape) < 0.02] = np.nan
    x[rng.random(shape) < 0.02] = -np.inf
    d = len(shape) - 2
    pairs = ((p, p),) * d
    y, idx = fastconv.max_pool(x, k, s, padding=p, ceil_mode=ceil, return_indices=True)
    y_ref, idx_ref = ref.max_pool(x, k, s, pairs, 1, ceil)
    np.testing.assert_array_equal(y, y_ref.astype(dtype))
    np.testing.assert_array_equal(idx, idx_ref)
    np.testing.assert_array_equal(fastconv.max_pool(x, k, s, padding=p, ceil_mode=ceil), y)
    g = rng.standard_normal(y.shape)
    ref.assert_close(fastconv.max_pool_grad(g, x, k, s, padding=p, ceil_mode=ceil),
                     ref.max_pool_grad(g, x, k, s, pairs, 1, ceil), what="grad")
