"""asv benchmarks: pooling (max/avg, forward and gradient) and global pools,
1-d / 2-d / 3-d, float32 and float64."""

from ._common import DTYPES, need, rand

# ndim -> input shape (N, C, *S); kernel 3 stride 2 padding 1 (ResNet's max pool)
_SHAPES = {
    1: (8, 64, 8192),
    2: (8, 64, 56, 56),
    3: (2, 32, 24, 24, 24),
}
OPS = ["max_pool", "avg_pool", "max_pool_grad", "avg_pool_grad", "global_avg_pool",
       "global_max_pool"]


class TimePool:
    params = (OPS, [1, 2, 3], DTYPES)
    param_names = ("op", "ndim", "dtype")
    timeout = 120.0

    def setup(self, op, ndim, dtype):
        fn = need(op)
        x = rand(_SHAPES[ndim], dtype)
        kw = dict(kernel_size=3, stride=2, padding=1)
        if op in ("max_pool", "avg_pool"):
            self.run = lambda: fn(x, **kw)
        elif op == "max_pool_grad":
            y, idx = need("max_pool")(x, return_indices=True, **kw)
            g = rand(y.shape, dtype, 1)
            self.run = lambda: fn(g, x, indices=idx, **kw)
        elif op == "avg_pool_grad":
            g = rand(need("avg_pool")(x, **kw).shape, dtype, 1)
            self.run = lambda: fn(g, x.shape, **kw)
        else:
            self.run = lambda: fn(x)
        self.run()

    def time_pool(self, op, ndim, dtype):
        self.run()


class TimeMaxPoolGradNoIndices:
    """max_pool_grad without the forward's indices (recomputes the argmax)."""

    params = (DTYPES,)
    param_names = ("dtype",)

    def setup(self, dtype):
        fn = need("max_pool_grad")
        x = rand(_SHAPES[2], dtype)
        kw = dict(kernel_size=3, stride=2, padding=1)
        g = rand(need("max_pool")(x, **kw).shape, dtype, 1)
        self.run = lambda: fn(g, x, **kw)
        self.run()

    def time_max_pool_grad_no_indices(self, dtype):
        self.run()
