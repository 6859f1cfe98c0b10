import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_array
from scipy.sparse.linalg import LinearOperator

from fastconv._typing import IntOrSeq, Padding, PaddingMode, Shape

class ConvOperator(LinearOperator):
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    weight: NDArray[np.generic]
    kwargs: dict[str, object]
    def __init__(
        self,
        input_shape: Shape,
        w: ArrayLike,
        *,
        stride: IntOrSeq = ...,
        padding: Padding = ...,
        dilation: IntOrSeq = ...,
        groups: int = ...,
        padding_mode: PaddingMode = ...,
        channels_last: bool = ...,
        workers: int | None = ...,
    ) -> None: ...

def conv_matrix(
    input_shape: Shape,
    w: ArrayLike,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
) -> csr_array: ...
