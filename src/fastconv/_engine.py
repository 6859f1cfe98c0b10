"""The engine's plan: tile sizes and workspaces for one geometry.

Input: arrays that the public layer has already validated and converted to
C-contiguous, channels-first, compute-dtype form (explicit padding applied).
Everything that the drivers in ``_ext/_conv.pyx`` need to know is decided
here, once per call; the drivers only loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from math import prod

import numpy as np

from fastconv import _threads
from fastconv._ext import _conv, _direct, _implicit, _scratch

# The patch tile of one thread (C*K rows x tile columns, at 8 bytes): fewer,
# larger GEMM calls.  2 threads, OpenBLAS 0.3.30, f32, 4 MiB against 512 KiB:
# grad_weight 3x3 64->64 at 56^2 0.87, 3x3/2 128 at 56^2 0.90, k9 1-d 0.92;
# forward 3x3/2 128 0.92, dilation 2 3x3 256 at 33^2 0.94; grad_input 7x7/2
# 3->64 at 224^2 0.95 (an earlier machine was flat from 256 KiB to 1 MiB and
# 20% slower at 64 KiB).
TILE_BYTES = 4 * 1024 * 1024
MIN_TILE = 64
# Below this many multiply-adds a call runs on one thread: waking a second
# costs more than it saves, and on a loaded machine a descheduled worker can
# hold the whole call at the closing barrier for milliseconds.
SERIAL_WORK = 2_000_000
# The grad_weight buckets: at most this many partial sums of the weight
# gradient, and at most this many bytes of them.
MAX_BUCKETS = 16
BUCKET_BYTES = 128 * 1024 * 1024
# The engine's own buckets (im2col + BLAS, direct) hold at most this many bytes
# (float64 sizes) in all: beyond the last-level cache their traffic costs more
# than the balance they buy.  The GEMM's items are then also split by input
# channels, into at least DW_MIN_ITEMS, of at least DW_MIN_ROWS gradient rows
# (narrower GEMMs run slower).  3x3 256->256 at 14^2, N=8, 2 threads, f32 / f64
# ms: 16 buckets 18.1 / 52.6, 2 buckets x 4 channel ranges 12.3 / 22.6, 1 x 16
# ranges of 144 rows 23.7 / -.
PARTIAL_BYTES = 10 * 1024 * 1024
DW_MIN_ITEMS = 8
DW_MIN_ROWS = 256
# Channel-wise layers (one input channel per group) with at most this many
# outputs per group run the direct kernels: as a GEMM they have M <= 4.
DIRECT_MAX_OUT_PER_GROUP = 4
# Output elements in one block of rows of the direct kernels: the block (16 KiB
# of float32) stays in L1 while every kernel tap passes over it.
DIRECT_BLOCK = 4096

_INT_MAX = 2**31 - 1  # BLAS dimensions and leading dimensions are C ints


@dataclass(frozen=True)
class Plan:
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_spatial: tuple      # as the engine sees it (explicit padding applied)
    out_spatial: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad_lo: tuple          # implicit zero padding, low side
    pointwise: bool
    direct: bool           # channel-wise: direct kernels instead of GEMM
    implicit: bool         # forward by implicit GEMM (stride 1 on the last axis)
    implicit_dx: bool      # grad_input by implicit GEMM (all strides 1)
    implicit_dw: bool      # grad_weight by the implicit tile (see implicit_dw_ok)
    tile: int              # output positions per patch tile
    rows: int              # outermost-axis outputs per block (grad_input, direct)
    buckets: int           # grad_weight: partial sums
    dw_splits: int         # grad_weight by GEMM: input-channel ranges per (group, bucket)
    threads: int
    # planes of more than _INT_MAX positions, which no BLAS leading dimension
    # can span: the GEMM drivers stage a tile's rows of y / gy in the workspace
    wide: bool = False

    @property
    def filter_ok(self):
        """Depthwise (one output per input channel), stride and dilation 1: each
        plane is a single-channel filter, the filter engine's 2-d row kernels
        beat the per-tap direct loops (8x256x28^2 3x3 float32: 1.2 vs 3.9 ms)."""
        return (self.direct and self.out_channels == self.in_channels
                and all(s == 1 for s in self.stride) and all(d == 1 for d in self.dilation))

    def _algorithm(self, implicit):
        """"pointwise", "filter", "direct", "implicit" or "gemm" (im2col + BLAS)."""
        if self.pointwise:
            return "pointwise"
        if self.direct:
            return "filter" if self.filter_ok else "direct"
        return "implicit" if implicit else "gemm"

    @property
    def forward_algorithm(self):
        return self._algorithm(self.implicit)

    @property
    def grad_input_algorithm(self):
        return self._algorithm(self.implicit_dx)

    @property
    def grad_weight_algorithm(self):
        if self.implicit_dw:
            return "implicit"
        return {"implicit": "gemm", "filter": "direct"}.get(self.forward_algorithm,
                                                            self.forward_algorithm)

    @property
    def patch_rows(self):
        return self.in_channels // self.groups * prod(self.kernel)


@lru_cache(maxsize=512)
def make_plan(geom, batch, threads):
    """A Plan for a ConvGeometry applied to ``batch`` samples (cached: it depends
    on the shapes only)."""
    in_spatial = geom.padded_spatial
    pad_lo = tuple(lo for lo, _ in geom.implicit_pad)
    P = prod(geom.out_spatial)
    wide = P > _INT_MAX or prod(in_spatial) > _INT_MAX
    # a wide 1x1 layer runs as any other GEMM (its "im2col" is a copy)
    pointwise = (all(k == 1 for k in geom.kernel) and all(s == 1 for s in geom.stride)
                 and all(p == 0 for p in pad_lo) and in_spatial == geom.out_spatial
                 and not wide)
    cg = geom.in_channels // geom.groups
    ck = cg * prod(geom.kernel)
    itemsize = 8  # the float64 size keeps plans identical across dtypes
    if pointwise:
        tile = max(MIN_TILE, TILE_BYTES // (max(cg, 1) * itemsize))
    else:
        tile = max(MIN_TILE, TILE_BYTES // (max(ck, 1) * itemsize))
    tile = max(1, min(tile, P))
    cog = geom.out_channels // geom.groups
    direct = cg == 1 and cog <= DIRECT_MAX_OUT_PER_GROUP and not pointwise
    # Row blocks (grad_input): blocks two apart must not share input rows:
    # (rows + 1) * stride > dilation * (k - 1) on the outermost axis.
    halo = geom.dilation[0] * (geom.kernel[0] - 1)
    inner = max(prod(geom.out_spatial[1:]), 1)
    block = DIRECT_BLOCK if direct else tile
    rows = max(halo // geom.stride[0] + 1, -(-block // inner))
    if direct:
        nblocks = 1 if geom.ndim == 1 else -(-geom.out_spatial[0] // rows)
        chunks = batch * nblocks
    else:
        chunks = batch * (-(-P // tile) if P else 0)
    wbytes = max(1, geom.out_channels * ck * itemsize)
    buckets = max(1, min(chunks, MAX_BUCKETS, PARTIAL_BYTES // wbytes))
    dw_splits = max(1, min(cg, ck // DW_MIN_ROWS, -(-DW_MIN_ITEMS // (geom.groups * buckets))))
    implicit = ((geom.stride[-1] == 1 or prod(geom.kernel) >= STRIDED_IMPLICIT_MIN_TAPS)
                and implicit_ok(1, geom.out_spatial[-1], cog, pointwise, direct)
                and forward_lane_use(in_spatial, pad_lo, geom) >= IMPLICIT_MIN_LANE_USE)
    implicit_dx = (all(s == 1 for s in geom.stride)
                   and implicit_ok(1, in_spatial[-1], cg, pointwise, direct))
    if batch * geom.out_channels * P * ck < SERIAL_WORK:
        threads = 1
    if not direct and max(ck, geom.out_channels) > _INT_MAX:
        # the GEMM's K (channels x taps of a group) and N (output channels):
        # weights of 2**31 elements along one of them
        raise ValueError(
            f"this convolution's weight has {max(ck, geom.out_channels)} rows or columns "
            f"of its GEMM, beyond the BLAS integer range ({_INT_MAX}); split the channels"
        )
    return Plan(batch, geom.in_channels, geom.out_channels, geom.groups, in_spatial,
                geom.out_spatial, geom.kernel, geom.stride, geom.dilation, pad_lo,
                pointwise, direct, implicit, implicit_dx,
                (implicit and IMPLICIT_DW_KERNELS and implicit_dw_ok(cog, geom.out_spatial[-1]))
                or (direct and geom.stride[-1] == 1),
                tile, rows, buckets, dw_splits, threads, wide)


def _workspace(plan, dtype):
    if plan.pointwise or plan.direct:
        return np.empty(0, dtype)
    return scratch_empty(plan.threads * workspace_per_thread(plan), dtype)


def workspace_per_thread(plan):
    """Elements of one thread's GEMM workspace: a tile of patches, and for wide
    planes a tile of rows of y or gy (ld = the tile, not the plane)."""
    staged = plan.out_channels // plan.groups * plan.tile if plan.wide else 0
    return plan.patch_rows * plan.tile + staged


def _flat(a):
    return a.reshape(-1)


def forward(plan, x, w, bias, y):
    """y = conv(x, w) + bias (tied bias or None), written into ``y``."""
    b = np.empty(0, y.dtype) if bias is None else bias
    if plan.forward_algorithm == "filter":
        return filter_forward(plan, x, w, bias, y)
    if plan.direct:
        _direct.forward(plan, _flat(x), _flat(w), b, _flat(y))
        return y
    if plan.forward_algorithm == "implicit":
        return implicit_forward(plan, x, w, bias, y)
    work = _workspace(plan, y.dtype)
    with _threads.blas_in_workers(_conv):
        _conv.forward(plan, _flat(x), _flat(w), b, _flat(y), work)
    return y


def grad_input_writes_all(plan):
    """Whether grad_input stores every element of gx (else it adds into a
    zeroed gx): the filter and implicit kernels compute each input position
    whole."""
    return plan.grad_input_algorithm in ("filter", "implicit")


def grad_input(plan, gy, w, gx):
    """gx = conv_grad_input(gy, w) on the engine's (padded) input; gx zeroed
    unless ``grad_input_writes_all(plan)``."""
    if plan.grad_input_algorithm == "filter":
        return filter_grad_input(plan, gy, w, gx)
    if plan.direct:
        _direct.grad_input(plan, _flat(gy), _flat(w), _flat(gx))
        return gx
    if plan.grad_input_algorithm == "implicit":
        return implicit_grad_input(plan, gy, w, gx)
    work = _workspace(plan, gx.dtype)
    with _threads.blas_in_workers(_conv):
        _conv.grad_input(plan, _flat(gy), _flat(w), _flat(gx), work)
    return gx


def grad_weight(plan, x, gy, gw):
    """gw = conv_grad_weight(x, gy), bitwise independent of the thread count."""
    if plan.grad_weight_algorithm == "implicit":
        return implicit_grad_weight(plan, x, gy, gw)
    if plan.buckets == 1:
        partial = _flat(gw)
    else:
        partial = scratch_empty(plan.buckets * gw.size, gw.dtype)
    if plan.direct:
        _direct.grad_weight(plan, _flat(x), _flat(gy), _flat(gw), partial)
        return gw
    work = _workspace(plan, gw.dtype)
    with _threads.blas_in_workers(_conv):
        _conv.grad_weight(plan, _flat(x), _flat(gy), _flat(gw), partial, work)
    return gw


# -- implicit GEMM (include/fastconv/igemm.h) ---------------------------------
# Used when the last axis has stride 1 (so a row segment of outputs reads a
# contiguous run of input for every (channel, tap)) and the layer is neither
# pointwise (a plain GEMM) nor channel-wise (the direct kernels).  Rows narrower
# than this, or fewer output channels per group, stay on im2col + BLAS.
IMPLICIT_MIN_WIDTH = 4
IMPLICIT_MIN_OUT_PER_GROUP = 4


# The planner takes the implicit GEMM only where a vector tile runs it
# (AVX-512, AVX2 + FMA), and the implicit grad_weight tile only where it is a
# vector one (AVX-512).  The portable C tile ran 3x3 64->64 at 56^2, N=8, in
# 192-287 ms (f32, 2 threads, AMD Zen 3) against 16.6 with im2col + OpenBLAS.
# Tests set them to exercise the portable tiles on any CPU.
IMPLICIT_KERNELS = _implicit.has_vector_kernels()
IMPLICIT_DW_KERNELS = _implicit.has_vector_grad_weight()
# The packed AVX2 tile's panels run across the rows of a block: every lane is
# used whatever the row width (no plane runs needed).
IMPLICIT_PANELS_SPAN_ROWS = _implicit.level() == "avx2"


def _cache_bytes(level, default):
    """The data cache of one core at ``level`` (Linux sysfs), else ``default``."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            d = os.path.join(base, entry)
            with open(os.path.join(d, "level")) as f:
                found = f.read().strip()
            with open(os.path.join(d, "type")) as f:
                kind = f.read().strip()
            if found == str(level) and kind in ("Data", "Unified"):
                with open(os.path.join(d, "size")) as f:
                    text = f.read().strip().upper()
                scale = {"K": 1024, "M": 1024 * 1024}.get(text[-1:], 1)
                return int(text.rstrip("KM")) * scale
    except (OSError, ValueError):
        pass
    return default


L1D_BYTES = _cache_bytes(1, 32 * 1024)
L2_BYTES = _cache_bytes(2, 512 * 1024)
_implicit.set_caches(L1D_BYTES, L2_BYTES)


def implicit_kernels_changed():
    """Re-read which implicit tiles run (after an ISA cap) and drop cached plans."""
    global IMPLICIT_KERNELS, IMPLICIT_DW_KERNELS, IMPLICIT_PANELS_SPAN_ROWS
    IMPLICIT_KERNELS = _implicit.has_vector_kernels()
    IMPLICIT_DW_KERNELS = _implicit.has_vector_grad_weight()
    IMPLICIT_PANELS_SPAN_ROWS = _implicit.level() == "avx2"
    make_plan.cache_clear()


def implicit_ok(stride_last, out_last, out_per_group, pointwise, direct):
    return (IMPLICIT_KERNELS and stride_last == 1 and out_last >= IMPLICIT_MIN_WIDTH
            and not pointwise and not direct and out_per_group >= IMPLICIT_MIN_OUT_PER_GROUP)


def tile_lane_use(width):
    """Share of the register tiles' lanes that a row of ``width`` outputs fills:
    32-lane tiles, a 16-lane one for a remainder of up to 16 (float32 lanes)."""
    rem = width % 32
    lanes = width - rem + (16 if 0 < rem <= 16 else 32 if rem else 0)
    return width / lanes


# A stride on the last axis runs the implicit forward on the phase-split input
# (_phase_split) from this many kernel taps on, where im2col copies the input
# that many times over.  2 threads, implicit / im2col + BLAS time, f32 and f64:
# 7x7/2 3->64 at 224^2 0.64 / 0.46, 5x5/2 32->64 at 64^2 0.63 / 0.70; 3x3/2 on
# 64 to 256 channels 0.92-1.10, k9/2 1-d 0.94 / 1.47.
STRIDED_IMPLICIT_MIN_TAPS = 25

# Forward falls back to im2col + BLAS below this lane use (forward_lane_use):
# 3x3 256->256 with dilation 2 at 33^2 in rows of 33 (69%) ran 163 GF/s
# implicit vs 181 with BLAS, while 56-wide rows (88%) ran 176 vs 126.  As plane
# runs (89%) that layer now ties with BLAS (30.8 ms both, N=4, f32).
IMPLICIT_MIN_LANE_USE = 0.75


def implicit_dw_ok(out_per_group, out_last):
    """Where the grad_weight tile beats im2col + BLAS, among layers whose forward
    is implicit.  2 threads, f32 / f64, tile time over BLAS time: up to 32
    outputs per group always (3x3 32->32 at 28^2 0.95 / 0.91; on an earlier
    machine 3x3x3 16->32 at 32^3 and 3x3 256 in 16 or 64 groups ran 1.4-2x
    faster); 64 on rows of 28 and more (7x7/2 3->64 at 224^2 0.75 / 0.77, 3x3
    64->64 at 56^2 0.93 / 0.86, at 28^2 0.93 / 0.97; k9 1-d 0.82 / 1.07), not on
    rows of 14 (1.14 / 1.05); 128 and more never (3x3 128->128 at 28^2 1.11 /
    1.14, 256->256 at 14^2 1.71 / 1.50)."""
    return out_per_group <= 32 or (out_per_group <= 64 and out_last >= 28)


# Paddings of at least this many bytes copy on the plan's threads.
PAD_PARALLEL_BYTES = 1 << 20

CACHE_LINE = 64


# Temporaries of at least this many bytes live on the scratch pool
# (_ext/_scratch.pyx): smaller ones come from malloc's bins, which keep them.
SCRATCH_MIN_BYTES = 64 * 1024


def scratch_empty(shape, dtype):
    """An uninitialized C-contiguous temporary starting on a cache line.

    Large ones are leased from the scratch pool, whose pages stay faulted in
    from call to call (a fresh 1.8 MB buffer costs 0.6 ms of page faults on
    the 2-core VM); the memory goes back when the last view of it dies.
    NumPy's own buffers start 16 bytes into a line, so every whole-line
    vector load of them spans two lines (the local forward's dot products,
    on cached patch rows, took half as long again)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    nbytes = prod(shape) * dtype.itemsize
    if nbytes > np.iinfo(np.intp).max // 2:
        raise MemoryError(f"cannot allocate a temporary of {nbytes} bytes")
    if nbytes >= SCRATCH_MIN_BYTES:
        return np.frombuffer(_scratch.lease(nbytes), dtype).reshape(shape)
    buf = np.empty(nbytes + CACHE_LINE, np.uint8)
    start = -buf.ctypes.data % CACHE_LINE
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def scratch_zeros(shape, dtype):
    """``scratch_empty``, zeroed."""
    a = scratch_empty(shape, dtype)
    a.fill(0)
    return a


def whole_lines(n, itemsize):
    """n elements rounded up to whole cache lines (elements)."""
    line = CACHE_LINE // itemsize
    return -(-n // line) * line


def pad_or_crop(a, pairs, slack=0, threads=1):
    """Zero-pad (or crop, for negative entries) the spatial axes (2:) of ``a``.

    The result is a temporary (``scratch_empty``) unless no padding, cropping
    or slack is asked for.  With ``slack``, its buffer extends that many zero
    elements past its end (for kernels that read whole vectors).  A large
    padding copies on ``threads`` threads."""
    pairs = tuple((int(lo), int(hi)) for lo, hi in pairs)
    if not slack and all(lo == 0 and hi == 0 for lo, hi in pairs):
        return np.ascontiguousarray(a)
    shape = a.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(a.shape[2:], pairs))
    size = prod(shape)
    flat = scratch_empty(size + slack, a.dtype)
    flat[size:] = 0
    out = flat[:size].reshape(shape)
    dst, src = [slice(None)] * 2, [slice(None)] * 2
    for n, (lo, hi) in zip(a.shape[2:], pairs):
        s0, d0 = max(-lo, 0), max(lo, 0)
        length = min(n - s0, n + lo + hi - d0)
        if length <= 0:
            out.fill(0)
            return out
        src.append(slice(s0, s0 + length))
        dst.append(slice(d0, d0 + length))
    _zero_around(out, dst)
    if (threads > 1 and a.nbytes >= PAD_PARALLEL_BYTES and a.dtype.char in "fd"
            and all(lo >= 0 and hi >= 0 for lo, hi in pairs)):
        planes = a.shape[0] * a.shape[1]
        _conv.copy_rows(np.ascontiguousarray(a).reshape(-1), flat[:size],
                        np.array((planes,) + a.shape[2:-1], np.int64),
                        np.array((planes,) + shape[2:-1], np.int64),
                        np.array((0,) + tuple(lo for lo, _ in pairs[:-1]), np.int64),
                        a.shape[-1], pairs[-1][0], threads)
    else:
        out[tuple(dst)] = a[tuple(src)]
    return out


def _zero_around(out, inner):
    """Zero ``out`` outside the box ``inner`` (a slice per axis)."""
    for j, sl in enumerate(inner):
        lead = (slice(None),) * j
        if sl.start:
            out[lead + (slice(0, sl.start),)] = 0
        if sl.stop is not None and sl.stop < out.shape[j]:
            out[lead + (slice(sl.stop, None),)] = 0


@lru_cache(maxsize=256)
def _offset_tables(in_p, out, kernel, dilation, stride, cg, phases=1):
    """(koffs, rowbase) of the implicit GEMM over a padded input of size in_p.

    koffs[c*K + t]: where (channel c, tap t) reads, relative to a row's base;
    rowbase[r]: where output row r (all axes but the last) starts reading.
    With s = ``phases`` > 1 the input is read phase-split (``_phase_split``):
    each channel holds s planes of in_p[:-1] x ceil(W/s), and a tap at column
    offset o reads plane o % s from column o // s.
    """
    s = phases
    wq = -(-in_p[-1] // s)
    plane = prod(in_p[:-1]) * wq
    instride = [prod(in_p[j + 1:-1]) * wq for j in range(len(in_p) - 1)]
    taps = np.indices(kernel).reshape(len(kernel), -1)
    last = taps[-1] * dilation[-1]
    tap_off = (sum(t * dl * st for t, dl, st in zip(taps[:-1], dilation[:-1], instride))
               + (last % s) * plane + last // s)
    koffs = (np.arange(cg)[:, None] * (s * plane) + tap_off[None, :]).reshape(-1).astype(np.int64)
    if len(out) > 1:
        rows = np.indices(out[:-1]).reshape(len(out) - 1, -1)
        rowbase = sum(r * st * ist for r, st, ist in zip(rows, stride[:-1], instride))
        rowbase = np.ascontiguousarray(rowbase, np.int64)
    else:
        rowbase = np.zeros(1, np.int64)
    koffs.flags.writeable = rowbase.flags.writeable = False  # shared through the cache
    return koffs, rowbase


def _implicit_input(xp, out, kernel, dilation, stride, cg):
    """(input, koffs, rowbase) of the implicit kernels over the padded ``xp``:
    xp itself, or split into its phases for a stride on the last axis."""
    koffs, rowbase = _offset_tables(xp.shape[2:], out, kernel, dilation, stride, cg,
                                    phases=stride[-1])
    if stride[-1] > 1:
        xp = _phase_split(xp, stride[-1])
    return xp, koffs, rowbase


def _phase_split(xp, s):
    """(N, C, *S, W) -> (N, C, s, *S, ceil(W / s)): phase q holds the columns
    q, q + s, ... of xp, so that a stride-s row of outputs reads one contiguous
    run per tap.  A phase's last column is left unset where W is not a
    multiple of s: no output's taps reach it."""
    w = xp.shape[-1]
    out = scratch_empty(xp.shape[:2] + (s,) + xp.shape[2:-1] + (-(-w // s),), xp.dtype)
    for q in range(s):
        out[:, :, q, ..., :len(range(q, w, s))] = xp[..., q::s]
    return out


# The 8-high tile runs about 5% slower per output channel than the 12-high one
# (fewer FMAs per input load); 3x3 64->64 at 28^2 f32, one thread: 86-88 against
# 78-80 GFLOP/s (12 pads 64 to 72), 32 groups of 8: 51-53 against 42-46.
TILE8_COST = 1.05


def tile_height(cog):
    """The implicit forward's register tile height for cog output channels per
    group: the one of _implicit.MR_CHOICES that pads cog least, at TILE8_COST."""
    def cost(mr):
        return -(-cog // mr) * mr * (TILE8_COST if mr == 8 else 1.0)
    return min(_implicit.MR_CHOICES, key=cost)


def _implicit_run(xp, w4, bias, y, kernel, dilation, stride, threads):
    """y = correlation of the zero-padded ``xp`` with the weight ``w4``, a
    (groups, out channels per group, in channels per group, taps) view of any
    strides."""
    n, c = xp.shape[:2]
    groups, cog = w4.shape[:2]
    cout = groups * cog
    in_p, out = xp.shape[2:], y.shape[2:]
    xp, koffs, rowbase = _implicit_input(xp, out, kernel, dilation, stride, c // groups)
    mr = tile_height(cog)
    wpk = scratch_empty(groups * -(-cog // mr) * mr * koffs.size, y.dtype)
    _implicit.pack_weights(w4, wpk, mr, threads)
    b = np.empty(0, y.dtype) if bias is None else bias
    if plane_runs(in_p, out, stride):
        # each plane of outputs as one run over the padded width; the columns
        # past each row's end are computed and dropped
        wp = in_p[-1]
        run = (out[-2] - 1) * wp + out[-1]
        yv = scratch_empty(y.shape[:-2] + (run,), y.dtype)
        _implicit.forward(_flat(xp), koffs, wpk, np.ascontiguousarray(rowbase[::out[-2]]), b,
                          _flat(yv), n, c, cout, groups, prod(xp.shape[2:]), run, 1,
                          PLANE_RUN_COLUMNS, mr, threads)
        rows = np.lib.stride_tricks.as_strided(
            yv, shape=y.shape, strides=yv.strides[:-1] + (wp * yv.itemsize, yv.itemsize),
            writeable=False)
        np.copyto(y, rows)
        return y
    wout = out[-1]
    nrows = rowbase.size
    # Blocks fixed by the shape: at least 8 row blocks per plane when there
    # are 8 rows, about 8K outputs each; long 1-d rows split into columns.
    rows_per_block = max(1, min(-(-nrows // 8), max(1, 8192 // wout)))
    if IMPLICIT_PANELS_SPAN_ROWS:
        # the packed tile passes every weight panel over the block's outputs:
        # blocks of at least PACKED_BLOCK_OUTPUTS (weights from L3 once per block)
        rows_per_block = min(nrows, max(rows_per_block, -(-PACKED_BLOCK_OUTPUTS // wout)))
    cols_per_block = wout if wout <= 4096 else 2048
    _implicit.forward(_flat(xp), koffs, wpk, rowbase, b, _flat(y), n, c, cout, groups,
                      prod(xp.shape[2:]), wout, rows_per_block, cols_per_block, mr, threads)
    return y


# Outputs per work item, at least, on the packed AVX2 tile: 3x3 256->256 at
# 14^2 (2-row blocks: 28 outputs) streamed its 2.4 MB of weights once per 2
# panels and ran 104 GF/s on 2 Zen 3 cores; whole 196-output planes ran 144.
PACKED_BLOCK_OUTPUTS = 512

# Columns per work item of a plane run: a block of input rows that stays in L2
# while every output-channel panel passes over it.
PLANE_RUN_COLUMNS = 256


def plane_runs(in_p, out, stride):
    """Whether the implicit forward runs each 2-d plane of outputs as one
    stretch of the padded input (stride 1 on the last two axes), filling the
    vector lanes that rows of out[-1] leave empty (a 33-wide row fills 33 of
    48, a 33-wide plane of rows 37 apart 33 of 37) for an extra copy of y."""
    if IMPLICIT_PANELS_SPAN_ROWS or len(out) < 2 or stride[-1] != 1 or stride[-2] != 1:
        return False
    return out[-1] / in_p[-1] >= tile_lane_use(out[-1]) + PLANE_RUN_MIN_GAIN


PLANE_RUN_MIN_GAIN = 0.05


def forward_lane_use(in_spatial, pad_lo, geom):
    """The implicit forward's share of used vector lanes, plane runs included;
    in_spatial and pad_lo as in the plan (the padded width is what the forward
    reads)."""
    out, st = geom.out_spatial, geom.stride
    span = _span(out[-1], st[-1], geom.dilation[-1], geom.kernel[-1])
    padded = tuple(in_spatial[:-1]) + (max(in_spatial[-1] + pad_lo[-1], span),)
    if IMPLICIT_PANELS_SPAN_ROWS:
        return 1.0
    if plane_runs(padded, out, st):
        return out[-1] / padded[-1]
    return tile_lane_use(out[-1])


def implicit_forward(plan, x, w, bias, y):
    """Forward by implicit GEMM (plan.implicit); x is the engine's input."""
    xp = pad_or_crop(x, [(lo, _hi(plan, j)) for j, lo in enumerate(plan.pad_lo)],
                     threads=plan.threads)
    g = plan.groups
    w4 = w.reshape(g, plan.out_channels // g, plan.in_channels // g, -1)
    return _implicit_run(xp, w4, bias, y, plan.kernel, plan.dilation, plan.stride,
                         plan.threads)


def _span(out, stride, dilation, kernel):
    """Input elements a forward of ``out`` outputs reads along one axis."""
    return (out - 1) * stride + dilation * (kernel - 1) + 1


def _hi(plan, j):
    """High-side zero padding the forward reads on axis j (derived, never stored)."""
    span = _span(plan.out_spatial[j], plan.stride[j], plan.dilation[j], plan.kernel[j])
    return max(span - plan.in_spatial[j] - plan.pad_lo[j], 0)


def implicit_grad_input(plan, gy, w, gx):
    """grad_input with all strides 1: the correlation of the gradient, padded by
    dilation*(k-1) - pad on each side, with the flipped, group-transposed kernel."""
    g, cout, c = plan.groups, plan.out_channels, plan.in_channels
    cog, cg = cout // g, c // g
    # gx[i] = sum_t w[t] gy[i + lo - t*dl]: pad dl*(k-1) - lo below, in - out + lo above
    pairs = [(dl * (k - 1) - lo, plan.in_spatial[j] + lo - plan.out_spatial[j])
             for j, (k, dl, lo) in enumerate(zip(plan.kernel, plan.dilation, plan.pad_lo))]
    gyp = pad_or_crop(gy, pairs, threads=plan.threads)
    # reversing every kernel axis reverses the flattened taps
    wt = w.reshape(g, cog, cg, -1)[:, :, :, ::-1].swapaxes(1, 2)
    return _implicit_run(gyp, wt, None, gx, plan.kernel, plan.dilation,
                         (1,) * len(plan.kernel), plan.threads)


# grad_weight chunks: about this many output positions per (sample, rows) chunk,
# so that the horizontal reduction of the partial sums is amortised.
IMPLICIT_DW_CHUNK = 4096
IMPLICIT_DW_K_PER_ITEM = 96


def implicit_grad_weight(plan, x, gy, gw):
    """grad_weight by the implicit tile (on the phase-split input for a stride
    on the last axis), reduced over a fixed number of buckets in a fixed order."""
    xp = pad_or_crop(x, [(lo, _hi(plan, j)) for j, lo in enumerate(plan.pad_lo)],
                     threads=plan.threads)
    cg = plan.in_channels // plan.groups
    xp, koffs, rowbase = _implicit_input(xp, plan.out_spatial, plan.kernel, plan.dilation,
                                         plan.stride, cg)
    wout = plan.out_spatial[-1]
    rows_per_chunk = max(1, min(rowbase.size, IMPLICIT_DW_CHUNK // wout))
    chunks = plan.batch * -(-rowbase.size // rows_per_chunk)
    buckets = max(1, min(chunks, MAX_BUCKETS, BUCKET_BYTES // max(1, gw.nbytes)))
    partial = scratch_zeros((buckets,) + gw.shape, gw.dtype)
    _implicit.grad_weight(_flat(xp), koffs, _flat(gy), rowbase, _flat(partial), plan.batch,
                          plan.in_channels, plan.out_channels, plan.groups, prod(xp.shape[2:]),
                          wout, rows_per_chunk, buckets, IMPLICIT_DW_K_PER_ITEM, plan.threads)
    np.add.reduce(partial, axis=0, out=gw)
    return gw


# -- depthwise through the filter engine (fastconv._filtering) ----------------

def _filter_planes(a, kernel_planes, lo, out, threads):
    """out[n, c] = plane a[n, c] correlated with kernel_planes[c], zero padding."""
    from fastconv import _filtering

    n, c = a.shape[:2]
    spatial = out.shape[2:]
    kernels = np.ascontiguousarray(np.broadcast_to(kernel_planes, (n,) + kernel_planes.shape))
    _filtering.direct(np.ascontiguousarray(a).reshape((n * c,) + a.shape[2:]),
                      kernels.reshape((n * c,) + kernel_planes.shape[1:]), tuple(lo),
                      ("constant",) * len(spatial), 0.0, tuple(spatial), threads,
                      out=out.reshape((n * c,) + spatial))
    return out


def filter_forward(plan, x, w, bias, y):
    _filter_planes(x, w[:, 0], plan.pad_lo, y, plan.threads)
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * len(plan.kernel))
    return y


def filter_grad_input(plan, gy, w, gx):
    """gx[i] = sum_t w[t] gy[i + lo - t]: the flipped kernel over the gradient."""
    flip = (slice(None),) + (slice(None, None, -1),) * len(plan.kernel)
    lo = [k - 1 - p for k, p in zip(plan.kernel, plan.pad_lo)]
    return _filter_planes(gy, w[:, 0][flip], lo, gx, plan.threads)
