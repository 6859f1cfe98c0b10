"""fastconv: fast CPU N-d convolution and its adjoints for NumPy.

See ``fastconv.conv`` for the convolution contract; ``fastconv.show_config()``
for how this build was made.
"""

from fastconv._threads import get_num_threads, set_num_threads, threads
from fastconv._config import show_config
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
