"""show_config(): how this build was made and what it runs on."""

from __future__ import annotations

import os
import platform
import sys
import warnings


ISA_NAMES = ("generic", "sse2", "avx2", "avx512", "neon")


def isa_cap():
    """The FASTCONV_ISA cap from the environment (a name of ISA_NAMES), or None."""
    name = os.environ.get("FASTCONV_ISA", "").strip().lower()
    if not name:
        return None
    if name not in ISA_NAMES:
        warnings.warn(f"FASTCONV_ISA={name!r} is not one of {', '.join(ISA_NAMES)}; ignored",
                      RuntimeWarning, stacklevel=2)
        return None
    return name


# The extension modules whose kernels have ISA variants (each holds its own
# copy of the level: runtime.h); FASTCONV_ISA caps them all.
ISA_MODULES = ("_filter", "_direct", "_implicit", "_pool", "_local")


def _isa_modules():
    import importlib

    return [importlib.import_module(f"fastconv._ext.{m}") for m in ISA_MODULES]


def apply_isa_cap():
    """Cap every kernel family to FASTCONV_ISA (never above the CPU's own level):
    filter rows and the direct, depthwise, implicit-GEMM, pooling and local
    kernels (the planner follows)."""
    from fastconv import _engine

    name = isa_cap()
    for m in _isa_modules():
        m.set_isa(name)
    _engine.implicit_kernels_changed()


def isa_levels():
    """(level in use, the CPU's best level): one pair for every family."""
    from fastconv._ext import _filter

    used = sorted({m.isa_level() for m in _isa_modules()})   # one, unless a test capped one
    return ", ".join(used), _filter.best_isa()


def isa_caps_below():
    """The FASTCONV_ISA names below the level this CPU runs natively, for tests."""
    from fastconv._ext import _filter

    names = list(_filter.ISA_LEVELS)
    best = _filter.best_isa()
    return names[:names.index("sse2" if best == "neon" else best)]


def config():
    """The facts show_config prints, as a dict."""
    import numpy as np
    import scipy

    import fastconv
    from fastconv import _threads
    from fastconv._ext import _direct, _filter, _implicit, _runtime

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
        "isa": "{} (FASTCONV_ISA cap: {}; the CPU has {})".format(
            *isa_levels()[:1], isa_cap() or "none", isa_levels()[1]),
        "simd": f"implicit GEMM: {_implicit.isa()}; direct, pooling and local kernels: "
                f"{_direct.isa_level()}; row kernels: {_filter.isa()}",
    }


def show_config(file=None):
    """Print the version, compiler, OpenMP and threads, BLAS and SIMD ISA in use.

    One ``key: value`` line each for: fastconv, python, numpy, scipy,
    platform, compiler, openmp, threads (:func:`get_num_threads`), cpus,
    blas (the BLAS libraries loaded, per threadpoolctl), isa (the instruction
    set level every kernel family runs at, the ``FASTCONV_ISA`` cap and the
    CPU's own level) and simd (the kernel variants in use).  Useful in bug
    reports.

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
    fastconv python numpy scipy platform compiler openmp threads cpus blas isa simd
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
