/* fastconv/for_each_dtype.h -- expand a kernel template once per dtype.
 *
 *     #define FC_TEMPLATE "pack_impl.h"
 *     #include "for_each_dtype.h"
 *
 * includes the template with FC_T = float, FC_SFX = f32, FC_ISFX = ps (the
 * intrinsic suffix), FC_IS_F64 = 0, then again for double (f64, pd, 1), and
 * undefines everything, FC_TEMPLATE included.
 * A template names its functions FC_CAT(name, FC_SFX): fc_im2col_f32, ...
 * Deliberately no include guard: every header expands its own template.
 */
#ifndef FC_TEMPLATE
#error "define FC_TEMPLATE before including fastconv/for_each_dtype.h"
#endif

#define FC_T float
#define FC_SFX f32
#define FC_ISFX ps
#define FC_IS_F64 0
#include FC_TEMPLATE
#undef FC_T
#undef FC_SFX
#undef FC_ISFX
#undef FC_IS_F64

#define FC_T double
#define FC_SFX f64
#define FC_ISFX pd
#define FC_IS_F64 1
#include FC_TEMPLATE
#undef FC_T
#undef FC_SFX
#undef FC_ISFX
#undef FC_IS_F64

#undef FC_TEMPLATE
