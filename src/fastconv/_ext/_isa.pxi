# The ISA level of this extension's kernels.  Every extension whose kernels
# have ISA variants includes this file: each holds its own copy of runtime.h's
# level, and fastconv._config.apply_isa_cap sets the same cap in all of them.

from fastconv._ext._runtime cimport fc_isa_detect, fc_isa_level, fc_isa_name, fc_isa_set_cap

# FASTCONV_ISA's names by level; on aarch64 level 1 is NEON (fc_isa_name says so)
ISA_LEVELS = ("generic", "sse2", "avx2", "avx512")


def isa_level():
    """The level this module's kernels run at: "generic", "sse2" (or "neon"), "avx2", "avx512"."""
    return fc_isa_name(fc_isa_level()).decode()


def best_isa():
    """The best level this CPU runs (the cap's ceiling)."""
    return fc_isa_name(fc_isa_detect()).decode()


def set_isa(name=None):
    """Cap this module's kernels at level `name` (``None``: lift the cap); returns isa_level()."""
    fc_isa_set_cap(-1 if name is None else 1 if name == "neon" else ISA_LEVELS.index(name))
    return isa_level()
