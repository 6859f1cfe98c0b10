"""Helpers shared by the asv benchmark modules (not benchmarks themselves).

asv runs the *current* benchmark files against builds of older commits, so a
benchmark whose op a commit does not have must skip, not fail: ``need`` looks
the op up and raises ``NotImplementedError`` (asv's "skip" signal in setup).
"""

import statistics
import time

import numpy as np

DTYPES = ["float32", "float64"]


def need(path):
    """``need("signal.correlate")`` -> ``fastconv.signal.correlate``, or skip."""
    import importlib

    try:
        obj = importlib.import_module("fastconv")
        for part in path.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                # a submodule not imported by fastconv/__init__ (fastconv.dask)
                obj = importlib.import_module(f"{obj.__name__}.{part}")
    except ImportError as exc:
        raise NotImplementedError(f"fastconv.{path}: {exc}") from None
    return obj


def rand(shape, dtype, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def median_time(fn, repeat=5):
    """Median wall time of ``repeat`` calls of ``fn`` (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def speedup(baseline, candidate, repeat=5):
    """baseline time / candidate time, the two interleaved (round robin) so that
    load on the shared machine hits both alike; medians of ``repeat`` samples."""
    baseline()
    candidate()
    tb, tc = [], []
    for i in range(repeat):
        pair = ((baseline, tb), (candidate, tc))
        for fn, acc in (pair if i % 2 == 0 else pair[::-1]):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return statistics.median(tb) / statistics.median(tc)
