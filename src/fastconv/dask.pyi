from typing import Any

from numpy.typing import ArrayLike

from fastconv._typing import IntOrSeq, Padding, PaddingMode

# x and the result are dask.array.Array (dask ships no stubs: Any)
def conv(
    x: Any,
    w: ArrayLike,
    bias: Any = None,
    *,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    channels_last: bool = False,
    workers: int | None = 1,
) -> Any: ...
