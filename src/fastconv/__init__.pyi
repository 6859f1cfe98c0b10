from fastconv import ndimage as ndimage
from fastconv import signal as signal
from fastconv._config import show_config as show_config
from fastconv._threads import get_num_threads as get_num_threads
from fastconv._threads import set_num_threads as set_num_threads
from fastconv._threads import threads as threads
from fastconv.conv import conv as conv
from fastconv.conv import conv1d as conv1d
from fastconv.conv import conv2d as conv2d
from fastconv.conv import conv3d as conv3d
from fastconv.conv import conv_grad_bias as conv_grad_bias
from fastconv.conv import conv_grad_input as conv_grad_input
from fastconv.conv import conv_grad_weight as conv_grad_weight
from fastconv.conv import conv_transpose as conv_transpose
from fastconv.conv import conv_transpose1d as conv_transpose1d
from fastconv.conv import conv_transpose2d as conv_transpose2d
from fastconv.conv import conv_transpose3d as conv_transpose3d
from fastconv.conv import conv_vjp as conv_vjp
from fastconv.linalg import ConvOperator as ConvOperator
from fastconv.linalg import conv_matrix as conv_matrix
from fastconv.local import local_conv as local_conv
from fastconv.local import local_conv_grad_input as local_conv_grad_input
from fastconv.local import local_conv_grad_weight as local_conv_grad_weight
from fastconv.local import tiled_conv as tiled_conv
from fastconv.local import tiled_conv_grad_input as tiled_conv_grad_input
from fastconv.local import tiled_conv_grad_weight as tiled_conv_grad_weight
from fastconv.pool import avg_pool as avg_pool
from fastconv.pool import avg_pool_grad as avg_pool_grad
from fastconv.pool import global_avg_pool as global_avg_pool
from fastconv.pool import global_max_pool as global_max_pool
from fastconv.pool import max_pool as max_pool
from fastconv.pool import max_pool_grad as max_pool_grad

__version__: str
__all__: list[str]
