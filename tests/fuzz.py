"""A bounded fuzz of every public function, for the sanitised build (.ci/sanitize).

    python tests/fuzz.py [--calls N] [--seed S]

Each case draws a random geometry (shapes, strides, paddings, dilations,
groups, modes, dtypes) and random input forms (non-contiguous, negative
strides, unaligned, channels-last, read-only), and sometimes invalid
arguments.  A call may raise ValueError, TypeError, NotImplementedError or
MemoryError; anything else fails.  A result computed from finite input must be
free of NaN (the sanitised run fills fresh memory with NaN, so a read of
uninitialised memory shows), the inputs must be unchanged, and the three
convolution faces must satisfy the dot-product identity
<conv(x, w), g> = <x, grad_input(g, w)> = <w, grad_weight(x, g)>.
The sanitisers themselves catch out-of-bounds access, use-after-free and
undefined behaviour (they stop the process).
"""

import argparse
import sys
import traceback

import numpy as np

import fastconv
import fastconv.ndimage
import fastconv.signal

ALLOWED = (ValueError, TypeError, NotImplementedError, MemoryError)


class Fuzz:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.rejected = 0

    # -- input forms --------------------------------------------------------
    def form(self, a):
        """``a`` as one of the forms a caller may pass (same values)."""
        r = self.rng.integers(7)
        if r == 0 and a.size:                                # unaligned
            buf = np.frombuffer(bytearray(a.nbytes + 1), np.uint8)[1:]
            u = buf.view(a.dtype).reshape(a.shape)
            u[...] = a
            return u
        if r == 1 and a.ndim:                               # non-contiguous
            big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
            big[..., ::2] = a
            return big[..., ::2]
        if r == 2 and a.ndim:                               # negative strides
            return np.flip(np.flip(a, -1).copy(), -1)
        if r == 3:                                          # read-only
            b = a.copy()
            b.flags.writeable = False
            return b
        if r == 4 and a.ndim >= 2:                          # Fortran order
            return np.asfortranarray(a)
        return a

    def data(self, shape, dtype):
        a = self.rng.standard_normal(shape)
        if np.dtype(dtype).kind in "iu":
            a = np.round(a * 3)
        return a.astype(dtype)

    def call(self, fn, *args, **kw):
        """fn(*args, **kw); checks the inputs are unchanged and a finite result."""
        self.calls += 1
        arrays = [a for a in list(args) + list(kw.values()) if isinstance(a, np.ndarray)]
        before = [a.copy() for a in arrays]
        try:
            res = fn(*args, **kw)
        except ALLOWED:
            self.rejected += 1
            return None
        for a, b in zip(arrays, before):
            if not np.array_equal(a, b, equal_nan=True):
                raise AssertionError(f"{fn.__name__} modified an input")
        finite_in = all(np.all(np.isfinite(np.asarray(a, np.float64))) for a in arrays
                        if a.dtype.kind in "biuf")
        for r in res if isinstance(res, tuple) else (res,):
            # NaN, not -inf: max pooling over a window of padding only is -inf
            if (isinstance(r, np.ndarray) and r.dtype.kind in "fc" and finite_in
                    and r.dtype != np.float16 and np.any(np.isnan(r))):
                raise AssertionError(f"{fn.__name__}: NaN from finite input "
                                     f"(uninitialised memory?)")
        return res

    # -- geometry -----------------------------------------------------------
    def geometry(self, d):
        rng = self.rng
        g = int(rng.choice([1, 1, 1, 2, 3]))
        cin = g * int(rng.integers(1, 4))
        cout = g * int(rng.integers(1, 4))
        k = tuple(int(v) for v in rng.integers(1, 5, d))
        n = tuple(int(v) for v in rng.integers(0 if rng.random() < 0.05 else 1, 12, d))
        stride = tuple(int(v) for v in rng.integers(1, 4, d))
        dilation = tuple(int(v) for v in rng.integers(1, 3, d))
        r = rng.integers(5)
        padding = (0 if r == 0 else "same" if r == 1 else "full" if r == 2 else
                   tuple((int(a), int(b)) for a, b in rng.integers(0, 4, (d, 2))))
        mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular", "mean"]))
        return dict(g=g, cin=cin, cout=cout, k=k, n=n, stride=stride, dilation=dilation,
                    padding=padding, mode=mode)

    def invalid(self, kw):
        """Sometimes break one argument."""
        if self.rng.random() < 0.08:
            bad = [-1, 0, "bogus", (1, 2, 3, 4), 1.5, None]
            kw[list(kw)[self.rng.integers(len(kw))]] = bad[self.rng.integers(len(bad))]
        return kw

    # -- cases --------------------------------------------------------------
    def conv_case(self):
        rng = self.rng
        d = int(rng.choice([1, 2, 2, 3]))
        p = self.geometry(d)
        dtype = rng.choice([np.float32, np.float64, np.float64, np.int16, np.float16])
        batch = int(rng.integers(1, 3))
        cl = bool(rng.random() < 0.3)
        xs = (batch,) + p["n"] + (p["cin"],) if cl else (batch, p["cin"]) + p["n"]
        x = self.data(xs, dtype)
        w = self.data((p["cout"], p["cin"] // p["g"]) + p["k"], dtype)
        b = self.data((p["cout"],), dtype) if rng.random() < 0.5 else None
        kw = self.invalid(dict(stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
                               groups=p["g"], padding_mode=p["mode"], channels_last=cl,
                               workers=int(rng.integers(1, 4))))
        y = self.call(fastconv.conv, self.form(x), self.form(w), b, **kw)
        if y is None:
            return
        gy = self.data(y.shape, y.dtype)
        gx = self.call(fastconv.conv_grad_input, self.form(gy), self.form(w), x.shape, **kw)
        gw = self.call(fastconv.conv_grad_weight, self.form(x), self.form(gy), w.shape, **kw)
        self.call(fastconv.conv_grad_bias, gy, channels_last=cl)
        if gx is None or gw is None or y.dtype != np.float64 or p["mode"] != "zeros":
            return
        yb = y if b is None else fastconv.conv(x, w, **kw)
        lhs = float(np.vdot(yb, gy))
        scale = max(1.0, float(np.abs(yb).sum() * np.abs(gy).max(initial=0.0)))
        for rhs in (float(np.vdot(x, gx)), float(np.vdot(w, gw))):
            if abs(lhs - rhs) > 1e-9 * scale:
                raise AssertionError(f"conv faces are not adjoint: {lhs} vs {rhs} ({kw})")
        if rng.random() < 0.2 and isinstance(p["padding"], tuple) and kw["groups"] == p["g"]:
            xt = self.data(y.shape, y.dtype)
            wt = self.data((p["cin"], p["cout"] // p["g"]) + p["k"], y.dtype)
            kt = {k: v for k, v in kw.items() if k != "padding_mode"}
            kt["padding"] = tuple(min(lo, hi) for lo, hi in p["padding"])
            self.call(fastconv.conv_transpose, self.form(xt), wt, None, **kt)

    def pool_case(self):
        rng = self.rng
        d = int(rng.choice([1, 2, 3]))
        k = tuple(int(v) for v in rng.integers(1, 4, d))
        n = tuple(int(v) for v in rng.integers(1, 12, d))
        x = self.data((int(rng.integers(1, 3)), int(rng.integers(1, 4))) + n,
                      rng.choice([np.float32, np.float64]))
        if rng.random() < 0.1 and x.size:
            x.flat[int(rng.integers(x.size))] = np.nan
        stride = tuple(int(v) for v in rng.integers(1, 4, d))
        pad = tuple(int(min(v, kk // 2)) for v, kk in zip(rng.integers(0, 2, d), k))
        ceil = bool(rng.random() < 0.3)
        kw = self.invalid(dict(stride=stride, padding=pad, ceil_mode=ceil,
                               workers=int(rng.integers(1, 4))))
        dil = tuple(int(v) for v in rng.integers(1, 3, d))
        res = self.call(fastconv.max_pool, self.form(x), k, dilation=dil, return_indices=True,
                        **kw)
        if res is not None:
            y, idx = res
            gy = self.data(y.shape, y.dtype)
            self.call(fastconv.max_pool_grad, self.form(gy), self.form(x), k, dilation=dil, **kw)
            self.call(fastconv.max_pool_grad, gy, x, k, dilation=dil, indices=self.form(idx),
                      **kw)
        cip = bool(rng.random() < 0.5)
        y = self.call(fastconv.avg_pool, self.form(x), k, count_include_pad=cip, **kw)
        if y is not None:
            self.call(fastconv.avg_pool_grad, self.form(self.data(y.shape, y.dtype)), x.shape, k,
                      count_include_pad=cip, **kw)
        self.call(fastconv.global_avg_pool, self.form(x))
        self.call(fastconv.global_max_pool, self.form(x), keepdims=True)

    def local_case(self):
        rng = self.rng
        d = int(rng.choice([1, 2]))
        k = tuple(int(v) for v in rng.integers(1, 4, d))
        n = tuple(int(v) for v in rng.integers(3, 9, d))
        cin, cout = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dtype = rng.choice([np.float32, np.float64])
        stride = tuple(int(v) for v in rng.integers(1, 3, d))
        x = self.data((int(rng.integers(1, 3)), cin) + n, dtype)
        kw = self.invalid(dict(stride=stride, padding=int(rng.integers(0, 2)),
                               workers=int(rng.integers(1, 4))))
        try:
            out = fastconv.conv(x, np.ones((cout, cin) + k, dtype), stride=kw["stride"],
                                padding=kw["padding"]).shape[2:]
        except ALLOWED:
            out = n
        tiles = tuple(int(min(t, o)) if o else 1 for t, o in zip(rng.integers(1, 3, d), out))
        for fn, gin, gw, wshape in (
                (fastconv.local_conv, fastconv.local_conv_grad_input,
                 fastconv.local_conv_grad_weight, tuple(out) + (cout, cin) + k),
                (fastconv.tiled_conv, fastconv.tiled_conv_grad_input,
                 fastconv.tiled_conv_grad_weight, tiles + (cout, cin) + k)):
            w = self.data(wshape, dtype)
            y = self.call(fn, self.form(x), self.form(w), **kw)
            if y is None:
                continue
            gy = self.data(y.shape, y.dtype)
            self.call(gin, self.form(gy), w, x.shape, **kw)
            self.call(gw, x, self.form(gy), w.shape, **kw)

    def filter_case(self):
        rng = self.rng
        d = int(rng.choice([1, 2, 2, 3]))
        n = tuple(int(v) for v in rng.integers(1, 20, d))
        k = tuple(int(v) for v in rng.integers(1, 8, d))
        dtype = rng.choice([np.float32, np.float64, np.int32, np.complex128])
        a = self.data(n, dtype if dtype != np.complex128 else np.float64)
        if dtype == np.complex128:
            a = a + 1j * self.data(n, np.float64)
        w = self.data(k, np.float64)
        mode = str(rng.choice(["full", "same", "valid"]))
        method = str(rng.choice(["auto", "direct", "fft"]))
        for fn in (fastconv.signal.correlate, fastconv.signal.convolve):
            self.call(fn, self.form(a), self.form(w), mode, method)
        if d == 2:
            boundary = str(rng.choice(["fill", "wrap", "symm"]))
            for fn in (fastconv.signal.correlate2d, fastconv.signal.convolve2d):
                self.call(fn, self.form(a), w, mode, boundary, float(rng.standard_normal()))
        nmode = str(rng.choice(["reflect", "constant", "nearest", "mirror", "wrap",
                                "grid-wrap", "grid-mirror", "grid-constant"]))
        origin = [int(rng.integers(-(kk // 2), (kk - 1) // 2 + 1)) for kk in k]
        for fn in (fastconv.ndimage.correlate, fastconv.ndimage.convolve):
            self.call(fn, self.form(a), self.form(w), mode=nmode, cval=1.5, origin=origin)

    def linalg_case(self):
        rng = self.rng
        x_shape = (1, int(rng.integers(1, 3)), int(rng.integers(2, 9)), int(rng.integers(2, 9)))
        w = self.data((int(rng.integers(1, 3)), x_shape[1], 2, 3), np.float64)
        kw = self.invalid(dict(padding=int(rng.integers(0, 3)), stride=int(rng.integers(1, 3))))
        A = self.call(fastconv.ConvOperator, x_shape, w, **kw)
        if A is not None:
            self.call(A.matvec, self.data(A.shape[1], np.float64))
            self.call(A.rmatvec, self.data(A.shape[0], np.float64))
        self.call(fastconv.conv_matrix, x_shape, w, **kw)

    def run(self, calls):
        cases = [self.conv_case] * 5 + [self.pool_case] * 2 + [self.local_case,
                                                             self.filter_case] * 2 + [
            self.linalg_case]
        while self.calls < calls:
            cases[self.rng.integers(len(cases))]()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261204)
    args = ap.parse_args(argv)
    fuzz = Fuzz(args.seed)
    try:
        fuzz.run(args.calls)
    except Exception:
        traceback.print_exc()
        print(f"fuzz: FAILED after {fuzz.calls} calls (seed {args.seed})")
        return 1
    print(f"fuzz: {fuzz.calls} calls, {fuzz.rejected} rejected with a clear error, 0 failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
