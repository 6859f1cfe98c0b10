"""Inputs that are not aligned to their dtype (a NumPy array on a byte buffer
at an odd offset) are copied where they enter; results match SciPy and the
reference loops as for any other input, and the caller's array is unchanged."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as ss

import fastconv
import fastconv.ndimage
import fastconv.signal
from fastconv._validate import aligned

import reference as R


def unaligned(a):
    """A C-contiguous copy of ``a`` whose data starts one byte off alignment."""
    a = np.asarray(a)
    buf = np.frombuffer(bytearray(a.nbytes + 1), np.uint8)[1:]
    u = buf.view(a.dtype).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned and u.flags.c_contiguous
    return u


def test_aligned_passes_aligned_arrays_through_and_copies_the_rest():
    a = np.arange(12.0).reshape(3, 4)
    assert aligned(a) is a
    u = unaligned(a)
    c = aligned(u)
    assert c is not u and c.flags.aligned and c.flags.c_contiguous
    np.testing.assert_array_equal(c, a)


def test_the_report_case_max_pool(rng):
    """np.frombuffer(bytearray(8 * 128 + 1), np.uint8)[1:].view(np.float64)."""
    x = np.frombuffer(bytearray(8 * 128 + 1), np.uint8)[1:].view(np.float64).reshape(1, 2, 8, 8)
    assert not x.flags.aligned
    got = fastconv.max_pool(x, 3)
    np.testing.assert_array_equal(got, np.zeros((1, 2, 2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_faces_on_unaligned_input(dtype, rng):
    x = rng.standard_normal((2, 3, 9, 11)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    xu, wu, bu = unaligned(x), unaligned(w), unaligned(b)
    before = xu.copy()
    y = fastconv.conv(xu, wu, bu, padding=1)
    R.assert_close(y, R.conv_forward(x, w, b, padding=1))
    np.testing.assert_array_equal(xu, before)
    gy = unaligned(rng.standard_normal(y.shape).astype(dtype))
    R.assert_close(fastconv.conv_grad_input(gy, wu, x.shape, padding=1),
                   R.conv_grad_input(np.asarray(gy), w, x.shape, padding=1))
    R.assert_close(fastconv.conv_grad_weight(xu, gy, w.shape, padding=1),
                   R.conv_grad_weight(x, np.asarray(gy), w.shape, padding=1))


def test_unaligned_out_is_written_correctly(rng):
    x = rng.standard_normal((1, 2, 8, 8))
    w = rng.standard_normal((3, 2, 3, 3))
    out = unaligned(np.zeros((1, 3, 6, 6)))
    got = fastconv.conv(x, w, out=out)
    assert got is out
    R.assert_close(out, R.conv_forward(x, w))


def test_pooling_on_unaligned_input(rng):
    x = rng.standard_normal((2, 3, 10, 9))
    xu = unaligned(x)
    pairs = ((1, 1), (1, 1))
    y, idx = fastconv.max_pool(xu, 3, stride=2, padding=1, return_indices=True)
    ry, ridx = R.max_pool(x, (3, 3), (2, 2), pairs)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    g = rng.standard_normal(y.shape)
    ref = R.max_pool_grad(g, x, (3, 3), (2, 2), pairs)
    np.testing.assert_allclose(fastconv.max_pool_grad(unaligned(g), xu, 3, stride=2, padding=1),
                               ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fastconv.max_pool_grad(unaligned(g), xu, 3, stride=2, padding=1,
                                                      indices=unaligned(idx)),
                               ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fastconv.avg_pool(xu, 2),
                               x[..., :8].reshape(2, 3, 5, 2, 4, 2).mean(axis=(3, 5)),
                               rtol=1e-12, atol=1e-12)


def test_filtering_on_unaligned_input(rng):
    img = rng.standard_normal((40, 37)).astype(np.float32)
    k = rng.standard_normal((5, 4)).astype(np.float32)
    iu, ku = unaligned(img), unaligned(k)
    np.testing.assert_allclose(fastconv.ndimage.correlate(iu, ku, mode="mirror"),
                               ndi.correlate(img, k, mode="mirror"), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(fastconv.signal.correlate(iu, ku, mode="same", method="direct"),
                               ss.correlate(img, k, mode="same", method="direct"),
                               rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(fastconv.signal.convolve2d(iu, ku, boundary="symm"),
                               ss.convolve2d(img, k, boundary="symm"), rtol=2e-5, atol=2e-5)


def test_tiled_conv_on_unaligned_input(rng):
    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((2, 1, 3, 2, 3, 3))
    R.assert_close(fastconv.tiled_conv(unaligned(x), unaligned(w), padding=1),
                   R.tiled_conv(x, w, padding=1))
