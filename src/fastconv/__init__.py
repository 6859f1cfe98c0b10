"""fastconv: fast CPU N-d convolution and its adjoints for NumPy.

Arrays are NumPy arrays in torch's layouts, (N, C, *S) or channels last, in
any number of spatial dimensions:

* :func:`conv` (and ``conv1d/2d/3d``), its gradients :func:`conv_grad_input`,
  :func:`conv_grad_weight`, :func:`conv_grad_bias`, :func:`conv_vjp`, and the
  transposed convolution :func:`conv_transpose` (``conv_transpose1d/2d/3d``);
* pooling: :func:`max_pool`, :func:`avg_pool`, their gradients, global pooling;
* unshared weights: :func:`local_conv`, :func:`tiled_conv` and their gradients;
* the convolution as a linear map: :class:`ConvOperator`, :func:`conv_matrix`;
* drop-in replacements for SciPy's filters: :mod:`fastconv.signal`,
  :mod:`fastconv.ndimage`;
* threads: :func:`get_num_threads`, :func:`set_num_threads`, :func:`threads`;
  :func:`show_config` for how this build was made.

Examples
--------
>>> import numpy as np, fastconv
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
>>> w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
>>> y = fastconv.conv(x, w, padding="same")
>>> print(y.shape, y.dtype)
(8, 16, 32, 32) float32
>>> gx = fastconv.conv_grad_input(np.ones_like(y), w, x.shape, padding="same")
>>> print(gx.shape, fastconv.max_pool(y, 2).shape)
(8, 3, 32, 32) (8, 16, 16, 16)
"""

from fastconv._threads import get_num_threads, set_num_threads, threads
from fastconv._config import apply_isa_cap as _apply_isa_cap, show_config
from fastconv.conv import (
    conv, conv1d, conv2d, conv3d,
    conv_transpose, conv_transpose1d, conv_transpose2d, conv_transpose3d,
    conv_grad_input, conv_grad_weight, conv_grad_bias, conv_vjp,
)
from fastconv.pool import (
    max_pool, avg_pool, max_pool_grad, avg_pool_grad, global_avg_pool, global_max_pool,
)
from fastconv.local import (
    local_conv, local_conv_grad_input, local_conv_grad_weight,
    tiled_conv, tiled_conv_grad_input, tiled_conv_grad_weight,
)
from fastconv.linalg import ConvOperator, conv_matrix
from fastconv import ndimage, signal

__version__ = "0.1.0"

_apply_isa_cap()

__all__ = [
    "conv", "conv1d", "conv2d", "conv3d",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_grad_input", "conv_grad_weight", "conv_grad_bias", "conv_vjp",
    "show_config", "get_num_threads", "set_num_threads", "threads",
    "max_pool", "avg_pool", "max_pool_grad", "avg_pool_grad", "global_avg_pool",
    "global_max_pool",
    "local_conv", "local_conv_grad_input", "local_conv_grad_weight",
    "tiled_conv", "tiled_conv_grad_input", "tiled_conv_grad_weight",
    "ConvOperator", "conv_matrix",
    "signal", "ndimage",
]
