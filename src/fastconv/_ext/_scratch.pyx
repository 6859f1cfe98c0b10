# cython: language_level=3
"""A pool of scratch memory for the kernels' temporaries (padded inputs,
workspaces, partial sums).

Fresh memory costs a page fault per 4 KiB on first touch: on the 2-core VMs we
measure on, about 1.4 us each, so a 1.8 MB padded input costs ~0.6 ms, a fifth
of a 3 ms convolution.  glibc hands such sizes back to the kernel as soon as
they are freed (heap trimming, or munmap above the mmap threshold), so every
call would fault them in again.  The pool keeps them mapped instead.

A block goes back to the pool when its ``Lease`` dies, i.e. when the last NumPy
array viewing it dies (NumPy keeps the buffer's exporter as the views' base),
never while anything can still read or write it.  The pool holds at most
``KEEP_BYTES``; a block that does not fit is freed.
"""

from cpython.buffer cimport PyBuffer_FillInfo
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free


cdef extern from "<stdlib.h>" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)


# Blocks start on a cache line (NumPy's own start 16 bytes into one).
ALIGN = 64
# Capacities are whole multiples of this, so that shapes a little apart reuse
# one block.
GRAIN = 64 * 1024
# The most the idle pool keeps (bytes).
KEEP_BYTES = 64 * 1024 * 1024

# Idle blocks as (capacity, address), oldest first; and their total capacity.
cdef list _idle = []
cdef Py_ssize_t _idle_bytes = 0


cdef class Lease:
    """``size`` bytes of a pooled block, exported through the buffer protocol."""
    cdef char *mem
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity

    def __getbuffer__(self, Py_buffer *view, int flags):
        PyBuffer_FillInfo(view, self, self.mem, self.size, 0, flags)

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def __dealloc__(self):
        if self.mem != NULL:
            _give_back(self.capacity, <uintptr_t>self.mem)
            self.mem = NULL


cdef void _give_back(Py_ssize_t capacity, uintptr_t address) noexcept:
    global _idle_bytes
    cdef Py_ssize_t old_capacity
    cdef uintptr_t old_address
    if capacity > KEEP_BYTES:
        free(<void *>address)
        return
    # Room is made by freeing the oldest idle blocks.
    while _idle_bytes + capacity > KEEP_BYTES:
        old_capacity, old_address = _idle.pop(0)
        _idle_bytes -= old_capacity
        free(<void *>old_address)
    _idle.append((capacity, address))
    _idle_bytes += capacity


def lease(Py_ssize_t nbytes):
    """A ``Lease`` of ``nbytes`` (> 0) bytes on a cache line, uninitialised:
    the smallest idle block that holds them and is not over four times too
    large, or a new block."""
    global _idle_bytes
    if nbytes <= 0:
        raise ValueError(f"nbytes must be positive, got {nbytes}")
    if nbytes > PY_SSIZE_T_MAX - GRAIN:
        raise MemoryError(f"cannot allocate {nbytes} bytes of scratch memory")
    cdef Py_ssize_t need = (nbytes + GRAIN - 1) // GRAIN * GRAIN
    cdef Py_ssize_t i, best = -1, capacity
    cdef void *mem = NULL
    # Made first: an allocation may run the garbage collector, whose Lease
    # deallocations change _idle.
    cdef Lease out = Lease.__new__(Lease)
    for i in range(len(_idle)):
        capacity = _idle[i][0]
        if need <= capacity <= 4 * need and (best < 0 or capacity < _idle[best][0]):
            best = i
    if best >= 0:
        capacity, address = _idle.pop(best)
        _idle_bytes -= capacity
        out.mem, out.capacity = <char *><uintptr_t>address, capacity
    else:
        if posix_memalign(&mem, ALIGN, need) != 0:
            raise MemoryError(f"cannot allocate {need} bytes of scratch memory")
        out.mem, out.capacity = <char *>mem, need
    out.size = nbytes
    return out


def idle_bytes():
    """Bytes the pool holds that no lease uses."""
    return _idle_bytes


def release_idle():
    """Free every idle block."""
    global _idle_bytes
    while _idle:
        capacity, address = _idle.pop()
        free(<void *><uintptr_t>address)
    _idle_bytes = 0
