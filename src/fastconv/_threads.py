"""Thread control: the one place that turns ``workers`` into a thread count.

The default follows OpenMP (``OMP_NUM_THREADS``, or a
``threadpoolctl.threadpool_limits(..., user_api="openmp")`` in force), unless
``set_num_threads`` / ``threads(n)`` chose a number for this library.

Our kernels run BLAS *inside* OpenMP threads, so BLAS itself must stay
single-threaded meanwhile: one level of parallelism, not two.
"""

from __future__ import annotations

import contextlib
import operator
import threading

from fastconv._ext import _runtime

_state = threading.local()
_global_threads = None


def _check_count(n, name):
    if isinstance(n, bool):
        raise TypeError(f"{name} must be an int, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name} must be None, a positive int or -1, got {n!r}") from None
    if n == -1:
        return cpu_count()
    if n < 1:
        raise ValueError(f"{name} must be None, a positive int or -1, got {n}")
    return n


def cpu_count():
    return max(1, _runtime.omp_num_procs())


def get_num_threads():
    """The number of threads a call with ``workers=None`` uses.

    In order of precedence: the innermost ``with fastconv.threads(n)`` of the
    calling thread, else the library default of :func:`set_num_threads`,
    else the OpenMP default (``OMP_NUM_THREADS``, or a
    ``threadpoolctl.threadpool_limits(..., user_api="openmp")`` in force).

    Returns
    -------
    n : int
        At least 1.  The kernels run with ``min(n, number of CPUs)`` threads.

    See Also
    --------
    set_num_threads, threads

    Examples
    --------
    >>> import fastconv
    >>> n = fastconv.get_num_threads()
    >>> isinstance(n, int) and n >= 1
    True
    >>> with fastconv.threads(2):
    ...     fastconv.get_num_threads()
    2
    """
    n = getattr(_state, "threads", None)
    if n is None:
        n = _global_threads
    if n is None:
        n = _runtime.omp_max_threads()
    return max(1, n)


def set_num_threads(n):
    """Set the library's default number of threads, for all threads of the process.

    Parameters
    ----------
    n : None, int > 0 or -1
        Threads for calls with ``workers=None``: -1 means the number of
        CPUs, None restores the OpenMP default.  A ``with threads(m)`` block
        still takes precedence in its thread.

    Returns
    -------
    None
        The default applies to the calls that follow.

    Raises
    ------
    TypeError
        ``n`` is a bool or not an integer (nor None).
    ValueError
        ``n`` is 0 or below -1.

    See Also
    --------
    get_num_threads, threads

    Examples
    --------
    >>> import fastconv
    >>> fastconv.set_num_threads(3)
    >>> fastconv.get_num_threads()
    3
    >>> fastconv.set_num_threads(None)     # back to the OpenMP default
    """
    global _global_threads
    _global_threads = None if n is None else _check_count(n, "n")


@contextlib.contextmanager
def threads(n):
    """Context manager: ``n`` threads by default in this thread, for the ``with`` block.

    Calls with ``workers=None`` made by the current thread inside the block
    use ``n`` threads; other threads, and explicit ``workers``, are not
    affected.  Blocks nest; the previous setting is restored on exit.

    Parameters
    ----------
    n : int > 0, -1 or None
        Number of threads; -1 means the number of CPUs, None the library
        default (``set_num_threads``, else OpenMP's) inside the block.

    Yields
    ------
    None

    Raises
    ------
    TypeError
        ``n`` is a bool or not an integer (raised on entering the block).
    ValueError
        ``n`` is 0 or below -1 (raised on entering the block).

    See Also
    --------
    get_num_threads, set_num_threads

    Examples
    --------
    >>> import fastconv
    >>> with fastconv.threads(1):
    ...     print(fastconv.get_num_threads())
    ...     with fastconv.threads(2):
    ...         print(fastconv.get_num_threads())
    ...     print(fastconv.get_num_threads())
    1
    2
    1
    """
    previous = getattr(_state, "threads", None)
    _state.threads = None if n is None else _check_count(n, "n")
    try:
        yield
    finally:
        _state.threads = previous


def resolve_workers(workers):
    """``workers`` argument -> the thread count a kernel runs with.

    Capped at the CPU count: more threads never speed these kernels up, and
    asking the OpenMP runtime for millions of threads aborts the process.
    """
    n = get_num_threads() if workers is None else _check_count(workers, "workers")
    return min(n, cpu_count())


# -- BLAS kept single-threaded while our OpenMP loops call it ---------------
_blas_lock = threading.Lock()
_blas_libs = None
_blas_depth = 0
_blas_saved = []


def _blas_controllers():
    global _blas_libs
    if _blas_libs is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # without threadpoolctl, BLAS threads are left as they are
            _blas_libs = []
        else:
            _blas_libs = [lib for lib in ThreadpoolController().lib_controllers
                          if lib.user_api == "blas"]
    return _blas_libs


# Setters that change the calling thread's count only.  OpenBLAS's
# openblas_set_num_threads_local (0.3.27 to 0.3.32 at least) is not one: it also
# calls openblas_set_num_threads, so a worker restoring the count on exit let
# the other worker's remaining GEMMs run on several threads, whose results
# differ in the last bits from one thread's (the run-to-run differences seen
# under load).  OpenBLAS is therefore limited globally around each call.
_LOCAL_SETTERS = ("mkl_set_num_threads_local",)


def _local_setter(lib):
    """Address of the library's thread-local thread-count setter, or None."""
    import ctypes

    try:
        handle = ctypes.CDLL(lib.filepath)
    except OSError:
        return None
    for name in _LOCAL_SETTERS:
        fn = getattr(handle, name, None)
        if fn is not None:
            return ctypes.cast(fn, ctypes.c_void_p).value
    return None


class _GlobalCount:
    """A BLAS's process-wide thread count, read and set from any thread.

    For OpenBLAS these are its own C functions: threadpoolctl (3.6) ignores
    set_num_threads from any Python thread but the one that first limited
    OpenBLAS, so a call from a worker thread left OpenBLAS threaded inside our
    OpenMP workers (bitwise different results)."""

    def __init__(self, get, set_):
        self.get_num_threads, self.set_num_threads = get, set_


def _global_count(lib):
    if lib.internal_api == "openblas":
        import ctypes

        try:
            handle = ctypes.CDLL(lib.filepath)
        except OSError:
            return _GlobalCount(lib.get_num_threads, lib.set_num_threads)
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_", "_64"):
                get = getattr(handle, f"{prefix}openblas_get_num_threads{suffix}", None)
                set_ = getattr(handle, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype, set_.restype = ctypes.c_int, None
                    set_.argtypes = [ctypes.c_int]
                    return _GlobalCount(get, set_)
    return _GlobalCount(lib.get_num_threads, lib.set_num_threads)


_setters = None


def _blas_split():
    """(addresses of thread-local setters, global counts that need toggling)."""
    global _setters
    if _setters is None:
        local, toggled = [], []
        for lib in _blas_controllers():
            address = _local_setter(lib)
            if address is None:
                toggled.append(_global_count(lib))
            else:
                local.append(address)
        _setters = (local, toggled)
    return _setters


def blas_local_setters():
    return list(_blas_split()[0])


def blas_info():
    return [dict(internal_api=lib.internal_api, version=lib.version, filepath=lib.filepath,
                 num_threads=lib.num_threads) for lib in _blas_controllers()]


@contextlib.contextmanager
def blas_single_threaded():
    """Limit to one thread, for the duration, every loaded BLAS that has no
    thread-local setter (re-entrant).  Those that have one are set per worker
    thread inside the kernels instead (see include/fastconv/runtime.h).

    Calls the libraries' own set/get functions rather than
    ``threadpool_limits`` (hundreds of microseconds per call).
    """
    global _blas_depth, _blas_saved
    libs = _blas_split()[1]
    if not libs:
        yield
        return
    with _blas_lock:
        if _blas_depth == 0:
            _blas_saved = [lib.get_num_threads() for lib in libs]
            for lib, n in zip(libs, _blas_saved):
                if n != 1:
                    lib.set_num_threads(1)
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                for lib, n in zip(libs, _blas_saved):
                    if n != 1:
                        lib.set_num_threads(n)


_registered_modules = set()


def blas_in_workers(module):
    """Context for calling ``module``'s kernels, which call BLAS inside OpenMP
    workers: hands the module the thread-local setters (each extension module
    keeps its own table, see runtime.h) once, and limits the BLAS libraries
    that have none."""
    if module.__name__ not in _registered_modules:
        module.register_blas_threads_local(blas_local_setters())
        _registered_modules.add(module.__name__)
    return blas_single_threaded()
