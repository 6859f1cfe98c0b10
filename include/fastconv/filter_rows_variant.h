/* One ISA variant of the row kernels: filter_rows_impl.h for each dtype with
 * the parameters the includer set (FC_ISA, FC_TARGET, FC_VBYTES, FC_RB, FC_VB,
 * FC_RB2, FC_VB2, FC_FMA_HW), which are undefined afterwards. */
#define FC_TEMPLATE "filter_rows_impl.h"
#include "for_each_dtype.h"
/* whether this variant's multiply-adds are FMAs (fc_rows_fused) */
static const int FC_CAT(fc_rows_fma, FC_ISA) = FC_FMA_HW;
#undef FC_ISA
#undef FC_TARGET
#undef FC_VBYTES
#undef FC_RB
#undef FC_VB
#undef FC_RB2
#undef FC_VB2
#undef FC_FMA_HW
