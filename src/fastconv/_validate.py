"""Argument policy shared by the public modules.

The kernels may assume that every array they get is aligned to its element
type; NumPy arrays built on a byte buffer at an odd offset are not.  Such an
input is copied once, here, where it enters the library: aligned inputs are
passed on as they are.
"""

import numpy as np


def aligned(a):
    """``a`` (an ndarray) itself when aligned to its dtype, else an aligned copy."""
    return a if a.flags.aligned else np.array(a, copy=True)
