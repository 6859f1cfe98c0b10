"""asv benchmarks: ConvOperator (matvec = conv, rmatvec = its adjoint) and
conv_matrix (the convolution as a scipy.sparse csr_array)."""

from ._common import DTYPES, need, rand

_IN = (1, 8, 64, 64)   # input_shape of the operator
_W = (8, 8, 3, 3)


class TimeConvOperator:
    params = (["matvec", "rmatvec"], DTYPES)
    param_names = ("op", "dtype")

    def setup(self, op, dtype):
        A = need("ConvOperator")(_IN, rand(_W, dtype, 1, 0.1), padding=1)
        v = rand(A.shape[1] if op == "matvec" else A.shape[0], dtype, 2)
        fn = A.matvec if op == "matvec" else A.rmatvec
        self.run = lambda: fn(v)
        self.run()

    def time_operator(self, op, dtype):
        self.run()


class TimeConvMatrix:
    """Building the sparse matrix, and one product with it."""

    params = (["build", "spmv"], DTYPES)
    param_names = ("op", "dtype")
    timeout = 120.0

    def setup(self, op, dtype):
        fn = need("conv_matrix")
        w = rand(_W, dtype, 1, 0.1)
        if op == "build":
            self.run = lambda: fn(_IN, w, padding=1)
        else:
            M = fn(_IN, w, padding=1)
            v = rand(M.shape[1], dtype, 2)
            self.run = lambda: M @ v
        self.run()

    def time_conv_matrix(self, op, dtype):
        self.run()


class PeakMemConvMatrix:
    """Peak memory of building the matrix: 8*64*64 rows x 72 entries
    (values + column indices), plus the construction's temporaries."""

    params = (DTYPES,)
    param_names = ("dtype",)

    def setup(self, dtype):
        self.fn = need("conv_matrix")
        self.w = rand(_W, dtype, 1, 0.1)

    def peakmem_conv_matrix(self, dtype):
        self.fn(_IN, self.w, padding=1)
