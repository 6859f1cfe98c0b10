"""Build- and run-time facts of the compiled extension (OpenMP, compiler)."""


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
