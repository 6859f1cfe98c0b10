"""The single-channel filter engine behind ``fastconv.signal`` and ``fastconv.ndimage``.

Both public modules validate their arguments and reduce every call to one
canonical problem, on C-contiguous arrays of the compute dtype:

    y[b, o] = sum_t w[b or 0, t] * ext(x[b])[o + t]      (cross-correlation)

    x : (B, *S)   B planes (the batch axes, flattened) of d filtered axes
    w : (Bw, *K)  one kernel (Bw = 1) or one per plane (Bw = B)
    y : (B, *O)

``ext`` extends each filtered axis j by a boundary ``mode`` after a shift
``lo[j]``: output o along j reads input index ``o - lo[j] + t``, mapped into
range by the mode ('constant' reads ``cval``).  SciPy's full/same/valid
modes, fill/wrap/symm boundaries, ndimage modes and origins are all choices
of (lo, mode, O).

Three ways to compute it:

* ``direct``: the C engine (include/fastconv/filter.h): padded strips,
  register-blocked SIMD rows, a thread pool over blocks of rows and
  columns; rank-1 2-d kernels as a row pass and a column pass;
* ``fft``: scipy.fft on the extended input (real or complex, with workers);
* ``exact``: integer sums in int64 (modular, as SciPy's integer loops)
  or long double, with NumPy (shift and add), for what the C kernels'
  float32/float64 cannot represent exactly.

``choose_method`` is the cost model of ``method='auto'``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from math import log2, prod

import numpy as np

from fastconv._ext import _filter

MODES = ("constant", "reflect", "mirror", "nearest", "wrap")

# Bytes of input rows one block copies into its strip (per thread), before
# the floor of max(12, kh) rows.  Measured on 2048^2 images, k x k kernels,
# medians of 9 interleaved runs (ms, 32 / 64 / 192 / 512 KiB):
#   float32 k=5, 1 thread   3.39 / 3.61 / 3.72 / 3.86;  2 threads 1.96 / 2.09 / 2.17 / 2.06
#   float32 k=9, 1 thread   7.15 / 7.50 / 8.47 / 8.24;  2 threads 3.88 / 3.94 / 4.12 / 3.89
#   float64 k=9, 1 thread  20.97 / 21.24 / 22.47 / 22.47; 2 threads 14.8 / 14.2 / 14.5 / 14.7
# (small strips stay in L1/L2; below 64 KiB the floor decides anyway).
STRIP_BYTES = 64 * 1024
# Work items per thread, at least, when the image is split into row blocks.
ITEMS_PER_THREAD = 4
# Multiply-adds per thread, at least: below, waking a helper costs more than
# it saves (a wake-up is 10-50 us; 2^17 multiply-adds take ~10 us).
MIN_WORK_PER_THREAD = 1 << 17
# Dense kernels at least this tall run fc_rows2d (each load feeds several
# output rows): measured 2048x1024 float32, AVX-512, one thread, kh = kw:
# k=3 0.85 vs 0.99 ms (taps faster), k=5 1.96 vs 1.80, k=9 6.1 vs 4.1,
# k=31 74 vs 43 ms.  The column pass of a separable kernel likewise.
ROWS2D_MIN_KH = 5
# Interior columns are read from the source rows in place, not copied into
# the strip: 2048^2, one thread, ms strip-only -> in place: float32 3x3
# 3.18 -> 2.54, 5x5 4.27 -> 3.45; float64 3x3 6.05 -> 5.16, 5x5 8.38 -> 7.32.
# But source rows a multiple of 4 KiB apart share L1 sets: with kh + 3 or
# more rows in flight they exceed its 12 ways (9x9: 8.42 -> 9.03, 16.95 ->
# 17.76), so taller kernels on such rows use the (padded-stride) strip.
IN_PLACE_MAX_KH = 5
# |w| <= this is no tap at all for scipy.ndimage (it skips such weights).
NDIMAGE_EPS = float(np.finfo(np.float64).eps)


# -- boundary index maps ------------------------------------------------------

def index_map(n, lo, length, mode):
    """Source index along one axis of each extended position e < length.

    Position e holds input index ``e - lo`` brought into [0, n) by ``mode``
    (scipy.ndimage's definitions, for any distance from the input), or -1
    where ``mode`` is 'constant' and the index is outside.
    """
    j = np.arange(length, dtype=np.int64) - lo
    if n == 0:
        return np.full(length, -1, np.int64)
    if mode == "constant":
        return np.where((j >= 0) & (j < n), j, -1)
    if mode == "nearest":
        return np.clip(j, 0, n - 1)
    if mode == "wrap":
        return np.mod(j, n)
    if mode == "reflect":           # d c b a | a b c d | d c b a  (period 2n)
        m = np.mod(j, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    if mode == "mirror":            # d c b | a b c d | c b a      (period 2n - 2)
        if n == 1:
            return np.zeros(length, np.int64)
        m = np.mod(j, 2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    raise ValueError(f"unknown boundary mode {mode!r}")


@dataclass(frozen=True)
class AxisMap:
    """index_map(n, lo, length, mode) stored by its parts: the identity run
    [a, b) (position e reads e - lo), and the tabulated borders."""

    lo: int
    a: int
    b: int
    src_lo: np.ndarray   # positions [0, a)
    src_hi: np.ndarray   # positions [b, length)

    @classmethod
    def create(cls, n, lo, length, mode):
        a = min(max(lo, 0), length)
        b = max(a, min(lo + n, length))
        full_lo = index_map(n, lo, a, mode)
        hi = index_map(n, lo - b, length - b, mode)  # positions b.. as 0..
        return cls(lo, a, b, np.ascontiguousarray(full_lo), np.ascontiguousarray(hi))


def extend(x, lo, modes, cval, out_shape, kernel):
    """The extended input: (B, *(O + K - 1)) with every boundary applied."""
    xe = x
    for j, (n, o, k, l, m) in enumerate(zip(x.shape[1:], out_shape, kernel, lo, modes)):
        src = index_map(n, l, o + k - 1, m)
        axis = j + 1
        if (src < 0).any():
            pad = [(0, 0)] * xe.ndim
            pad[axis] = (0, 1)
            xe = np.pad(xe, pad, constant_values=cval)
            src = np.where(src < 0, n, src)
        xe = np.take(xe, src, axis=axis)
    return xe


# -- the plan of the direct engine -------------------------------------------

@dataclass(frozen=True)
class FilterPlan:
    """Everything ``_filter.run`` needs for one geometry (cached and shared:
    never modified)."""

    nd: int
    in_shape: tuple
    out_shape: tuple
    kernel: tuple
    maps: list
    in_size: int
    out_size: int
    rows: int
    blocks: int
    cols: int
    cblocks: int
    outer: int
    items: int
    ss: int
    n_outer: int
    tap_start: np.ndarray
    tap_off: np.ndarray
    tap_off_in: np.ndarray | None
    ntaps: int
    w_stride: int
    dense: bool
    separable: bool
    h_off: np.ndarray | None
    v_off: np.ndarray | None
    tmp_stride: int
    strip_elems: int
    threads: int


def _round_up(n, m):
    return -(-n // m) * m


def _row_stride(ncols, itemsize):
    """Strip row stride: whole 64-byte lines, and not a multiple of 4 KiB
    (rows a multiple of 4 KiB apart alias in L1 and in load-store forwarding)."""
    per_line = 64 // itemsize
    ss = _round_up(max(ncols, 1), per_line)
    if (ss * itemsize) % 4096 == 0:
        ss += per_line
    return ss


def _blocking(out_rows, out_cols, kh, kw, itemsize, planes, threads):
    """(rows, cols): output rows and columns of one block.

    The strip of a block, (rows + kh - 1) x (cols + kw - 1), should fit
    STRIP_BYTES, with at least max(12, kh) rows (else the kh - 1 halo rows
    are most of the copy); rows are multiples of 12 (the register blocks of
    the kernels are 3 and 4 rows) when large.  Columns are split only when a
    row is too wide for that, or when there are too few items for the
    threads (a long 1-d signal is one row).
    """
    budget = STRIP_BYTES // itemsize
    min_rows = min(out_rows, max(12, kh))
    rows = max(min_rows, budget // max(out_cols + kw - 1, 1) - (kh - 1))
    rows = max(1, min(out_rows, rows))
    cols = out_cols
    if (rows + kh - 1) * (cols + kw - 1) > 2 * budget:
        cols = max(64, _round_up(max(budget // (rows + kh - 1) - (kw - 1), 1), 64))
    want = ITEMS_PER_THREAD * threads if threads > 1 else 1
    blocks = lambda r, c: planes * -(-out_rows // r) * -(-out_cols // c)  # noqa: E731
    if blocks(rows, cols) < want:
        # fewer rows per block (not below the kernel height), then fewer columns
        need_rows = -(-want // (planes * -(-out_cols // cols)))
        rows = max(min(rows, max(kh, 4)), -(-out_rows // need_rows))
        if blocks(rows, cols) < want:
            need_cols = -(-want // (planes * -(-out_rows // rows)))
            cols = max(256, _round_up(-(-out_cols // need_cols), 64))
    if rows >= 12:
        rows = rows // 12 * 12
    return rows, min(cols, max(out_cols, 1))


def rank1(w2, compute):
    """(u, v) with w2 == outer(u, v) to the working precision, else None."""
    if w2.ndim != 2 or not np.isfinite(w2).all():
        return None
    u_, s, vt = np.linalg.svd(np.asarray(w2, np.float64))
    if s[0] == 0:
        return None
    tol = 32 * np.finfo(compute).eps
    if s.size > 1 and s[1] > tol * s[0]:
        return None
    root = np.sqrt(s[0])
    return u_[:, 0] * root, vt[0] * root


@functools.lru_cache(maxsize=256)
def _geometry_plan(in_shape, out_shape, kernel, lo, modes, batch, per_plane, keep_key,
                   separable, threads, itemsize):
    """The FilterPlan of one geometry (cached: every argument is hashable), and
    the (outer tap, tap) indices of the weights in the order of its taps.

    ``keep_key``: None (every tap), or the bytes of the (n_outer, kh*kw) mask
    of the taps to keep.
    """
    nd = len(kernel)
    L, R = nd - 1, nd - 2
    maps = [AxisMap.create(n, l, o + k - 1, m)
            for n, o, k, l, m in zip(in_shape, out_shape, kernel, lo, modes)]
    n_in = in_shape[L]
    kh, kw = kernel[R], kernel[L]
    outer = prod(out_shape[:R])
    rows, cols = _blocking(out_shape[R], out_shape[L], kh, kw, itemsize, batch * outer,
                           threads)
    blocks = -(-out_shape[R] // rows) if out_shape[R] else 0
    cblocks = -(-out_shape[L] // cols) if out_shape[L] else 0
    ss = _row_stride(cols + kw - 1, itemsize)
    nin = rows + kh - 1
    items = batch * outer * blocks * cblocks
    common = dict(nd=nd, in_shape=in_shape, out_shape=out_shape, kernel=kernel, maps=maps,
                  in_size=prod(in_shape), out_size=prod(out_shape), rows=rows, blocks=blocks,
                  cols=cols, cblocks=cblocks, outer=outer, items=items, ss=ss,
                  threads=threads)
    if separable:
        tmp_stride = _row_stride(cols, itemsize)
        plan = FilterPlan(**common, n_outer=1, tap_start=np.zeros(2, np.int64),
                          tap_off=np.zeros(0, np.int64), tap_off_in=None, ntaps=0,
                          w_stride=0, dense=kh >= ROWS2D_MIN_KH, separable=True,
                          h_off=np.arange(kw, dtype=np.int64),
                          v_off=np.arange(kh, dtype=np.int64) * tmp_stride,
                          tmp_stride=tmp_stride, strip_elems=nin * (ss + tmp_stride))
        return plan, None, None

    n_outer = prod(kernel[:R])
    if keep_key is None:
        keep = np.ones((n_outer, kh * kw), bool)
    else:
        keep = np.frombuffer(keep_key, bool).reshape(n_outer, kh * kw)
    p_idx, q_idx = np.divmod(np.arange(kh * kw), kw)
    tap_start = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
    u_idx, t_idx = np.nonzero(keep)
    tap_off = (p_idx[t_idx] * ss + q_idx[t_idx]).astype(np.int64)
    # interior columns read the source rows in place (no copy into the strip)
    # unless the rows alias in L1 (see IN_PLACE_MAX_KH)
    in_place = maps[L].b > maps[L].a and (
        kh <= IN_PLACE_MAX_KH or (n_in * itemsize) % 4096 != 0)
    tap_off_in = (p_idx[t_idx] * n_in + q_idx[t_idx]).astype(np.int64) if in_place else None
    ntaps = int(tap_start[-1])
    plan = FilterPlan(**common, n_outer=n_outer, tap_start=tap_start, tap_off=tap_off,
                      tap_off_in=tap_off_in, ntaps=ntaps,
                      w_stride=ntaps if per_plane else 0,
                      dense=bool(keep.all()) and kh >= ROWS2D_MIN_KH, separable=False,
                      h_off=None, v_off=None, tmp_stride=0, strip_elems=nin * ss)
    return plan, u_idx, t_idx


def make_plan(in_shape, out_shape, kernel, lo, modes, batch, w, *, skip_eps, separable,
              threads, itemsize):
    """A FilterPlan, and the weights in the order of its taps.

    ``w`` is (Bw, *K) in the compute dtype.  ``skip_eps``: leave out taps with
    ``|w| <= NDIMAGE_EPS`` (scipy.ndimage's rule).  ``separable``: the (u, v)
    factors of a rank-1 2-d kernel to run as two passes, or None.
    """
    kernel = tuple(kernel)
    nd = len(kernel)
    kh, kw = kernel[nd - 2], kernel[nd - 1]
    Bw = w.shape[0]
    wk = w.reshape(Bw, -1, kh * kw)
    keep_key = None
    if skip_eps and separable is None:
        keep = np.abs(wk[0]) > NDIMAGE_EPS
        if not keep.all():
            keep_key = keep.tobytes()
    plan, u_idx, t_idx = _geometry_plan(
        tuple(in_shape), tuple(out_shape), kernel, tuple(lo), tuple(modes), batch, Bw > 1,
        keep_key, separable is not None, threads, itemsize)
    if separable is not None:
        u, v = separable
        return plan, np.concatenate([v, u]).astype(w.dtype)
    if keep_key is None:
        return plan, np.ascontiguousarray(wk.reshape(-1))
    return plan, np.ascontiguousarray(wk[:, u_idx, t_idx].reshape(-1))


# -- the three ways -------------------------------------------------------------

def _as_planes(x, w, lo, modes, out_shape):
    """Give the engine at least two filtered axes (a 1-d filter is a 2-d one
    with a 1-row kernel; with one kernel for all planes, the planes are its rows)."""
    if x.ndim - 1 >= 2:
        return x, w, tuple(lo), tuple(modes), tuple(out_shape)
    B = x.shape[0]
    if w.shape[0] == 1 and B > 0:
        x = x.reshape((1, B) + x.shape[1:])
        return x, w[:, None], (0,) + tuple(lo), ("constant",) + tuple(modes), \
            (B,) + tuple(out_shape)
    return x[:, None], w[:, None], (0,) + tuple(lo), ("constant",) + tuple(modes), \
        (1,) + tuple(out_shape)


def direct(x, w, lo, modes, cval, out_shape, threads, *, skip_eps=False,
           allow_separable=True, out=None):
    """The C engine.  x (B, *S) and w (Bw, *K) C-contiguous float32/float64."""
    B = x.shape[0]
    y_shape = (B,) + tuple(out_shape)
    y = np.empty(y_shape, x.dtype) if out is None else out
    if y.size == 0:
        return y
    xs, ws, lo_, modes_, out_ = _as_planes(x, w, lo, modes, out_shape)
    kernel = ws.shape[1:]
    sep = None
    if (allow_separable and ws.shape[0] == 1 and len(kernel) == 2
            and separable_pays(kernel)):
        sep = rank1(ws[0], x.dtype)
        if sep is not None and skip_eps and not (np.abs(ws) > NDIMAGE_EPS).all():
            sep = None
    madds = prod(y_shape) * (sum(kernel) if sep is not None else prod(kernel))
    threads = max(1, min(threads, madds // MIN_WORK_PER_THREAD))
    plan, taps = make_plan(xs.shape[1:], out_, kernel, lo_, modes_, xs.shape[0],
                           ws, skip_eps=skip_eps, separable=sep, threads=threads,
                           itemsize=x.dtype.itemsize)
    work = np.empty(max(1, threads * plan.strip_elems), x.dtype)
    _filter.run(plan, xs.reshape(-1), taps.astype(x.dtype, copy=False),
                x.dtype.type(cval), y.reshape(-1), work)
    return y


def separable_pays(kernel):
    """A rank-1 kh x kw kernel as two passes: kh + kw taps (and one more pass
    over a row buffer) instead of kh * kw.  Measured on 2048^2 float32 (time
    separable / direct, 1 and 2 threads): 3x3 0.93 / 1.01, 5x5 1.01 / 0.97,
    7x7 0.79 / 0.80, 9x9 0.70 / 0.68, 15x15 0.54 / 0.53."""
    kh, kw = kernel
    return kh * kw > 2 * (kh + kw) + 12


def fft(x, w, lo, modes, cval, out_shape, threads):
    """Correlation through scipy.fft on the extended input (no conjugation)."""
    import scipy.fft as sfft

    d = x.ndim - 1
    axes = tuple(range(1, d + 1))
    B = x.shape[0]
    kernel = w.shape[1:]
    y_shape = (B,) + tuple(out_shape)
    if prod(y_shape) == 0:
        return np.zeros(y_shape, x.dtype)
    real = x.dtype.kind != "c" and w.dtype.kind != "c"
    zero_pad = all(m == "constant" for m in modes) and cval == 0
    if zero_pad:
        # Circular correlation of x itself: y[o] = c[(o - lo) mod M], exact when
        # M >= n + lo (the low pad wraps into zeros) and M >= out - lo + k - 1.
        xe, start = x, [-l for l in lo]
        need = [max(n + l, o - l + k - 1)
                for n, o, k, l in zip(x.shape[1:], out_shape, kernel, lo)]
    else:
        xe, start = extend(x, lo, modes, cval, out_shape, kernel), [0] * d
        need = list(xe.shape[1:])
    shape = [sfft.next_fast_len(int(n), real=real) for n in need]
    if real:
        X = sfft.rfftn(xe, shape, axes=axes, workers=threads)
        X *= np.conj(sfft.rfftn(w, shape, axes=axes, workers=threads))
        c = sfft.irfftn(X, shape, axes=axes, workers=threads)
    else:
        X = sfft.fftn(xe, shape, axes=axes, workers=threads)
        # y[o] = sum_t xe[o + t] w[t]  =  ifft(X * conj(fft(conj(w))))
        X *= np.conj(sfft.fftn(np.conj(w), shape, axes=axes, workers=threads))
        c = sfft.ifftn(X, shape, axes=axes, workers=threads)
    del X
    y = np.empty(y_shape, c.dtype)
    # copy out the wanted window of the circular result, in at most 2^d pieces
    pieces = [[(0, o)] if s >= 0 else [(0, min(-s, o)), (min(-s, o), o)]
              for s, o in zip(start, out_shape)]
    for part in itertools.product(*pieces):
        dst = tuple(slice(a, b) for a, b in part)
        src = tuple(slice((a + s) % m, (a + s) % m + (b - a))
                    for (a, b), s, m in zip(part, start, shape))
        if all(b > a for a, b in part):
            y[(slice(None),) + dst] = c[(slice(None),) + src]
    return y


def exact(x, w, lo, modes, cval, out_shape):
    """Shift and add in the dtype of x (int64: modular sums; long double),
    for sums the float kernels cannot hold exactly."""
    kernel = w.shape[1:]
    xe = extend(x, lo, modes, cval, out_shape, kernel)
    y = np.zeros((x.shape[0],) + tuple(out_shape), np.result_type(x, w))
    if y.size == 0:
        return y
    with np.errstate(over="ignore"):
        for t in np.ndindex(*kernel):
            wt = w[(slice(None),) + t].reshape((-1,) + (1,) * len(kernel))
            if not wt.any():
                continue
            sl = (slice(None),) + tuple(slice(a, a + o) for a, o in zip(t, out_shape))
            y += wt * xe[sl]
    return y


# -- method='auto' --------------------------------------------------------------

# The cost model of method='auto', fitted to this library's own kernels on the
# 2-core AVX-512 machine (least squares on log times; interleaved medians of 3
# runs at 1 and 2 threads; 'same' correlations of 256^2, 1024^2 and 2048^2
# images with k x k kernels k = 3..63, 1-d signals of 2^12..2^20 with
# k = 17..4097, a (16, 256, 256) stack with k = 5..31, 64^3 volumes with
# k = 3..11; 70 cases per dtype):
#
#   direct = D0 + n_out * (A * taps + MEM) / threads
#   fft    = F0 + C * B * M log2(M) / threads**ALPHA   (M: FFT points of one
#            plane; a single 1-d transform gets no speedup from threads)
#
#              A (ns)   MEM (ns)  D0 (us)  C (ns)   F0 (us)  ALPHA
#   float32    0.037    1.05      114      1.51     156      0.70
#   float64    0.060    2.09       79      2.00     111      0.30
#
# Picking by the model: auto/best time 1.017 on average for float32 (worst
# 1.59: 2048^2 with 41x41, where direct was faster than predicted), 1.005 for
# float64 (worst 1.30).  Complex data runs 2-4 real direct passes and one
# complex FFT (about twice a real one); a rank-1 kernel runs kh + kw taps.
COST = {
    4: dict(A=0.037e-9, MEM=1.05e-9, D0=114e-6, C=1.51e-9, F0=156e-6, ALPHA=0.70),
    8: dict(A=0.060e-9, MEM=2.09e-9, D0=79e-6, C=2.00e-9, F0=111e-6, ALPHA=0.30),
}


def direct_cost(n_out, taps, itemsize, threads, passes=1):
    """Seconds the direct engine is expected to take."""
    c = COST[itemsize]
    return c["D0"] + passes * n_out * (c["A"] * taps + c["MEM"]) / threads


def fft_cost(batch, ext_shape, itemsize, threads, complex_=False):
    """Seconds the FFT path is expected to take (ext_shape: out + k - 1 per axis)."""
    from scipy.fft import next_fast_len

    c = COST[itemsize]
    M = prod(next_fast_len(int(n), real=not complex_) for n in ext_shape)
    if M <= 1:
        return c["F0"]
    parallel = batch > 1 or len(ext_shape) > 1
    speedup = threads ** c["ALPHA"] if parallel else 1.0
    return c["F0"] + (2 if complex_ else 1) * c["C"] * batch * M * log2(M) / speedup


def choose_method(batch, out_shape, kernel, itemsize, threads, *, passes=1,
                  complex_=False, separable=False):
    """'direct' or 'fft' for a correlation of this geometry, by the cost model.

    ``passes``: real direct passes (complex data: 2 or 4); ``separable``: the
    kernel is rank-1 2-d (kh + kw taps).
    """
    if prod(out_shape) == 0 or batch == 0:
        return "direct"
    taps = sum(kernel) if separable else prod(kernel)
    td = direct_cost(batch * prod(out_shape), taps, itemsize, threads, passes)
    tf = fft_cost(batch, [o + k - 1 for o, k in zip(out_shape, kernel)], itemsize,
                  threads, complex_)
    return "fft" if tf < td else "direct"
