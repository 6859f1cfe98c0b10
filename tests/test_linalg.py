"""ConvOperator and conv_matrix (fastconv.linalg) against the reference loops,
the dot-product identity, and each other."""

import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator, lsqr

import fastconv
from reference import conv_forward

CASES = [
    # input_shape (channels-first), kernel, keywords
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(padding=((1, 0), (2, 1)), stride=(2, 1))),
    ((2, 4, 9), (6, 2, 3), dict(groups=2, dilation=2, padding="same")),
    ((3, 5, 4), (2, 3, 2, 2), dict(padding=1, padding_mode="reflect")),
    ((1, 2, 5, 4, 3), (2, 2, 2, 3, 1), dict(padding=1, padding_mode="circular")),
    ((2, 6, 5), (3, 2, 5), dict(padding="full", padding_mode="replicate", groups=3)),
]


@pytest.mark.parametrize("shape,wshape,kw", CASES)
def test_matrix_and_operator_match_the_reference(shape, wshape, kw, rng):
    x = rng.standard_normal(shape)
    w = rng.standard_normal(wshape)
    batched = len(shape) == len(wshape)
    xb = x if batched else x[None]
    ref = conv_forward(xb, w, **kw)
    ref = ref if batched else ref[0]
    M = fastconv.conv_matrix(shape, w, **kw)
    np.testing.assert_allclose(M @ x.ravel(), ref.ravel(), rtol=1e-12, atol=1e-12)
    A = fastconv.ConvOperator(shape, w, **kw)
    assert isinstance(A, LinearOperator) and A.shape == M.shape
    np.testing.assert_allclose(A.matvec(x.ravel()), ref.ravel(), rtol=1e-12, atol=1e-12)
    # the adjoint is the transpose of the explicit matrix, and obeys <Ax, y> = <x, A^T y>
    y = rng.standard_normal(A.shape[0])
    np.testing.assert_allclose(A.rmatvec(y), M.T @ y, rtol=1e-12, atol=1e-12)
    assert np.isclose(np.dot(A.matvec(x.ravel()), y), np.dot(x.ravel(), A.rmatvec(y)),
                      rtol=1e-12)


def test_channels_last_and_unbatched(rng):
    w = rng.standard_normal((3, 2, 3, 3))
    x_cf = rng.standard_normal((2, 7, 5))                 # unbatched, channels-first
    x_cl = np.ascontiguousarray(np.moveaxis(x_cf, 0, -1))  # the same data, channels-last
    ref = conv_forward(x_cf[None], w, padding=1)[0]
    M = fastconv.conv_matrix(x_cl.shape, w, padding=1, channels_last=True)
    np.testing.assert_allclose(M @ x_cl.ravel(), np.moveaxis(ref, 0, -1).ravel(), atol=1e-12)
    A = fastconv.ConvOperator(x_cl.shape, w, padding=1, channels_last=True)
    np.testing.assert_allclose(A @ x_cl.ravel(), M @ x_cl.ravel(), atol=1e-12)


def test_lsqr_recovers_a_signal(rng):
    w = np.array([[[0.25, 0.5, 0.25]]])
    A = fastconv.ConvOperator((1, 1, 64), w, padding="full")
    x = rng.standard_normal(64)
    x_hat = lsqr(A, A @ x, atol=1e-14, btol=1e-14, iter_lim=2000)[0]
    np.testing.assert_allclose(x_hat, x, atol=1e-6)


def test_refusals():
    w = np.ones((1, 1, 3))
    with pytest.raises(NotImplementedError, match="mean"):
        fastconv.conv_matrix((1, 1, 5), w, padding=1, padding_mode="mean")
    with pytest.raises(TypeError, match="bias"):
        fastconv.ConvOperator((1, 1, 5), w, bias=np.ones(1))
    with pytest.raises(ValueError, match="input_shape"):
        fastconv.conv_matrix((5,), w)
