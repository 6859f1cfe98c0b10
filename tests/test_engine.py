"""Every algorithm of the engine (fastconv._engine), each forced in turn and
checked against the reference loops: im2col + GEMM, pointwise GEMM, the
direct channel-wise kernels and the implicit GEMM (forward and grad_input).

The public-API suites pick whatever path a shape leads to; here the shapes
are chosen so that each path, and its edges (partial register tiles, output
channels not a multiple of the tile, long 1-d rows split into column blocks,
rows narrower than one vector), really runs.
"""

import numpy as np
import pytest

import fastconv
from fastconv import _engine
from fastconv._geometry import ConvGeometry
from reference import assert_close, conv_forward, conv_grad_input, conv_grad_weight

ALGORITHMS = ("gemm", "pointwise", "direct", "implicit", "filter")

# The planner takes the implicit GEMM only where a vector tile exists for the
# CPU; here every kernel runs, the portable implicit tile included, so the
# planner is told it exists while this module's cases are listed and run.
_NATIVE_IMPLICIT = (_engine.IMPLICIT_KERNELS, _engine.IMPLICIT_DW_KERNELS)
_engine.IMPLICIT_KERNELS = _engine.IMPLICIT_DW_KERNELS = True
_engine.make_plan.cache_clear()


@pytest.fixture(autouse=True)
def every_kernel_available(implicit_everywhere):
    yield

# (spatial, kernel, stride, dilation, padding, groups, cin/group, cout/group)
CASES = [
    ((9, 11), (3, 3), 1, 1, 1, 1, 5, 13),          # a full tile panel and a partial one
    ((7, 40), (3, 2), 1, (1, 2), ((2, 0), (1, 3)), 1, 3, 24),  # rows > 2 vectors, 2 full tiles
    ((6, 17), (2, 3), (2, 1), 1, ((0, 1), (1, 1)), 2, 2, 7),   # stride on an outer axis
    ((5000,), (9,), 1, 1, 4, 1, 3, 5),               # long 1-d: column blocks
    ((300,), (5,), 1, 3, "same", 2, 2, 6),
    ((4, 5, 6), (2, 3, 3), 1, 1, 1, 1, 2, 12),
    ((12, 3), (3, 1), 1, 1, (1, 0), 1, 4, 5),         # rows narrower than the tile
    ((8, 9), (1, 1), 1, 1, 0, 1, 6, 9),               # pointwise
    ((8, 9), (1, 1), 2, 1, 1, 1, 6, 9),               # 1x1 but strided/padded: not pointwise
    ((10, 13), (3, 3), 1, 2, 2, 4, 1, 1),             # depthwise
    ((10, 13), (3, 4), (1, 2), 1, 1, 3, 1, 3),        # channel multiplier 3
    ((9, 8), (3, 3), 2, 1, 1, 1, 3, 8),               # stride 2: im2col path
    ((33, 32), (3, 3), 1, 1, 1, 1, 3, 5),             # implicit grad_weight (plane >= 1024)
    ((11, 9), (3, 2), 1, 1, ((1, 0), (2, 1)), 5, 1, 1),  # depthwise stride 1: filter engine
    ((40,), (5,), 1, 1, ((3, 1),), 3, 1, 1),
    ((5, 6, 7), (3, 3, 3), 1, 1, 1, 2, 1, 1),
    ((8, 10), (2, 3), 1, 1, 4, 2, 1, 1),              # padding wider than the kernel
    ((6, 11, 48), (2, 1, 3), (2, 1, 1), 1, ((1, 0), 0, 2), 1, 2, 3),  # it, 3-d, masked tail
    # a stride on the last axis, 25 taps or more: implicit on the phase-split input
    ((11, 31), (5, 5), (1, 2), 1, 2, 1, 3, 5),
    ((9, 52), (3, 9), (2, 3), (1, 2), 3, 2, 2, 13),   # stride 3 with dilation 2: phases
    ((5, 6, 27), (3, 3, 3), (1, 2, 2), 1, 1, 1, 2, 9),
    ((300,), (25,), 4, 1, 5, 1, 2, 5),
]


def _algorithms(geom, batch):
    plan = _engine.make_plan(geom, batch, 2)
    return {("fwd", plan.forward_algorithm), ("dX", plan.grad_input_algorithm),
            ("dW", plan.grad_weight_algorithm)}


def _case(case, dtype, rng):
    spatial, kernel, stride, dilation, padding, groups, cg, cog = case
    x = rng.standard_normal((3, cg * groups) + spatial).astype(dtype)
    w = rng.standard_normal((cog * groups, cg) + kernel).astype(dtype)
    kw = dict(stride=stride, dilation=dilation, padding=padding, groups=groups)
    return x, w, kw


def test_every_algorithm_is_covered():
    seen = set()
    for case in CASES:
        spatial, kernel, stride, dilation, padding, groups, cg, cog = case
        geom = ConvGeometry.create(spatial, kernel, in_channels=cg * groups,
                                   out_channels=cog * groups, stride=stride, padding=padding,
                                   dilation=dilation, groups=groups)
        seen |= _algorithms(geom, 3)
    # the filter engine serves forward and grad_input; grad_weight of those
    # layers runs the implicit tile
    assert seen == {(face, a) for face in ("fwd", "dX", "dW") for a in ALGORITHMS} \
        - {("dW", "filter")}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}k{c[1]}g{c[5]}")
def test_faces_against_reference(case, dtype, rng):
    _check_faces(case, dtype, rng, with_grad_weight=True)


def _check_faces(case, dtype, rng, with_grad_weight):
    x, w, kw = _case(case, dtype, rng)
    b = rng.standard_normal(w.shape[0]).astype(dtype)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    y = fastconv.conv(x, w, b, **kw)
    assert_close(y, conv_forward(x64, w64, b64, **kw), dtype=dtype, what="forward")
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = fastconv.conv_grad_input(g, w, x.shape, **kw)
    assert_close(gx, conv_grad_input(g.astype(np.float64), w64, x.shape, **kw), dtype=dtype,
                 what="grad_input")
    if with_grad_weight:
        gw = fastconv.conv_grad_weight(x, g, w.shape, **kw)
        assert_close(gw, conv_grad_weight(x64, g.astype(np.float64), w.shape, **kw),
                     dtype=dtype, what="grad_weight")


IMPLICIT_CASES = [c for c in CASES if ("fwd", "implicit") in _algorithms(
    ConvGeometry.create(c[0], c[1], in_channels=c[5] * c[6], out_channels=c[5] * c[7],
                        stride=c[2], padding=c[4], dilation=c[3], groups=c[5]), 3)] + [
    ((10, 21), (3, 3), 1, 1, 1, 2, 17, 17),         # 2 groups of 17: panels 8+8+1, 12+5
    ((9, 16), (3, 3), 1, 1, 1, 1, 8, 8),            # one full 8-high panel
]


@pytest.fixture(params=["generic", "avx2", "avx512"])
def implicit_tile_isa(request):
    """Each implicit-GEMM tile this CPU runs: portable C, AVX2 + FMA, AVX-512."""
    from fastconv._config import apply_isa_cap
    from fastconv._ext import _implicit

    try:
        if _implicit.set_isa(request.param) != request.param:
            pytest.skip(f"this CPU has no {request.param} tile")
        yield request.param
    finally:
        apply_isa_cap()


@pytest.mark.parametrize("tile_mr", [8, 12])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", IMPLICIT_CASES, ids=lambda c: f"{c[0]}k{c[1]}g{c[5]}")
def test_implicit_tile_heights_against_reference(case, dtype, tile_mr, rng, monkeypatch,
                                                 implicit_tile_isa):
    """Both register tile heights of the implicit forward (which also serves
    grad_input), whichever tile_height would pick, on every tile the CPU runs."""
    monkeypatch.setattr(_engine, "tile_height", lambda cog: tile_mr)
    _check_faces(case, dtype, rng, with_grad_weight=False)


@pytest.fixture
def small_k_blocks():
    """On the packed AVX2 tile: k-blocks of 32 rows (an L1D of 4 KiB), blocks of
    2 panels (an L2 of 16 KiB)."""
    from fastconv._ext import _implicit

    _implicit.set_caches(4096, 16384)
    yield
    _implicit.set_caches(_engine.L1D_BYTES, _engine.L2_BYTES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile_mr", [8, 12])
@pytest.mark.parametrize("blocks", [(1, 5), (3, 7), (2, 13), (4, 13), (100, 100)],
                         ids=lambda b: f"rows{b[0]}cols{b[1]}")
def test_implicit_forward_work_blocks(blocks, tile_mr, dtype, rng, implicit_tile_isa,
                                      small_k_blocks):
    """The implicit forward over work blocks of any rows x columns (whole rows:
    the packed tile's panels run across rows), K = 5 x 9 = 45 over two
    k-blocks, 13 output channels (a partial panel) and a bias."""
    from fastconv._ext import _implicit

    n, c, h, wd, co = 2, 5, 9, 13, 13
    xp = rng.standard_normal((n, c, h + 2, wd + 2)).astype(dtype)
    w = rng.standard_normal((co, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    x_in, koffs, rowbase = _engine._implicit_input(xp, (h, wd), (3, 3), (1, 1), (1, 1), c)
    wpk = np.empty(-(-co // tile_mr) * tile_mr * koffs.size, dtype)
    _implicit.pack_weights(w.reshape(1, co, c, 9), wpk, tile_mr, 1)
    y = np.full((n, co, h, wd), np.nan, dtype)
    _implicit.forward(x_in.reshape(-1), koffs, wpk, rowbase, b, y.reshape(-1), n, c, co, 1,
                      (h + 2) * (wd + 2), wd, blocks[0], blocks[1], tile_mr, 2)
    assert_close(y, conv_forward(xp.astype(np.float64), w.astype(np.float64),
                                 b.astype(np.float64)), dtype=dtype, what="forward")


@pytest.fixture
def split_grad_weight(monkeypatch):
    """Plans whose GEMM grad_weight splits every (group, bucket) into as many
    input-channel ranges as there are channels, over one or two buckets."""
    monkeypatch.setattr(_engine, "DW_MIN_ROWS", 1)
    monkeypatch.setattr(_engine, "DW_MIN_ITEMS", 64)
    monkeypatch.setattr(_engine, "PARTIAL_BYTES", 1)
    _engine.make_plan.cache_clear()
    yield
    _engine.make_plan.cache_clear()


GEMM_DW_CASES = [c for c in CASES if _algorithms(
    ConvGeometry.create(c[0], c[1], in_channels=c[5] * c[6], out_channels=c[5] * c[7],
                        stride=c[2], padding=c[4], dilation=c[3], groups=c[5]), 3)
    & {("dW", "gemm"), ("dW", "pointwise")}] + [
    ((7, 9), (3, 3), 1, 1, 1, 3, 7, 4),             # 7 channels per group: ranges of 1
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GEMM_DW_CASES, ids=lambda c: f"{c[0]}k{c[1]}g{c[5]}")
def test_grad_weight_by_channel_ranges(case, dtype, rng, split_grad_weight):
    x, w, kw = _case(case, dtype, rng)
    geom = ConvGeometry.create(x.shape[2:], w.shape[2:], in_channels=x.shape[1],
                               out_channels=w.shape[0], stride=kw["stride"],
                               padding=kw["padding"], dilation=kw["dilation"],
                               groups=kw["groups"])
    assert _engine.make_plan(geom, x.shape[0], 2).dw_splits == x.shape[1] // kw["groups"]
    y = fastconv.conv(x, w, **kw)
    g = rng.standard_normal(y.shape).astype(dtype)
    gw = fastconv.conv_grad_weight(x, g, w.shape, **kw, workers=2)
    assert_close(gw, conv_grad_weight(x.astype(np.float64), g.astype(np.float64), w.shape,
                                      **kw), dtype=dtype, what="grad_weight")
    assert np.array_equal(gw, fastconv.conv_grad_weight(x, g, w.shape, **kw, workers=1))


WRITE_ALL_DX_CASES = [c for c in CASES if _algorithms(
    ConvGeometry.create(c[0], c[1], in_channels=c[5] * c[6], out_channels=c[5] * c[7],
                        stride=c[2], padding=c[4], dilation=c[3], groups=c[5]), 3)
    & {("dX", "filter"), ("dX", "implicit")}]


@pytest.mark.parametrize("case", WRITE_ALL_DX_CASES, ids=lambda c: f"{c[0]}k{c[1]}g{c[5]}")
def test_grad_input_kernels_that_write_every_element(case, rng):
    """Their gx is allocated uninitialised: freshly freed NaN memory of its
    size (which malloc hands out again) must not show through."""
    x, w, kw = _case(case, np.float64, rng)
    y = fastconv.conv(x, w, **kw)
    g = rng.standard_normal(y.shape)
    want = conv_grad_input(g, w, x.shape, **kw)
    for _ in range(3):
        junk = np.full(x.shape, np.nan)
        del junk
        assert_close(fastconv.conv_grad_input(g, w, x.shape, **kw), want, dtype=np.float64,
                     what="grad_input")


def test_tile_height_pads_output_channels_least():
    assert _engine.tile_height(64) == 8 and _engine.tile_height(8) == 8
    assert _engine.tile_height(36) == 12 and _engine.tile_height(256) == 12


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}k{c[1]}g{c[5]}")
def test_bitwise_independent_of_workers(case, rng):
    x, w, kw = _case(case, np.float32, rng)
    y = fastconv.conv(x, w, **kw, workers=1)
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = fastconv.conv_grad_input(g, w, x.shape, **kw, workers=1)
    gw = fastconv.conv_grad_weight(x, g, w.shape, **kw, workers=1)
    for workers in (2, 3):
        assert np.array_equal(y, fastconv.conv(x, w, **kw, workers=workers))
        assert np.array_equal(gx, fastconv.conv_grad_input(g, w, x.shape, **kw, workers=workers))
        assert np.array_equal(gw, fastconv.conv_grad_weight(x, g, w.shape, **kw,
                                                            workers=workers))


def test_pad_or_crop_is_a_zero_pad_and_a_crop():
    a = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    padded = _engine.pad_or_crop(a, [(2, 1)])
    assert padded.shape == (2, 3, 8)
    assert np.array_equal(padded[..., 2:7], a)
    assert not padded[..., :2].any() and not padded[..., 7:].any()
    cropped = _engine.pad_or_crop(a, [(-1, -2)])
    assert np.array_equal(cropped, a[..., 1:3])
    mixed = _engine.pad_or_crop(a, [(-2, 1)])
    assert np.array_equal(mixed[..., :3], a[..., 2:]) and not mixed[..., 3:].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pairs", [
    ((4, 32, 5000), ((3, 1),)),
    ((8, 16, 56, 57), ((1, 2), (0, 3))),
    ((2, 16, 20, 21, 22), ((1, 1), (2, 0), (0, 2))),
    ((3, 8, 90, 91), ((-2, 1), (1, -1))),  # a crop: the serial path
])
def test_pad_or_crop_on_threads_matches_numpy(dtype, shape, pairs, rng):
    """The zero padding the implicit engine reads, copied on two threads
    (arrays of 1 MiB and more), equals numpy's, slack included."""
    a = rng.standard_normal(shape).astype(dtype)
    want = np.pad(a[(slice(None),) * 2 + tuple(slice(max(-lo, 0), n - max(-hi, 0))
                                               for n, (lo, hi) in zip(shape[2:], pairs))],
                  ((0, 0), (0, 0)) + tuple((max(lo, 0), max(hi, 0)) for lo, hi in pairs))
    for threads in (1, 2):
        got = _engine.pad_or_crop(a, pairs, slack=4, threads=threads)
        assert np.array_equal(got, want)
        assert got.base.size == got.size + 4 and not got.base[got.size:].any()


def _dirty_scratch(nbytes):
    """Leave a block of the scratch pool that fits nbytes full of NaN bytes."""
    junk = _engine.scratch_empty(nbytes, np.uint8)
    junk.fill(0xFF)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pairs, threads", [
    ((8, 16, 56, 57), ((1, 2), (0, 3)), 2),
    ((2, 16, 20, 21, 22), ((1, 1), (2, 0), (0, 2)), 1),
    ((3, 8, 90, 91), ((-2, 1), (1, -1)), 2),
    ((2, 8, 100, 101), ((0, 0), (3, 3)), 2),
    ((2, 4, 3, 2000), ((-3, 2), (0, 0)), 1),  # all cropped away: zeros
])
def test_pad_or_crop_zeroes_reused_scratch(dtype, shape, pairs, threads, rng):
    """On a pooled block that held NaN, every element outside the copied box
    and every slack element comes out zero."""
    a = rng.standard_normal(shape).astype(dtype)
    out_shape = shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], pairs))
    _dirty_scratch((np.prod(out_shape) + 4) * np.dtype(dtype).itemsize)
    kept = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(shape[2:], pairs))
    want = np.pad(a[(slice(None),) * 2 + kept],
                  ((0, 0), (0, 0)) + tuple((max(lo, 0), max(hi, 0)) for lo, hi in pairs))
    if want.shape != out_shape:
        want = np.zeros(out_shape, dtype)
    got = _engine.pad_or_crop(a, pairs, slack=4, threads=threads)
    assert np.array_equal(got, want)
    assert not got.base[got.size:].any()


def test_scratch_block_returns_to_the_pool_after_its_last_view():
    from fastconv._ext import _scratch

    _scratch.release_idle()  # no idle block but the one this test frees
    nbytes = 3 << 20
    a = _engine.scratch_empty(nbytes // 8, np.float64)
    address = a.ctypes.data
    assert address % _engine.CACHE_LINE == 0
    view = a.reshape(-1)[5:]
    del a
    b = _engine.scratch_empty(nbytes // 8, np.float64)
    assert b.ctypes.data != address  # `view` still uses the block
    b[:] = 1.0
    view[:] = 2.0
    assert (b == 1.0).all()
    del view
    c = _engine.scratch_empty(nbytes // 4, np.float32)
    assert c.ctypes.data == address


def test_scratch_pool_keeps_a_bounded_amount():
    from fastconv._ext import _scratch

    block = 24 << 20
    leases = [_engine.scratch_empty(block, np.uint8) for _ in range(4)]
    assert len({a.ctypes.data for a in leases}) == 4
    del leases
    assert _scratch.idle_bytes() <= _scratch.KEEP_BYTES
    big = _engine.scratch_empty(_scratch.KEEP_BYTES + 1, np.uint8)
    del big  # larger than the pool keeps: freed
    assert _scratch.idle_bytes() <= _scratch.KEEP_BYTES
    _scratch.release_idle()
    assert _scratch.idle_bytes() == 0


# the case lists above are made: other modules see the native planner
_engine.IMPLICIT_KERNELS, _engine.IMPLICIT_DW_KERNELS = _NATIVE_IMPLICIT
_engine.make_plan.cache_clear()
