# Shared aliases of the public stubs (stub-only module: there is no _typing.py).
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

IntOrSeq: TypeAlias = int | Sequence[int]
Shape: TypeAlias = Sequence[int]
# an int, one int per axis, one (low, high) pair per axis, or a named rule
Padding: TypeAlias = (
    int | Literal["valid", "same", "full"] | Sequence[int | tuple[int, int] | Sequence[int]]
)
PaddingMode: TypeAlias = Literal["zeros", "reflect", "replicate", "circular", "mean"]
# float32, float64, or float16 (computed in float32) -- all-integer input gives float64
FloatArray: TypeAlias = NDArray[np.floating[Any]]
IndexArray: TypeAlias = NDArray[np.int64]
