"""The adjoint faces: conv_grad_input, conv_grad_weight, conv_grad_bias,
conv_transpose and conv_vjp.

Oracles: the scatter loops of ``reference`` (written from their own formulas),
the dot-product identities <A x, g> = <x, A^T g> in float64, central finite
differences, hand-computed folds of the padding modes, and torch (optional).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastconv
import reference as R
from reference import LAYERS, Case, assert_close, conv_cases


# --------------------------------------------------------------------------
# the reference adjoints themselves
# --------------------------------------------------------------------------
@settings(max_examples=60)
@given(case=conv_cases(dtypes=(np.float64,), layouts=(False,), batches=(1, 2), biases=(None,)),
       seed=st.integers(0, 2**32 - 1))
def test_reference_adjoint_identities(case, seed):
    """The reference scatter loops are the exact adjoints of the reference forward."""
    rng = np.random.default_rng(seed)
    x, w, _ = case.arrays(rng)
    g = case.grad_out(rng)
    kw = case.ref_kwargs()
    y = R.conv_forward(x, w, **kw)
    gi = R.conv_grad_input(g, w, x.shape, **kw)
    gw = R.conv_grad_weight(x, g, w.shape, **kw)
    scale = np.vdot(R.conv_forward(np.abs(x), np.abs(w), **kw), np.abs(g)) + 1e-300
    assert abs(np.vdot(y, g) - np.vdot(x, gi)) <= 1e-12 * scale
    assert abs(np.vdot(y, g) - np.vdot(w, gw)) <= 1e-12 * scale


def test_reference_grads_match_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for d, mode in [(1, "reflect"), (2, "zeros"), (2, "replicate"), (3, "circular")]:
        case = Case(spatial=(5,) * d, kernel=(3,) * d, groups=2, cin_g=2, cout_g=3,
                    stride=2, dilation=1, padding=2, padding_mode=mode)
        x, w, _ = case.arrays(rng)
        g = case.grad_out(rng)
        xt = torch.tensor(x, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        xp = xt if mode == "zeros" else F.pad(xt, [2] * (2 * d), mode=mode)
        fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[d]
        y = fn(xp, wt, None, 2, 2 if mode == "zeros" else 0, 1, 2)
        y.backward(torch.tensor(g))
        assert_close(R.conv_grad_input(g, w, x.shape, **case.ref_kwargs()), xt.grad.numpy())
        assert_close(R.conv_grad_weight(x, g, w.shape, **case.ref_kwargs()), wt.grad.numpy())


# --------------------------------------------------------------------------
# library grads against the reference
# --------------------------------------------------------------------------
def check_grad_input(case, rng):
    _, w, _ = case.arrays(rng)
    g = case.grad_out(rng)
    case.require_conditioned(w=w, g=g)
    gi = fastconv.conv_grad_input(g, w, case.x_shape, **case.kwargs())
    assert_close(gi, case.ref_grad_input(g, w), dtype=case.dtype, what=repr(case))
    return gi


def check_grad_weight(case, rng):
    x, w, _ = case.arrays(rng)
    g = case.grad_out(rng)
    case.require_conditioned(x=x, g=g)
    gw = fastconv.conv_grad_weight(x, g, case.weight_shape, **case.kwargs())
    assert_close(gw, case.ref_grad_weight(x, g), dtype=case.dtype, what=repr(case))
    return gw


@settings(max_examples=500)
@given(case=conv_cases(biases=(None,)), seed=st.integers(0, 2**32 - 1))
def test_grad_input_matches_reference(case, seed):
    check_grad_input(case, np.random.default_rng(seed))


@settings(max_examples=500)
@given(case=conv_cases(biases=(None,)), seed=st.integers(0, 2**32 - 1))
def test_grad_weight_matches_reference(case, seed):
    check_grad_weight(case, np.random.default_rng(seed))


@settings(max_examples=20)
@given(case=conv_cases(dims=(4,), biases=(None,)), seed=st.integers(0, 2**32 - 1))
def test_grads_4d(case, seed):
    check_grad_input(case, np.random.default_rng(seed))
    check_grad_weight(case, np.random.default_rng(seed))


@settings(max_examples=300)
@given(case=conv_cases(dtypes=(np.float64,), biases=(None,)), seed=st.integers(0, 2**32 - 1))
def test_dot_product_identities(case, seed):
    """<conv(x; w), g> = <x, grad_input(g)> = <w, grad_weight(x, g)>, to 1e-10."""
    rng = np.random.default_rng(seed)
    x, w, _ = case.arrays(rng)
    g = case.grad_out(rng)
    kw = case.kwargs()
    y = fastconv.conv(x, w, **kw)
    gi = fastconv.conv_grad_input(g, w, x.shape, **kw)
    gw = fastconv.conv_grad_weight(x, g, w.shape, **kw)
    assert gi.shape == x.shape and gw.shape == w.shape
    # sum over all the products |x||w||g| bounds the rounding of every ordering
    scale = np.vdot(case.ref_forward(np.abs(x), np.abs(w), None), np.abs(g))
    lhs = np.vdot(y, g)
    assert abs(lhs - np.vdot(x, gi)) <= 1e-10 * scale, (lhs, np.vdot(x, gi), scale)
    assert abs(lhs - np.vdot(w, gw)) <= 1e-10 * scale, (lhs, np.vdot(w, gw), scale)
    if scale == 0:  # empty output or all-zero paths: the adjoints are exactly zero
        assert not np.any(gi) and not np.any(gw)


@settings(max_examples=30)
@given(case=conv_cases(dtypes=(np.float64,), dims=(1, 2), batches=(None, 1, 2)),
       seed=st.integers(0, 2**32 - 1))
def test_finite_differences(case, seed):
    """Central differences of L = sum(c * sin(conv(x, w, b))) against conv_vjp."""
    rng = np.random.default_rng(seed)
    x, w, b = case.arrays(rng)
    if b is not None:
        b = b.astype(np.float64)  # a float32 bias could not represent b + h
    kw = case.kwargs()
    y, vjp = fastconv.conv_vjp(x, w, b, **kw)
    c = rng.standard_normal(y.shape)
    dx, dw, db = vjp(c * np.cos(y))

    def loss(**replace):
        a = {"x": x, "w": w, "b": b, **replace}
        return float(np.sum(c * np.sin(fastconv.conv(a["x"], a["w"], a["b"], **kw))))

    h = 1e-5
    for name, arr, grad in [("x", x, dx), ("w", w, dw), ("b", b, db)]:
        if arr is None:
            assert grad is None
            continue
        assert grad.shape == arr.shape
        picks = rng.choice(arr.size, size=min(arr.size, 8), replace=False)
        scale = max(float(np.max(np.abs(grad))) if grad.size else 0.0, 1e-3)
        for i in picks:
            plus = arr.copy()
            plus.reshape(-1)[i] += h
            minus = arr.copy()
            minus.reshape(-1)[i] -= h
            fd = (loss(**{name: plus}) - loss(**{name: minus})) / (2 * h)
            an = grad.reshape(-1)[i]
            assert abs(fd - an) <= 1e-6 * scale, (name, i, fd, an)


# --------------------------------------------------------------------------
# hand-computed folds of the padding modes
# --------------------------------------------------------------------------
@pytest.mark.parametrize("mode,expected", [
    ("zeros", [1, 1, 1]),
    ("reflect", [3, 5, 3]),        # 1 2 3 2 | 1 2 3 | 2 1 2 3
    ("replicate", [5, 1, 5]),      # 1 1 1 1 | 1 2 3 | 3 3 3 3
    ("circular", [4, 3, 4]),       # 3 1 2 3 | 1 2 3 | 1 2 3 1
    ("mean", [1 + 8 / 3] * 3),     # 8 border cells, each d(mean)/dx_i = 1/3
])
def test_grad_input_folds_padding(mode, expected):
    g = np.ones((1, 1, 11))
    gi = fastconv.conv_grad_input(g, np.ones((1, 1, 1)), (1, 1, 3), padding=4, padding_mode=mode)
    np.testing.assert_allclose(gi[0, 0], expected, rtol=1e-14)


def test_grad_input_mean_mode_single_cells():
    w = np.ones((1, 1, 1))
    gi = fastconv.conv_grad_input(np.array([[[1.0, 0, 0, 0]]]), w, (1, 1, 2), padding=1,
                                  padding_mode="mean")
    np.testing.assert_allclose(gi[0, 0], [0.5, 0.5], rtol=1e-15)
    gi = fastconv.conv_grad_input(np.array([[[0, 1.0, 0, 0]]]), w, (1, 1, 2), padding=1,
                                  padding_mode="mean")
    np.testing.assert_allclose(gi[0, 0], [1.0, 0.0], rtol=0, atol=0)


def test_grad_weight_hand_values():
    gw = fastconv.conv_grad_weight(np.array([[[1.0, 2, 3]]]), np.array([[[1.0, 1]]]), (1, 1, 2))
    assert gw.tolist() == [[[3.0, 5.0]]]
    # grad_weight sees the padded input: replicate pad 1 -> [1 1 2 3 3]
    gw = fastconv.conv_grad_weight(np.array([[[1.0, 2, 3]]]), np.array([[[1.0, 0, 0, 10]]]),
                                   (1, 1, 2), padding=1, padding_mode="replicate")
    assert gw.tolist() == [[[1 + 30.0, 1 + 30.0]]]


# --------------------------------------------------------------------------
# conv_grad_bias, conv_vjp
# --------------------------------------------------------------------------
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 4, 3, 5), (2, 3, 2, 3, 4), (0, 3, 4), (2, 4, 0)])
def test_conv_grad_bias(channels_last, dtype, shape, rng):
    g = rng.standard_normal(shape).astype(dtype)
    gl = np.ascontiguousarray(np.moveaxis(g, 1, -1)) if channels_last else g
    db = fastconv.conv_grad_bias(gl, channels_last=channels_last)
    assert_close(db, R.conv_grad_bias(g), dtype=dtype)


@settings(max_examples=200)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv_vjp_matches_faces(case, seed):
    rng = np.random.default_rng(seed)
    x, w, b = case.arrays(rng)
    g = case.grad_out(rng)
    case.require_conditioned(x, w, b, g)
    kw = case.kwargs()
    y, vjp = fastconv.conv_vjp(x, w, b, **kw)
    assert_close(y, case.ref_forward(x, w, b), dtype=case.dtype)
    dx, dw, db = vjp(g)
    assert_close(dx, case.ref_grad_input(g, w), dtype=case.dtype)
    assert_close(dw, case.ref_grad_weight(x, g), dtype=case.dtype)
    # and the individual faces agree with it
    assert_close(dx, fastconv.conv_grad_input(g, w, x.shape, **kw).astype(np.float64),
                 dtype=case.dtype)
    assert_close(dw, fastconv.conv_grad_weight(x, g, w.shape, **kw).astype(np.float64),
                 dtype=case.dtype)
    if b is None:
        assert db is None
    else:
        assert db.shape == b.shape
        assert_close(db, case.ref_grad_bias(g), rtol=R.TOL[case.dtype])
        if case.bias == "tied" and case.batch is not None:
            assert_close(db, fastconv.conv_grad_bias(g, channels_last=case.channels_last)
                         .astype(np.float64), rtol=R.TOL[case.dtype])


def test_conv_vjp_untied_bias_gradient(rng):
    case = Case(spatial=(5, 6), kernel=(2, 3), batch=3, cin_g=2, cout_g=2, padding=1,
                bias="untied", channels_last=True)
    x, w, b = case.arrays(rng)
    g = case.grad_out(rng)
    _, vjp = fastconv.conv_vjp(x, w, b, **case.kwargs())
    db = vjp(g)[2]
    # untied bias (C_out, *S_out) in both layouts: the gradient is the batch sum
    assert db.shape == (2, 6, 6)
    assert_close(db, np.moveaxis(g.sum(axis=0), -1, 0))


# --------------------------------------------------------------------------
# edge cases
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", R.PADDING_MODES)
def test_grads_of_empty_output_are_zero(dtype, mode, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 7, 2)).astype(dtype)
    g = np.zeros((2, 4, 0, 6), dtype)
    gi = fastconv.conv_grad_input(g, w, x.shape, padding=(1, 1), padding_mode=mode)
    assert gi.shape == x.shape and gi.dtype == dtype and not np.any(gi)
    gw = fastconv.conv_grad_weight(x, g, w.shape, padding=(1, 1), padding_mode=mode)
    assert gw.shape == w.shape and gw.dtype == dtype and not np.any(gw)


def test_grads_zero_size_batch_and_channels(rng):
    w = rng.standard_normal((4, 3, 3))
    gi = fastconv.conv_grad_input(np.zeros((0, 4, 5)), w, (0, 3, 7))
    assert gi.shape == (0, 3, 7)
    gw = fastconv.conv_grad_weight(np.zeros((0, 3, 7)), np.zeros((0, 4, 5)), (4, 3, 3))
    assert gw.shape == (4, 3, 3) and not np.any(gw)
    # no output channels: nothing flows back
    gi = fastconv.conv_grad_input(np.zeros((2, 0, 5)), np.zeros((0, 3, 3)), (2, 3, 7))
    assert gi.shape == (2, 3, 7) and not np.any(gi)
    # no input channels
    gw = fastconv.conv_grad_weight(np.zeros((2, 0, 7)), rng.standard_normal((2, 4, 5)),
                                   (4, 0, 3))
    assert gw.shape == (4, 0, 3)


@settings(max_examples=40)
@given(case=conv_cases(groups=(1, 2), cin=(20, 70), cout=(1, 40), batches=(None, 1, 2),
                       biases=(None,), sizes={1: (40, 5), 2: (18, 3), 3: (8, 3)}),
       seed=st.integers(0, 2**32 - 1))
def test_grads_medium_random(case, seed):
    """Many channels: several patch tiles / row blocks / buckets per call."""
    check_grad_input(case, np.random.default_rng(seed))
    check_grad_weight(case, np.random.default_rng(seed))


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_realistic_layer_grads(name, dtype, channels_last, rng):
    case = Case(**LAYERS[name], dtype=dtype, channels_last=channels_last)
    check_grad_input(case, rng)
    check_grad_weight(case, rng)


# --------------------------------------------------------------------------
# conv_transpose
# --------------------------------------------------------------------------
@st.composite
def transpose_cases(draw, dtypes=(np.float64, np.float32)):
    d = draw(st.sampled_from([1, 2, 3]))
    smax, kmax = {1: (8, 4), 2: (5, 3), 3: (4, 3)}[d]
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    spatial = tuple(draw(st.integers(1, smax)) for _ in range(d))
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(d))
    pairs = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(d))
    form = draw(st.sampled_from(["pairs", "sym", "int"]))
    if form == "int":
        pairs = ((pairs[0][0], pairs[0][0]),) * d
        padding = pairs[0][0]
    elif form == "sym":
        pairs = tuple((lo, lo) for lo, _ in pairs)
        padding = tuple(lo for lo, _ in pairs)
    else:
        padding = pairs
    output_padding = tuple(draw(st.integers(0, max(s, dl) - 1))
                           for s, dl in zip(stride, dilation))
    output_size = draw(st.sampled_from([None, "spatial", "full"]))
    if output_size is None:
        out = R.transpose_output_spatial(spatial, kernel, stride, pairs, dilation, output_padding)
    else:
        # any size whose forward conv gives back the input size; overrides output_padding
        base = R.transpose_output_spatial(spatial, kernel, stride, pairs, dilation, 0)
        out = tuple(o + draw(st.integers(0, s - 1)) for o, s in zip(base, stride))
    assume(all(o >= 1 for o in out))
    return dict(
        d=d, groups=groups, cin_g=draw(st.integers(1, 3)), cout_g=draw(st.integers(1, 3)),
        spatial=spatial, kernel=kernel, stride=stride, dilation=dilation, padding=padding,
        pairs=pairs, output_padding=output_padding, out=out, output_size=output_size,
        batch=draw(st.sampled_from([None, 1, 2])), bias=draw(st.booleans()),
        channels_last=draw(st.booleans()), dtype=np.dtype(draw(st.sampled_from(dtypes))),
    )


def run_transpose(p, rng):
    """Returns (library result, reference result, layout helper, arrays)."""
    cin, cout = p["cin_g"] * p["groups"], p["cout_g"] * p["groups"]
    lay = Case(spatial=p["spatial"], kernel=p["kernel"], batch=p["batch"],
               channels_last=p["channels_last"])
    x = rng.standard_normal(lay.shape(cin, p["spatial"])).astype(p["dtype"])
    w = rng.standard_normal((cin, p["cout_g"]) + p["kernel"]).astype(p["dtype"])
    b = rng.standard_normal(cout).astype(p["dtype"]) if p["bias"] else None
    kw = dict(stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
              groups=p["groups"], channels_last=p["channels_last"])
    out = p["out"]
    output_size = None
    if p["output_size"] == "spatial":
        output_size = list(out)
    elif p["output_size"] == "full":
        output_size = lay.shape(cout, out)
    ref = R.conv_transpose(lay.to_ref(x), w, b, p["stride"], p["pairs"], 0, p["dilation"],
                           p["groups"], output_size=out)
    ref_abs = R.conv_transpose(np.abs(lay.to_ref(x)), np.abs(w), None if b is None else np.abs(b),
                               p["stride"], p["pairs"], 0, p["dilation"], p["groups"],
                               output_size=out)
    R.require_well_conditioned(ref, ref_abs, p["dtype"])
    y = fastconv.conv_transpose(x, w, b, output_padding=p["output_padding"],
                                output_size=output_size, **kw)
    return y, lay.from_ref(ref), lay, (x, w, b, kw, out, cout)


@settings(max_examples=400)
@given(p=transpose_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv_transpose_matches_reference(p, seed):
    y, ref, _, _ = run_transpose(p, np.random.default_rng(seed))
    assert_close(y, ref, dtype=p["dtype"], what=repr(p))


@settings(max_examples=150)
@given(p=transpose_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv_transpose_is_grad_input_plus_bias(p, seed):
    fits = all(R.out_size(o, k, s, dl, lo, hi) == n for o, k, s, dl, (lo, hi), n in
               zip(p["out"], p["kernel"], p["stride"], p["dilation"], p["pairs"], p["spatial"]))
    assume(fits)  # otherwise (output_padding >= stride) no conv has this input/output pair
    y, _, lay, (x, w, b, kw, out, cout) = run_transpose(p, np.random.default_rng(seed))
    gi = fastconv.conv_grad_input(x, w, lay.shape(cout, out), **kw)
    expected = gi.astype(np.float64)
    if b is not None:
        expected = lay.from_ref(lay.to_ref(expected) + b.reshape((1, -1) + (1,) * p["d"]))
    assert_close(y, expected, dtype=p["dtype"])


def test_conv_transpose_output_size_overrides_output_padding(rng):
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    base = fastconv.conv_transpose(x, w, stride=(3, 2), padding=1, output_padding=(2, 1))
    assert base.shape == (2, 3, 15, 12)
    for op in [(0, 0), (1, 0), (2, 1)]:
        y = fastconv.conv_transpose(x, w, stride=(3, 2), padding=1, output_padding=op,
                                    output_size=(15, 12))
        assert_close(y, base)
        y = fastconv.conv_transpose(x, w, stride=(3, 2), padding=1, output_padding=op,
                                    output_size=(2, 3, 15, 12))
        assert_close(y, base)
    assert_close(base, R.conv_transpose(x, w, None, (3, 2), 1, (2, 1)))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_conv_transpose_rank_wrappers(d, rng):
    fn = {1: fastconv.conv_transpose1d, 2: fastconv.conv_transpose2d,
          3: fastconv.conv_transpose3d}[d]
    x = rng.standard_normal((2, 4) + (4,) * d)
    w = rng.standard_normal((4, 2) + (3,) * d)
    b = rng.standard_normal(4)
    y = fn(x, w, b, stride=2, padding=1, output_padding=1, groups=2)
    assert_close(y, R.conv_transpose(x, w, b, 2, 1, 1, 1, 2))
    bad = rng.standard_normal((4, 2) + (3,) * (d + 1))
    with pytest.raises(ValueError):
        fn(rng.standard_normal((2, 4) + (4,) * (d + 1)), bad)


# --------------------------------------------------------------------------
# against torch (skipped without torch; CI relies on the oracles above)
# --------------------------------------------------------------------------
TORCH_TRANSPOSE = [
    # d, cin, cout_g, groups, S, K, stride, padding, output_padding, dilation
    (1, 4, 3, 1, (7,), (3,), 2, 1, 1, 1),
    (1, 4, 1, 4, (9,), (5,), 3, 2, 2, 1),
    (1, 2, 2, 1, (5,), (3,), 1, 0, 1, 2),    # output_padding >= stride (allowed as dilation > stride)
    (2, 6, 2, 3, (5, 4), (3, 2), (2, 3), (1, 0), (1, 2), (1, 2)),
    (2, 3, 4, 1, (4, 6), (4, 4), 2, 1, 0, 1),
    (2, 4, 2, 2, (3, 3), (3, 3), (1, 2), (2, 1), (2, 1), (3, 1)),
    (3, 2, 3, 1, (3, 4, 3), (2, 3, 2), (2, 1, 2), (0, 1, 1), (1, 0, 1), (1, 2, 1)),
]


@pytest.mark.parametrize("params", TORCH_TRANSPOSE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose_matches_torch(params, dtype, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    d, cin, cout_g, groups, S, K, stride, padding, op, dil = params
    x = rng.standard_normal((2, cin) + S).astype(dtype)
    w = rng.standard_normal((cin, cout_g) + K).astype(dtype)
    b = rng.standard_normal(cout_g * groups).astype(dtype)
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[d]
    expected = fn(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                  torch.tensor(b, dtype=torch.float64), stride, padding, op, groups, dil).numpy()
    y = fastconv.conv_transpose(x, w, b, stride=stride, padding=padding, output_padding=op,
                                dilation=dil, groups=groups)
    assert_close(y, expected, dtype=dtype)
    y = fastconv.conv_transpose(np.ascontiguousarray(np.moveaxis(x, 1, -1)), w, b, stride=stride,
                                padding=padding, output_padding=op, dilation=dil, groups=groups,
                                channels_last=True)
    assert_close(y, np.moveaxis(expected, 1, -1), dtype=dtype)
    # torch's output_size resolution gives the same sizes
    lay = torch.nn.ConvTranspose1d if d == 1 else (torch.nn.ConvTranspose2d if d == 2
                                                     else torch.nn.ConvTranspose3d)
    m = lay(cin, cout_g * groups, K, stride, padding, 0, groups, True, dil).double()
    with torch.no_grad():
        m.weight.copy_(torch.tensor(w, dtype=torch.float64))
        m.bias.copy_(torch.tensor(b, dtype=torch.float64))
        # the largest admissible size: (in-1)*s - lo - hi + dl*(k-1) + 1 + (s-1)
        base = R.transpose_output_spatial(S, K, stride, padding, dil, 0)
        size = [o + s - 1 for o, s in zip(base, R.as_tuple(stride, d))]
        expected2 = m(torch.tensor(x, dtype=torch.float64), output_size=size).numpy()
    y2 = fastconv.conv_transpose(x, w, b, stride=stride, padding=padding, dilation=dil,
                                 groups=groups, output_size=tuple(size))
    assert_close(y2, expected2, dtype=dtype)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_and_grads_match_torch_autograd(mode, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 6, 9, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    kw = dict(stride=(2, 1), padding=(2, 1), dilation=(1, 2), groups=2, padding_mode=mode)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    if mode == "zeros":
        yt = F.conv2d(xt, wt, bt, (2, 1), (2, 1), (1, 2), 2)
    else:
        yt = F.conv2d(F.pad(xt, [1, 1, 2, 2], mode=mode), wt, bt, (2, 1), 0, (1, 2), 2)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    y, vjp = fastconv.conv_vjp(x, w, b, **kw)
    dx, dw, db = vjp(g)
    assert_close(y, yt.detach().numpy())
    assert_close(dx, xt.grad.numpy())
    assert_close(dw, wt.grad.numpy())
    assert_close(db, bt.grad.numpy())
