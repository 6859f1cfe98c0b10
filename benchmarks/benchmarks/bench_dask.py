"""asv benchmarks: fastconv.dask.conv (chunked over the batch with map_overlap
halos). Skipped where dask or fastconv.dask is missing (older commits)."""

from ._common import DTYPES, need, rand

_X = (8, 16, 96, 96)
_W = (32, 16, 3, 3)


class TimeDaskConv:
    params = ([1, 4], DTYPES)
    param_names = ("batch_chunk", "dtype")
    timeout = 120.0

    def setup(self, batch_chunk, dtype):
        try:
            import dask.array as da
        except ImportError as exc:
            raise NotImplementedError(f"dask: {exc}") from None
        conv = need("dask.conv")
        x = da.from_array(rand(_X, dtype, 1), chunks=(batch_chunk,) + _X[1:])
        w = rand(_W, dtype, 2, 0.1)
        self.run = lambda: conv(x, w, padding=1).compute()
        self.run()

    def time_dask_conv(self, batch_chunk, dtype):
        self.run()
