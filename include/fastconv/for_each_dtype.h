/* fastconv/for_each_dtype.h -- expand a kernel template once per dtype.
 *
 *     #define FC_TEMPLATE "pack_impl.h"
 *     #include "for_each_dtype.h"
 *
 * includes the template with FC_T = float, FC_SFX = f32, FC_VL = 16 (lanes of
 * an AVX-512 register), FC_ISFX = ps (intrinsic suffix), then again for
 * double (f64, 8, pd), and undefines everything, FC_TEMPLATE included.
 * A template names its functions FC_CAT(name, FC_SFX): fc_im2col_f32, ...
 * Deliberately no include guard: every header expands its own template.
 */
#ifndef FC_TEMPLATE
#error "define FC_TEMPLATE before including fastconv/for_each_dtype.h"
#endif

#define FC_T float
#define FC_SFX f32
#define FC_VL 16
#define FC_ISFX ps
#include FC_TEMPLATE
#undef FC_T
#undef FC_SFX
#undef FC_VL
#undef FC_ISFX

#define FC_T double
#define FC_SFX f64
#define FC_VL 8
#define FC_ISFX pd
#include FC_TEMPLATE
#undef FC_T
#undef FC_SFX
#undef FC_VL
#undef FC_ISFX

#undef FC_TEMPLATE
