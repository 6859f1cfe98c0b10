"""Filtering an image larger than the memory budget through ``fastconv.dask.conv``.

What it shows
-------------
* A large float32 image is defined lazily as a dask array: a smooth pattern
  plus noise, generated block by block from a fixed seed, so no block exists
  before a task needs it (the default 12288 x 12288 image is 576 MiB in
  1024 x 1024 blocks; ``--size 16384`` gives the 1 GiB one).
* ``fastconv.dask.conv`` blurs it with a 9x9 Gaussian -- a (1, 1, 9, 9) weight,
  ``padding="same"``, ``padding_mode="reflect"`` (mirror borders).  Each output
  block is one task that reads its input block and the 4-pixel halo from its
  neighbours (copied out by small tasks of their own, so a neighbour block is
  released as soon as it is no longer needed); the result keeps the input's
  chunks.
* The blurred image is only ever reduced: the RMS of the noise before and
  after the blur, and a small view of block means, in one pass over the
  graph.  The peak resident memory is printed next to the image size (about
  260 MiB, interpreter and libraries included, for the 576 MiB and the 1 GiB
  image alike).
* Two windows of the result (one at a random interior position, one at the
  bottom-right corner where the mirror padding acts) are recomputed in memory
  with ``fastconv.conv`` on the window plus its halo and compared; the script
  exits with status 1 if they differ by more than float32 rounding.

Run it
------
    python examples/dask_large_image.py                 # 12288^2, ~4 s on 2 cores
    python examples/dask_large_image.py --quick         # 4096^2, about a second
    python examples/dask_large_image.py --size 16384    # the 1 GiB image, ~8 s
    python examples/dask_large_image.py --size 16384 --chunk 2048
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

REQUIRES = ("dask",)  # optional dependencies beyond fastconv's own (see tests/test_examples.py)


def clean_block(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The noise-free pattern on a grid of row and column indices (float32)."""
    r = rows[:, None].astype(np.float32)
    c = cols[None, :].astype(np.float32)
    return (0.5 + 0.25 * np.sin(r * np.float32(2 * np.pi / 700))
            * np.cos(c * np.float32(2 * np.pi / 900))).astype(np.float32)


def lazy_images(size: int, chunk: int, seed: int, noise: float):
    """(clean, noisy): size x size float32 dask arrays, chunk x chunk blocks.

    The noise of a block is drawn from a generator seeded by (seed, block row,
    block column): every recomputation of a block gives the same values.
    """
    import dask.array as da

    def make(block_info=None, with_noise=True):
        info = block_info[None]
        (r0, r1), (c0, c1) = info["array-location"]
        img = clean_block(np.arange(r0, r1), np.arange(c0, c1))
        if with_noise:
            rng = np.random.default_rng((seed,) + tuple(info["chunk-location"]))
            img += np.float32(noise) * (rng.random(img.shape, dtype=np.float32) - 0.5)
        return img

    chunks = da.core.normalize_chunks(chunk, (size, size))
    noisy = da.map_blocks(make, chunks=chunks, dtype=np.float32, meta=np.empty((0, 0), np.float32))
    clean = da.map_blocks(make, chunks=chunks, dtype=np.float32, with_noise=False,
                          meta=np.empty((0, 0), np.float32))
    return clean, noisy


def gaussian(size: int, sigma: float) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def check_window(noisy, blurred, w, r0, c0, side) -> tuple[bool, bool, float]:
    """Recompute blurred[r0:r0+side, c0:c0+side] in memory with fastconv.conv.

    The window is read with its halo; where the halo leaves the image, conv's own
    reflect padding of that side stands in (the mirror only reads pixels that
    lie inside the window), so the in-memory call is exactly the same map.
    """
    import fastconv

    n = noisy.shape[0]
    h = (w.shape[-1] - 1) // 2
    r1, c1 = r0 + side, c0 + side
    a, b, c, d = max(r0 - h, 0), min(r1 + h, n), max(c0 - h, 0), min(c1 + h, n)
    pads = ((a - (r0 - h), (r1 + h) - b), (c - (c0 - h), (c1 + h) - d))
    x_win = noisy[a:b, c:d].compute()
    ref = fastconv.conv(x_win[None, None], w, padding=pads, padding_mode="reflect")[0, 0]
    got = blurred[r0:r1, c0:c1].compute()
    err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    return bool(np.array_equal(got, ref)), err <= 1e-5, err


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=12288, help="image side (default 12288)")
    parser.add_argument("--chunk", type=int, default=1024, help="block side (default 1024)")
    parser.add_argument("--kernel", type=int, default=9, help="Gaussian side (default 9)")
    parser.add_argument("--sigma", type=float, default=2.0, help="Gaussian width (default 2)")
    parser.add_argument("--noise", type=float, default=0.4,
                        help="peak-to-peak amplitude of the uniform noise (default 0.4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a 4096^2 image")
    args = parser.parse_args(argv)
    if args.quick:
        args.size = min(args.size, 4096)

    try:
        import dask
        import dask.array as da
    except ImportError:
        print("check: FAILED, this example needs dask (pip install 'dask[array]')")
        return 1
    import fastconv.dask

    t0 = time.perf_counter()
    n = args.size
    clean, noisy = lazy_images(n, args.chunk, args.seed, args.noise)
    w = gaussian(args.kernel, args.sigma)[None, None]                 # (1, 1, k, k)
    blurred = fastconv.dask.conv(noisy[None, None], w, padding="same",
                                 padding_mode="reflect")[0, 0]
    gib = n * n * 4 / 2**30
    print(f"image {n} x {n} float32 ({gib:.2f} GiB), {noisy.numblocks[0]} x "
          f"{noisy.numblocks[1]} blocks of {args.chunk}^2; blur {args.kernel}x{args.kernel} "
          f"sigma {args.sigma}, reflect borders; result blocks {blurred.numblocks}")

    # One pass: noise RMS before and after, and the block means (a small view).
    rms_before = da.sqrt(da.mean((noisy - clean) ** 2, dtype=np.float64))
    rms_after = da.sqrt(da.mean((blurred - clean) ** 2, dtype=np.float64))
    view = blurred.map_blocks(lambda b: np.full((1, 1), b.mean(dtype=np.float64)),
                              chunks=(1, 1), dtype=np.float64)
    with dask.config.set(scheduler="threads"):
        rms_before, rms_after, view = da.compute(rms_before, rms_after, view)
    t_pass = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB -> MiB on Linux
    print(f"noise RMS {rms_before:.4f} -> {rms_after:.4f} after the blur; block-mean view "
          f"{view.shape}, range [{view.min():.4f}, {view.max():.4f}]")
    print(f"one pass over the image: {t_pass:.1f} s, peak resident memory {peak:.0f} MiB "
          f"(the image alone is {gib * 1024:.0f} MiB)")

    rng = np.random.default_rng(args.seed)
    side = min(256, n)
    windows = [("interior", int(rng.integers(0, n - side + 1)), int(rng.integers(0, n - side + 1))),
               ("corner", n - side, n - side)]
    ok = rms_after < 0.5 * rms_before
    for name, r0, c0 in windows:
        equal, close, err = check_window(noisy, blurred, w, r0, c0, side)
        ok &= close
        print(f"window {name} [{r0}:{r0 + side}, {c0}:{c0 + side}] vs fastconv.conv in memory: "
              f"{'bitwise equal' if equal else f'max rel. difference {err:.1e}'}")
    print(f"check: {'OK' if ok else 'FAILED'} ({time.perf_counter() - t0:.1f} s in total)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
