"""The convolution as a linear map: a SciPy LinearOperator and an explicit
sparse matrix (DESIGN §1.5).

``ConvOperator`` applies :func:`fastconv.conv` (matvec) and its exact adjoint
:func:`fastconv.conv_grad_input` (rmatvec) to flattened arrays, so it plugs
into ``scipy.sparse.linalg`` solvers (``lsqr``, ``cg`` on the normal
equations, ...).  ``conv_matrix`` builds the same map as a ``csr_array``,
entry by entry from the geometry.
"""

from __future__ import annotations

from math import prod

import numpy as np
import scipy.sparse
from scipy.sparse.linalg import LinearOperator

from fastconv import _padding
from fastconv.conv import (
    _as_real_array, _as_shape, _dtypes, _geometry, _is_batched, _spatial_rank, conv,
    conv_grad_input,
)

__all__ = ["ConvOperator", "conv_matrix"]

_FORBIDDEN = ("out", "bias")


def _check_keywords(kwargs):
    for name in _FORBIDDEN:
        if name in kwargs:
            raise TypeError(f"{name}= is not a keyword of a linear convolution operator")


class ConvOperator(LinearOperator):
    """The convolution ``x -> conv(x, w, **kwargs)`` as a SciPy LinearOperator.

    ``matvec`` is ``conv(x.reshape(input_shape), w, **kwargs).ravel()``,
    ``rmatvec`` its exact adjoint :func:`fastconv.conv_grad_input`
    (``<A x, y> = <x, A^T y>`` to rounding), so the operator plugs into the
    ``scipy.sparse.linalg`` solvers (``lsqr``, ``cg`` on the normal
    equations, ...) without ever forming the matrix.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of ``x`` in the chosen layout, batched (N, C_in, *S) or
        unbatched (C_in, *S).
    w : array_like, shape (C_out, C_in/groups, *K)
        The weight, as for :func:`fastconv.conv`.
    **kwargs
        Any keyword of :func:`fastconv.conv` but ``bias`` and ``out``:
        ``stride``, ``padding``, ``dilation``, ``groups``, ``padding_mode``,
        ``channels_last``, ``workers``.

    Attributes
    ----------
    shape : tuple of int
        ``(prod(output_shape), prod(input_shape))``.
    dtype : numpy.dtype
        float32 for a float16 or float32 ``w``, else float64 (the dtype the
        convolution computes in for a float32 input).
    input_shape, output_shape : tuple of int
        Shapes of the unflattened input and output.
    weight : ndarray
        ``w`` as an array.
    kwargs : dict
        The keywords given.

    Raises
    ------
    TypeError
        ``bias`` or ``out`` among the keywords, ``input_shape`` not a
        sequence of ints, a complex or non-numeric ``w``.
    ValueError
        Shapes or keywords :func:`fastconv.conv` rejects (it is called once
        on zeros of ``input_shape`` to find the output shape).

    See Also
    --------
    conv_matrix : The same map as an explicit sparse matrix.
    fastconv.conv, fastconv.conv_grad_input

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> from scipy.sparse.linalg import lsqr
    >>> w = np.array([[[0.25, 0.5, 0.25]]])
    >>> A = fastconv.ConvOperator((1, 1, 20), w, padding="full")  # 22 x 20, injective
    >>> print(A.shape, A.dtype, A.output_shape)
    (22, 20) float64 (1, 1, 22)
    >>> x = np.sin(np.arange(20.0))
    >>> x_hat = lsqr(A, A.matvec(x), atol=1e-12, btol=1e-12)[0]
    >>> bool(np.allclose(x_hat, x, atol=1e-6))
    True
    >>> y = np.cos(np.arange(22.0))
    >>> bool(np.isclose(np.dot(A.matvec(x), y), np.dot(x, A.rmatvec(y))))
    True
    """

    def __init__(self, input_shape, w, **kwargs):
        _check_keywords(kwargs)
        self.input_shape = _as_shape(input_shape, "input_shape")
        self.weight = _as_real_array(w, "w")
        self.kwargs = dict(kwargs)
        probe = np.zeros(self.input_shape, np.result_type(self.weight.dtype, np.float32))
        self.output_shape = conv(probe, self.weight, **self.kwargs).shape
        compute, _ = _dtypes(probe, self.weight)
        super().__init__(compute, (prod(self.output_shape), prod(self.input_shape)))

    def _matvec(self, x):
        y = conv(np.reshape(x, self.input_shape), self.weight, **self.kwargs)
        return y.reshape(-1)

    def _rmatvec(self, y):
        g = conv_grad_input(np.reshape(y, self.output_shape), self.weight, self.input_shape,
                            **self.kwargs)
        return g.reshape(-1)


def conv_matrix(input_shape, w, *, stride=1, padding=0, dilation=1, groups=1,
                padding_mode="zeros", channels_last=False):
    """The convolution as an explicit ``scipy.sparse.csr_array``.

    ``conv_matrix(input_shape, w, **kw) @ x.ravel() == conv(x, w, **kw).ravel()``
    for ``x`` of shape ``input_shape`` (either layout, batched or unbatched),
    built entry by entry from the geometry.  Entries that the padding maps
    onto the same input element are summed.

    Parameters
    ----------
    input_shape : sequence of ints
        Shape of ``x`` in the chosen layout, batched (N, C_in, *S) or
        unbatched (C_in, *S).
    w : array_like, shape (C_out, C_in/groups, *K)
        The weight, as for :func:`fastconv.conv`.
    stride, padding, dilation, groups : optional
        As for :func:`fastconv.conv`, with the same defaults.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}, default "zeros"
        As for :func:`fastconv.conv`; "mean", which couples every input of a
        channel to every padded position, is not built.
    channels_last : bool, default False
        ``input_shape`` (and the flattening of the output) is channels last.

    Returns
    -------
    M : scipy.sparse.csr_array, shape (prod(output_shape), prod(input_shape))
        Rows and columns in the C order of the output and input in the
        chosen layout.  dtype: float64 for an integer, bool or float64 ``w``,
        float32 for float16 or float32.

    Raises
    ------
    NotImplementedError
        ``padding_mode="mean"`` (use :class:`ConvOperator`), or more than 16
        spatial dimensions.
    TypeError, ValueError
        As :func:`fastconv.conv` (``input_shape`` must be a sequence of ints).

    See Also
    --------
    ConvOperator : The same map, matrix-free.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> M = fastconv.conv_matrix((1, 1, 4), np.array([[[1.0, 2.0]]]))
    >>> M.toarray()
    array([[1., 2., 0., 0.],
           [0., 1., 2., 0.],
           [0., 0., 1., 2.]])

    Any geometry, compared with the convolution itself:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 6, 7, 4))                     # channels last
    >>> w = rng.standard_normal((6, 2, 3, 3))
    >>> kw = dict(stride=2, padding=1, groups=2, padding_mode="reflect", channels_last=True)
    >>> M = fastconv.conv_matrix(x.shape, w, **kw)
    >>> y = fastconv.conv(x, w, **kw)
    >>> print(M.shape, bool(np.allclose(M @ x.ravel(), y.ravel())))
    (144, 336) True
    """
    if padding_mode == "mean":
        raise NotImplementedError("conv_matrix does not build padding_mode='mean' "
                                  "(a dense coupling); use ConvOperator")
    w = _as_real_array(w, "w")
    d = _spatial_rank(w)
    shape = _as_shape(input_shape, "input_shape")
    batched = _is_batched(len(shape), d, "input_shape", shape)
    shape_cf = shape if batched else (1,) + shape
    if channels_last:
        shape_cf = (shape_cf[0], shape_cf[-1]) + tuple(shape_cf[1:-1])
    n, c = shape_cf[:2]
    geom = _geometry(shape_cf[2:], w.shape[2:], c, w.shape[0], stride, padding, dilation,
                     groups, padding_mode, w.shape)
    compute, _ = _dtypes(w)
    cout, cg = geom.out_channels, c // geom.groups
    cog = cout // geom.groups
    spatial, out = geom.in_spatial, geom.out_spatial
    # per axis: for each output index and tap, the input index it reads (-1: zero pad)
    reads = []
    for j in range(d):
        lo = geom.pad[j][0]
        pos = (np.arange(out[j])[:, None] * geom.stride[j]
               + np.arange(geom.kernel[j])[None, :] * geom.dilation[j] - lo)
        if padding_mode == "zeros":
            src = np.where((pos >= 0) & (pos < spatial[j]), pos, -1)
        else:
            hi = geom.pad[j][1]
            src = _padding.source_index(spatial[j], lo, hi, padding_mode)[pos + lo]
        reads.append(src)
    # all (output position, tap) pairs: their flat input index, or -1
    grids = np.meshgrid(*[np.arange(out[j]) for j in range(d)],
                        *[np.arange(geom.kernel[j]) for j in range(d)], indexing="ij")
    idx = [reads[j][grids[j], grids[d + j]] for j in range(d)]
    valid = np.all([i >= 0 for i in idx], axis=0).reshape(-1)
    in_flat = np.ravel_multi_index([np.maximum(i, 0) for i in idx], spatial).reshape(-1)
    p_flat = np.broadcast_to(np.arange(prod(out)).reshape(out + (1,) * d),
                             out + tuple(geom.kernel)).reshape(-1)
    t_flat = np.broadcast_to(np.arange(prod(geom.kernel)).reshape((1,) * d + geom.kernel),
                             out + tuple(geom.kernel)).reshape(-1)
    p_flat, t_flat, in_flat = p_flat[valid], t_flat[valid], in_flat[valid]
    P, S, K = prod(out), prod(spatial), prod(geom.kernel)
    wf = np.asarray(w, compute).reshape(cout, cg, K)
    rows, cols, vals = [], [], []
    for o in range(cout):
        g = o // cog
        for ci in range(cg):
            rows.append(o * P + p_flat)
            cols.append((g * cg + ci) * S + in_flat)
            vals.append(wf[o, ci, t_flat])
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    vals = np.concatenate(vals) if vals else np.zeros(0, compute)
    # the same block for every sample
    per_row, per_col = cout * P, c * S
    rows = (np.arange(n)[:, None] * per_row + rows[None, :]).reshape(-1)
    cols = (np.arange(n)[:, None] * per_col + cols[None, :]).reshape(-1)
    vals = np.tile(vals, n)
    if channels_last:  # permute rows and columns into the channels-last flattening
        rows = _to_last(rows, (n, cout) + tuple(out))
        cols = _to_last(cols, (n, c) + tuple(spatial))
    m = scipy.sparse.coo_array((vals, (rows, cols)), shape=(n * per_row, n * per_col))
    return m.tocsr()


def _to_last(flat, shape_cf):
    """Flat channels-first indices -> flat channels-last indices of the same elements."""
    multi = np.unravel_index(flat, shape_cf)
    order = (multi[0],) + tuple(multi[2:]) + (multi[1],)
    shape = (shape_cf[0],) + tuple(shape_cf[2:]) + (shape_cf[1],)
    return np.ravel_multi_index(order, shape)
