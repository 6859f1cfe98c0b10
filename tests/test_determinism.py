"""Bitwise the same result whatever ``workers`` is, also on a busy machine.

A race shows only under load: while these tests run, a child process keeps
one core busy, so the threads of one call get descheduled at random points.
Every face of every engine (GEMM, implicit GEMM, direct, filter, pooling,
local, filtering) is called repeatedly with ``workers=2`` and ``workers=3``
on shapes of several blocks, and each result is compared bit for bit with
``workers=1``.

``FASTCONV_STRESS_REPEATS`` (default 12) sets the calls per face and worker
count; ``FASTCONV_STRESS_REPEATS=1000`` is the long run (2,000 calls a face).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv
import fastconv.ndimage
import fastconv.signal
from fastconv._ext import _runtime

REPEATS = int(os.environ.get("FASTCONV_STRESS_REPEATS", "12"))

pytestmark = pytest.mark.skipif(not _runtime.openmp_enabled(), reason="built without OpenMP")

BUSY = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture(scope="module")
def busy_core():
    """A child process spinning on one core for the module's duration (it
    stops by itself after 15 minutes should the fixture never end it)."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _rng():
    return np.random.default_rng(20261204)


def _std(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _faces():
    """(name, call(workers) -> array or tuple of arrays), on shapes that cut
    into several blocks, tiles or items on every engine."""
    rng = _rng()
    faces = []

    # im2col + BLAS: the layer of the report (stride and dilation on the last axis)
    x = _std(rng, (4, 21, 55, 54))
    w = _std(rng, (24, 21, 4, 4))
    kw = dict(stride=(1, 3), dilation=(1, 2), padding=1)
    y = fastconv.conv(x, w, **kw)
    gy = _std(rng, y.shape)
    faces += [
        ("gemm forward", lambda n: fastconv.conv(x, w, workers=n, **kw)),
        ("gemm grad_input", lambda n: fastconv.conv_grad_input(gy, w, x.shape, workers=n, **kw)),
        ("gemm grad_weight",
         lambda n: fastconv.conv_grad_weight(x, gy, w.shape, workers=n, **kw)),
    ]
    x32, w32, gy32 = (a.astype(np.float32) for a in (x, w, gy))
    faces += [
        ("gemm forward f32", lambda n: fastconv.conv(x32, w32, workers=n, **kw)),
        ("gemm grad_weight f32",
         lambda n: fastconv.conv_grad_weight(x32, gy32, w32.shape, workers=n, **kw)),
    ]

    # implicit GEMM (stride 1) and its adjoints, float32, with bias
    xi = _std(rng, (3, 16, 37, 41), np.float32)
    wi = _std(rng, (20, 16, 3, 3), np.float32)
    bi = _std(rng, (20,), np.float32)
    gyi = _std(rng, fastconv.conv(xi, wi, padding=1).shape, np.float32)
    faces += [
        ("implicit forward", lambda n: fastconv.conv(xi, wi, bi, padding=1, workers=n)),
        ("implicit grad_input",
         lambda n: fastconv.conv_grad_input(gyi, wi, xi.shape, padding=1, workers=n)),
        ("implicit grad_weight",
         lambda n: fastconv.conv_grad_weight(xi, gyi, wi.shape, padding=1, workers=n)),
    ]

    # 1x1 (plain GEMM), channels-last
    xp = _std(rng, (2, 30, 31, 24), np.float32)
    wp = _std(rng, (40, 24, 1, 1), np.float32)
    gyp = _std(rng, (2, 30, 31, 40), np.float32)
    faces += [
        ("pointwise forward", lambda n: fastconv.conv(xp, wp, channels_last=True, workers=n)),
        ("pointwise grad_weight", lambda n: fastconv.conv_grad_weight(
            xp, gyp, wp.shape, channels_last=True, workers=n)),
    ]

    # depthwise: the filter engine (stride 1) and the direct loops (stride 2)
    xd = _std(rng, (2, 12, 61, 47), np.float32)
    wd = _std(rng, (12, 1, 5, 5), np.float32)
    wm = _std(rng, (24, 1, 3, 3), np.float32)
    gyd = _std(rng, fastconv.conv(xd, wd, padding=2, groups=12).shape, np.float32)
    gym = _std(rng, fastconv.conv(xd, wm, stride=2, groups=12).shape, np.float32)
    faces += [
        ("depthwise forward", lambda n: fastconv.conv(xd, wd, padding=2, groups=12, workers=n)),
        ("depthwise grad_input", lambda n: fastconv.conv_grad_input(
            gyd, wd, xd.shape, padding=2, groups=12, workers=n)),
        ("depthwise grad_weight", lambda n: fastconv.conv_grad_weight(
            xd, gyd, wd.shape, padding=2, groups=12, workers=n)),
        ("direct strided forward",
         lambda n: fastconv.conv(xd, wm, stride=2, groups=12, workers=n)),
        ("direct strided grad_input", lambda n: fastconv.conv_grad_input(
            gym, wm, xd.shape, stride=2, groups=12, workers=n)),
        ("direct strided grad_weight", lambda n: fastconv.conv_grad_weight(
            xd, gym, wm.shape, stride=2, groups=12, workers=n)),
    ]

    # pooling: the plane of the report (190 x 70, 4x4 windows, stride 1: many blocks)
    xq = _std(rng, (1, 1, 190, 70))
    pk = dict(kernel_size=4, stride=1, padding=2)
    gq = _std(rng, fastconv.avg_pool(xq, **pk).shape)
    _, idx = fastconv.max_pool(xq, return_indices=True, **pk)
    xc = _std(rng, (2, 57, 45, 6), np.float32)          # channels-last, 3x3/2
    ck = dict(kernel_size=3, stride=2, padding=1, channels_last=True)
    gc = _std(rng, fastconv.max_pool(xc, **ck).shape, np.float32)
    faces += [
        ("max_pool", lambda n: fastconv.max_pool(xq, return_indices=True, workers=n, **pk)),
        ("avg_pool", lambda n: fastconv.avg_pool(xq, workers=n, **pk)),
        ("max_pool_grad", lambda n: fastconv.max_pool_grad(gq, xq, workers=n, **pk)),
        ("max_pool_grad indices",
         lambda n: fastconv.max_pool_grad(gq, xq, indices=idx, workers=n, **pk)),
        ("avg_pool_grad", lambda n: fastconv.avg_pool_grad(gq, xq.shape, workers=n, **pk)),
        ("max_pool_grad channels-last",
         lambda n: fastconv.max_pool_grad(gc, xc, workers=n, **ck)),
        ("avg_pool_grad channels-last",
         lambda n: fastconv.avg_pool_grad(gc, xc.shape, workers=n, **ck)),
    ]

    # unshared and tiled convolution
    xl = _std(rng, (2, 6, 19, 17), np.float32)
    wl = _std(rng, (19, 17, 5, 6, 3, 3), np.float32)
    gl = _std(rng, (2, 5, 19, 17), np.float32)
    wt = wl[:2, :3]
    faces += [
        ("local forward", lambda n: fastconv.local_conv(xl, wl, padding=1, workers=n)),
        ("local grad_input", lambda n: fastconv.local_conv_grad_input(
            gl, wl, xl.shape, padding=1, workers=n)),
        ("local grad_weight", lambda n: fastconv.local_conv_grad_weight(
            xl, gl, wl.shape, padding=1, workers=n)),
        ("tiled forward", lambda n: fastconv.tiled_conv(xl, wt, padding=1, workers=n)),
        ("tiled grad_weight", lambda n: fastconv.tiled_conv_grad_weight(
            xl, gl, wt.shape, padding=1, workers=n)),
    ]

    # SciPy-style filtering: blocks of rows and columns, strips at the borders
    img = _std(rng, (97, 131), np.float32)
    k7 = _std(rng, (7, 7))
    stack = _std(rng, (5, 64, 300))
    faces += [
        ("ndimage.correlate", lambda n: fastconv.ndimage.correlate(img, k7, workers=n)),
        ("ndimage.convolve stack", lambda n: fastconv.ndimage.convolve(
            stack, k7[:3, :5], mode="wrap", axes=(1, 2), workers=n)),
        ("signal.correlate", lambda n: fastconv.signal.correlate(
            img, k7, mode="same", method="direct", workers=n)),
    ]
    return faces


FACES = _faces()


def _bits(result):
    parts = result if isinstance(result, tuple) else (result,)
    return [np.ascontiguousarray(p).tobytes() for p in parts]


@pytest.mark.parametrize("name, call", FACES, ids=[f[0] for f in FACES])
def test_bitwise_the_same_for_any_workers_under_load(name, call, busy_core):
    ref = _bits(call(1))
    differing = 0
    for i in range(REPEATS):
        for n in (2, 3):
            differing += _bits(call(n)) != ref
    assert busy_core.poll() is None, "the load generator stopped early"
    assert differing == 0, f"{name}: {differing} of {2 * REPEATS} calls differ from workers=1"


THREADED = [f for f in FACES if f[0].startswith(("gemm", "pointwise", "local", "avg_pool_grad"))]


@pytest.mark.parametrize("name, call", THREADED, ids=[f[0] for f in THREADED])
def test_bitwise_the_same_from_other_python_threads(name, call, busy_core):
    """Calls from Python threads other than the main one, two at a time: BLAS
    must be kept single-threaded from any thread (threadpoolctl ignores limits
    set from a thread that does not control OpenBLAS)."""
    from concurrent.futures import ThreadPoolExecutor

    ref = _bits(call(1))
    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda i: _bits(call(2 + i % 2)), range(2 * max(REPEATS // 2, 2))))
    differing = sum(r != ref for r in results)
    assert differing == 0, f"{name}: {differing} of {len(results)} threaded calls differ"
