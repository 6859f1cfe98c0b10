"""Thread control: the OpenMP pool under threadpoolctl, OMP_NUM_THREADS,
set_num_threads, threads(n) and workers=, and their order of precedence."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv._ext import _runtime

from reference import conv_forward

threadpoolctl = pytest.importorskip("threadpoolctl")
needs_openmp = pytest.mark.skipif(not _runtime.openmp_enabled(),
                                  reason="built without OpenMP")


def _run_python(code, **env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    # the same fastconv as this process, wherever it is installed
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p])
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@needs_openmp
def test_importing_fastconv_adds_an_openmp_pool_to_threadpoolctl():
    code = """if True:
        import json, numpy, scipy.linalg, threadpoolctl
        def omp():
            return sorted(i["filepath"] for i in threadpoolctl.threadpool_info()
                          if i["user_api"] == "openmp")
        before = omp()
        import fastconv
        fastconv.conv(numpy.ones((1, 1, 8)), numpy.ones((1, 1, 3)))
        print(json.dumps([before, omp()]))
    """
    before, after = json.loads(_run_python(code))
    added = set(after) - set(before)
    assert added, f"no OpenMP runtime became visible: before {before}, after {after}"
    assert any("omp" in os.path.basename(p) for p in added), added


@needs_openmp
@pytest.mark.parametrize("limit", [1, 2])
def test_threadpool_limits_govern_the_default(limit):
    default = fastconv.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=limit, user_api="openmp"):
        assert _runtime.omp_max_threads() == limit
        assert fastconv.get_num_threads() == limit
        info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
        assert info and all(i["num_threads"] == limit for i in info)
    assert fastconv.get_num_threads() == default


@needs_openmp
def test_precedence_workers_over_threads_over_set_num_threads_over_openmp():
    """OMP_NUM_THREADS=1 sets the OpenMP default; each layer above overrides it."""
    code = """if True:
        import fastconv, threadpoolctl
        seen = [fastconv.get_num_threads()]
        fastconv.set_num_threads(2)
        seen.append(fastconv.get_num_threads())
        with fastconv.threads(1):
            seen.append(fastconv.get_num_threads())
            with fastconv.threads(None):
                seen.append(fastconv.get_num_threads())
        with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
            seen.append(fastconv.get_num_threads())  # the library default still wins
        fastconv.set_num_threads(None)
        seen.append(fastconv.get_num_threads())
        print(seen)
    """
    assert _run_python(code, OMP_NUM_THREADS="1") == "[1, 2, 1, 2, 2, 1]"


def test_threads_none_restores_the_default_inside_a_block():
    default = fastconv.get_num_threads()
    with fastconv.threads(1):
        with fastconv.threads(None):
            assert fastconv.get_num_threads() == default
        assert fastconv.get_num_threads() == 1


@needs_openmp
def test_results_under_any_thread_control_match_the_reference():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 8, 40, 40))
    w = rng.standard_normal((16, 8, 3, 3))
    ref = conv_forward(x, w, padding=1)
    outs = []
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        outs.append(fastconv.conv(x, w, padding=1))
    with fastconv.threads(2):
        outs.append(fastconv.conv(x, w, padding=1))
    outs.append(fastconv.conv(x, w, padding=1, workers=2))
    np.testing.assert_allclose(outs[0], ref, rtol=1e-10, atol=1e-10)
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])


@pytest.mark.parametrize("n", [0, 1, 5, 4099, 100003])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_stream_read_probe_reads_every_word(n, nthreads):
    """The bench's bandwidth probe: the OR of all words, whatever the split."""
    rng = np.random.default_rng(n)
    words = np.zeros(n, np.uint64)
    if n:
        words[rng.integers(0, n, 3)] = 1 << rng.integers(0, 64, 3, dtype=np.uint64)
    assert _runtime.stream_read(words, nthreads) == np.bitwise_or.reduce(words)
