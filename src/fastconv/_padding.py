"""Explicit padding for the non-zero ``padding_mode``s, and its adjoint.

Zero padding is implicit in the packing; the other modes pad a copy of the
input here, with scipy.ndimage's semantics also for pads wider than the
input: reflect = 'mirror', replicate = 'nearest', circular = 'wrap';
'mean' fills with the per-(sample, channel) mean of the input.

Each mode is a linear map P from the input to the padded input.  The
gradient w.r.t. the input of a padded convolution is P^T applied to the
gradient w.r.t. the padded input; ``pad_adjoint`` applies exactly that,
slab by slab, in the reverse order of ``pad``.
"""

from __future__ import annotations

from math import prod

import numpy as np


def source_index(n, lo, hi, mode):
    """For each padded position along one axis, the input index it copies."""
    j = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    if mode == "circular":
        return np.mod(j, n)
    if mode == "reflect":
        if n == 1:
            return np.zeros_like(j)
        period = 2 * (n - 1)
        m = np.mod(j, period)
        return np.where(m >= n, period - m, m)
    raise ValueError(f"no index map for padding_mode {mode!r}")


def _check(x_spatial, pad, mode):
    for n, (lo, hi) in zip(x_spatial, pad):
        if n == 0 and lo + hi > 0:
            raise ValueError(
                f"padding_mode={mode!r} cannot pad an empty spatial dimension "
                f"(input spatial shape {tuple(x_spatial)})"
            )


def pad(x, pad_pairs, mode):
    """Pad the spatial axes (2:) of a channels-first array."""
    spatial = x.shape[2:]
    _check(spatial, pad_pairs, mode)
    ndim = len(spatial)
    out_shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pad_pairs))
    xp = np.empty(out_shape, x.dtype)
    interior = tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, pad_pairs))
    if mode == "mean":
        mean = x.mean(axis=tuple(range(2, 2 + ndim)), keepdims=True) if x.size else 0
        xp[...] = mean
        xp[(slice(None), slice(None)) + interior] = x
        return xp
    xp[(slice(None), slice(None)) + interior] = x
    # After axis a, the region {full on axes < a, interior on axes >= a} is set.
    for a, (n, (lo, hi)) in enumerate(zip(spatial, pad_pairs)):
        if lo == 0 and hi == 0:
            continue
        src = source_index(n, lo, hi, mode) + lo
        head = (slice(None),) * (2 + a)
        tail = interior[a + 1:]
        for j in list(range(lo)) + list(range(lo + n, lo + n + hi)):
            xp[head + (j,) + tail] = xp[head + (src[j],) + tail]
    return xp


def pad_adjoint(g, spatial, pad_pairs, mode):
    """P^T g: fold the gradient w.r.t. the padded input back onto the input."""
    ndim = len(spatial)
    interior = tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, pad_pairs))
    if mode == "mean":
        outside = g.copy()
        outside[(slice(None), slice(None)) + interior] = 0
        axes = tuple(range(2, 2 + ndim))
        count = prod(spatial)
        dx = g[(slice(None), slice(None)) + interior].copy()
        if count:
            dx += outside.sum(axis=axes, keepdims=True) / count
        return dx
    g = g.copy()
    for a in reversed(range(ndim)):
        n, (lo, hi) = spatial[a], pad_pairs[a]
        if lo == 0 and hi == 0:
            continue
        src = source_index(n, lo, hi, mode) + lo
        head = (slice(None),) * (2 + a)
        tail = interior[a + 1:]
        for j in list(range(lo)) + list(range(lo + n, lo + n + hi)):
            g[head + (src[j],) + tail] += g[head + (j,) + tail]
    return g[(slice(None), slice(None)) + interior]
