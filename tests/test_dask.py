"""fastconv.dask.conv: a chunked dask graph that computes exactly fastconv.conv.

Checked against the in-memory ``fastconv.conv`` (equal, or within 1e-6 / 1e-12
of max|y| where the engine's summation order depends on the block: see the
Notes of ``fastconv.dask.conv``) and against the
slow loops of ``tests/reference.py``; plus the graph's shape (really chunked,
every output block reads only the input blocks under its window) and the
argument errors.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
import dask
import reference as R
from dask.core import get_dependencies

import fastconv
import fastconv.dask as fdask

MODES = R.PADDING_MODES
CLOSE = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12,
         np.dtype(np.float16): 1e-3}


def assert_matches(got, ref, exact=False):
    """dtype and shape; values equal (``exact``) or within CLOSE of max|ref|."""
    got = np.asarray(got)
    assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, got.shape,
                                                              ref.dtype, ref.shape)
    if exact or np.array_equal(got, ref):
        np.testing.assert_array_equal(got, ref)
        return
    scale = float(np.max(np.abs(ref.astype(np.float64)))) if ref.size else 0.0
    tol = CLOSE[ref.dtype]
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


def both(x, w, b=None, chunks=None, exact=False, **kw):
    """dask result vs fastconv.conv; returns the (lazy) dask result."""
    y = fdask.conv(da.from_array(x, chunks=chunks or x.shape), w, b, **kw)
    ref = fastconv.conv(x, w, b, **kw)
    assert y.shape == ref.shape and y.dtype == ref.dtype
    assert_matches(y.compute(scheduler="sync"), ref, exact)
    return y


# -- random problems and chunkings --------------------------------------------

@st.composite
def chunkings(draw, shape):
    """Per axis: one chunk, or random (ragged) chunk sizes."""
    chunks = []
    for n in shape:
        if n <= 1 or draw(st.booleans()):
            chunks.append(n)
            continue
        sizes, left = [], n
        while left:
            sizes.append(draw(st.integers(1, left)))
            left -= sizes[-1]
        chunks.append(tuple(sizes))
    return tuple(chunks)


@settings(max_examples=80)
@given(case=R.conv_cases(), data=st.data())
def test_random_cases_match_conv_and_reference(case, data):
    rng = np.random.default_rng(7)
    x, w, b = case.arrays(rng)
    case.require_conditioned(x=x, w=w, b=b)
    chunks = data.draw(chunkings(x.shape))
    y = both(x, w, b, chunks, **case.kwargs())
    R.assert_close(y.compute(scheduler="sync"), case.ref_forward(x, w, b), dtype=y.dtype,
                   what=repr(case))


# -- every padding mode, chunks smaller than the halo, stride with ragged chunks --

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_modes_tiny_chunks_against_reference(mode, d, rng):
    spatial = {1: (13,), 2: (9, 8), 3: (6, 5, 7)}[d]
    kernel = {1: (5,), 2: (3, 4), 3: (3, 2, 3)}[d]
    x = rng.standard_normal((2, 3) + spatial)
    w = rng.standard_normal((4, 3) + kernel)
    kw = dict(padding="full", dilation=2, padding_mode=mode)  # halo 2*(k-1) > chunk 1..2
    chunks = (1, 3) + tuple(tuple(_ragged(n, (1, 2))) for n in spatial)
    y = both(x, w, None, chunks, **kw)
    assert all(nb > 1 for nb in y.numblocks[2:])
    R.assert_close(y.compute(scheduler="sync"), R.conv_forward(x, w, **kw))


def _ragged(n, sizes):
    out, i = [], 0
    while sum(out) < n:
        out.append(min(sizes[i % len(sizes)], n - sum(out)))
        i += 1
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stride", [2, 3, (3, 2)])
def test_stride_with_ragged_chunks(mode, stride, rng):
    x = rng.standard_normal((3, 2, 23, 19)).astype(np.float32)
    w = rng.standard_normal((5, 2, 3, 5)).astype(np.float32)
    for padding in ("same", ((2, 1), (0, 3)), "valid"):
        kw = dict(stride=stride, padding=padding, padding_mode=mode)
        y = both(x, w, None, ((2, 1), 1, (5, 7, 4, 7), (3, 10, 6)), **kw)
        assert y.numblocks[0] == 2 and y.numblocks[2] > 1 and y.numblocks[3] > 1
        R.assert_close(y.compute(scheduler="sync"), R.conv_forward(x, w, **kw))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_bitwise_equal_where_the_engine_is_position_independent(mode, rng, implicit_everywhere):
    """The implicit-GEMM and direct kernels, and the filter engine on explicitly
    padded input, compute a point the same way wherever it sits: equality.
    (The implicit GEMM is used here even where the planner would not take it.)"""
    x = rng.standard_normal((4, 8, 70, 96)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    both(x, w, rng.standard_normal(16), (3, 8, 30, 64), exact=True, padding=1,
         padding_mode=mode)
    dw = rng.standard_normal((2, 6, 40, 50)).astype(np.float32)
    for mult in (1, 2):                                           # filter / direct
        both(dw, rng.standard_normal((6 * mult, 1, 5, 5)).astype(np.float32), None,
             (1, 6, 17, 20), exact=True, padding=2, groups=6, padding_mode=mode)
    # chunks of 125 outputs: every block takes the implicit path, as the whole
    # does (a last block of 8 would fall to im2col + BLAS, which rounds apart)
    both(rng.standard_normal((2, 4, 500)), rng.standard_normal((8, 4, 5)), None, (1, 4, 125),
         exact=True, padding="same", dilation=3, padding_mode=mode)
    # single-channel image filtering; with zeros conv pads implicitly and the
    # filter engine's border columns round differently: close, not equal
    img = rng.standard_normal((1, 1, 200, 150))
    both(img, rng.standard_normal((1, 1, 7, 7)), None, (1, 1, 64, 50),
         exact=mode != "zeros", padding="same", padding_mode=mode)


def test_wide_padding_wraps_and_mirrors_more_than_once(rng):
    """Pads wider than the input (and than a chunk) follow ndimage mirror/wrap."""
    x = rng.standard_normal((1, 2, 4))
    w = rng.standard_normal((3, 2, 3))
    for mode in MODES:
        kw = dict(padding=((9, 7),), padding_mode=mode)
        y = both(x, w, None, (1, 2, (1, 3)), **kw)
        R.assert_close(y.compute(), R.conv_forward(x, w, **kw))


def test_mean_mode_with_a_single_spatial_chunk_is_exact(rng):
    x = rng.standard_normal((4, 3, 20, 21)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    both(x, w, None, (1, 3, 20, 21), exact=True, padding=2, padding_mode="mean")


# -- layouts, groups, bias, dtypes ----------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_channels_last_unbatched_groups_dilation_bias(mode, rng):
    x = rng.standard_normal((15, 12, 6))                      # unbatched, channels-last
    w = rng.standard_normal((9, 2, 3, 2))                      # groups=3
    kw = dict(padding=(2, (1, 3)), dilation=(2, 3), groups=3, padding_mode=mode,
              channels_last=True)
    out_spatial = fastconv.conv(x, w, **kw).shape[:-1]
    for bias in (rng.standard_normal(9), rng.standard_normal((9,) + out_spatial)):
        y = both(x, w, bias, (4, 5, 6), **kw)
        assert y.ndim == 3 and y.numblocks[:2] == (4, 3)
        ref = R.conv_forward(np.moveaxis(x, -1, 0)[None], w, bias, **{
            k: v for k, v in kw.items() if k != "channels_last"})
        R.assert_close(y.compute(), np.moveaxis(ref[0], 0, -1))


def test_lazy_untied_bias_and_chunked_channel_axis(rng):
    x = rng.standard_normal((2, 6, 17, 13))
    w = rng.standard_normal((4, 6, 3, 3))
    b = rng.standard_normal((4, 17, 13))
    xd = da.from_array(x, chunks=(1, 2, 5, 6))                # channels split in 3
    bd = da.from_array(b, chunks=(1, 9, 4))
    y = fdask.conv(xd, w, bd, padding="same", padding_mode="reflect")
    assert y.chunks[1] == (4,) and y.numblocks[2] > 1
    assert_matches(y.compute(), fastconv.conv(x, w, b, padding="same",
                                              padding_mode="reflect"))


@pytest.mark.parametrize("xdt,wdt", [(np.float32, np.float32), (np.float64, np.float64),
                                     (np.float32, np.float64), (np.int16, np.int32),
                                     (np.float16, np.float16), (bool, np.float32)])
def test_dtype_policy(xdt, wdt, rng):
    x = (rng.standard_normal((2, 3, 11, 10)) * 4).astype(xdt)
    w = (rng.standard_normal((2, 3, 3, 3)) * 2).astype(wdt)
    y = both(x, w, None, (1, 3, 4, 5), padding=1, padding_mode="replicate")
    assert y.dtype == fastconv.conv(x[:1, :, :3, :3], w).dtype


def test_workers_do_not_change_values(rng):
    x = rng.standard_normal((2, 16, 40, 40)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    xd = da.from_array(x, chunks=(1, 16, 20, 40))
    a = fdask.conv(xd, w, padding=1).compute()              # workers=1, threaded scheduler
    b = fdask.conv(xd, w, padding=1, workers=None).compute(scheduler="sync")
    np.testing.assert_array_equal(a, b)
    assert_matches(a, fastconv.conv(x, w, padding=1))


def test_empty_results_and_no_input_channels(rng):
    w = rng.standard_normal((3, 2, 3))
    both(np.zeros((0, 2, 9)), w, None, None, padding=1)          # no samples
    both(rng.standard_normal((2, 2, 2)), w, None, None)          # kernel wider than x
    both(np.zeros((2, 2, 0)), w, None, None, padding=2)          # zeros pad an empty axis
    b = rng.standard_normal(4)
    both(np.zeros((2, 0, 7)), np.zeros((4, 0, 3)), b, ((1, 1), 0, (3, 4)), padding=1,
         padding_mode="reflect")                                  # bias only


# -- the graph -------------------------------------------------------------------

def _input_blocks(dsk, key, name):
    """The blocks of array ``name`` that output ``key`` reads, directly or through
    the small halo-strip tasks; and the ones it holds directly."""
    direct = [k for k in get_dependencies(dsk, key) if k[0] == name]
    via = [k for h in get_dependencies(dsk, key) if h[0].startswith("fastconv-conv-halo")
           for k in get_dependencies(dsk, h)]
    assert all(k[0] == name for k in via)
    return set(direct) | set(via), set(direct)


def test_graph_is_chunked_and_local(rng):
    x = rng.standard_normal((4, 2, 40, 36))
    xd = da.from_array(x, chunks=(2, 2, 10, 12))
    w = rng.standard_normal((3, 2, 5, 5))
    y = fdask.conv(xd, w, padding="same")                       # zeros: halo 2 each side
    assert y.numblocks == (2, 1, 4, 3) and y.chunks[2:] == xd.chunks[2:]
    dsk = dict(y.__dask_graph__())
    for key in _flat_keys(y):
        reads, holds = _input_blocks(dsk, key, xd.name)
        _, b, _, i, j = key
        assert holds == {(xd.name, b, 0, i, j)}                 # neighbours: strips only
        assert {k[1] for k in reads} == {b}
        assert {k[3] for k in reads} == set(range(max(i - 1, 0), min(i + 2, 4)))
        assert {k[4] for k in reads} == set(range(max(j - 1, 0), min(j + 2, 3)))
    # circular: the first block also reads the last one (and only those)
    y = fdask.conv(xd, w, padding="same", padding_mode="circular")
    dsk = dict(y.__dask_graph__())
    reads, _ = _input_blocks(dsk, (y.name, 0, 0, 0, 1), xd.name)
    assert {k[3] for k in reads} == {3, 0, 1} and {k[4] for k in reads} == {0, 1, 2}
    assert_matches(y.compute(), fastconv.conv(x, w, padding="same", padding_mode="circular"))


def _flat_keys(y):
    out = []

    def walk(k):
        if isinstance(k, list):
            for i in k:
                walk(i)
        else:
            out.append(k)
    walk(y.__dask_keys__())
    return out


def test_no_task_holds_the_whole_input(rng):
    """Every task of the graph sees at most a neighbourhood of blocks."""
    x = da.random.default_rng(0).standard_normal((1, 1, 600, 600), chunks=(1, 1, 100, 100))
    y = fdask.conv(x, np.ones((1, 1, 9, 9)) / 81, padding="same", padding_mode="reflect")
    dsk = dict(y.__dask_graph__())
    for key in _flat_keys(y):
        assert len(get_dependencies(dsk, key)) <= 9 + 1        # 3x3 blocks + the weights
    got = y[:, :, 250:350, 250:350].compute()
    ref = fastconv.conv(x[:, :, 246:354, 246:354].compute(), np.ones((1, 1, 9, 9)) / 81)
    assert_matches(got, ref)


# -- errors -------------------------------------------------------------------------

def test_errors(rng):
    x = da.from_array(rng.standard_normal((2, 3, 8, 8)), chunks=(1, 3, 4, 4))
    w = rng.standard_normal((4, 3, 3, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        fdask.conv(x, w, padding=1, padding_mode="mirror")
    with pytest.raises(TypeError, match="dask"):
        fdask.conv(x.compute(), w)
    with pytest.raises(TypeError, match="complex"):
        fdask.conv(x.astype(complex), w)
    with pytest.raises(ValueError, match="padding"):
        fdask.conv(x, w, padding="half")
    with pytest.raises(ValueError, match="stride"):
        fdask.conv(x, w, stride=0)
    with pytest.raises(ValueError, match="bias"):
        fdask.conv(x, w, np.ones(3))
    with pytest.raises(ValueError, match="bias"):
        fdask.conv(x, w, da.ones((4, 7, 7)))
    with pytest.raises(TypeError):
        fdask.conv(x, w, out=np.empty((2, 4, 6, 6)))
    # the same messages as fastconv.conv
    for kw in (dict(groups=2), dict(padding_mode="wrap"), dict(dilation=(1, 2, 3))):
        with pytest.raises(ValueError) as ours:
            fdask.conv(x, w, **kw)
        with pytest.raises(ValueError) as theirs:
            fastconv.conv(x.compute(), w, **kw)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="dimensions"):
        fdask.conv(x[0, 0], w)
    empty = da.zeros((1, 3, 0, 5), chunks=(1, 3, 1, 5))
    with pytest.raises(ValueError, match="empty spatial"):
        fdask.conv(empty, w, padding=2, padding_mode="reflect")
    unknown = x[x[:, 0, 0, 0] > -10]                                # nan chunk sizes
    with pytest.raises(ValueError, match="chunk sizes"):
        fdask.conv(unknown, w)


def test_import_fastconv_does_not_import_dask():
    code = "import sys, fastconv; sys.exit('dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_doctest():
    import doctest
    assert doctest.testmod(fdask, optionflags=doctest.ELLIPSIS).failed == 0


def test_default_scheduler_threads(rng):
    x = rng.standard_normal((3, 4, 33, 31)).astype(np.float32)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    with dask.config.set(scheduler="threads"):
        y = fdask.conv(da.from_array(x, chunks=(1, 2, 8, 9)), w, padding="same",
                       padding_mode="mean").compute()
    assert_matches(y, fastconv.conv(x, w, padding="same", padding_mode="mean"))


# -- a real cluster: worker processes ----------------------------------------------

def test_weights_are_in_the_graph_once(rng):
    """Every block task refers to one weights key: the graph holds the weights once."""
    import pickle
    x = da.from_array(rng.standard_normal((4, 16, 32, 32)), chunks=(1, 16, 8, 8))
    w = rng.standard_normal((32, 16, 5, 5))                        # 102 kB
    y = fdask.conv(x, w, rng.standard_normal(32), padding="same")
    dsk = dict(y.__dask_graph__())
    blocks = [k for k in dsk if k[0] == y.name]
    assert len(blocks) == 64
    weight_keys = [k for k, v in dsk.items() if isinstance(v, tuple) and v
                   and isinstance(v[0], np.ndarray) and v[0].shape == w.shape]
    assert len(weight_keys) == 1
    conv_only = {k: v for k, v in dsk.items() if k[0] != x.name}   # not the input chunks
    assert len(pickle.dumps(conv_only)) < 1.5 * w.nbytes


def test_distributed_local_cluster_with_worker_processes(rng):
    """Chunks and the weights pickled to 2 worker processes give conv's result."""
    distributed = pytest.importorskip("distributed")
    x = rng.standard_normal((3, 4, 41, 37)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 5)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    kw = dict(stride=(1, 2), padding="same", padding_mode="reflect")
    ref = fastconv.conv(x, w, b, **kw)
    x64 = rng.standard_normal((2, 4, 30, 30))
    w64 = rng.standard_normal((4, 2, 3, 3))
    kw64 = dict(dilation=2, padding=3, padding_mode="circular", groups=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        y = fdask.conv(da.from_array(x, chunks=(1, 4, 16, 12)), w, b, **kw)
        y64 = fdask.conv(da.from_array(x64, chunks=(1, 4, 7, 11)), w64, **kw64)
        got, got64 = client.compute([y, y64], sync=True)
        pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    assert_matches(got, ref)
    assert_matches(got64, fastconv.conv(x64, w64, **kw64))
