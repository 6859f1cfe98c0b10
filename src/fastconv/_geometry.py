"""ConvGeometry: the one place where stride, padding, dilation, groups and
layout are normalised and every size is computed.

Forward convolution, its two adjoints (grad_input = transposed convolution,
grad_weight), pooling and the adapters all build a ``ConvGeometry`` and read
sizes from it; nothing else in the package does index arithmetic on shapes.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import lru_cache

PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "mean")

# The C engine keeps per-dimension arrays of this length on the stack.
MAX_SPATIAL_DIMS = 16


def _as_int(value, name):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of ints, got {value!r}"
        ) from None


def normalize_tuple(value, ndim, name, *, minimum=None):
    """An int or a sequence of ``ndim`` ints -> a tuple of ``ndim`` ints."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}")
    try:
        items = list(value)
    except TypeError:
        items = [_as_int(value, name)] * ndim
    else:
        if len(items) == 1 and ndim != 1:
            items = items * ndim
        if len(items) != ndim:
            raise ValueError(
                f"{name} must be an int or have one entry per spatial dimension "
                f"({ndim}), got {value!r}"
            )
        items = [_as_int(v, name) for v in items]
    if minimum is not None and any(v < minimum for v in items):
        raise ValueError(f"{name} must be >= {minimum} in every dimension, got {value!r}")
    return tuple(items)


def conv_out_size(size, k, stride, dilation, lo, hi, ceil_mode=False):
    """Output length of a correlation; 0 when the kernel does not fit.

    ``ceil_mode`` (pooling) rounds the window count up, as torch does, but
    drops a last window that would start past the input and its low padding.
    """
    span = size + lo + hi - dilation * (k - 1)
    if span <= 0:
        return 0
    if not ceil_mode:
        return (span - 1) // stride + 1
    out = -(-(span - 1) // stride) + 1
    return out - 1 if (out - 1) * stride >= size + lo else out


def same_padding(size, k, stride, dilation):
    """``"same"``: output ceil(size / stride); the odd remainder goes high."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def normalize_padding(padding, in_spatial, kernel, stride, dilation):
    """Every accepted ``padding`` form -> a tuple of (lo, hi) pairs."""
    ndim = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            return tuple(
                same_padding(n, k, s, d)
                for n, k, s, d in zip(in_spatial, kernel, stride, dilation)
            )
        if padding == "full":
            return tuple((d * (k - 1),) * 2 for k, d in zip(kernel, dilation))
        raise ValueError(
            f"padding must be an int, a sequence, 'valid', 'same' or 'full', got {padding!r}"
        )
    try:
        items = list(padding)
    except TypeError:
        p = _as_int(padding, "padding")
        pairs = ((p, p),) * ndim
    else:
        if len(items) == 1 and ndim != 1:
            items = items * ndim
        if len(items) != ndim:
            raise ValueError(
                f"padding must have one entry per spatial dimension ({ndim}), got {padding!r}"
            )
        pairs = []
        for item in items:
            if isinstance(item, (str, bytes)):
                raise TypeError(f"padding entries must be ints or (lo, hi) pairs, got {padding!r}")
            try:
                pair = list(item)
            except TypeError:
                p = _as_int(item, "padding")
                pairs.append((p, p))
            else:
                if len(pair) != 2:
                    raise ValueError(
                        f"padding entries must be ints or (lo, hi) pairs, got {padding!r}"
                    )
                pairs.append((_as_int(pair[0], "padding"), _as_int(pair[1], "padding")))
        pairs = tuple(pairs)
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pairs


def _cache_key(value):
    """``value`` as nested tuples of exact ints, strs and tagged bools, or None.

    Exact types only: 2.0 == 2 and True == 1 would otherwise share a cache
    entry with a valid argument and skip its validation."""
    if type(value) in (int, str):
        return value
    if type(value) is bool:
        return ("bool", value)
    if type(value) in (tuple, list):
        items = tuple(_cache_key(v) for v in value)
        return None if any(i is None for i in items) else items
    return None


def _uncache_key(key):
    if type(key) is tuple:
        if len(key) == 2 and key[0] == "bool" and type(key[1]) is bool:
            return key[1]
        return tuple(_uncache_key(k) for k in key)
    return key


@dataclass(frozen=True)
class ConvGeometry:
    """Normalised geometry of one N-d correlation (channels-first view).

    ``in_spatial`` is the size of the input the correlation reads; ``pad``
    holds (lo, hi) per dimension.  With ``padding_mode="zeros"`` the engine
    pads implicitly; any other mode is applied explicitly (see ``conv.py``)
    and the engine then sees ``implicit_pad`` of zeros.
    """

    in_spatial: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad: tuple
    out_spatial: tuple
    in_channels: int
    out_channels: int
    groups: int
    padding_mode: str = "zeros"
    ceil_mode: bool = False

    @classmethod
    def create(cls, in_spatial, kernel, *, in_channels, out_channels, stride=1,
               padding=0, dilation=1, groups=1, padding_mode="zeros", ceil_mode=False):
        """Validate and normalise; cached when every argument is hashable (a
        training loop asks for the same geometry over and over)."""
        args = (in_spatial, kernel, in_channels, out_channels, stride, padding, dilation,
                groups, padding_mode, ceil_mode)
        key = _cache_key(args)
        if key is None:
            return cls._create(*args)
        return cls._create_cached(*key)

    @classmethod
    @lru_cache(maxsize=1024)
    def _create_cached(cls, *key):
        return cls._create(*(_uncache_key(k) for k in key))

    @classmethod
    def _create(cls, in_spatial, kernel, in_channels, out_channels, stride, padding, dilation,
                groups, padding_mode, ceil_mode):
        in_spatial = tuple(int(n) for n in in_spatial)
        kernel = tuple(int(k) for k in kernel)
        ndim = len(kernel)
        if ndim < 1:
            raise ValueError("a convolution needs at least one spatial dimension")
        if ndim > MAX_SPATIAL_DIMS:
            raise NotImplementedError(
                f"at most {MAX_SPATIAL_DIMS} spatial dimensions are supported, got {ndim}"
            )
        if len(in_spatial) != ndim:
            raise ValueError(
                f"input has {len(in_spatial)} spatial dimensions but the kernel has {ndim}"
            )
        stride = normalize_tuple(stride, ndim, "stride", minimum=1)
        dilation = normalize_tuple(dilation, ndim, "dilation", minimum=1)
        groups = _as_int(groups, "groups")
        if groups < 1:
            raise ValueError(f"groups must be a positive int, got {groups}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups={groups} must divide both in_channels={in_channels} "
                f"and out_channels={out_channels}"
            )
        if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        pad = normalize_padding(padding, in_spatial, kernel, stride, dilation)
        out_spatial = tuple(
            conv_out_size(n, k, s, d, lo, hi, bool(ceil_mode))
            for n, k, s, d, (lo, hi) in zip(in_spatial, kernel, stride, dilation, pad)
        )
        return cls(in_spatial, kernel, stride, dilation, pad, out_spatial,
                   in_channels, out_channels, groups, padding_mode, bool(ceil_mode))

    # -- derived sizes -------------------------------------------------------
    @property
    def ndim(self):
        return len(self.kernel)

    @property
    def implicit_pad(self):
        """The (lo, hi) pairs the engine pads with zeros itself."""
        if self.padding_mode == "zeros":
            return self.pad
        return ((0, 0),) * self.ndim

    @property
    def padded_spatial(self):
        """Input size after explicit (non-zero mode) padding."""
        if self.padding_mode == "zeros":
            return self.in_spatial
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.in_spatial, self.pad))

    @property
    def is_pointwise(self):
        """1x1, stride 1, no padding: every face is a plain GEMM."""
        return (all(k == 1 for k in self.kernel) and all(s == 1 for s in self.stride)
                and all(lo == 0 and hi == 0 for lo, hi in self.pad))

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups) + self.kernel
