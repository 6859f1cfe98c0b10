"""asv benchmarks: unshared (local_conv) and tiled convolution with their
gradients, float32 and float64; peak memory of the workspace-heavy faces."""

from ._common import DTYPES, need, rand

# x (N, C_in, H, W), 3x3 kernels, padding 1: S_out = S
_N, _CIN, _COUT, _S, _K = 4, 16, 32, (28, 28), (3, 3)
_TILES = (2, 2)
OPS = ["local_conv", "local_conv_grad_input", "local_conv_grad_weight",
       "tiled_conv", "tiled_conv_grad_input", "tiled_conv_grad_weight"]


def _callable(op, dtype):
    fn = need(op)
    kind = op.split("_")[0]
    lead = _S if kind == "local" else _TILES
    x = rand((_N, _CIN) + _S, dtype, 1)
    w = rand(lead + (_COUT, _CIN) + _K, dtype, 2, 0.1)
    g = rand((_N, _COUT) + _S, dtype, 3)
    if op.endswith("grad_input"):
        return lambda: fn(g, w, x.shape, padding=1)
    if op.endswith("grad_weight"):
        return lambda: fn(x, g, w.shape, padding=1)
    return lambda: fn(x, w, padding=1)


class TimeLocal:
    params = (OPS, DTYPES)
    param_names = ("op", "dtype")
    timeout = 120.0

    def setup(self, op, dtype):
        self.run = _callable(op, dtype)
        self.run()

    def time_local(self, op, dtype):
        self.run()


class PeakMemLocal:
    """Peak memory of local_conv and its gradients (per-location weights
    (28*28*32*16*9 = 3.6 M entries) plus the packing workspaces)."""

    params = (["local_conv", "local_conv_grad_input", "local_conv_grad_weight"], DTYPES)
    param_names = ("op", "dtype")
    timeout = 120.0

    def setup(self, op, dtype):
        self.run = _callable(op, dtype)

    def peakmem_local(self, op, dtype):
        self.run()
