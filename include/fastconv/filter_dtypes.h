/* Instantiate the template FC_TEMPLATE (a header name) once per dtype:
 * FC_T / FC_SFX = float / f32, then double / f64.  The includer defines
 * FC_TEMPLATE and any other template parameters, and undefines them after. */
#define FC_T float
#define FC_SFX f32
#include FC_TEMPLATE
#undef FC_T
#undef FC_SFX

#define FC_T double
#define FC_SFX f64
#include FC_TEMPLATE
#undef FC_T
#undef FC_SFX
