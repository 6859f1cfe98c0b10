"""Build- and run-time facts of the compiled extension (OpenMP, compiler)."""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint64_t


def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(fc_have_openmp())


def omp_max_threads():
    """omp_get_max_threads(): honours OMP_NUM_THREADS and threadpoolctl limits."""
    return fc_max_threads()


def omp_num_procs():
    return fc_num_procs()


def compiler():
    return fc_compiler().decode()


def stream_read(const uint64_t[::1] words, int nthreads):
    """Read ``words`` once with ``nthreads`` OpenMP threads (an OR of them all,
    prefetched as the kernels prefetch their streams): the memory-bandwidth
    floor ``python -m fastconv bench`` sets beside layers that stream one large
    operand.  Unlike a BLAS call, it leaves no other thread pool spinning
    afterwards to slow down what is timed next."""
    cdef int64_t n = words.shape[0], chunks = 64 * nthreads, c, a, b
    cdef uint64_t acc = 0
    with nogil:
        for c in prange(chunks, num_threads=nthreads, schedule="static"):
            a = c * n // chunks
            b = (c + 1) * n // chunks
            if b > a:
                acc |= fc_or_words(&words[a], b - a)
    return acc
