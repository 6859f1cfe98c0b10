"""Side-by-side benchmark of fastconv against its peers: ``python -m fastconv bench``.

The standard layer suite (``SUITE``) is defined once here, as data, and is
shared with the asv suite in ``benchmarks/benchmarks/bench_conv.py``.

For every layer, face (``fwd`` = conv, ``dX`` = conv_grad_input,
``dW`` = conv_grad_weight) and dtype, fastconv and every installed peer
(scipy always; torch and jax when importable) are timed in one process, each
contender in its own block of samples after an idle gap (two OpenMP runtimes
timed call by call slow each other: the one that ran last keeps its threads
spinning), and each reported time is the median of the samples, because the
machine is small, shared and noisy. Before any timing the result of
each peer is compared with fastconv's (max-abs error relative to the largest
magnitude of fastconv's result); a ratio is never printed for a pair that
disagrees: the cell says ``WRONG`` and a warning names the pair.

Only numpy and the standard library are imported at module level, so the asv
suite can import ``SUITE`` cheaply; the peers are imported on demand.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Layer", "SUITE", "FACES", "DTYPES", "get_layer", "make_arrays",
           "fastconv_callable", "main"]

FACES = ("fwd", "dX", "dW")
DTYPES = ("float32", "float64")
FACE_LONG = {"fwd": "conv", "dX": "conv_grad_input", "dW": "conv_grad_weight"}


# --------------------------------------------------------------------------
# The standard layer suite
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    """One convolution layer of the standard suite (channels-first).

    ``padding=None`` means "same"-style symmetric padding ``k//2 * dilation``.
    ``kind`` is ``"dense"``, ``"depthwise"``, ``"grouped"`` or ``"single"``
    (single-channel filtering); only ``"dense"`` layers enter the headline
    float32 geometric mean.
    """

    name: str
    batch: int
    in_channels: int
    out_channels: int
    size: tuple
    kernel: tuple
    stride: int = 1
    padding: int | None = None
    dilation: int = 1
    groups: int = 1
    kind: str = "dense"
    quick_batch: int = 2
    note: str = ""

    @property
    def dense(self) -> bool:
        return self.kind == "dense"

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def pads(self) -> tuple:
        if self.padding is None:
            return tuple((k // 2) * self.dilation for k in self.kernel)
        return (self.padding,) * self.ndim

    def batch_for(self, quick: bool = False) -> int:
        return min(self.batch, self.quick_batch) if quick else self.batch

    def input_shape(self, batch: int | None = None) -> tuple:
        n = self.batch if batch is None else batch
        return (n, self.in_channels) + tuple(self.size)

    def weight_shape(self) -> tuple:
        return (self.out_channels, self.in_channels // self.groups) + tuple(self.kernel)

    def output_size(self) -> tuple:
        return tuple(
            (s + 2 * p - self.dilation * (k - 1) - 1) // self.stride + 1
            for s, k, p in zip(self.size, self.kernel, self.pads)
        )

    def output_shape(self, batch: int | None = None) -> tuple:
        n = self.batch if batch is None else batch
        return (n, self.out_channels) + self.output_size()

    def flops(self, batch: int | None = None) -> int:
        """Multiply-adds x 2 of the forward pass (each adjoint costs the same)."""
        n = self.batch if batch is None else batch
        return (2 * n * self.out_channels * math.prod(self.output_size())
                * (self.in_channels // self.groups) * math.prod(self.kernel))

    def conv_kwargs(self) -> dict:
        """Keywords for fastconv.conv / conv_grad_input / conv_grad_weight."""
        return dict(stride=self.stride, padding=self.pads,
                    dilation=self.dilation, groups=self.groups)

    def describe(self) -> str:
        k = "x".join(map(str, self.kernel))
        s = "x".join(map(str, self.size))
        parts = [f"{k}", f"{self.in_channels}->{self.out_channels}", f"at {s}",
                 f"N={self.batch}"]
        if self.stride != 1:
            parts.append(f"stride {self.stride}")
        parts.append(f"pad {self.pads[0]}")
        if self.dilation != 1:
            parts.append(f"dilation {self.dilation}")
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        return " ".join(parts) + f" [{self.kind}]"


SUITE: tuple[Layer, ...] = (
    Layer("conv1_7x7s2", 8, 3, 64, (224, 224), (7, 7), stride=2, padding=3,
          quick_batch=1, note="ResNet first layer"),
    Layer("3x3_64_56", 8, 64, 64, (56, 56), (3, 3)),
    Layer("1x1_256to64_56", 8, 256, 64, (56, 56), (1, 1)),
    Layer("3x3s2_128_56", 8, 128, 128, (56, 56), (3, 3), stride=2, padding=1),
    Layer("3x3_256_14", 8, 256, 256, (14, 14), (3, 3)),
    Layer("dw3x3_256_28", 8, 256, 256, (28, 28), (3, 3), groups=256,
          kind="depthwise"),
    Layer("g32_3x3_256_28", 8, 256, 256, (28, 28), (3, 3), groups=32,
          kind="grouped"),
    Layer("dil2_3x3_256_33", 4, 256, 256, (33, 33), (3, 3), padding=2, dilation=2),
    Layer("single_5x5_2048", 1, 1, 1, (2048, 2048), (5, 5), kind="single",
          quick_batch=1),
    Layer("1d_k9_64_16000", 8, 64, 64, (16000,), (9,), padding=4, quick_batch=1),
    Layer("3d_3x3x3_16to32_32", 2, 16, 32, (32, 32, 32), (3, 3, 3), padding=1,
          quick_batch=1),
)


def get_layer(name: str) -> Layer:
    for layer in SUITE:
        if layer.name == name:
            return layer
    raise KeyError(name)


def make_arrays(layer: Layer, dtype, batch: int | None = None, seed: int = 0):
    """(x, w, grad_out): C-contiguous random arrays of ``dtype`` for ``layer``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    fan_in = (layer.in_channels // layer.groups) * math.prod(layer.kernel)
    x = rng.standard_normal(layer.input_shape(batch), dtype=np.float64).astype(dtype)
    w = (rng.standard_normal(layer.weight_shape(), dtype=np.float64)
         / math.sqrt(fan_in)).astype(dtype)
    g = rng.standard_normal(layer.output_shape(batch), dtype=np.float64).astype(dtype)
    return x, w, g


def fastconv_callable(layer: Layer, face: str, x, w, g, workers=None) -> Callable:
    """A zero-argument callable running one face of ``layer`` with fastconv."""
    import fastconv

    kw = layer.conv_kwargs()
    if face == "fwd":
        return lambda: fastconv.conv(x, w, None, workers=workers, **kw)
    if face == "dX":
        shape = x.shape
        return lambda: fastconv.conv_grad_input(g, w, shape, workers=workers, **kw)
    if face == "dW":
        shape = w.shape
        return lambda: fastconv.conv_grad_weight(x, g, shape, workers=workers, **kw)
    raise ValueError(f"face must be one of {FACES}, got {face!r}")


# --------------------------------------------------------------------------
# Contenders: prepare(layer, face, x, w, g) -> (run, to_numpy) or None
# --------------------------------------------------------------------------

class Unavailable(Exception):
    pass


class PeerCrash(Exception):
    """A peer is known to crash the interpreter on this cell: not run."""


class Contender:
    name = "?"
    label = "?"

    def version(self) -> str:
        return ""

    def prepare(self, layer, face, x, w, g):  # pragma: no cover - interface
        raise NotImplementedError


class FastconvContender(Contender):
    name = label = "fastconv"

    def __init__(self, workers=None):
        import fastconv
        self.mod = fastconv
        self.workers = workers

    def version(self):
        return getattr(self.mod, "__version__", "?")

    def prepare(self, layer, face, x, w, g):
        return fastconv_callable(layer, face, x, w, g, workers=self.workers), np.asarray


class TorchContender(Contender):
    name = label = "torch"

    def __init__(self, nthreads):
        try:
            import torch
        except Exception as exc:  # ImportError, or a broken install
            raise Unavailable(f"torch: {exc}") from None
        self.torch = torch
        self._old_threads = torch.get_num_threads()
        if nthreads:
            torch.set_num_threads(int(nthreads))

    def close(self):
        self.torch.set_num_threads(self._old_threads)

    def version(self):
        return f"{self.torch.__version__} ({self.torch.get_num_threads()} threads)"

    def prepare(self, layer, face, x, w, g):
        torch = self.torch
        F = torch.nn.functional
        d = layer.ndim
        if d not in (1, 2, 3):
            return None
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[d]
        tx, tw, tg = (torch.from_numpy(a) for a in (x, w, g))
        stride = [layer.stride] * d
        padding = list(layer.pads)
        dilation = [layer.dilation] * d
        groups = layer.groups
        to_numpy = lambda t: t.numpy()  # noqa: E731
        if face == "fwd":
            def run():
                with torch.no_grad():
                    return conv(tx, tw, None, stride, padding, dilation, groups)
            return run, to_numpy
        mask = [True, False, False] if face == "dX" else [False, True, False]
        idx = 0 if face == "dX" else 1
        backward = torch.ops.aten.convolution_backward

        def run():
            with torch.no_grad():
                return backward(tg, tx, tw, None, stride, padding, dilation,
                                False, [0] * d, groups, mask)[idx]
        return run, to_numpy


class JaxContender(Contender):
    name = label = "jax"

    def __init__(self):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        try:
            import jax
            jax.config.update("jax_enable_x64", True)
            from jax import lax
            self.cpu = jax.devices("cpu")[0]
        except Exception as exc:
            raise Unavailable(f"jax: {exc}") from None
        self.jax, self.lax = jax, lax

    def version(self):
        return f"{self.jax.__version__} (XLA CPU, x64 on)"

    @staticmethod
    def known_crash(layer, face, dtype) -> bool:
        """Cells that kill the process inside XLA instead of raising."""
        if np.dtype(dtype) != np.float64 or face == "dW":
            return False
        if layer.in_channels != 1 or layer.out_channels != 1:
            return False
        return math.prod(layer.size) >= 2048 * 2048 and all(
            s & (s - 1) == 0 for s in layer.size)

    def prepare(self, layer, face, x, w, g):
        jax, lax = self.jax, self.lax
        d = layer.ndim
        strides = (layer.stride,) * d
        padding = [(p, p) for p in layer.pads]
        rhs_dil = (layer.dilation,) * d
        groups = layer.groups

        def conv(a, b):
            return lax.conv_general_dilated(
                a, b, window_strides=strides, padding=padding,
                rhs_dilation=rhs_dil, feature_group_count=groups,
                precision=lax.Precision.HIGHEST)

        if self.known_crash(layer, face, x.dtype):
            raise PeerCrash(
                "XLA:CPU segfaults on float64 convolutions of large power-of-two "
                "single-channel images (seen with jax 0.10.2 at 2048^2, 4096^2); skipped")
        jx, jw, jg = (jax.device_put(a, self.cpu) for a in (x, w, g))
        if face == "fwd":
            f = jax.jit(conv).lower(jx, jw).compile()   # compiled ahead of time
            return (lambda: f(jx, jw).block_until_ready()), np.asarray
        if face == "dX":
            f = jax.jit(lambda a, b, c: jax.vjp(lambda aa: conv(aa, b), a)[1](c)[0])
        else:
            f = jax.jit(lambda a, b, c: jax.vjp(lambda bb: conv(a, bb), b)[1](c)[0])
        f = f.lower(jx, jw, jg).compile()
        return (lambda: f(jx, jw, jg).block_until_ready()), np.asarray


def _scipy_applicable(layer, face) -> bool:
    """scipy only where it expresses the layer directly: 2-d single-channel
    or depthwise, stride 1, no dilation, odd kernel, 'same' padding, forward."""
    if face != "fwd" or layer.ndim != 2 or layer.stride != 1 or layer.dilation != 1:
        return False
    if any(k % 2 == 0 for k in layer.kernel):
        return False
    if layer.pads != tuple(k // 2 for k in layer.kernel):
        return False
    if layer.kind == "single":
        return layer.in_channels == layer.out_channels == 1
    if layer.kind == "depthwise":
        return layer.groups == layer.in_channels == layer.out_channels
    return False


class _ScipyBase(Contender):
    def __init__(self):
        import scipy
        self.scipy = scipy

    def version(self):
        return self.scipy.__version__

    def _filter(self, a, k):  # pragma: no cover - interface
        raise NotImplementedError

    def prepare(self, layer, face, x, w, g):
        if not _scipy_applicable(layer, face):
            return None
        filt = self._filter
        if layer.kind == "single":
            k = w[0, 0]

            def run():
                return np.stack([filt(x[n, 0], k) for n in range(x.shape[0])])[:, None]
        else:  # depthwise: one call per channel, the batch as a size-1 kernel axis
            ks = [w[c, 0][None] for c in range(w.shape[0])]

            def run():
                out = np.empty(layer.output_shape(x.shape[0]), dtype=x.dtype)
                for c, k in enumerate(ks):
                    out[:, c] = filt(x[:, c], k)
                return out
        return run, np.asarray


class NdimageContender(_ScipyBase):
    name = "ndimage"
    label = "scipy.ndimage"

    def __init__(self):
        super().__init__()
        from scipy import ndimage
        self.ndimage = ndimage

    def _filter(self, a, k):
        return self.ndimage.correlate(a, k, mode="constant", cval=0.0)


class SignalContender(_ScipyBase):
    name = "signal"
    label = "scipy.signal"

    def __init__(self):
        super().__init__()
        from scipy import signal
        self.signal = signal

    def _filter(self, a, k):
        return self.signal.correlate(a, k, mode="same", method="auto")


PEER_FACTORIES = {
    "scipy": lambda nthreads: [NdimageContender(), SignalContender()],
    "torch": lambda nthreads: [TorchContender(nthreads)],
    "jax": lambda nthreads: [JaxContender()],
}


# --------------------------------------------------------------------------
# Timing and checking
# --------------------------------------------------------------------------

@dataclass
class Settings:
    repeat: int
    target: float      # seconds per sample (calls are batched to reach it)
    budget: float      # seconds per contender per cell; then no more samples
    settle: float      # idle seconds before each contender's block (spinning threads sleep)
    quick: bool


TOLERANCE = {"float32": 1e-3, "float64": 1e-8}


def rel_error(a, ref) -> float:
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    scale = float(np.max(np.abs(ref)))
    err = float(np.max(np.abs(a - ref)))
    if not (math.isfinite(err) and math.isfinite(scale)):
        return math.inf
    return err / scale if scale > 0 else err


def _warm_up(run, settings: Settings) -> float:
    """Warm calls after the first one; returns the seconds of the last call.

    At least one more call, then more until ``2 * target`` seconds are spent
    (thread pools, primitive caches, page faults of fresh buffers settle), unless
    a call is so slow that the budget would not allow ``repeat`` of them.
    """
    spent, calls = 0.0, 0
    while True:
        t0 = time.perf_counter()
        run()
        dt = time.perf_counter() - t0
        spent += dt
        calls += 1
        if dt * settings.repeat > settings.budget or spent >= 2 * settings.target:
            return dt
        if calls >= 1000:
            return dt


def time_blocks(runs: dict, settings: Settings, warm: dict, wall=None) -> dict:
    """Median seconds per call of each run, each run timed in its own block.

    Before a run's block the process sits idle for ``settings.settle`` seconds,
    so that the thread pool of whichever runtime ran last (torch's OpenMP, ours,
    a BLAS's) has stopped spinning; one more warm call follows, then the
    samples, back to back.  Interleaving the contenders call by call instead
    let one runtime's spinning threads slow the other (torch's 1x1 256->64
    layer timed 28.8 ms that way and 5.1 ms alone).  ``warm`` holds the seconds
    of one warm call of each run, which sets how many calls make one sample.
    Returns {name: (median, n_samples)}; adds the seconds spent per run to
    ``wall`` if given.
    """
    out = {}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for name, run in runs.items():
            t = max(warm[name], 1e-7)
            number = max(1, min(10000, int(settings.target / t)))
            # a run too slow for `repeat` samples within the budget: its last
            # warm call is already a sample
            slow = t * settings.repeat > settings.budget
            samples = [warm[name]] if slow else []
            spent = warm[name] if slow else 0.0
            time.sleep(settings.settle)
            t0 = time.perf_counter()
            if not slow:
                run()                      # after the idle gap: caches and pools warm again
            spent_block = time.perf_counter() - t0
            while len(samples) < settings.repeat and not (samples and spent >= settings.budget):
                t0 = time.perf_counter()
                for _ in range(number):
                    run()
                dt = time.perf_counter() - t0
                spent += dt
                spent_block += dt
                samples.append(dt / number)
            if wall is not None:
                wall[name] = wall.get(name, 0.0) + spent_block + settings.settle
            out[name] = (statistics.median(samples), len(samples))
    finally:
        if gc_was:
            gc.enable()
    return out


@dataclass
class Cell:
    layer: Layer
    face: str
    dtype: str
    batch: int
    flops: int
    times: dict        # contender name -> seconds (None if not run)
    nsamples: dict
    status: dict       # contender name -> "ok" | "WRONG" | "ERR" | "n/a"
    errors: dict       # contender name -> relative error (peers) / message

    def ratio(self, peer):
        """peer_time / fastconv_time, or None when not meaningful."""
        tf, tp = self.times.get("fastconv"), self.times.get(peer)
        if tf is None or tp is None or self.status.get("fastconv") != "ok":
            return None
        if self.status.get(peer) != "ok":
            return None
        return tp / tf


def _fmt_time(t):
    if t is None:
        return "-"
    ms = t * 1e3
    if ms >= 1000:
        return f"{ms:.0f}"
    if ms >= 100:
        return f"{ms:.1f}"
    if ms >= 10:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _prepare_and_warm(c, layer, face, x, w, g, settings,
                      runs, warm, results, status, errors):
    """First (checked) call and warm-up of one contender; fills the dicts."""
    try:
        prep = c.prepare(layer, face, x, w, g)
    except PeerCrash as exc:
        status[c.name], errors[c.name] = "SKIP", str(exc)
        return
    except Exception as exc:
        status[c.name], errors[c.name] = "ERR", f"{type(exc).__name__}: {exc}"
        return
    if prep is None:
        status[c.name] = "n/a"
        return
    run, to_numpy = prep
    try:
        t0 = time.perf_counter()
        out = run()                              # first call: checked
        t_first = time.perf_counter() - t0
        results[c.name] = to_numpy(out)
        del out
        # a call too slow for `repeat` samples in the budget is already warm
        # enough (any one-off setup is small next to it): no more warm calls
        slow = t_first * settings.repeat > settings.budget
        warm[c.name] = t_first if slow else _warm_up(run, settings)
    except PeerCrash as exc:
        status[c.name], errors[c.name] = "SKIP", str(exc)
        return
    except Exception as exc:
        status[c.name], errors[c.name] = "ERR", f"{type(exc).__name__}: {exc}"
        return
    runs[c.name] = run
    status[c.name] = "ok"


def run_cell(layer, face, dtype, contenders, settings, log, wall=None) -> Cell:
    """Prepare, check and time one (layer, face, dtype) for every contender.

    ``wall`` (optional dict) accumulates the wall seconds spent per contender,
    compilation and warm-up included."""
    batch = layer.batch_for(settings.quick)
    x, w, g = make_arrays(layer, dtype, batch)
    runs, warm, results, status, errors = {}, {}, {}, {}, {}
    wall = {} if wall is None else wall
    for c in contenders:
        t_prep = time.perf_counter()
        try:
            _prepare_and_warm(c, layer, face, x, w, g, settings,
                              runs, warm, results, status, errors)
        finally:
            wall[c.name] = wall.get(c.name, 0.0) + time.perf_counter() - t_prep

    ref = results.get("fastconv")
    if ref is not None:
        for name, res in results.items():
            if name == "fastconv":
                continue
            err = rel_error(res, ref)
            errors[name] = err
            if not err <= TOLERANCE[dtype]:
                status[name] = "WRONG"
                log(f"  WARNING {layer.name} {face} {dtype}: fastconv and {name} "
                    f"disagree, max-abs relative error {err:.3g} "
                    f"(tolerance {TOLERANCE[dtype]:g}); no ratio quoted")
    for name, msg in errors.items():
        if status.get(name) == "ERR":
            log(f"  ERROR {layer.name} {face} {dtype}: {name} failed: {msg}")
        elif status.get(name) == "SKIP":
            log(f"  note {layer.name} {face} {dtype}: {name}: {msg}")
    results.clear()
    timed = time_blocks(runs, settings, warm, wall) if runs else {}
    times = {name: t for name, (t, _) in timed.items()}
    nsamples = {name: n for name, (_, n) in timed.items()}
    return Cell(layer, face, dtype, batch, layer.flops(batch), times, nsamples,
                status, errors)


# --------------------------------------------------------------------------
# Table, summary, plot
# --------------------------------------------------------------------------

LAYER_W = 19


def _header(peers):
    cols = [f"{'layer':<{LAYER_W}}", f"{'face':<4}", f"{'dtype':<7}", f"{'fastconv':>9}",
            f"{'GFLOP/s':>7}"]
    for p in peers:
        cols.append(f"| {p.name:>9} {'ratio':>6}")
    line = " ".join(cols)
    return line, "-" * len(line)


def _row(cell: Cell, peers) -> str:
    tf = cell.times.get("fastconv")
    st = cell.status.get("fastconv")
    if st == "ok" and tf is not None:
        gfs = f"{cell.flops / tf / 1e9:7.1f}"
        ft = _fmt_time(tf) + ("*" if cell.nsamples["fastconv"] < 3 else "")
    else:
        gfs, ft = f"{'-':>7}", st or "-"
    cols = [f"{cell.layer.name:<{LAYER_W}}", f"{cell.face:<4}", f"{cell.dtype:<7}",
            f"{ft:>9}", gfs]
    for p in peers:
        s = cell.status.get(p.name, "n/a")
        t = cell.times.get(p.name)
        if s == "ok" and t is not None:
            ts = _fmt_time(t) + ("*" if cell.nsamples[p.name] < 3 else "")
            r = cell.ratio(p.name)
            rs = f"{r:.2f}" if r is not None else "-"
        elif s == "WRONG":
            ts, rs = _fmt_time(t), "WRONG"
        elif s in ("ERR", "SKIP"):
            ts, rs = s, "-"
        else:
            ts, rs = "-", "-"
        cols.append(f"| {ts:>9} {rs:>6}")
    return " ".join(cols)


def geomean(values):
    values = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not values:
        return None, 0
    return math.exp(sum(math.log(v) for v in values) / len(values)), len(values)


def _gm_str(values, expected=None):
    gm, n = geomean(values)
    if gm is None:
        return "-"
    extra = f" of {expected}" if expected is not None and expected != n else ""
    return f"{gm:.2f}x ({n}{extra} cells)"


def summary_lines(cells, peers) -> list:
    lines = []
    names = [p.name for p in peers]
    if "torch" in names:
        sel = [c for c in cells if c.dtype == "float32" and c.layer.dense]
        lines.append("geomean torch/fastconv, float32, dense layers, fwd+dX+dW: "
                     + _gm_str([c.ratio("torch") for c in sel], len(sel)))
        sel = [c for c in cells if c.dtype == "float64"]
        lines.append("geomean torch/fastconv, float64, all layers,   fwd+dX+dW: "
                     + _gm_str([c.ratio("torch") for c in sel], len(sel)))
    if peers:
        lines.append("per-peer geomean of peer_time/fastconv_time (>1: fastconv faster):")
        lines.append(f"  {'peer':<9} {'float32':>20} {'float64':>20} {'all':>20}")
        for p in peers:
            r = {dt: [c.ratio(p.name) for c in cells if c.dtype == dt] for dt in DTYPES}
            allr = r["float32"] + r["float64"]
            lines.append(f"  {p.name:<9} {_gm_str(r['float32']):>20} "
                         f"{_gm_str(r['float64']):>20} {_gm_str(allr):>20}")
        faces = sorted({c.face for c in cells}, key=FACES.index)
        for p in peers:
            parts = []
            for f in faces:
                gm, n = geomean([c.ratio(p.name) for c in cells if c.face == f])
                parts.append(f"{f} {gm:.2f}x" if gm else f"{f} -")
            lines.append(f"  {p.name:<9} by face: " + ", ".join(parts))
    return lines


def plot_cells(cells, peers, path, log) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(f"--plot {path}: matplotlib is not installed "
            "(pip install matplotlib); no plot written")
        return False
    dtypes = [dt for dt in DTYPES if any(c.dtype == dt for c in cells)]
    if not dtypes or not peers:
        log(f"--plot {path}: nothing to plot")
        return False
    ngroups = max(sum(1 for c in cells if c.dtype == dt) for dt in dtypes)
    fig, axes = plt.subplots(len(dtypes), 1, squeeze=False,
                             figsize=(max(8.0, 0.45 * ngroups + 2), 4.2 * len(dtypes)))
    width = 0.8 / len(peers)
    for ax, dt in zip(axes[:, 0], dtypes):
        sel = [c for c in cells if c.dtype == dt]
        xs = np.arange(len(sel))
        for i, p in enumerate(peers):
            vals = [c.ratio(p.name) for c in sel]
            ys = [v if v is not None else np.nan for v in vals]
            ax.bar(xs + (i - (len(peers) - 1) / 2) * width, ys, width, label=p.name)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{c.layer.name} {c.face}" for c in sel],
                           rotation=75, ha="right", fontsize=7)
        ax.set_ylabel("peer time / fastconv time")
        ax.set_title(f"{dt}: >1 means fastconv is faster")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log(f"plot written to {path}")
    return True


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _parse_faces(text):
    aliases = {"fwd": "fwd", "forward": "fwd", "conv": "fwd",
               "dx": "dX", "grad_input": "dX", "dw": "dW", "grad_weight": "dW"}
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        key = aliases.get(item.lower())
        if key is None:
            raise argparse.ArgumentTypeError(
                f"unknown face {item!r}; choose from fwd, dX, dW")
        if key not in out:
            out.append(key)
    if not out:
        raise argparse.ArgumentTypeError("--faces is empty")
    return out


def _parse_vs(text):
    out = []
    for item in filter(None, (s.strip().lower() for s in text.split(","))):
        if item not in PEER_FACTORIES and item != "none":
            raise argparse.ArgumentTypeError(
                f"unknown peer {item!r}; choose from {', '.join(PEER_FACTORIES)}")
        if item != "none" and item not in out:
            out.append(item)
    return out


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m fastconv bench",
        description="Time the standard layer suite with fastconv and its peers "
                    "side by side (ratio = peer_time / fastconv_time; >1 means "
                    "fastconv is faster).")
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats and batch 1-2: the whole run in well under a minute")
    p.add_argument("--dtype", default="all", choices=("float32", "float64", "all"))
    p.add_argument("--vs", type=_parse_vs, default=None, metavar="PEERS",
                   help="comma-separated subset of scipy,torch,jax "
                        "(default: every one importable; 'none' for fastconv alone)")
    p.add_argument("--faces", type=_parse_faces, default=list(FACES), metavar="FACES",
                   help="comma-separated subset of fwd,dX,dW (default: all)")
    p.add_argument("--layers", default=None, metavar="SUBSTR",
                   help="only layers whose name contains one of these "
                        "comma-separated substrings")
    p.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="samples per contender (default 7, 3 with --quick)")
    p.add_argument("--budget", type=float, default=None, metavar="SEC",
                   help="stop sampling a contender in a cell after this many "
                        "seconds (default 10, 0.5 with --quick)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads for fastconv (workers=N) and torch (default: "
                        "fastconv.get_num_threads()); jax keeps XLA's own pool")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="grouped bar chart of the ratios (needs matplotlib)")
    p.add_argument("--list", action="store_true", help="print the layer suite and exit")
    return p


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _loadavg():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _select(rows, spec):
    """The rows (layers, op rows, filter rows) whose name contains one of the
    comma-separated substrings of ``--layers`` (all of them without one)."""
    if not spec:
        return list(rows)
    subs = [s.strip().lower() for s in spec.split(",") if s.strip()]
    return [r for r in rows if any(s in r.name.lower() for s in subs)]


def main(argv=None) -> int:
    """Entry point of ``python -m fastconv bench``. Returns 0 when every
    comparison agreed, 1 when fastconv failed or disagreed with a peer, 2 on
    a usage error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)

    def log(msg=""):
        print(msg, flush=True)

    if args.list:
        for layer in SUITE:
            log(f"{layer.name:<{LAYER_W}} {layer.describe()}  "
                f"{layer.flops() / 1e9:.2f} GFLOP/face")
        return 0

    layers = _select(SUITE, args.layers)
    op_rows = _select(OP_ROWS, args.layers)
    filter_rows = _select(FILTER_ROWS, args.layers)
    if not layers and not op_rows and not filter_rows:
        log(f"no layer matches --layers {args.layers!r}; names: "
            + ", ".join(l.name for l in SUITE))
        return 2
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    if args.repeat is not None and args.repeat < 1:
        log("--repeat must be >= 1")
        return 2
    settings = Settings(
        repeat=args.repeat or (3 if args.quick else 7),
        target=0.005 if args.quick else 0.03,
        budget=args.budget if args.budget is not None else (0.5 if args.quick else 10.0),
        settle=0.02 if args.quick else 0.1,
        quick=args.quick,
    )

    try:
        fc = FastconvContender()
    except Exception as exc:
        log(f"cannot import fastconv: {type(exc).__name__}: {exc}")
        return 1
    get_threads = getattr(fc.mod, "get_num_threads", None)
    try:
        fc_threads = int(get_threads()) if get_threads else os.cpu_count()
    except Exception:
        fc_threads = os.cpu_count()
    if args.threads is not None:
        if args.threads < 1:
            log("--threads must be >= 1")
            return 2
        fc.workers = fc_threads = args.threads
    nthreads = fc_threads

    wanted = args.vs if args.vs is not None else list(PEER_FACTORIES)
    peers = []
    for key in wanted:
        try:
            peers.extend(PEER_FACTORIES[key](nthreads))
        except Unavailable as exc:
            msg = f"peer {key} not available ({exc})"
            log(msg if args.vs is not None else msg + "; skipped")
        except ImportError as exc:
            log(f"peer {key} not available ({exc}); skipped")

    log(f"fastconv bench{' --quick' if args.quick else ''}: "
        f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, numpy {np.__version__}")
    log(f"  fastconv {fc.version()} ({fc_threads} threads)")
    for p in peers:
        log(f"  {p.label} {p.version()}")
    log(f"  median of {settings.repeat} samples per contender, each contender timed in "
        f"its own block after {settings.settle:g} s idle; times in "
        f"ms per call; ratio = peer/fastconv (>1: fastconv faster); "
        f"* = fewer than 3 samples (slow)")
    if args.quick:
        log("  --quick: batch reduced to 1-2; not comparable with full runs")
    load = _loadavg()
    if load is not None:
        busy = load > 0.5 * (os.cpu_count() or 1)
        log(f"  load average (1 min) {load:.2f}"
            + (": the machine is busy, timings are unreliable" if busy else ""))
    log()
    header, rule = _header(peers)
    log(header)
    log(rule)

    contenders = [fc] + peers
    cells = []
    wall = {}
    failed = False
    t_start = time.perf_counter()
    try:
        for layer in layers:
            for face in args.faces:
                for dtype in dtypes:
                    cell = run_cell(layer, face, dtype, contenders, settings, log, wall)
                    cells.append(cell)
                    if cell.status.get("fastconv") != "ok" or any(
                            s == "WRONG" for s in cell.status.values()):
                        failed = True
                    log(_row(cell, peers))
        failed |= run_op_rows(op_rows, args.faces, dtypes, settings, peers, log, wall)
        failed |= run_filter_rows(filter_rows, args.faces, dtypes, settings, peers, log, wall)
    except KeyboardInterrupt:
        log("interrupted; summary of the cells done so far")
    finally:
        for p in peers:
            close = getattr(p, "close", None)
            if close:
                close()
    log(rule)
    for line in summary_lines(cells, peers):
        log(line)
    load = _loadavg()
    log("wall time per contender (compilation and warm-up included): "
        + ", ".join(f"{name} {sec:.1f} s" for name, sec in wall.items()))
    log(f"total {time.perf_counter() - t_start:.1f} s"
        + (f"; load average (1 min) {load:.2f}" if load is not None else ""))
    if args.plot:
        plot_cells(cells, peers, args.plot, log)
    return 1 if failed else 0


# --------------------------------------------------------------------------
# Pooling and unshared convolution (DESIGN.md 1.2, 1.3)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class OpRow:
    """One timed call of a non-conv operation, against its reference peers.

    ``build(dtype, quick, torch_module_or_None)`` returns ``(fastconv_run,
    {peer: run})``; a peer named ``"torch"`` is checked against fastconv's
    result, any other (e.g. ``"conv"``: the convolution of the same shapes)
    is a yardstick and is not.
    """

    name: str
    face: str          # which --faces it belongs to: fwd, dX or dW
    what: str
    build: Callable


def _pool_row_builder(op, face):
    def build(dtype, quick, torch):
        import fastconv

        rng = np.random.default_rng(0)
        x = rng.standard_normal((2 if quick else 8, 64, 112, 112)).astype(dtype)
        k, s = (3, 2) if op == "max" else (2, 2)
        fwd = fastconv.max_pool if op == "max" else fastconv.avg_pool
        y = fwd(x, k, s)
        g = rng.standard_normal(y.shape).astype(dtype)
        peers = {}
        tx = tg = None
        if torch is not None:
            tx, tg = torch.from_numpy(x), torch.from_numpy(g)
            F = torch.nn.functional
        if face == "fwd":
            run = lambda: fwd(x, k, s)  # noqa: E731
            if torch is not None:
                tf = F.max_pool2d if op == "max" else F.avg_pool2d
                peers["torch"] = lambda: tf(tx, k, s).numpy()
        elif op == "avg":
            run = lambda: fastconv.avg_pool_grad(g, x.shape, k, s)  # noqa: E731
            if torch is not None:
                bwd = torch.ops.aten.avg_pool2d_backward
                peers["torch"] = lambda: bwd(tg, tx, [k, k], [s, s], [0, 0], False, True,
                                             None).numpy()
        else:
            # torch's backward reads the indices its forward saved; fastconv's
            # takes them too ("grad") or recomputes the arg-max ("grad_recompute")
            _, idx = fastconv.max_pool(x, k, s, return_indices=True)
            if op == "max_recompute":
                run = lambda: fastconv.max_pool_grad(g, x, k, s)  # noqa: E731
            else:
                run = lambda: fastconv.max_pool_grad(g, x, k, s, indices=idx)  # noqa: E731
            if torch is not None:
                ti = torch.from_numpy(idx)
                bwd = torch.ops.aten.max_pool2d_with_indices_backward
                peers["torch"] = lambda: bwd(tg, tx, [k, k], [s, s], [0, 0], [1, 1], False,
                                             ti).numpy()
        return run, peers
    return build


def _local_row_builder(face):
    def build(dtype, quick, torch):
        import fastconv

        rng = np.random.default_rng(0)
        n = 2 if quick else 8
        x = rng.standard_normal((n, 64, 28, 28)).astype(dtype)
        w = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(dtype)
        wl = np.broadcast_to(w, (28, 28) + w.shape).copy()
        g = rng.standard_normal((n, 64, 28, 28)).astype(dtype)
        if face == "fwd":
            # "w-read": one prefetched pass over the locally connected weight by
            # as many threads, the memory-bandwidth floor of local_conv (each
            # weight is used N times).  Not a BLAS call: OpenBLAS's threads spin
            # on after it and would slow down the contender timed next.
            from fastconv._ext import _runtime
            words = wl.reshape(-1).view(np.uint64)
            nthreads = fastconv.get_num_threads()
            return (lambda: fastconv.local_conv(x, wl, padding=1),
                    {"conv": lambda: fastconv.conv(x, w, padding=1),
                     "w-read": lambda: _runtime.stream_read(words, nthreads)})
        if face == "dX":
            return (lambda: fastconv.local_conv_grad_input(g, wl, x.shape, padding=1),
                    {"conv": lambda: fastconv.conv_grad_input(g, w, x.shape, padding=1)})
        return (lambda: fastconv.local_conv_grad_weight(x, g, wl.shape, padding=1),
                {"conv": lambda: fastconv.conv_grad_weight(x, g, w.shape, padding=1)})
    return build


OP_ROWS: tuple[OpRow, ...] = (
    OpRow("maxpool3s2_64_112", "fwd", "max_pool 3x3 stride 2, (8, 64, 112, 112)",
          _pool_row_builder("max", "fwd")),
    OpRow("maxpool3s2_64_112", "dX", "max_pool_grad with indices",
          _pool_row_builder("max", "dX")),
    OpRow("maxpool3s2_recomp", "dX", "max_pool_grad, arg-max recomputed from x",
          _pool_row_builder("max_recompute", "dX")),
    OpRow("avgpool2_64_112", "fwd", "avg_pool 2x2, (8, 64, 112, 112)",
          _pool_row_builder("avg", "fwd")),
    OpRow("avgpool2_64_112", "dX", "avg_pool_grad", _pool_row_builder("avg", "dX")),
    OpRow("local3x3_64_28", "fwd",
          "local_conv 3x3 64->64 at 28x28, N=8 (w-read: one pass over w)",
          _local_row_builder("fwd")),
    OpRow("local3x3_64_28", "dX", "local_conv_grad_input (peer: conv_grad_input)",
          _local_row_builder("dX")),
    OpRow("local3x3_64_28", "dW", "local_conv_grad_weight (peer: conv_grad_weight)",
          _local_row_builder("dW")),
)


def run_op_rows(rows, faces, dtypes, settings, peers, log, wall) -> bool:
    """Time the pooling / local rows; True when fastconv failed or disagreed."""
    rows = [r for r in rows if r.face in faces]
    if not rows:
        return False
    torch = next((p.torch for p in peers if p.name == "torch"), None)
    log()
    log(f"{'op':<{LAYER_W}} {'face':<4} {'dtype':<7} {'fastconv':>9} | "
        f"{'peer':>6} {'time':>9} {'ratio':>6}   (ratio = peer/fastconv)")
    failed = False
    for row in rows:
        for dtype in dtypes:
            try:
                run, others = row.build(np.dtype(dtype), settings.quick, torch)
                mine = np.asarray(run())
                runs = {"fastconv": run}
                for name, other in others.items():
                    res = other()
                    if name == "torch" and not rel_error(res, mine) <= TOLERANCE[dtype]:
                        log(f"  WARNING {row.name} {row.face} {dtype}: fastconv and torch "
                            f"disagree; no ratio quoted")
                        failed = True
                        continue
                    runs[name] = other
                del mine
                warm = {name: _warm_up(f, settings) for name, f in runs.items()}
                timed = time_blocks(runs, settings, warm, wall)
            except Exception as exc:
                log(f"  ERROR {row.name} {row.face} {dtype}: {type(exc).__name__}: {exc}")
                failed = True
                continue
            t_fc = timed["fastconv"][0]
            cols = [f"{name:>6} {_fmt_time(t):>9} {t / t_fc:6.2f}"
                    for name, (t, _) in timed.items() if name != "fastconv"]
            log(f"{row.name:<{LAYER_W}} {row.face:<4} {dtype:<7} {_fmt_time(t_fc):>9} | "
                + (" | ".join(cols) if cols else "-") + f"   {row.what}")
    return failed


# --------------------------------------------------------------------------
# Single-channel filtering: fastconv.signal / fastconv.ndimage (DESIGN.md 1.4)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterRow:
    """One image filtering cell: fastconv.ndimage.correlate against
    scipy.ndimage.correlate (mode 'constant'), fastconv.signal.correlate
    against scipy.signal.correlate (mode 'same', method 'auto'), and
    scipy.signal.fftconvolve as a yardstick; one random (not separable)
    kernel.  ``ndimage=False`` leaves out scipy.ndimage (seconds per call)."""

    name: str
    size: tuple
    kernel: tuple
    ndimage: bool = True


FILTER_ROWS: tuple[FilterRow, ...] = (
    FilterRow("filter3x3_2048", (2048, 2048), (3, 3)),
    FilterRow("filter5x5_2048", (2048, 2048), (5, 5)),
    FilterRow("filter9x9_2048", (2048, 2048), (9, 9)),
    FilterRow("filter31x31_2048", (2048, 2048), (31, 31), ndimage=False),
)
FILTER_HEADLINE = ("filter3x3_2048", "filter5x5_2048", "filter9x9_2048")


def run_filter_rows(rows, faces, dtypes, settings, peers, log, wall) -> bool:
    """Time the filtering rows (with scipy among the peers); True on a failure
    or a disagreement with SciPy.  --quick filters 1024^2 images."""
    if "fwd" not in faces or not rows or not any(
            p.name in ("ndimage", "signal") for p in peers):
        return False
    import scipy.ndimage as sndi
    import scipy.signal as ssig

    from fastconv import ndimage as fndi, signal as fsig

    log()
    log(f"{'filter':<{LAYER_W}} {'dtype':<7} | {'fastconv':>9} {'ndimage':>9} {'ratio':>6} "
        f"| {'fastconv':>9} {'signal':>9} {'ratio':>6} | {'fftconv':>9} {'ratio':>6}")
    log(f"{'':<{LAYER_W}} {'':<7} | {'.ndimage':>9} {'':>9} {'':>6} | {'.signal':>9}")
    failed = False
    ratios = {dt: {"ndimage": [], "signal": []} for dt in dtypes}
    for row in rows:
        for dtype in dtypes:
            rng = np.random.default_rng(0)
            size = tuple(n // 2 for n in row.size) if settings.quick else row.size
            x = rng.standard_normal(size).astype(dtype)
            w = rng.standard_normal(row.kernel).astype(dtype)
            runs = {"fc_nd": lambda: fndi.correlate(x, w, mode="constant"),
                    "ndimage": lambda: sndi.correlate(x, w, mode="constant"),
                    "fc_sig": lambda: fsig.correlate(x, w, mode="same"),
                    "signal": lambda: ssig.correlate(x, w, mode="same"),
                    "fftconv": lambda: ssig.fftconvolve(x, w[::-1, ::-1], mode="same")}
            pairs = {"fc_nd": "ndimage", "fc_sig": "signal"}
            if not row.ndimage:
                del runs["fc_nd"], runs["ndimage"]
            try:
                warm = {}
                for mine, ref in pairs.items():
                    if mine not in runs:
                        continue
                    t0 = time.perf_counter()
                    a = runs[mine]()
                    warm[mine] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    b = runs[ref]()
                    warm[ref] = time.perf_counter() - t0
                    err = rel_error(a, b)
                    if not err <= TOLERANCE[dtype]:
                        log(f"  WARNING {row.name} {dtype}: fastconv.{ref} and scipy.{ref} "
                            f"disagree (relative error {err:.3g}); no ratio quoted")
                        failed = True
                        del runs[mine], runs[ref]
                if "fftconv" in runs:
                    t0 = time.perf_counter()
                    runs["fftconv"]()
                    warm["fftconv"] = time.perf_counter() - t0
                warm = {n: (warm[n] if warm[n] * settings.repeat > settings.budget
                            else _warm_up(f, settings)) for n, f in runs.items()}
                timed = {n: t for n, (t, _) in
                         time_blocks(runs, settings, warm, wall).items()}
            except Exception as exc:
                log(f"  ERROR {row.name} {dtype}: {type(exc).__name__}: {exc}")
                failed = True
                continue

            def cell(mine, ref):
                if mine not in timed or ref not in timed:
                    return f"{'-':>9} {'-':>9} {'-':>6}"
                r = timed[ref] / timed[mine]
                if row.name in FILTER_HEADLINE:
                    ratios[dtype][ref].append(r)
                return f"{_fmt_time(timed[mine]):>9} {_fmt_time(timed[ref]):>9} {r:6.2f}"

            fft = (f"{_fmt_time(timed['fftconv']):>9} {timed['fftconv'] / timed['fc_sig']:6.2f}"
                   if "fftconv" in timed and "fc_sig" in timed else f"{'-':>9} {'-':>6}")
            log(f"{row.name:<{LAYER_W}} {dtype:<7} | {cell('fc_nd', 'ndimage')} | "
                f"{cell('fc_sig', 'signal')} | {fft}")
    for dtype in dtypes:
        parts = [f"{ref} {_gm_str(vals)}" for ref, vals in ratios[dtype].items() if vals]
        if parts:
            log(f"geomean scipy/fastconv, {dtype}, 3x3 5x5 9x9: " + ", ".join(parts))
    return failed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
