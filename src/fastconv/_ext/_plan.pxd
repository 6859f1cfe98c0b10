# The C view of an engine Plan (``fastconv._engine.Plan``), shared by the drivers.
from libc.stdint cimport int64_t
from libc.string cimport memset


cdef extern from "fastconv/geom.h" nogil:
    ctypedef struct fc_geom:
        int ndim
        int64_t in_ "in"[16]
        int64_t out[16]
        int64_t k[16]
        int64_t stride[16]
        int64_t dil[16]
        int64_t pad[16]
        int64_t in_size
        int64_t out_size
        int64_t k_size
    void fc_geom_finish(fc_geom *g)

cdef struct Dims:
    int64_t N, C, Cout, G, Cg, Cog, CK, P, S, tile
    bint pointwise
    bint wide       # planes beyond the BLAS int range: rows of y / gy are staged


cdef inline fc_geom make_geom(plan) except *:
    """fc_geom from a ``fastconv._engine.Plan``."""
    cdef fc_geom g
    cdef int j
    memset(&g, 0, sizeof(g))
    g.ndim = len(plan.kernel)
    for j in range(g.ndim):
        g.in_[j] = plan.in_spatial[j]
        g.out[j] = plan.out_spatial[j]
        g.k[j] = plan.kernel[j]
        g.stride[j] = plan.stride[j]
        g.dil[j] = plan.dilation[j]
        g.pad[j] = plan.pad_lo[j]
    fc_geom_finish(&g)
    return g


cdef inline Dims make_dims(plan, const fc_geom *g) except *:
    cdef Dims d
    d.N = plan.batch
    d.C = plan.in_channels
    d.Cout = plan.out_channels
    d.G = plan.groups
    d.Cg = d.C // d.G
    d.Cog = d.Cout // d.G
    d.CK = d.Cg * g.k_size
    d.P = g.out_size
    d.S = g.in_size
    d.tile = plan.tile
    d.pointwise = plan.pointwise
    d.wide = getattr(plan, "wide", False)
    return d
