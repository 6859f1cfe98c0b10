cdef extern from "fastconv/runtime.h" nogil:
    int fc_thread_num()
    int fc_max_threads()
    int fc_num_procs()
    int fc_have_openmp()
    unsigned int fc_fp_enter()
    void fc_fp_exit(unsigned int saved)
    const char *fc_compiler()
