from numpy.typing import ArrayLike, NDArray

from fastconv._typing import FloatArray, IntOrSeq, Padding, PaddingMode, Shape

def local_conv(
    x: ArrayLike,
    w: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
    out: NDArray | None = None,
    workers: int | None = None,
) -> FloatArray: ...
def local_conv_grad_input(
    grad_out: ArrayLike,
    w: ArrayLike,
    input_shape: Shape,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
    out: NDArray | None = None,
    workers: int | None = None,
) -> FloatArray: ...
def local_conv_grad_weight(
    x: ArrayLike,
    grad_out: ArrayLike,
    weight_shape: Shape,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
    out: NDArray | None = None,
    workers: int | None = None,
) -> FloatArray: ...
def tiled_conv(
    x: ArrayLike,
    w: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
    out: NDArray | None = None,
    workers: int | None = None,
) -> FloatArray: ...
def tiled_conv_grad_input(
    grad_out: ArrayLike,
    w: ArrayLike,
    input_shape: Shape,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
    out: NDArray | None = None,
    workers: int | None = None,
) -> FloatArray: ...
def tiled_conv_grad_weight(
    x: ArrayLike,
    grad_out: ArrayLike,
    weight_shape: Shape,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
    out: NDArray | None = None,
    workers: int | None = None,
) -> FloatArray: ...
