from libc.stdint cimport int64_t, uint64_t

cdef extern from "fastconv/runtime.h" nogil:
    int fc_thread_num()
    int fc_max_threads()
    int fc_num_procs()
    int fc_have_openmp()
    unsigned int fc_fp_enter()
    void fc_fp_exit(unsigned int saved)
    const char *fc_compiler()
    uint64_t fc_or_words(const uint64_t *w, int64_t n)

    enum: FC_MAX_BLAS
    ctypedef struct fc_tstate:
        unsigned int fp
    void fc_register_blas_local(int i, void *fn)
    fc_tstate fc_thread_enter()
    void fc_thread_exit(fc_tstate st)

    # the ISA level of the kernel families (one cap for all: FASTCONV_ISA)
    int fc_isa_detect()
    int fc_isa_level()
    int fc_isa_set_cap(int cap)
    const char *fc_isa_name(int level)
