/* AVX-512 vector and mask types of the current template dtype (FC_IS_F64).
 * Included at the top of a for_each_dtype.h template, no include guard; the
 * template #undefs FC_VL, FC_VEC and FC_MASK at its end. */
#if FC_IS_F64
#define FC_VL 8             /* lanes of an AVX-512 register */
#define FC_VEC __m512d
#define FC_MASK __mmask8
#else
#define FC_VL 16
#define FC_VEC __m512
#define FC_MASK __mmask16
#endif
