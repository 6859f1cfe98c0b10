"""asv benchmarks: the standard layer suite x face x dtype, timed with fastconv.

The suite is the one of ``python -m fastconv bench`` (``fastconv._bench.SUITE``),
so asv's commit-by-commit history and the side-by-side peer table measure the
same layers. Faces: ``fwd`` = conv, ``dX`` = conv_grad_input,
``dW`` = conv_grad_weight. Run from ``benchmarks/``::

    asv run --python=same --quick          # the installed fastconv, one sample each
    asv run                                # build and time the commits of `main`
"""

from fastconv._bench import DTYPES, FACES, SUITE, fastconv_callable, get_layer, make_arrays

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
