/* filter_rows_impl.h for each dtype, with the ISA parameters already set. */
#define FC_T float
#define FC_SFX f32
#include "filter_rows_impl.h"
#undef FC_T
#undef FC_SFX

#define FC_T double
#define FC_SFX f64
#include "filter_rows_impl.h"
#undef FC_T
#undef FC_SFX
