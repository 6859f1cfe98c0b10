"""asv benchmarks: the standard layer suite x face x dtype, timed with fastconv,
and every public convolution op (``TimeConvOps``) on modest 1-d/2-d/3-d shapes.

The suite is the one of ``python -m fastconv bench`` (``fastconv._bench.SUITE``),
so asv's commit-by-commit history and the side-by-side peer table measure the
same layers. Faces: ``fwd`` = conv, ``dX`` = conv_grad_input,
``dW`` = conv_grad_weight. Run from ``benchmarks/``::

    asv run --python=same --quick          # the installed fastconv, one sample each
    ASV_PYTHONPATH=$PWD/../src asv run --python=same --quick   # the in-place build
    asv run HEAD~3..HEAD                   # build and time these commits of `main`
"""

from fastconv._bench import DTYPES, FACES, SUITE, fastconv_callable, get_layer, make_arrays

from ._common import need, rand

LAYERS = [layer.name for layer in SUITE]

# (layer, face, dtype) cells not worth asv's time; setup skips them.
SKIP = frozenset()


def _prepare(layer_name, face, dtype, workers=None):
    if (layer_name, face, dtype) in SKIP:
        raise NotImplementedError(f"{layer_name} {face} {dtype}: skipped")
    layer = get_layer(layer_name)
    x, w, g = make_arrays(layer, dtype)
    run = fastconv_callable(layer, face, x, w, g, workers=workers)
    run()  # warm (thread pool, caches) and fail in setup, not in the timing
    return run


class TimeConv:
    """Median time of one call of each face of each layer (default threads)."""

    params = (LAYERS, list(FACES), list(DTYPES))
    param_names = ("layer", "face", "dtype")
    timeout = 300.0
    # The machine has 2 shared cores and the big layers take 10-100 ms a call:
    # up to 10 samples per round, at most 10 s per benchmark.
    repeat = (3, 10, 10.0)
    warmup_time = 0.05

    def setup(self, layer, face, dtype):
        self.run = _prepare(layer, face, dtype)

    def time_conv(self, layer, face, dtype):
        self.run()


class TimeConvSerial:
    """One thread (workers=1) on a few layers: separates kernel speed from
    threading (compare with TimeConv to read the parallel efficiency)."""

    params = (["3x3_64_56", "1x1_256to64_56", "dw3x3_256_28", "1d_k9_64_16000"],
              list(FACES))
    param_names = ("layer", "face")
    timeout = 300.0
    repeat = (3, 10, 10.0)
    warmup_time = 0.05

    def setup(self, layer, face):
        self.run = _prepare(layer, face, "float32", workers=1)

    def time_conv_serial(self, layer, face):
        self.run()


class PeakMemConv:
    """Peak resident memory around one call on the biggest layer (1-d, k=9,
    64->64, length 16000, N=8): its inputs are 33 MB in float32, a fully
    materialised im2col would be ~300 MB, so this tracks scratch-buffer size."""

    params = (list(FACES), list(DTYPES))
    param_names = ("face", "dtype")
    timeout = 300.0

    def setup(self, face, dtype):
        layer = get_layer("1d_k9_64_16000")
        self.arrays = make_arrays(layer, dtype)
        self.layer = layer

    def peakmem_conv(self, face, dtype):
        x, w, g = self.arrays
        fastconv_callable(self.layer, face, x, w, g)()


# --------------------------------------------------------------------------
# Every face of the convolution, 1-d / 2-d / 3-d, on modest shapes
# --------------------------------------------------------------------------

# ndim -> (x shape, w shape, padding) for conv / grad faces, and
#         (x shape, w shape) for conv_transpose (stride 2, kernel 4, padding 1: a 2x upsample)
_ND = {
    1: ((4, 32, 4096), (32, 32, 5), 2),
    2: ((4, 32, 48, 48), (32, 32, 3, 3), 1),
    3: ((2, 8, 20, 20, 20), (16, 8, 3, 3, 3), 1),
}
_ND_TRANSPOSE = {
    1: ((4, 32, 2048), (32, 16, 4)),
    2: ((4, 32, 24, 24), (32, 16, 4, 4)),
    3: ((2, 8, 10, 10, 10), (8, 8, 4, 4, 4)),
}
OPS = ["conv", "conv_transpose", "conv_grad_input", "conv_grad_weight", "conv_grad_bias",
       "conv_vjp"]


def _face_callable(op, ndim, dtype):
    """A zero-argument callable running ``op`` on the ``ndim``-d shapes of ``_ND``."""
    if op == "conv_transpose":
        xs, ws = _ND_TRANSPOSE[ndim]
        fn = need(f"conv_transpose{ndim}d")
        x, w = rand(xs, dtype, 1), rand(ws, dtype, 2, 0.1)
        return lambda: fn(x, w, stride=2, padding=1)
    xs, ws, pad = _ND[ndim]
    x, w = rand(xs, dtype, 1), rand(ws, dtype, 2, 0.1)
    g = rand((xs[0], ws[0]) + xs[2:], dtype, 3)  # "same" padding: S_out = S
    if op == "conv":
        fn = need(f"conv{ndim}d")
        return lambda: fn(x, w, padding=pad)
    if op == "conv_grad_input":
        fn = need(op)
        return lambda: fn(g, w, x.shape, padding=pad)
    if op == "conv_grad_weight":
        fn = need(op)
        return lambda: fn(x, g, w.shape, padding=pad)
    if op == "conv_grad_bias":
        fn = need(op)
        return lambda: fn(g)
    if op == "conv_vjp":  # forward + the three gradients: one training step of the layer
        fn = need(op)
        b = rand(ws[:1], dtype, 4)

        def step():
            _, vjp = fn(x, w, b, padding=pad)
            return vjp(g)
        return step
    raise ValueError(op)


class TimeConvOps:
    """Each public convolution op (conv1d/2d/3d, conv_transpose1d/2d/3d, the
    three gradients, conv_vjp = forward + backward) for d = 1, 2, 3."""

    params = (OPS, [1, 2, 3], DTYPES)
    param_names = ("op", "ndim", "dtype")
    timeout = 120.0

    def setup(self, op, ndim, dtype):
        self.run = _face_callable(op, ndim, dtype)
        self.run()

    def time_op(self, op, ndim, dtype):
        self.run()


class PeakMemConvIm2col:
    """Peak memory of the strided layers, which go through the tiled im2col
    (forward) and the bucketed GEMM (grad_weight): tracks the patch buffers."""

    params = (["conv1_7x7s2", "3x3s2_128_56"], ["fwd", "dW"], DTYPES)
    param_names = ("layer", "face", "dtype")
    timeout = 300.0

    def setup(self, layer, face, dtype):
        self.layer = get_layer(layer)
        self.arrays = make_arrays(self.layer, dtype)

    def peakmem_conv(self, layer, face, dtype):
        x, w, g = self.arrays
        fastconv_callable(self.layer, face, x, w, g)()
