from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["correlate", "convolve", "correlate2d", "convolve2d"]

_Mode = Literal["full", "valid", "same"]
_Method = Literal["auto", "direct", "fft"]
_Boundary = Literal["fill", "wrap", "symm", "pad", "circular", "symmetric"]

def correlate(
    in1: ArrayLike,
    in2: ArrayLike,
    mode: _Mode = "full",
    method: _Method = "auto",
    *,
    axes: int | Sequence[int] | None = None,
    workers: int | None = None,
) -> NDArray[np.generic]: ...
def convolve(
    in1: ArrayLike,
    in2: ArrayLike,
    mode: _Mode = "full",
    method: _Method = "auto",
    *,
    axes: int | Sequence[int] | None = None,
    workers: int | None = None,
) -> NDArray[np.generic]: ...
def correlate2d(
    in1: ArrayLike,
    in2: ArrayLike,
    mode: _Mode = "full",
    boundary: _Boundary = "fill",
    fillvalue: complex = 0,
    *,
    axes: Sequence[int] | None = None,
    workers: int | None = None,
) -> NDArray[np.generic]: ...
def convolve2d(
    in1: ArrayLike,
    in2: ArrayLike,
    mode: _Mode = "full",
    boundary: _Boundary = "fill",
    fillvalue: complex = 0,
    *,
    axes: Sequence[int] | None = None,
    workers: int | None = None,
) -> NDArray[np.generic]: ...
