"""The conv API around the numbers: errors, dtypes, layouts, out=, workers=,
array-likes, and the guarantee that inputs are never modified.

Values are always checked against ``reference`` (float64 loops), never against
another fastconv call, except where the contract itself is an equality between
two calls (bitwise reproducibility across ``workers``, list vs array input).
"""

import numpy as np
import pytest

import fastconv
import reference as R
from reference import LAYERS, Case, assert_close

FACES = ("conv", "grad_input", "grad_weight", "transpose")


# --------------------------------------------------------------------------
# a small problem in every face
# --------------------------------------------------------------------------
def problem(rng, dtype=np.float64, channels_last=False, batched=True, mode="zeros"):
    """A 2-d conv with groups, stride, dilation and asymmetric padding."""
    case = Case(spatial=(7, 6), kernel=(3, 2), batch=2 if batched else None, groups=2,
                cin_g=2, cout_g=3, stride=(2, 1), padding=((1, 2), (0, 1)), dilation=(1, 2),
                padding_mode=mode, bias="tied", channels_last=channels_last, dtype=dtype)
    x, w, b = case.arrays(rng)
    g = case.grad_out(rng)
    return case, x, w, b, g


def call_face(face, case, x, w, b, g, **extra):
    kw = dict(case.kwargs(), **extra)
    if face == "conv":
        return fastconv.conv(x, w, b, **kw)
    if face == "grad_input":
        return fastconv.conv_grad_input(g, w, case.x_shape, **kw)
    if face == "grad_weight":
        return fastconv.conv_grad_weight(x, g, case.weight_shape, **kw)
    if face == "transpose":
        kw.pop("padding_mode")
        return fastconv.conv_transpose(g, w, None, output_size=case.spatial, **kw)
    raise AssertionError(face)


def ref_face(face, case, x, w, b, g):
    if face == "conv":
        return case.ref_forward(x, w, b)
    if face in ("grad_input", "transpose"):
        return case.ref_grad_input(g, w)
    if face == "grad_weight":
        return case.ref_grad_weight(x, g)
    raise AssertionError(face)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
X1 = np.zeros((2, 4, 9))
W1 = np.zeros((6, 2, 3))


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=-1), ValueError, "stride"),
    (dict(stride=(1, 1)), ValueError, "stride"),
    (dict(stride=1.5), TypeError, "stride"),
    (dict(stride="2"), TypeError, "stride"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(dilation=(2, 2)), ValueError, "dilation"),
    (dict(dilation=2.0), TypeError, "dilation"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding=[(-1, 0)]), ValueError, "padding"),
    (dict(padding=[(0, -2)]), ValueError, "padding"),
    (dict(padding=(1, 1, 1)), ValueError, "padding"),
    (dict(padding=[(1, 2, 3)]), ValueError, "padding"),
    (dict(padding="bogus"), ValueError, "padding"),
    (dict(padding=1.5), TypeError, "padding"),
    (dict(groups=0), ValueError, "groups"),
    (dict(groups=-2), ValueError, "groups"),
    (dict(groups=4), ValueError, "groups"),   # 4 channels / 4 = 1 != w.shape[1] = 2
    (dict(groups=1), ValueError, "channel|groups"),  # needs C_in = 2
    (dict(groups=1.0), TypeError, "groups"),
    (dict(padding_mode="bogus"), ValueError, "padding_mode"),
    (dict(padding_mode="constant"), ValueError, "padding_mode"),
    (dict(padding_mode="mirror"), ValueError, "padding_mode"),
    (dict(workers=0), ValueError, "workers"),
    (dict(workers=-2), ValueError, "workers"),
    (dict(workers=1.5), TypeError, "workers"),
    (dict(workers="2"), TypeError, "workers"),
])
@pytest.mark.parametrize("face", FACES)
def test_bad_keyword_arguments(face, kwargs, exc, name):
    if face == "transpose" and "padding_mode" in kwargs:
        pytest.skip("conv_transpose has no padding_mode")
    if face == "transpose" and kwargs.get("groups") == 1:
        pytest.skip("groups=1 is valid for this transpose")
    g = np.zeros((2, 6, 7))
    base = dict(groups=2)
    base.update(kwargs)
    with pytest.raises(exc, match=name):
        if face == "conv":
            fastconv.conv(X1, W1, **base)
        elif face == "grad_input":
            fastconv.conv_grad_input(g, W1, X1.shape, **base)
        elif face == "grad_weight":
            fastconv.conv_grad_weight(X1, g, W1.shape, **base)
        else:
            base.pop("padding_mode", None)
            fastconv.conv_transpose(np.zeros((2, 6, 7)), np.zeros((6, 2, 3)), **base)


def test_bad_padding_mode_type():
    with pytest.raises((ValueError, TypeError), match="padding_mode"):
        fastconv.conv(X1, W1, groups=2, padding_mode=None)


def test_shape_errors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 9))
    w = rng.standard_normal((6, 4, 3))
    with pytest.raises(ValueError, match=r"\bx\b|input"):  # wrong rank for x
        fastconv.conv(x[None, None], w)
    with pytest.raises(ValueError, match=r"\bx\b|input"):
        fastconv.conv(x[0, 0], w)
    with pytest.raises(ValueError, match=r"\bw\b|weight"):  # no spatial dim
        fastconv.conv(x, np.zeros((6, 4)))
    with pytest.raises(ValueError, match=r"channel"):
        fastconv.conv(x, w[:, :3])
    with pytest.raises(ValueError, match=r"channel"):
        fastconv.conv(np.moveaxis(x, 1, -1), w[:, :3], channels_last=True)
    with pytest.raises(ValueError, match=r"channel"):  # channels_last read as channels-first
        fastconv.conv(np.zeros((2, 9, 4)), w)
    with pytest.raises(ValueError, match="bias"):
        fastconv.conv(x, w, np.zeros(5))
    with pytest.raises(ValueError, match="bias"):
        fastconv.conv(x, w, np.zeros((6, 6)))  # untied needs (6, 7)
    with pytest.raises(ValueError, match="bias"):
        fastconv.conv(x, w, np.zeros((1, 6)))


@pytest.mark.parametrize("which", ["x", "w", "bias"])
def test_complex_input_is_type_error(which):
    x = np.ones((2, 4, 9))
    w = np.ones((6, 4, 3))
    b = np.ones(6)
    args = {"x": x, "w": w, "bias": b}
    args[which] = args[which] + 1j
    with pytest.raises(TypeError, match=which if which != "x" else r"\bx\b|input"):
        fastconv.conv(args["x"], args["w"], args["bias"])


def test_complex_input_to_grads_and_transpose_is_type_error():
    g = np.ones((2, 6, 7))
    w = np.ones((6, 4, 3))
    x = np.ones((2, 4, 9))
    with pytest.raises(TypeError):
        fastconv.conv_grad_input(g + 0j, w, x.shape)
    with pytest.raises(TypeError):
        fastconv.conv_grad_input(g, w + 0j, x.shape)
    with pytest.raises(TypeError):
        fastconv.conv_grad_weight(x + 0j, g, w.shape)
    with pytest.raises(TypeError):
        fastconv.conv_grad_weight(x, g + 0j, w.shape)
    with pytest.raises(TypeError):
        fastconv.conv_transpose(g + 0j, w)
    with pytest.raises(TypeError):
        fastconv.conv_grad_bias(g + 0j)
    with pytest.raises(TypeError):
        fastconv.conv_vjp(x + 0j, w)


def test_non_numeric_input_is_refused():
    with pytest.raises((TypeError, ValueError)):
        fastconv.conv(np.array([[["a", "b", "c"]]]), np.ones((1, 1, 1)))
    with pytest.raises((TypeError, ValueError)):
        fastconv.conv(np.ones((1, 1, 3)), np.array([[[None]]], dtype=object))


def test_grad_shape_errors():
    g = np.zeros((2, 6, 7))
    w = np.zeros((6, 2, 3))
    # grad_out does not match the conv of input_shape (9 -> 7, not 8 -> 6)
    with pytest.raises(ValueError, match="grad_out|input_shape"):
        fastconv.conv_grad_input(g, w, (2, 4, 8), groups=2)
    with pytest.raises(ValueError, match="input_shape|channel"):
        fastconv.conv_grad_input(g, w, (2, 6, 9), groups=2)
    with pytest.raises(ValueError, match="input_shape|grad_out|batch"):
        fastconv.conv_grad_input(g, w, (3, 4, 9), groups=2)
    with pytest.raises(ValueError, match="input_shape|grad_out"):
        fastconv.conv_grad_input(g, w, (2, 4, 9, 1), groups=2)
    with pytest.raises((ValueError, TypeError), match="input_shape"):
        fastconv.conv_grad_input(g, w, (2, 4, 9.5), groups=2)
    with pytest.raises(ValueError, match="grad_out|channel"):
        fastconv.conv_grad_input(g[:, :5], w, (2, 4, 9), groups=2)
    x = np.zeros((2, 4, 9))
    with pytest.raises(ValueError, match="weight_shape|channel"):
        fastconv.conv_grad_weight(x, g, (6, 4, 3), groups=2)
    with pytest.raises(ValueError, match="weight_shape|grad_out|channel"):
        fastconv.conv_grad_weight(x, g, (5, 2, 3), groups=2)
    with pytest.raises(ValueError, match="grad_out|weight_shape"):
        fastconv.conv_grad_weight(x, g, (6, 2, 4), groups=2)  # 9 -> 6, not 7
    with pytest.raises(ValueError, match="grad_out|batch"):
        fastconv.conv_grad_weight(x, g[:1], (6, 2, 3), groups=2)
    with pytest.raises(ValueError, match="weight_shape"):
        fastconv.conv_grad_weight(x, g, (6, 2), groups=2)


def test_transpose_errors():
    x = np.zeros((2, 4, 5))
    w = np.zeros((4, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        fastconv.conv_transpose(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        fastconv.conv_transpose(x, w, stride=2, dilation=3, output_padding=3)
    with pytest.raises(ValueError, match="output_padding"):
        fastconv.conv_transpose(x, w, output_padding=-1)
    # sizes whose conv gives back 5 with stride 2, k 3, pad 1: 9 and 10
    with pytest.raises(ValueError, match="output_size"):
        fastconv.conv_transpose(x, w, stride=2, padding=1, output_size=(8,))
    with pytest.raises(ValueError, match="output_size"):
        fastconv.conv_transpose(x, w, stride=2, padding=1, output_size=(11,))
    with pytest.raises(ValueError, match="output_size"):
        fastconv.conv_transpose(x, w, stride=2, padding=1, output_size=(9, 9))
    # a full shape must agree with the batch and the channels
    with pytest.raises(ValueError, match="output_size"):
        fastconv.conv_transpose(x, w, stride=2, padding=1, output_size=(2, 4, 9))
    with pytest.raises(ValueError, match="output_size"):
        fastconv.conv_transpose(x, w, stride=2, padding=1, output_size=(3, 3, 9))
    with pytest.raises(ValueError, match=r"channel|\bx\b|\bw\b"):
        fastconv.conv_transpose(np.zeros((2, 3, 5)), w)
    with pytest.raises(ValueError, match="groups"):
        fastconv.conv_transpose(x, w, groups=3)
    with pytest.raises(ValueError, match="bias"):
        fastconv.conv_transpose(x, w, np.zeros(4))


@pytest.mark.parametrize("name,rank", [("conv1d", 1), ("conv2d", 2), ("conv3d", 3),
                                       ("conv_transpose1d", 1), ("conv_transpose2d", 2),
                                       ("conv_transpose3d", 3)])
def test_rank_wrappers_check_rank(name, rank):
    fn = getattr(fastconv, name)
    for d in (1, 2, 3, 4):
        if d == rank:
            continue
        x = np.ones((1, 2) + (5,) * d)
        w = np.ones((2, 2) + (2,) * d)
        with pytest.raises(ValueError):
            fn(x, w)
    y = fn(np.ones((1, 2) + (5,) * rank), np.ones((2, 2) + (2,) * rank))
    expected = (np.full((1, 2) + (4,) * rank, 2.0 * 2**rank) if "transpose" not in name else
                R.conv_transpose(np.ones((1, 2) + (5,) * rank), np.ones((2, 2) + (2,) * rank)))
    assert_close(y, expected)


# --------------------------------------------------------------------------
# out=
# --------------------------------------------------------------------------
@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_out_argument(face, dtype, channels_last, batched, rng):
    case, x, w, b, g = problem(rng, dtype, channels_last, batched)
    ref = ref_face(face, case, x, w, b, g)
    out = np.full(ref.shape, np.nan, dtype)
    res = call_face(face, case, x, w, b, g, out=out)
    assert res is out
    assert_close(out, ref, dtype=dtype)


@pytest.mark.parametrize("face", FACES)
def test_bad_out(face, rng):
    case, x, w, b, g = problem(rng, np.float32)
    shape = ref_face(face, case, x, w, b, g).shape
    bad = {
        "shape": np.zeros(shape[:-1] + (shape[-1] + 1,), np.float32),
        "ndim": np.zeros((1,) + shape, np.float32),
        "readonly": np.zeros(shape, np.float32),
        "fortran": np.zeros(shape, np.float32, order="F"),
        "strided": np.zeros(shape[:-1] + (2 * shape[-1],), np.float32)[..., ::2],
    }
    bad["readonly"].setflags(write=False)
    for why, out in bad.items():
        with pytest.raises(ValueError, match="out"):
            call_face(face, case, x, w, b, g, out=out)
    with pytest.raises((ValueError, TypeError), match="out"):  # float64 where float32 is due
        call_face(face, case, x, w, b, g, out=np.zeros(shape, np.float64))
    with pytest.raises((ValueError, TypeError), match="out"):
        call_face(face, case, x, w, b, g, out=np.zeros(shape, np.float16))
    with pytest.raises((ValueError, TypeError), match="out"):
        call_face(face, case, x, w, b, g, out=np.zeros(shape, np.float32).tolist())


def _check_overlap(compute, reference):
    """``compute()`` writes into memory it also reads: right answer or ValueError."""
    try:
        got = compute()
    except ValueError as e:
        assert "out" in str(e)
        return
    assert_close(got, reference)


def test_out_is_an_input(rng):
    # 1x1 conv with C_in == C_out: out can be x itself
    x = rng.standard_normal((2, 5, 6, 7))
    w = rng.standard_normal((5, 5, 1, 1))
    ref = R.conv_forward(x, w)
    _check_overlap(lambda: fastconv.conv(x, w, out=x), ref)
    # 3x3 'same' conv, out = x, and circular padding
    x = rng.standard_normal((2, 4, 6, 7))
    w = rng.standard_normal((4, 4, 3, 3))
    ref = R.conv_forward(x, w, padding="same", padding_mode="circular")
    _check_overlap(lambda: fastconv.conv(x, w, padding="same", padding_mode="circular", out=x),
                   ref)
    # grad_input: out = grad_out
    g = rng.standard_normal((2, 4, 6, 7))
    ref = R.conv_grad_input(g, w, g.shape, padding="same")
    _check_overlap(lambda: fastconv.conv_grad_input(g, w, g.shape, padding="same", out=g), ref)
    # transpose: out = x
    g = rng.standard_normal((2, 4, 6, 7))
    ref = R.conv_transpose(g, w, None, 1, 1)
    _check_overlap(lambda: fastconv.conv_transpose(g, w, padding=1, out=g), ref)
    # grad_weight: out = x, when x happens to have the weight's shape
    x = rng.standard_normal((4, 2, 3))
    g = rng.standard_normal((4, 4, 1))
    ref = R.conv_grad_weight(x, g, (4, 2, 3))
    _check_overlap(lambda: fastconv.conv_grad_weight(x, g, (4, 2, 3), out=x), ref)
    # grad_weight: out = grad_out
    x = rng.standard_normal((2, 2, 5))
    g = rng.standard_normal((2, 2, 3))
    ref = R.conv_grad_weight(x, g, (2, 2, 3))
    _check_overlap(lambda: fastconv.conv_grad_weight(x, g, (2, 2, 3), out=g), ref)
    # out = the weight (conv), same shape as the output here
    x = rng.standard_normal((3, 3, 5))
    w = rng.standard_normal((3, 3, 3))
    ref = R.conv_forward(x, w)
    _check_overlap(lambda: fastconv.conv(x, w, out=w), ref)


def test_out_partially_overlaps_input(rng):
    buf = rng.standard_normal(2 * 5 * 40 + 37)
    x = buf[:400].reshape(2, 5, 40)
    w = rng.standard_normal((5, 5, 3))
    ref = R.conv_forward(x, w, padding=1)
    out = buf[37:437].reshape(2, 5, 40)
    assert np.shares_memory(x, out)
    _check_overlap(lambda: fastconv.conv(x, w, padding=1, out=out), ref)
    buf = rng.standard_normal(500)
    g = buf[:400].reshape(2, 5, 40)
    ref = R.conv_grad_input(g, w, (2, 5, 40), padding=1)
    out = buf[50:450].reshape(2, 5, 40)
    _check_overlap(lambda: fastconv.conv_grad_input(g, w, (2, 5, 40), padding=1, out=out), ref)


def test_out_overlaps_bias(rng):
    x = rng.standard_normal((1, 2, 3))
    w = rng.standard_normal((4, 2, 1))
    b = rng.standard_normal((4, 3))  # untied bias with the output's (unbatched) shape
    ref = R.conv_forward(x, w, b)
    _check_overlap(lambda: fastconv.conv(x[0], w, b, out=b), ref[0])


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------
@pytest.mark.parametrize("xd,wd,expected", [
    (np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64),
    (np.float32, np.float64, np.float64),
    (np.float64, np.float32, np.float64),
    (np.int64, np.float32, np.float64),
    (np.float32, np.int32, np.float64),
    (np.int32, np.int32, np.float64),
    (np.int8, np.int16, np.float64),
    (np.uint8, np.int64, np.float64),
    (np.bool_, np.bool_, np.float64),
    (np.bool_, np.int8, np.float64),
    (np.float16, np.float32, np.float32),
    (np.float16, np.float64, np.float64),
    (np.float16, np.float16, np.float16),
])
@pytest.mark.parametrize("face", FACES)
def test_result_dtype_and_values(xd, wd, expected, face, rng):
    """x-side dtype ``xd`` (x, or grad_out for grad_input/transpose), weight-side ``wd``
    (w, or grad_out for grad_weight)."""
    case = Case(spatial=(6, 5), kernel=(3, 2), batch=2, groups=1, cin_g=8, cout_g=8,
                padding=1, stride=(2, 1))

    def draw(shape, dt):
        if np.dtype(dt) == np.bool_:
            return rng.integers(0, 2, shape).astype(bool)
        if np.dtype(dt).kind in "iu":
            return rng.integers(0 if np.dtype(dt).kind == "u" else -4, 5, shape).astype(dt)
        return rng.standard_normal(shape).astype(dt)

    x = draw(case.x_shape, xd)
    w = draw(case.weight_shape, wd)
    g = draw(case.y_shape, xd if face != "grad_weight" else wd)
    got = call_face(face, case, x, w, None, g)
    ref = ref_face(face, case, x, w, None, g)
    assert got.dtype == np.dtype(expected), (got.dtype, expected)
    if all(np.dtype(t).kind in "biu" for t in (xd, wd)):
        assert np.array_equal(got, ref)  # small integers: exact in float64
    elif np.dtype(expected) == np.float16:
        # computed in float32, rounded once to float16: within half an ulp of float16
        # (plus float32 rounding); accumulating in float16 over 48 terms would not be
        err = np.abs(got.astype(np.float64) - ref)
        bound = 2.0**-11 * np.abs(ref) + 2e-4 * np.max(np.abs(ref))
        assert np.all(err <= bound), float(np.max(err - bound))
    else:
        assert_close(got, ref, dtype=expected)


@pytest.mark.parametrize("bias_dtype", [np.float64, np.float16, np.int64, np.bool_])
def test_bias_does_not_change_dtype(bias_dtype, rng):
    case, x, w, _, _ = problem(rng, np.float32)
    b = rng.integers(-3, 4, case.cout).astype(bias_dtype)
    y = fastconv.conv(x, w, b, **case.kwargs())
    assert_close(y, case.ref_forward(x, w, b), dtype=np.float32)
    y, vjp = fastconv.conv_vjp(x, w, b, **case.kwargs())
    assert y.dtype == np.float32
    db = vjp(case.grad_out(rng))[2]
    assert db.shape == b.shape and db.dtype.kind == "f"


def test_grad_dtypes_follow_their_operands(rng):
    case, x, w, b, g = problem(rng, np.float32)
    # grad_input: (grad_out, w); x's dtype is irrelevant
    gi = fastconv.conv_grad_input(g, w.astype(np.float64), case.x_shape, **case.kwargs())
    assert gi.dtype == np.float64
    gi = fastconv.conv_grad_input(g, w, case.x_shape, **case.kwargs())
    assert gi.dtype == np.float32
    # grad_weight: (x, grad_out); w's dtype is irrelevant
    gw = fastconv.conv_grad_weight(x, g.astype(np.float64), case.weight_shape, **case.kwargs())
    assert gw.dtype == np.float64
    assert_close(gw, case.ref_grad_weight(x, g))
    gw = fastconv.conv_grad_weight(x, g, case.weight_shape, **case.kwargs())
    assert gw.dtype == np.float32
    db = fastconv.conv_grad_bias(g)
    assert db.dtype == np.float32
    assert_close(db, R.conv_grad_bias(g), dtype=np.float32)


# --------------------------------------------------------------------------
# array-likes: memory layouts, byte order, read-only, lists
# --------------------------------------------------------------------------
def variants(a, rng):
    """The same values in many memory layouts."""
    yield "contiguous", a
    big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    yield "strided", big[..., ::2]
    yield "negative", np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    yield "fortran", np.asfortranarray(a)
    if a.ndim >= 2:
        yield "transposed_view", np.ascontiguousarray(np.swapaxes(a, 0, 1)).swapaxes(0, 1)
    ro = a.copy()
    ro.setflags(write=False)
    yield "readonly", ro
    yield "bigendian", a.astype(a.dtype.newbyteorder(">"))


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_array_layouts_and_byte_order(face, dtype, channels_last, rng):
    case, x, w, b, g = problem(rng, dtype, channels_last, mode="reflect" if face != "transpose"
                               else "zeros")
    ref = ref_face(face, case, x, w, b, g)
    used = {"conv": "xwb", "grad_input": "wg", "grad_weight": "xg", "transpose": "wg"}[face]
    for which in used:
        arrays = {"x": x, "w": w, "b": b, "g": g}
        for label, v in variants(arrays[which], rng):
            arrays[which] = v
            got = call_face(face, case, arrays["x"], arrays["w"], arrays["b"], arrays["g"])
            assert got.dtype == np.dtype(dtype), (which, label, got.dtype)
            assert_close(got, ref, dtype=dtype, what=f"{which} {label}")


def test_list_inputs(rng):
    case, x, w, b, g = problem(rng)
    kw = case.kwargs()
    y = fastconv.conv(x.tolist(), w.tolist(), b.tolist(), **kw)
    assert isinstance(y, np.ndarray) and y.dtype == np.float64
    assert_close(y, case.ref_forward(x, w, b))
    gi = fastconv.conv_grad_input(g.tolist(), w.tolist(), list(case.x_shape), **kw)
    assert_close(gi, case.ref_grad_input(g, w), dtype=np.float64)
    gw = fastconv.conv_grad_weight(x.tolist(), g.tolist(), list(case.weight_shape), **kw)
    assert_close(gw, case.ref_grad_weight(x, g), dtype=np.float64)
    db = fastconv.conv_grad_bias(g.tolist())
    assert_close(db, R.conv_grad_bias(g), dtype=np.float64)
    # nested lists of ints
    y = fastconv.conv([[[1, 2, 3, 4]]], [[[1, -1]]])
    assert y.dtype == np.float64 and y.tolist() == [[[-1.0, -1.0, -1.0]]]
    # shapes given as numpy integers
    gi2 = fastconv.conv_grad_input(g, w, tuple(np.int32(s) for s in case.x_shape), **kw)
    assert_close(gi2, case.ref_grad_input(g, w))
    gw2 = fastconv.conv_grad_weight(x, g, tuple(np.int64(s) for s in case.weight_shape), **kw)
    assert_close(gw2, case.ref_grad_weight(x, g))


def test_numpy_integer_parameters(rng):
    case, x, w, b, g = problem(rng)
    y = fastconv.conv(x, w, b, stride=(np.int64(2), np.int32(1)), dilation=np.array([1, 2]),
                      padding=np.array([[1, 2], [0, 1]]), groups=np.int64(2))
    assert_close(y, case.ref_forward(x, w, b))


@pytest.mark.parametrize("mode", R.PADDING_MODES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_inputs_never_modified(mode, channels_last, rng):
    case, x, w, b, g = problem(rng, np.float32, channels_last, mode=mode)
    ub = rng.standard_normal((case.cout,) + case.out_spatial).astype(np.float32)
    arrays = [x, w, b, g, ub]
    copies = [a.copy() for a in arrays]
    kw = case.kwargs()
    fastconv.conv(x, w, b, **kw)
    fastconv.conv(x, w, ub, **kw)
    fastconv.conv_grad_input(g, w, case.x_shape, **kw)
    fastconv.conv_grad_weight(x, g, case.weight_shape, **kw)
    fastconv.conv_grad_bias(g, channels_last=channels_last)
    y, vjp = fastconv.conv_vjp(x, w, ub, **kw)
    dx, dw, db = vjp(g)
    kw.pop("padding_mode")
    fastconv.conv_transpose(g, w, None, output_size=case.spatial, **kw)
    for a, c in zip(arrays, copies):
        assert np.array_equal(a, c)
    # results do not alias the inputs
    for r in (y, dx, dw, db):
        for a in arrays:
            assert not np.shares_memory(r, a)
    # and read-only inputs are accepted by every face
    for a in arrays:
        a.setflags(write=False)
    kw["padding_mode"] = mode
    assert_close(fastconv.conv(x, w, b, **kw), case.ref_forward(x, w, b), dtype=np.float32)
    assert_close(vjp(g)[0], case.ref_grad_input(g, w), dtype=np.float32)


def test_vjp_is_reusable(rng):
    case, x, w, b, g = problem(rng, mode="mean")
    y, vjp = fastconv.conv_vjp(x, w, b, **case.kwargs())
    assert_close(y, case.ref_forward(x, w, b))
    for _ in range(2):
        dx, dw, db = vjp(g)
        assert_close(dx, case.ref_grad_input(g, w))
        assert_close(dw, case.ref_grad_weight(x, g))
        assert_close(db, R.conv_grad_bias(case.to_ref(g)))


# --------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------
@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("mode", ["zeros", "mean"])
def test_layouts(face, mode, rng):
    """channels_last and unbatched are pure relayouts of the same numbers."""
    if face == "transpose" and mode != "zeros":
        pytest.skip("no padding_mode")
    case, x, w, b, g = problem(rng, mode=mode)
    base = ref_face(face, case, x, w, b, g)
    for channels_last in (False, True):
        for batched in (True, False):
            c2 = Case(spatial=case.spatial, kernel=case.kernel, batch=2 if batched else None,
                      groups=case.groups, cin_g=case.cin_g, cout_g=case.cout_g,
                      stride=case.stride, padding=case.padding, dilation=case.dilation,
                      padding_mode=mode, bias="tied", channels_last=channels_last)
            sel = slice(None) if batched else slice(1, 2)  # unbatched: the 2nd sample
            x2 = c2.from_ref(case.to_ref(x)[sel])
            g2 = c2.from_ref(case.to_ref(g)[sel])
            got = call_face(face, c2, x2, w, b, g2)
            if face == "grad_weight":
                expected = (base if batched else
                            R.conv_grad_weight(case.to_ref(x)[sel], case.to_ref(g)[sel],
                                               case.weight_shape, **case.ref_kwargs()))
            else:
                expected = c2.from_ref(case.to_ref(base)[sel])
            assert_close(got, expected, what=f"channels_last={channels_last} "
                                             f"batched={batched}")
            assert got.flags.c_contiguous


# --------------------------------------------------------------------------
# workers / threads
# --------------------------------------------------------------------------
WORKER_LAYERS = ["dense3x3", "first7x7s2", "pointwise", "depthwise3x3", "grouped", "conv1d",
                 "conv3d", "depthwise_mult_s2", "wide_channels", "wide_channels_s2",
                 "depthwise_tall", "depthwise3d", "conv1d_long", "implicit_edges"]


@pytest.mark.parametrize("name", WORKER_LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_workers_bitwise_identical(name, dtype, channels_last, rng):
    case = Case(**LAYERS[name], dtype=dtype, channels_last=channels_last, bias="tied")
    case.batch = 4  # enough independent work for every thread count
    x, w, b = case.arrays(rng)
    g = case.grad_out(rng)
    kw = case.kwargs()
    results = {}
    for workers in (1, 2, 3, -1, None):
        results[workers] = (
            fastconv.conv(x, w, b, workers=workers, **kw),
            fastconv.conv_grad_input(g, w, case.x_shape, workers=workers, **kw),
            fastconv.conv_grad_weight(x, g, case.weight_shape, workers=workers, **kw),
        )
    for workers, res in results.items():
        for face, a, ref in zip(("conv", "grad_input", "grad_weight"), res, results[1]):
            assert a.dtype == np.dtype(dtype)
            assert np.array_equal(a, ref), f"{face} differs between workers=1 and {workers}"
    # and the workers=1 results are right
    assert_close(results[1][0], case.ref_forward(x, w, b), dtype=dtype)
    assert_close(results[1][1], case.ref_grad_input(g, w), dtype=dtype)
    assert_close(results[1][2], case.ref_grad_weight(x, g), dtype=dtype)


@pytest.mark.parametrize("mode", ["reflect", "mean"])
def test_workers_bitwise_identical_padding_modes(mode, rng):
    case = Case(spatial=(21, 18), kernel=(3, 3), batch=3, cin_g=6, cout_g=10, padding=2,
                padding_mode=mode, dtype=np.float32)
    x, w, _ = case.arrays(rng)
    g = case.grad_out(rng)
    kw = case.kwargs()

    def faces(workers):
        y, vjp = fastconv.conv_vjp(x, w, workers=workers, **kw)
        return [fastconv.conv(x, w, workers=workers, **kw),
                fastconv.conv_grad_input(g, w, case.x_shape, workers=workers, **kw),
                fastconv.conv_grad_weight(x, g, case.weight_shape, workers=workers, **kw),
                y, *vjp(g)[:2]]

    ref = faces(1)
    assert_close(ref[0], case.ref_forward(x, w, None), dtype=np.float32)
    assert_close(ref[1], case.ref_grad_input(g, w), dtype=np.float32)
    assert_close(ref[2], case.ref_grad_weight(x, g), dtype=np.float32)
    for workers in (2, 3):
        for i, (a, r) in enumerate(zip(faces(workers), ref)):
            assert np.array_equal(a, r), (i, workers)


def test_threads_context_manager(rng):
    old = fastconv.get_num_threads()
    assert isinstance(old, int) and old >= 1
    try:
        fastconv.set_num_threads(3)
        assert fastconv.get_num_threads() == 3
        with fastconv.threads(1):
            assert fastconv.get_num_threads() == 1
            case, x, w, b, _ = problem(rng)
            y1 = fastconv.conv(x, w, b, **case.kwargs())
        assert fastconv.get_num_threads() == 3
        with fastconv.threads(2):
            assert fastconv.get_num_threads() == 2
            y2 = fastconv.conv(x, w, b, **case.kwargs())
        assert np.array_equal(y1, y2)
        assert_close(y1, case.ref_forward(x, w, b))
        # restored even when the block raises
        with pytest.raises(RuntimeError):
            with fastconv.threads(1):
                raise RuntimeError("boom")
        assert fastconv.get_num_threads() == 3
    finally:
        fastconv.set_num_threads(None)  # back to the OpenMP default
    assert fastconv.get_num_threads() == old


# --------------------------------------------------------------------------
# hostile requests: a clean exception (or the right answer), never a crash
# --------------------------------------------------------------------------
HOSTILE = {
    # a dilated kernel far larger than the input: empty output
    "dilation_huge": ("fastconv.conv(x, w, dilation=2**62)", "empty"),
    "stride_huge": ("fastconv.conv(x, w, stride=2**62)", "first"),
    "padding_huge": ("fastconv.conv(x, w, padding=2**40)", "refuse"),
    "padding_huge_reflect": ("fastconv.conv(x, w, padding=2**40, padding_mode='reflect')",
                             "refuse"),
    "input_huge": ("fastconv.conv(np.broadcast_to(np.zeros(1), (1, 1, 2**47)), "
                   "np.ones((1, 1, 1)))", "refuse"),
    "input_shape_huge": ("fastconv.conv_grad_input(np.zeros((1, 1, 1)), np.ones((1, 1, 1)), "
                         "(1, 1, 2**47), stride=2**47)", "refuse"),
    "weight_shape_huge": ("fastconv.conv_grad_weight(np.zeros((1, 1, 3)), "
                          "np.zeros((1, 2**47, 1)), (2**47, 1, 3))", "refuse"),
    "groups_huge": ("fastconv.conv(x, w, groups=2**62)", "refuse"),
    "negative_input_shape": ("fastconv.conv_grad_input(np.zeros((1, 3, 7)), w, (1, 2, -9))",
                             "refuse"),
    "negative_weight_shape": ("fastconv.conv_grad_weight(x, np.zeros((1, 3, 7)), (3, 2, -3))",
                              "refuse"),
    "zero_kernel": ("fastconv.conv(x, np.zeros((3, 2, 0)))", "refuse"),
    "workers_1e4": ("fastconv.conv(x, w, workers=10**4)", "right"),
    "workers_1e5": ("fastconv.conv(x, w, workers=10**5)", "right"),
    "workers_1e6": ("fastconv.conv(x, w, workers=10**6)", "right"),
    "workers_1e6_grads": ("(fastconv.conv_grad_input(y, w, x.shape, workers=10**6), "
                          "fastconv.conv_grad_weight(x, y, w.shape, workers=10**6))", "grads"),
}

HOSTILE_SCRIPT = r"""
import sys
import numpy as np
import fastconv
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 2, 9))
w = rng.standard_normal((3, 2, 3))
y = rng.standard_normal((1, 3, 7))
expr, kind = sys.argv[1], sys.argv[2]
try:
    r = eval(expr)
except (ValueError, TypeError, MemoryError, OverflowError, NotImplementedError) as e:
    print("RAISED", type(e).__name__, e)
    sys.exit(0 if kind in ("refuse", "empty") else 3)
if kind == "refuse":
    print("RETURNED", getattr(r, "shape", r))
    sys.exit(4)
if kind == "empty":
    sys.exit(0 if r.shape == (1, 3, 0) else 5)
if kind == "first":
    sys.exit(0 if np.allclose(r[..., 0], np.einsum("oct,nct->no", w, x[..., :3]), rtol=1e-12)
             and r.shape == (1, 3, 1) else 6)
if kind == "right":
    ref = np.stack([np.einsum("oct,nct->no", w, x[..., p:p + 3]) for p in range(7)], -1)
    sys.exit(0 if np.allclose(r, ref, rtol=1e-12) else 7)
if kind == "grads":
    gi = np.zeros_like(x)
    for p in range(7):
        gi[..., p:p + 3] += np.einsum("oct,no->nct", w, y[..., p])
    gw = sum(np.einsum("no,nct->oct", y[..., p], x[..., p:p + 3]) for p in range(7))
    sys.exit(0 if np.allclose(r[0], gi, rtol=1e-12) and np.allclose(r[1], gw, rtol=1e-12)
             else 8)
"""


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_requests_do_not_crash(name):
    """Run in a subprocess so that a crash (segfault, abort, exit) is a test failure,
    not the end of the test session.  Huge sizes must raise (MemoryError or a clean
    ValueError), absurd ``workers`` must still compute the right answer."""
    import os
    import subprocess
    import sys

    expr, kind = HOSTILE[name]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", HOSTILE_SCRIPT, expr, kind], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (f"{expr} -> return code {proc.returncode}\n"
                                  f"{proc.stdout}\n{proc.stderr[-2000:]}")


def _run_python(code, **env_extra):
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("n", ["1", "2"])
def test_default_threads_honour_omp_num_threads(n):
    proc = _run_python("import fastconv; print(fastconv.get_num_threads())", OMP_NUM_THREADS=n)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == n


def test_default_threads_honour_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastconv.get_num_threads() == 1
        rng = np.random.default_rng(5)
        case, x, w, b, _ = problem(rng)
        assert_close(fastconv.conv(x, w, b, **case.kwargs()), case.ref_forward(x, w, b))


def test_caller_floating_point_state_is_restored(rng):
    """Kernels may flush denormals to zero, but must restore the caller's FP state."""
    for dtype in (np.float32, np.float64):
        case, x, w, b, g = problem(rng, dtype)
        fastconv.conv(x, w, b, **case.kwargs())
        fastconv.conv_grad_input(g, w, case.x_shape, **case.kwargs())
        fastconv.conv_grad_weight(x, g, case.weight_shape, **case.kwargs())
        tiny64 = np.array([2.0**-1070]) * np.array([1.0])
        tiny32 = np.array([np.float32(2.0**-140)], np.float32) * np.float32(1.0)
        assert tiny64[0] != 0 and tiny32[0] != 0
        assert np.array([2.0**-1000]) * np.array([2.0**-40]) != 0  # denormal result kept


@pytest.mark.parametrize("name", ["dense3x3", "pointwise", "depthwise3x3", "conv1d"])
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_nan_and_inf_propagate_like_the_formula(name, mode, rng):
    """A NaN/inf in x reaches exactly the outputs whose window reads it (finite,
    non-zero weights), as the float64 formula says; the others stay right."""
    case = Case(**dict(LAYERS[name], padding_mode=mode), dtype=np.float64)
    x, w, _ = case.arrays(rng)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    with np.errstate(invalid="ignore"):
        ref = case.ref_forward(x, w, None)
    y = fastconv.conv(x, w, **case.kwargs())
    assert np.array_equal(np.isnan(y), np.isnan(ref))
    assert np.array_equal(np.isposinf(y), np.isposinf(ref))
    assert np.array_equal(np.isneginf(y), np.isneginf(ref))
    fin = np.isfinite(ref)
    assert fin.any()
    assert_close(y[fin], ref[fin])


def test_out_for_float16_and_integer_results(rng):
    x = rng.standard_normal((2, 8, 9)).astype(np.float16)
    w = rng.standard_normal((5, 8, 3)).astype(np.float16)
    out = np.zeros((2, 5, 7), np.float16)
    assert fastconv.conv(x, w, out=out) is out
    ref = R.conv_forward(x, w)
    assert np.all(np.abs(out - ref) <= 2.0**-11 * np.abs(ref) + 2e-4 * np.abs(ref).max())
    with pytest.raises((ValueError, TypeError), match="out"):
        fastconv.conv(x, w, out=np.zeros((2, 5, 7), np.float32))
    xi = rng.integers(-3, 4, (2, 8, 9))
    wi = rng.integers(-3, 4, (5, 8, 3)).astype(np.int32)
    out = np.zeros((2, 5, 7))
    assert fastconv.conv(xi, wi, out=out) is out
    assert np.array_equal(out, R.conv_forward(xi, wi))


def test_out_is_an_input_channels_last(rng):
    x = rng.standard_normal((2, 6, 7, 5))  # (N, H, W, C)
    w = rng.standard_normal((5, 5, 1, 1))
    ref = np.moveaxis(R.conv_forward(np.moveaxis(x, -1, 1), w), 1, -1)
    _check_overlap(lambda: fastconv.conv(x, w, channels_last=True, out=x), ref)
    x = rng.standard_normal((2, 6, 7, 4))
    w = rng.standard_normal((4, 2, 3, 3))
    ref = np.moveaxis(R.conv_forward(np.moveaxis(x, -1, 1), w, padding=1, groups=2,
                                     padding_mode="reflect"), 1, -1)
    _check_overlap(lambda: fastconv.conv(x, w, padding=1, groups=2, padding_mode="reflect",
                                         channels_last=True, out=x), ref)


@pytest.mark.parametrize("name", ["dense3x3", "wide_channels", "depthwise3x3", "pointwise",
                                  "implicit_edges"])
def test_concurrent_calls_from_python_threads(name, rng):
    """The GIL is released: calls from several Python threads at once must not
    interfere (scratch buffers, BLAS thread settings, FP state)."""
    import threading

    case = Case(**LAYERS[name], dtype=np.float32, bias="tied")
    jobs = []
    for _ in range(4):
        x, w, b = case.arrays(rng)
        g = case.grad_out(rng)
        jobs.append((x, w, b, g))
    kw = case.kwargs()

    def run(x, w, b, g, workers):
        return (fastconv.conv(x, w, b, workers=workers, **kw),
                fastconv.conv_grad_input(g, w, case.x_shape, workers=workers, **kw),
                fastconv.conv_grad_weight(x, g, case.weight_shape, workers=workers, **kw))

    serial = [run(*job, workers=2) for job in jobs]
    results = [None] * (2 * len(jobs))
    errors = []

    def worker(i):
        try:
            for _ in range(3):
                results[i] = run(*jobs[i % len(jobs)], workers=2 if i % 2 else 1)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, res in enumerate(results):
        x, w, b, g = jobs[i % len(jobs)]
        for a, s in zip(res, serial[i % len(jobs)]):
            assert np.array_equal(a, s), f"thread {i}"
    for (x, w, b, g), (y, gi, gw) in zip(jobs, serial):
        assert_close(y, case.ref_forward(x, w, b), dtype=np.float32)
        assert_close(gi, case.ref_grad_input(g, w), dtype=np.float32)
        assert_close(gw, case.ref_grad_weight(x, g), dtype=np.float32)
