"""``python -m fastconv``: configuration and a short self-check against a
slow reference; ``python -m fastconv bench ...``: the peer comparison."""

from __future__ import annotations

import sys
import time

import numpy as np


def _reference_conv(x, w, stride, padding, dilation, groups):
    """Direct loops from the formula, channels-first, (lo, hi) zero padding."""
    n, c, *spatial = x.shape
    cout, cg, *kernel = w.shape
    d = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + list(padding))
    out = [(xp.shape[2 + j] - dilation[j] * (kernel[j] - 1) - 1) // stride[j] + 1
           for j in range(d)]
    y = np.zeros((n, cout, *out))
    cog = cout // groups
    for o in range(cout):
        g = o // cog
        for t in np.ndindex(*kernel):
            sl = tuple(slice(t[j] * dilation[j], t[j] * dilation[j] + (out[j] - 1) * stride[j] + 1,
                             stride[j]) for j in range(d))
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + sl]
            y[:, o] += np.tensordot(patch, w[(o, slice(None)) + t], axes=([1], [0]))
    return y


def self_check(seconds=2.0):
    """Random convolutions against the reference for about ``seconds``."""
    import fastconv

    rng = np.random.default_rng(0)
    deadline = time.perf_counter() + seconds
    count = 0
    worst = 0.0
    while time.perf_counter() < deadline or count < 3:
        d = int(rng.integers(1, 4))
        groups = int(rng.choice([1, 2]))
        # up to 3 channels per group reach the GEMM and direct kernels, wider
        # output groups the implicit GEMM's register tiles
        cg, cog = int(rng.integers(1, 4)), int(rng.choice([1, 2, 3, 13, 24]))
        kernel = tuple(int(k) for k in rng.integers(1, 4, d))
        stride = tuple(int(s) for s in rng.integers(1, 3, d))
        dilation = tuple(int(s) for s in rng.integers(1, 3, d))
        padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (d, 2)))
        spatial = tuple(int(s) for s in rng.integers(6, 12 if d < 3 else 8, d))
        x = rng.standard_normal((2, cg * groups, *spatial))
        w = rng.standard_normal((cog * groups, cg, *kernel))
        for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-4)):
            y = fastconv.conv(x.astype(dtype), w.astype(dtype), stride=stride, padding=padding,
                              dilation=dilation, groups=groups)
            ref = _reference_conv(x, w, stride, padding, dilation, groups)
            err = np.max(np.abs(y - ref)) / max(np.max(np.abs(ref)), 1e-300)
            worst = max(worst, err / tol)
            if not err <= tol:
                print(f"self-check FAILED: {dtype.__name__} d={d} kernel={kernel} "
                      f"stride={stride} dilation={dilation} padding={padding} "
                      f"groups={groups}: relative error {err:.3g} > {tol}")
                return 1
        count += 1
    print(f"self-check passed: {count} random convolutions (float32 and float64) agree "
          f"with the reference loops (worst error {worst:.2g} of the tolerance)")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":
        from fastconv._bench import main as bench_main
        return bench_main(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    import fastconv
    fastconv.show_config()
    return self_check()


if __name__ == "__main__":
    sys.exit(main())
