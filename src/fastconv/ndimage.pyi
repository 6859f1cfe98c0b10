from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["correlate", "convolve"]

_Mode = Literal["reflect", "constant", "nearest", "mirror", "wrap", "grid-constant",
                "grid-mirror", "grid-wrap"]

def correlate(
    input: ArrayLike,
    weights: ArrayLike,
    output: NDArray[np.generic] | DTypeLike | None = None,
    mode: _Mode = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
    workers: int | None = None,
) -> NDArray[np.generic]: ...
def convolve(
    input: ArrayLike,
    weights: ArrayLike,
    output: NDArray[np.generic] | DTypeLike | None = None,
    mode: _Mode = "reflect",
    cval: float = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    axes: int | Sequence[int] | None = None,
    workers: int | None = None,
) -> NDArray[np.generic]: ...
