"""Arrays past 2**31 elements.

The big inputs are np.zeros (calloc: untouched pages read as zeros and take
no memory) with random patches written where the index arithmetic is at risk
(the start, across element 2**31, the end); outputs there are checked against
float64 dot products.  The GEMM engine's wide-plane mode (planes longer than
a BLAS leading dimension) is also run on small planes, by lowering the bound
it is chosen by.
"""

import numpy as np
import pytest

import fastconv
from fastconv import _engine
from fastconv.conv import _geometry

import reference as R


def _available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


needs_memory = pytest.mark.skipif(_available_bytes() < 8 * 2**30,
                                  reason="needs 8 GiB of free memory")


def _check_samples(y, x, w, stride, spots, size):
    """y at the outputs reading the patches [spot, spot + size) against float64 sums."""
    k = w.shape[2:]
    worst = 0.0
    count = 0
    for spot in spots:
        ranges = [range(max(0, s // st - 2), min(n, (s + size) // st + 2))
                  for s, st, n in zip(spot, stride, y.shape[2:])]
        for idx in np.ndindex(*[len(r) for r in ranges]):
            o = [r[i] for r, i in zip(ranges, idx)]
            window = tuple(slice(oo * st, oo * st + kk) for oo, st, kk in zip(o, stride, k))
            ref = float(np.sum(x[(0, 0) + window].astype(np.float64) * w[0, 0]))
            worst = max(worst, abs(float(y[(0, 0) + tuple(o)]) - ref) / (1 + abs(ref)))
            count += 1
    assert count > 100
    assert worst < 2e-6, worst


@needs_memory
def test_single_channel_image_of_46500_squared():
    n = 46500                                  # 2.16e9 elements, 8.6 GB of float32
    rng = np.random.default_rng(7)
    x = np.zeros((1, 1, n, n), np.float32)
    spots = [(0, 0), (23093, 46380), (46400, 46400)]   # row 23093 holds element 2**31
    for r, c in spots:
        x[0, 0, r:r + 60, c:c + 60] = rng.standard_normal((60, 60))
    w = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    y = fastconv.conv(x, w, stride=4)
    assert y.shape == (1, 1, 11625, 11625)
    _check_samples(y, x, w, (4, 4), spots, 60)
    assert not y[0, 0, 100:5000, 100:5000].any()


@needs_memory
def test_signal_of_2_31_plus_4097_samples():
    n = 2**31 + 4097
    rng = np.random.default_rng(8)
    x = np.zeros((1, 1, n), np.float32)
    spots = [(0,), (2**31 - 500,), (n - 1000,)]
    for (s,) in spots:
        x[0, 0, s:s + 1000] = rng.standard_normal(1000)
    w = rng.standard_normal((1, 1, 5)).astype(np.float32)
    y = fastconv.conv(x, w, stride=4)
    assert y.shape == (1, 1, (n - 5) // 4 + 1)
    _check_samples(y, x, w, (4,), spots, 1000)


@pytest.fixture
def tiny_blas_range(monkeypatch):
    """Planes of more than 64 positions count as too long for BLAS."""
    monkeypatch.setattr(_engine, "_INT_MAX", 64)
    _engine.make_plan.cache_clear()
    yield
    _engine.make_plan.cache_clear()


@pytest.mark.parametrize("case", [
    dict(k=(3, 3), stride=(1, 2), padding=1),           # im2col + BLAS
    dict(k=(1, 1), stride=(1, 1), padding=0),           # 1x1: a plain GEMM otherwise
    dict(k=(2, 3), stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_plane_gemm_faces(case, dtype, rng, tiny_blas_range):
    case = dict(case)
    k = case.pop("k")
    x = rng.standard_normal((2, 6, 13, 17)).astype(dtype)
    w = rng.standard_normal((4, 3) + k).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    kw = dict(groups=2, **case)
    geom = _geometry(x.shape[2:], k, 6, 4, kw["stride"], kw["padding"], kw.get("dilation", 1),
                     2, "zeros", w.shape)
    plan = _engine.make_plan(geom, 2, 2)
    assert plan.wide and plan.forward_algorithm == plan.grad_input_algorithm == "gemm"
    assert plan.grad_weight_algorithm == "gemm"
    y = fastconv.conv(x, w, b, workers=2, **kw)
    R.assert_close(y, R.conv_forward(x, w, b, **kw))
    gy = rng.standard_normal(y.shape).astype(dtype)
    R.assert_close(fastconv.conv_grad_input(gy, w, x.shape, workers=2, **kw),
                   R.conv_grad_input(gy, w, x.shape, **kw))
    R.assert_close(fastconv.conv_grad_weight(x, gy, w.shape, workers=2, **kw),
                   R.conv_grad_weight(x, gy, w.shape, **kw))
