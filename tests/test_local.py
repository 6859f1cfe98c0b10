"""Unshared (local) and tiled convolution and their adjoints.

Oracles: the per-position loops of ``reference.py``, the dot-product identity
(both adjoints), the two equivalences (T = 1 is conv, T = S_out is local_conv),
and torch's unfold when torch is installed.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import fastconv
import reference as ref

DTYPES = (np.float32, np.float64)


@st.composite
def tiled_cases(draw, local=False):
    d = draw(st.integers(1, 3))
    smax, kmax = {1: (10, 4), 2: (6, 3), 3: (4, 2)}[d]
    spatial = tuple(draw(st.integers(1, smax)) for _ in range(d))
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d))
    padding = draw(st.one_of(
        st.just("valid"), st.just("same"), st.just("full"),
        st.tuples(*(st.tuples(st.integers(0, 2), st.integers(0, 2)) for _ in range(d)))))
    padding_mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "circular",
                                         "replicate", "mean"]))
    out = ref.conv_output_spatial(spatial, kernel, stride, padding, dilation)
    if padding_mode != "zeros":  # index modes need the pad within reach of the input
        pairs = ref.pad_pairs(padding, spatial, kernel, stride, dilation)
        assume(all(max(p) < n for p, n in zip(pairs, spatial)))
    if local:
        tiles = out
    else:
        tiles = tuple(draw(st.integers(1, max(o, 1) + 1)) for o in out)
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(
        spatial=spatial, kernel=kernel, stride=stride, dilation=dilation, padding=padding,
        padding_mode=padding_mode, tiles=tiles, c_in=c_in, c_out=c_out, out=out,
        batch=draw(st.integers(1, 3)), batched=draw(st.booleans()),
        channels_last=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)),
        bias=draw(st.sampled_from([None, "tied", "untied"])), seed=draw(st.integers(0, 2**16)),
    )


def _arrays(case):
    rng = np.random.default_rng(case["seed"])
    n = case["batch"] if case["batched"] else 1
    x_cf = rng.standard_normal((n, case["c_in"]) + case["spatial"])
    w = rng.standard_normal(case["tiles"] + (case["c_out"], case["c_in"]) + case["kernel"])
    g_cf = rng.standard_normal((n, case["c_out"]) + case["out"])
    bias = None
    if case["bias"] == "tied":
        bias = rng.standard_normal(case["c_out"])
    elif case["bias"] == "untied":
        bias = rng.standard_normal((case["c_out"],) + case["out"])
    dt = case["dtype"]
    x_cf, w, g_cf = x_cf.astype(dt), w.astype(dt), g_cf.astype(dt)
    return x_cf, w, g_cf, bias


def _kw(case):
    return dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                padding_mode=case["padding_mode"])


@contextlib.contextmanager
def forward_engine(direct):
    """Unshared layers on the direct kernels (the default) or on GEMM."""
    saved = fastconv.local._DIRECT
    fastconv.local._DIRECT = direct
    try:
        yield
    finally:
        fastconv.local._DIRECT = saved


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("local", [False, True])
@given(data=st.data())
def test_matches_reference(local, direct, data):
    case = data.draw(tiled_cases(local=local))
    with forward_engine(direct):
        _check_against_reference(case, local)


def _check_against_reference(case, local):
    x_cf, w, g_cf, bias = _arrays(case)
    cl, batched = case["channels_last"], case["batched"]
    x, g = ref.to_layout(x_cf, cl, batched), ref.to_layout(g_cf, cl, batched)
    fwd, gin, gw_ = ((fastconv.local_conv, fastconv.local_conv_grad_input,
                      fastconv.local_conv_grad_weight) if local else
                     (fastconv.tiled_conv, fastconv.tiled_conv_grad_input,
                      fastconv.tiled_conv_grad_weight))
    kw = _kw(case)
    y = fwd(x, w, bias, channels_last=cl, **kw)
    y_ref = ref.tiled_conv(x_cf, w, bias, **kw)
    abs_ref = ref.tiled_conv(np.abs(x_cf), np.abs(w), None if bias is None else np.abs(bias),
                             **kw)
    ref.require_well_conditioned(y_ref, abs_ref, case["dtype"])
    ref.assert_close(ref.from_layout(y, cl, batched), y_ref, dtype=case["dtype"], what="forward")

    gx = gin(g, w, x.shape, channels_last=cl, **kw)
    gx_ref = ref.tiled_conv_grad_input(g_cf, w, x_cf.shape, **kw)
    ref.require_well_conditioned(
        gx_ref, ref.tiled_conv_grad_input(np.abs(g_cf), np.abs(w), x_cf.shape, **kw),
        case["dtype"])
    ref.assert_close(ref.from_layout(gx, cl, batched), gx_ref, dtype=case["dtype"],
                     what="grad_input")

    gw = gw_(x, g, w.shape, channels_last=cl, **kw)
    gw_ref = ref.tiled_conv_grad_weight(x_cf, g_cf, w.shape, **kw)
    ref.require_well_conditioned(
        gw_ref, ref.tiled_conv_grad_weight(np.abs(x_cf), np.abs(g_cf), w.shape, **kw),
        case["dtype"])
    ref.assert_close(gw, gw_ref, dtype=case["dtype"], what="grad_weight")


@given(tiled_cases())
def test_dot_product_identities(case):
    case = dict(case, dtype=np.float64, bias=None)
    x_cf, w, g_cf, _ = _arrays(case)
    kw = _kw(case)
    y = fastconv.tiled_conv(x_cf, w, **kw)
    gx = fastconv.tiled_conv_grad_input(g_cf, w, x_cf.shape, **kw)
    gw = fastconv.tiled_conv_grad_weight(x_cf, g_cf, w.shape, **kw)
    lhs = np.vdot(y, g_cf)
    scale = 1.0 + (np.abs(y).sum() * np.abs(g_cf).max() if y.size else 0.0)
    assert abs(lhs - np.vdot(x_cf, gx)) <= 1e-12 * scale
    assert abs(lhs - np.vdot(w, gw)) <= 1e-12 * scale


@pytest.mark.parametrize("cfg", [
    dict(x=(2, 3, 9, 8), k=(3, 3), cout=4, kw=dict(padding=1)),
    dict(x=(3, 2, 11), k=(4,), cout=5, kw=dict(stride=2, dilation=2, padding=[(3, 1)])),
    dict(x=(1, 2, 5, 4, 6), k=(2, 3, 2), cout=3, kw=dict(padding="same",
                                                           padding_mode="circular")),
    dict(x=(4, 16, 20, 20), k=(3, 3), cout=16, kw=dict(padding=1)),  # several blocks
])
def test_tiles_of_one_equal_conv(rng, cfg):
    x = rng.standard_normal(cfg["x"])
    w = rng.standard_normal((cfg["cout"], cfg["x"][1]) + cfg["k"])
    d = len(cfg["k"])
    wt = w[(None,) * d]
    kw = cfg["kw"]
    y = fastconv.conv(x, w, **kw)
    ref.assert_close(fastconv.tiled_conv(x, wt, **kw), y, what="forward")
    g = rng.standard_normal(y.shape)
    ref.assert_close(fastconv.tiled_conv_grad_input(g, wt, x.shape, **kw),
                     fastconv.conv_grad_input(g, w, x.shape, **kw), what="grad_input")
    ref.assert_close(fastconv.tiled_conv_grad_weight(x, g, wt.shape, **kw)[(0,) * d],
                     fastconv.conv_grad_weight(x, g, w.shape, **kw), what="grad_weight")


@pytest.mark.parametrize("channels_last", [False, True])
def test_tiles_of_output_size_equal_local_conv(rng, channels_last):
    x = rng.standard_normal((3, 7, 10, 3)) if channels_last else rng.standard_normal((3, 3, 7, 10))
    kw = dict(stride=(2, 1), padding=1, channels_last=channels_last)
    out = (4, 10)
    w = rng.standard_normal(out + (5, 3, 3, 3))
    y = fastconv.local_conv(x, w, **kw)
    np.testing.assert_array_equal(fastconv.tiled_conv(x, w, **kw), y)
    g = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(fastconv.tiled_conv_grad_input(g, w, x.shape, **kw),
                                  fastconv.local_conv_grad_input(g, w, x.shape, **kw))
    np.testing.assert_array_equal(fastconv.tiled_conv_grad_weight(x, g, w.shape, **kw),
                                  fastconv.local_conv_grad_weight(x, g, w.shape, **kw))
    # a local weight repeating one kernel is that kernel's conv
    k = rng.standard_normal((5, 3, 3, 3))
    ref.assert_close(fastconv.local_conv(x, np.broadcast_to(k, out + k.shape), **kw),
                     fastconv.conv(x, k, **kw), what="local == conv")


def test_periodic_tiles_repeat_kernels(rng):
    x = rng.standard_normal((2, 2, 8, 9))
    w = rng.standard_normal((2, 3, 4, 2, 3, 3))
    y = fastconv.tiled_conv(x, w, padding=1)
    wl = np.stack([np.stack([w[i % 2, j % 3] for j in range(9)]) for i in range(8)])
    ref.assert_close(y, fastconv.local_conv(x, wl, padding=1), what="periodic")


def test_against_torch_unfold(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 5, 3, 3, 2)).astype(np.float32)  # out (4, 3)
    b = rng.standard_normal(5).astype(np.float32)
    cols = torch.nn.functional.unfold(torch.from_numpy(x), (3, 2), dilation=(2, 1),
                                      padding=(1, 0), stride=(2, 2))  # (N, C*K, P)
    wt = torch.from_numpy(w.reshape(12, 5, 18))
    y_t = (torch.einsum("nkp,pok->nop", cols, wt).reshape(2, 5, 4, 3)
           + torch.from_numpy(b)[:, None, None])
    y = fastconv.local_conv(x, w, b, stride=2, padding=(1, 0), dilation=(2, 1))
    ref.assert_close(y, y_t.numpy(), what="local_conv vs torch unfold")


def test_results_do_not_depend_on_the_thread_count(rng):
    # shared classes over many blocks: the bucketed grad_weight
    x = rng.standard_normal((3, 8, 40, 24)).astype(np.float32)
    w = rng.standard_normal((2, 3, 8, 8, 3, 3)).astype(np.float32)
    g = rng.standard_normal((3, 8, 40, 24)).astype(np.float32)
    kw = dict(padding=1)
    for f in (lambda n: fastconv.tiled_conv(x, w, workers=n, **kw),
              lambda n: fastconv.tiled_conv_grad_input(g, w, x.shape, workers=n, **kw),
              lambda n: fastconv.tiled_conv_grad_weight(x, g, w.shape, workers=n, **kw)):
        np.testing.assert_array_equal(f(1), f(2))
    ref.assert_close(fastconv.tiled_conv_grad_weight(x, g, w.shape, **kw),
                     ref.tiled_conv_grad_weight(x, g, w.shape, **kw), what="bucketed dW")


def test_zero_size_and_edges(rng):
    # kernel larger than the input: an empty output
    x = rng.standard_normal((2, 3, 2, 2))
    w = rng.standard_normal((0, 0, 4, 3, 3, 3))
    assert fastconv.local_conv(x, w).shape == (2, 4, 0, 0)
    np.testing.assert_array_equal(fastconv.local_conv_grad_input(np.zeros((2, 4, 0, 0)), w,
                                                                 x.shape), np.zeros_like(x))
    # empty batch, no input channels (bias only)
    w = rng.standard_normal((2, 2, 4, 3, 1, 1))
    assert fastconv.local_conv(np.zeros((0, 3, 2, 2)), w).shape == (0, 4, 2, 2)
    b = rng.standard_normal(4)
    y = fastconv.tiled_conv(np.zeros((1, 0, 2, 2)), np.zeros((1, 1, 4, 0, 1, 1)), b)
    np.testing.assert_array_equal(y, np.broadcast_to(b[:, None, None], (1, 4, 2, 2)))
    # stride larger than the kernel
    x = rng.standard_normal((1, 1, 10))
    w = rng.standard_normal((3, 1, 1, 2))
    ref.assert_close(fastconv.local_conv(x, w, stride=4), ref.tiled_conv(x, w, stride=4),
                     what="stride > kernel")


def test_dtypes_out_and_inputs_untouched(rng):
    x = rng.standard_normal((2, 3, 5, 5))[:, ::-1]
    x.flags.writeable = False
    w = rng.standard_normal((5, 5, 2, 3, 1, 1)).astype(np.float32)
    saved = (x.copy(), w.copy())
    assert fastconv.local_conv(x.astype(np.float32), w).dtype == np.float32
    assert fastconv.local_conv(x.astype(np.float16), w.astype(np.float16)).dtype == np.float16
    assert fastconv.local_conv(x.astype(np.int64), w.astype(np.int8)).dtype == np.float64
    out = np.empty((2, 2, 5, 5))
    assert fastconv.local_conv(x, w, out=out) is out
    ref.assert_close(out, ref.tiled_conv(x, w), what="out=")
    np.testing.assert_array_equal(x, saved[0])
    np.testing.assert_array_equal(w, saved[1])
    y1 = fastconv.local_conv(x[0], w)  # unbatched
    np.testing.assert_array_equal(y1, fastconv.local_conv(x, w)[0])


@pytest.mark.parametrize("call, exc, match", [
    (lambda x, w: fastconv.local_conv(x, w[0]), ValueError, "w must have shape"),
    (lambda x, w: fastconv.local_conv(x, w[:2]), ValueError, "output positions"),
    (lambda x, w: fastconv.local_conv(x[:, :2], w), ValueError, "channels"),
    (lambda x, w: fastconv.local_conv(x.astype(complex), w), TypeError, "complex"),
    (lambda x, w: fastconv.local_conv(x, w, np.ones(3)), ValueError, "bias"),
    (lambda x, w: fastconv.local_conv(x, w, out=np.empty((2, 2, 4, 5))), ValueError, "out"),
    (lambda x, w: fastconv.local_conv(x, w, stride=0), ValueError, "stride"),
    (lambda x, w: fastconv.local_conv(x, w, padding_mode="wrap"), ValueError, "padding_mode"),
    (lambda x, w: fastconv.tiled_conv(x, np.ones((0, 1, 2, 3, 3, 3))), ValueError, "T"),
    (lambda x, w: fastconv.local_conv_grad_input(np.ones((2, 2, 3, 3)), w, x.shape),
     ValueError, "grad_out"),
    (lambda x, w: fastconv.local_conv_grad_input(np.ones((2, 2, 4, 4)), w, (2, 3, 6)),
     ValueError, "input_shape"),
    (lambda x, w: fastconv.local_conv_grad_weight(x, np.ones((2, 2, 4, 4)), (4, 4, 2, 3, 3)),
     ValueError, "weight_shape"),
    (lambda x, w: fastconv.tiled_conv_grad_weight(x, np.ones((2, 2, 4, 4)), "w"), TypeError,
     "weight_shape"),
])
def test_errors_name_the_argument(call, exc, match):
    x = np.ones((2, 3, 6, 6))
    w = np.ones((4, 4, 2, 3, 3, 3))
    with pytest.raises(exc, match=match):
        call(x, w)


def test_wide_patches_split_the_batch(rng):
    # C_in * K large enough that a packed chunk holds fewer samples than the
    # batch: several batch runs per chunk (accumulated, and overwritten first)
    x = rng.standard_normal((5, 800, 4, 3))
    w = rng.standard_normal((2, 1, 3, 800, 3, 3))
    g = rng.standard_normal((5, 3, 2, 1))
    ref.assert_close(fastconv.local_conv(x, w), ref.tiled_conv(x, w), what="forward")
    ref.assert_close(fastconv.local_conv_grad_input(g, w, x.shape),
                     ref.tiled_conv_grad_input(g, w, x.shape), what="grad_input")
    ref.assert_close(fastconv.local_conv_grad_weight(x, g, w.shape),
                     ref.tiled_conv_grad_weight(x, g, w.shape), what="grad_weight")
    ref.assert_close(fastconv.tiled_conv_grad_weight(x, g, (1, 1) + w.shape[2:]),
                     ref.tiled_conv_grad_weight(x, g, (1, 1) + w.shape[2:]), what="shared")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 7, 8, 11])
@pytest.mark.parametrize("kernel, dilation, c_in", [((3, 3), 1, 16), ((5, 2), 1, 16),
                                                    ((3, 3), 2, 16), ((3, 3), 1, 5),
                                                    ((1, 1), 1, 5), ((2, 3), 1, 3),
                                                    ((4, 4), 1, 3), ((6, 1), 1, 3),
                                                    ((7, 3), 1, 3), ((2, 5), 1, 3)])
def test_direct_kernels_tiles_runs_and_threads(dtype, batch, kernel, dilation, c_in, rng):
    """The direct kernels of local_conv's three faces: batches around the
    8-row register tiles, kernel rows that fit one 4-element piece or not
    (5 taps; dilation: runs of one), 1-7 and 9 runs per channel (the gather
    unrolls each count up to 7), C_out odd (the forward pairs weight
    rows), C_in*K = 144 and 80 (partial four-vector blocks of the gradient),
    45 (whole vectors and a partial one) and 5 (a partial vector alone),
    bias, and the same bits for one or two threads."""
    # from batch 7 on, enough work for fastconv.local to use both threads
    x = rng.standard_normal((batch, c_in, 20, 19)).astype(dtype)
    out = tuple(n - dilation * (k - 1) + 2 for n, k in zip((20, 19), kernel))
    w = rng.standard_normal(out + (9, c_in) + kernel).astype(dtype)
    b = rng.standard_normal(9).astype(dtype)
    g = rng.standard_normal((batch, 9) + out).astype(dtype)
    kw = dict(padding=1, dilation=dilation)
    y = fastconv.local_conv(x, w, b, workers=1, **kw)
    ref.assert_close(y, ref.tiled_conv(x, w, b, **kw), dtype=dtype, what="forward")
    np.testing.assert_array_equal(fastconv.local_conv(x, w, b, workers=2, **kw), y)
    gx = fastconv.local_conv_grad_input(g, w, x.shape, workers=1, **kw)
    ref.assert_close(gx, ref.tiled_conv_grad_input(g, w, x.shape, **kw), dtype=dtype,
                     what="grad_input")
    np.testing.assert_array_equal(
        fastconv.local_conv_grad_input(g, w, x.shape, workers=2, **kw), gx)
    gw = fastconv.local_conv_grad_weight(x, g, w.shape, workers=1, **kw)
    ref.assert_close(gw, ref.tiled_conv_grad_weight(x, g, w.shape, **kw), dtype=dtype,
                     what="grad_weight")
    np.testing.assert_array_equal(
        fastconv.local_conv_grad_weight(x, g, w.shape, workers=2, **kw), gw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial, kernel, padding", [((5,), (7,), 1), ((3,), (5,), 1),
                                                      ((2, 5), (4, 5), ((1, 1), (0, 0))),
                                                      ((2, 3), (2, 3), 0)])
def test_direct_kernels_patches_covering_the_plane(dtype, spatial, kernel, padding, rng):
    """A kernel as large as the padded input: each channel's patch is its whole
    plane, a run of offsets that continues into the next channel's (the
    direct kernels take channel 0's runs and repeat them plane by plane),
    3-20 elements long: longer than one 16-byte piece, or not."""
    x = rng.standard_normal((3, 4) + spatial).astype(dtype)
    w = rng.standard_normal((1,) * len(spatial) + (2, 4) + kernel).astype(dtype)
    g = rng.standard_normal((3, 2) + (1,) * len(spatial)).astype(dtype)
    kw = dict(padding=padding)
    ref.assert_close(fastconv.local_conv(x, w, **kw), ref.tiled_conv(x, w, **kw), dtype=dtype,
                     what="forward")
    ref.assert_close(fastconv.local_conv_grad_input(g, w, x.shape, **kw),
                     ref.tiled_conv_grad_input(g, w, x.shape, **kw), dtype=dtype,
                     what="grad_input")
    ref.assert_close(fastconv.local_conv_grad_weight(x, g, w.shape, **kw),
                     ref.tiled_conv_grad_weight(x, g, w.shape, **kw), dtype=dtype,
                     what="grad_weight")
