"""asv benchmarks: the SciPy-compatible filters (fastconv.signal, fastconv.ndimage),
and ``track_`` benchmarks of fastconv's speed-up over SciPy on the same inputs.

The speed-ups are measured inside the track function: SciPy and fastconv
interleaved, median of a few calls each (``_common.speedup``), so a loaded
machine slows both alike. Values > 1 mean fastconv is faster.
"""

import numpy as np

from ._common import DTYPES, need, rand, speedup

_IMAGE = (512, 512)
KSIZES = [3, 9]


def _image_and_kernel(ksize, dtype):
    return rand(_IMAGE, dtype, 1), rand((ksize, ksize), dtype, 2, 1.0 / ksize)


def _pair(func, ksize, dtype):
    """(fastconv callable, scipy callable) for ``func`` = "module.name" on the same inputs."""
    import scipy.ndimage
    import scipy.signal

    mod, name = func.split(".")
    fc = need(func)
    sp = getattr({"signal": scipy.signal, "ndimage": scipy.ndimage}[mod], name)
    img, k = _image_and_kernel(ksize, dtype)
    if mod == "signal":
        return (lambda: fc(img, k, mode="same")), (lambda: sp(img, k, mode="same"))
    return (lambda: fc(img, k, mode="reflect")), (lambda: sp(img, k, mode="reflect"))


class TimeSignal:
    params = (["correlate", "convolve", "correlate2d", "convolve2d"], KSIZES, DTYPES)
    param_names = ("func", "ksize", "dtype")
    timeout = 120.0

    def setup(self, func, ksize, dtype):
        self.run, _ = _pair(f"signal.{func}", ksize, dtype)
        self.run()

    def time_signal(self, func, ksize, dtype):
        self.run()


class TimeNdimage:
    params = (["correlate", "convolve"], KSIZES, DTYPES)
    param_names = ("func", "ksize", "dtype")
    timeout = 120.0

    def setup(self, func, ksize, dtype):
        self.run, _ = _pair(f"ndimage.{func}", ksize, dtype)
        self.run()

    def time_ndimage(self, func, ksize, dtype):
        self.run()


class TrackSpeedupScipy:
    """SciPy time / fastconv time for the same call on a 512x512 image."""

    params = (["signal.correlate", "signal.correlate2d", "ndimage.correlate"], KSIZES, DTYPES)
    param_names = ("func", "ksize", "dtype")
    unit = "speed-up"
    timeout = 300.0

    def setup(self, func, ksize, dtype):
        self.fc, self.sp = _pair(func, ksize, dtype)

    def track_speedup_vs_scipy(self, func, ksize, dtype):
        return speedup(self.sp, self.fc, repeat=5)


class TrackSpeedupMultichannel:
    """A multichannel 3x3 conv (N=2, 16->16 channels, 128x128, 'valid') against
    the SciPy way of writing it: a loop of scipy.signal.correlate over
    (sample, output channel, input channel), summed."""

    params = (DTYPES,)
    param_names = ("dtype",)
    unit = "speed-up"
    timeout = 300.0

    def setup(self, dtype):
        import scipy.signal

        conv = need("conv")
        x = rand((2, 16, 128, 128), dtype, 1)
        w = rand((16, 16, 3, 3), dtype, 2, 1.0 / 12)

        def loop():
            n, c = x.shape[:2]
            y = np.zeros((n, w.shape[0], 126, 126), np.result_type(x, w))
            for i in range(n):
                for o in range(w.shape[0]):
                    for j in range(c):
                        y[i, o] += scipy.signal.correlate(x[i, j], w[o, j], mode="valid")
            return y

        self.sp = loop
        self.fc = lambda: conv(x, w)

    def track_speedup_vs_scipy_loop(self, dtype):
        return speedup(self.sp, self.fc, repeat=3)
