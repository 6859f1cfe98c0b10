cdef extern from "fastconv/runtime.h" nogil:
    int fc_thread_num()
    int fc_max_threads()
    int fc_num_procs()
    int fc_have_openmp()
    unsigned int fc_fp_enter()
    void fc_fp_exit(unsigned int saved)
    const char *fc_compiler()

    enum: FC_MAX_BLAS
    ctypedef struct fc_tstate:
        unsigned int fp
    void fc_register_blas_local(int i, void *fn)
    fc_tstate fc_thread_enter()
    void fc_thread_exit(fc_tstate st)
