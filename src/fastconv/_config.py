"""show_config(): how this build was made and what it runs on."""

from __future__ import annotations

import platform
import sys


def config():
    """The facts show_config prints, as a dict."""
    import numpy as np
    import scipy

    import fastconv
    from fastconv import _threads
    from fastconv._ext import _direct, _implicit, _runtime

    return {
        "fastconv": fastconv.__version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "compiler": _runtime.compiler(),
        "openmp": _runtime.openmp_enabled(),
        "threads": _threads.get_num_threads(),
        "cpus": _threads.cpu_count(),
        "blas": [f"{b['internal_api']} {b['version']} ({b['filepath']})"
                 for b in _threads.blas_info()] or ["unknown (threadpoolctl not installed)"],
        "simd": f"implicit GEMM: {_implicit.isa()}; direct kernels: {_direct.isa()}",
    }


def show_config(file=None):
    """Print the version, compiler, OpenMP and threads, BLAS and SIMD ISA in use.

    One ``key: value`` line each for: fastconv, python, numpy, scipy,
    platform, compiler, openmp, threads (:func:`get_num_threads`), cpus,
    blas (the BLAS libraries loaded, per threadpoolctl) and simd (the
    instruction sets of the kernels).  Useful in bug reports.

    Parameters
    ----------
    file : writable text stream, optional
        Where to print; default ``sys.stdout``.

    Returns
    -------
    None
        The lines are written to `file`.

    See Also
    --------
    get_num_threads : The threads in use.

    Examples
    --------
    >>> import io, fastconv
    >>> buf = io.StringIO()
    >>> fastconv.show_config(file=buf)
    >>> print(*[line.split(":")[0].strip() for line in buf.getvalue().splitlines()])
    fastconv python numpy scipy platform compiler openmp threads cpus blas simd
    >>> buf.getvalue().split()[:2] == ["fastconv:", fastconv.__version__]
    True
    """
    file = sys.stdout if file is None else file
    for key, value in config().items():
        if isinstance(value, list):
            value = "; ".join(value)
        if key == "openmp":
            value = "yes" if value else "no (serial build)"
        print(f"{key:>10}: {value}", file=file)
