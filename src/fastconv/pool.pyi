from typing import Literal, overload

from numpy.typing import ArrayLike

from fastconv._typing import FloatArray, IndexArray, IntOrSeq, Padding, Shape

@overload
def max_pool(
    x: ArrayLike,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    channels_last: bool = False,
    return_indices: Literal[False] = False,
    workers: int | None = None,
) -> FloatArray: ...
@overload
def max_pool(
    x: ArrayLike,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    channels_last: bool = False,
    *,
    return_indices: Literal[True],
    workers: int | None = None,
) -> tuple[FloatArray, IndexArray]: ...
def avg_pool(
    x: ArrayLike,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    channels_last: bool = False,
    workers: int | None = None,
) -> FloatArray: ...
def max_pool_grad(
    grad_out: ArrayLike,
    x: ArrayLike,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    channels_last: bool = False,
    workers: int | None = None,
    *,
    indices: ArrayLike | None = None,
) -> FloatArray: ...
def avg_pool_grad(
    grad_out: ArrayLike,
    input_shape: Shape,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    channels_last: bool = False,
    workers: int | None = None,
) -> FloatArray: ...
def global_avg_pool(
    x: ArrayLike, channels_last: bool = False, keepdims: bool = False
) -> FloatArray: ...
def global_max_pool(
    x: ArrayLike, channels_last: bool = False, keepdims: bool = False
) -> FloatArray: ...
